#!/usr/bin/env bash
# Runs the GPU suites (tests/gpu, tools/model_gpu_test.cpp) with the CPU standing in for the GPU:
# a check of the tests themselves before a session with a GPU spends its few minutes on them.
# Each parity test then compares the CPU with itself, so what it finds is a test that cannot
# pass wherever it runs (a CPU reference made with options only a GPU takes, a helper reading an
# undefined tensor), not a kernel bug. It rewrites `Device::cuda(0)` to `Device::cpu()` in the
# suites' sources and lets the GPU fixture run without a GPU, builds the two test programs in
# `build/` (BUILD to change), runs them, and puts the sources back as they were (uncommitted
# edits included) however it ends.
#
# Tests that check what only a GPU does (a capture's replays, cuBLAS's or NCCL's own errors, the
# CPU's ValueError where the GPU gives NaN) fail here by design: they are listed in
# scripts/gpu-tests-on-cpu.expected, and the script fails only on a failure not listed there (or
# a listed test that now passes: the list is stale), or on a program that stops before gtest's
# end (a crash). Usage: bash scripts/gpu-tests-on-cpu.sh. Not beside another build of this tree
# (gpu-check.sh prepare would compile the rewritten sources).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
BUILD="${BUILD:-$ROOT/build}"
EXPECTED="$ROOT/scripts/gpu-tests-on-cpu.expected"
cd "$ROOT"

SKIP_LINE='if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA GPU available";'
# A run killed outright (SIGKILL) cannot put the sources back: refuse to take such a tree for
# the originals.
grep -qF "$SKIP_LINE" tests/support/gpu_test.h || {
  echo "gpu-tests-on-cpu: tests/support/gpu_test.h has no GPU skip line: the GPU tests look" \
    "rewritten by an interrupted run (git diff tests/gpu tests/support tools/model_gpu_test.cpp)" >&2
  exit 2
}
mapfile -t sources < <(ls tests/gpu/*.cpp tools/model_gpu_test.cpp tests/support/gpu_test.h)
backup="$(mktemp -d)"
restore() {
  for f in "${sources[@]}"; do
    # Put back what differs, with a new time: the objects built from the rewritten sources are
    # newer than the originals' times, and ninja must build them again.
    cmp -s "$backup/$f" "$f" || cp "$backup/$f" "$f"
  done
  rm -rf "$backup"
}
for f in "${sources[@]}"; do
  mkdir -p "$backup/$(dirname "$f")"
  cp -p "$f" "$backup/$f"
done
trap restore EXIT

sed -i 's/Device::cuda(0)/Device::cpu()/g' tests/gpu/*.cpp tools/model_gpu_test.cpp
sed -i "s/$(printf '%s' "$SKIP_LINE" | sed 's/[][\\/.*^$]/\\&/g')/(void)0;/" tests/support/gpu_test.h
grep -q '(void)0;' tests/support/gpu_test.h || {
  echo "gpu-tests-on-cpu: could not rewrite tests/support/gpu_test.h's skip line" >&2
  exit 2
}

ninja -C "$BUILD" tests/neurona_gpu_tests tools/model_gpu_tests
log="$(mktemp)"
status=0
for exe in "$BUILD/tests/neurona_gpu_tests" "$BUILD/tools/model_gpu_tests"; do
  part="$(mktemp)"
  "$exe" > "$part" 2>&1 || true  # failing tests exit non-zero: read below
  cat "$part" >> "$log"
  # gtest's closing "[==========] N tests from M test suites ran.": a program without it stopped
  # early (a crash), and the tests after the one that crashed never ran.
  if ! grep -q '^\[==========\] .* ran\.' "$part"; then
    echo "$(basename "$exe") stopped before gtest's end (a crash?); the last lines:"
    tail -n 15 "$part" | sed 's/^/  /'
    status=1
  fi
  rm -f "$part"
done
restore
trap - EXIT

# gtest's "[  FAILED  ] Suite.Name" lines (not its "[  FAILED  ] 3 tests, listed below").
failed="$(sed -n 's/^\[  FAILED  \] \([A-Za-z][^ ,]*\).*/\1/p' "$log" | sort -u)"
expected="$(grep -v '^#' "$EXPECTED" | sed '/^$/d' | sort -u)"
unexpected="$(comm -23 <(echo "$failed") <(echo "$expected") | sed '/^$/d')"
stale="$(comm -13 <(echo "$failed") <(echo "$expected") | sed '/^$/d')"
echo "gpu-tests-on-cpu: $(echo "$failed" | sed '/^$/d' | wc -l) failed ($(echo "$expected" | wc -l) expected), full log: $log"
if [[ -n "$unexpected" ]]; then
  echo "failed, not expected (a test that cannot pass?):"
  echo "$unexpected" | sed 's/^/  /'
  grep -A12 -F -f <(echo "$unexpected" | sed 's/^/[ RUN      ] /') "$log" | head -80 || true
  status=1
fi
if [[ -n "$stale" ]]; then
  echo "expected to fail here but did not (update $EXPECTED):"
  echo "$stale" | sed 's/^/  /'
  status=1
fi
((status == 0)) && echo "ok: every other GPU test passes with the CPU standing in"
# Build the restored sources again, so that build/ holds the real GPU tests afterwards.
ninja -C "$BUILD" tests/neurona_gpu_tests tools/model_gpu_tests > /dev/null || {
  echo "gpu-tests-on-cpu: rebuilding the real GPU tests failed: $BUILD's GPU test programs are" \
    "the rewritten ones until the next build" >&2
  status=1
}
exit "$status"
