"""METEOR (with offline WordNet), embedding similarity and BERTScore on hand-made strings."""

import logging

import pytest

from evaluation.bertscore import bertscore
from evaluation.embed_sim import embed_sim
from evaluation.meteor import meteor
from evaluation.metrics import score_all
from evaluation.wordnet import LEXNAMES, REQUIRED, build_from_debian, find_wordnet, load_wordnet
from models.encoder import EncoderNotFound, embedded_encoder_path, resolve_encoder_path

needs_wordnet = pytest.mark.skipif(
    find_wordnet() is None,
    reason="WordNet not installed: `apt-get install wordnet-base wordnet-sense-index` (or nltk's wordnet corpus)")
IDENTICAL = 1 - 0.5 * (1 / 3) ** 3  # 3 matches in 1 chunk: fmean 1, penalty gamma * (chunks/matches)^beta


@needs_wordnet
def test_meteor_exact_values():
    s = meteor(["the cat sat", "a dog ran", "", "hello world"], ["the cat sat", "the cat sat", "x", "hello world"])
    assert s["meteor"][0] == pytest.approx(IDENTICAL, abs=1e-12)
    assert s["meteor"][1:3] == [0.0, 0.0]
    assert s["meteor"][3] == pytest.approx(1 - 0.5 * (1 / 2) ** 3, abs=1e-12)


@needs_wordnet
def test_meteor_matches_wordnet_synonyms():
    # car/auto share a synset: all three words match only if WordNet was found and read.
    assert meteor(["the car stops"], ["the auto stops"])["meteor"][0] == pytest.approx(IDENTICAL, abs=1e-12)


def test_meteor_without_wordnet_is_missing_with_one_warning(tmp_path, caplog):
    load_wordnet.cache_clear()
    kw = dict(wordnet_dirs=(str(tmp_path),), use_nltk_path=False, cache_dir=str(tmp_path / "cache"))
    with caplog.at_level(logging.WARNING):
        first = meteor(["a b", "c"], ["a b", "c"], **kw)
        second = meteor(["a"], ["a"], **kw)
    assert first == {"meteor": [None, None]} and second == {"meteor": [None]}
    warnings = [r for r in caplog.records if "METEOR is missing" in r.getMessage()]
    assert len(warnings) == 1
    assert "apt-get install wordnet-base wordnet-sense-index" in warnings[0].getMessage()


def test_wordnet_folder_built_from_debian_files(tmp_path):
    deb = tmp_path / "wordnet"
    deb.mkdir()
    for name in REQUIRED:
        (deb / name).write_text(f"{name}\n")
    target = build_from_debian(deb, tmp_path / "cache")
    assert target == tmp_path / "cache" / "nltk_data" / "corpora" / "wordnet"
    lex = (target / "lexnames").read_text().splitlines()
    assert len(lex) == 45 == len(LEXNAMES)
    assert lex[0] == "00\tadj.all\t3" and lex[3] == "03\tnoun.Tops\t1" and lex[29] == "29\tverb.body\t2"
    assert lex[44] == "44\tadj.ppl\t3"
    assert (target / "data.noun").read_text() == "data.noun\n" and not (target / "data.noun").is_symlink()


def test_embed_sim_identical_related_unrelated():
    s = embed_sim(["Gradient descent minimises a loss.", "Gradient descent minimises a loss.",
                   "The recipe needs two eggs.", "   "],
                  ["Gradient descent minimises a loss.", "An optimiser that follows the negative gradient.",
                   "Gradient descent minimises a loss.", "anything"])["embed_sim"]
    assert s[0] == pytest.approx(1.0, abs=1e-5)
    assert s[1] > s[2] + 0.2
    assert all(-1.0 <= v <= 1.0 + 1e-6 for v in s)
    assert s[3] == 0.0


def test_encoder_locator():
    path = embedded_encoder_path()
    assert path.name == "model" and (path / "modules.json").is_file()
    assert resolve_encoder_path(None) == path
    with pytest.raises(EncoderNotFound, match="no config.json"):
        resolve_encoder_path("/nonexistent/encoder")


def test_bertscore_identical_is_one_and_missing_model_is_none(caplog):
    s = bertscore(["the cat sat on the mat", "quantum"], ["the cat sat on the mat", "the cat sat on the mat"])
    assert s["bertscore_f1"][0] == pytest.approx(1.0, abs=1e-5)
    assert s["bertscore_p"][0] == pytest.approx(1.0, abs=1e-5)
    assert s["bertscore_f1"][1] < 0.9
    with caplog.at_level(logging.WARNING):
        out = score_all(["bertscore"], ["a"], ["a"], options={"bertscore": {"model_path": "/nonexistent/bert"}})
    assert out == {"bertscore_p": [None], "bertscore_r": [None], "bertscore_f1": [None]}
    assert "bertscore is missing" in caplog.text
