"""Training throughput on one GPU: studyllama's loop against a naive Hugging Face + peft loop.

Two cases, each timed in the same run for both loops on the same model object:

- ``smollm2``: SmolLM2-135M-Instruct (the embedded GGUF, bf16) with the original work's LoRA
  (conf/method/lora.yaml) on the real train split, chat prompt (real variable-length data).
- ``llama7b``: a Llama-2-7B-shaped model with random weights (saved once to ``--cache-dir``) under
  QLoRA (4-bit NF4, double quantization, bf16 compute), fixed-length random tokens.

naive: HF + peft as a tutorial writes it: random-order micro-batches padded to the longest example
(``--naive-padding max_length``: to ``--max-len``), ``model(**batch).loss / accum`` backward, torch
AdamW, bf16 autocast; under QLoRA, peft's ``prepare_model_for_kbit_training`` (frozen weights in
fp32, gradient checkpointing). ours: ``training.loop.optimizer_step`` on ``training.data`` batches
(length-grouped or packed), per-token loss over the step, the configured optimizer, frozen weights
in bf16 (``method.fp32_frozen=false``) and fused LoRA layers (``train.fused_lora``) or, with
``--ours-compile``, compiled decoder layers instead (``train.compile``). The naive loop runs first; the
frozen weights are cast back to bf16 (lossless: they were bf16) before ours.

Reported per loop: tokens/s (non-padding tokens, timed after ``--warmup`` steps, CUDA-synchronized),
MFU = 4 x N x tokens/s / peak, with N all model parameters (4-bit ones counted unpacked) and peak
the GPU's dense bf16 rate (H100/H200 SXM 989 TFLOP/s; ``--peak-tflops`` to override): forward 2N and
backward 2N FLOPs per token, since frozen weights need no weight gradients (attention's
sequence-quadratic FLOPs are not counted). Peak memory is ``torch.cuda.max_memory_allocated``.

    python bench/train_bench.py                        # both cases, H100/H200, a few minutes
    python bench/train_bench.py --case smollm2 --ours-batching packed
    python bench/train_bench.py --smoke                # CPU, tiny random model: checks the script runs
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.data import SFTExample, collate, collate_padded, micro_batches  # noqa: E402

PEAK_BF16_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.4, "H200": 989.4, "A100": 312.0}  # dense, datasheets


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--case", choices=["smollm2", "llama7b", "all"], default="all")
    p.add_argument("--steps", type=int, default=20, help="timed optimizer steps per loop")
    p.add_argument("--warmup", type=int, default=3, help="untimed optimizer steps first")
    p.add_argument("--batch-size", type=int, default=16, help="examples per optimizer step (both loops)")
    p.add_argument("--naive-micro-batch", type=int, default=None,
                   help="naive: examples per forward pass (default: smollm2 16, llama7b 4 as in the issue's 4 x 512)")
    p.add_argument("--ours-micro-batch", type=int, default=None,
                   help="ours: examples per forward pass (default: smollm2 16, llama7b 8)")
    p.add_argument("--naive-padding", choices=["longest", "max_length"], default="longest")
    p.add_argument("--max-len", type=int, default=1024, help="max_length padding; longer examples dropped")
    p.add_argument("--ours-batching", choices=["grouped", "packed"], default="grouped")
    p.add_argument("--ours-checkpointing", action="store_true", help="ours: gradient checkpointing")
    p.add_argument("--ours-compile", action="store_true", help="ours: train.compile (compiled decoder layers)")
    p.add_argument("--ours-unfused", action="store_true", help="ours: train.fused_lora=false (peft's LoRA forward)")
    p.add_argument("--naive-checkpointing", action="store_true",
                   help="naive: gradient checkpointing (peft's prepare_model_for_kbit_training turns it on "
                        "for QLoRA by default, so llama7b's naive loop always uses it)")
    p.add_argument("--llama-seq-len", type=int, default=512)
    p.add_argument("--llama-examples", type=int, default=512)
    p.add_argument("--optimizer", choices=["adamw", "paged_adamw_32bit"], default="adamw", help="ours")
    p.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak; default from the GPU name")
    p.add_argument("--data-path", default=str(ROOT / "data" / "corpus"), help="corpus with a train split")
    p.add_argument("--cache-dir", default="/tmp/studyllama_bench", help="where the random 7B model is saved")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--smoke", action="store_true", help="CPU, tiny random model, 2 steps: the script runs")
    return p.parse_args(argv)


def peak_flops(name: str, override: float | None) -> float | None:
    if override:
        return override * 1e12
    for key in sorted(PEAK_BF16_TFLOPS, key=len, reverse=True):  # "H100 PCIe" before "H100"
        if all(word in name for word in key.split()):
            return PEAK_BF16_TFLOPS[key] * 1e12
    return None


def lora_model(model, *, quantized: bool, checkpointing: bool):
    from studyllama.builders import build_peft
    from studyllama.config import load_group_option

    method = load_group_option("method", "qlora" if quantized else "lora")
    return build_peft(model, method, gradient_checkpointing=checkpointing)


def cast_frozen(model, dtype: torch.dtype) -> None:
    """Cast the frozen floating-point weights (not the 4-bit ones) to ``dtype``, as peft's
    ``prepare_model_for_kbit_training`` does for fp32."""
    for p in model.parameters():
        if not p.requires_grad and p.is_floating_point() and p.__class__.__name__ != "Params4bit":
            p.data = p.data.to(dtype)


def set_checkpointing(model, on: bool) -> None:
    base = model.get_base_model()
    if on:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        base.gradient_checkpointing_disable()


def smollm2_case(args):
    """SmolLM2 + LoRA and the real train split as chat-prompt SFT examples."""
    from kg.corpus import load_corpus
    from models.loading import load_model
    from studyllama.builders import build_prompts
    from studyllama.config import load_group_option
    from training.data import build_examples, eos_token_id

    model, tok = load_model("tiny_random" if args.smoke else "embedded", device="cuda" if not args.smoke else "cpu")
    records = load_corpus(args.data_path, splits=("train",)) if not args.smoke else _smoke_records()
    if not records:
        sys.exit(f"{args.data_path}: no train records; draw the splits (python scripts/assign_splits.py <copy>) "
                 "and pass --data-path <copy>")
    prompt = load_group_option("prompt", "chat")
    examples = build_examples(records, build_prompts(records, prompt, tok), tok, add_special_tokens=False,
                              eos_token_id=eos_token_id(tok, model), max_seq_len=args.max_len)
    return lora_model(model, quantized=False, checkpointing=False), tok.pad_token_id, examples


def llama7b_case(args):
    """A random Llama-2-7B-shaped model loaded in 4-bit, and fixed-length random-token examples."""
    from models.loading import load_model

    if args.smoke:
        model, tok = load_model("tiny_random", device="cpu")
        vocab, seq = len(tok), 32
    else:
        model, tok = load_model("hf", str(random_llama7b(Path(args.cache_dir))), device="cuda", load_in_4bit=True)
        vocab, seq = model.config.vocab_size, args.llama_seq_len
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(3, vocab, (args.llama_examples if not args.smoke else 8, seq), generator=g)
    examples = [SFTExample(f"r{i}", tuple(row.tolist()), 1, "") for i, row in enumerate(tokens)]
    return lora_model(model, quantized=not args.smoke, checkpointing=True), tok.pad_token_id or 0, examples


def random_llama7b(folder: Path) -> Path:
    """Save a randomly initialised Llama-2-7B-shaped model (bf16 safetensors, ~13.5 GB) once."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from models.tiny import tiny_tokenizer

    if (folder / "config.json").is_file():
        return folder
    config = LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096)
    print(f"saving a random Llama-2-7B-shaped model to {folder} (once)", flush=True)
    with torch.device("cuda"):
        model = LlamaForCausalLM._from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder, safe_serialization=True)
    tiny_tokenizer().save_pretrained(folder)  # load_model wants a tokenizer; random tokens need none
    del model
    torch.cuda.empty_cache()
    return folder


