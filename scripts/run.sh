#!/usr/bin/env bash
# The README's main command: installs what is missing, builds neurona (with CUDA where nvcc
# exists) and runs its main job, `neurona train`: the notebook's CNN on Fashion-MNIST, with
# Keras's progress bar, the test accuracy, history.csv, the weights and curves.png under
# runs/fashion. Arguments go to `neurona train` (see `build/tools/neurona train --help`); with
# none, the run is sized to finish in a few minutes on a 2-core CPU, or is the full 10-epoch
# run where a GPU is present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/env.sh

scripts/bootstrap.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$JOBS" --target neurona_cli

if (($# == 0)); then
  if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU; then
    set -- --model cnn --epochs 10
  else
    set -- --model cnn --epochs 3
  fi
fi
exec build/tools/neurona train "$@"
