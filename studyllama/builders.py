"""Builders: the only place a config object is turned into keyword arguments."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from kg.corpus import QARecord, load_corpus, stratified_subset
from models.loading import ModelLoadError, bnb_config, load_model
from prompting.templates import build_prompt
from studyllama import ROOT
from models.adapter_gnn import load_adapter as load_llama_adapter
from training.peft_setup import apply_peft, load_adapter, read_meta

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_records(data, ev) -> list[QARecord]:
    records = load_corpus(data.path, splits=(data.split,), default_split=data.default_split)
    if not records:
        raise ValueError(f"data.split={data.split!r}: no records of that split in {data.path}")
    if data.attribution:
        log.info("data: %s", data.attribution)
        print(f"Using {data.name}: {data.attribution}")
    subset = stratified_subset(records, ev.limit, seed=ev.subset_seed)
    log.info("data: %d of %d %s questions from %s", len(subset), len(records), data.split, data.path)
    return subset


def build_prompts(records, p, tokenizer) -> list[str]:
    """The exact prompt text of each record under prompt variant ``p``.

    Evaluation answers these prompts and training learns on them: one function, so the two
    can never format a variant differently.
    """
    cite = p.cite_instruction if p.get("cite_evidence") else ""
    return [build_prompt(r.question, fmt=p.format, system=p.system, template=p.template, tokenizer=tokenizer,
                         cite=cite) for r in records]


def build_split(data, split: str) -> list[QARecord]:
    """Every record of one split (training uses whole splits; evaluation subsets them)."""
    records = load_corpus(data.path, splits=(split,), default_split=data.default_split)
    if not records:
        raise ValueError(f"{data.path} has no {split!r} records; the corpus's splits are drawn once with "
                         "`python scripts/assign_splits.py <corpus folder>` (or point data.path at a split corpus)")
    log.info("data: %d %s questions from %s", len(records), split, data.path)
    return records


_gpu_lock = None  # (GPU index, open lock file) held by this process once it has claimed a GPU


def claim_gpu() -> int:
    """The GPU this process runs on when several are visible: the least claimed one.

    Parallel jobs of a multirun (``hydra/launcher=joblib hydra.launcher.n_jobs=N``) each start on
    "the" GPU; without this they would all share GPU 0. Each process takes an exclusive
    ``flock`` on ``gpu<i>.<slot>.lock`` in a per-host temp folder, trying slot 0 of every GPU
    before slot 1, so N jobs on N GPUs get one each; the lock is released when the process exits
    (a joblib worker keeps its GPU for every job it runs). Sets it as the current CUDA device.
    """
    global _gpu_lock
    import fcntl
    import tempfile

    if _gpu_lock is None:
        folder = Path(tempfile.gettempdir()) / "studyllama-gpu-locks"
        folder.mkdir(exist_ok=True)
        n = torch.cuda.device_count()
        for slot in range(64):
            for i in range(n):
                f = open(folder / f"gpu{i}.{slot}.lock", "w")
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    f.close()
                    continue
                _gpu_lock = (i, f)
                break
            if _gpu_lock is not None:
                break
        else:
            raise RuntimeError(f"{folder}: every GPU lock slot is taken; remove stale lock files")
        log.info("device: GPU %d of %d (claimed by process %d)", _gpu_lock[0], n, os.getpid())
    torch.cuda.set_device(_gpu_lock[0])
    return _gpu_lock[0]


def _device(device: str) -> str:
    if device != "auto" or not torch.cuda.is_available():
        return device
    if "LOCAL_RANK" in os.environ:  # under `accelerate launch` each process owns the GPU of its local rank
        return f"cuda:{os.environ['LOCAL_RANK']}"
    if torch.cuda.device_count() > 1:
        return f"cuda:{claim_gpu()}"
    return device


def trains(method) -> bool:
    """Whether ``method`` has weights of its own to train (peft adapters, LLaMA-Adapter); zero_shot has none."""
    return bool(method.peft or method.get("llama_adapter"))


def build_model(m, seed: int = 0, method=None, *, training: bool = False, prompt_name: str | None = None):
    """Load the base model; quantize it for ``method.quantize_base``; load ``method.adapter`` onto it.

    Args:
        m: the ``model`` config. method: the ``method`` config (None: the bare base).
        training: the caller attaches a fresh adapter itself (``studyllama train``).
        prompt_name: the prompt variant in use; a warning is logged if the adapter was
            trained with another one.
    """
    quantize = m.load_in_4bit or bool(method is not None and method.quantize_base)
    if quantize and m.source == "tiny_random":
        bnb_config()  # on CPU this raises the clear "needs a CUDA GPU" error first
        raise ModelLoadError("model=tiny_random has no 4-bit form; use method=lora with it")
    if method is not None and trains(method) and not training and not method.adapter:
        raise ValueError(f"method={method.name} evaluates a trained adapter: set method.adapter=<run>/best "
                         "(written by `studyllama train`), or eval.train_first=true to train one first, "
                         "or use method=zero_shot")
    if method is not None and training and method.adapter:
        raise ValueError("method.adapter is for evaluation; to continue an interrupted run use train.resume=true")
    model, tok = load_model(
        m.source, m.path, sha256=m.sha256, cache_dir=m.cache_dir, dtype=m.dtype, device=_device(m.device),
        load_in_4bit=quantize, bnb_4bit_quant_type=m.bnb_4bit_quant_type,
        bnb_4bit_use_double_quant=m.bnb_4bit_use_double_quant, bnb_4bit_compute_dtype=m.bnb_4bit_compute_dtype,
        tiny=dict(m.tiny), seed=seed)
    n = sum(p.numel() for p in model.parameters())
    log.info("model: %s (%s), %.1fM parameters, %s on %s", m.name, m.source, n / 1e6,
             next(model.parameters()).dtype, next(model.parameters()).device)
    if method is not None and method.adapter:
        model = (load_llama_adapter(model, method.adapter) if method.get("llama_adapter")
                 else load_adapter(model, method.adapter))
        meta = read_meta(method.adapter)
        log.info("adapter: %s (%s, trained with prompt=%s, epoch %s)", method.adapter, method.name,
                 meta.get("prompt"), meta.get("epoch"))
        if prompt_name and meta.get("prompt") and meta["prompt"] != prompt_name:
            log.warning("adapter %s was trained with prompt=%s but is evaluated with prompt=%s",
                        method.adapter, meta["prompt"], prompt_name)
    return model, tok


def build_peft(model, method, *, gradient_checkpointing: bool = False):
    """Attach ``method``'s fresh trainable adapter to ``model`` (``studyllama train``)."""
    if not method.peft:
        raise ValueError(f"method={method.name} has nothing to train; use method=lora, qlora or prompt_tuning")
    return apply_peft(
        model, peft=method.peft, r=method.r, lora_alpha=method.lora_alpha, lora_dropout=method.lora_dropout,
        target_modules=list(method.target_modules), num_virtual_tokens=method.num_virtual_tokens,
        prompt_tuning_init=method.prompt_tuning_init, quantized=method.quantize_base,
        fp32_frozen=method.fp32_frozen, gradient_checkpointing=gradient_checkpointing)


