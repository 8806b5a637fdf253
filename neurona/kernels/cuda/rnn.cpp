// CUDA fused LSTM and GRU through cuDNN's RNN API: cudnnRNNForward, cudnnRNNBackwardData_v8 and
// cudnnRNNBackwardWeights_v8 on batch-major padded sequences (Keras's (batch, time, features)
// layout, no transpose). Descriptors, workspace sizes, the weight space's layout and the device
// copy of the full-length sequence lengths are made once per shape and cached (the first, eager
// call makes them; a captured step then replays without host copies). A masked batch's lengths
// (read from the mask on the host by the layer) get their own data descriptors and device copy
// for the call only: the cache stays one plan per shape however many masks a training run sees
// (it was keyed on the lengths too, a plan and a stream synchronization for each new mask).
//
// Keras's weights are packed into cuDNN's weight space per call: each gate's matrix is the
// transpose of a column block of Keras's kernel (cuDNN keeps W_g as (units, input) row-major),
// LSTM gates i, f, c, o are cuDNN's 0-3 in the same order, GRU's z, r, h are cuDNN's r, z, h
// (linear layers 1, 0, 2). An LSTM's one bias is cuDNN's input bias and its recurrent bias stays
// zero; a reset_after GRU's two bias rows are cuDNN's input and recurrent biases (cuDNN's GRU is
// Keras's reset_after form). The packed weights travel after cuDNN's reserve space to the
// backward pass, so that another call of the same shape cannot overwrite them in between.
// float32 uses TF32 tensor cores (CUDNN_DEFAULT_MATH) while
// config::tensor_float_32_execution_enabled(), plain FP32 (CUDNN_FMA_MATH) otherwise.
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
#include "neurona/kernels/cuda/kernels.h"
#include "neurona/kernels/linalg_stubs.h"
#include "neurona/kernels/rnn_stubs.h"

namespace neurona::kernels::cuda {

namespace {

int i32(std::int64_t v) {
  NEURONA_CHECK(v <= INT32_MAX, ValueError, "rnn_fused: dimension ", v,
                " exceeds cuDNN's int range");
  return static_cast<int>(v);
}

int gates_of(RNNMode mode) {
  return mode == RNNMode::lstm ? 4 : 3;
}

// Keras's gate for cuDNN's linear layer `j` (0 <= j < gates): GRU's cuDNN r, z are Keras's 1, 0.
int keras_gate(RNNMode mode, int j) {
  return mode == RNNMode::gru && j < 2 ? 1 - j : j;
}

using Key = std::tuple<int, int, std::int64_t, std::int64_t, std::int64_t, std::int64_t, bool>;

// Everything cuDNN needs for one shape on one GPU. x, y and lengths describe full-length
// sequences (cuDNN's temporary space sizes depend on the longest and the batch only).
struct Plan {
  cudnnRNNDescriptor_t rnn = nullptr;
  cudnnDropoutDescriptor_t dropout = nullptr;
  cudnnRNNDataDescriptor_t x = nullptr, y = nullptr;
  cudnnTensorDescriptor_t h = nullptr;
  std::size_t weight_bytes = 0, train_work = 0, reserve_bytes = 0, infer_work = 0;
  // Where the reserve ends and the packed weights begin in the training reserve tensor.
  std::size_t weights_at = 0;
  Tensor lengths;  // int32 (batch,) on the device, all `steps`: cuDNN's devSeqLengths
  // Byte offsets in the weight space of each linear layer's matrix and bias (2 * gates each).
  std::vector<std::size_t> matrix_at, bias_at;

  ~Plan() {
    if (h) cudnnDestroyTensorDescriptor(h);
    if (x) cudnnDestroyRNNDataDescriptor(x);
    if (y) cudnnDestroyRNNDataDescriptor(y);
    if (rnn) cudnnDestroyRNNDescriptor(rnn);
    if (dropout) cudnnDestroyDropoutDescriptor(dropout);
  }
};

std::size_t aligned(std::size_t bytes) {
  return (bytes + 255) / 256 * 256;
}

// The number of elements a tensor descriptor cuDNN filled describes.
std::int64_t described_elements(cudnnTensorDescriptor_t d) {
  cudnnDataType_t type{};
  int nb = 0;
  int dims[8] = {}, strides[8] = {};
  NEURONA_CUDNN_CHECK(cudnnGetTensorNdDescriptor(d, 8, &type, &nb, dims, strides));
  std::int64_t n = 1;
  for (int i = 0; i < nb; ++i) n *= dims[i];
  return n;
}

// A batch-major padded RNN data descriptor of `features` per step with the given lengths.
cudnnRNNDataDescriptor_t data_descriptor(const RNNGeometry& g, std::int64_t features,
                                         const int* lengths) {
  cudnnRNNDataDescriptor_t desc = nullptr;
  NEURONA_CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&desc));
  float fill = 0.0f;
  const cudnnStatus_t status =
      cudnnSetRNNDataDescriptor(desc, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED,
                                i32(g.steps), i32(g.batch), i32(features), lengths, &fill);
  if (status != CUDNN_STATUS_SUCCESS) cudnnDestroyRNNDataDescriptor(desc);
  NEURONA_CUDNN_CHECK(status);
  return desc;
}

