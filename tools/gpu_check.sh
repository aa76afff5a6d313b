#!/usr/bin/env bash
# The measurements that need a CUDA GPU (the figures of docs/performance.md "GPU"), each step bounded in time so that
# one failure does not stop the others:
#   bench      `python -m bench --device cuda --only train,infer`: training steps (tiny demo model and
#              wav2vec2-base, fp32 and the auto precision, fast and naive batching) and inference on the GPU and CPU;
#   demo_P     `make demo`'s corpus, data and config trained on the GPU in precision P (fp16, bf16, fp32), evaluated
#              on its test split;
#   base_fp16  configs/recipe.yaml (wav2vec2-base-sized encoder, batch 8 x 4, lr 5e-5, mixup, label smoothing) trained
#              3 epochs in fp16 on the demo data, the encoder frozen for the first; the encoder is a randomly
#              initialised wav2vec2-base saved locally (the weights of the report's encoder would need the Hub).
# Steps run in the order given. Records in OUT (a new folder): bench_cuda.json, runs.json (per training: run_info.json,
# the per-epoch log, the test metrics), and the log of each step.
#
#     bash tools/gpu_check.sh OUT [STEP,...]     (default: demo_fp16,base_fp16,bench,demo_bf16,demo_fp32)
set -uo pipefail

OUT=${1:?usage: bash tools/gpu_check.sh OUT [STEP,...]}
STEPS=${2:-demo_fp16,base_fp16,bench,demo_bf16,demo_fp32}
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

# The trainings that ran so far, in one JSON: what each ran on, how long, peak memory, per-epoch log, test metrics.
collect() {
    $PY - "$WORK/runs" "$OUT/runs.json" <<'PYTHON'
import json, sys
from pathlib import Path

def read(path):
    return json.loads(path.read_text()) if path.is_file() else None

runs = {}
for run in sorted(p for p in Path(sys.argv[1]).iterdir() if p.is_dir()):  # not the runs' .NAME.lock files
    state = read(run / "trainer_state.json") or {}
    runs[run.name] = {
        "run_info": read(run / "run_info.json"),
        "log_history": state.get("log_history"),
        "test": read(run / "eval_results.json"),
    }
Path(sys.argv[2]).write_text(json.dumps(runs, indent=1) + "\n")
PYTHON
}

# train NAME SECONDS FLAGS...: recipe.train on the demo data into WORK/runs/NAME, then its test split evaluated.
train() {
    local name=$1 limit=$2
    shift 2
    step "$name" "$limit" bash -c "$PY -m recipe.train --data $WORK/data --output_dir $WORK/runs/$name $* \
        && $PY -m recipe.evaluate --model $WORK/runs/$name --data $WORK/data --split test"
    collect
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if [[ ,$STEPS, == *,demo_* || ,$STEPS, == *,base_* ]]; then
    step demo_data 120 bash -c "$PY -m demo.corpus --output $WORK/raw && $PY -m data_prep \
        --config configs/demo_data.yaml --corpus folder=$WORK/raw --output $WORK/data --overwrite"
    mkdir -p "$WORK/runs"
fi
for name in ${STEPS//,/ }; do
    case $name in
        demo_fp16 | demo_bf16 | demo_fp32)
            train "$name" 150 --config configs/demo.yaml --precision "${name#demo_}"
            ;;
        base_fp16)
            $PY -c "import sys; from pathlib import Path; from bench.recipe_bench import save_random_base_encoder; \
save_random_base_encoder(Path(sys.argv[1]))" "$WORK/wav2vec2-base-random"
            train base_fp16 240 --config configs/recipe.yaml --encoder "$WORK/wav2vec2-base-random" --precision fp16 \
                --num_train_epochs 3 --freeze_encoder_epochs 1
            ;;
        bench)
            step bench 420 "$PY" -m bench --device cuda --only train,infer --out "$OUT/bench_cuda.json"
            ;;
        *)
            echo "gpu_check: unknown step $name" >&2
            ;;
    esac
done
ls -l "$OUT"
