"""Draw the corpus's fixed splits once (see kg/splits.py). Usage: python scripts/assign_splits.py data/corpus"""

import json
import sys
from collections import Counter
from pathlib import Path

from kg.io import atomic_write_jsonl
from kg.splits import assign_splits


def main(folder: str) -> None:
    files = sorted(Path(folder).rglob("*.jsonl"))
    per_file = {f: [json.loads(line) for line in f.read_text().splitlines() if line.strip()] for f in files}
    assign_splits([r for rows in per_file.values() for r in rows])
    for f, rows in per_file.items():
        atomic_write_jsonl(f, rows)
    print(Counter(r["split"] for rows in per_file.values() for r in rows))


if __name__ == "__main__":
    main(sys.argv[1])