Plan& plan_for(int device, cudnnHandle_t handle, cudaStream_t stream, const RNNGeometry& g) {
  static std::mutex mu;
  static std::map<Key, std::unique_ptr<Plan>> cache;
  const bool tf32 = config::tensor_float_32_execution_enabled();
  const Key key{device, static_cast<int>(g.mode), g.batch, g.steps, g.input_size, g.units, tf32};
  std::lock_guard lock(mu);
  auto& p = cache[key];
  if (p) return *p;
  auto plan = std::make_unique<Plan>();
  const int gates = gates_of(g.mode);
  NEURONA_CUDNN_CHECK(cudnnCreateDropoutDescriptor(&plan->dropout));
  // No dropout inside the op (Keras drops the inputs before it): no generator states needed.
  NEURONA_CUDNN_CHECK(cudnnSetDropoutDescriptor(plan->dropout, handle, 0.0f, nullptr, 0, 0));
  NEURONA_CUDNN_CHECK(cudnnCreateRNNDescriptor(&plan->rnn));
  NEURONA_CUDNN_CHECK(cudnnSetRNNDescriptor_v8(
      plan->rnn, CUDNN_RNN_ALGO_STANDARD, g.mode == RNNMode::lstm ? CUDNN_LSTM : CUDNN_GRU,
      CUDNN_RNN_DOUBLE_BIAS, CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT,
      CUDNN_DATA_FLOAT, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH, i32(g.input_size), i32(g.units),
      i32(g.units), 1, plan->dropout, CUDNN_RNN_PADDED_IO_ENABLED));
  const std::vector<int> lengths(static_cast<std::size_t>(g.batch), i32(g.steps));
  plan->x = data_descriptor(g, g.input_size, lengths.data());
  plan->y = data_descriptor(g, g.units, lengths.data());
  NEURONA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->h));
  const int dims[3] = {1, i32(g.batch), i32(g.units)};
  const int strides[3] = {i32(g.batch * g.units), i32(g.units), 1};
  NEURONA_CUDNN_CHECK(cudnnSetTensorNdDescriptor(plan->h, CUDNN_DATA_FLOAT, 3, dims, strides));
  NEURONA_CUDNN_CHECK(cudnnGetRNNWeightSpaceSize(handle, plan->rnn, &plan->weight_bytes));
  NEURONA_CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(handle, plan->rnn, CUDNN_FWD_MODE_TRAINING, plan->x,
                                                &plan->train_work, &plan->reserve_bytes));
  std::size_t unused = 0;
  NEURONA_CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(handle, plan->rnn, CUDNN_FWD_MODE_INFERENCE,
                                                plan->x, &plan->infer_work, &unused));
  plan->weights_at = aligned(plan->reserve_bytes);
  // The layout of the weight space, read from a scratch one (offsets do not depend on it).
  const Device d = Device::cuda(device);
  const Tensor scratch =
      Tensor::empty({static_cast<std::int64_t>(plan->weight_bytes)}, DType::uint8, d);
  const auto* base = static_cast<const char*>(scratch.raw_data());
  cudnnTensorDescriptor_t m = nullptr, b = nullptr;
  NEURONA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&m));
  NEURONA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&b));
  try {
    for (int id = 0; id < 2 * gates; ++id) {
      void* m_addr = nullptr;
      void* b_addr = nullptr;
      NEURONA_CUDNN_CHECK(cudnnGetRNNWeightParams(handle, plan->rnn, 0, plan->weight_bytes,
                                                  scratch.raw_data(), id, m, &m_addr, b, &b_addr));
      NEURONA_CHECK(m_addr != nullptr && b_addr != nullptr, Error,
                    "rnn_fused: cuDNN reports no matrix or bias for linear layer ", id);
      const std::int64_t cols = id < gates ? g.input_size : g.units;
      NEURONA_CHECK(described_elements(m) == g.units * cols && described_elements(b) == g.units,
                    Error, "rnn_fused: cuDNN's linear layer ", id, " has ", described_elements(m),
                    " weights and ", described_elements(b), " biases; expected ", g.units * cols,
                    " and ", g.units);
      plan->matrix_at.push_back(static_cast<std::size_t>(static_cast<const char*>(m_addr) - base));
      plan->bias_at.push_back(static_cast<std::size_t>(static_cast<const char*>(b_addr) - base));
    }
  } catch (...) {
    cudnnDestroyTensorDescriptor(m);
    cudnnDestroyTensorDescriptor(b);
    throw;
  }
  cudnnDestroyTensorDescriptor(m);
  cudnnDestroyTensorDescriptor(b);
  plan->lengths = Tensor::empty({g.batch}, DType::int32, d);
  NEURONA_CUDA_CHECK(cudaMemcpyAsync(plan->lengths.raw_data(), lengths.data(),
                                     lengths.size() * sizeof(int), cudaMemcpyHostToDevice, stream));
  // The host vector dies here: wait for the copy (once per shape, in the eager first call).
  NEURONA_CUDA_CHECK(cudaStreamSynchronize(stream));
  p = std::move(plan);
  return *p;
}

