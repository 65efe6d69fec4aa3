import copy

import pytest
import torch

from training.compile import compile_layers
from training.fused_lora import fuse_lora
from training.peft_setup import apply_peft

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]


def lora(tiny_fresh):
    model, _ = tiny_fresh
    model = apply_peft(model, peft="lora", r=4, lora_alpha=8, lora_dropout=0.0, target_modules=TARGETS)
    for n, p in model.named_parameters():
        if "lora_B" in n:  # peft starts B at zero, which would hide a wrong A gradient
            p.data.normal_(0, 0.1, generator=torch.Generator().manual_seed(2))
    return model


def loss_and_grads(model, ids):
    model.zero_grad(set_to_none=True)
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("fused", [False, True])
def test_compiled_layers_train_as_eager_and_evaluate_eagerly(tiny_fresh, fused):
    graphs = []

    def backend(gm, example_inputs):  # records each compilation, runs the captured graph as is
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    eager = lora(tiny_fresh)
    model = copy.deepcopy(eager)
    if fused:
        fuse_lora(model)
    assert compile_layers(model, backend=backend) == eager.config.num_hidden_layers
    ids = torch.randint(3, eager.config.vocab_size, (2, 8), generator=torch.Generator().manual_seed(0))
    loss_c, grads_c = loss_and_grads(model, ids)
    loss_e, grads_e = loss_and_grads(eager, ids)
    assert graphs  # the training step went through torch.compile
    torch.testing.assert_close(loss_c, loss_e)
    assert grads_c.keys() == grads_e.keys()
    for name in grads_e:  # every LoRA weight, in compiled layers too, gets the eager gradient
        torch.testing.assert_close(grads_c[name], grads_e[name], rtol=1e-5, atol=1e-6, msg=name)
    compiled = len(graphs)
    model.eval()
    eager.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, eager(input_ids=ids).logits)
    assert len(graphs) == compiled  # evaluation never compiles


def test_compile_names_the_model_it_cannot_handle():
    with pytest.raises(ValueError, match="train.compile=false"):
        compile_layers(torch.nn.Linear(2, 2))
