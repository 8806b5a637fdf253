// Every op on a GPU against the same op on the CPU, on random inputs, bounded by
// atol + rtol * |cpu|. Skipped (reported as such) where no GPU is present.
#include <neurona/neurona.h>

#include <functional>
#include <string>

#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::random_tensor;

namespace {

const nr::Device kGpu = nr::Device::cuda(0);
const nr::Device kCpu = nr::Device::cpu();

class Gpu : public nr::testing::GpuTest {};

// Runs `op` on CPU inputs and on copies of them on the GPU and compares the results.
::testing::AssertionResult parity(
    const std::string& what, const std::vector<nr::Tensor>& inputs,
    const std::function<nr::Tensor(const std::vector<nr::Tensor>&)>& op, double atol = 1e-5,
    double rtol = 1e-5) {
  std::vector<nr::Tensor> gpu_inputs;
  for (const auto& t : inputs) gpu_inputs.push_back(t.to(kGpu));
  const nr::Tensor c = op(inputs);
  const nr::Tensor g = op(gpu_inputs);
  if (g.device() != kGpu) return ::testing::AssertionFailure() << what << ": result not on GPU";
  if (c.shape() != g.shape() || c.dtype() != g.dtype()) {
    return ::testing::AssertionFailure() << what << ": cpu " << c.shape() << " " << c.dtype()
                                         << " vs gpu " << g.shape() << " " << g.dtype();
  }
  auto r = all_close(g.to_vector<double>(), c.to_vector<double>(), atol, rtol);
  if (!r) return ::testing::AssertionFailure() << what << ": " << r.message();
  return ::testing::AssertionSuccess();
}

const std::vector<std::pair<nr::Shape, nr::Shape>> kBinaryShapes = {
    {{1000}, {1000}},          {{7, 13}, {7, 13}}, {{7, 13}, {13}}, {{7, 1}, {1, 13}},
    {{2, 3, 5, 4}, {3, 1, 4}}, {{}, {33}},         {{0, 3}, {3}},   {{1}, {1}},
};

}  // namespace

TEST_F(Gpu, TensorsRoundTripThroughTheDeviceExactly) {
  for (nr::DType dt : {nr::float32, nr::float64, nr::int32, nr::int64, nr::uint8}) {
    const nr::Tensor t = random_tensor({5, 7}, dt, 0, 100);
    const nr::Tensor g = t.to(kGpu);
    EXPECT_EQ(g.device(), kGpu);
    EXPECT_EQ(g.to(kCpu).to_vector<double>(), t.to_vector<double>()) << nr::name(dt);
    EXPECT_EQ(g.str(), t.str());
  }
}

TEST_F(Gpu, DefaultDeviceIsTheFirstGpu) {
  EXPECT_EQ(nr::detail::resolve_default_device(nullptr, nr::cuda_device_count()), kGpu);
}

TEST_F(Gpu, BinaryOpsMatchCpu) {
  for (nr::DType dt : {nr::float32, nr::float64, nr::int32, nr::int64, nr::uint8}) {
    for (const auto& [name, fn] : nr::testing::all_binary_ops()) {
      for (const auto& [sa, sb] : kBinaryShapes) {
        const bool floating = nr::is_floating(dt);
        const nr::Tensor a = random_tensor(sa, dt, floating ? 0.1 : 0, floating ? 3 : 9, 1);
        const nr::Tensor b = random_tensor(sb, dt, floating ? 0.1 : 0, floating ? 3 : 4, 2);
        EXPECT_TRUE(parity(
            std::string(name) + " " + std::string(nr::name(dt)) + " " + sa.str() + " " + sb.str(),
            {a, b}, [fn = fn](const auto& in) { return fn(in[0], in[1]); }))
            << name;
      }
    }
  }
}

