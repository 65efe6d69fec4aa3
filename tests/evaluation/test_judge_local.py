"""The local judge: exact next-token probabilities of the score tokens, batched with left padding."""

import pytest
import torch

from evaluation.judges import JudgeConfigError
from evaluation.judges.local import LocalJudge, score_token_ids

PROMPTS = ["Question: What is overfitting?\nAnswer: Fitting noise.\nScore:",
           "Q: Define a p-value.\nA: The probability, under the null hypothesis, of data at least as extreme.\nScore:",
           "Rate 1-5: ok"]


def test_score_tokens_of_the_tiny_tokenizer(tiny):
    _, tok = tiny
    ids = score_token_ids(tok)
    assert list(ids) == [1, 2, 3, 4, 5]
    assert {s: [tok.decode([i]) for i in v] for s, v in ids.items()} == {s: [str(s)] for s in range(1, 6)}


def test_tokenizer_without_score_tokens_is_a_clear_error(tiny):
    _, tok = tiny

    class NoDigits:
        unk_token_id = tok.unk_token_id

        def encode(self, text, add_special_tokens=False):
            return [tok.unk_token_id, tok.unk_token_id]

        def convert_tokens_to_ids(self, piece):
            return tok.unk_token_id

        def decode(self, ids):
            return "?"

    with pytest.raises(JudgeConfigError, match=r"no single token for score\(s\) \[1, 2, 3, 4, 5\]"):
        score_token_ids(NoDigits())


def _manual_score(model, tok, judge, prompt):
    """One unpadded forward pass on one prompt: the score by hand."""
    enc = tok(judge.render(prompt), return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        p = model(**enc).logits[0, -1].float().softmax(-1)
    ps = torch.tensor([p[tok.convert_tokens_to_ids(str(s))] for s in range(1, 6)])
    return float((ps / ps.sum() * torch.arange(1, 6)).sum()), float(ps.sum())


def test_score_is_the_probability_weighted_mean_and_padding_does_not_change_it(tiny):
    model, tok = tiny
    judge = LocalJudge(model, tok, model_id="tiny", batch_size=3)
    assert judge.id == "local:tiny" and judge.chat
    verdicts = judge.score(PROMPTS)  # one batch: prompts of different lengths, left-padded
    for prompt, v in zip(PROMPTS, verdicts):
        expected, mass = _manual_score(model, tok, judge, prompt)
        assert 1.0 <= v.score <= 5.0 and v.method == "next_token"
        assert v.score == pytest.approx(expected, abs=1e-5)
        assert v.mass == pytest.approx(mass, rel=1e-4) and 0 < v.mass < 1
        assert sum(v.probs.values()) == pytest.approx(1.0, abs=1e-9)
    one_by_one = LocalJudge(model, tok, model_id="tiny", batch_size=1).score(PROMPTS)
    assert [v.score for v in one_by_one] == pytest.approx([v.score for v in verdicts], abs=1e-5)


def test_render_uses_the_chat_template(tiny):
    model, tok = tiny
    text = LocalJudge(model, tok, model_id="tiny").render("Rate it")
    assert text == "<|im_start|>user\nRate it<|im_end|>\n<|im_start|>assistant\n"


def test_empty_input_and_bad_batch_size(tiny):
    model, tok = tiny
    assert LocalJudge(model, tok, model_id="tiny").score([]) == []
    with pytest.raises(JudgeConfigError, match="judge.batch_size"):
        LocalJudge(model, tok, model_id="tiny", batch_size=0)
