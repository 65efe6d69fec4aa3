import copy

import pytest
import torch

from tests.training.conftest import loss_and_grads, random_lora
from training.fused_lora import LoraMatmul, fuse_lora


def reference(x, w, bias, a, b, scaling, mask, p):
    xd = x if mask is None else x * mask / (1 - p)
    return x @ w.t() + bias + scaling * (xd @ a.t()) @ b.t()


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_lora_matmul_matches_the_unfused_function_and_its_gradients(p):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, dtype=torch.float64, generator=g, requires_grad=True)
    w, bias = torch.randn(7, 5, dtype=torch.float64, generator=g), torch.randn(7, dtype=torch.float64, generator=g)
    a = torch.randn(3, 5, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(7, 3, dtype=torch.float64, generator=g, requires_grad=True)
    dy = torch.randn(6, 7, dtype=torch.float64, generator=g)
    torch.manual_seed(1)
    mask = torch.native_dropout(x.detach(), p, True)[1] if p else None  # the mask the function will draw
    torch.manual_seed(1)
    calls = []
    y = LoraMatmul.apply(x, a, b, lambda: calls.append(1) or w, bias, 2.0, p)
    y.backward(dy)
    got = (y.detach(), x.grad, a.grad, b.grad)
    x.grad = a.grad = b.grad = None
    ref = reference(x, w, bias, a, b, 2.0, mask, p)
    ref.backward(dy)
    for mine, theirs in zip(got, (ref.detach(), x.grad, a.grad, b.grad)):
        torch.testing.assert_close(mine, theirs, rtol=1e-12, atol=1e-12)
    assert len(calls) == 2  # the dense weight is made for the forward and again for the backward, not kept
    if p:
        assert 0 < int((~mask).sum()) < mask.numel()  # some inputs dropped, some kept


def test_fused_model_trains_exactly_as_peft(tiny_fresh):
    model, _ = tiny_fresh
    plain = random_lora(model, seed=3)
    fused = copy.deepcopy(plain)
    layers = model.config.num_hidden_layers
    assert fuse_lora(fused) == 7 * layers + 1  # every projection and lm_head
    ids = torch.randint(3, model.config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(0))
    loss_p, grads_p = loss_and_grads(plain, ids)
    loss_f, grads_f = loss_and_grads(fused, ids)
    torch.testing.assert_close(loss_f, loss_p, rtol=1e-6, atol=1e-6)
    assert grads_f.keys() == grads_p.keys() and len(grads_p) == 2 * (7 * layers + 1)
    for name in grads_p:
        torch.testing.assert_close(grads_f[name], grads_p[name], rtol=1e-5, atol=1e-6, msg=name)
    fused.eval()  # eval and no-grad use peft's own forward
    plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(fused(input_ids=ids).logits, plain(input_ids=ids).logits)


def test_fused_dropout_drops_and_rescales_like_peft(tiny_fresh):
    """With dropout on, the fused model's loss over many draws averages to peft's (same distribution)."""
    model, _ = tiny_fresh
    plain = random_lora(model, dropout=0.5, b_std=0.5, seed=4)
    fused = copy.deepcopy(plain)
    fuse_lora(fused)
    ids = torch.randint(3, model.config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    lf = torch.stack([fused(input_ids=ids, labels=ids).loss.detach() for _ in range(60)])
    torch.manual_seed(0)
    lp = torch.stack([plain(input_ids=ids, labels=ids).loss.detach() for _ in range(60)])
    assert lf.std() > 1e-3  # the masks vary from call to call
    assert abs(lf.mean() - lp.mean()) < 3 * (lf.std() + lp.std()) / 60 ** 0.5
    plain.eval()
    with torch.no_grad():  # without dropout the two are one function
        fused.eval()
        torch.testing.assert_close(fused(input_ids=ids).logits, plain(input_ids=ids).logits)


def test_merged_or_disabled_adapters_fall_back_to_peft(tiny_fresh):
    model, _ = tiny_fresh
    plain = random_lora(model, seed=5)
    fused = copy.deepcopy(plain)
    fuse_lora(fused)
    ids = torch.randint(3, model.config.vocab_size, (1, 7), generator=torch.Generator().manual_seed(1))
    with fused.disable_adapter(), plain.disable_adapter():
        torch.testing.assert_close(fused(input_ids=ids).logits, plain(input_ids=ids).logits)
    fused.merge_adapter()
    plain.merge_adapter()
    torch.testing.assert_close(fused(input_ids=ids).logits, plain(input_ids=ids).logits, rtol=1e-5, atol=1e-5)
