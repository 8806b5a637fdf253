// Direct cuDNN convolutions and the device's own copy bandwidth: the ceilings that neurona's GPU
// conv2d and its memory-bound kernels (elementwise, the fused optimizer update) are measured
// against by bench_ops_gpu.
//
// cuDNN's legacy descriptor API, as neurona's kernels/cuda/conv.cpp uses it: cuDNN 9 marks it
// deprecated but still ships it, and the warnings are silenced in this file alone.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "reference.h"
#include "reference_cuda.h"

namespace neurona::bench {

namespace {

using ::neurona::bench::check;  // with this file's own overload below

void check(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) {
    throw std::runtime_error(std::string(what) + ": " + cudnnGetErrorString(s));
  }
}

// A device allocation, freed when it goes out of scope.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    if (bytes_) check(cudaMalloc(&p_, bytes_), "cudaMalloc");
  }
  struct AtMost {};
  // Up to `bytes`, halved while the GPU has not that much free (possibly none).
  DeviceBuffer(std::size_t bytes, AtMost) : bytes_(bytes) {
    while (bytes_ > 0) {
      const cudaError_t e = cudaMalloc(&p_, bytes_);
      if (e == cudaSuccess) break;
      if (e != cudaErrorMemoryAllocation) check(e, "cudaMalloc");
      (void)cudaGetLastError();
      p_ = nullptr;
      bytes_ /= 2;
    }
  }
  ~DeviceBuffer() {
    if (p_) (void)cudaFree(p_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return p_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
};

// The handle and descriptors of one problem, destroyed when they go out of scope.
struct Cudnn {
  cudnnHandle_t handle = nullptr;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Cudnn() {
    check(cudnnCreate(&handle), "cudnnCreate");
    check(cudnnCreateTensorDescriptor(&x), "cudnnCreateTensorDescriptor");
    check(cudnnCreateTensorDescriptor(&y), "cudnnCreateTensorDescriptor");
    check(cudnnCreateFilterDescriptor(&w), "cudnnCreateFilterDescriptor");
    check(cudnnCreateConvolutionDescriptor(&conv), "cudnnCreateConvolutionDescriptor");
  }
  ~Cudnn() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
    if (handle) cudnnDestroy(handle);
  }
  Cudnn(const Cudnn&) = delete;
  Cudnn& operator=(const Cudnn&) = delete;
};

// Seconds per call of f: `inner` calls between two device synchronisations make one timed
// region; one warm-up region, then the median of `reps`.
template <typename F>
double median_seconds(int reps, int inner, F&& f) {
  const auto region = [&] {
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < inner; ++i) f();
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / inner;
  };
  region();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) t.push_back(region());
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

const char* name(cudnnConvolutionFwdAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM:
      return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM:
      return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM:
      return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT:
      return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT:
      return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING:
      return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD:
      return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED:
      return "WINOGRAD_NONFUSED";
    default:
      return "?";
  }
}
const char* name(cudnnConvolutionBwdDataAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_0:
      return "ALGO_0";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_1:
      return "ALGO_1";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT:
      return "FFT";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING:
      return "FFT_TILING";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD:
      return "WINOGRAD";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED:
      return "WINOGRAD_NONFUSED";
    default:
      return "?";
  }
}
const char* name(cudnnConvolutionBwdFilterAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0:
      return "ALGO_0";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1:
      return "ALGO_1";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT:
      return "FFT";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3:
      return "ALGO_3";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD:
      return "WINOGRAD";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED:
      return "WINOGRAD_NONFUSED";
    case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING:
      return "FFT_TILING";
    default:
      return "?";
  }
}
const char* name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH:
      return "DEFAULT_MATH";
    case CUDNN_TENSOR_OP_MATH:
      return "TENSOR_OP_MATH";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION:
      return "TENSOR_OP_MATH_ALLOW_CONVERSION";
    case CUDNN_FMA_MATH:
      return "FMA_MATH";
    default:
      return "?";
  }
}

// The fastest result of a cudnnFind*Ex (its list is sorted by time) that succeeded within the
// workspace given, as neurona's first_usable() takes it (determinism aside: off here).
template <typename Perf>
const Perf& fastest(const Perf* perf, int count, std::size_t workspace, const char* what) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= workspace) return perf[i];
  }
  throw std::runtime_error(std::string("cuDNN found no algorithm for the ") + what);
}

template <typename Perf>
std::string describe(const Perf& p) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s %s %.1f MiB", name(p.algo), name(p.mathType),
                static_cast<double>(p.memory) / (1 << 20));
  return buf;
}

