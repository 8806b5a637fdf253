#!/usr/bin/env bash
# The one GPU check: builds neurona's tests and benchmarks for sm_90 (Hopper: H100/H200),
# runs every GPU test (`ctest -L gpu`), the CPU suite as a smoke test of the binaries, and the
# GPU benchmarks (bench_matmul; bench_ops_gpu: conv2d vs direct cuDNN, add, Adam, batch and
# layer normalization vs the copy bandwidth; the cnn at batch 1024 in float32 and
# mixed_bfloat16; the resnet's recipe with three seeds and its float32 / mixed_bfloat16
# epochs; neurona against PyTorch eager and torch.compile on the same GPU,
# benchmarks/compare_pytorch.py), each step bounded by what is left before the check's deadline
# (GPU_CHECK_SECONDS, 540 by default: the device tool stops a command at 600), then prints a
# table and, last, the few lines that matter. $OUT (default gpu-check-out/) gets env.txt,
# ctest-gpu.log, summary.txt and logs.tar.gz (the device tool returns at most 8 files).
#
# The GPU machine has the CUDA toolkit and cuDNN (inside Python packages) but none of the
# Debian libraries neurona builds against and no internet, so the work is split in two:
#   scripts/gpu-check.sh prepare   # here: build for sm_90 and pack two bundles (binaries + the
#                                  # OpenBLAS/gfortran/gomp they load): .gpu-bundle/ for run,
#                                  # .gpu-bundle-large/ for run-large
#   scripts/gpu-check.sh run       # there: unpack the bundle, find cuBLAS/cuDNN, run, report
#                                  # (carry [".gpu-bundle"])
#   scripts/gpu-check.sh run-large # there, a call of its own: ResNet-50 and GPT-2 small against
#                                  # PyTorch eager and torch.compile (benchmarks/compare_large.py;
#                                  # carry [".gpu-bundle-large"])
# With no argument: `run` when a bundle exists, else build here and run here (a machine that
# has both the build dependencies and a GPU). Before `prepare`, scripts/gpu-tests-on-cpu.sh runs
# the GPU tests here with the CPU standing in for the GPU: a test that cannot pass anywhere
# shows there, not in the GPU session's few minutes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE_DIR="$ROOT/.gpu-bundle"
BUNDLE="$BUNDLE_DIR/neurona-gpu.tar.xz"
LARGE_BUNDLE="$ROOT/.gpu-bundle-large/neurona-gpu.tar.xz"
BUILD="$ROOT/build-gpu"
OUT="${OUT:-$ROOT/gpu-check-out}"

# Copies into the stage $1 what a run on the GPU machine needs of the build tree: the CTest files
# (test lists with absolute paths, rewritten there), the executables named after $1 (stripped,
# in the build tree's layout), the shared libraries they load that the GPU machine lacks, and
# the paths and commit to rewrite and report.
stage_build() {
  local stage="$1" exe
  shift
  mkdir -p "$stage/build-gpu" "$stage/lib"
  (cd "$BUILD" && find . \( -name 'CTestTestfile.cmake' -o -name '*_include.cmake' \
      -o -name '*_tests.cmake' \) -exec cp --parents {} "$stage/build-gpu/" \;)
  for exe in "$@"; do
    [[ -f "$BUILD/$exe" ]] || continue
    mkdir -p "$stage/build-gpu/$(dirname "$exe")"
    strip -o "$stage/build-gpu/$exe" "$BUILD/$exe"
    # Shared libraries from this machine's Debian packages that the GPU machine lacks (OpenBLAS,
    # HDF5, libzip and what they pull in): everything the binary loads except the C/C++
    # runtime, which the GPU machine has, and the CUDA libraries, which come from its image.
    ldd "$BUILD/$exe" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' |
      grep -Ev '^(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|libcublas|libcublasLt|libcudnn[a-z_]*|libcudart)\.so' |
      while read -r name path; do cp -L "$path" "$stage/lib/$name"; done
  done
  # The paths the CTest files hold, rewritten on the GPU machine: the build tree, the source
  # tree (scripts that tests run with `cmake -P`) and this machine's cmake.
  echo "$BUILD" > "$stage/build-dir.txt"
  echo "$ROOT" > "$stage/source-dir.txt"
  sed -n 's/^CMAKE_COMMAND:INTERNAL=//p' "$BUILD/CMakeCache.txt" > "$stage/cmake-command.txt"
  # The source the binaries were built from (the GPU machine's copy of the tree has no history).
  local commit
  commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]]; then
    commit="$commit (plus uncommitted changes)"
  fi
  echo "$commit" > "$stage/commit.txt"
  # The charlm's default text (Debian's fortunes, 2.6 MB; the .dat indexes are not read).
  if [[ -d /usr/share/games/fortunes ]]; then
    mkdir -p "$stage/fortunes"
    find /usr/share/games/fortunes -maxdepth 1 -type f ! -name '*.dat' -exec cp {} "$stage/fortunes/" \;
  fi
}

