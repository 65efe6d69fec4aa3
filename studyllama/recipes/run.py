"""``studyllama run``: the default job. Answers a domain-balanced subset of the test split
with each prompt variant in ``compare_prompts`` and prints them side by side.

Steps: seed -> data -> model -> for each prompt: generate + score -> summary table.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from evaluation.summary import format_table
from kg.io import atomic_write_json
from studyllama.builders import build_judge, build_model, build_records, seed_everything
from studyllama.config import load_group_option
from studyllama.recipes.evaluate import answer_and_score

log = logging.getLogger(__name__)


def main(cfg: DictConfig) -> list[dict]:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    variants = list(cfg.compare_prompts) or [cfg.prompt.name]
    log.info("step 1/4 seed=%d, outputs in %s", cfg.seed, out_dir)
    seed_everything(cfg.seed)
    log.info("step 2/4 data")
    records = build_records(cfg.data, cfg.eval)
    log.info("step 3/4 model")
    model, tok = build_model(cfg.model, cfg.seed, cfg.method)
    judge = build_judge(cfg.judge, cfg.seed)  # once for all variants (a local judge loads a model)
    results = []
    for name in variants:
        log.info("step 4/4 answer and score: prompt=%s", name)
        prompt_cfg = cfg.prompt if name == cfg.prompt.name else load_group_option("prompt", name)
        results.append(answer_and_score(model, tok, records, prompt_cfg, cfg, out_dir / name, judge=judge))
    atomic_write_json(out_dir / "summary.json", results)
    labels = [f"{cfg.method.name}/{n}" for n in variants]
    print(f"\n{cfg.model.name} on {len(records)} {cfg.data.split} questions of {cfg.data.name} "
          f"(greedy, {cfg.eval.max_new_tokens} new tokens max); mean [{cfg.eval.ci_level:.0%} bootstrap CI]\n")
    print(format_table(results, labels))
    print(f"\noutputs: {out_dir}")
    return results
