"""Generation benchmark: the test split answered with 256 new tokens each, against plain batched ``generate``.

Both sides produce exactly ``--new-tokens`` tokens per prompt (EOS suppressed), so they do
the same work. The baseline is plain ``model.generate`` with a dynamic KV cache at batch 32
(the issue's reference: ~950 tokens/s for SmolLM2 on an H200), timed on its first
``--baseline-prompts`` prompts. The fast path answers all prompts in large batches with a
static KV cache, with which transformers compiles the decoding step (CUDA graphs); the
first call on each shape compiles and is reported separately as warm-up.

    python bench/gen_bench.py                       # SmolLM2 + Llama-2-7B shape, on a GPU
    python bench/gen_bench.py --models smollm2 --smoke    # tiny random model on CPU (a test runs this)
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from evaluation.generation import generate
from kg.corpus import load_corpus
from models.loading import load_model
from prompting.templates import SEED_SYSTEM, build_prompt
from studyllama import ROOT


def llama7b_shape(device: str, vocab_size: int):
    """Llama-2-7B's shape with random bf16 weights (timing only). The vocabulary is the
    SmolLM2 tokenizer's (49,152 instead of 32,000: +2% parameters) so the same prompts run."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, vocab_size=vocab_size, max_position_embeddings=4096)
    with torch.device(device):
        torch.set_default_dtype(torch.bfloat16)
        model = LlamaForCausalLM(cfg).eval()
        torch.set_default_dtype(torch.float32)
    return model


def timed(fn) -> tuple[float, object]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t, out


def run(name, model, tok, prompts, args) -> dict:
    kw = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, stop_strings=[], progress=False)
    base = prompts[:args.baseline_prompts]
    t_base, _ = timed(lambda: generate(model, tok, base, batch_size=args.baseline_batch, **kw))
    base_tps = len(base) * args.new_tokens / t_base
    t_warm, _ = timed(lambda: generate(model, tok, prompts, batch_size=args.batch, cache_implementation="static", **kw))
    t_fast, gens = timed(lambda: generate(model, tok, prompts, batch_size=args.batch, cache_implementation="static", **kw))
    assert all(g.completion_tokens == args.new_tokens for g in gens)
    fast_tps = len(prompts) * args.new_tokens / t_fast
    t_eager, _ = timed(lambda: generate(model, tok, prompts, batch_size=args.batch, **kw))
    row = dict(model=name, prompts=len(prompts), new_tokens=args.new_tokens,
               baseline=dict(batch=args.baseline_batch, prompts=len(base), seconds=round(t_base, 2),
                             tokens_per_s=round(base_tps, 1)),
               big_batch_dynamic_cache=dict(batch=args.batch, seconds=round(t_eager, 2),
                                            tokens_per_s=round(len(prompts) * args.new_tokens / t_eager, 1)),
               static_compiled=dict(batch=args.batch, seconds=round(t_fast, 2), tokens_per_s=round(fast_tps, 1),
                                    first_call_with_compile_s=round(t_warm, 2)),
               speedup_vs_baseline=round(fast_tps / base_tps, 2))
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="smollm2,llama7b_shape")
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--batch", type=int, default=481)
    p.add_argument("--baseline-batch", type=int, default=32)
    p.add_argument("--baseline-prompts", type=int, default=64)
    p.add_argument("--smoke", action="store_true", help="tiny random model, 8 prompts, 8 tokens, CPU")
    p.add_argument("--out", default=None, help="also write the rows to this JSON file")
    args = p.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    questions = [r.question for r in load_corpus(ROOT / "data" / "corpus", splits=("test",))]
    if args.smoke:
        args.new_tokens, args.batch, args.baseline_batch, args.baseline_prompts = 8, 8, 4, 4
        questions = questions[:8]
    elif device == "cpu":
        raise SystemExit("bench/gen_bench.py needs a CUDA GPU (use --smoke for a CPU check)")
    rows = []
    smol, tok = load_model("tiny_random" if args.smoke else "embedded", device=device)
    prompts = [build_prompt(q, fmt="chat", system=SEED_SYSTEM, template="{question}", tokenizer=tok)
               for q in questions]
    if "smollm2" in args.models:
        rows.append(run("tiny_random" if args.smoke else "smollm2_135m", smol, tok, prompts, args))
    if "llama7b_shape" in args.models and not args.smoke:
        del smol
        torch.cuda.empty_cache()
        rows.append(run("llama2_7b_shape_bf16_random", llama7b_shape(device, len(tok)), tok, prompts, args))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
