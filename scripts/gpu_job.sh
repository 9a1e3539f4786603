#!/usr/bin/env bash
# The GPU job (issue 37) for a session lent a device machine: bench/gpu_check.py, its JSON written as it goes.
#
#   bash scripts/gpu_job.sh --wheels   # here, once: pycocotools for the device's Python 3.12 into .whl/ (ignored)
#   device run: command "bash scripts/gpu_job.sh", carry [".whl"], timeout_s 420 (the job stops itself at 330 s)
#
# There: Python 3.12 and its own torch, everything else the pipeline needs but pycocotools (the device's KINDS.md);
# no dvc (the data stages run through tools/run_grid.py's DVC-free runner). The JSON lands in $OUT/gpu_check.json.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--wheels" ]]; then
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    "pycocotools==$(sed -n 's/^pycocotools==//p' requirements.txt)"
  ls .whl
  exit
fi
python3 -c "import pycocotools" 2>/dev/null ||
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader || true
# Arguments pass to gpu_check.py (a CPU smoke: --train 160 --val 40 --depth 1 --size 8 --no-full)
timeout 330 python3 bench/gpu_check.py --json "${OUT:-.}/gpu_check.json" "$@" > "${OUT:-.}/gpu_check.log" 2>&1 || true
cat "${OUT:-.}/gpu_check.json"
