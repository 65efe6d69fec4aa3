"""Where a QLoRA step's time goes on the Llama-2-7B shape: variants timed and profiled, one process each.

Each variant loads the random 7B-shaped model of ``bench/train_bench.py`` in 4-bit (NF4, double
quantization, bf16 compute), attaches conf/method/qlora.yaml's LoRA (r=32 on every projection and
lm_head), and times ``--steps`` optimizer steps of ``--batch`` x ``--seq`` random tokens through
``training.loop.optimizer_step`` after ``--warmup`` steps. Variants (comma-separated, combinable
with ``+``):

- ``fp32``: frozen bf16 weights cast to fp32 (peft's ``prepare_model_for_kbit_training``);
  without it they stay bf16 (``method.fp32_frozen=false``).
- ``fused``: ``training.fused_lora.fuse_lora`` (one autograd function per LoRA layer).
- ``compile``: ``training.compile.compile_layers`` (``torch.compile`` on each decoder layer).
- ``nodrop``: LoRA dropout 0 (a diagnostic: what the dropout masks cost).
- ``ckpt``: gradient checkpointing.

``--profile`` adds a torch.profiler pass over 2 steps and prints the kernels by GPU time, grouped
(matmul, 4-bit dequantization, attention, element-wise, ...).

    python bench/qlora_mfu.py --variants fp32,bf16,bf16+fused,bf16+fused+compile --cache-dir /dev/shm/l7
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

KERNEL_GROUPS = [  # first match wins; names of CUDA kernels as the profiler reports them
    ("dequant 4-bit", ("dequantize", "kDequantize")),
    ("attention", ("flash", "fmha", "attention", "sdpa")),
    ("matmul", ("gemm", "sm90_xmma", "cutlass", "nvjet", "cublas", "wgmma", "matmul")),
    ("cross-entropy", ("log_softmax", "nll_loss", "softmax")),
    ("dropout", ("fused_dropout", "dropout", "bernoulli")),
    ("reduce", ("reduce_kernel", "reduce")),
    ("copy / cast", ("copy", "cast", "to_copy")),
    ("element-wise", ("elementwise", "vectorized", "unrolled", "triton_", "fused_")),
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default="fp32,bf16,bf16+fused")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--variant-timeout", type=float, default=300, help="seconds per variant's process")
    p.add_argument("--cache-dir", default="/dev/shm/l7")
    p.add_argument("--out", default=None, help="JSON of all variants")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one variant here
    return p.parse_args(argv)


def group_of(name: str) -> str:
    low = name.lower()
    for group, keys in KERNEL_GROUPS:
        if any(k.lower() in low for k in keys):
            return group
    return "other"


def profile_steps(step, n: int = 2) -> dict:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        for _ in range(n):
            step()
        torch.cuda.synchronize()
    rows, groups = [], {}
    for e in prof.key_averages():
        t = getattr(e, "self_device_time_total", 0) or getattr(e, "self_cuda_time_total", 0)
        if t <= 0 or e.key.startswith(("aten::", "autograd::", "ProfilerStep", "cuda", "Optimizer")):
            continue
        rows.append((t / n / 1e3, e.count // n, e.key[:110]))
        groups[group_of(e.key)] = groups.get(group_of(e.key), 0.0) + t / n / 1e3
    rows.sort(reverse=True)
    return dict(top=rows[:30], groups=dict(sorted(groups.items(), key=lambda kv: -kv[1])),
                kernel_ms=sum(groups.values()))


def run_one(variant: str, args) -> dict:
    from models.loading import load_model
    from studyllama.config import load_group_option
    from train_bench import random_llama7b
    from training.data import SFTExample, collate, micro_batches
    from training.loop import make_accelerator, optimizer_step
    from training.optim import build_optimizer, build_scheduler
    from training.peft_setup import apply_peft, parameter_report

    parts = set(variant.split("+"))
    t0 = time.perf_counter()
    model, tok = load_model("hf", str(random_llama7b(Path(args.cache_dir))), device="cuda", load_in_4bit=True)
    load_s = time.perf_counter() - t0
    method = load_group_option("method", "qlora")
    model = apply_peft(model, peft="lora", r=method.r, lora_alpha=method.lora_alpha,
                       lora_dropout=0.0 if "nodrop" in parts else method.lora_dropout,
                       target_modules=list(method.target_modules), quantized=True, fp32_frozen="fp32" in parts,
                       gradient_checkpointing="ckpt" in parts)
    fused = 0
    if "fused" in parts:
        from training.fused_lora import fuse_lora
        fused = fuse_lora(model)
    if "compile" in parts:
        from training.compile import compile_layers
        compile_layers(model)
    n_params = parameter_report(model)["total"]
    acc = make_accelerator("auto")
    opt = build_optimizer(model.parameters(), name="adamw", lr=2e-4)
    sched = build_scheduler(opt, schedule="constant", total_steps=1000)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(3, model.config.vocab_size, (args.batch * 4, args.seq), generator=g)
    examples = [SFTExample(f"r{i}", tuple(row.tolist()), 1, "") for i, row in enumerate(tokens)]
    order = micro_batches([args.seq] * len(examples), micro_batch_size=args.batch, mode="grouped", seed=0, epoch=0)
    batches = [collate([examples[j] for j in mb], "grouped", 0) for mb in order]
    i = [0]

    def step():
        out = optimizer_step(model, opt, sched, [batches[i[0] % len(batches)]], acc, max_grad_norm=1.0)
        i[0] += 1
        return out

    t0 = time.perf_counter()
    first = step()
    torch.cuda.synchronize()
    first_s = time.perf_counter() - t0
    for _ in range(args.warmup - 1):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    losses = [step()["loss"] for _ in range(args.steps)]
    torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    tps = args.steps * args.batch * args.seq / secs
    res = dict(variant=variant, tokens_per_s=tps, mfu=4 * n_params * tps / 989.4e12, step_s=secs / args.steps,
               peak_gib=torch.cuda.max_memory_allocated() / 2**30, load_s=load_s, first_step_s=first_s,
               first_loss=first["loss"], last_loss=losses[-1], fused_layers=fused, params=n_params)
    if args.profile:
        res["profile"] = profile_steps(step)
    return res


def main(argv=None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print("qlora_mfu: needs a CUDA GPU (bitsandbytes 4-bit); see bench/train_bench.py --smoke for a CPU check",
              file=sys.stderr)
        return 2
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one, args)), flush=True)
        return 0
    results = []
    for v in args.variants.split(","):
        cmd = [sys.executable, __file__, "--one", v] + [a for a in (argv or sys.argv[1:])]
        print(f"=== {v}", flush=True)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.variant_timeout)
        except subprocess.TimeoutExpired:
            proc = subprocess.CompletedProcess(cmd, -9, "", f"timed out after {args.variant_timeout} s")
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not line:
            print(f"{v}: failed (rc {proc.returncode}, {time.perf_counter() - t0:.0f} s)\n{proc.stderr[-3000:]}")
            results.append(dict(variant=v, error=proc.stderr[-3000:]))
            continue
        r = json.loads(line[-1][7:])
        results.append(r)
        print(f"{v}: {r['tokens_per_s']:,.0f} tok/s, MFU {100 * r['mfu']:.1f}%, step {r['step_s']:.3f} s, "
              f"peak {r['peak_gib']:.1f} GiB, load {r['load_s']:.0f} s, first step {r['first_step_s']:.1f} s, "
              f"loss {r['first_loss']:.3f} -> {r['last_loss']:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        if "profile" in r:
            pr = r["profile"]
            print(f"  GPU kernel time per step {pr['kernel_ms']:.0f} ms: " +
                  ", ".join(f"{k} {v:.0f}" for k, v in pr["groups"].items()))
            for ms, count, name in pr["top"][:14]:
                print(f"    {ms:8.1f} ms {count:5d}x  {name}")
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print("\nvariant                         tok/s     MFU   step s   peak GiB")
    for r in results:
        if "error" in r:
            print(f"{r['variant']:<28} failed")
        else:
            print(f"{r['variant']:<28} {r['tokens_per_s']:>8,.0f} {100 * r['mfu']:6.1f}% {r['step_s']:8.3f} "
                  f"{r['peak_gib']:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