TEST_F(Gpu, UnaryOpsAndActivationsMatchCpu) {
  using Fn = std::function<nr::Tensor(const nr::Tensor&)>;
  const std::vector<std::pair<const char*, Fn>> ops = {
      {"neg", nr::neg},
      {"abs", nr::abs},
      {"square", nr::square},
      {"exp", nr::exp},
      {"log", [](const nr::Tensor& x) { return nr::log(nr::abs(x)); }},
      {"sqrt", [](const nr::Tensor& x) { return nr::sqrt(nr::abs(x)); }},
      {"relu", nr::relu},
      {"sigmoid", nr::sigmoid},
      {"tanh", nr::tanh},
      {"elu", [](const nr::Tensor& x) { return nr::elu(x, 0.7); }},
      {"selu", nr::selu},
      {"gelu", nr::gelu},
      {"silu", nr::silu},
      {"softplus", nr::softplus},
      {"softsign", nr::softsign},
      {"leaky_relu", [](const nr::Tensor& x) { return nr::leaky_relu(x); }},
      {"hard_sigmoid", nr::hard_sigmoid},
      {"gelu_approximate", nr::gelu_approximate},
      {"sin", nr::sin},
      {"cos", nr::cos},
      {"floor", nr::floor}};
  for (nr::DType dt : {nr::float32, nr::float64}) {
    for (const auto& [name, fn] : ops) {
      for (const nr::Shape& s : {nr::Shape{100003}, nr::Shape{3, 0}, nr::Shape{}}) {
        const nr::Tensor x = random_tensor(s, dt, -30, 30, 3);
        EXPECT_TRUE(parity(
            std::string(name) + " " + std::string(nr::name(dt)), {x},
            [fn = fn](const auto& in) { return fn(in[0]); }, 1e-6, 1e-5));
      }
    }
  }
  for (nr::DType dt : {nr::int32, nr::int64}) {
    const nr::Tensor x = random_tensor({1001}, dt, -50, 50, 4);
    EXPECT_TRUE(parity("neg int", {x}, [](const auto& in) { return nr::neg(in[0]); }));
    EXPECT_TRUE(parity("abs int", {x}, [](const auto& in) { return nr::abs(in[0]); }));
    EXPECT_TRUE(parity("square int", {x}, [](const auto& in) { return nr::square(in[0]); }));
  }
}

// gelu's gradients are one fused kernel each (the CPU's float32 runs on glibc's SIMD erf, exp
// and tanh).
TEST_F(Gpu, GeluGradsMatchCpu) {
  for (nr::DType dt : {nr::float32, nr::float64}) {
    for (const nr::Shape& s : {nr::Shape{100003}, nr::Shape{3, 0}, nr::Shape{}}) {
      const nr::Tensor g = random_tensor(s, dt, -2, 2, 7);
      const nr::Tensor x = random_tensor(s, dt, -6, 6, 8);
      EXPECT_TRUE(parity(
          std::string("gelu_grad ") + std::string(nr::name(dt)), {g, x},
          [](const auto& in) { return nr::kernels::gelu_grad(in[0], in[1]); }, 1e-6, 1e-5));
      EXPECT_TRUE(parity(
          std::string("gelu_approximate_grad ") + std::string(nr::name(dt)), {g, x},
          [](const auto& in) { return nr::kernels::gelu_approximate_grad(in[0], in[1]); }, 1e-6,
          1e-5));
    }
  }
}

TEST_F(Gpu, WhereAndCastMatchCpu) {
  const nr::Tensor a = random_tensor({4, 1, 6}, nr::float32, -5, 5, 5);
  const nr::Tensor b = random_tensor({5, 1}, nr::float32, -5, 5, 6);
  EXPECT_TRUE(parity("where", {a, b}, [](const auto& in) {
    return nr::where(nr::greater(in[0], in[1]), in[0], in[1]);
  }));
  const nr::Tensor v = nr::constant({-1e20, -3.7, -0.5, 0, 0.5, 2.5, 255.9, 300, 1e20});
  const nr::Tensor nan = nr::divide(nr::zeros({1}), nr::zeros({1}));
  const nr::Tensor src = nr::concat({v, nan});
  for (nr::DType from : {nr::float32, nr::float64, nr::int32, nr::int64, nr::uint8}) {
    for (nr::DType to : {nr::float32, nr::float64, nr::int32, nr::int64, nr::uint8}) {
      const nr::Tensor x =
          nr::is_floating(from) ? nr::cast(src, from) : random_tensor({77}, from, 0, 250);
      EXPECT_TRUE(parity(
          std::string("cast ") + std::string(nr::name(from)) + "->" + std::string(nr::name(to)),
          {x}, [to = to](const auto& in) { return nr::cast(in[0], to); }, 0, 0));
    }
  }
}

