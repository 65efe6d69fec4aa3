"""The training loop on CPU with the tiny random Llama: learning, per-token loss, selection, resume."""

from contextlib import nullcontext

import pytest
import torch
from safetensors.torch import load_file

import training.loop
from kg.corpus import load_corpus
from studyllama.builders import build_prompts
from studyllama.config import load_group_option, register
from training.data import build_examples, collate, eos_token_id
from training.dev_eval import dev_loss
from training.loop import fit, make_accelerator, optimizer_step
from training.peft_setup import adapter_state_dict, apply_peft

register()
LORA = dict(peft="lora", r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj", "lm_head"])
FAST = dict(seed=0, epochs=2, batch_size=2, micro_batch_size=2, lr=1e-2, precision="fp32", dev_max_new_tokens=4,
            dev_batch_size=4, log_every_steps=1, select_metric="loss")


def examples(corpus, model, tok, split):
    records = load_corpus(corpus, splits=(split,))
    prompts = build_prompts(records, load_group_option("prompt", "seed"), tok)
    return build_examples(records, prompts, tok, add_special_tokens=True, eos_token_id=eos_token_id(tok, model),
                          max_seq_len=512)


@pytest.fixture
def setup(qa_corpus, tiny_fresh):
    model, tok = tiny_fresh
    return model, tok, examples(qa_corpus, model, tok, "train"), examples(qa_corpus, model, tok, "dev")


def test_one_epoch_lowers_the_training_loss(setup, tmp_path):
    model, tok, train, dev = setup
    model = apply_peft(model, lora_dropout=0.0, **LORA)

    def loss():
        return dev_loss(model, train, batch_size=6, pad_token_id=tok.pad_token_id, device="cpu", autocast=nullcontext)

    before = loss()
    result = fit(model, tok, train, dev, out_dir=tmp_path, **{**FAST, "epochs": 1, "lr": 5e-2})
    assert result["steps"] == 3 and len(result["history"]) == 1
    assert loss() < before - 0.5  # 4.68 -> 3.85 when written


def test_loss_is_per_token_whatever_the_split_into_micro_batches(setup):
    """One step over [e0, e1, e2] as one padded batch, as two accumulated micro-batches, or packed:
    the same update, because the loss is normalised by the step's total supervised tokens."""
    model, tok, train, _ = setup
    model = apply_peft(model, lora_dropout=0.0, **LORA)
    for n, p in model.named_parameters():
        if p.requires_grad:  # LoRA's B starts at zero, which would hide A's gradient
            torch.nn.init.normal_(p, std=0.1, generator=torch.Generator().manual_seed(len(n)))
    start = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    acc = make_accelerator("fp32")
    exs, pad = train[:3], tok.pad_token_id
    splits = {"one": [collate(exs, "padded", pad)],
              "two": [collate(exs[:1], "padded", pad), collate(exs[1:], "padded", pad)],
              "packed": [collate(exs, "packed", pad)]}
    deltas = {}
    for name, batches in splits.items():
        with torch.no_grad():
            for n, p in model.named_parameters():
                if p.requires_grad:
                    p.copy_(start[n])
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
        stats = optimizer_step(model, opt, sched, batches, acc, max_grad_norm=None)
        deltas[name] = ({n: p.detach() - start[n] for n, p in model.named_parameters() if p.requires_grad}, stats)
    for name in ("two", "packed"):
        assert deltas[name][1]["loss"] == pytest.approx(deltas["one"][1]["loss"], rel=1e-5)
        for n, d in deltas["one"][0].items():
            torch.testing.assert_close(deltas[name][0][n], d, atol=1e-5, rtol=1e-4)
    assert deltas["packed"][1]["tokens"] == sum(len(e.input_ids) for e in exs) == deltas["one"][1]["tokens"]


def test_best_dev_epoch_is_the_adapter_kept(setup, tmp_path, monkeypatch):
    """Scripted dev losses 3, 1, 2: best/ must hold exactly the weights evaluated in epoch 2."""
    model, tok, train, dev = setup
    model = apply_peft(model, lora_dropout=0.0, **LORA)
    seen = []

    def scripted(m, *args, **kwargs):
        seen.append({k: v.clone() for k, v in adapter_state_dict(m).items()})
        return dict(loss=[3.0, 1.0, 2.0][len(seen) - 1], rougeL=0.0, eos_rate=0.0)

    monkeypatch.setattr(training.loop, "dev_metrics", scripted)
    result = fit(model, tok, train, dev, out_dir=tmp_path, **{**FAST, "epochs": 3})
    assert result["best_epoch"] == 2 and [h["loss"] for h in result["history"]] == [3.0, 1.0, 2.0]
    best = load_file(tmp_path / "best" / "adapter_model.safetensors")
    assert set(best) == set(seen[1])
    assert all(torch.equal(best[k], seen[1][k]) for k in best)
    assert not all(torch.equal(best[k], seen[2][k]) for k in best)


def test_resume_after_interruption_matches_an_uninterrupted_run(qa_corpus, tmp_path):
    from models.loading import load_model

    def run(out, *, resume=False, stop_at=None, lora_seed=0):
        model, tok = load_model("tiny_random", device="cpu")
        train, dev = examples(qa_corpus, model, tok, "train"), examples(qa_corpus, model, tok, "dev")
        torch.manual_seed(lora_seed)  # LoRA init: a resumed run must take the weights from the checkpoint
        model = apply_peft(model, lora_dropout=0.1, **LORA)  # dropout: the RNG state must be restored too

        def interrupt(state):
            if state.step == stop_at:
                raise KeyboardInterrupt

        result = fit(model, tok, train, dev, out_dir=out, save_every_steps=1, resume=resume, on_step=interrupt,
                     **{**FAST, "batch_size": 4, "warmup_steps": 1})
        return result, adapter_state_dict(model)

    full, full_weights = run(tmp_path / "full")
    assert full["steps"] == 4  # 2 epochs of 2 steps: micro-batches of 2, 2 | 2
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", stop_at=3)  # after the first step of epoch 2
    resumed, weights = run(tmp_path / "cut", resume=True, lora_seed=1)
    assert resumed["steps"] == 4
    assert [h["loss"] for h in resumed["history"]] == pytest.approx([h["loss"] for h in full["history"]], rel=1e-6)
    for k, w in full_weights.items():
        torch.testing.assert_close(weights[k], w, atol=1e-7, rtol=1e-6)


def test_prompt_tuning_trains_and_its_best_adapter_loads(setup, tmp_path):
    from studyllama.builders import build_model

    model, tok, train, dev = setup
    model = apply_peft(model, peft="prompt_tuning", num_virtual_tokens=4)
    before = {k: v.clone() for k, v in adapter_state_dict(model).items()}
    result = fit(model, tok, train, dev, out_dir=tmp_path, **{**FAST, "epochs": 1, "lr": 0.1})
    assert result["steps"] == 3 and 0.0 <= result["history"][0]["eos_rate"] <= 1.0
    saved = load_file(tmp_path / "best" / "adapter_model.safetensors")
    assert list(saved) == ["prompt_embeddings"] and saved["prompt_embeddings"].shape == (4, 32)
    assert not torch.equal(saved["prompt_embeddings"], before["prompt_embeddings"])
    method = load_group_option("method", "prompt_tuning")
    method.adapter = str(tmp_path / "best")
    loaded, _ = build_model(load_group_option("model", "tiny_random"), method=method)
    assert torch.equal(loaded.get_prompt_embedding_to_save("default"), saved["prompt_embeddings"])


def test_packed_batching_is_refused_for_prompt_tuning(setup, tmp_path):
    model, tok, train, dev = setup
    model = apply_peft(model, peft="prompt_tuning", num_virtual_tokens=4)
    with pytest.raises(ValueError, match="packed"):
        fit(model, tok, train, dev, out_dir=tmp_path, **{**FAST, "batching": "packed"})


def test_dev_answers_from_the_merged_copy_equal_the_lora_models(setup):
    """MergedCopy answers exactly as the LoRA model does, and a refresh after a step tracks the new weights."""
    from training.dev_eval import MergedCopy, greedy_answers

    model, tok, train, dev = setup
    model = apply_peft(model, lora_dropout=0.0, **LORA)
    assert MergedCopy.applies(model) and not MergedCopy.applies(model.get_base_model())
    with torch.no_grad():  # LoRA B starts at zero; make the adapter matter
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    kw = dict(max_new_tokens=12, batch_size=2, eos_token_id=eos_token_id(tok, model), pad_token_id=0,
              device=torch.device("cpu"), autocast=nullcontext)
    prompts = [e.prompt_ids for e in train]
    merged = MergedCopy()
    copy_model = merged.refresh(model)
    assert not hasattr(copy_model, "peft_config")
    assert greedy_answers(copy_model, tok, prompts, **kw) == greedy_answers(model, tok, prompts, **kw)
    before = greedy_answers(copy_model, tok, prompts, **kw)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    assert merged.refresh(model) is copy_model  # updated in place
    assert greedy_answers(copy_model, tok, prompts, **kw) == greedy_answers(model, tok, prompts, **kw)
    assert greedy_answers(copy_model, tok, prompts, **kw) != before  # the refresh changed the answers
