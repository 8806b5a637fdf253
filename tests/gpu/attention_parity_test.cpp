// The fused scaled dot-product attention's CUDA kernels against its CPU kernels (the reference,
// in float32 for every dtype): the output, the lse and the three gradients, in float32, bfloat16
// and float16, for head dims 64 and 128 (the fast tiles) and 40, 96, 200 (padded into the next
// tile), causal with Tq != Tk, masks with entirely masked rows, grouped-query heads, dropout (the
// same Philox elements dropped on both devices) and sequences that cross many blocks; then
// nr::dot_product_attention's tape gradients on the GPU. Skipped where no GPU is present.
#include <gtest/gtest.h>

#include <neurona/neurona.h>

#include <string>
#include <vector>

#include "neurona/kernels/attention.h"
#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::random_tensor;

namespace {

class GpuAttention : public nr::testing::GpuTest, public ::testing::WithParamInterface<nr::DType> {
 protected:
  void TearDown() override { nr::set_default_device(nr::Device::cpu()); }
};

struct Case {
  std::int64_t b, tq, tk, n, nk, h, hv;
  bool causal = false;
  bool mask = false;
  double dropout = 0;
  // The local window (left, right); -1: none.
  std::int64_t window_left = -1, window_right = -1;
};

std::string describe(const Case& c) {
  return nr::detail::str(
      "B", c.b, " Tq", c.tq, " Tk", c.tk, " N", c.n, " Nk", c.nk, " H", c.h, " Hv", c.hv,
      c.causal ? " causal" : "", c.mask ? " mask" : "", c.dropout > 0 ? " dropout" : "",
      c.window_left >= 0 ? nr::detail::str(" window (", c.window_left, ", ", c.window_right, ")")
                         : std::string());
}

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {2, 128, 128, 4, 4, 64, 64},
      {1, 200, 333, 2, 2, 128, 128},
      {2, 130, 70, 4, 2, 64, 64, true},
      {1, 70, 190, 2, 1, 128, 128, true},
      {2, 100, 150, 2, 2, 64, 64, false, true},
      {2, 100, 100, 2, 2, 64, 64, true, true},
      {1, 96, 96, 2, 2, 64, 64, false, false, 0.25},
      {1, 96, 96, 2, 2, 128, 128, true, false, 0.25},
      {1, 50, 60, 2, 2, 40, 24},
      {1, 50, 60, 2, 2, 96, 96, true},
      {1, 40, 50, 1, 1, 200, 200},
      // Local windows: a band over several blocks both ways (blocks skipped), causal with a
      // left window (a sliding-window decoder), and one that leaves rows without keys (none
      // skipped; those rows attend every key uniformly).
      {2, 300, 300, 2, 2, 64, 64, false, false, 0, 70, 70},
      {1, 400, 400, 2, 1, 128, 128, true, false, 0, 127, 0},
      {1, 200, 60, 2, 2, 64, 64, false, false, 0, 20, 5},
      // Band edges next to the tiles' (64 and 32 rows): 65 and 33 left, 1 and 33 right.
      {1, 260, 260, 2, 2, 64, 64, false, false, 0, 65, 1},
      {1, 260, 260, 2, 2, 128, 128, false, false, 0, 33, 33},
  };
  return c;
}

// A random (B, 1, Tq, Tk) mask hiding about 30% of the keys, and every key of query row 3 (an
// entirely masked row, which attends all keys uniformly).
nr::Tensor make_mask(const Case& c) {
  std::vector<double> bits(static_cast<std::size_t>(c.b * c.tq * c.tk));
  const std::vector<double> u = nr::testing::uniform_values(c.b * c.tq * c.tk, 0, 1, 17);
  for (std::size_t e = 0; e < bits.size(); ++e) {
    const std::int64_t i = static_cast<std::int64_t>(e) / c.tk % c.tq;
    bits[e] = i == 3 ? 0.0 : (u[e] < 0.3 ? 0.0 : 1.0);
  }
  return nr::testing::make_tensor(bits, {c.b, 1, c.tq, c.tk}, nr::uint8);
}

struct Result {
  nr::Tensor out, lse, dq, dk, dv;
};