TEST_F(Gpu, ReductionsMatchCpu) {
  struct Case {
    nr::Shape shape;
    nr::Axes axes;
  };
  const std::vector<Case> cases = {{{1000003}, {}},        {{3, 100000}, {1}}, {{100000, 3}, {0}},
                                   {{7, 13, 5}, {0, 2}},   {{7, 13, 5}, {-1}}, {{64, 257}, {1}},
                                   {{2, 3, 4, 5}, {1, 3}}, {{0, 4}, {0}},      {{5}, {}}};
  for (nr::DType dt : {nr::float32, nr::float64, nr::int32}) {
    for (const auto& c : cases) {
      const nr::Tensor x = random_tensor(c.shape, dt, -4, 4, 7);
      const std::string tag = c.shape.str() + " " + std::string(nr::name(dt));
      // Summation order differs between the devices: bound by the size of the sum.
      EXPECT_TRUE(parity(
          "sum " + tag, {x}, [&](const auto& in) { return nr::sum(in[0], c.axes); }, 1e-3, 1e-4));
      EXPECT_TRUE(parity(
          "mean " + tag, {x}, [&](const auto& in) { return nr::mean(in[0], c.axes, true); }, 1e-5,
          1e-4));
      if (c.shape.numel() > 0) {
        EXPECT_TRUE(
            parity("max " + tag, {x}, [&](const auto& in) { return nr::max(in[0], c.axes); }));
        EXPECT_TRUE(
            parity("min " + tag, {x}, [&](const auto& in) { return nr::min(in[0], c.axes); }));
      }
    }
  }
  for (const nr::Shape& s : {nr::Shape{1000003}, nr::Shape{3, 4001}, nr::Shape{4001, 3}}) {
    const nr::Tensor x = random_tensor(s, nr::float32, -4, 4, 8);
    EXPECT_TRUE(parity(
        "argmax " + s.str(), {x}, [](const auto& in) { return nr::argmax(in[0], -1); }, 0, 0));
    EXPECT_TRUE(parity(
        "argmin " + s.str(), {x}, [](const auto& in) { return nr::argmin(in[0], 0); }, 0, 0));
    EXPECT_TRUE(parity(
        "argmax flat " + s.str(), {x}, [](const auto& in) { return nr::argmax(in[0]); }, 0, 0));
  }
  // Ties and NaN: the first index wins on both devices.
  const nr::Tensor ties = nr::concat({nr::ones({3000}), nr::fill({1}, 2.0), nr::fill({5000}, 2.0)});
  EXPECT_TRUE(parity(
      "argmax ties", {ties}, [](const auto& in) { return nr::argmax(in[0]); }, 0, 0));
  const nr::Tensor with_nan = nr::concat({ties, nr::divide(nr::zeros({1}), nr::zeros({1})), ties});
  EXPECT_TRUE(parity("max nan", {with_nan}, [](const auto& in) { return nr::max(in[0]); }));
  EXPECT_TRUE(parity(
      "argmax nan", {with_nan}, [](const auto& in) { return nr::argmax(in[0]); }, 0, 0));
}

TEST_F(Gpu, SoftmaxMatchesCpu) {
  for (nr::DType dt : {nr::float32, nr::float64}) {
    const nr::Tensor x = random_tensor({33, 10, 7}, dt, -50, 50, 9);
    for (int axis : {0, 1, -1}) {
      EXPECT_TRUE(parity(
          "softmax", {x}, [axis](const auto& in) { return nr::softmax(in[0], axis); }, 1e-6, 1e-5));
      EXPECT_TRUE(parity(
          "log_softmax", {x}, [axis](const auto& in) { return nr::log_softmax(in[0], axis); }, 1e-5,
          1e-5));
    }
  }
}

