"""A JSONL cache of judge verdicts, so reruns and resumed runs cost no judge calls.

Each line is one verdict keyed by ``sha256(judge id, prompt template, question, answer)``:
the same answer judged by the same judge with the same prompt text is never judged
twice, whichever run or sweep asks. Missing verdicts (failed calls) are not cached, so a
rerun tries them again. A batch of lines is appended with a single ``write`` on a file
opened with ``O_APPEND``, so parallel jobs (joblib launcher) sharing one cache file do
not interleave lines; a truncated last line from a killed run is skipped on reading.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

from evaluation.judges.scoring import Verdict
from kg.io import read_jsonl_tolerant


def cache_key(judge_id: str, template: str, question: str, answer: str) -> str:
    return hashlib.sha256(json.dumps([judge_id, template, question, answer]).encode("utf-8")).hexdigest()


class JudgeCache:
    """Verdicts by key, loaded from ``path`` (if it exists) and appended to as they come."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows = {r["key"]: r for r in read_jsonl_tolerant(self.path)}

    def get(self, key: str) -> Verdict | None:
        row = self.rows.get(key)
        return None if row is None else Verdict(**row["verdict"])

    def put(self, items: Iterable[tuple[str, str, Verdict]]) -> None:
        """Append ``(key, judge_id, verdict)`` rows whose verdict has a score."""
        rows = [dict(key=k, judge=j, verdict=v.to_dict()) for k, j, v in items if v.score is not None]
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            while data:  # one write in practice; a regular file takes it whole
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)
        self.rows.update((r["key"], r) for r in rows)