def _smoke_records():
    from kg.corpus import QARecord

    return [QARecord(f"s{i}", "cs", f"What is thing {i}?", "Thing " + "x" * (5 + 7 * i), "train") for i in range(8)]


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(step_fn, steps: int, warmup: int, device) -> dict:
    """Run ``step_fn(i) -> real tokens`` for warmup + steps optimizer steps; time the last ``steps``."""
    for i in range(warmup):
        step_fn(i)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    t0, tokens = time.perf_counter(), 0
    for i in range(warmup, warmup + steps):
        tokens += step_fn(i)
    _sync(device)
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    return dict(tokens=tokens, seconds=seconds, tokens_per_s=tokens / seconds, peak_mem_gib=peak)


def naive_loop(model, examples, pad_id: int, args, *, checkpointing: bool, quantized: bool) -> dict:
    """HF + peft as commonly written: random padded micro-batches, mean loss / accum, AdamW."""
    set_checkpointing(model, checkpointing)
    if quantized:
        cast_frozen(model, torch.float32)
    device = next(model.parameters()).device
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    accum = args.batch_size // args.naive_micro_batch
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(0)).tolist()
    cuda = device.type == "cuda"

    def step(i: int) -> int:
        real = 0
        for a in range(accum):
            start = ((i * accum + a) * args.naive_micro_batch) % len(order)
            exs = [examples[order[(start + j) % len(order)]] for j in range(args.naive_micro_batch)]
            batch = collate_padded(exs, pad_id)
            if args.naive_padding == "max_length":
                batch = _pad_to(batch, args.max_len, pad_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
                loss = model(**batch).loss / accum
            loss.backward()
            real += int(batch["attention_mask"].sum())
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return real

    try:
        return timed(step, args.steps, args.warmup, device)
    finally:
        opt.state.clear()  # free the optimizer state before the next loop
        if quantized:
            cast_frozen(model, torch.bfloat16)
        torch.cuda.empty_cache() if cuda else None


def _pad_to(batch: dict, width: int, pad_id: int) -> dict:
    extra = width - batch["input_ids"].shape[1]
    pad = torch.nn.functional.pad
    return dict(input_ids=pad(batch["input_ids"], (0, extra), value=pad_id),
                attention_mask=pad(batch["attention_mask"], (0, extra), value=0),
                labels=pad(batch["labels"], (0, extra), value=-100))


def ours_loop(model, examples, pad_id: int, args, *, checkpointing: bool) -> dict:
    """``training.loop.optimizer_step`` on grouped or packed micro-batches."""
    from training.compile import speed_up
    from training.loop import accumulation_steps, make_accelerator, optimizer_step
    from training.optim import build_optimizer, build_scheduler

    set_checkpointing(model, checkpointing)
    speed_up(model, compile=args.ours_compile, fused_lora=not args.ours_unfused)  # as studyllama.recipes.train
    acc = make_accelerator("auto")
    opt = build_optimizer(model.parameters(), name=args.optimizer, lr=2e-4)
    sched = build_scheduler(opt, schedule="constant", total_steps=args.steps + args.warmup)
    accum = accumulation_steps(args.batch_size, args.ours_micro_batch, 1)
    lengths = [len(e.input_ids) for e in examples]
    order: list[list[int]] = []
    for epoch in range(math.ceil((args.steps + args.warmup) * args.batch_size / len(examples)) + 1):
        order += micro_batches(lengths, micro_batch_size=args.ours_micro_batch, mode=args.ours_batching, seed=0,
                               epoch=epoch)

    def step(i: int) -> int:
        batches = [collate([examples[j] for j in mb], args.ours_batching, pad_id)
                   for mb in order[i * accum:(i + 1) * accum]]
        return optimizer_step(model, opt, sched, batches, acc, max_grad_norm=1.0)["tokens"]

    try:
        return timed(step, args.steps, args.warmup, acc.device)
    finally:
        opt.state.clear()  # free the optimizer state before the next loop
        torch.cuda.empty_cache() if acc.device.type == "cuda" else None


MICRO_BATCH = {"smollm2": (16, 16), "llama7b": (4, 8)}  # (naive, ours) defaults


def run_case(name: str, args, peak: float | None) -> dict:
    from training.peft_setup import parameter_report

    args = argparse.Namespace(**vars(args))
    args.naive_micro_batch = args.naive_micro_batch or MICRO_BATCH[name][0]
    args.ours_micro_batch = args.ours_micro_batch or MICRO_BATCH[name][1]
    model, pad_id, examples = (smollm2_case if name == "smollm2" else llama7b_case)(args)
    model.train()
    n_params = parameter_report(model)["total"]
    naive_ckpt = args.naive_checkpointing or (name == "llama7b" and not args.smoke)
    results = dict(case=name, params=n_params, examples=len(examples),
                   naive=naive_loop(model, examples, pad_id, args, checkpointing=naive_ckpt,
                                    quantized=name == "llama7b" and not args.smoke),
                   ours=ours_loop(model, examples, pad_id, args, checkpointing=args.ours_checkpointing))
    for loop in ("naive", "ours"):
        r = results[loop]
        r["mfu"] = 4 * n_params * r["tokens_per_s"] / peak if peak else None
    results["speedup"] = results["ours"]["tokens_per_s"] / results["naive"]["tokens_per_s"]
    results["settings"] = dict(naive=dict(micro_batch=args.naive_micro_batch, padding=args.naive_padding,
                                          checkpointing=naive_ckpt),
                               ours=dict(micro_batch=args.ours_micro_batch, batching=args.ours_batching,
                                         checkpointing=args.ours_checkpointing, optimizer=args.optimizer,
                                         fused_lora=not (args.ours_unfused or args.ours_compile),
                                         compile=args.ours_compile),
                               batch_size=args.batch_size, steps=args.steps, warmup=args.warmup)
    del model
    return results


def fmt(r: dict) -> str:
    mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
    mem = f"{r['peak_mem_gib']:.1f} GiB" if r["peak_mem_gib"] is not None else "n/a"
    return f"{r['tokens_per_s']:>12,.0f} tok/s  MFU {mfu:>6}  peak mem {mem}"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.smoke:
        args.steps, args.warmup, args.batch_size = min(args.steps, 2), min(args.warmup, 1), 4
        args.naive_micro_batch, args.ours_micro_batch, args.llama_examples = 2, 2, 8
    elif not torch.cuda.is_available():
        print("train_bench: needs a CUDA GPU (H100/H200); use --smoke for a CPU check of the script", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name() if torch.cuda.is_available() and not args.smoke else "cpu"
    peak = peak_flops(name, args.peak_tflops)
    if peak is None and not args.smoke:
        print(f"train_bench: unknown peak for '{name}'; MFU needs --peak-tflops", file=sys.stderr)
    cases = ["smollm2", "llama7b"] if args.case == "all" else [args.case]
    results = [run_case(c, args, peak) for c in cases]
    print(f"\n{name}; MFU = 4 x params x tokens/s / {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s (dense bf16)")
    for r in results:
        print(f"\n{r['case']} ({r['params'] / 1e6:,.1f}M params, {r['examples']} examples, "
              f"batch {args.batch_size}, {args.steps} timed steps)")
        print(f"  naive  {fmt(r['naive'])}   [{r['settings']['naive']}]")
        print(f"  ours   {fmt(r['ours'])}   [{r['settings']['ours']}]")
        print(f"  ratio  ours / naive = {r['speedup']:.2f}x")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(dict(device=name, peak_flops=peak, results=results), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