TEST_F(Gpu, MatmulMatchesCpu) {
  struct Case {
    nr::Shape a, b;
    bool ta, tb;
  };
  const std::vector<Case> cases = {{{128, 64}, {64, 96}, false, false},
                                   {{64, 128}, {64, 96}, true, false},
                                   {{128, 64}, {96, 64}, false, true},
                                   {{64, 128}, {96, 64}, true, true},
                                   {{7, 13}, {13, 5}, false, false},
                                   {{4, 33, 17}, {4, 17, 9}, false, false},
                                   {{4, 33, 17}, {17, 9}, false, false},
                                   {{33, 17}, {3, 17, 9}, false, false},
                                   {{2, 1, 5, 6}, {1, 3, 6, 4}, false, false},
                                   {{13}, {13, 5}, false, false},
                                   {{7, 13}, {13}, false, false},
                                   {{3, 0}, {0, 4}, false, false},
                                   {{0, 3}, {3, 4}, false, false}};
  for (nr::DType dt : {nr::float32, nr::float64}) {
    for (const auto& c : cases) {
      const nr::Tensor a = random_tensor(c.a, dt, -1, 1, 10);
      const nr::Tensor b = random_tensor(c.b, dt, -1, 1, 11);
      EXPECT_TRUE(parity(
          "matmul " + c.a.str() + " x " + c.b.str(), {a, b},
          [&](const auto& in) {
            return nr::matmul(in[0], in[1], {.transpose_a = c.ta, .transpose_b = c.tb});
          },
          1e-4, 1e-4));
    }
  }
}

TEST_F(Gpu, ArrayOpsMatchCpu) {
  const nr::Tensor x = random_tensor({4, 5, 6}, nr::float32, -3, 3, 12);
  EXPECT_TRUE(parity(
      "transpose", {x}, [](const auto& in) { return nr::transpose(in[0]); }, 0, 0));
  EXPECT_TRUE(parity(
      "transpose perm", {x},
      [](const auto& in) {
        return nr::transpose(in[0], {1, 0, 2});
      },
      0, 0));
  const nr::Tensor y = random_tensor({4, 2, 6}, nr::float32, -3, 3, 13);
  EXPECT_TRUE(parity(
      "concat axis 1", {x, y},
      [](const auto& in) {
        return nr::concat({in[0], in[1]}, 1);
      },
      0, 0));
  EXPECT_TRUE(parity(
      "concat axis 0", {x, x},
      [](const auto& in) {
        return nr::concat({in[0], in[1], in[0]}, 0);
      },
      0, 0));
  EXPECT_TRUE(parity(
      "slice", {x}, [](const auto& in) { return nr::slice(in[0], 1, 3); }, 0, 0));
  const nr::Tensor idx = nr::constant({{3, 0}, {1, 1}}, {.dtype = nr::int64});
  EXPECT_TRUE(parity(
      "gather", {x, idx}, [](const auto& in) { return nr::gather(in[0], in[1]); }, 0, 0));
  const nr::Tensor idx32 = nr::cast(idx, nr::int32);
  EXPECT_TRUE(parity(
      "gather int32", {x, idx32}, [](const auto& in) { return nr::gather(in[0], in[1]); }, 0, 0));
  const nr::Tensor labels = nr::constant({0, 3, 9, 11, -1}, {.dtype = nr::int32});
  EXPECT_TRUE(parity(
      "one_hot", {labels}, [](const auto& in) { return nr::one_hot(in[0], 10); }, 0, 0));
}

TEST_F(Gpu, GatherOutOfRangeGivesZerosOnGpu) {
  const nr::Tensor x = nr::ones({3, 2}, {.device = kGpu});
  const nr::Tensor idx = nr::constant({0, 5}, {.dtype = nr::int32, .device = kGpu});
  EXPECT_EQ(nr::gather(x, idx).to_vector<float>(), (std::vector<float>{1, 1, 0, 0}));
}

TEST_F(Gpu, CreationOpsMatchCpu) {
  for (nr::DType dt : {nr::float32, nr::float64, nr::int32, nr::int64, nr::uint8}) {
    const nr::Tensor c = nr::fill({3, 7}, 2.5, {.dtype = dt, .device = kCpu});
    const nr::Tensor g = nr::fill({3, 7}, 2.5, {.dtype = dt, .device = kGpu});
    EXPECT_EQ(g.to_vector<double>(), c.to_vector<double>());
    EXPECT_EQ(nr::arange(-3, 20, 0.5, {.dtype = dt, .device = kGpu}).to_vector<double>(),
              nr::arange(-3, 20, 0.5, {.dtype = dt, .device = kCpu}).to_vector<double>());
    EXPECT_EQ(nr::constant({{1, 2}, {3, 4}}, {.dtype = dt, .device = kGpu}).to_vector<double>(),
              (std::vector<double>{1, 2, 3, 4}));
  }
}