Result run(const Case& c, nr::DType dtype, nr::Device d) {
  const auto in = [&](const nr::Shape& s, std::uint32_t seed) {
    // The same 16-bit-rounded values on both devices; the CPU computes in float32 from them.
    const nr::Tensor x = nr::cast(random_tensor(s, nr::float32, -1.5, 1.5, seed), dtype);
    return (d.is_cpu() ? nr::cast(x, nr::float32) : x).to(d);
  };
  const nr::Tensor q = in({c.b, c.tq, c.n, c.h}, 1);
  const nr::Tensor k = in({c.b, c.tk, c.nk, c.h}, 2);
  const nr::Tensor v = in({c.b, c.tk, c.nk, c.hv}, 3);
  const nr::Tensor dout = in({c.b, c.tq, c.n, c.hv}, 4);
  nr::kernels::AttentionOptions o;
  if (c.mask) o.mask = make_mask(c).to(d);
  o.is_causal = c.causal;
  if (c.window_left >= 0) o.local_window_size = std::pair{c.window_left, c.window_right};
  o.dropout_rate = c.dropout;
  o.dropout_key = {99, 3};
  const nr::kernels::AttentionForward f = nr::kernels::attention_forward(q, k, v, o);
  // The backward pass from the CPU's output rounded like the GPU's, so that D agrees.
  const nr::Tensor out = d.is_cpu() ? nr::cast(nr::cast(f.out, dtype), nr::float32) : f.out;
  const nr::kernels::AttentionGradients g =
      nr::kernels::attention_backward(dout, q, k, v, out, f.lse, o);
  const auto host = [](const nr::Tensor& t) {
    return nr::cast(t.to(nr::Device::cpu()), nr::float32);
  };
  return {host(f.out), host(f.lse), host(g.dquery), host(g.dkey), host(g.dvalue)};
}

double tolerance(nr::DType dtype) {
  return dtype == nr::float32 ? 2e-4 : dtype == nr::DType::float16 ? 1e-2 : 5e-2;
}

}  // namespace

TEST_P(GpuAttention, MatchesTheCpuForwardAndBackward) {
  const nr::DType dtype = GetParam();
  const double tol = tolerance(dtype);
  for (const Case& c : cases()) {
    SCOPED_TRACE(describe(c));
    const Result gpu = run(c, dtype, nr::Device::cuda(0));
    const Result cpu = run(c, dtype, nr::Device::cpu());
    EXPECT_TRUE(all_close(gpu.out, cpu.out.to_vector<double>(), tol, tol)) << "out";
    // The lse is float32 on both (-inf for the entirely masked rows: equal, so all_close holds).
    EXPECT_TRUE(all_close(gpu.lse, cpu.lse.to_vector<double>(), 1e-3, 1e-4)) << "lse";
    EXPECT_TRUE(all_close(gpu.dq, cpu.dq.to_vector<double>(), tol, tol)) << "dquery";
    EXPECT_TRUE(all_close(gpu.dk, cpu.dk.to_vector<double>(), tol, tol)) << "dkey";
    EXPECT_TRUE(all_close(gpu.dv, cpu.dv.to_vector<double>(), tol, tol)) << "dvalue";
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GpuAttention,
                         ::testing::Values(nr::float32, nr::DType::bfloat16, nr::DType::float16),
                         [](const auto& param_info) {
                           return std::string(nr::name(param_info.param));
                         });

TEST_F(GpuAttention, TapeGradientsMatchTheCpu) {
  const auto grads = [](nr::Device d) {
    const nr::Tensor q = random_tensor({2, 33, 4, 64}, nr::float32, -1, 1, 5).to(d);
    const nr::Tensor k = random_tensor({2, 47, 2, 64}, nr::float32, -1, 1, 6).to(d);
    const nr::Tensor v = random_tensor({2, 47, 2, 64}, nr::float32, -1, 1, 7).to(d);
    nr::GradientTape tape;
    tape.watch(q);
    tape.watch(k);
    tape.watch(v);
    const nr::Tensor y = nr::dot_product_attention(q, k, v, {.is_causal = true});
    const nr::Tensor loss = nr::sum(nr::square(y));
    std::vector<nr::Tensor> g = tape.gradient(loss, {q, k, v});
    g.push_back(y);
    for (auto& t : g) t = t.to(nr::Device::cpu());
    return g;
  };
  const std::vector<nr::Tensor> gpu = grads(nr::Device::cuda(0));
  const std::vector<nr::Tensor> cpu = grads(nr::Device::cpu());
  for (std::size_t x = 0; x < gpu.size(); ++x) {
    EXPECT_TRUE(all_close(gpu[x], cpu[x].to_vector<double>(), 2e-4, 2e-4)) << x;
  }
}

TEST_F(GpuAttention, Float64AndHugeHeadDimsAreRefusedWithTheirNames) {
  const nr::Device d = nr::Device::cuda(0);
  const nr::Tensor q = nr::zeros({1, 2, 1, 8}, {.dtype = nr::float64, .device = d});
  NEURONA_EXPECT_THROW_MSG(nr::kernels::attention_forward(q, q, q), nr::ValueError,
                           "dot_product_attention", "float64");
  const nr::Tensor big = nr::zeros({1, 2, 1, 300}, {.device = d});
  NEURONA_EXPECT_THROW_MSG(nr::kernels::attention_forward(big, big, big), nr::ValueError,
                           "head_dim", "300");
}
