import copy

import pytest
import torch

from tests.training.conftest import loss_and_grads, random_lora
from training.compile import compile_layers, speed_up
from training.fused_lora import fuse_lora


@pytest.mark.parametrize("fused", [False, True])
def test_compiled_layers_train_as_eager_and_evaluate_eagerly(tiny_fresh, fused):
    graphs = []

    def backend(gm, example_inputs):  # records each compilation, runs the captured graph as is
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    eager = random_lora(tiny_fresh[0], seed=2)
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


def test_compile_replaces_the_fused_lora_steps(tiny_fresh):
    from peft.tuners.lora import LoraLayer

    def fused_layers(model):
        return sum("forward" in m.__dict__ for m in model.modules() if isinstance(m, LoraLayer))

    model = random_lora(tiny_fresh[0])
    layers = 7 * model.config.num_hidden_layers + 1
    assert speed_up(copy.deepcopy(model), compile=False, fused_lora=False) == "none"
    fused = copy.deepcopy(model)
    assert speed_up(fused, compile=False, fused_lora=True) == "fused_lora" and fused_layers(fused) == layers
    compiled = copy.deepcopy(model)
    assert speed_up(compiled, compile=True, fused_lora=True) == "compile" and fused_layers(compiled) == 0
