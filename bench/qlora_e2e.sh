#!/usr/bin/env bash
# `studyllama train method=qlora train=qlora` end to end on a CUDA GPU, on a random Llama of
# SmolLM2-135M's shape with the tiny test tokenizer (no weights travel): 4-bit base, fused LoRA,
# compiled layers, gradient checkpointing, paged AdamW, dev evaluation, adapter saved, then the
# saved adapter evaluated by `studyllama eval` on 8 test questions.
#   bash bench/qlora_e2e.sh /tmp/qlora_e2e
set -euo pipefail
out=${1:-/tmp/qlora_e2e}; mkdir -p "$out"
python3 - "$out/base" <<'PY'
import sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
from models.tiny import tiny_tokenizer
tok = tiny_tokenizer()
config = LlamaConfig(vocab_size=len(tok), hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                     num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                     eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id)
torch.manual_seed(0)
LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(sys.argv[1])
tok.save_pretrained(sys.argv[1])
PY
M="model=llama2_7b_chat model.name=random_smollm2_shape model.path=$out/base"
python3 -m studyllama.cli train method=qlora train=qlora $M train.epochs=1 train.max_steps=24 train.max_seq_len=3072 \
  train.log_every_steps=10 train.dev_max_new_tokens=32 hydra.run.dir="$out/train"
python3 -m studyllama.cli eval method=qlora $M method.adapter="$out/train/best" eval.limit=8 \
  eval.max_new_tokens=32 judge=none hydra.run.dir="$out/eval"
