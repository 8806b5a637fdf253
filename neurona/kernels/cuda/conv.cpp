// CUDA convolution through cuDNN: forward, backward data and backward filter on NHWC tensors,
// the algorithm found once per shape (cudnnFind*) and cached with its workspace size. Keras's
// (kh, kw, in, filters) kernel is transposed to cuDNN's NHWC filter layout (filters, kh, kw,
// in), once per weight update (the copy is cached with the kernel's version). cuDNN pads
// symmetrically only, so the asymmetric 'same' padding of even windows or strides pads the input
// explicitly first. float32 uses TF32 tensor cores (CUDNN_TENSOR_OP_MATH) while
// config::tensor_float_32_execution_enabled(), plain FP32 (CUDNN_FMA_MATH) otherwise; with
// config::op_determinism_enabled() only algorithms cuDNN reports deterministic. Both switches and
// the dtype are part of the cache key. Conv2D's float32 bias and relu join the forward pass in
// cudnnConvolutionBiasActivationForward.
//
// bfloat16 and float16 data run on the tensor cores with float32 accumulation; their bias and
// relu (and float32's where the fused call does not apply) are neurona's one-pass epilogue
// (cuda/epilogue.h). A direction for which cuDNN finds no 16-bit algorithm runs in float32
// (widened inputs, the result rounded back).
//
// This uses cuDNN's legacy descriptor API, which cuDNN 9 marks deprecated but still ships; the
// warnings are silenced in this file alone.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "neurona/core/backend.h"
#include "neurona/core/config.h"
#include "neurona/core/cuda/check.h"
#include "neurona/core/cuda/context.h"
#include "neurona/kernels/conv_stubs.h"
#include "neurona/kernels/cuda/epilogue.h"
#include "neurona/kernels/cuda/kernels.h"
#include "neurona/kernels/linalg_stubs.h"

namespace neurona::kernels::cuda {

namespace {

using Key = std::tuple<int, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                       std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                       std::int64_t, std::int64_t, std::int64_t, std::int64_t, bool, bool, DType>;

// Descriptors and chosen algorithms for one convolution shape on one GPU.
struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool have_fwd = false, have_bwd_data = false, have_bwd_filter = false;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  std::size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
  // conv2d_bias_activation: the bias (1, filters, 1, 1) and relu descriptors, made on first use,
  // and whether cuDNN refused the fused call for this shape (then it runs in three calls).
  cudnnTensorDescriptor_t bias = nullptr;
  cudnnActivationDescriptor_t relu = nullptr;
  bool fused_refused = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;  // of x, w, y and the bias
  // 16-bit data for which cuDNN found no algorithm in some direction: that direction runs in
  // float32 (widened inputs, the result rounded back).
  bool widen_fwd = false, widen_bwd_data = false, widen_bwd_filter = false;

  ~Plan() {
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (relu) cudnnDestroyActivationDescriptor(relu);
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

// The geometry cuDNN sees: symmetric padding, or the explicitly padded input and none.
struct Effective {
  Conv2DGeometry g;
  bool explicit_pad = false;
};

Effective effective(const Conv2DGeometry& g) {
  Effective e{g, g.pad_top != g.pad_bottom || g.pad_left != g.pad_right};
  if (e.explicit_pad) {
    e.g.h += g.pad_top + g.pad_bottom;
    e.g.w += g.pad_left + g.pad_right;
    e.g.pad_top = e.g.pad_bottom = e.g.pad_left = e.g.pad_right = 0;
  }
  return e;
}

int i32(std::int64_t v) {
  NEURONA_CHECK(v <= INT32_MAX, ValueError, "conv2d: dimension ", v, " exceeds cuDNN's int range");
  return static_cast<int>(v);
}

// cuDNN's name for a dtype (float32, bfloat16, float16; the front door rejects the rest).
cudnnDataType_t cudnn_type(DType t) {
  switch (t) {
    case DType::bfloat16:
      return CUDNN_DATA_BFLOAT16;
    case DType::float16:
      return CUDNN_DATA_HALF;
    default:
      return CUDNN_DATA_FLOAT;
  }
}

// The plan for a shape and dtype: 16-bit data accumulate in float32 (cuDNN's PSEUDO_HALF and
// PSEUDO_BFLOAT16 configurations) on the tensor cores.
Plan& plan_for(int device, const Conv2DGeometry& g, DType dtype) {
  static std::mutex mu;
  static std::map<Key, std::unique_ptr<Plan>> cache;
  const bool tf32 = config::tensor_float_32_execution_enabled();
  const bool deterministic = config::op_determinism_enabled();
  const Key key{device,     g.n,  g.h,  g.w,  g.c,  g.kh,     g.kw, g.filters,     g.pad_top,
                g.pad_left, g.sh, g.sw, g.dh, g.dw, g.groups, tf32, deterministic, dtype};
  std::lock_guard lock(mu);
  auto& p = cache[key];
  if (p) return *p;
  auto plan = std::make_unique<Plan>();
  plan->type = cudnn_type(dtype);
  const bool tensor_cores = tf32 || dtype != DType::float32;
  NEURONA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x));
  NEURONA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y));
  NEURONA_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w));
  NEURONA_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv));
  NEURONA_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NHWC, plan->type, i32(g.n),
                                                 i32(g.c), i32(g.h), i32(g.w)));
  NEURONA_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, plan->type, CUDNN_TENSOR_NHWC,
                                                 i32(g.filters), i32(g.c / g.groups), i32(g.kh),
                                                 i32(g.kw)));
  NEURONA_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan->conv, i32(g.pad_top), i32(g.pad_left),
                                                      i32(g.sh), i32(g.sw), i32(g.dh), i32(g.dw),
                                                      CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  NEURONA_CUDNN_CHECK(cudnnSetConvolutionGroupCount(plan->conv, i32(g.groups)));
  NEURONA_CUDNN_CHECK(cudnnSetConvolutionMathType(
      plan->conv, tensor_cores ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  int n = 0, c = 0, h = 0, w = 0;
  NEURONA_CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->x, plan->w, &n, &c, &h, &w));
  NEURONA_CHECK(n == g.n && c == g.filters && h == g.oh && w == g.ow, Error,
                "conv2d: cuDNN's output (", n, ", ", h, ", ", w, ", ", c,
                ") differs from Keras's (", g.n, ", ", g.oh, ", ", g.ow, ", ", g.filters, ")");
  NEURONA_CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(plan->y, CUDNN_TENSOR_NHWC, plan->type, n, c, h, w));
  p = std::move(plan);
  return *p;
}

