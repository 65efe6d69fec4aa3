import os

import pytest
import torch

from tests.conftest import qa, write_corpus

# Tiny models run fastest on one thread, and on a busy 2-core machine two threads spin against
# other processes (a 2-step smoke run took 30 s with two threads and 0.7 s with one).
SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

ANSWERS = ["A stack is last in, first out.", "A queue is first in, first out.", "Bias is systematic error.",
           "Variance is spread around the mean.", "Dropout zeroes random units.", "A hash maps keys to slots."]


@pytest.fixture
def qa_corpus(tmp_path):
    """Six train questions with answers of different lengths and two dev questions."""
    rows = [qa(i, ("cs", "stats", "ai")[i % 3], "train", answer=a) for i, a in enumerate(ANSWERS)]
    rows += [qa(6, "cs", "dev", answer="A heap keeps the smallest on top."),
             qa(7, "ai", "dev", answer="A token is a unit of text.")]
    return write_corpus(tmp_path / "corpus.jsonl", rows)


@pytest.fixture
def tiny_fresh():
    """A fresh tiny random Llama (tests that train must not share one)."""
    from models.loading import load_model

    return load_model("tiny_random", device="cpu")
