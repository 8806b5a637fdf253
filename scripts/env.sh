# Sourced by the scripts: puts nvcc on PATH where the CUDA toolkit is installed but not on
# PATH, so that CMake finds it and builds the CUDA backend.
if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
JOBS="${JOBS:-$(nproc)}"
