"""Write a whole folder atomically: build it beside its target, then swap it in.

A run can be killed at any moment; a reader (a resumed run, an evaluation) must see the old
folder or the new one, never a half-written mix. Files use ``kg.io``'s atomic writes; this is
the same idea for folders (an adapter, a checkpoint).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_folder(folder: str | Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``folder``, on error it is deleted."""
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
