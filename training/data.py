"""Supervised fine-tuning examples and their batches: prompt, answer, EOS; loss on the answer only.

Each example is the prompt exactly as evaluation renders it (``studyllama.builders.build_prompts``),
tokenized as ``evaluation.generation`` tokenizes it (special tokens added for raw prompts only),
then the reference answer, then EOS. The original work's fine-tuned model never learned to stop
and kept writing new "### Question:" blocks; supervising EOS is the fix.

Labels are -100 on the prompt and on padding and are built from lengths, never from pad ids:
SmolLM2 pads with ``<|im_end|>``, which is also its EOS, so a mask built from
``input_ids != pad_token_id`` would hide exactly the token that teaches the model to stop.

Three ways to batch (``train.batching``):

- ``padded``: random micro-batches padded to their longest example (the naive baseline).
- ``grouped``: shuffled, then sorted by length inside windows of ``group_window`` micro-batches
  (the idea of transformers' ``LengthGroupedSampler``), so a micro-batch pads little.
- ``packed``: a micro-batch's examples concatenated into one row with no padding. Position ids
  restart at 0 for each example; transformers (5.x, ``masking_utils.find_packed_sequence_indices``)
  turns restarting position ids into a block-diagonal causal mask when no attention mask and no
  cache are passed, so no example attends to another
  (https://huggingface.co/docs/transformers/en/padding_free). ``tests/training/test_data.py``
  checks that packed logits equal per-example logits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch

log = logging.getLogger(__name__)

IGNORE = -100  # label value that cross-entropy skips
BATCHING = ("grouped", "packed", "padded")


@dataclass(frozen=True)
class SFTExample:
    """One tokenized training example: ``input_ids = prompt + answer + [EOS]``."""

    id: str
    input_ids: tuple[int, ...]
    prompt_len: int
    answer: str  # the reference text, for the dev generation metric

    def labels(self) -> list[int]:
        """-100 on the prompt, the token ids on answer + EOS (same length as ``input_ids``)."""
        return [IGNORE] * self.prompt_len + list(self.input_ids[self.prompt_len:])

    @property
    def prompt_ids(self) -> tuple[int, ...]:
        return self.input_ids[:self.prompt_len]


def eos_token_id(tokenizer, model) -> int:
    """The EOS appended to every answer: the tokenizer's, which generation must also stop at."""
    eos = tokenizer.eos_token_id
    gen = model.generation_config.eos_token_id
    stops = set(gen if isinstance(gen, list) else [gen]) if gen is not None else {eos}
    if eos is None or eos not in stops:
        raise ValueError(
            f"tokenizer EOS {eos!r} is not among the model's generation EOS ids {sorted(stops)}: a trained "
            "model would learn to emit a token generation does not stop at; fix the model's generation_config")
    return eos


def tokenize_example(id: str, prompt: str, answer: str, tokenizer, *, eos_token_id: int,
                     add_special_tokens: bool) -> SFTExample:
    """Tokenize prompt and answer separately, as they are seen at inference (prompt, then generated answer)."""
    prompt_ids = tokenizer(prompt, add_special_tokens=add_special_tokens).input_ids
    answer_ids = tokenizer(answer, add_special_tokens=False).input_ids
    return SFTExample(id, tuple(prompt_ids + answer_ids + [eos_token_id]), len(prompt_ids), answer)


def build_examples(records, prompts: Sequence[str], tokenizer, *, add_special_tokens: bool, eos_token_id: int,
                   max_seq_len: int) -> list[SFTExample]:
    """Tokenize ``records`` (``kg.corpus.QARecord``) with their prompts into SFT examples.

    Args:
        prompts: one rendered prompt per record, from the function evaluation uses
            (``studyllama.builders.build_prompts``), so training sees exactly the evaluation prompt.
        add_special_tokens: as evaluation tokenizes the prompt (True for raw prompts, which get
            the tokenizer's BOS; chat templates carry their own special tokens).
        eos_token_id: appended to every answer and supervised.
        max_seq_len: examples longer than this are dropped (truncating would teach stopping
            mid-answer, or not stopping at all); the count is logged.
    """
    examples = [tokenize_example(r.id, p, r.answer, tokenizer, eos_token_id=eos_token_id,
                                 add_special_tokens=add_special_tokens) for r, p in zip(records, prompts, strict=True)]
    kept = [e for e in examples if len(e.input_ids) <= max_seq_len]
    if len(kept) < len(examples):
        log.warning("data: dropped %d of %d examples longer than train.max_seq_len=%d tokens",
                    len(examples) - len(kept), len(examples), max_seq_len)
    if not kept:
        raise ValueError(f"every example is longer than train.max_seq_len={max_seq_len}; raise it")
    return kept


def micro_batches(lengths: Sequence[int], *, micro_batch_size: int, mode: str, seed: int, epoch: int,
                  group_window: int = 50) -> list[list[int]]:
    """Split example indices into micro-batches for one epoch, deterministically from ``(seed, epoch)``.

    Args:
        lengths: token count of each example.
        mode: ``grouped`` (length-sorted within windows, then the micro-batches shuffled),
            ``padded`` or ``packed`` (random micro-batches).
        group_window: micro-batches per sorting window (``grouped`` only). Default 50.

    Returns:
        Lists of example indices; every index appears once; the last micro-batch may be smaller.
    """
    if mode not in BATCHING:
        raise ValueError(f"train.batching={mode!r}: use one of {list(BATCHING)}")
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(lengths), generator=g).tolist()
    if mode == "grouped":
        window = micro_batch_size * group_window
        order = [i for s in range(0, len(order), window)
                 for i in sorted(order[s:s + window], key=lambda i: -lengths[i])]
    batches = [order[s:s + micro_batch_size] for s in range(0, len(order), micro_batch_size)]
    if mode == "grouped":  # sorted batches would otherwise come longest-first in every window
        batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
    return batches


def collate_padded(examples: Sequence[SFTExample], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest example.

    Shapes:
        input_ids, attention_mask, labels: (B, T), T = the longest example.
    """
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for b, e in enumerate(examples):
        n = len(e.input_ids)
        ids[b, :n] = torch.tensor(e.input_ids)
        mask[b, :n] = 1
        labels[b, :n] = torch.tensor(e.labels())  # from lengths: a pad id equal to EOS stays supervised
    return dict(input_ids=ids, attention_mask=mask, labels=labels)


def collate_packed(examples: Sequence[SFTExample]) -> dict[str, torch.Tensor]:
    """Concatenate into one row; position ids restart per example, so attention stays within each.

    Every example starts with a prompt token labelled -100, so the shifted loss never asks
    one example's last token to predict the next example's first.

    Shapes:
        input_ids, position_ids, labels: (1, N), N = the summed lengths.
    """
    ids = [t for e in examples for t in e.input_ids]
    pos = [p for e in examples for p in range(len(e.input_ids))]
    labels = [t for e in examples for t in e.labels()]
    return dict(input_ids=torch.tensor([ids]), position_ids=torch.tensor([pos]), labels=torch.tensor([labels]))


def collate(examples: Sequence[SFTExample], mode: str, pad_token_id: int) -> dict[str, torch.Tensor]:
    return collate_packed(examples) if mode == "packed" else collate_padded(examples, pad_token_id)


def supervised_tokens(batch: Mapping[str, torch.Tensor]) -> int:
    """Tokens the loss is taken over (labels other than -100)."""
    return int((batch["labels"] != IGNORE).sum())