// The fastest algorithm cudnnFind* reports as usable (and deterministic, under
// config::op_determinism_enabled()), from its list of results.
template <typename Perf>
const Perf& first_usable(const Perf* perf, int count, const char* what) {
  const bool deterministic = config::op_determinism_enabled();
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    if (deterministic && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
    return perf[i];
  }
  throw NotImplementedError(detail::str(
      "conv2d: cuDNN found no ", deterministic ? "deterministic " : "", "algorithm for ", what));
}

Tensor workspace(Device d, std::size_t bytes) {
  return Tensor::empty({static_cast<std::int64_t>(bytes)}, DType::uint8, d);
}

// The dtype of a convolution's data: float32, bfloat16 or float16.
DType conv_dtype(const Tensor& t, const char* op) {
  NEURONA_CHECK(t.dtype() == DType::float32 || is_half(t.dtype()), NotImplementedError, op, ": ",
                t.dtype(),
                " is not supported on CUDA (cuDNN NHWC convolutions are float32, bfloat16 or "
                "float16 here); use one of them or the CPU");
  return t.dtype();
}

// The input cuDNN reads: x, or x padded explicitly where Keras's padding is asymmetric.
Tensor padded_input(const Tensor& x, const Conv2DGeometry& geo, const Effective& e) {
  if (!e.explicit_pad) return x;
  Tensor out = Tensor::empty({e.g.n, e.g.h, e.g.w, e.g.c}, x.dtype(), x.device());
  cuda::pad2d(x, geo.pad_top, geo.pad_left, out);
  return out;
}

// `t` with its axes permuted (a kernel's layout for cuDNN, or back).
Tensor permuted(const Tensor& t, const std::vector<int>& perm) {
  const PermutePlan plan = permute_plan(t.shape(), perm);
  Tensor out = Tensor::empty(plan.shape, t.dtype(), t.device());
  cuda::strided_copy(t, plan.ix, out);
  return out;
}

// Keras's (kh, kw, in, filters) kernel in cuDNN's NHWC filter layout (filters, kh, kw, in),
// kept with the kernel's storage until its next update (Tensor::cached_derived): one transpose
// per weight update rather than one per call (outside captured graphs, which redo it per step).
Tensor filter_of(const Tensor& kernel) {
  static const char tag = 0;
  return kernel.cached_derived(&tag, [](const Tensor& k) { return permuted(k, {3, 0, 1, 2}); });
}

// A direction that cuDNN has no 16-bit algorithm for runs in float32; these widen its 16-bit
// inputs and round its float32 result back. (Which dtypes a kernel takes is otherwise the
// front door's to decide: this is what cuDNN tells only when asked.)
Tensor wide(const Tensor& t) {
  Tensor out = Tensor::empty(t.shape(), DType::float32, t.device());
  cuda::cast(t, out);
  return out;
}
void narrow_into(const Tensor& result, Tensor& out) {
  cuda::cast(result, out);
}

