"""Run by tests/training/test_distributed.py under `accelerate launch` (2 CPU processes, gloo) and
alone: trains LoRA on the tiny model and saves this process's final adapter weights.

    python tests/training/ddp_worker.py <corpus.jsonl> <out_dir> <micro_batch_size>
"""

import os
import sys

import torch
from safetensors.torch import save_file

from kg.corpus import load_corpus
from models.loading import load_model
from studyllama.builders import build_prompts
from studyllama.config import load_group_option, register
from training.data import build_examples, eos_token_id
from training.loop import fit
from training.peft_setup import adapter_state_dict, apply_peft


def main(corpus: str, out: str, micro_batch_size: int) -> None:
    register()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model, tok = load_model("tiny_random", device="cpu")
    prompt = load_group_option("prompt", "seed")

    def examples(split):
        records = load_corpus(corpus, splits=(split,))
        return build_examples(records, build_prompts(records, prompt, tok), tok, add_special_tokens=True,
                              eos_token_id=eos_token_id(tok, model), max_seq_len=512)

    model = apply_peft(model, peft="lora", r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    result = fit(model, tok, examples("train"), examples("dev"), out_dir=out, seed=0, epochs=2, batch_size=4,
                 micro_batch_size=micro_batch_size, lr=1e-2, precision="fp32", dev_max_new_tokens=4,
                 dev_batch_size=4, log_every_steps=1, select_metric="loss")
    rank = int(os.environ.get("RANK", "0"))
    weights = {k: v.contiguous() for k, v in adapter_state_dict(model).items()}
    save_file(weights, os.path.join(out, f"rank{rank}.safetensors"), metadata={"steps": str(result["steps"])})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