def build_llama_adapter(model, method, *, gradient_checkpointing: bool = False):
    """Attach ``method``'s fresh LLaMA-Adapter (and GNN, for ``adapter_gnn``) to ``model`` (``studyllama train``)."""
    from kg.relations import RELATIONS
    from models.adapter_gnn import build_adapter

    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = build_adapter(
        model, prompt_length=method.adapter_length, num_layers=method.adapter_layers, graph=method.graph,
        gnn=method.gnn, gnn_layers=method.gnn_layers, gnn_hidden=method.gnn_hidden, gnn_heads=method.gnn_heads,
        gnn_dropout=method.gnn_dropout, num_relations=method.num_relations or len(RELATIONS))
    return model.train()


def build_subgraphs(records, kg, data) -> dict:
    """Each record's MindMap subgraph (``kg.retrieval``) as the ``Data`` the GNN of ``method=adapter_gnn`` reads.

    Returns:
        record id -> ``torch_geometric.data.Data`` (``models.gnn.subgraph_to_data``); a question that
        links to no concept gets an empty subgraph (the adapter then uses its static prompt).
    """
    from kg.graph import to_pyg
    from models.gnn import evidence_subgraph

    # The graph always comes from the project corpus's train split, whichever set the questions are from.
    art, retriever, _ = build_kg(kg, str(ROOT / "data" / "corpus"))
    whole = to_pyg(art.graph, art.embeddings)
    embs = retriever.linker.embed([r.question for r in records])  # (B, 384)
    if embs is None:
        raise ValueError("method=adapter_gnn needs question embeddings: kg.encoder must load")
    graphs = {}
    for r, q in zip(records, embs):
        ev = retriever.retrieve(r.question, q)
        graphs[r.id] = evidence_subgraph(whole, ev.node_ids, ev.edge_ids, torch.from_numpy(q))
    sizes = [g.num_nodes for g in graphs.values()]
    log.info("subgraphs: %d questions, %.1f nodes on average, %d empty (static prompt)", len(sizes),
             sum(sizes) / max(len(sizes), 1), sizes.count(0))
    return graphs


