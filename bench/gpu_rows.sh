#!/usr/bin/env bash
# The GPU rows of bench/RESULTS.md and `pytest -m gpu` in one go, for a machine with a CUDA GPU
# that is lent for a few minutes (each step has its own time limit, so one slow step cannot take
# the others' time). Logs and the updated bench/RESULTS-*.md go to $OUT (default bench/gpu-out).
#
#   bash bench/gpu_rows.sh            # from the repository root, colorbench installed
#
# Where colorbench is not installed yet (a bare machine with torch), wheels of what is missing
# (open_clip_torch, ftfy, wcwidth) in .whl/ are installed first, then colorbench, editable.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
LOG="$OUT/log.txt"
step() { echo "== $(date -u +%T) $*" | tee -a "$LOG"; }

if ! python3 -c "import importlib.metadata as m; m.version('colorbench'); import open_clip" 2>/dev/null; then
    step install
    if [ -d .whl ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site
    fi
    python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>&1 | tail -3
fi
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c "import torch, platform; print('torch', torch.__version__, 'python', platform.python_version(), 'cpus', __import__('os').cpu_count())"
} | tee -a "$LOG"

step "pytest -m gpu"
timeout 90 python3 -P -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tail -25 | tee -a "$LOG"

step "bench_render (CUDA rows)"
timeout 45 python3 bench/bench_render.py --quick --min-time 0.2 2>&1 | tail -30 | tee -a "$LOG"

step "bench_throughput: encoder only vs end to end vs PNG + DataLoader, --samples ${THROUGHPUT_SAMPLES:=20}"
timeout 140 python3 bench/bench_throughput.py --device cuda --task all --samples "$THROUGHPUT_SAMPLES" \
    --memory-task all --encoder-images 4096 --workers 8 2>&1 | tail -20 | tee -a "$LOG"

step "paper scale: colorbench run --task all --samples 500 on cuda"
start=$(date +%s.%N)
timeout 170 python3 -P -m colorbench run --model random-RN50 --task all --samples 500 --device cuda \
    --out /tmp/paper-scale -q 2>&1 | tail -15 | tee -a "$LOG"
echo "rc=${PIPESTATUS[0]} wall_s=$(python3 -c "print(round($(date +%s.%N)-$start,1))")" | tee -a "$LOG"

step "bench_interpret --gpu (paper settings: top-100, full RN50)"
timeout 90 python3 bench/bench_interpret.py --gpu --threads 8 2>&1 | tail -8 | tee -a "$LOG"

step done
cp bench/RESULTS-render.md bench/RESULTS-throughput.md bench/RESULTS-interpret.md "$OUT/" 2>/dev/null
