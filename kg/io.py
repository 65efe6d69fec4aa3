"""Atomic file and folder writes and JSONL helpers shared by every stage.

A run can be killed at any moment; nothing it has already written may be left
half-written. Every file is written to a temporary sibling and renamed into place
(``os.replace`` is atomic on POSIX), and JSONL appends flush one whole line at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(folder: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``folder``, on error it is deleted.

    The same idea as :func:`atomic_write_text`, for folders (a converted model, an adapter, a
    checkpoint): a reader sees the old folder or the new one, never a half-written mix.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        yield tmp
        old = folder.with_name(f".{folder.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)  # the only moment without `folder` is between these two renames
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def append_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """Append whole lines and flush them to disk, so an interrupted run keeps every finished row."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def jsonl_lines(path: str | Path) -> Iterator[tuple[str, Any, str | None]]:
    """``(where, record, error)`` for each non-blank line of a hand-written JSONL file.

    ``where`` is ``file:line`` for error messages; ``error`` is None, or says why the line is
    not valid JSON (then ``record`` is None). Validators collect every error before failing.
    """
    path = Path(path)
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            yield where, json.loads(line), None
        except json.JSONDecodeError as e:
            yield where, None, f"{where}: not valid JSON ({e.msg} at column {e.colno})"


def read_jsonl_tolerant(path: str | Path) -> Iterator[dict]:
    """Yield the complete rows of a JSONL file written by :func:`append_jsonl`.

    A run killed mid-write can leave a truncated last line; it is skipped (that row
    is recomputed), but a bad line in the middle of the file is an error.
    """
    path = Path(path)
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines):
                return
            raise ValueError(f"{path}:{i}: not valid JSON ({e.msg}); delete the file to start over") from e
