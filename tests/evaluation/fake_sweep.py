"""A hand-made Hydra sweep folder: two jobs (prompt=seed, prompt=chat) with known metrics and answers."""

from __future__ import annotations

import json
from pathlib import Path

XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


def agg(mean, lo, hi, n=2, missing=0):
    return {"mean": mean, "ci_low": lo, "ci_high": hi, "n": n, "missing": missing}


def _job(root: Path, name: str, prompt: str, metrics: dict, answers: dict, eos_rate: float, evidence: bool):
    d = root / name
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "overrides.yaml").write_text(f"- method=zero_shot\n- prompt={prompt}\n- eval.progress=false\n")
    summary = {"metrics": metrics, "n": 2, "model": "tiny_random", "method": "zero_shot", "prompt": prompt,
               "data": "interview", "split": "test", "ci_level": 0.95, "eos_rate": eos_rate, "stop_rate": 0.0,
               "mean_answer_tokens": 8.0, "finish_reasons": {"eos": 1, "length": 1},
               "sacrebleu": {"score": 1.5, "signature": "x"}, "judge": {"id": "local:tiny", "prompt": "geval_rubric"}}
    (d / "metrics.json").write_text(json.dumps(summary))
    rows = []
    for qid, ans in answers.items():
        row = {"id": qid, "domain": "stats", "question": f"What is {qid} & why?", "reference": f"Ref of {qid}.",
               "answer": ans, "metrics": {"rouge1": 0.5, "geval": None}}
        if evidence:
            row["evidence_ids"] = ["e1", "e2"]
            row["graph"] = {"subgraph": {"nodes": ["n1", "n2"], "edges": ["n1-n2"]}, "linked": []}
        rows.append(row)
    (d / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def make_sweep(root: Path) -> Path:
    """``root/sweep`` with jobs ``method=zero_shot,prompt=seed`` and ``method=zero_shot,prompt=chat``."""
    sweep = root / "sweep"
    _job(sweep, "method=zero_shot,prompt=seed", "seed",
         {"rouge1": agg(0.1, 0.05, 0.15), "geval": agg(2.5, 2.0, 3.0), "meteor": agg(None, None, None, 0, 2)},
         {"q1": "seed answer one", "q2": XSS}, eos_rate=0.5, evidence=False)
    _job(sweep, "method=zero_shot,prompt=chat", "chat",
         {"rouge1": agg(0.2, 0.125, 0.25), "geval": agg(3.25, 3.0, 3.5), "meteor": agg(0.3, 0.2, 0.4)},
         {"q1": "chat answer one", "q3": "chat only"}, eos_rate=1.0, evidence=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    return sweep
