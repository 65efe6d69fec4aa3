import pytest

from evaluation.metrics import bleu_nltk, corpus_sacrebleu, rouge_google, rouge_pkg, score_all, tokenize
from evaluation.stats import bootstrap_ci


def test_rouge_package_exact_values():
    s = rouge_pkg(["the cat sat on the mat"], ["the cat is on the mat"])
    assert s["rouge1"][0] == pytest.approx(0.8, abs=1e-6)
    assert s["rouge2"][0] == pytest.approx(0.6, abs=1e-6)
    assert s["rougeL"][0] == pytest.approx(0.8, abs=1e-6)


def test_rouge_package_guards_empty_and_very_long(caplog):
    s = rouge_pkg(["", "...", " ".join(f"w{i % 50}" for i in range(5000))],
                  ["a b", "a b", " ".join(f"w{i % 50}" for i in range(3000))])
    assert s["rouge1"][:2] == [0.0, 0.0]
    assert 0 < s["rougeL"][2] <= 1
    assert "Hypothesis is empty" in caplog.text and "cut for ROUGE" in caplog.text


def test_rouge_score_exact():
    s = rouge_google(["the cat sat on the mat"], ["the cat is on the mat"])
    assert s["rs_rouge1"][0] == pytest.approx(5 / 6)
    assert s["rs_rougeL"][0] == pytest.approx(5 / 6)


def test_bleu_identical_is_one_and_disjoint_is_near_zero():
    s = bleu_nltk(["a quick brown fox jumps"], ["a quick brown fox jumps"])
    assert all(s[k][0] == pytest.approx(1.0) for k in ("bleu1", "bleu2", "bleu3", "bleu4", "bleu"))
    s = bleu_nltk(["x y z w"], ["a b c d"])
    assert s["bleu1"][0] == 0.0


def test_bleu1_is_clipped_unigram_precision_with_brevity_penalty():
    # hyp has 4 tokens, 3 match the 4-token reference: precision 3/4, no brevity penalty.
    s = bleu_nltk(["the cat sat down"], ["the cat sat up"])
    assert s["bleu1"][0] == pytest.approx(0.75)


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("O(n log n), Fast!") == ["o", "(", "n", "log", "n", ")", ",", "fast", "!"]


def test_sacrebleu_reports_signature():
    out = corpus_sacrebleu(["the cat sat on the mat"], ["the cat sat on the mat"])
    assert out["score"] == pytest.approx(100.0) and out["signature"].startswith("nrefs:1")


def test_unknown_metric_lists_known_ones():
    with pytest.raises(KeyError, match="known: .*rouge"):
        score_all(["bluer"], ["a"], ["a"])


def test_bootstrap_ci_handles_missing_values():
    agg = bootstrap_ci([1.0, None, 3.0], n_resamples=200)
    assert agg["mean"] == 2.0 and agg["n"] == 2 and agg["missing"] == 1
    assert 1.0 <= agg["ci_low"] <= agg["ci_high"] <= 3.0
    assert bootstrap_ci([None, None])["mean"] is None
