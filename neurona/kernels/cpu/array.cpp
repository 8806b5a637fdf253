// CPU kernels for concat (2-D strided copies), gather and one_hot.
#include <cstring>

#include "neurona/kernels/array_stubs.h"
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/math/impl.h"

namespace neurona::kernels::cpu {

namespace {

void copy2d(Device, void* dst, std::int64_t dpitch, const void* src, std::int64_t spitch,
            std::int64_t width, std::int64_t height) {
  if (width == 0) return;
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
#pragma omp parallel for schedule(static) if (width * height >= kParallelGrain * 8)
  for (std::int64_t r = 0; r < height; ++r) {
    std::memcpy(d + r * dpitch, s + r * spitch, static_cast<std::size_t>(width));
  }
}

void gather(const Tensor& x, const Tensor& indices, Tensor& out) {
  // The CPU reports bad indices (the GPU cannot without a synchronisation, so it writes 0).
  const std::int64_t rows = x.shape().dims()[0];
  visit_dtype(indices.dtype(), [&](auto it) {
    using I = std::decay_t<decltype(it)>;
    const I* idx = indices.data<I>();
    for (std::int64_t i = 0; i < indices.numel(); ++i) {
      const auto v = static_cast<std::int64_t>(idx[i]);
      NEURONA_CHECK(v >= 0 && v < rows, ValueError, "gather: indices[", i, "] = ", v,
                    " is out of range for params of shape ", x.shape(), " (valid: 0 to ", rows - 1,
                    ")");
    }
  });
  // Whole rows, one memcpy each (the indices are checked above).
  if (out.numel() == 0) return;
  const auto row_bytes = static_cast<std::int64_t>(x.nbytes()) / rows;
  const auto* src = static_cast<const char*>(x.raw_data());
  auto* dst = static_cast<char*>(out.raw_data());
  visit_dtype(indices.dtype(), [&](auto it) {
    using I = std::decay_t<decltype(it)>;
    if constexpr (std::is_integral_v<I>) {
      const I* idx = indices.data<I>();
      const std::int64_t n = indices.numel();
#pragma omp parallel for schedule(static) if (n * row_bytes >= kParallelGrain * 8)
      for (std::int64_t i = 0; i < n; ++i) {
        std::memcpy(dst + i * row_bytes, src + static_cast<std::int64_t>(idx[i]) * row_bytes,
                    static_cast<std::size_t>(row_bytes));
      }
    }
  });
}

template <typename T>
void scatter_add_typed(const Tensor& indices, const Tensor& updates, Tensor& out, std::int64_t rows,
                       std::int64_t row_size) {
  visit_dtype(indices.dtype(), [&](auto it) {
    using I = std::decay_t<decltype(it)>;
    if constexpr (std::is_integral_v<I>) {
      const I* idx = indices.data<I>();
      for (std::int64_t i = 0; i < indices.numel(); ++i) {
        const auto v = static_cast<std::int64_t>(idx[i]);
        NEURONA_CHECK(v >= 0 && v < rows, ValueError, "scatter_add_rows: indices[", i, "] = ", v,
                      " is out of range for ", rows, " rows");
      }
      const T* u = updates.data<T>();
      T* o = out.data<T>();
      // Threads own columns, so rows hit twice never race.
#pragma omp parallel for schedule(static) if (row_size * indices.numel() >= kParallelGrain)
      for (std::int64_t c = 0; c < row_size; ++c) {
        for (std::int64_t i = 0; i < indices.numel(); ++i) {
          o[static_cast<std::int64_t>(idx[i]) * row_size + c] += u[i * row_size + c];
        }
      }
    }
  });
}

void scatter_add(const Tensor& indices, const Tensor& updates, Tensor& out) {
  const std::int64_t rows = out.shape()[0];
  const std::int64_t row_size = out.numel() / rows;
  // float32 and float64 (the front door sums 16-bit updates in float32).
  visit_dtype(updates.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    if constexpr (std::is_floating_point_v<T>) {
      scatter_add_typed<T>(indices, updates, out, rows, row_size);
    }
  });
}

void one_hot(const Tensor& indices, double on, double off, Tensor& out) {
  one_hot_impl(Launch{}, indices, on, off, out);
}

}  // namespace

void register_array() {
  copy2d_stub.cpu = copy2d;
  gather_stub.cpu = gather;
  scatter_add_stub.cpu = scatter_add;
  one_hot_stub.cpu = one_hot;
}

}  // namespace neurona::kernels::cpu
