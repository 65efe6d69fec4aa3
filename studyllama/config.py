"""Typed config schemas, registered in Hydra's ConfigStore.

Every YAML file under ``conf/`` is merged onto these dataclasses, so a misspelt key
or a value of the wrong type fails at compose time naming the key. Classes never see
these objects: recipes pass plain keyword arguments to builders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from studyllama import ROOT


@dataclass
class ModelConfig:
    name: str = MISSING
    source: str = "embedded"  # embedded | gguf | hf | tiny_random
    path: Optional[str] = None
    sha256: Optional[str] = None
    cache_dir: Optional[str] = None  # default: $STUDYLLAMA_CACHE or ~/.cache/studyllama
    dtype: str = "auto"
    device: str = "auto"
    load_in_4bit: bool = False
    bnb_4bit_quant_type: str = "nf4"
    bnb_4bit_use_double_quant: bool = True
    bnb_4bit_compute_dtype: str = "bfloat16"
    tiny: Dict[str, int] = field(default_factory=dict)


@dataclass
class MethodConfig:
    """How the base model is adapted. ``conf/method/*.yaml`` set every field they use."""

    name: str = "zero_shot"
    adapter: Optional[str] = None  # a saved adapter folder (`studyllama train` writes <run>/best) to load for eval
    peft: Optional[str] = None  # lora | prompt_tuning; None: nothing is trained (zero_shot)
    quantize_base: bool = False  # QLoRA: the frozen base in 4-bit (model.bnb_4bit_* settings), CUDA only
    fp32_frozen: bool = False  # QLoRA: frozen non-4-bit weights in fp32, as peft's prepare_model_for_kbit_training
    # LoRA (peft.LoraConfig names)
    r: int = 0
    lora_alpha: int = 0
    lora_dropout: float = 0.0
    target_modules: List[str] = field(default_factory=list)
    # prompt tuning (peft.PromptTuningConfig names)
    num_virtual_tokens: int = 0
    prompt_tuning_init: str = "SAMPLE_VOCAB"  # SAMPLE_VOCAB | RANDOM
    # LLaMA-Adapter (models/adapter.py) and its GNN over the question's subgraph (models/gnn.py)
    llama_adapter: bool = False  # method=adapter|adapter_gnn: train/load models.adapter_gnn instead of peft
    adapter_length: int = 10  # K, prompt vectors per adapted layer
    adapter_layers: Optional[int] = None  # top L layers adapted; None: all
    graph: bool = False  # adapter_gnn: condition the prompt on the question's subgraph
    gnn: str = "gat"  # gat | sage | none (question-conditioned pooling without message passing)
    gnn_layers: int = 2
    gnn_hidden: int = 256
    gnn_heads: int = 4  # GAT only; gnn_hidden must divide by it
    gnn_dropout: float = 0.1
    num_relations: Optional[int] = None  # None: len(kg.relations.RELATIONS)


@dataclass
class PromptConfig:
    name: str = MISSING
    format: str = "chat"  # raw | chat
    system: str = MISSING
    template: str = "{question}"
    evidence: str = "none"  # none | mindmap | triples: graph evidence put in {evidence}
    cite_evidence: bool = False  # ask for a reasoning chain citing evidence ids (MindMap)
    cite_instruction: str = ""  # appended to the template when cite_evidence is true
    evidence_budget: int = 384  # max evidence tokens; also cut to fit the model's context
    fallback: Optional[str] = None  # prompt variant used when a question has no evidence


@dataclass
class DataConfig:
    name: str = MISSING
    path: str = MISSING
    split: str = "test"
    default_split: Optional[str] = None  # for sets without a split field (public benchmarks)
    attribution: Optional[str] = None


@dataclass
class EvalConfig:
    name: str = MISSING
    limit: Optional[int] = None  # None: the whole split
    subset_seed: int = 0
    batch_size: int = 16
    max_new_tokens: int = 256
    stop_strings: List[str] = field(default_factory=lambda: ["### Question:"])
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    # > 1 lowers the logits of tokens already in the text (Keskar et al., 2019); 1.0: off
    repetition_penalty: float = 1.0
    metrics: List[str] = field(default_factory=lambda: ["rouge", "rouge_score", "bleu"])
    sacrebleu: bool = True
    bootstrap_resamples: int = 1000
    ci_level: float = 0.95
    resume: bool = True
    progress: bool = True
    # "static": preallocated KV cache + compiled decoding (GPU, big batches); method=adapter|adapter_gnn decode
    # with a dynamic cache regardless (their per-batch conditioning is not compiled)
    cache_implementation: Optional[str] = None
    judge_prompt: str = "geval_rubric"  # conf/judge/prompts/<name>.txt (geval_criteria | geval_rubric) or a file path
    judge_cache: Optional[str] = None  # default <run dir>/judge_cache.jsonl; one shared file reuses verdicts across runs
    bertscore_model: Optional[str] = None  # local encoder folder for `bertscore`; None: the embedded MiniLM
    # A trainable method without method.adapter is first trained (the `train` group's preset, train split,
    # dev-set selection) into <run>/train, then evaluated: one job per ablation cell. A rerun reuses a
    # finished training and resumes an interrupted one.
    train_first: bool = False
    # Where train_first trains: None: <run>/train. A folder shared by several runs (the ablation uses
    # ${hydra:sweep.dir}/trainings) holds one training per training fingerprint, so cells that differ only in
    # how they evaluate (e.g. a repetition penalty) share one; a job waits for a training another job is running.
    train_dir: Optional[str] = None


@dataclass
class NoJudgeConfig:
    name: str = "none"


@dataclass
class LocalJudgeConfig:
    """G-Eval with a local causal LM (evaluation/judges/local.py)."""

    name: str = "local"
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name="smollm2_135m", source="embedded"))
    batch_size: int = 8


@dataclass
class OpenAIJudgeConfig:
    """G-Eval through an OpenAI-compatible server (evaluation/judges/openai_compat.py)."""

    name: str = "openai"
    model: str = MISSING
    base_url: Optional[str] = None
    api_key_env: str = "OPENAI_API_KEY"  # the key is read only from this environment variable
    scoring: str = "auto"  # auto | logprobs | samples
    top_logprobs: int = 20
    n_samples: int = 10
    temperature: float = 2.0
    top_p: float = 1.0
    max_tokens: int = 5
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    concurrency: int = 4


@dataclass
class TrainConfig:
    """``studyllama train`` hyperparameters; presets in ``conf/train/``."""

    name: str = MISSING
    train_split: str = "train"
    dev_split: str = "dev"  # checkpoint selection, LIMA-style
    epochs: int = MISSING
    max_steps: Optional[int] = None  # stop after this many optimizer steps (debug runs)
    batch_size: int = MISSING  # examples per optimizer step, summed over processes and accumulation
    micro_batch_size: int = MISSING  # examples per forward pass on one process
    batching: str = "grouped"  # grouped | packed | padded (the naive baseline)
    group_window: int = 50  # grouped: micro-batches per length-sorting window
    max_seq_len: int = 2048  # longer examples are dropped (and counted in the log)
    optimizer: str = "adamw"  # adamw | paged_adamw_32bit (bitsandbytes, CUDA)
    lr: float = MISSING
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0
    schedule: str = "linear"  # linear | cosine | constant
    warmup_steps: int = 0
    warmup_ratio: float = 0.0  # set warmup_steps or warmup_ratio, not both
    min_lr_ratio: float = 0.0  # linear/cosine decay ends at lr * min_lr_ratio
    max_grad_norm: Optional[float] = 1.0  # None: no clipping
    gradient_checkpointing: bool = False
    # Speed only (same function; not part of a training's fingerprint). fused_lora: each LoRA layer's step as one
    # autograd function (training/fused_lora.py), for eager steps. compile: torch.compile each decoder layer for
    # training steps (training/compile.py; GPU; ~20 s on the first step), which fuses LoRA's element-wise work
    # itself and replaces fused_lora (7B QLoRA shape, H200: 33.8% MFU eager, 34.3% fused, 46.8% compiled).
    fused_lora: bool = True
    compile: bool = False
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 on CPU) | bf16 | fp32
    dev_max_new_tokens: int = 128
    dev_batch_size: int = 16
    dev_merged: bool = True  # LoRA: answer dev questions with a merged copy of the model (faster; same function)
    dev_cache_implementation: Optional[str] = None  # "static": compiled decoding of the merged copy's dev answers (GPU)
    select_metric: str = "rougeL"  # rougeL | eos_rate | loss (the best epoch on the dev split is kept)
    log_every_steps: int = 10
    save_every_steps: int = 0  # also write a resumable checkpoint every N steps (0: at epoch ends only)
    resume: bool = False  # continue from <run>/checkpoint
    export_merged: bool = False  # also write <run>/merged: the best adapter merged into a de-quantized base


@dataclass
class KGConfig:
    """The concept graph (``kg/``): build settings, entity linking and MindMap retrieval."""

    name: str = "default"
    lexicon: str = "${root:data/lexicon.jsonl}"
    cache_dir: Optional[str] = None  # default $STUDYLLAMA_CACHE/kg or ~/.cache/studyllama/kg
    rebuild: bool = False  # build even when the cache holds this graph
    encoder: Optional[str] = None  # local sentence-transformers folder; None: the embedded MiniLM
    device: str = "cpu"
    encode_bf16: Optional[bool] = None  # build-time embeddings in CPU bf16; None: where the CPU has native bf16
    spacy_model: Optional[str] = None  # a full spaCy pipeline; None: spacy.blank("en") + PhraseMatcher
    # concepts mined from train answers (kg/terms.py)
    mine_terms: bool = True
    term_max_len: int = 4
    term_min_freq: int = 3
    max_terms: int = 200
    synonym_threshold: float = 0.9
    abbreviations: bool = True
    # relations (kg/relations.py)
    patterns: bool = True
    pattern_max_gap: int = 3
    cooc_min_count: int = 2
    npmi_threshold: float = 0.2
    related_top_k: int = 10
    max_provenance: int = 5
    # entity linking (kg/linking.py)
    link_threshold: float = 0.5
    link_fallback_k: int = 2
    # MindMap retrieval (kg/retrieval.py)
    max_hops: int = 2  # k
    top_paths: int = 5  # N
    paths_per_pair: int = 2
    top_neighbors: int = 10
    relevance_weight: float = 0.5
    token_budget: int = 256


@dataclass
class Config:
    model: ModelConfig = MISSING
    method: MethodConfig = MISSING
    prompt: PromptConfig = MISSING
    data: DataConfig = MISSING
    eval: EvalConfig = MISSING
    judge: Any = MISSING  # one schema per option: NoJudgeConfig | LocalJudgeConfig | OpenAIJudgeConfig
    seed: int = 0
    compare_prompts: List[str] = field(default_factory=list)  # `run`: prompt variants side by side
    kg: KGConfig = field(default_factory=KGConfig)
    question: Optional[str] = None  # `viz`: a corpus id or free text


@dataclass
class ReportConfig:
    """`studyllama report`: the sweep folder and what to put in its report."""

    sweep_dir: str = MISSING
    out_dir: Optional[str] = None  # default <sweep_dir>/report
    metrics: Optional[List[str]] = None  # default: every metric present
    title: Optional[str] = None
    plots: bool = True
    drilldown_limit: Optional[int] = None  # questions in the HTML drill-down; default all


JUDGE_SCHEMAS = {"none": NoJudgeConfig, "local": LocalJudgeConfig, "openai": OpenAIJudgeConfig}


@dataclass
class TrainRecipeConfig(Config):
    """``studyllama train``: the shared groups plus ``train``."""

    train: TrainConfig = MISSING


GROUPS = {"model": ModelConfig, "method": MethodConfig, "prompt": PromptConfig, "data": DataConfig,
          "eval": EvalConfig, "train": TrainConfig, "kg": KGConfig}


def run_id(overrides: str = "", max_len: int = 200) -> str:
    """A run folder name from Hydra's override_dirname: ``default`` when empty, ``/`` made safe, and
    bounded (a file name holds 255 bytes; a sweep with many overrides exceeds that): a long name keeps
    its head and tail (the sorted overrides end with method/model/prompt) and a hash of the whole."""
    import hashlib

    s = (overrides or "default").replace("/", "_")
    b = s.encode()
    if len(b) > max_len:  # bytes, not characters: the limit is on the encoded name
        head, tail = b[:80].decode(errors="ignore"), b[-(max_len - 92):].decode(errors="ignore")
        s = f"{head}~{tail}~{hashlib.sha256(b).hexdigest()[:10]}"
    return s


def register() -> None:
    """Register the schemas and the ``${root:...}`` resolver (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    cs.store(name="train_config", node=TrainRecipeConfig)
    cs.store(name="report_config", node=ReportConfig)
    for group, node in GROUPS.items():
        cs.store(group=group, name=f"schema_{group}", node=node)
    for name, node in JUDGE_SCHEMAS.items():
        cs.store(group="judge", name=f"schema_judge_{name}", node=node)
    if not OmegaConf.has_resolver("root"):
        OmegaConf.register_new_resolver("root", lambda rel="": str(ROOT / rel))
    if not OmegaConf.has_resolver("run_id"):
        # Hydra's override_dirname is empty for a run with no overrides.
        OmegaConf.register_new_resolver("run_id", run_id)


def load_group_option(group: str, name: str) -> Any:
    """Load ``conf/<group>/<name>.yaml`` onto its schema (used by ``run`` to compare variants)."""
    path = ROOT / "conf" / group / f"{name}.yaml"
    if not path.is_file():
        options = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise FileNotFoundError(f"{path}: no {group} variant '{name}'; available: {options}")
    node = OmegaConf.load(path)
    node.pop("defaults", None)
    return OmegaConf.merge(OmegaConf.structured(GROUPS[group]), node)


def config_hash(cfg: Any) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(OmegaConf.to_container(cfg, resolve=True), sort_keys=True).encode()).hexdigest()[:12]