// The largest workspace any algorithm of any direction asks for (those cuDNN refuses for this
// problem are skipped), so that cudnnFind*Ex may try them all as neurona's cudnnFind* does.
std::size_t largest_workspace(const Cudnn& d) {
  std::size_t most = 0, s = 0;
  for (int a = 0; a < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; ++a) {
    if (cudnnGetConvolutionForwardWorkspaceSize(d.handle, d.x, d.w, d.conv, d.y,
                                                static_cast<cudnnConvolutionFwdAlgo_t>(a),
                                                &s) == CUDNN_STATUS_SUCCESS) {
      most = std::max(most, s);
    }
  }
  for (int a = 0; a < CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT; ++a) {
    if (cudnnGetConvolutionBackwardDataWorkspaceSize(d.handle, d.w, d.y, d.conv, d.x,
                                                     static_cast<cudnnConvolutionBwdDataAlgo_t>(a),
                                                     &s) == CUDNN_STATUS_SUCCESS) {
      most = std::max(most, s);
    }
  }
  for (int a = 0; a < CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT; ++a) {
    if (cudnnGetConvolutionBackwardFilterWorkspaceSize(
            d.handle, d.x, d.y, d.conv, d.w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(a), &s) ==
        CUDNN_STATUS_SUCCESS) {
      most = std::max(most, s);
    }
  }
  return most;
}

void upload(const DeviceBuffer& dst, const std::vector<float>& src, const char* what) {
  if (src.size() * sizeof(float) != dst.bytes()) {
    throw std::invalid_argument(std::string("cudnn_conv2d: ") + what + " has " +
                                std::to_string(src.size()) + " elements, expected " +
                                std::to_string(dst.bytes() / sizeof(float)));
  }
  check(cudaMemcpy(dst.get(), src.data(), dst.bytes(), cudaMemcpyHostToDevice), "cudaMemcpy");
}

std::vector<float> download(const DeviceBuffer& src) {
  std::vector<float> out(src.bytes() / sizeof(float));
  check(cudaMemcpy(out.data(), src.get(), src.bytes(), cudaMemcpyDeviceToHost), "cudaMemcpy");
  return out;
}

}  // namespace

std::string cuda_unavailable_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky error
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
  }
  return n > 0 ? std::string() : std::string("no CUDA device");
}

