# Sourced by the scripts: puts nvcc on PATH where the CUDA toolkit is installed but not on
# PATH, so that CMake finds it and builds the CUDA backend.
if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
JOBS="${JOBS:-$(nproc)}"
# OpenMP threads that finish a parallel region sleep instead of spinning: neurona opens many
# short regions (one per op), and spinning threads steal the cores that the next op, or a
# second test process (ctest -j), needs. Measured on the 2-core machine with other work
# running: the MLP's training step 51-81 ms spinning, 5 ms passive. Set it yourself to override.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
