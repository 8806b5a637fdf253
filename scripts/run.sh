#!/usr/bin/env bash
# The README's main command: installs what is missing, builds neurona (with CUDA where nvcc
# exists) and runs its main job. Training on Fashion-MNIST arrives with the training issue;
# until then the main job is the matmul benchmark, neurona against direct OpenBLAS (and cuBLAS
# on a GPU), which exercises the whole stack from Tensor to the BLAS libraries.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/env.sh

scripts/bootstrap.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$JOBS" --target bench_matmul
build/benchmarks/bench_matmul "$@"
