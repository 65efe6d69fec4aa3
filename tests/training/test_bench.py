"""bench/train_bench.py: its CPU smoke mode runs both loops and reports ratios; no CUDA fails fast."""

import importlib.util

import pytest
import torch

from studyllama import ROOT


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("train_bench", ROOT / "bench" / "train_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_mode_times_both_loops_and_reports_mfu(bench, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--smoke", "--case", "smollm2", "--peak-tflops", "1", "--out", str(out)]) == 0
    import json

    (r,) = json.loads(out.read_text())["results"]
    for loop in ("naive", "ours"):
        assert r[loop]["tokens"] > 0 and r[loop]["tokens_per_s"] > 0
        assert r[loop]["mfu"] == pytest.approx(4 * r["params"] * r[loop]["tokens_per_s"] / 1e12)
    assert r["speedup"] == pytest.approx(r["ours"]["tokens_per_s"] / r["naive"]["tokens_per_s"])
    assert "ratio  ours / naive" in capsys.readouterr().out


def test_without_cuda_it_says_so(bench, capsys):
    if torch.cuda.is_available():
        pytest.skip("CPU-only behaviour")
    assert bench.main([]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


def test_peak_lookup(bench):
    assert bench.peak_flops("NVIDIA H100 80GB HBM3", None) == pytest.approx(989.4e12)
    assert bench.peak_flops("NVIDIA H100 PCIe", None) == pytest.approx(756e12)
    assert bench.peak_flops("NVIDIA H200", None) == pytest.approx(989.4e12)
    assert bench.peak_flops("Some GPU", None) is None


def test_qlora_variants_without_cuda_say_so(capsys):
    if torch.cuda.is_available():
        pytest.skip("CPU-only behaviour")
    spec = importlib.util.spec_from_file_location("qlora_mfu", ROOT / "bench" / "qlora_mfu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--variants", "bf16"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    assert module.group_of("void kDequantizeBlockwise<__nv_bfloat16>") == "dequant 4-bit"
    assert module.group_of("nvjet_sm90_tst_256x128_64x4_1x2_h_bz_coopA_NNT") == "matmul"
