"""Resumable training checkpoints: adapter, optimizer, scheduler, progress and RNG state.

A checkpoint is a folder ``<run>/checkpoint`` with the adapter (``adapter_model.safetensors``)
and ``trainer_state.pt`` (optimizer and scheduler state dicts, :class:`TrainState`, RNG states).
``trainer_state.pt`` holds tensors and plain Python values only and is read back with
``torch.load(weights_only=True)``, which cannot run code from a tampered file. The folder is
written beside its target and swapped in, so an interrupted save leaves the previous checkpoint.

The data order of an epoch is a function of ``(seed, epoch)`` (:func:`training.data.micro_batches`),
so a resumed run skips the optimizer steps already done in the current epoch and sees exactly the
batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from kg.io import atomic_folder
from training.peft_setup import write_adapter

STATE_FILE = "trainer_state.pt"


@dataclass
class TrainState:
    """Progress of a run; everything needed to continue it besides the tensors."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # epochs completed
    epoch_step: int = 0  # optimizer steps done inside the current epoch
    best_epoch: int | None = None
    best_value: float | None = None
    history: list[dict] = field(default_factory=list)  # dev metrics, one dict per epoch
    done: bool = False


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(folder: str | Path, model, optimizer, scheduler, state: TrainState, meta: dict) -> Path:
    """Write a resumable checkpoint of ``model``'s adapter and the optimizer to ``folder``, atomically."""
    blob = dict(optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                state=dataclasses.asdict(state), rng=rng_state())
    with atomic_folder(folder) as tmp:
        (tmp / "adapter").mkdir()
        write_adapter(model, tmp / "adapter", meta)
        torch.save(blob, tmp / STATE_FILE)
    return Path(folder)


def has_checkpoint(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / STATE_FILE).is_file() and (folder / "adapter" / "adapter_model.safetensors").is_file()


def load_checkpoint(folder: str | Path, model, optimizer, scheduler) -> TrainState:
    """Restore adapter weights, optimizer, scheduler and RNG from ``folder``; return the progress."""
    from peft import set_peft_model_state_dict

    from models.adapter_gnn import is_llama_adapter, load_adapter_weights

    folder = Path(folder)
    if is_llama_adapter(model):  # method=adapter|adapter_gnn; checks the keys itself
        load_adapter_weights(model, folder / "adapter")
    else:
        weights = load_file(folder / "adapter" / "adapter_model.safetensors")
        result = set_peft_model_state_dict(model, weights)
        if result.unexpected_keys:
            raise RuntimeError(f"{folder}: checkpoint keys {result.unexpected_keys[:3]} do not fit this model; "
                               "resume with the same model and method, or start a new run")
    blob = torch.load(folder / STATE_FILE, weights_only=True, map_location="cpu")
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    set_rng_state(blob["rng"])
    return TrainState(**blob["state"])
