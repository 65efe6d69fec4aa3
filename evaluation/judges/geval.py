"""Run a G-Eval judge over answers: render the judge prompt, reuse cached verdicts, judge the rest.

The judge prompts are plain-text files (``conf/judge/prompts/*.txt``) with ``{question}``
and ``{answer}`` placeholders, substituted literally (braces elsewhere are kept), so the
exact text a judge read can be reproduced from the file. G-Eval: Liu et al. 2023,
https://arxiv.org/abs/2303.16634.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from evaluation.judges.cache import JudgeCache, cache_key
from evaluation.judges.scoring import Verdict

log = logging.getLogger(__name__)
PLACEHOLDERS = ("{question}", "{answer}")


def load_prompt(path: str | Path) -> str:
    """A judge prompt template; it must contain ``{question}`` and ``{answer}``."""
    path = Path(path)
    if not path.is_file():
        options = sorted(p.stem for p in path.parent.glob("*.txt")) if path.parent.is_dir() else []
        raise FileNotFoundError(f"{path}: no such judge prompt; eval.judge_prompt takes a file path or one of {options}")
    text = path.read_text(encoding="utf-8")
    if missing := [p for p in PLACEHOLDERS if p not in text]:
        raise ValueError(f"{path}: the judge prompt lacks {missing}; it must contain {list(PLACEHOLDERS)}")
    return text


def render(template: str, question: str, answer: str) -> str:
    return template.replace("{question}", question).replace("{answer}", answer)


def score_answers(judge, template: str, questions: Sequence[str], answers: Sequence[str], *,
                  cache: JudgeCache | None = None, chunk: int = 32, progress: bool = False) -> list[Verdict]:
    """One verdict per (question, answer); cached ones are reused, new ones cached chunk by chunk.

    Args:
        judge: an object with ``id`` and ``score(prompts) -> list[Verdict]`` (see :mod:`evaluation.judges`).
        template: the judge prompt text (not its file name: editing the file invalidates the cache).
        cache: where verdicts are kept between runs. Default None: no cache.
        chunk: answers judged between two cache writes (an interrupted run keeps finished chunks). Default 32.
    """
    keys = [cache_key(judge.id, template, q, a) for q, a in zip(questions, answers)]
    verdicts: list[Verdict | None] = [cache.get(k) if cache else None for k in keys]
    todo = [i for i, v in enumerate(verdicts) if v is None]
    log.info("judge %s: %d answers to judge, %d reused from %s", judge.id, len(todo), len(keys) - len(todo),
             cache.path if cache else "nowhere (no cache)")
    bar = tqdm(total=len(todo), desc="judge", unit="a", disable=not progress)
    for start in range(0, len(todo), chunk):
        idx = todo[start:start + chunk]
        new = judge.score([render(template, questions[i], answers[i]) for i in idx])
        for i, v in zip(idx, new):
            verdicts[i] = v
        if cache is not None:
            cache.put((keys[i], judge.id, v) for i, v in zip(idx, new))
        bar.update(len(idx))
    bar.close()
    missing = sum(v.score is None for v in verdicts)
    if missing:
        log.warning("judge %s: %d of %d answers have no score (recorded as missing)", judge.id, missing, len(keys))
    return verdicts  # type: ignore[return-value]
