"""SFT examples: exact label masks, supervised EOS even when pad == EOS, batching, packing."""

from types import SimpleNamespace

import pytest
import torch

from kg.corpus import load_corpus
from models.tiny import tiny_tokenizer
from studyllama.builders import build_prompts
from studyllama.config import load_group_option, register
from training.data import (IGNORE, SFTExample, build_examples, collate_packed, collate_padded, eos_token_id,
                           micro_batches, tokenize_example)

register()


@pytest.fixture
def tok_pad_is_eos():
    """The tiny tokenizer made to pad with EOS, as SmolLM2 does (<|im_end|> is both)."""
    tok = tiny_tokenizer()
    tok.pad_token = tok.eos_token
    assert tok.pad_token_id == tok.eos_token_id
    return tok


def ids(tok, text):
    return tok(text, add_special_tokens=False).input_ids


def test_label_mask_is_exact_and_eos_is_supervised(tok_pad_is_eos):
    tok = tok_pad_is_eos
    eos = tok.eos_token_id
    long = tokenize_example("a", "Q:xy\n", "abc", tok, eos_token_id=eos, add_special_tokens=False)
    short = tokenize_example("b", "Q:z\n", "d", tok, eos_token_id=eos, add_special_tokens=False)
    assert list(long.input_ids) == ids(tok, "Q:xy\n") + ids(tok, "abc") + [eos]
    assert long.prompt_len == 5
    batch = collate_padded([long, short], pad_token_id=tok.pad_token_id)
    assert batch["input_ids"].shape == (2, 9)
    assert batch["labels"].tolist() == [
        [IGNORE] * 5 + ids(tok, "abc") + [eos],
        [IGNORE] * 4 + ids(tok, "d") + [eos] + [IGNORE] * 3,  # padding (= EOS id) masked, the real EOS not
    ]
    assert batch["attention_mask"].tolist() == [[1] * 9, [1] * 6 + [0] * 3]
    assert batch["input_ids"][1, 6:].tolist() == [eos] * 3
    for row in batch["labels"].tolist():
        assert [t for t in row if t != IGNORE][-1] == eos


def test_examples_use_the_evaluation_prompt(qa_corpus, tiny):
    model, tok = tiny
    records = load_corpus(qa_corpus, splits=("train",))
    for variant in ("seed", "chat"):
        p = load_group_option("prompt", variant)
        prompts = build_prompts(records, p, tok)
        examples = build_examples(records, prompts, tok, add_special_tokens=p.format == "raw",
                                  eos_token_id=eos_token_id(tok, model), max_seq_len=512)
        e, r = examples[0], records[0]
        assert list(e.prompt_ids) == tok(prompts[0], add_special_tokens=p.format == "raw").input_ids
        assert tok.decode(e.input_ids[e.prompt_len:-1]) == r.answer
        assert e.input_ids[-1] == tok.eos_token_id
    assert prompts[0].startswith("<|im_start|>system\n") and prompts[0].endswith("<|im_start|>assistant\n")


def test_overlong_examples_are_dropped(qa_corpus, tiny):
    _, tok = tiny
    records = load_corpus(qa_corpus, splits=("train",))
    prompts = [r.question for r in records]
    kept = build_examples(records, prompts, tok, add_special_tokens=False, eos_token_id=2, max_seq_len=50)
    assert 0 < len(kept) < len(records) and all(len(e.input_ids) <= 50 for e in kept)


def test_eos_must_be_a_generation_stop(tiny):
    model, tok = tiny
    assert eos_token_id(tok, model) == tok.eos_token_id
    stops_elsewhere = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=[5]))
    with pytest.raises(ValueError, match="generation EOS"):
        eos_token_id(tok, stops_elsewhere)


@pytest.mark.parametrize("mode", ["grouped", "padded", "packed"])
def test_micro_batches_cover_every_example_once_and_reshuffle(mode):
    lengths = [10 + (i * 37) % 90 for i in range(40)]
    a = micro_batches(lengths, micro_batch_size=4, mode=mode, seed=0, epoch=0, group_window=5)
    assert sorted(i for b in a for i in b) == list(range(40)) and all(len(b) == 4 for b in a)
    assert a == micro_batches(lengths, micro_batch_size=4, mode=mode, seed=0, epoch=0, group_window=5)
    assert a != micro_batches(lengths, micro_batch_size=4, mode=mode, seed=0, epoch=1, group_window=5)


def test_grouping_cuts_padding():
    lengths = [10 + (i * 37) % 90 for i in range(200)]

    def padded(batches):
        return sum(max(lengths[i] for i in b) * len(b) for b in batches)

    grouped = padded(micro_batches(lengths, micro_batch_size=8, mode="grouped", seed=0, epoch=0, group_window=25))
    naive = padded(micro_batches(lengths, micro_batch_size=8, mode="padded", seed=0, epoch=0))
    assert grouped < 0.8 * naive and grouped >= sum(lengths)


def test_packed_rows_do_not_attend_across_examples(tiny):
    """Packed logits equal each example's own logits: transformers masks by restarting position ids."""
    model, _ = tiny
    exs = [SFTExample("a", (5, 6, 7, 8, 9), 2, ""), SFTExample("b", (10, 11, 12), 1, ""),
           SFTExample("c", (13, 14, 15, 16), 3, "")]
    packed = collate_packed(exs)
    assert packed["position_ids"].tolist() == [[0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3]]
    assert packed["labels"].tolist() == [[IGNORE, IGNORE, 7, 8, 9, IGNORE, 11, 12, IGNORE, IGNORE, IGNORE, 16]]
    with torch.no_grad():
        logits = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False).logits
        start = 0
        for e in exs:
            alone = model(input_ids=torch.tensor([e.input_ids]), use_cache=False).logits
            torch.testing.assert_close(logits[:, start:start + len(e.input_ids)], alone, atol=1e-5, rtol=1e-5)
            start += len(e.input_ids)
        # ... and the padded batch gives the same summed loss over the same supervised tokens
        pad = collate_padded(exs, pad_token_id=0)
        l_pad = model(**pad, use_cache=False, num_items_in_batch=1).loss
        l_pack = model(**packed, use_cache=False, num_items_in_batch=1).loss
    torch.testing.assert_close(l_pack, l_pad, atol=1e-4, rtol=1e-5)


@pytest.mark.slow
def test_smollm2_examples_end_with_a_supervised_im_end():
    """The real tokenizer pads with <|im_end|>, its EOS; the padded batch still supervises it."""
    from models.loading import load_model
    from studyllama import ROOT

    model, tok = load_model("embedded", device="cpu")
    assert tok.pad_token_id == tok.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    records = load_corpus(ROOT / "data" / "corpus", splits=("dev",))[:4]
    p = load_group_option("prompt", "chat")
    exs = build_examples(records, build_prompts(records, p, tok), tok, add_special_tokens=False,
                         eos_token_id=eos_token_id(tok, model), max_seq_len=2048)
    batch = collate_padded(exs, tok.pad_token_id)
    for row, e in zip(batch["labels"].tolist(), exs):
        supervised = [t for t in row if t != IGNORE]
        assert supervised[-1] == tok.eos_token_id and len(supervised) == len(e.input_ids) - e.prompt_len