// Runs `search` (a cudnnFind for plan `p`); for 16-bit data where cuDNN has no algorithm
// (NotImplementedError from first_usable), sets `widen` instead, so that the direction runs in
// float32 from then on. The float32 search's failure stays an error.
template <typename F>
void search_or_widen(DType dtype, bool& widen, F&& search) {
  try {
    search();
  } catch (const NotImplementedError&) {
    if (dtype == DType::float32) throw;
    widen = true;
  }
}

// The forward algorithm of plan `p`, found on first use.
void find_forward(cudnnHandle_t h, Plan& p) {
  if (p.have_fwd) return;
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int count = 0;
  NEURONA_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(
      h, p.x, p.w, p.conv, p.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf));
  const auto& best = first_usable(perf, count, "the forward pass");
  p.fwd = best.algo;
  p.fwd_ws = best.memory;
  p.have_fwd = true;
}

void conv2d(const Tensor& x, const Tensor& kernel, const Conv2DGeometry& geo, Tensor& out) {
  const DType dtype = conv_dtype(x, "conv2d");
  const Device d = x.device();
  auto& ctx = neurona::cuda::context(d.index());
  neurona::cuda::DeviceGuard guard(d.index());
  const Effective e = effective(geo);
  const Tensor xin = padded_input(x, geo, e);
  const Tensor w = filter_of(kernel);
  Plan& p = plan_for(d.index(), e.g, dtype);
  cudnnHandle_t h = ctx.cudnn();
  search_or_widen(dtype, p.widen_fwd, [&] { find_forward(h, p); });
  if (p.widen_fwd) {
    Tensor result = Tensor::empty(out.shape(), DType::float32, d);
    conv2d(wide(x), wide(kernel), geo, result);
    return narrow_into(result, out);
  }
  Tensor ws = workspace(d, p.fwd_ws);
  const float one = 1, zero = 0;
  NEURONA_CUDNN_CHECK(cudnnConvolutionForward(h, &one, p.x, xin.raw_data(), p.w, w.raw_data(),
                                              p.conv, p.fwd, ws.raw_data(), p.fwd_ws, &zero, p.y,
                                              out.raw_data()));
}

// relu(conv + bias) in one cuDNN call (cudnnConvolutionBiasActivationForward, with the forward
// pass's algorithm; z = y with alpha2 = 0); false where cuDNN refuses it for this shape.
bool fused_conv_bias_relu(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                          const Conv2DGeometry& geo, Tensor& out) {
  const Device d = x.device();
  auto& ctx = neurona::cuda::context(d.index());
  neurona::cuda::DeviceGuard guard(d.index());
  const Effective e = effective(geo);
  Plan& p = plan_for(d.index(), e.g, DType::float32);
  if (p.fused_refused) return false;
  cudnnHandle_t h = ctx.cudnn();
  find_forward(h, p);
  {
    static std::mutex mu;
    std::lock_guard lock(mu);
    if (p.bias == nullptr) {
      NEURONA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.bias));
      NEURONA_CUDNN_CHECK(
          cudnnSetTensor4dDescriptor(p.bias, CUDNN_TENSOR_NHWC, p.type, 1, i32(geo.filters), 1, 1));
      NEURONA_CUDNN_CHECK(cudnnCreateActivationDescriptor(&p.relu));
      NEURONA_CUDNN_CHECK(
          cudnnSetActivationDescriptor(p.relu, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
    }
  }
  const float one = 1, zero = 0;
  const Tensor xin = padded_input(x, geo, e);
  const Tensor w = filter_of(kernel);
  Tensor ws = workspace(d, p.fwd_ws);
  const cudnnStatus_t st = cudnnConvolutionBiasActivationForward(
      h, &one, p.x, xin.raw_data(), p.w, w.raw_data(), p.conv, p.fwd, ws.raw_data(), p.fwd_ws,
      &zero, p.y, out.raw_data(), p.bias, bias.raw_data(), p.relu, p.y, out.raw_data());
  if (st == CUDNN_STATUS_SUCCESS) return true;
  NEURONA_CHECK(st == CUDNN_STATUS_NOT_SUPPORTED, Error,
                "cudnnConvolutionBiasActivationForward failed: ", cudnnGetErrorString(st));
  p.fused_refused = true;
  return false;
}

