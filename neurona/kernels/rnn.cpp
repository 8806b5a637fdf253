// Front doors of the fused recurrent op: shape, dtype and device checks naming the op and the
// argument, then dispatch (a CUDA kernel only).
#include "neurona/kernels/rnn.h"

#include "neurona/kernels/checks.h"
#include "neurona/kernels/rnn_stubs.h"

namespace neurona::kernels {

DispatchStub<RNNForwardFn> rnn_forward_stub{"rnn_fused_forward"};
DispatchStub<RNNBackwardFn> rnn_backward_stub{"rnn_fused_backward"};

bool rnn_fused_available(Device device, DType dtype) {
  return rnn_forward_stub.takes(device, dtype) && rnn_backward_stub.takes(device, dtype);
}

namespace {

void check_arg(const char* op, const char* arg, const Tensor& t, const Shape& want,
               const Tensor& x) {
  NEURONA_CHECK(t.defined(), ValueError, op, ": argument ", arg, " is an undefined tensor");
  NEURONA_CHECK(t.shape() == want, ShapeError, op, ": argument ", arg, " has shape ", t.shape(),
                "; expected ", want, " for x of shape ", x.shape());
  NEURONA_CHECK(t.dtype() == x.dtype(), ValueError, op, ": argument ", arg, " has dtype ",
                t.dtype(), " but x has dtype ", x.dtype());
  NEURONA_CHECK(t.device() == x.device(), ValueError, op, ": argument ", arg, " is on ", t.device(),
                " but x is on ", x.device(), "; move one with .to(device)");
}

RNNGeometry geometry(const char* op, RNNMode mode, const Tensor& x, const Tensor& h0,
                     const Tensor& c0, const Tensor& kernel, const Tensor& recurrent_kernel,
                     const Tensor& bias, const std::vector<std::int32_t>& lengths) {
  NEURONA_CHECK(x.defined() && x.rank() == 3, ShapeError, op,
                ": argument x must be (batch, timesteps, input_dim), got ",
                x.defined() ? x.shape() : Shape());
  check_floating(op, "x", x);
  // The kernel's own dtypes (cuDNN's descriptors here are float32): another one would be read
  // as float32. A device without the kernel is the stub's NotImplementedError.
  NEURONA_CHECK(!rnn_forward_stub.has(x.device()) || rnn_fused_available(x.device(), x.dtype()),
                ValueError, op, ": x has dtype ", x.dtype(), ", which the fused kernel on ",
                x.device(), " does not take (rnn_fused_available says which do)");
  RNNGeometry g;
  g.mode = mode;
  g.batch = x.shape()[0];
  g.steps = x.shape()[1];
  g.input_size = x.shape()[2];
  NEURONA_CHECK(recurrent_kernel.defined() && recurrent_kernel.rank() == 2, ShapeError, op,
                ": argument recurrent_kernel must be (units, gates * units)");
  g.units = recurrent_kernel.shape()[0];
  const std::int64_t gates = mode == RNNMode::lstm ? 4 : 3;
  NEURONA_CHECK(g.batch > 0 && g.steps > 0 && g.input_size > 0 && g.units > 0, ShapeError, op,
                ": empty sizes: x ", x.shape(), ", recurrent_kernel ", recurrent_kernel.shape());
  check_arg(op, "h0", h0, Shape({g.batch, g.units}), x);
  if (mode == RNNMode::lstm) {
    check_arg(op, "c0", c0, Shape({g.batch, g.units}), x);
  } else {
    NEURONA_CHECK(!c0.defined(), ValueError, op, ": a GRU has no c0");
  }
  check_arg(op, "kernel", kernel, Shape({g.input_size, gates * g.units}), x);
  check_arg(op, "recurrent_kernel", recurrent_kernel, Shape({g.units, gates * g.units}), x);
  check_arg(op, "bias", bias,
            mode == RNNMode::lstm ? Shape({gates * g.units}) : Shape({2, gates * g.units}), x);
  if (!lengths.empty()) {
    NEURONA_CHECK(static_cast<std::int64_t>(lengths.size()) == g.batch, ValueError, op, ": ",
                  lengths.size(), " lengths for a batch of ", g.batch);
    // cuDNN's RNNs fail on a sequence of length 0 (and would not give h0 back for it).
    for (std::int32_t n : lengths) {
      NEURONA_CHECK(n >= 1 && n <= g.steps, ValueError, op, ": a length of ", n, " is outside [1, ",
                    g.steps, "]");
    }
  }
  g.lengths = lengths;
  return g;
}

}  // namespace

RNNFusedResult rnn_fused_forward(RNNMode mode, const Tensor& x, const Tensor& h0, const Tensor& c0,
                                 const Tensor& kernel, const Tensor& recurrent_kernel,
                                 const Tensor& bias, const std::vector<std::int32_t>& lengths,
                                 bool training) {
  const char* op = "rnn_fused_forward";
  const RNNGeometry g = geometry(op, mode, x, h0, c0, kernel, recurrent_kernel, bias, lengths);
  RNNFusedResult r;
  r.y = Tensor::empty({g.batch, g.steps, g.units}, x.dtype(), x.device());
  r.h = Tensor::empty({g.batch, g.units}, x.dtype(), x.device());
  if (mode == RNNMode::lstm) r.c = Tensor::empty({g.batch, g.units}, x.dtype(), x.device());
  if (training) r.reserve = Tensor::empty({0}, DType::uint8, x.device());
  rnn_forward_stub.get(x.device(), x.dtype())(g, x, h0, c0, kernel, recurrent_kernel, bias,
                                              training, r.y, r.h, r.c, r.reserve);
  return r;
}

RNNFusedGradients rnn_fused_backward(RNNMode mode, const Tensor& x, const Tensor& h0,
                                     const Tensor& c0, const Tensor& kernel,
                                     const Tensor& recurrent_kernel, const Tensor& bias,
                                     const std::vector<std::int32_t>& lengths, const Tensor& y,
                                     const Tensor& reserve, const Tensor& dy, const Tensor& dh,
                                     const Tensor& dc, bool weights_wanted) {
  const char* op = "rnn_fused_backward";
  const RNNGeometry g = geometry(op, mode, x, h0, c0, kernel, recurrent_kernel, bias, lengths);
  NEURONA_CHECK(reserve.defined(), ValueError, op,
                ": the forward pass kept no reserve (it ran with training = false)");
  check_arg(op, "y", y, Shape({g.batch, g.steps, g.units}), x);
  check_arg(op, "dy", dy, Shape({g.batch, g.steps, g.units}), x);
  check_arg(op, "dh", dh, Shape({g.batch, g.units}), x);
  if (mode == RNNMode::lstm) check_arg(op, "dc", dc, Shape({g.batch, g.units}), x);
  RNNFusedGradients r;
  r.dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  r.dh0 = Tensor::empty(h0.shape(), x.dtype(), x.device());
  if (mode == RNNMode::lstm) r.dc0 = Tensor::empty(c0.shape(), x.dtype(), x.device());
  if (weights_wanted) {
    r.dkernel = Tensor::empty(kernel.shape(), x.dtype(), x.device());
    r.drecurrent_kernel = Tensor::empty(recurrent_kernel.shape(), x.dtype(), x.device());
    r.dbias = Tensor::empty(bias.shape(), x.dtype(), x.device());
  }
  rnn_backward_stub.get(x.device(), x.dtype())(g, x, h0, c0, kernel, recurrent_kernel, bias, y,
                                               reserve, dy, dh, dc, weights_wanted, r.dx, r.dh0,
                                               r.dc0, r.dkernel, r.drecurrent_kernel, r.dbias);
  return r;
}

}  // namespace neurona::kernels
