"""G-Eval with a local causal LM: exact next-token probabilities of the score tokens.

Where an API gives at most the top-20 log-probabilities of a sampled reply, a local model
gives the whole next-token distribution, so ``p(s)`` for s in 1..5 is exact and needs no
sampling (G-Eval, Liu et al. 2023, https://arxiv.org/abs/2303.16634, eq. 1). Each batch
is one forward pass over left-padded prompts (position ids follow the attention mask,
so padding does not shift positions and a prompt scores the same alone or batched).
A score's probability sums every single token that reads as that digit (``4``, ``Ġ4``,
``▁4``). Prompts go through the judge's chat template when it has one.
"""

from __future__ import annotations

from typing import Sequence

import torch

from evaluation.judges import JudgeConfigError, register_judge
from evaluation.judges.scoring import SCORES, Verdict, expected_score, score_token_value


def score_token_ids(tokenizer) -> dict[int, list[int]]:
    """Token ids that decode to each score 1..5 (e.g. ``"4"`` and ``" 4"``).

    Raises:
        JudgeConfigError: some score has no single token in this vocabulary.
    """
    ids: dict[int, set[int]] = {s: set() for s in SCORES}
    for s in SCORES:
        for text in (str(s), f" {s}"):
            enc = tokenizer.encode(text, add_special_tokens=False)
            if len(enc) == 1:
                ids[s].add(enc[0])
        for piece in (str(s), f"Ġ{s}", f"▁{s}"):
            tid = tokenizer.convert_tokens_to_ids(piece)
            if isinstance(tid, int) and tid != tokenizer.unk_token_id:
                ids[s].add(tid)
    out = {s: sorted(t for t in v if score_token_value(tokenizer.decode([t])) == s) for s, v in ids.items()}
    if missing := [s for s, v in out.items() if not v]:
        raise JudgeConfigError(f"the local judge's tokenizer has no single token for score(s) {missing}; "
                               "pick another judge.model")
    return out


@register_judge("local")
class LocalJudge:
    """A G-Eval judge on a loaded causal LM.

    Args:
        model: a causal LM in eval mode (``models.loading.load_model``).
        tokenizer: its tokenizer.
        model_id: what identifies the weights, for the cache (e.g. name + config hash).
        batch_size: prompts per forward pass. Default 8.
    """

    def __init__(self, model, tokenizer, *, model_id: str, batch_size: int = 8):
        if batch_size < 1:
            raise JudgeConfigError("judge.batch_size must be >= 1")
        self.model, self.tok, self.batch_size = model, tokenizer, batch_size
        self.id = f"local:{model_id}"
        self.score_ids = score_token_ids(tokenizer)
        self.chat = bool(getattr(tokenizer, "chat_template", None))

    def render(self, prompt: str) -> str:
        """The exact text the judge reads: the chat template's user turn + assistant header, or the raw prompt."""
        if not self.chat:
            return prompt
        return self.tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                            add_generation_prompt=True)

    @torch.inference_mode()
    def next_token_probs(self, prompts: Sequence[str]) -> torch.Tensor:
        """Softmax of the next token after each prompt, float32.

        Shapes:
            returns (len(prompts), vocab_size).
        """
        self.tok.padding_side = "left"
        device = next(self.model.parameters()).device
        out = []
        for start in range(0, len(prompts), self.batch_size):
            texts = [self.render(p) for p in prompts[start:start + self.batch_size]]
            enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=not self.chat).to(device)
            pos = (enc.attention_mask.cumsum(-1) - 1).clamp(min=0)  # (B, T): left padding does not shift positions
            logits = self.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, position_ids=pos,
                                logits_to_keep=1).logits[:, -1, :]  # (B, V)
            out.append(logits.float().softmax(-1).cpu())
        return torch.cat(out) if out else torch.empty(0, 0)

    def score(self, prompts: Sequence[str]) -> list[Verdict]:
        """One verdict per rendered G-Eval prompt, method ``next_token``."""
        if not prompts:
            return []
        probs = self.next_token_probs(prompts)  # (N, V)
        per_score = torch.stack([probs[:, ids].sum(-1) for ids in self.score_ids.values()], dim=-1)  # (N, 5)
        verdicts = []
        for row in per_score.tolist():
            v = expected_score(dict(zip(SCORES, row)))
            if v is None:
                verdicts.append(Verdict(score=None, method="failed", error="no probability on any score token"))
            else:
                v.method = "next_token"
                verdicts.append(v)
        return verdicts
