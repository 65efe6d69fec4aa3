import pytest
import torch

from evaluation.generation import finish, generate
from models.loading import load_model


def ids(tok, text):
    return tok(text, add_special_tokens=False).input_ids


def test_finish_at_eos(tiny):
    _, tok = tiny
    eos, pad = tok.eos_token_id, tok.pad_token_id
    g = finish(ids(tok, "ok") + [eos, pad, pad], tok, {eos}, ["### Question:"], 10)
    assert (g.text, g.finish_reason, g.completion_tokens) == ("ok", "eos", 3)


def test_finish_at_stop_string_before_eos_padding(tiny):
    # SmolLM2 pads with its EOS token: a row halted by a stop string is followed by EOS ids.
    _, tok = tiny
    eos = tok.eos_token_id
    row = ids(tok, "A heap.\n\n### Question: next") + [eos, eos]
    g = finish(row, tok, {eos}, ["### Question:"], 40)
    assert (g.text, g.finish_reason) == ("A heap.", "stop")


def test_finish_at_length(tiny):
    _, tok = tiny
    row = ids(tok, "abcdef")
    g = finish(row, tok, {tok.eos_token_id}, ["###"], 6)
    assert (g.text, g.finish_reason, g.completion_tokens) == ("abcdef", "length", 6)


def rigged(tok, token: str):
    """A tiny Llama whose greedy output is always ``token``."""
    model, _ = load_model("tiny_random", device="cpu")
    head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    head.bias.data[tok.convert_tokens_to_ids(token)] = 10.0
    model.lm_head = head
    return model


def test_generate_stops_at_eos_and_stop_strings(tiny):
    _, tok = tiny
    out = generate(rigged(tok, "</s>"), tok, ["q1", "q22"], max_new_tokens=8, progress=False)
    assert [(g.text, g.finish_reason, g.completion_tokens) for g in out] == [("", "eos", 1), ("", "eos", 1)]
    out = generate(rigged(tok, "#"), tok, ["q"], max_new_tokens=8, stop_strings=["###"], progress=False)
    assert (out[0].text, out[0].finish_reason) == ("", "stop")
    out = generate(rigged(tok, "x"), tok, ["q"], max_new_tokens=5, stop_strings=[], progress=False)
    assert (out[0].text, out[0].finish_reason, out[0].completion_tokens) == ("xxxxx", "length", 5)


def test_batched_left_padded_equals_one_by_one_and_keeps_order(tiny):
    model, tok = tiny
    prompts = ["short", "a much longer prompt here", "mid length"]
    calls = []
    batched = generate(model, tok, prompts, batch_size=3, max_new_tokens=6, stop_strings=[], progress=False,
                       on_batch=lambda idx, gens: calls.append(list(idx)))
    single = [generate(model, tok, [p], batch_size=1, max_new_tokens=6, stop_strings=[], progress=False)[0]
              for p in prompts]
    assert [g.text for g in batched] == [g.text for g in single]
    assert calls == [[1, 2, 0]]  # longest first
    assert [g.prompt_tokens for g in batched] == [len(p) for p in prompts]


def test_repetition_penalty_reaches_decoding_and_the_answer_keys(tiny):
    """eval.repetition_penalty changes what greedy decoding picks, and the reuse key of every answer."""
    from omegaconf import OmegaConf

    from studyllama.config import EvalConfig
    from studyllama.recipes.evaluate import gen_params

    model, tok = tiny
    prompts = ["short", "a much longer prompt here", "mid length"]
    kw = dict(batch_size=3, max_new_tokens=24, stop_strings=[], progress=False)
    plain = [g.text for g in generate(model, tok, prompts, **kw)]
    assert plain == [g.text for g in generate(model, tok, prompts, repetition_penalty=1.0, **kw)]
    assert plain != [g.text for g in generate(model, tok, prompts, repetition_penalty=5.0, **kw)]
    ev = OmegaConf.structured(EvalConfig(name="x"))
    assert "repetition_penalty" not in gen_params(ev)  # earlier runs' answers keep their keys
    ev.repetition_penalty = 1.1
    assert gen_params(ev)["repetition_penalty"] == 1.1


def test_bad_budget_is_rejected(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="eval.batch_size and eval.max_new_tokens"):
        generate(model, tok, ["q"], batch_size=0, progress=False)


@pytest.mark.slow
def test_smollm2_answers_and_stops_at_eos():
    from prompting.templates import SEED_SYSTEM, build_prompt

    model, tok = load_model("embedded", device="cpu")
    p = build_prompt("What does CPU stand for? Answer in one short sentence.", fmt="chat", system=SEED_SYSTEM,
                     template="{question}", tokenizer=tok)
    g = generate(model, tok, [p], max_new_tokens=64, progress=False)[0]
    assert g.finish_reason == "eos" and 0 < g.completion_tokens < 64
    assert "cpu" in g.text.lower()
