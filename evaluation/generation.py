"""Batched greedy generation that records why each answer ended.

Prompts are sorted by length (longest first, so an out-of-memory error shows in the
first batch, and each batch pads little), left-padded, and decoded greedily by
default. Generation stops at EOS and at stop strings; a new ``### Question:`` block is
the stop string that matters, since the original work's fine-tuned model kept
inventing them. Each answer records its finish reason: ``eos``, ``stop`` or ``length``.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Callable, ContextManager, Sequence

import torch
from tqdm.auto import tqdm

DEFAULT_STOP_STRINGS = ("### Question:",)


@dataclass
class Generation:
    text: str
    finish_reason: str  # "eos" | "stop" | "length"
    prompt_tokens: int
    completion_tokens: int

    def to_dict(self) -> dict:
        return asdict(self)


def finish(tokens: Sequence[int], tokenizer, eos_ids: set[int], stop_strings: Sequence[str],
           max_new_tokens: int) -> Generation:
    """Cut one generated token sequence at EOS or the earliest stop string.

    ``tokens`` are the new tokens only, including any padding after the sequence ended.
    Padding is often the EOS token itself (SmolLM2 pads with ``<|im_end|>``), so the
    text before the first EOS is searched for a stop string first: if one is there, the
    sequence was halted by it and the EOS ids after it are padding.
    """
    tokens = list(tokens)
    i_eos = next((i for i, t in enumerate(tokens) if t in eos_ids), None)
    body = tokens if i_eos is None else tokens[:i_eos]
    text = tokenizer.decode(body, skip_special_tokens=True)
    hits = [(text.find(s), s) for s in stop_strings if s and s in text]
    if hits:
        pos, _ = min(hits)
        return Generation(text[:pos].strip(), "stop", 0, len(body))
    if i_eos is not None:
        return Generation(text.strip(), "eos", 0, i_eos + 1)
    pad = tokenizer.pad_token_id
    n = len([t for t in tokens if t != pad]) if pad is not None else len(tokens)
    reason = "length" if n >= max_new_tokens else "eos"
    return Generation(text.strip(), reason, 0, n)


@torch.inference_mode()
def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    batch_size: int = 8,
    max_new_tokens: int = 256,
    stop_strings: Sequence[str] = DEFAULT_STOP_STRINGS,
    add_special_tokens: bool = False,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    progress: bool = True,
    on_batch: Callable[[list[int], list[Generation]], None] | None = None,
    condition: Callable[[list[int]], ContextManager] | None = None,
    cache_implementation: str | None = None,
    min_new_tokens: int = 0,
    repetition_penalty: float = 1.0,
) -> list[Generation]:
    """Answer ``prompts`` in length-sorted, left-padded batches.

    Args:
        add_special_tokens: let the tokenizer add BOS (raw prompts); chat templates
            already contain their special tokens. Default False.
        on_batch: called after each batch with the prompts' original indices and their
            generations, so a caller can write results as they come (resumable runs).
        condition: given a batch's prompt indices, the context its generation runs in
            (method=adapter_gnn: the adapter conditioned on those questions' subgraphs).
        cache_implementation: ``None`` (dynamic KV cache) or ``"static"``: a preallocated
            cache, with which transformers compiles the decoding step (CUDA graphs on GPU).
            Use one large batch with it: each new batch shape compiles again.
        min_new_tokens: force at least this many tokens (benchmarks: a fixed workload).
        repetition_penalty: > 1 lowers the logits of tokens already in the prompt or answer
            (transformers' ``repetition_penalty``, Keskar et al. 2019); 1.0 (default) is off.

    Returns:
        One :class:`Generation` per prompt, in the order of ``prompts``.
    """
    if batch_size < 1 or max_new_tokens < 1:
        raise ValueError("eval.batch_size and eval.max_new_tokens must be >= 1")
    tokenizer.padding_side = "left"
    lengths = [len(tokenizer(p, add_special_tokens=add_special_tokens).input_ids) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    eos = model.generation_config.eos_token_id if model.generation_config.eos_token_id is not None else tokenizer.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos])
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(eos_ids))
    results: list[Generation | None] = [None] * len(prompts)
    device = next(model.parameters()).device
    sampling = dict(do_sample=True, temperature=temperature, top_p=top_p) if do_sample else dict(do_sample=False)
    bar = tqdm(total=len(prompts), desc="generate", unit="q", disable=not progress)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                        add_special_tokens=add_special_tokens).to(device)
        with condition(idx) if condition else nullcontext():
            out = model.generate(
                **enc, max_new_tokens=max_new_tokens, eos_token_id=sorted(eos_ids), pad_token_id=pad_id,
                stop_strings=list(stop_strings) or None, tokenizer=tokenizer if stop_strings else None,
                top_k=None, cache_implementation=cache_implementation, min_new_tokens=min_new_tokens or None,
                repetition_penalty=repetition_penalty if repetition_penalty != 1.0 else None, **sampling,
            )
        new = out[:, enc.input_ids.shape[1]:].tolist()  # (B, T_new)
        batch = []
        for row, i in zip(new, idx):
            g = finish(row, tokenizer, eos_ids, stop_strings, max_new_tokens)
            g.prompt_tokens = lengths[i]
            results[i] = g
            batch.append(g)
        if on_batch is not None:
            on_batch(idx, batch)
        bar.update(len(idx))
    bar.close()
    return results  # type: ignore[return-value]