// The data descriptors and device lengths of one call: the plan's (full-length sequences), or,
// for a masked batch (g.lengths given), the call's own. Their copy of the lengths comes from
// pageable host memory, which cudaMemcpyAsync stages before it returns (so g.lengths may go),
// and is stream-ordered before the cuDNN call that reads it; the device tensor returns to the
// stream's allocator after that call. Not capturable (a masked batch's lengths are read on the
// host anyway).
class Sequences {
 public:
  Sequences(const Plan& p, const RNNGeometry& g, Device d, cudaStream_t stream)
      : x(p.x), y(p.y), lengths(static_cast<const std::int32_t*>(p.lengths.raw_data())) {
    if (g.lengths.empty()) return;
    static_assert(sizeof(int) == sizeof(std::int32_t));
    const auto* host = reinterpret_cast<const int*>(g.lengths.data());
    // A constructor that throws runs no destructor: what it made so far is released here.
    try {
      own_x_ = data_descriptor(g, g.input_size, host);
      own_y_ = data_descriptor(g, g.units, host);
      own_lengths_ = Tensor::empty({g.batch}, DType::int32, d);
      NEURONA_CUDA_CHECK(cudaMemcpyAsync(own_lengths_.raw_data(), host,
                                         g.lengths.size() * sizeof(int), cudaMemcpyHostToDevice,
                                         stream));
    } catch (...) {
      release();
      throw;
    }
    x = own_x_;
    y = own_y_;
    lengths = static_cast<const std::int32_t*>(own_lengths_.raw_data());
  }
  ~Sequences() { release(); }
  Sequences(const Sequences&) = delete;
  Sequences& operator=(const Sequences&) = delete;

  cudnnRNNDataDescriptor_t x, y;
  const std::int32_t* lengths;

 private:
  void release() {
    if (own_x_) cudnnDestroyRNNDataDescriptor(own_x_);
    if (own_y_) cudnnDestroyRNNDataDescriptor(own_y_);
    own_x_ = own_y_ = nullptr;
  }

  cudnnRNNDataDescriptor_t own_x_ = nullptr, own_y_ = nullptr;
  Tensor own_lengths_;
};

// `t` with its axes permuted.
Tensor permuted(const Tensor& t, const std::vector<int>& perm) {
  const PermutePlan plan = permute_plan(t.shape(), perm);
  Tensor out = Tensor::empty(plan.shape, t.dtype(), t.device());
  cuda::strided_copy(t, plan.ix, out);
  return out;
}

void copy_bytes(void* to, const void* from, std::size_t bytes, cudaStream_t stream) {
  NEURONA_CUDA_CHECK(cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToDevice, stream));
}