def build_graph_condition(model, graphs: dict):
    """``condition(ids)`` for ``training.loop.fit`` and ``evaluation.generation.generate``: conditions
    ``model``'s adapter on the subgraphs of those record ids (``models.adapter_gnn.graph_conditioning``)."""
    from models.adapter_gnn import graph_conditioning

    return lambda ids: graph_conditioning(model, [graphs[i] for i in ids])


def model_fingerprint(m, method, seed: int) -> str:
    """What identifies the weights that produced an answer (for reusing answers on rerun)."""
    parts = OmegaConf.to_container(m, resolve=True)
    parts.pop("device", None)
    parts.pop("cache_dir", None)
    if m.source == "tiny_random":
        parts["seed"] = seed
    # name + adapter (what zero_shot always had, so its fingerprints are unchanged), plus the
    # adapter file's hash: retraining into the same folder must not reuse stale answers.
    parts["method"] = {k: method[k] for k in ("name", "adapter") if k in method}
    adapter = method.get("adapter")
    if adapter:
        weights = Path(adapter).expanduser() / "adapter_model.safetensors"
        parts["adapter_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest() if weights.is_file() else None
    if method.get("quantize_base"):
        parts["quantize_base"] = True
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def build_judge(j, seed: int = 0):
    """The G-Eval judge named by ``judge.name`` (None for ``none``), from its config group.

    A ``local`` judge loads its model here; its id (the cache key's judge part) hashes
    the judge model's config, so changing the judge model never reuses old verdicts.
    """
    if j is None or j.name == "none":
        return None
    from evaluation.judges import make_judge

    kwargs = OmegaConf.to_container(j, resolve=True)
    name = kwargs.pop("name")
    if name == "local":
        model, tok = build_model(j.model, seed)
        digest = model_fingerprint(j.model, OmegaConf.create({"name": "judge"}), seed)
        kwargs.update(model=model, tokenizer=tok, model_id=f"{j.model.name}:{digest}")
    judge = make_judge(name, **kwargs)
    log.info("judge: %s", judge.id)
    return judge


_KG_LOADED: dict[str, tuple] = {}


def build_kg(kg, corpus_path: str, default_split: str | None = None):
    """The concept graph (built, or reused from the cache), its linker and MindMap retriever.

    Loaded once per process for the same settings and corpus: training formats train and dev
    with it, and evaluation may need it for both graph prompts and adapter_gnn subgraphs.

    Returns:
        ``(artifacts, retriever, records)``: :class:`kg.cache.KGArtifacts` (graph, node
        embeddings, cache folder), a :class:`kg.retrieval.MindMapRetriever` (its ``linker``
        and ``linker.encoder`` included) and every corpus record (all splits).
    """
    from importlib.metadata import version

    from kg.cache import build_or_load
    from kg.lexicon import load_lexicon
    from kg.linking import EntityLinker
    from kg.retrieval import MindMapRetriever
    from models.encoder import ENCODER_PACKAGE, load_encoder, resolve_encoder_path
    from models.loading import default_cache_dir

    memo = json.dumps([OmegaConf.to_container(kg, resolve=True), str(corpus_path), default_split], sort_keys=True)
    if memo in _KG_LOADED:
        return _KG_LOADED[memo]
    records = load_corpus(corpus_path, default_split=default_split)
    lexicon = load_lexicon(kg.lexicon)
    encoder = load_encoder(kg.encoder, device=kg.device)
    encoder_id = str(resolve_encoder_path(kg.encoder)) if kg.encoder else f"{ENCODER_PACKAGE}=={version(ENCODER_PACKAGE)}"
    cache = Path(kg.cache_dir).expanduser() if kg.cache_dir else default_cache_dir() / "kg"
    art = build_or_load(
        records, lexicon, kg.lexicon, cache, encoder, encoder_id, rebuild=kg.rebuild, encode_bf16=kg.encode_bf16,
        spacy_model=kg.spacy_model,
        mine_terms=kg.mine_terms, term_max_len=kg.term_max_len, term_min_freq=kg.term_min_freq,
        max_terms=kg.max_terms, synonym_threshold=kg.synonym_threshold, abbreviations=kg.abbreviations,
        patterns=kg.patterns, pattern_max_gap=kg.pattern_max_gap, cooc_min_count=kg.cooc_min_count,
        npmi_threshold=kg.npmi_threshold, related_top_k=kg.related_top_k, max_provenance=kg.max_provenance)
    linker = EntityLinker.from_graph(art.graph, art.embeddings, encoder, spacy_model=kg.spacy_model,
                                     threshold=kg.link_threshold, fallback_k=kg.link_fallback_k)
    retriever = MindMapRetriever(
        art.graph, art.embeddings, linker, max_hops=kg.max_hops, top_paths=kg.top_paths,
        paths_per_pair=kg.paths_per_pair, top_neighbors=kg.top_neighbors, relevance_weight=kg.relevance_weight,
        token_budget=kg.token_budget)
    log.info("kg: %d concepts, %d edges (%s, %s)", art.graph.number_of_nodes(), art.graph.number_of_edges(),
             "reused" if art.reused else f"built in {art.build_seconds:.1f} s", art.folder)
    _KG_LOADED[memo] = art, retriever, records
    return art, retriever, records


def build_prompt_variant(p):
    """A ``conf/prompt/*.yaml`` node as the flat :class:`prompting.graph_prompt.PromptVariant`."""
    from prompting.graph_prompt import PromptVariant

    return PromptVariant(name=p.name, format=p.format, system=p.system, template=p.template, evidence=p.evidence,
                         cite_evidence=p.cite_evidence, cite_instruction=p.cite_instruction,
                         evidence_budget=p.evidence_budget)


def build_graph_prompts(records, p, tokenizer, kg, *, max_new_tokens: int, context_length: int,
                        corpus_path: str | None = None) -> list:
    """Each record's graph prompt (``prompt.evidence`` = mindmap | triples) and what the model sees.

    The graph is always built from the project corpus's train split (``corpus_path``, default
    ``data/corpus``), also when the questions come from another data set.

    Returns:
        one :class:`prompting.graph_prompt.BuiltPrompt` per record; questions without evidence
        get the ``prompt.fallback`` variant and say so in ``fallback_reason``.
    """
    from prompting.graph_prompt import build_graph_prompt
    from studyllama.config import load_group_option

    _, retriever, _ = build_kg(kg, corpus_path or str(ROOT / "data" / "corpus"))
    fallback = build_prompt_variant(load_group_option("prompt", p.fallback)) if p.fallback else None
    variant = build_prompt_variant(p)
    evidence = retriever.retrieve_many([r.question for r in records])
    built = [build_graph_prompt(r.question, ev.to_dict(), variant, tokenizer, fallback=fallback,
                                context_length=context_length, max_new_tokens=max_new_tokens)
             for r, ev in zip(records, evidence)]
    n_fb = sum(b.fallback_reason is not None for b in built)
    log.info("graph prompts (%s): %d questions, %d fell back to %s, %.0f evidence tokens on average", p.name,
             len(built), n_fb, p.fallback, sum(b.evidence_tokens for b in built) / max(len(built), 1))
    return built
