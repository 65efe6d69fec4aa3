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
    name: str = "zero_shot"
    adapter: Optional[str] = None  # path to a saved adapter folder, for trained methods


@dataclass
class PromptConfig:
    name: str = MISSING
    format: str = "chat"  # raw | chat
    system: str = MISSING
    template: str = "{question}"


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
    metrics: List[str] = field(default_factory=lambda: ["rouge", "rouge_score", "bleu"])
    sacrebleu: bool = True
    bootstrap_resamples: int = 1000
    ci_level: float = 0.95
    resume: bool = True
    progress: bool = True


@dataclass
class Config:
    model: ModelConfig = MISSING
    method: MethodConfig = MISSING
    prompt: PromptConfig = MISSING
    data: DataConfig = MISSING
    eval: EvalConfig = MISSING
    seed: int = 0
    compare_prompts: List[str] = field(default_factory=list)  # `run`: prompt variants side by side


GROUPS = {"model": ModelConfig, "method": MethodConfig, "prompt": PromptConfig, "data": DataConfig,
          "eval": EvalConfig}


def register() -> None:
    """Register the schemas and the ``${root:...}`` resolver (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    for group, node in GROUPS.items():
        cs.store(group=group, name=f"schema_{group}", node=node)
    if not OmegaConf.has_resolver("root"):
        OmegaConf.register_new_resolver("root", lambda rel="": str(ROOT / rel))
    if not OmegaConf.has_resolver("run_id"):
        # Hydra's override_dirname is empty for a run with no overrides.
        OmegaConf.register_new_resolver("run_id", lambda s="": (s or "default").replace("/", "_"))


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


