"""Data parallel through accelerate: two CPU processes (gloo) take the same steps as one process
accumulating the same micro-batches, and end with identical adapters.

On CPU, `accelerate launch --cpu` starts one process (several need MPI), so the two processes are
started by torchrun, which `accelerate launch --multi_gpu` also uses on GPUs; the Accelerator
inside sees the same torch.distributed environment either way (MULTI_CPU with gloo here).
"""

import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from studyllama import ROOT
from tests.conftest import qa, write_corpus
from tests.training.conftest import SUBPROCESS_ENV

WORKER = str(ROOT / "tests" / "training" / "ddp_worker.py")


@pytest.mark.slow
def test_two_processes_agree_with_each_other_and_with_one(tmp_path):
    rows = [qa(i, ("cs", "stats", "ai")[i % 3], "train", answer="An answer" + " word" * i) for i in range(8)]
    rows += [qa(8, "cs", "dev"), qa(9, "ai", "dev")]
    corpus = write_corpus(tmp_path / "c.jsonl", rows)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    ddp = subprocess.run([*launcher, WORKER, str(corpus), str(tmp_path / "ddp"), "2"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, env=SUBPROCESS_ENV)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    # one process, micro-batch 2 accumulated twice: the micro-batches the two ranks took together
    one = subprocess.run([sys.executable, WORKER, str(corpus), str(tmp_path / "one"), "2"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, env=SUBPROCESS_ENV)
    assert one.returncode == 0, one.stderr[-3000:]

    r0, r1 = (load_file(tmp_path / "ddp" / f"rank{r}.safetensors") for r in (0, 1))
    single = load_file(tmp_path / "one" / "rank0.safetensors")
    with safe_open(tmp_path / "ddp" / "rank0.safetensors", "pt") as f:
        assert f.metadata()["steps"] == "4"
    assert set(r0) == set(r1) == set(single)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k  # DDP keeps the replicas identical
        torch.testing.assert_close(r0[k], single[k], atol=1e-5, rtol=1e-4)
    assert (tmp_path / "ddp" / "best" / "adapter_model.safetensors").is_file()
