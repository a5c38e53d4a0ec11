#!/usr/bin/env bash
# Part 2 on a lent GPU in one prepared command (docs/gpu.md): check the population against single runs,
# measure images/s, train the optimizer study detached, pack the run directories into $OUT.
#   Here, before the call (neither travels otherwise; data/ is ignored by git, so carry it):
#     mkdir -p data && cp ../shared/data/cifar10-jpeg.tar.xz data/
#     .venv/bin/python -m pip download -q --only-binary=:all: --python-version 3.12 \
#         --platform manylinux2014_x86_64 -d data/wheels jsonschema     # the study check's one missing package
#   then: run(command="bash benchmarks/gpu_part2.sh", carry=["data"], timeout_s=600)
#   A second call on the same warm machine continues the training and packs again.
#   On a CPU, end to end in under a minute:  bash benchmarks/gpu_part2.sh --device cpu --smoke
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
args=("$@")
if [[ " ${args[*]} " != *" --smoke "* && " ${args[*]} " != *" --data "* ]]; then
  args+=(--data data/cifar10-jpeg.tar.xz)
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
py="${PYTHON:-python3}"
if ! "$py" -c 'import jsonschema' 2>/dev/null && [ -d data/wheels ]; then  # no network there: carried wheels
  "$py" -m pip install -q --no-index --find-links data/wheels --target data/site jsonschema
fi
[ -d data/site ] && export PYTHONPATH="$PYTHONPATH:$PWD/data/site"
out="${OUT:-out}"
exec "$py" benchmarks/part2_population.py device --out "$out" "${args[@]}"
