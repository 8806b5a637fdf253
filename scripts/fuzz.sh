#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzzer.cpp) with clang, ASan and libFuzzer into
# build-fuzz/ (CPU only, optimized with debug info) and runs each on its seed corpus
# fuzz/corpus/<name>/ for FUZZ_SECONDS seconds (default 15; run for hours by hand:
# FUZZ_SECONDS=14400 scripts/fuzz.sh). New inputs go to build-fuzz/corpus/<name>/; a crash is
# written to build-fuzz/crashes/<name>/ and fails the script. `scripts/fuzz.sh NAME...` runs
# only the named fuzzers. Fuzzers named in FUZZ_CORPUS_ONLY (space-separated) only replay
# their corpus (libFuzzer's -runs=0): a regression check without new inputs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/env.sh
SECONDS_EACH="${FUZZ_SECONDS:-15}"
LAUNCHER=()
if command -v ccache >/dev/null 2>&1; then LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

echo "== fuzz build (clang, libFuzzer + ASan, CPU backend)"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ "${LAUNCHER[@]}" -DNEURONA_CUDA=OFF -DNEURONA_FUZZ=ON \
  -DNEURONA_BUILD_TESTS=OFF -DNEURONA_BUILD_BENCHMARKS=OFF -DNEURONA_BUILD_EXAMPLES=OFF >/dev/null
names=("$@")
if ((${#names[@]} == 0)); then
  for f in fuzz/*_fuzzer.cpp; do names+=("$(basename "$f" .cpp)"); done
fi
cmake --build build-fuzz -j "$JOBS" --target "${names[@]}"

status=0
for name in "${names[@]}"; do
  corpus="build-fuzz/corpus/$name"
  crashes="build-fuzz/crashes/$name"
  mkdir -p "$corpus" "$crashes"
  seeds=()
  if [[ -d "fuzz/corpus/$name" ]]; then seeds=("fuzz/corpus/$name"); fi
  limit=(-max_total_time="$SECONDS_EACH")
  if [[ " ${FUZZ_CORPUS_ONLY:-} " == *" $name "* ]]; then limit=(-runs=0); fi
  echo "== $name ${limit[*]}"
  # allocator_may_return_null: an absurd size read from a corrupt file makes malloc fail (as
  # glibc's does) rather than abort under ASan, so that the loader's handling of it is tested.
  if ! ASAN_OPTIONS=allocator_may_return_null=1 \
      "build-fuzz/fuzz/$name" "$corpus" "${seeds[@]}" "${limit[@]}" \
      -rss_limit_mb=4096 -timeout=30 -artifact_prefix="$crashes/" -print_final_stats=1 \
      2>"build-fuzz/$name.log"; then
    echo "$name: FAILED (see build-fuzz/$name.log and $crashes/)"
    tail -n 40 "build-fuzz/$name.log"
    status=1
  else
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" "build-fuzz/$name.log" || true
  fi
done
exit $status
