import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def write_corpus(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def qa(i, domain="cs", split="test", **kw):
    rec = dict(id=f"q{i}", domain=domain, topic=f"{domain}/t", question=f"What is thing {i}?",
               answer=f"Thing {i} is a concept used in {domain}.", concepts=["thing"], difficulty="basic", split=split)
    rec.update(kw)
    return rec


@pytest.fixture
def tiny_corpus(tmp_path):
    rows = [qa(i, d, s) for i, (d, s) in enumerate(
        [("cs", "test"), ("stats", "test"), ("ai", "test"), ("cs", "train"), ("ai", "dev"), ("stats", "test")])]
    return write_corpus(tmp_path / "corpus.jsonl", rows)


@pytest.fixture(scope="session")
def tiny():
    from models.loading import load_model

    return load_model("tiny_random", device="cpu")
