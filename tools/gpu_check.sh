#!/usr/bin/env bash
# The measurements that need a CUDA GPU (the figures of docs/performance.md "GPU"), each step bounded in time so that
# one failure does not stop the others:
#   bench  `python -m bench --device cuda --only train,infer`: training steps (tiny demo model and wav2vec2-base,
#          fp32 and the auto precision, fast and naive batching) and inference on the GPU and the CPU;
#   demo   `make demo`'s corpus, data and config trained on the GPU in fp16, then bf16 and fp32, each evaluated on
#          its test split;
#   base   configs/recipe.yaml (wav2vec2-base-sized encoder, batch 8 x 4, lr 5e-5, mixup, label smoothing) trained
#          3 epochs in fp16 on the demo data, the encoder frozen for the first; the encoder is a randomly initialised
#          wav2vec2-base saved locally (the weights of the report's encoder would need the Hub).
# Records in OUT (a new folder): bench_cuda.json, runs.json (per training: run_info.json, the per-epoch log, the test
# metrics), and the log of each step.
#
#     bash tools/gpu_check.sh OUT [bench,demo,base]
set -uo pipefail

OUT=${1:?usage: bash tools/gpu_check.sh OUT [bench,demo,base]}
STEPS=${2:-demo,base,bench}
PY=${PYTHON:-python3}
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT")" ]; then
    echo "gpu_check: $OUT: exists and is not empty (choose a new folder)" >&2
    exit 2
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d -t ser-gpu-check-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export HF_HUB_OFFLINE=1 TQDM_DISABLE=1 TRANSFORMERS_VERBOSITY=error PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."

# step NAME SECONDS CMD...: run CMD with a time limit, its output in OUT/NAME.log; a failure is reported, not fatal.
step() {
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    echo "== $name: $*"
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    echo "== $name: exit $rc in $((SECONDS - start)) s"
    [ $rc -eq 0 ] || tail -n 15 "$OUT/$name.log"
    return $rc
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

if [[ ,$STEPS, == *,demo,* || ,$STEPS, == *,base,* ]]; then
    step demo_data 120 bash -c "$PY -m demo.corpus --output $WORK/raw && $PY -m data_prep \
        --config configs/demo_data.yaml --corpus folder=$WORK/raw --output $WORK/data --overwrite"
fi

if [[ ,$STEPS, == *,demo,* ]]; then
    for precision in fp16 bf16 fp32; do
        step "demo_$precision" 240 bash -c "$PY -m recipe.train --config configs/demo.yaml --data $WORK/data \
            --output_dir $WORK/runs/demo_$precision --precision $precision && $PY -m recipe.evaluate \
            --model $WORK/runs/demo_$precision --data $WORK/data --split test"
    done
fi

if [[ ,$STEPS, == *,base,* ]]; then
    step base_fp16 300 bash -c "$PY -c \"
import sys, torch
from transformers import Wav2Vec2Config, Wav2Vec2Model
torch.manual_seed(0)
Wav2Vec2Model(Wav2Vec2Config(layerdrop=0.0)).save_pretrained(sys.argv[1])
\" $WORK/wav2vec2-base-random && $PY -m recipe.train --config configs/recipe.yaml --data $WORK/data \
        --output_dir $WORK/runs/base_fp16 --encoder $WORK/wav2vec2-base-random --precision fp16 \
        --num_train_epochs 3 --freeze_encoder_epochs 1 && $PY -m recipe.evaluate \
        --model $WORK/runs/base_fp16 --data $WORK/data --split test"
fi

# One JSON of every training that ran: what it ran on, how long, peak memory, per-epoch log, test metrics.
if [ -d "$WORK/runs" ]; then
    $PY - "$WORK/runs" "$OUT/runs.json" <<'EOF'
import json, sys
from pathlib import Path

def read(path):
    return json.loads(path.read_text()) if path.is_file() else None

runs = {}
for run in sorted(Path(sys.argv[1]).iterdir()):
    state = read(run / "trainer_state.json") or {}
    runs[run.name] = {
        "run_info": read(run / "run_info.json"),
        "log_history": state.get("log_history"),
        "test": read(run / "eval_results.json"),
    }
Path(sys.argv[2]).write_text(json.dumps(runs, indent=1) + "\n")
EOF
fi

if [[ ,$STEPS, == *,bench,* ]]; then
    step bench 420 "$PY" -m bench --device cuda --only train,infer --out "$OUT/bench_cuda.json"
fi
ls -l "$OUT"
