"""Quality gates of the project's corpus (data/README.md): these fail if the data regresses."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from kg.corpus import load_corpus

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "data" / "corpus"
LEXICON = ROOT / "data" / "lexicon.jsonl"
REVIEW = ROOT / "data" / "review"
NEAR_DUP = 0.92


@pytest.fixture(scope="module")
def records():
    return load_corpus(CORPUS)


def words(text):
    return len(text.split())


def test_sizes_and_exact_splits(records):
    assert len(records) >= 1531
    domains = Counter(r.domain for r in records)
    assert all(domains[d] >= 510 for d in ("cs", "stats", "ai")), domains
    assert Counter(r.split for r in records) == {"train": 1000, "dev": 50, "test": 481}


def test_every_topic_is_in_every_split_proportionally(records):
    by_topic = Counter(r.topic for r in records)
    test_by_topic = Counter(r.topic for r in records if r.split == "test")
    for topic, n in by_topic.items():
        assert abs(test_by_topic[topic] - n * 481 / 1531) <= 1, topic


def test_record_fields(records):
    for r in records:
        assert re.fullmatch(r"(cs|stats|ai)-[a-z0-9-]+-\d{3}", r.id), r.id
        assert r.topic and r.topic.startswith(f"{r.domain}/"), r.id
        assert r.difficulty in ("basic", "intermediate", "advanced"), r.id
        assert 1 <= len(r.concepts) <= 6, r.id
        assert len(set(r.concepts)) == len(r.concepts), r.id


def test_answers_are_plain_text_of_40_to_200_words(records):
    for r in records:
        assert 40 <= words(r.answer) <= 200, (r.id, words(r.answer))
        assert "### Question" not in r.answer and "Question:" not in r.answer, r.id
        assert not re.search(r"^#+ ", r.answer, re.M) and "```" not in r.answer, r.id


def test_no_duplicate_questions_after_normalisation(records):
    norm = Counter(re.sub(r"[^a-z0-9]+", " ", r.question.lower()).strip() for r in records)
    assert [q for q, n in norm.items() if n > 1] == []


def test_concept_tags_are_canonical_lexicon_names(records):
    names = {json.loads(line)["name"] for line in LEXICON.read_text().splitlines() if line.strip()}
    unknown = sorted({c for r in records for c in r.concepts} - names)
    assert unknown == [], f"{len(unknown)} tags not in data/lexicon.jsonl, e.g. {unknown[:10]}"


@pytest.fixture(scope="module")
def question_similarity(records):
    from models.encoder import load_encoder

    emb = load_encoder(device="cpu").encode([r.question for r in records], batch_size=128,
                                            normalize_embeddings=True, convert_to_tensor=True)
    return emb @ emb.T


def _near_pairs(records, sim):
    import torch

    idx = torch.triu(sim >= NEAR_DUP, diagonal=1).nonzero().tolist()
    return [(records[i], records[j], float(sim[i, j])) for i, j in idx]


def test_near_duplicates_are_resolved(records, question_similarity):
    """Every pair of questions with MiniLM cosine >= 0.92 was reviewed and judged distinct."""
    resolved = json.loads((REVIEW / "near_duplicates.json").read_text())
    kept = {tuple(sorted((p["a"], p["b"]))) for p in resolved["pairs"] if p["decision"] == "distinct"}
    unresolved = [(a.id, b.id, round(s, 3)) for a, b, s in _near_pairs(records, question_similarity)
                  if tuple(sorted((a.id, b.id))) not in kept]
    assert unresolved == []


def test_no_test_question_near_duplicated_in_train_or_dev(records, question_similarity):
    leaks = [(a.id, b.id, round(s, 3)) for a, b, s in _near_pairs(records, question_similarity)
             if (a.split == "test") != (b.split == "test")]
    assert leaks == []