# Packs the stage $1 into the bundle $2 if it fits what the device tool carries (64 MiB: the
# bundle and the working tree together, one bundle a call); returns 1, leaving nothing, if not.
pack_bundle() {
  local stage="$1" bundle="$2" tree_bytes limit
  tree_bytes="$(cd "$ROOT" && git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -n 1 | cut -f1)"
  limit=$((63 * 1024 * 1024 - tree_bytes))
  mkdir -p "$(dirname "$bundle")"
  XZ_OPT=-9e tar -C "$stage" -cJf "$bundle.tmp" .
  if (($(stat -c %s "$bundle.tmp") > limit)); then
    echo "gpu-check: $(basename "$bundle") is $(stat -c %s "$bundle.tmp") bytes, over the" \
      "$limit that the device tool carries beside the working tree ($tree_bytes bytes)" >&2
    rm -f "$bundle.tmp"
    return 1
  fi
  mv "$bundle.tmp" "$bundle"
  echo "gpu-check: bundle ready: $bundle ($(du -h "$bundle" | cut -f1))"
}

prepare() {
  # Without oneDNN: its library (38 MiB) would crowd the data set out of the 64 MiB the device
  # tool carries, and the GPU machine checks the GPU paths (CPU convs there use im2col). Without
  # MPI: the GPU machine has no mpirun, and Open MPI's libraries take room too (NCCL does not
  # need it: the GPU tests' jobs of one carry its id through self_communicator()).
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEURONA_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DNEURONA_BUILD_TESTS=ON -DNEURONA_BUILD_BENCHMARKS=ON \
    -DNEURONA_ONEDNN=OFF -DNEURONA_MPI=OFF
  cmake --build "$BUILD" -j "${JOBS:-2}"
  # Two bundles, one a call: `run`'s (the test suites, the benchmarks, the cnn and resnet runs
  # with Fashion-MNIST) and `run-large`'s (neurona and the large models' step tests).
  local stage rc=0
  stage="$(mktemp -d)"
  stage_build "$stage" tests/neurona_tests tests/neurona_gpu_tests \
    tests/neurona_cuda_check_tests benchmarks/bench_matmul benchmarks/bench_train \
    benchmarks/bench_ops_gpu benchmarks/bench_pipeline examples/gradient_descent \
    examples/seed_walkthrough examples/fashion_mnist examples/functional_api \
    tests/backup_fit_child tools/neurona tools/charlm_tests
  # The main job's data (the GPU machine has no Debian data sets and no internet), unpacked: xz
  # packs the raw images 4 MB smaller than their gzip files; setup_run gzips them again.
  if [[ -d /usr/share/datasets/fashion-mnist ]]; then
    mkdir -p "$stage/fashion-mnist"
    for gz in /usr/share/datasets/fashion-mnist/*.gz; do
      gzip -dc "$gz" > "$stage/fashion-mnist/$(basename "$gz" .gz)"
    done
  fi
  # Without room, leave out first the CPU suite's binary (only a smoke test there: run() then
  # says it was not bundled), then the data set (the training runs are then reported as not
  # run), never the GPU tests or the benchmarks.
  if ! pack_bundle "$stage" "$BUNDLE"; then
    echo "gpu-check: packing it without the CPU suite's binary" >&2
    rm -f "$stage/build-gpu/tests/neurona_tests"
    if ! pack_bundle "$stage" "$BUNDLE"; then
      echo "gpu-check: packing it without Fashion-MNIST" >&2
      rm -rf "$stage/fashion-mnist"
      pack_bundle "$stage" "$BUNDLE" || rc=1
    fi
  fi
  rm -rf "$stage"
  stage="$(mktemp -d)"
  stage_build "$stage" tools/neurona tools/model_gpu_tests
  pack_bundle "$stage" "$LARGE_BUNDLE" || rc=1
  rm -rf "$stage"
  return $rc
}

# Directories holding the CUDA libraries the binaries load (cuBLAS, cuDNN).
find_cuda_libs() {
  local roots=(/usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu /opt /usr/local/lib)
  if command -v python3 >/dev/null; then
    mapfile -t -O "${#roots[@]}" roots < <(python3 -c \
      'import site; print("\n".join(site.getsitepackages()))' 2>/dev/null || true)
  fi
  local dirs=""
  for name in libcublas.so.13 libcublasLt.so.13 libcudnn.so.9; do
    local hit
    hit="$(find "${roots[@]}" -name "$name" 2>/dev/null | head -n 1 || true)"
    if [[ -z "$hit" ]]; then
      echo "gpu-check: $name not found under ${roots[*]}" >&2
      return 1
    fi
    dirs="$dirs:$(dirname "$hit")"
  done
  # NCCL (neurona loads it at run time, for the distribution tests): optional, as the tests
  # that need it report themselves skipped without it.
  local nccl
  nccl="$(find "${roots[@]}" -name libnccl.so.2 2>/dev/null | head -n 1 || true)"
  if [[ -n "$nccl" ]]; then dirs="$dirs:$(dirname "$nccl")"; fi
  echo "${dirs#:}"
}

# Replaces the path $2 by $3 in the CTest files under the build tree $1.
rewrite_paths() {
  local dir="$1" from to
  shift
  from="$(printf '%s' "$1" | sed 's/[][\.*^$#]/\\&/g')"
  to="$(printf '%s' "$2" | sed 's/[\&#]/\\&/g')"
  if [[ -n "$from" ]]; then find "$dir" -name '*.cmake' -exec sed -i "s#$from#$to#g" {} +; fi
}

# What both runs do first: unpacks the bundle (where there is one) with its paths rewritten for
# this machine, points the loader at its libraries and at the image's cuBLAS and cuDNN, and
# writes $OUT/env.txt. Sets WORK (the unpacked bundle), RUN_BUILD (the build tree to run) and
# TORCH_LD_PATH (the library path PyTorch's children keep: the bundle's OpenBLAS and the cuDNN
# found here are for neurona's binaries only).
setup_run() {
  TORCH_LD_PATH="${LD_LIBRARY_PATH:-}"
  if [[ -d /usr/local/cuda/bin ]]; then export PATH="$PATH:/usr/local/cuda/bin"; fi
  mkdir -p "$OUT"
  WORK="$ROOT/.gpu-run"
  RUN_BUILD="$BUILD"
  local work="$WORK" build="$BUILD"
  if [[ -f "$BUNDLE" ]]; then
    rm -rf "$work" && mkdir -p "$work"
    tar -C "$work" -xJf "$BUNDLE"
    if [[ -d "$work/fashion-mnist" ]]; then gzip -1 "$work"/fashion-mnist/*-ubyte; fi
    build="$work/build-gpu"
    rewrite_paths "$build" "$(cat "$work/build-dir.txt")" "$build"
    rewrite_paths "$build" "$(cat "$work/source-dir.txt")" "$ROOT"
    local cmake_here
    cmake_here="$(command -v cmake || true)"
    if [[ -n "$cmake_here" ]]; then
      rewrite_paths "$build" "$(cat "$work/cmake-command.txt")" "$cmake_here"
    fi
    local cuda_libs
    if ! cuda_libs="$(find_cuda_libs)"; then
      echo "gpu-check: cuBLAS or cuDNN not found on this machine: nothing can run" >&2
      exit 1
    fi
    export LD_LIBRARY_PATH="$work/lib:$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # The tests' reference files in this copy of the tree, not the build machine's path, and the
    # BackupAndRestore kill test's child in the bundle.
    export NEURONA_TEST_REFERENCE_DIR="$ROOT/tests/reference"
    export NEURONA_BACKUP_FIT_CHILD="$build/tests/backup_fit_child"
  fi
  {
    echo "date: $(date -u +%FT%TZ)"
    if [[ -f "$ROOT/.gpu-run/commit.txt" && -f "$BUNDLE" ]]; then
      echo "commit: $(cat "$ROOT/.gpu-run/commit.txt") (bundle)"
    else
      echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    fi
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || true
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    ldd "$build/tests/neurona_gpu_tests" 2>&1 | grep -E 'cublas|cudnn|openblas|not found' || true
  } > "$OUT/env.txt"
  RUN_BUILD="$build"
}

# Seconds a step may take: at most $1, and no more than what is left before the check's deadline
# (GPU_CHECK_SECONDS after its start, 540 by default: the device tool stops a command at 600).
# 0 when less than 20 s are left: the step is then reported as not run.
budget() {
  local left=$((DEADLINE - SECONDS))
  if ((left < 20)); then echo 0; elif ((left < $1)); then echo "$left"; else echo "$1"; fi
}

run() {
  local t0=$SECONDS
  DEADLINE=$((SECONDS + ${GPU_CHECK_SECONDS:-540}))
  setup_run
  local work="$WORK" build="$RUN_BUILD" torch_ld_path="$TORCH_LD_PATH"
  # The device tool brings back at most 8 files of $OUT: env.txt, ctest-gpu.log and summary.txt
  # there, every other log in logs.tar.gz (written at the end).
  local logs="$ROOT/.gpu-logs"
  rm -rf "$logs" && mkdir -p "$logs"

  # Tests that need Fashion-MNIST (label "data") read the bundle's copy, or are left out where
  # the bundle has none; tests of the installed package (label "install") need the build
  # machine's compilers and are always left out, as are the multi-process ones (label "mpi": no
  # mpirun there; the bundle is built without MPI). The summary says what was left out.
  local left_out="gpu|install|mpi"
  local left_out_why="install: needs the build machine's toolchain; mpi: no mpirun"
  if [[ -d "$work/fashion-mnist" && -f "$BUNDLE" ]]; then
    export NEURONA_FASHION_MNIST_DIR="$work/fashion-mnist"
  elif [[ -f "$BUNDLE" || ! -d /usr/share/datasets/fashion-mnist ]]; then
    left_out="$left_out|data"
    left_out_why="$left_out_why; data: no Fashion-MNIST here"
  fi
  local gpu_rc=0 all_rc=0 bench_rc=0 ops_rc=0 train_rc=0 t
  # GpuLargeModels (ResNet-50 and GPT-2 at reduced size) are run-large's. First: what decides
  # correctness. 60 s a test: none took 2 s on 2026-12-04, and a hung kernel must not eat the
  # check.
  ctest --test-dir "$build" -L gpu -E GpuLargeModels --output-on-failure --timeout 60 \
    > "$OUT/ctest-gpu.log" 2>&1 || gpu_rc=$?
  # A broken driver makes every GPU test skip itself: that is no pass.
  local gpu_skipped gpu_total
  gpu_skipped="$(grep -c '\*\*\*Skipped' "$OUT/ctest-gpu.log" || true)"
  gpu_total="$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$OUT/ctest-gpu.log" | tail -n 1)"
  t="$(budget 60)"
  if ((t > 0)); then
    timeout "$t" "$build/benchmarks/bench_matmul" --device cuda \
      --sizes 128,256,512,1024,2048,4096,8192 > "$logs/bench_matmul.txt" 2>&1 || bench_rc=$?
  else
    echo "not run (out of time)" > "$logs/bench_matmul.txt"
  fi
  t="$(budget 60)"
  if ((t > 0)); then
    timeout "$t" "$build/benchmarks/bench_matmul" --device cuda --dtype bfloat16 \
      --sizes 256,512,1024,2048,4096,8192 > "$logs/bench_matmul_bf16.txt" 2>&1 || bench_rc=$?
  else
    echo "not run (out of time)" > "$logs/bench_matmul_bf16.txt"
  fi
  # Conv2D (the cnn's two layers, a ResNet 3x3 layer) against direct cuDNN, add, Adam, batch and
  # layer normalization against the copy bandwidth, the attention kernel.
  t="$(budget 180)"
  if ((t > 0)); then
    timeout "$t" "$build/benchmarks/bench_ops_gpu" > "$logs/bench_ops_gpu.txt" 2>&1 || ops_rc=$?
  else
    echo "not run (out of time)" > "$logs/bench_ops_gpu.txt"
  fi
  # The fused attention's rows against PyTorch's scaled_dot_product_attention on the same shapes
  # (a measurement: it decides nothing).
  local attention_rc=0
  t="$(budget 120)"
  if ((t > 0)); then
    LD_LIBRARY_PATH="$torch_ld_path" timeout "$t" python3 -u \
      "$ROOT/benchmarks/compare_attention.py" --ops-from "$logs/bench_ops_gpu.txt" \
      > "$logs/compare_attention.txt" 2>&1 || attention_rc=$?
  else
    echo "not run (out of time)" > "$logs/compare_attention.txt"
  fi
  # The main job on the GPU: the notebook's CNN on Fashion-MNIST.
  t="$(budget 120)"
  if [[ -x "$build/tools/neurona" && -d "$work/fashion-mnist" ]] && ((t > 0)); then
    NEURONA_FASHION_MNIST_DIR="$work/fashion-mnist" timeout "$t" "$build/tools/neurona" train \
      --model cnn --epochs "${GPU_TRAIN_EPOCHS:-10}" --device cuda --verbose 2 \
      --out "$logs/train-cnn" > "$logs/train-cnn.log" 2>&1 || train_rc=$?
  else
    echo "not run (no neurona binary, no data in the bundle, or out of time)" \
      > "$logs/train-cnn.log"
  fi
  # Mixed precision: the cnn at batch 1024, float32 against mixed_bfloat16 (the issue's 1.5x
  # throughput target), one run each with its epoch times and test accuracy.
  local mixed_rc=0 policy
  if [[ -x "$build/tools/neurona" && -d "$work/fashion-mnist" ]]; then
    for policy in float32 mixed_bfloat16; do
      echo "== --dtype-policy $policy"
      t="$(budget 60)"
      if ((t == 0)); then echo "not run (out of time)"; continue; fi
      NEURONA_FASHION_MNIST_DIR="$work/fashion-mnist" timeout "$t" "$build/tools/neurona" bench \
        --model cnn --batch-size 1024 --epochs 5 --device cuda --dtype-policy "$policy" \
        2>&1 || mixed_rc=$?
    done > "$logs/bench-mixed.txt"
  else
    echo "not run (no neurona binary or no data in the bundle)" > "$logs/bench-mixed.txt"
  fi
  # The resnet (ResNet-20 on Fashion-MNIST padded to 32x32, issue 18): the recipe of `neurona
  # train --model resnet` with three seeds (the target: 93.5% test accuracy, their mean), then
  # `neurona bench` of it in float32 and mixed_bfloat16. Weights and curves stay on the machine.
  local resnet_rc=0 seed
  if [[ -x "$build/tools/neurona" && -d "$work/fashion-mnist" ]]; then
    for seed in 1 2 3; do
      echo "== neurona train --model resnet --seed $seed"
      t="$(budget 90)"
      if ((t == 0)); then echo "not run (out of time)"; resnet_rc=1; continue; fi
      NEURONA_FASHION_MNIST_DIR="$work/fashion-mnist" timeout "$t" "$build/tools/neurona" train \
        --model resnet --epochs "${GPU_RESNET_EPOCHS:-20}" --seed "$seed" --device cuda \
        --verbose 2 --out "$work/train-resnet-$seed" 2>&1 | grep -vE '[│┃┏┗┡└├]' \
        || resnet_rc=1
    done > "$logs/train-resnet.log"
    for policy in float32 mixed_bfloat16; do
      echo "== neurona bench --model resnet --dtype-policy $policy"
      t="$(budget 45)"
      if ((t == 0)); then echo "not run (out of time)"; continue; fi
      NEURONA_FASHION_MNIST_DIR="$work/fashion-mnist" timeout "$t" "$build/tools/neurona" bench \
        --model resnet --epochs 3 --device cuda --dtype-policy "$policy" 2>&1 || resnet_rc=$?
    done >> "$logs/train-resnet.log"
    grep -q 'Test loss' "$logs/train-resnet.log" || resnet_rc=1
  else
    echo "not run (no neurona binary or no data in the bundle)" > "$logs/train-resnet.log"
  fi
  # The charlm (issue 19): the default 4-layer transformer on the fortunes text, 3 short epochs
  # of 200 random batches; the README's GPU figure (validation bits per character after N
  # seconds). A measurement: it does not decide the exit status.
  local charlm_rc=0
  t="$(budget 120)"
  if [[ -x "$build/tools/neurona" && -d "$work/fortunes" ]] && ((t > 0)); then
    timeout "$t" "$build/tools/neurona" train --model charlm --text "$work/fortunes" --epochs 3 \
      --steps-per-epoch 200 --device cuda --verbose 2 --out "$work/train-charlm" \
      > "$logs/train-charlm.log" 2>&1 || charlm_rc=$?
  else
    echo "not run (no neurona binary, no text in the bundle, or out of time)" \
      > "$logs/train-charlm.log"
  fi
  # The input pipeline (issue 20): the cnn's epoch fed by a Dataset prefetched to the GPU against
  # the device-resident tensors (target: within 5%), and the augmenting pipeline's images per
  # second on this machine's cores. A measurement: it does not decide the exit status.
  local input
  if [[ -x "$build/benchmarks/bench_train" && -d "$work/fashion-mnist" ]]; then
    for input in "" --dataset; do
      echo "== bench_train --model cnn --epochs 3 $input"
      t="$(budget 60)"
      if ((t == 0)); then echo "not run (out of time)"; continue; fi
      timeout "$t" "$build/benchmarks/bench_train" --model cnn --epochs 3 --device cuda \
        --data-dir "$work/fashion-mnist" $input > "$logs/bench_train.tmp" 2>&1 ||
        echo "(exit $?)"
      tail -n 2 "$logs/bench_train.tmp"
    done > "$logs/pipeline.log"
    rm -f "$logs/bench_train.tmp"
  else
    echo "not run (no bench_train binary or no data in the bundle)" > "$logs/pipeline.log"
  fi
  t="$(budget 60)"
  if [[ -x "$build/benchmarks/bench_pipeline" ]] && ((t > 0)); then
    timeout "$t" "$build/benchmarks/bench_pipeline" --workers 1 2 8 >> "$logs/pipeline.log" 2>&1 ||
      true
  fi
  # neurona against PyTorch eager and torch.compile on this GPU, in what is left before the
  # deadline less 150 s for the CPU suite and the memory check that follow: neurona and eager
  # first, torch.compile last; a run the budget cuts off says so in the table. It reuses
  # bench_matmul's and bench_ops_gpu's output from above. A measurement, not a check: it does not
  # decide the exit status.
  local compare_rc=0 data=""
  if [[ -d "$work/fashion-mnist" && -f "$BUNDLE" ]]; then
    data="$work/fashion-mnist"
  elif [[ -d /usr/share/datasets/fashion-mnist ]]; then
    data=/usr/share/datasets/fashion-mnist
  fi
  local left=$((DEADLINE - SECONDS - 150))
  if [[ -z "$data" || ! -x "$build/benchmarks/bench_train" ]]; then
    echo "not run (no bench_train binary or no data in the bundle)" > "$logs/compare_pytorch.txt"
  elif ! command -v python3 >/dev/null; then
    echo "not run (no python3)" > "$logs/compare_pytorch.txt"
  elif ((left < 60)); then
    echo "not run (${left} s left before the check's deadline less 150 s)" \
      > "$logs/compare_pytorch.txt"
  else
    local nr_ld_path="${LD_LIBRARY_PATH:-}"
    LD_LIBRARY_PATH="$torch_ld_path" timeout -k 5 $((left + 10)) python3 -u \
      "$ROOT/benchmarks/compare_pytorch.py" --device cuda --build "$build" --data-dir "$data" \
      --epochs "${GPU_COMPARE_EPOCHS:-5}" --time-budget "$left" \
      --models "${GPU_COMPARE_MODELS:-mlp,cnn,resnet,resnet:mixed_bfloat16}" \
      --matmul-from "$logs/bench_matmul.txt" --ops-from "$logs/bench_ops_gpu.txt" \
      --neurona-ld-library-path "$nr_ld_path" > "$logs/compare_pytorch.txt" 2>&1 \
      || compare_rc=$?
  fi

  # The CPU suite as a smoke test of the bundled binaries, then the memory check, each in half
  # of what is left (a suite cut off by the deadline is reported as such, not as failed).
  local cpu_state="not run"
  left=$((DEADLINE - SECONDS))
  if [[ ! -x "$build/tests/neurona_tests" ]]; then
    echo "not run: the bundle has no neurona_tests (left out for room by prepare)" \
      > "$logs/ctest-cpu.log"
  elif ((left < 40)); then
    echo "not run (out of time)" > "$logs/ctest-cpu.log"
  else
    timeout $((left / 2)) ctest --test-dir "$build" -LE "$left_out" -j 8 \
      --output-on-failure > "$logs/ctest-cpu.log" 2>&1 || all_rc=$?
    case $all_rc in
      0) cpu_state="passed" ;;
      124) cpu_state="cut off by the deadline"; all_rc=0 ;;
      *) cpu_state="FAILED" ;;
    esac
  fi
  # Out-of-bounds and misaligned accesses in the kernels, where compute-sanitizer works. Only
  # memory errors fail it (exit 3); a test that fails under it is the GPU tests' concern.
  local memcheck="not run (no compute-sanitizer or out of time)" mc_rc=0 mc_summary
  left=$((DEADLINE - SECONDS))
  if command -v compute-sanitizer >/dev/null && ((left >= 30)); then
    NEURONA_DEVICE=cpu timeout $((left - 10)) compute-sanitizer --tool memcheck \
      --report-api-errors no --error-exitcode 3 "$build/tests/neurona_gpu_tests" \
      > "$logs/memcheck.log" 2>&1 || mc_rc=$?
    case $mc_rc in
      0) memcheck="clean" ;;
      3) memcheck="FAILED: memory errors" ;;
      124) memcheck="cut off by the deadline" ;;
      *) memcheck="ran (exit $mc_rc: a test failed under it)" ;;
    esac
    mc_summary="$(grep -E 'ERROR SUMMARY' "$logs/memcheck.log" | tail -n 1 || true)"
    memcheck="$memcheck; ${mc_summary:-no ERROR SUMMARY line}"
  fi

  {
    echo "== gpu-check summary =="
    head -n 3 "$OUT/env.txt"
    echo "-- ctest -L gpu (rc=$gpu_rc, $gpu_skipped skipped):"
    grep -E 'tests passed|tests failed' "$OUT/ctest-gpu.log" || tail -n 5 "$OUT/ctest-gpu.log"
    grep -E '\*\*\*(Failed|Skipped|Exception|Timeout)' "$OUT/ctest-gpu.log" | head -n 20 || true
    echo "-- ctest CPU suite on this machine ($cpu_state, rc=$all_rc; left out: $left_out_why):"
    grep -E 'tests passed|tests failed' "$logs/ctest-cpu.log" || tail -n 5 "$logs/ctest-cpu.log"
    grep -E '\*\*\*(Failed|Exception|Timeout)' "$logs/ctest-cpu.log" | head -n 10 || true
    echo "-- compute-sanitizer memcheck of the GPU tests: $memcheck"
    echo "-- neurona train --model cnn --device cuda (rc=$train_rc):"
    grep -E 'Epoch|step -|Test loss' "$logs/train-cnn.log" | tail -n 22 ||
      tail -n 5 "$logs/train-cnn.log"
    echo "-- neurona bench --model cnn --batch-size 1024, float32 then mixed_bfloat16" \
      "(rc=$mixed_rc):"
    grep -vE '^(\{|\[)' "$logs/bench-mixed.txt" | tail -n 20 || true
    echo "-- neurona train --model resnet, seeds 1-3, then bench float32 / mixed_bfloat16" \
      "(rc=$resnet_rc):"
    grep -E '^==|Epoch 1/|Test loss|median epoch|not run' "$logs/train-resnet.log" |
      cut -c1-200 | head -n 30 || true
    grep -E 'Test loss' "$logs/train-resnet.log" |
      awk '{s += $NF; n++} END {if (n) printf "   mean test accuracy over %d seeds: %.4f\n", n, s / n}' ||
      true
    echo "-- bench_matmul --device cuda (rc=$bench_rc):"
    tail -n 13 "$logs/bench_matmul.txt" || true
    echo "-- bench_matmul --device cuda --dtype bfloat16:"
    tail -n 12 "$logs/bench_matmul_bf16.txt" || true
    echo "-- bench_ops_gpu (rc=$ops_rc):"
    grep -v '^{' "$logs/bench_ops_gpu.txt" | head -n 125 || true
    echo "-- compare_attention.py: attention vs torch scaled_dot_product_attention" \
      "(rc=$attention_rc):"
    grep -v '^{' "$logs/compare_attention.txt" | head -n 45 || true
    echo "-- neurona train --model charlm --device cuda, 3 epochs of 200 steps (rc=$charlm_rc):"
    grep -E 'Epoch|bpc|Error|error|not run' "$logs/train-charlm.log" | cut -c1-200 |
      tail -n 12 || true
    echo "-- the input pipeline (bench_train resident / --dataset, bench_pipeline):"
    grep -vE '^\{' "$logs/pipeline.log" | tail -n 12 || true
    echo "-- compare_pytorch.py --device cuda --epochs ${GPU_COMPARE_EPOCHS:-5} (rc=$compare_rc;" \
      "children's stderr and the JSON line in compare_pytorch.txt):"
    grep -vE '^(\{|\[)' "$logs/compare_pytorch.txt" | tail -n 60 || true
  } > "$OUT/summary.txt"
  # Exit 0 means everything that ran passed: the GPU tests (not all skipped), the CPU suite
  # (less what the summary says was left out), the benchmarks and the training run ran without
  # error, and the memory check found nothing. The comparison with PyTorch is a measurement and
  # decides nothing.
  local failed=()
  ((gpu_rc == 0)) || failed+=("GPU tests")
  ((${gpu_total:-0} == 0 || gpu_skipped < gpu_total)) ||
    failed+=("every GPU test skipped itself (no usable GPU?)")
  ((all_rc == 0)) || failed+=("CPU suite")
  ((bench_rc == 0)) || failed+=("bench_matmul")
  ((ops_rc == 0)) || failed+=("bench_ops_gpu")
  ((train_rc == 0)) || failed+=("training run")
  ((mixed_rc == 0)) || failed+=("mixed precision bench")
  ((resnet_rc == 0)) || failed+=("resnet runs")
  [[ $memcheck != FAILED* ]] || failed+=("memcheck")
  local result="everything that ran passed"
  if ((${#failed[@]})); then result="FAILED (${failed[*]})"; fi
  echo "-- result: $result ($((SECONDS - t0)) s)" >> "$OUT/summary.txt"
  tar -C "$logs" -czf "$OUT/logs.tar.gz" . || true
  cat "$OUT/summary.txt"
  # The lines that matter again, last: the device tool returns the output's last 12,000
  # characters, and the summary can be longer.
  echo "== gpu-check, in short =="
  head -n 3 "$OUT/env.txt"
  grep -E 'tests passed|tests failed' "$OUT/ctest-gpu.log" || true
  echo "GPU tests skipped: $gpu_skipped; CPU suite: $cpu_state; memcheck: $memcheck"
  echo "result: $result; full logs in logs.tar.gz"
  ((${#failed[@]} == 0))
}

# Issue 21's comparison, a call of its own (at most 8 minutes): the float32 step of the reduced
# ResNet-50 and GPT-2 against the CPU (model_gpu_tests), GPT-2 small's configuration trained on
# the fortunes text for 300 steps, then neurona bench --model resnet50 / gpt2 against PyTorch
# eager and torch.compile on this GPU (benchmarks/compare_large.py), in
# GPU_LARGE_SECONDS (default 420) all told. The table is printed last and kept in
# $OUT/compare_large.txt.
run_large() {
  local t0=$SECONDS
  if [[ -f "$LARGE_BUNDLE" || ! -f "$BUNDLE" ]]; then BUNDLE="$LARGE_BUNDLE"; fi
  setup_run
  local build="$RUN_BUILD" test_rc=0 compare_rc=0
  ctest --test-dir "$build" -R GpuLargeModels --output-on-failure --timeout 120 \
    > "$OUT/ctest-large.log" 2>&1 || test_rc=$?
  # GPT-2 small's configuration learns: 3 epochs of 100 steps (16 x 1024 characters) of the
  # fortunes text, tied embeddings and tanh gelu, mixed_bfloat16; its loss should fall.
  local gpt_rc=0 text="$WORK/fortunes"
  if [[ ! -f "$BUNDLE" ]]; then text=/usr/share/games/fortunes; fi  # a build machine with a GPU
  if [[ -x "$build/tools/neurona" && -d "$text" ]]; then
    timeout 120 "$build/tools/neurona" train --model charlm --text "$text" \
      --layers 12 --heads 12 --width 768 --context 1024 --tie-embeddings --gelu-approximate \
      --batch-size 16 --epochs 3 --steps-per-epoch 100 --learning-rate 6e-4 \
      --dtype-policy mixed_bfloat16 --device cuda --verbose 2 --out "$WORK/train-gpt2-text" \
      > "$OUT/train-gpt2-text.log" 2>&1 || gpt_rc=$?
  else
    echo "not run (no neurona binary or no text in the bundle)" > "$OUT/train-gpt2-text.log"
  fi
  # GPT-2 small with each block rematerialized (--remat-blocks): throughput and peak memory
  # beside compare_large.py's plain mixed_bfloat16 run below.
  local remat_rc=0
  if [[ -x "$build/tools/neurona" ]]; then
    timeout 90 "$build/tools/neurona" bench --model gpt2 --remat-blocks --steps 10 --epochs 2 \
      --dtype-policy mixed_bfloat16 --device cuda > "$OUT/bench-gpt2-remat.log" 2>&1 ||
      remat_rc=$?
  fi
  local left=$((${GPU_LARGE_SECONDS:-420} - (SECONDS - t0)))
  local nr_ld_path="${LD_LIBRARY_PATH:-}"
  if ((left < 60)); then
    echo "not run (${left} s left of GPU_LARGE_SECONDS)" > "$OUT/compare_large.txt"
    compare_rc=1
  else
    LD_LIBRARY_PATH="$TORCH_LD_PATH" timeout -k 5 $((left + 10)) python3 -u \
      "$ROOT/benchmarks/compare_large.py" --device cuda --build "$build" --time-budget "$left" \
      --runs "${GPU_LARGE_RUNS:-resnet50:mixed_bfloat16,gpt2:mixed_bfloat16,resnet50:float32,gpt2:float32}" \
      --neurona-ld-library-path "$nr_ld_path" > "$OUT/compare_large.txt" 2>&1 || compare_rc=$?
  fi
  {
    echo "== gpu-check run-large summary =="
    cat "$OUT/env.txt"
    echo "-- reduced models, float32 step against the CPU (ctest -R GpuLargeModels): exit $test_rc"
    grep -E 'tests passed|Skipped|Failed' "$OUT/ctest-large.log" || true
    echo "-- GPT-2 small's sizes on the fortunes text, 3 epochs of 100 steps (rc=$gpt_rc):"
    grep -E 'Epoch|bpc|Error|error|^neurona:|^not run' "$OUT/train-gpt2-text.log" | cut -c1-200 |
      tail -n 8 || true
    echo "-- GPT-2 small, blocks rematerialized, mixed_bfloat16 (rc=$remat_rc):"
    grep -E '^gpt2|Error|error' "$OUT/bench-gpt2-remat.log" | cut -c1-300 || true
    echo "-- compare_large.py (exit $compare_rc, $((SECONDS - t0)) s in all):"
    grep -vE '^\{' "$OUT/compare_large.txt" | grep -vE '^\[' || true
  } > "$OUT/summary-large.txt"
  cat "$OUT/summary-large.txt"
  ((test_rc == 0 && gpt_rc == 0 && remat_rc == 0 && compare_rc == 0))
}

case "${1:-auto}" in
  prepare) prepare ;;
  run) run ;;
  run-large) run_large ;;
  auto)
    if [[ ! -f "$BUNDLE" ]]; then prepare; fi
    run
    ;;
  *) echo "usage: $0 [prepare|run|run-large]" >&2; exit 2 ;;
esac