// Keras's kernel, recurrent kernel and bias in cuDNN's weight space at `w`.
void pack(const RNNGeometry& g, const Plan& p, const Tensor& kernel, const Tensor& recurrent,
          const Tensor& bias, char* w, cudaStream_t stream) {
  const int gates = gates_of(g.mode);
  const std::size_t f = sizeof(float);
  const auto u = static_cast<std::size_t>(g.units);
  const auto in = static_cast<std::size_t>(g.input_size);
  NEURONA_CUDA_CHECK(cudaMemsetAsync(w, 0, p.weight_bytes, stream));
  const Tensor kt = permuted(kernel, {1, 0});     // (gates * units, input)
  const Tensor rt = permuted(recurrent, {1, 0});  // (gates * units, units)
  const auto* k = static_cast<const char*>(kt.raw_data());
  const auto* r = static_cast<const char*>(rt.raw_data());
  const auto* b = static_cast<const char*>(bias.raw_data());
  for (int j = 0; j < gates; ++j) {
    const auto kg = static_cast<std::size_t>(keras_gate(g.mode, j));
    copy_bytes(w + p.matrix_at[j], k + kg * u * in * f, u * in * f, stream);
    copy_bytes(w + p.matrix_at[gates + j], r + kg * u * u * f, u * u * f, stream);
    copy_bytes(w + p.bias_at[j], b + kg * u * f, u * f, stream);
    if (g.mode == RNNMode::gru) {
      copy_bytes(w + p.bias_at[gates + j], b + (gates + kg) * u * f, u * f, stream);
    }
  }
}

// The gradients in cuDNN's weight space `dw` as Keras's kernel, recurrent kernel and bias.
void unpack(const RNNGeometry& g, const Plan& p, const char* dw, Tensor& dkernel,
            Tensor& drecurrent, Tensor& dbias, cudaStream_t stream) {
  const int gates = gates_of(g.mode);
  const std::size_t f = sizeof(float);
  const auto u = static_cast<std::size_t>(g.units);
  const auto in = static_cast<std::size_t>(g.input_size);
  const Device d = dkernel.device();
  Tensor kt = Tensor::empty({gates * g.units, g.input_size}, DType::float32, d);
  Tensor rt = Tensor::empty({gates * g.units, g.units}, DType::float32, d);
  auto* k = static_cast<char*>(kt.raw_data());
  auto* r = static_cast<char*>(rt.raw_data());
  auto* b = static_cast<char*>(dbias.raw_data());
  for (int j = 0; j < gates; ++j) {
    const auto kg = static_cast<std::size_t>(keras_gate(g.mode, j));
    copy_bytes(k + kg * u * in * f, dw + p.matrix_at[j], u * in * f, stream);
    copy_bytes(r + kg * u * u * f, dw + p.matrix_at[gates + j], u * u * f, stream);
    // An LSTM's recurrent bias is not Keras's: its gradient (the same as the input bias's) is
    // dropped.
    copy_bytes(b + kg * u * f, dw + p.bias_at[j], u * f, stream);
    if (g.mode == RNNMode::gru) {
      copy_bytes(b + (gates + kg) * u * f, dw + p.bias_at[gates + j], u * f, stream);
    }
  }
  const PermutePlan kp = permute_plan(kt.shape(), {1, 0});
  cuda::strided_copy(kt, kp.ix, dkernel);
  const PermutePlan rp = permute_plan(rt.shape(), {1, 0});
  cuda::strided_copy(rt, rp.ix, drecurrent);
}

Tensor bytes(Device d, std::size_t n) {
  return Tensor::empty({static_cast<std::int64_t>(n)}, DType::uint8, d);
}

void rnn_forward(const RNNGeometry& g, const Tensor& x, const Tensor& h0, const Tensor& c0,
                 const Tensor& kernel, const Tensor& recurrent_kernel, const Tensor& bias,
                 bool training, Tensor& y, Tensor& h, Tensor& c, Tensor& reserve) {
  const Device d = x.device();
  auto& ctx = neurona::cuda::context(d.index());
  neurona::cuda::DeviceGuard guard(d.index());
  cudnnHandle_t handle = ctx.cudnn();
  cudaStream_t stream = ctx.stream();
  Plan& p = plan_for(d.index(), handle, stream, g);
  const Sequences seq(p, g, d, stream);
  const bool lstm = g.mode == RNNMode::lstm;
  // Training: cuDNN's reserve, then the packed weights the backward pass reads.
  Tensor space = training ? bytes(d, p.weights_at + p.weight_bytes) : bytes(d, p.weight_bytes);
  char* w = static_cast<char*>(space.raw_data()) + (training ? p.weights_at : 0);
  pack(g, p, kernel, recurrent_kernel, bias, w, stream);
  const std::size_t work_bytes = training ? p.train_work : p.infer_work;
  Tensor work = bytes(d, work_bytes);
  // The promise of zeros past each length made here, not left to cuDNN's padding fill alone.
  if (!g.lengths.empty()) NEURONA_CUDA_CHECK(cudaMemsetAsync(y.raw_data(), 0, y.nbytes(), stream));
  NEURONA_CUDNN_CHECK(cudnnRNNForward(
      handle, p.rnn, training ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE, seq.lengths,
      seq.x, x.raw_data(), seq.y, y.raw_data(), p.h, h0.raw_data(), h.raw_data(), p.h,
      lstm ? c0.raw_data() : nullptr, lstm ? c.raw_data() : nullptr, p.weight_bytes, w, work_bytes,
      work.raw_data(), training ? p.reserve_bytes : 0, training ? space.raw_data() : nullptr));
  if (training) reserve = space;
}