// float32 relu(conv + bias) in cuDNN's fused call where it takes it. Otherwise (a linear
// activation, which cuDNN fuses with one algorithm only; 16-bit data, for which the fused call
// documents no configuration; a shape cuDNN refuses) the convolution, then the bias and relu
// in one pass of neurona's epilogue, which computes 16-bit values in float32 and rounds once.
void conv2d_bias_activation(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                            FusedActivation activation, const Conv2DGeometry& geo, Tensor& out) {
  const DType dtype = conv_dtype(x, "conv2d_bias_activation");
  if (dtype == DType::float32 && activation == FusedActivation::relu && bias.defined() &&
      fused_conv_bias_relu(x, kernel, bias, geo, out)) {
    return;
  }
  conv2d(x, kernel, geo, out);
  bias_activation_rows(out, bias, activation);
}

void conv2d_backward_input(const Tensor& grad_out, const Tensor& kernel, const Conv2DGeometry& geo,
                           Tensor& dx) {
  const DType dtype = conv_dtype(grad_out, "conv2d_backward_input");
  const Device d = grad_out.device();
  auto& ctx = neurona::cuda::context(d.index());
  neurona::cuda::DeviceGuard guard(d.index());
  const Effective e = effective(geo);
  const Tensor w = filter_of(kernel);
  Plan& p = plan_for(d.index(), e.g, dtype);
  cudnnHandle_t h = ctx.cudnn();
  search_or_widen(dtype, p.widen_bwd_data, [&] {
    if (p.have_bwd_data) return;
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    NEURONA_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(
        h, p.w, p.y, p.conv, p.x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf));
    const auto& best = first_usable(perf, count, "the input gradient");
    p.bwd_data = best.algo;
    p.bwd_data_ws = best.memory;
    p.have_bwd_data = true;
  });
  if (p.widen_bwd_data) {
    Tensor result = Tensor::empty(dx.shape(), DType::float32, d);
    conv2d_backward_input(wide(grad_out), wide(kernel), geo, result);
    return narrow_into(result, dx);
  }
  Tensor target = e.explicit_pad ? Tensor::empty({e.g.n, e.g.h, e.g.w, e.g.c}, dtype, d) : dx;
  Tensor ws = workspace(d, p.bwd_data_ws);
  const float one = 1, zero = 0;
  NEURONA_CUDNN_CHECK(cudnnConvolutionBackwardData(
      h, &one, p.w, w.raw_data(), p.y, grad_out.raw_data(), p.conv, p.bwd_data, ws.raw_data(),
      p.bwd_data_ws, &zero, p.x, target.raw_data()));
  if (e.explicit_pad) cuda::pad2d(target, -geo.pad_top, -geo.pad_left, dx);  // crops
}

void conv2d_backward_filter(const Tensor& x, const Tensor& grad_out, const Conv2DGeometry& geo,
                            Tensor& dkernel) {
  const DType dtype = conv_dtype(x, "conv2d_backward_filter");
  const Device d = x.device();
  auto& ctx = neurona::cuda::context(d.index());
  neurona::cuda::DeviceGuard guard(d.index());
  const Effective e = effective(geo);
  const Tensor xin = padded_input(x, geo, e);
  Plan& p = plan_for(d.index(), e.g, dtype);
  cudnnHandle_t h = ctx.cudnn();
  search_or_widen(dtype, p.widen_bwd_filter, [&] {
    if (p.have_bwd_filter) return;
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    NEURONA_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(
        h, p.x, p.y, p.conv, p.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf));
    const auto& best = first_usable(perf, count, "the kernel gradient");
    p.bwd_filter = best.algo;
    p.bwd_filter_ws = best.memory;
    p.have_bwd_filter = true;
  });
  if (p.widen_bwd_filter) {
    Tensor result = Tensor::empty(dkernel.shape(), DType::float32, d);
    conv2d_backward_filter(wide(x), wide(grad_out), geo, result);
    return narrow_into(result, dkernel);
  }
  Tensor dw = Tensor::empty({geo.filters, geo.kh, geo.kw, geo.c / geo.groups}, dtype, d);
  Tensor ws = workspace(d, p.bwd_filter_ws);
  const float one = 1, zero = 0;
  NEURONA_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      h, &one, p.x, xin.raw_data(), p.y, grad_out.raw_data(), p.conv, p.bwd_filter, ws.raw_data(),
      p.bwd_filter_ws, &zero, p.w, dw.raw_data()));
  const PermutePlan back = permute_plan(dw.shape(), {1, 2, 3, 0});  // Keras's layout
  cuda::strided_copy(dw, back.ix, dkernel);
}

}  // namespace

void register_pool();  // pool.cu

void register_conv() {
  conv2d_stub.cuda = conv2d;
  conv2d_bias_activation_stub.cuda = conv2d_bias_activation;
  conv2d_backward_input_stub.cuda = conv2d_backward_input;
  conv2d_backward_filter_stub.cuda = conv2d_backward_filter;
  register_pool();
}

}  // namespace neurona::kernels::cuda
