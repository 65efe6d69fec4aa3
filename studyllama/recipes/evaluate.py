"""``studyllama eval``: answer one data split with one model/method/prompt and score it.

Steps: seed -> data -> model -> prompts -> generate (resuming) -> score -> write -> summary.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from evaluation.generation import generate
from evaluation.metrics import corpus_sacrebleu, score_all
from evaluation.summary import aggregate, format_table
from kg.io import append_jsonl, atomic_write_json, atomic_write_jsonl, read_jsonl_tolerant
from prompting.templates import build_prompt
from studyllama.builders import build_model, build_records, model_fingerprint, seed_everything
from studyllama.config import config_hash

log = logging.getLogger(__name__)


def gen_params(ev) -> dict:
    return dict(max_new_tokens=ev.max_new_tokens, stop_strings=list(ev.stop_strings), do_sample=ev.do_sample,
                temperature=ev.temperature, top_p=ev.top_p)


def answer_and_score(model, tok, records, prompt_cfg, cfg, out_dir: Path) -> dict:
    """Answer ``records`` with one prompt variant, score, and write outputs to ``out_dir``.

    Answers go to ``generations.jsonl`` as each batch finishes; a rerun with the same
    model, prompt text and generation settings reuses them (an interrupted run resumes).
    """
    ev = cfg.eval
    out_dir.mkdir(parents=True, exist_ok=True)
    prompts = [build_prompt(r.question, fmt=prompt_cfg.format, system=prompt_cfg.system,
                            template=prompt_cfg.template, tokenizer=tok) for r in records]
    fp = model_fingerprint(cfg.model, cfg.method, cfg.seed)
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
             add_special_tokens=prompt_cfg.format == "raw", progress=ev.progress, on_batch=save, **params)
    wall = time.perf_counter() - t0
    new_tokens = sum(done[keys[i]]["completion_tokens"] for i in todo)

    answers = [done[k]["text"] for k in keys]
    refs = [r.answer for r in records]
    scores = score_all(ev.metrics, answers, refs)
    rows = []
    for i, (r, k) in enumerate(zip(records, keys)):
        g = done[k]
        rows.append(dict(
            id=r.id, domain=r.domain, topic=r.topic, question=r.question, reference=r.answer,
            prompt=prompts[i], answer=g["text"], finish_reason=g["finish_reason"],
            prompt_tokens=g["prompt_tokens"], completion_tokens=g["completion_tokens"],
            metrics={m: v[i] for m, v in scores.items()}))
    atomic_write_jsonl(out_dir / "predictions.jsonl", rows)

    summary = aggregate(rows, list(scores), n_resamples=ev.bootstrap_resamples, level=ev.ci_level, seed=cfg.seed)
    summary.update(
        n=len(rows), model=cfg.model.name, method=cfg.method.name, prompt=prompt_cfg.name, data=cfg.data.name,
        split=cfg.data.split, config_hash=config_hash(cfg), ci_level=ev.ci_level,
        sacrebleu=corpus_sacrebleu(answers, refs) if ev.sacrebleu else None,
        generation=dict(wall_s=round(wall, 2), new_tokens=new_tokens, answers_generated=len(todo),
                        tokens_per_s=round(new_tokens / wall, 1) if todo and wall > 0 else None,
                        batch_size=ev.batch_size, device=str(next(model.parameters()).device), **params),
    )
    atomic_write_json(out_dir / "metrics.json", summary)
    return summary


def main(cfg: DictConfig) -> dict:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    log.info("step 1/4 seed=%d, outputs in %s", cfg.seed, out_dir)
    seed_everything(cfg.seed)
    log.info("step 2/4 data")
    records = build_records(cfg.data, cfg.eval)
    log.info("step 3/4 model")
    model, tok = build_model(cfg.model, cfg.seed)
    log.info("step 4/4 answer and score (prompt=%s)", cfg.prompt.name)
    summary = answer_and_score(model, tok, records, cfg.prompt, cfg, out_dir)
    print(format_table([summary], [f"{cfg.method.name}/{cfg.prompt.name}"]))
    print(f"\noutputs: {out_dir}")
    return summary
