"""Per-epoch dev-set metrics for checkpoint selection: loss, ROUGE-L of greedy answers, EOS rate.

LIMA picked checkpoints on a 50-example dev set because perplexity does not track answer
quality (https://arxiv.org/abs/2305.11206, section 3). Each epoch we therefore also generate
greedy answers within ``train.dev_max_new_tokens`` (the presets leave room for the longest
reference answers, or no answer could end at EOS) and score them with ROUGE-L F1 (Lin, 2004,
https://aclanthology.org/W04-1013/; Google's ``rouge_score`` with stemming, as the evaluation
suite's ``rs_rougeL``) and count how many end at EOS within the budget: the stop behaviour the
original work's fine-tuned model lacked. Training does not import ``evaluation/`` (data flows one
way), so this is a deliberately small generation loop.

Dev generation is most of an epoch's cost for a small model: every decoding step runs each LoRA
layer's two extra matmuls and kernel launches. A LoRA model on an unquantized base is therefore
answered by :class:`MergedCopy`, a plain copy of the model with the adapter merged into its
weights (the same function, one matmul per layer); on a GPU it can also use a static KV cache with
compiled decoding (``train.dev_cache_implementation=static``), compiled once per run because the
copy is refreshed in place each epoch.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext
from typing import Callable, ContextManager, Sequence

import torch

from training.data import SFTExample, collate_padded, supervised_tokens


@torch.no_grad()
def dev_loss(model, examples: Sequence[SFTExample], *, batch_size: int, pad_token_id: int, device,
             autocast, condition: Callable[[Sequence[str]], ContextManager] | None = None) -> float:
    """Mean cross-entropy per supervised token over ``examples`` (answer tokens and EOS).

    ``condition(ids)`` gives the context each batch runs in (see ``training.loop.fit``).
    """
    total, count = 0.0, 0
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    for s in range(0, len(order), batch_size):
        batch = collate_padded([examples[i] for i in order[s:s + batch_size]], pad_token_id)
        batch = {k: v.to(device) for k, v in batch.items()}
        scope = condition([examples[i].id for i in order[s:s + batch_size]]) if condition else nullcontext()
        with scope, autocast():
            out = model(**batch, use_cache=False, num_items_in_batch=1)  # loss = sum over tokens
        total += float(out.loss)
        count += supervised_tokens(batch)
    return total / max(count, 1)


@torch.no_grad()
def greedy_answers(model, tokenizer, prompts: Sequence[Sequence[int]], *, max_new_tokens: int, batch_size: int,
                   eos_token_id: int, pad_token_id: int, device, autocast, example_ids: Sequence[str] | None = None,
                   condition: Callable[[Sequence[str]], ContextManager] | None = None,
                   cache_implementation: str | None = None) -> list[tuple[str, bool]]:
    """Greedy answers to tokenized prompts, left-padded in length-sorted batches.

    ``condition``, given the prompts' ``example_ids``, gives the context each batch runs in.
    ``cache_implementation``: None (dynamic KV cache) or ``"static"`` (compiled decoding).

    Returns:
        ``(text, ended_at_eos)`` per prompt, in input order; ``text`` stops before EOS.
    """
    results: list[tuple[str, bool]] = [("", False)] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        width = max(len(prompts[i]) for i in idx)
        ids = torch.full((len(idx), width), pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for b, i in enumerate(idx):  # left padding: every prompt ends where generation starts
            ids[b, width - len(prompts[i]):] = torch.tensor(prompts[i])
            mask[b, width - len(prompts[i]):] = 1
        scope = condition([example_ids[i] for i in idx]) if condition else nullcontext()
        with scope, autocast():
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                 max_new_tokens=max_new_tokens, eos_token_id=eos_token_id, pad_token_id=pad_token_id,
                                 top_k=None, top_p=None, temperature=None, cache_implementation=cache_implementation)
        for b, i in enumerate(idx):
            new = out[b, width:].tolist()  # (T_new,)
            stop = new.index(eos_token_id) if eos_token_id in new else None
            text = tokenizer.decode(new[:stop], skip_special_tokens=True).strip()
            results[i] = (text, stop is not None)
    return results


def rouge_l(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Mean ROUGE-L F1 (``rouge_score``, Porter stemming)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs)]
    return sum(scores) / max(len(scores), 1)


class MergedCopy:
    """A plain (adapter-free) copy of a LoRA model with the adapter merged into its weights.

    ``refresh(peft_model)`` copies the current merged weights into the same module object, so a
    decoding step compiled for it (static cache) stays valid from epoch to epoch.
    """

    def __init__(self):
        self.model = None

    @staticmethod
    def applies(model) -> bool:
        """A LoRA ``PeftModel`` on an unquantized base (4-bit weights can't take a merge in place)."""
        peft_config = getattr(model, "active_peft_config", None)
        base = model.get_base_model() if peft_config is not None else None
        return (peft_config is not None and str(peft_config.peft_type).endswith("LORA")
                and not getattr(base, "is_quantized", False) and not getattr(base, "is_loaded_in_4bit", False))

    @torch.no_grad()
    def refresh(self, peft_model):
        merged = copy.deepcopy(peft_model).merge_and_unload()
        merged.eval()
        if self.model is None:
            self.model = merged
        else:
            self.model.load_state_dict(merged.state_dict())
            del merged
        return self.model


def dev_metrics(model, tokenizer, examples: Sequence[SFTExample], *, max_new_tokens: int, batch_size: int,
                eos_token_id: int, pad_token_id: int, device, autocast,
                condition: Callable[[Sequence[str]], ContextManager] | None = None,
                merged: MergedCopy | None = None, cache_implementation: str | None = None) -> dict:
    """``loss``, ``rougeL`` and ``eos_rate`` (share of answers that ended at EOS) on ``examples``.

    ``merged``: answer with this merged copy of ``model`` (a LoRA model; see :class:`MergedCopy`)
    instead of ``model`` itself. The loss is always computed on ``model``.
    """
    was_training = model.training
    model.eval()
    try:
        loss = dev_loss(model, examples, batch_size=batch_size, pad_token_id=pad_token_id, device=device,
                        autocast=autocast, condition=condition)
        answers = greedy_answers(merged.refresh(model) if merged is not None else model, tokenizer,
                                 [e.prompt_ids for e in examples], max_new_tokens=max_new_tokens,
                                 batch_size=batch_size, eos_token_id=eos_token_id, pad_token_id=pad_token_id,
                                 device=device, autocast=autocast, example_ids=[e.id for e in examples],
                                 condition=condition, cache_implementation=cache_implementation)
    finally:
        model.train(was_training)
    return dict(loss=loss, rougeL=rouge_l([a for a, _ in answers], [e.answer for e in examples]),
                eos_rate=sum(eos for _, eos in answers) / max(len(answers), 1))
