"""Parallel jobs on a multi-GPU host each claim their own GPU (studyllama.builders.claim_gpu)."""

import os
import subprocess
import sys

CLAIM = """
import sys, time, torch
torch.cuda.device_count = lambda: 2
torch.cuda.set_device = lambda i: None
from studyllama.builders import claim_gpu
print(claim_gpu(), claim_gpu(), flush=True)  # the second call returns the GPU already held
sys.stdin.readline()  # hold the claim until the test says go
"""


def test_processes_claim_different_gpus_and_release_them_on_exit(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the lock folder lives in the temp dir
    start = lambda: subprocess.Popen([sys.executable, "-c", CLAIM], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
    a = start()
    first = a.stdout.readline().split()
    b = start()
    second = b.stdout.readline().split()
    assert first[0] == first[1] and second[0] == second[1] and {first[0], second[0]} == {"0", "1"}
    c = start()  # both GPUs held once: the third process doubles up on GPU 0
    assert c.stdout.readline().split()[0] == "0"
    for p in (a, b, c):
        p.communicate("\n", timeout=30)
    d = start()  # every claim released at exit
    assert d.stdout.readline().split()[0] == "0"
    d.communicate("\n", timeout=30)