TEST_F(Gpu, SameSeedGivesSameRandomNumbersOnBothDevices) {
  for (nr::DType dt : {nr::float32, nr::float64}) {
    const auto u_cpu = nr::random_uniform(
        {10007}, {.minval = -2, .maxval = 3, .dtype = dt, .device = kCpu, .seed = 5});
    const auto u_gpu = nr::random_uniform(
        {10007}, {.minval = -2, .maxval = 3, .dtype = dt, .device = kGpu, .seed = 5});
    EXPECT_EQ(u_gpu.to_vector<double>(), u_cpu.to_vector<double>());
    const auto n_cpu = nr::random_normal(
        {10007}, {.mean = 1, .stddev = 2, .dtype = dt, .device = kCpu, .seed = 6});
    const auto n_gpu = nr::random_normal(
        {10007}, {.mean = 1, .stddev = 2, .dtype = dt, .device = kGpu, .seed = 6});
    EXPECT_TRUE(all_close(n_gpu.to_vector<double>(), n_cpu.to_vector<double>(), 1e-6, 1e-6));
    const auto t_cpu = nr::truncated_normal({10007}, {.dtype = dt, .device = kCpu, .seed = 7});
    const auto t_gpu = nr::truncated_normal({10007}, {.dtype = dt, .device = kGpu, .seed = 7});
    EXPECT_TRUE(all_close(t_gpu.to_vector<double>(), t_cpu.to_vector<double>(), 1e-6, 1e-6));
  }
  nr::set_seed(42);
  const auto a = nr::random_normal({1000}, {.device = kCpu});
  nr::set_seed(42);
  const auto b = nr::random_normal({1000}, {.device = kGpu});
  EXPECT_TRUE(all_close(b.to_vector<double>(), a.to_vector<double>(), 1e-6, 1e-6));
  const auto ui = nr::random_uniform(
      {1000}, {.minval = 0, .maxval = 10, .dtype = nr::int32, .device = kGpu, .seed = 3});
  const auto ui_cpu = nr::random_uniform(
      {1000}, {.minval = 0, .maxval = 10, .dtype = nr::int32, .device = kCpu, .seed = 3});
  EXPECT_EQ(ui.to_vector<int>(), ui_cpu.to_vector<int>());
}

TEST_F(Gpu, MixingDevicesIsClearError) {
  const nr::Tensor c = nr::ones({2}, {.device = kCpu});
  const nr::Tensor g = nr::ones({2}, {.device = kGpu});
  NEURONA_EXPECT_THROW_MSG(nr::add(c, g), nr::ValueError, "add", "cuda:0", "cpu");
  NEURONA_EXPECT_THROW_MSG(nr::matmul(g.reshape({1, 2}), c.reshape({2, 1})), nr::ValueError,
                           "matmul", "cuda:0", "cpu");
  NEURONA_EXPECT_THROW_MSG(nr::concat({c, g}), nr::ValueError, "concat", "tensors[1]");
  NEURONA_EXPECT_THROW_MSG(nr::where(nr::greater(g, g), c, c), nr::ValueError, "where");
}

TEST_F(Gpu, CachingAllocatorServesRepeatedStepsWithoutCudaMalloc) {
  // Warm up: one step's worth of allocations.
  auto step = [] {
    const nr::Tensor a = nr::ones({256, 256}, {.device = kGpu});
    const nr::Tensor b = nr::matmul(a, a);
    return nr::sum(nr::relu(b)).item();
  };
  step();
  const auto before = nr::memory_stats(kGpu);
  for (int i = 0; i < 10; ++i) EXPECT_FLOAT_EQ(step(), 256.f * 256 * 256);
  const auto after = nr::memory_stats(kGpu);
  EXPECT_EQ(after.num_raw_allocations, before.num_raw_allocations);
  EXPECT_GT(after.num_allocations, before.num_allocations);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  EXPECT_GT(after.bytes_cached, 0u);
}

TEST_F(Gpu, OutOfMemoryNamesBytesAskedInUseAndCached) {
  const std::int64_t huge = std::int64_t{1} << 48;  // 1 PiB of float32
  NEURONA_EXPECT_THROW_MSG(nr::Tensor::empty({huge}, nr::float32, kGpu), nr::OutOfMemoryError,
                           "cuda:0", "out of memory", "bytes in use", "bytes cached");
  // The device still works afterwards.
  EXPECT_FLOAT_EQ(nr::sum(nr::ones({10}, {.device = kGpu})).item(), 10.f);
}