ConvResult cudnn_conv2d(const ConvProblem& p, const std::vector<float>& x,
                        const std::vector<float>& w, const std::vector<float>& dy, bool tf32,
                        int reps, int inner) {
  ConvResult result;
  if (!have_gpu()) return result;
  Cudnn d;
  check(cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, p.n, p.c, p.h, p.w),
        "cudnnSetTensor4dDescriptor(x)");
  check(cudnnSetFilter4dDescriptor(d.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, p.filters,
                                   p.c / p.groups, p.kh, p.kw),
        "cudnnSetFilter4dDescriptor");
  check(cudnnSetConvolution2dDescriptor(d.conv, p.pad_h, p.pad_w, p.stride, p.stride, 1, 1,
                                        CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
        "cudnnSetConvolution2dDescriptor");
  check(cudnnSetConvolutionGroupCount(d.conv, p.groups), "cudnnSetConvolutionGroupCount");
  // The math type neurona's plan_for() sets for float32 under the same TF32 switch.
  check(cudnnSetConvolutionMathType(d.conv, tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH),
        "cudnnSetConvolutionMathType");
  int on = 0, oc = 0, oh = 0, ow = 0;
  check(cudnnGetConvolution2dForwardOutputDim(d.conv, d.x, d.w, &on, &oc, &oh, &ow),
        "cudnnGetConvolution2dForwardOutputDim");
  if (on != p.n || oc != p.filters || oh != p.out_h() || ow != p.out_w()) {
    throw std::runtime_error("cudnn_conv2d: cuDNN's output shape differs from the problem's");
  }
  check(cudnnSetTensor4dDescriptor(d.y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, on, oc, oh, ow),
        "cudnnSetTensor4dDescriptor(y)");

  const auto bytes = [](std::size_t a, std::size_t b, std::size_t c, std::size_t e) {
    return a * b * c * e * sizeof(float);
  };
  const DeviceBuffer xb(bytes(p.n, p.h, p.w, p.c)),
      wb(bytes(p.filters, p.kh, p.kw, p.c / p.groups));
  const DeviceBuffer yb(bytes(p.n, oh, ow, p.filters)), dyb(bytes(p.n, oh, ow, p.filters));
  const DeviceBuffer dxb(xb.bytes()), dwb(wb.bytes());
  upload(xb, x, "x");
  upload(wb, w, "w");
  upload(dyb, dy, "dy");

  // One workspace for all three directions, as large as the hungriest algorithm wants (up to
  // 8 GiB, less where the GPU cannot give it).
  const DeviceBuffer workspace(std::min<std::size_t>(largest_workspace(d), std::size_t{8} << 30),
                               DeviceBuffer::AtMost{});
  void* ws = workspace.get();
  const std::size_t ws_bytes = workspace.bytes();

  cudnnConvolutionFwdAlgoPerf_t fwd[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  cudnnConvolutionBwdDataAlgoPerf_t bwd_data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  int n_fwd = 0, n_data = 0, n_filter = 0;
  check(cudnnFindConvolutionForwardAlgorithmEx(d.handle, d.x, xb.get(), d.w, wb.get(), d.conv, d.y,
                                               yb.get(), CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n_fwd,
                                               fwd, ws, ws_bytes),
        "cudnnFindConvolutionForwardAlgorithmEx");
  check(cudnnFindConvolutionBackwardDataAlgorithmEx(
            d.handle, d.w, wb.get(), d.y, dyb.get(), d.conv, d.x, dxb.get(),
            CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n_data, bwd_data, ws, ws_bytes),
        "cudnnFindConvolutionBackwardDataAlgorithmEx");
  check(cudnnFindConvolutionBackwardFilterAlgorithmEx(
            d.handle, d.x, xb.get(), d.y, dyb.get(), d.conv, d.w, dwb.get(),
            CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n_filter, bwd_filter, ws, ws_bytes),
        "cudnnFindConvolutionBackwardFilterAlgorithmEx");
  const auto& f = fastest(fwd, n_fwd, ws_bytes, "forward pass");
  const auto& bd = fastest(bwd_data, n_data, ws_bytes, "input gradient");
  const auto& bf = fastest(bwd_filter, n_filter, ws_bytes, "kernel gradient");
  result.algorithms = {describe(f), describe(bd), describe(bf)};

  const float one = 1, zero = 0;
  result.forward_s = median_seconds(reps, inner, [&] {
    check(cudnnConvolutionForward(d.handle, &one, d.x, xb.get(), d.w, wb.get(), d.conv, f.algo, ws,
                                  f.memory, &zero, d.y, yb.get()),
          "cudnnConvolutionForward");
  });
  result.backward_input_s = median_seconds(reps, inner, [&] {
    check(cudnnConvolutionBackwardData(d.handle, &one, d.w, wb.get(), d.y, dyb.get(), d.conv,
                                       bd.algo, ws, bd.memory, &zero, d.x, dxb.get()),
          "cudnnConvolutionBackwardData");
  });
  result.backward_kernel_s = median_seconds(reps, inner, [&] {
    check(cudnnConvolutionBackwardFilter(d.handle, &one, d.x, xb.get(), d.y, dyb.get(), d.conv,
                                         bf.algo, ws, bf.memory, &zero, d.w, dwb.get()),
          "cudnnConvolutionBackwardFilter");
  });
  result.y = download(yb);
  result.dx = download(dxb);
  result.dw = download(dwb);
  return result;
}

double memcpy_d2d_seconds(std::size_t bytes, int reps, int inner) {
  if (!have_gpu()) return -1.0;
  const DeviceBuffer src(bytes), dst(bytes);
  check(cudaMemset(src.get(), 0, bytes), "cudaMemset");
  return median_seconds(reps, inner, [&] {
    check(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, nullptr),
          "cudaMemcpyAsync");
  });
}

std::string cudnn_description() {
  const std::string why = cuda_unavailable_reason();
  if (!why.empty()) return "no CUDA GPU (" + why + ")";
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  const std::size_t v = cudnnGetVersion();  // major * 10000 + minor * 100 + patch in cuDNN 9
  const auto str = [](auto n) { return std::to_string(n); };
  return std::string(prop.name) + " (sm_" + str(prop.major) + str(prop.minor) + ", " +
         str(prop.totalGlobalMem >> 20) + " MiB), cuDNN " + str(v / 10000) + "." +
         str(v / 100 % 100) + "." + str(v % 100) + " (built with " + str(CUDNN_MAJOR) + "." +
         str(CUDNN_MINOR) + "." + str(CUDNN_PATCHLEVEL) + ")";
}

}  // namespace neurona::bench
