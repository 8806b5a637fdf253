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
# ccache (when CMake finds it): paths inside this checkout are hashed relative to it, and the
# working directory is left out of debug builds' hashes, so that a clean clone anywhere (CI's)
# reuses the objects another checkout compiled. The tests' absolute paths live in one file
# (tests/support/paths.cpp) for the same reason.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"
