#!/usr/bin/env bash
# Installs the Debian packages neurona builds and tests with. Idempotent: when everything is
# present it installs nothing and does not touch the network. The CUDA toolkit is not a
# Debian package here: the CUDA backend is built when nvcc is found (PATH or /usr/local/cuda).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libopenblas-openmp-dev   # BLAS for the CPU backend (OpenMP flavour, shares our thread pool)
  libdnnl-dev              # oneDNN: CPU convolutions (OpenMP, the same libgomp as ours)
  ocl-icd-opencl-dev       # OpenCL headers and loader: Debian's oneDNN CMake config requires them
  opencl-c-headers
  libgtest-dev             # tests
  libcli11-dev             # command-line parsing of tools and benchmarks
  zlib1g-dev               # gzip-compressed IDX data sets
  libpng-dev               # PNG images (image_dataset_from_directory)
  libjpeg62-turbo-dev      # JPEG images (image_dataset_from_directory)
  libhdf5-dev              # Keras .weights.h5 files
  libzip-dev               # Keras .keras archives
  nlohmann-json3-dev       # Keras model configs (config.json)
  libopenmpi-dev           # data-parallel training across processes (neurona/distribution)
  openmpi-bin              # mpirun: launches those processes (and the distributed tests)
  libprotobuf-dev          # TensorBoard event files (protobuf-lite messages)
  protobuf-compiler        # protoc: generates those messages' C++ at build time
  gnuplot-nox              # curves.png from `neurona train`
  dataset-fashion-mnist    # the main job's data set
  fortunes                 # `neurona train --model charlm`'s default text (BSD licence)
  clang-format             # the format check in scripts/test.sh
  clang                    # libFuzzer targets (scripts/fuzz.sh)
  xz-utils                 # packing the GPU bundle (scripts/gpu-check.sh)
  ccache                   # compiler cache: CI's three builds reuse the objects of earlier runs
  python3                  # scripts/check_includes.py (the layers check the build runs)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "bootstrap: all packages present"
fi