void rnn_backward(const RNNGeometry& g, const Tensor& x, const Tensor& h0, const Tensor& c0,
                  const Tensor& /*kernel*/, const Tensor& /*recurrent_kernel*/,
                  const Tensor& /*bias*/, const Tensor& y, const Tensor& reserve, const Tensor& dy,
                  const Tensor& dh, const Tensor& dc, bool weights, Tensor& dx, Tensor& dh0,
                  Tensor& dc0, Tensor& dkernel, Tensor& drecurrent_kernel, Tensor& dbias) {
  const Device d = x.device();
  auto& ctx = neurona::cuda::context(d.index());
  neurona::cuda::DeviceGuard guard(d.index());
  cudnnHandle_t handle = ctx.cudnn();
  cudaStream_t stream = ctx.stream();
  Plan& p = plan_for(d.index(), handle, stream, g);
  NEURONA_CHECK(reserve.numel() == static_cast<std::int64_t>(p.weights_at + p.weight_bytes),
                ValueError, "rnn_fused_backward: the reserve has ", reserve.numel(),
                " bytes; this shape's forward pass keeps ", p.weights_at + p.weight_bytes);
  const bool lstm = g.mode == RNNMode::lstm;
  // cuDNN's backward passes write into the reserve: work on a copy, so that the tape's forward
  // record stays intact (a persistent tape may ask twice).
  Tensor space = bytes(d, p.weights_at + p.weight_bytes);
  copy_bytes(space.raw_data(), reserve.raw_data(), p.weights_at + p.weight_bytes, stream);
  char* w = static_cast<char*>(space.raw_data()) + p.weights_at;
  Tensor work = bytes(d, p.train_work);
  const Sequences seq(p, g, d, stream);
  // Steps past a sequence's length have no gradient, and cuDNN may leave them unwritten.
  if (!g.lengths.empty()) {
    NEURONA_CUDA_CHECK(cudaMemsetAsync(dx.raw_data(), 0, dx.nbytes(), stream));
  }
  NEURONA_CUDNN_CHECK(cudnnRNNBackwardData_v8(
      handle, p.rnn, seq.lengths, seq.y, y.raw_data(), dy.raw_data(), seq.x, dx.raw_data(), p.h,
      h0.raw_data(), dh.raw_data(), dh0.raw_data(), p.h, lstm ? c0.raw_data() : nullptr,
      lstm ? dc.raw_data() : nullptr, lstm ? dc0.raw_data() : nullptr, p.weight_bytes, w,
      p.train_work, work.raw_data(), p.reserve_bytes, space.raw_data()));
  if (!weights) return;
  // cuDNN adds the weight gradients (CUDNN_WGRAD_MODE_ADD is the mode it supports): start at 0.
  Tensor dw = bytes(d, p.weight_bytes);
  NEURONA_CUDA_CHECK(cudaMemsetAsync(dw.raw_data(), 0, p.weight_bytes, stream));
  NEURONA_CUDNN_CHECK(cudnnRNNBackwardWeights_v8(
      handle, p.rnn, CUDNN_WGRAD_MODE_ADD, seq.lengths, seq.x, x.raw_data(), p.h, h0.raw_data(),
      seq.y, y.raw_data(), p.weight_bytes, dw.raw_data(), p.train_work, work.raw_data(),
      p.reserve_bytes, space.raw_data()));
  unpack(g, p, static_cast<const char*>(dw.raw_data()), dkernel, drecurrent_kernel, dbias, stream);
}

}  // namespace

void register_rnn() {
  rnn_forward_stub.cuda = rnn_forward;
  rnn_forward_stub.cuda_dtypes = {DType::float32};
  rnn_backward_stub.cuda = rnn_backward;
  rnn_backward_stub.cuda_dtypes = {DType::float32};
}

}  // namespace neurona::kernels::cuda
