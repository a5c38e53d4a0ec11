#!/usr/bin/env bash
# One prepared command for a lent GPU (see BENCHMARKS.md). Runs from the repository root on a machine with
# PyTorch + CUDA; needs no install: the package is used from src/. Under 8 minutes on an H200.
#   Here, before the call:  mkdir -p data && cp ../shared/data/cifar10-jpeg.tar.xz data/   (carry "data")
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
data_flag=()
[ -f data/cifar10-jpeg.tar.xz ] && data_flag=(--data data/cifar10-jpeg.tar.xz --epochs 3)
timeout 450 python3 benchmarks/gpu.py --batch-sizes 32,256 --steps 60 "${data_flag[@]}"
