import json
import subprocess
import sys

import pytest

from studyllama import ROOT


@pytest.mark.slow
def test_gen_bench_smoke(tmp_path):
    out = tmp_path / "rows.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gen_bench.py"), "--smoke", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    row = json.loads(out.read_text())[0]
    assert row["prompts"] == 8 and row["baseline"]["tokens_per_s"] > 0 and row["speedup_vs_baseline"] > 0
