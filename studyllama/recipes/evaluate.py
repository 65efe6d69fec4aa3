"""``studyllama eval``: answer one data split with one model/method/prompt and score it.

Steps: seed -> (train first, with eval.train_first) -> data -> model -> judge -> prompts -> generate (resuming)
-> score (+ G-Eval, cached) -> write -> summary.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import time
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from evaluation.evidence_use import evidence_use
from evaluation.generation import generate
from evaluation.judges.cache import JudgeCache
from evaluation.judges.geval import load_prompt, score_answers
from evaluation.metrics import corpus_sacrebleu, score_all
from evaluation.summary import aggregate, format_table
from kg.io import append_jsonl, atomic_write_json, atomic_write_jsonl, read_jsonl_tolerant
from studyllama import CONF_DIR
from studyllama.builders import (build_graph_condition, build_graph_prompts, build_judge, build_model, build_prompts,
                                 build_records, build_subgraphs, model_fingerprint, seed_everything, trains)
from studyllama.config import config_hash
from studyllama.recipes.train import train_fingerprint, train_first
from training.dev_eval import MergedCopy

log = logging.getLogger(__name__)


def gen_params(ev) -> dict:
    params = dict(max_new_tokens=ev.max_new_tokens, stop_strings=list(ev.stop_strings), do_sample=ev.do_sample,
                  temperature=ev.temperature, top_p=ev.top_p)
    if ev.repetition_penalty != 1.0:  # only when set, so the answers of earlier runs keep their keys
        params["repetition_penalty"] = ev.repetition_penalty
    return params


def judge_prompt_path(name: str) -> Path:
    """``eval.judge_prompt``: a name in ``conf/judge/prompts/`` or a path to a prompt file."""
    return Path(name) if "/" in name or name.endswith(".txt") else CONF_DIR / "judge" / "prompts" / f"{name}.txt"


def geval(judge, records, answers: list[str], ev, out_dir: Path) -> list:
    """G-Eval verdicts of ``answers``; cached in ``eval.judge_cache`` (default ``<out_dir>/judge_cache.jsonl``)."""
    template = load_prompt(judge_prompt_path(ev.judge_prompt))
    cache_path = Path(ev.judge_cache) if ev.judge_cache else out_dir / "judge_cache.jsonl"
    if not ev.resume and not ev.judge_cache:
        cache_path.unlink(missing_ok=True)
    return score_answers(judge, template, [r.question for r in records], answers, cache=JudgeCache(cache_path),
                         progress=ev.progress)


def judge_summary(judge, verdicts, prompt: str) -> dict:
    """Which judge and prompt, how many verdicts are missing, and the mean probability on score tokens
    (a judge that puts little mass on 1-5 is not following the form: its scores are weak evidence)."""
    masses = [v.mass for v in verdicts if v.mass is not None]
    return dict(id=judge.id, prompt=prompt, missing=sum(v.score is None for v in verdicts),
                mean_score_mass=sum(masses) / len(masses) if masses else None)


def answer_and_score(model, tok, records, prompt_cfg, cfg, out_dir: Path, judge=None, condition=None) -> dict:
    """Answer ``records`` with one prompt variant, score, and write outputs to ``out_dir``.

    Answers go to ``generations.jsonl`` as each batch finishes; a rerun with the same
    model, prompt text and generation settings reuses them (an interrupted run resumes).
    With a judge (``judge`` or, when None, the one ``cfg.judge`` names), each answer also
    gets a ``geval`` score (None when the judge gave none); verdicts are cached too.
    ``condition(record ids)`` gives the context each generation batch runs in (method=adapter_gnn).
    """
    ev = cfg.eval
    out_dir.mkdir(parents=True, exist_ok=True)
    graph = None
    if prompt_cfg.evidence != "none":  # MindMap / triples: each question's subgraph verbalised into its prompt
        graph = build_graph_prompts(records, prompt_cfg, tok, cfg.kg, max_new_tokens=ev.max_new_tokens,
                                    context_length=getattr(model.config, "max_position_embeddings", 2048))
        prompts = [b.prompt for b in graph]
    else:
        prompts = build_prompts(records, prompt_cfg, tok)
    fp = model_fingerprint(cfg.model, cfg.method, cfg.seed)
    if condition is not None:  # adapter_gnn: the subgraphs, hence the kg settings, shape the answers too
        fp += ":" + config_hash(cfg.kg)
    params = gen_params(ev)
    keys = [hashlib.sha256(json.dumps([fp, p, params], sort_keys=True).encode()).hexdigest()[:20] for p in prompts]

    gen_file = out_dir / "generations.jsonl"
    done = {row["gen_key"]: row for row in read_jsonl_tolerant(gen_file)} if ev.resume else {}
    if not ev.resume:
        gen_file.unlink(missing_ok=True)
    todo = [i for i, k in enumerate(keys) if k not in done]
    log.info("generate: %d answers to produce, %d reused from %s", len(todo), len(records) - len(todo), gen_file)

    def save(idx, gens):
        rows = [dict(gen_key=keys[todo[j]], id=records[todo[j]].id, **g.to_dict()) for j, g in zip(idx, gens)]
        append_jsonl(gen_file, rows)
        done.update({r["gen_key"]: r for r in rows})

    t0 = time.perf_counter()
    generate(model, tok, [prompts[i] for i in todo], batch_size=ev.batch_size,
             add_special_tokens=prompt_cfg.format == "raw", progress=ev.progress, on_batch=save,
             cache_implementation=ev.cache_implementation,
             condition=(lambda idx: condition([records[todo[j]].id for j in idx])) if condition else None, **params)
    wall = time.perf_counter() - t0
    new_tokens = sum(done[keys[i]]["completion_tokens"] for i in todo)

    answers = [done[k]["text"] for k in keys]
    refs = [r.answer for r in records]
    scores = score_all(ev.metrics, answers, refs, options={"bertscore": {"model_path": ev.bertscore_model}})
    judge = judge or build_judge(OmegaConf.select(cfg, "judge"), cfg.seed)
    verdicts = geval(judge, records, answers, ev, out_dir) if judge is not None else None
    if verdicts is not None:
        scores["geval"] = [v.score for v in verdicts]
    rows = []
    for i, (r, k) in enumerate(zip(records, keys)):
        g = done[k]
        rows.append(dict(
            id=r.id, domain=r.domain, topic=r.topic, question=r.question, reference=r.answer,
            prompt=prompts[i], answer=g["text"], finish_reason=g["finish_reason"],
            prompt_tokens=g["prompt_tokens"], completion_tokens=g["completion_tokens"],
            metrics={m: v[i] for m, v in scores.items()}))
        if verdicts is not None:
            rows[-1]["judge"] = verdicts[i].to_dict()
        if graph is not None:
            rows[-1]["graph"] = graph[i].record()
    atomic_write_jsonl(out_dir / "predictions.jsonl", rows)

    summary = aggregate(rows, list(scores), n_resamples=ev.bootstrap_resamples, level=ev.ci_level, seed=cfg.seed)
    summary.update(
        n=len(rows), model=cfg.model.name, method=cfg.method.name, adapter=cfg.method.get("adapter"),
        prompt=prompt_cfg.name, data=cfg.data.name,
        split=cfg.data.split, config_hash=config_hash(cfg), ci_level=ev.ci_level,
        sacrebleu=corpus_sacrebleu(answers, refs) if ev.sacrebleu else None,
        generation=dict(wall_s=round(wall, 2), new_tokens=new_tokens, answers_generated=len(todo),
                        tokens_per_s=round(new_tokens / wall, 1) if todo and wall > 0 else None,
                        batch_size=ev.batch_size, device=str(next(model.parameters()).device), **params),
        judge=judge_summary(judge, verdicts, ev.judge_prompt) if verdicts is not None else None,
        evidence_use=evidence_use(rows, list(scores), asked_to_cite=prompt_cfg.cite_evidence, seed=cfg.seed)
        if graph is not None else None,
    )
    atomic_write_json(out_dir / "metrics.json", summary)
    return summary


def train_for_eval(cfg, out_dir: Path) -> Path:
    """The best adapter of ``cfg``'s training, trained first if needed, in ``eval.train_dir`` (shared,
    one folder per training fingerprint) or ``<out_dir>/train``."""
    train_dir = Path(cfg.eval.train_dir) / train_fingerprint(cfg) if cfg.eval.train_dir else out_dir / "train"
    best = train_first(cfg, train_dir)
    gc.collect()  # the training model goes before the evaluated one loads
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    seed_everything(cfg.seed)
    return best


def ready_to_generate(model, cfg):
    """LoRA on an unquantized base is merged into the base weights (the same function, plain decoding steps);
    a LLaMA-Adapter decodes with a dynamic KV cache (its per-batch conditioning is not compiled)."""
    if MergedCopy.applies(model):
        model = model.merge_and_unload()
        log.info("adapter: LoRA merged into the base weights for generation")
    if cfg.method.get("llama_adapter") and cfg.eval.cache_implementation:
        log.warning("eval.cache_implementation=%s: not used with method=%s; decoding with a dynamic KV cache",
                    cfg.eval.cache_implementation, cfg.method.name)
        cfg.eval.cache_implementation = None
    return model


def main(cfg: DictConfig) -> dict:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    log.info("step 1/5 seed=%d, outputs in %s", cfg.seed, out_dir)
    seed_everything(cfg.seed)
    if cfg.eval.train_first and trains(cfg.method) and not cfg.method.adapter:
        log.info("step 1/5 train first (eval.train_first=true, train=%s)", cfg.train.name)
        cfg.method.adapter = str(train_for_eval(cfg, out_dir))
    log.info("step 2/5 data")
    records = build_records(cfg.data, cfg.eval)
    log.info("step 3/5 model")
    model, tok = build_model(cfg.model, cfg.seed, cfg.method, prompt_name=cfg.prompt.name)
    model = ready_to_generate(model, cfg)
    condition = None
    if cfg.method.get("graph"):  # adapter_gnn: each question's subgraph conditions the adapter
        condition = build_graph_condition(model, build_subgraphs(records, cfg.kg, cfg.data))
    log.info("step 4/5 judge (%s)", cfg.judge.name)
    judge = build_judge(cfg.judge, cfg.seed)
    log.info("step 5/5 answer and score (prompt=%s)", cfg.prompt.name)
    summary = answer_and_score(model, tok, records, cfg.prompt, cfg, out_dir, judge=judge, condition=condition)
    print(format_table([summary], [f"{cfg.method.name}/{cfg.prompt.name}"]))
    print(f"\noutputs: {out_dir}")
    return summary
