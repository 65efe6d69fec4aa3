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


LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]


def random_lora(model, *, dropout: float = 0.0, b_std: float = 0.1, seed: int = 0):
    """``model`` with an r=4 LoRA on every projection and lm_head, its B drawn from N(0, b_std):
    peft starts B at zero, which would hide a wrong A gradient."""
    from training.peft_setup import apply_peft

    model = apply_peft(model, peft="lora", r=4, lora_alpha=8, lora_dropout=dropout, target_modules=LORA_TARGETS)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, b_std, generator=torch.Generator().manual_seed(seed))
    return model


def loss_and_grads(model, ids):
    """One backward pass of the language-model loss on ``ids``: the loss and every trainable gradient."""
    model.zero_grad(set_to_none=True)
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
