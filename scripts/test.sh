#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (with CUDA where nvcc exists),
# runs the whole test suite, then rebuilds the CPU library with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs the CPU tests again, and checks formatting.
# GPU tests report themselves skipped where there is no GPU.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/env.sh

scripts/bootstrap.sh

echo "== format check (clang-format)"
git ls-files '*.h' '*.cpp' '*.cu' '*.cuh' | xargs clang-format --dry-run -Werror
echo "== include check (each folder includes only the folders below it)"
python3 scripts/check_includes.py

echo "== build (CUDA: $(command -v nvcc >/dev/null && echo on || echo off))"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEURONA_WERROR=ON
cmake --build build -j "$JOBS"
echo "== tests"
ctest --test-dir build --output-on-failure -j "$JOBS"

echo "== sanitizer build (ASan + UBSan, CPU backend)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNEURONA_CUDA=OFF \
  -DNEURONA_SANITIZE=ON -DNEURONA_WERROR=ON -DNEURONA_BUILD_BENCHMARKS=OFF
cmake --build build-asan -j "$JOBS"
echo "== tests under sanitizers"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$JOBS" -L cpu -LE mpi
# The multi-process tests (mpirun) with leak detection off: LeakSanitizer counts Open MPI's own
# allocations (MPI_Init's) as leaks; ASan's and UBSan's other checks stay on.
ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -L mpi
# Each loader's libFuzzer target for FUZZ_SECONDS (15) seconds. The .weights.h5 target only
# replays its corpus here: libhdf5 1.10 itself has crashed on corrupt files (object headers,
# symbol tables, B-trees), which the loader now screens for before libhdf5 reads them (30
# minutes of fuzzing on 2026-12-04 found no crash after the screens), but a new kind could still
# fail CI by chance. `scripts/fuzz.sh weights_h5_fuzzer` fuzzes it for real.
FUZZ_CORPUS_ONLY="${FUZZ_CORPUS_ONLY-weights_h5_fuzzer}" scripts/fuzz.sh
