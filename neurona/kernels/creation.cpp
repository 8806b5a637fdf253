// Front doors of the tensor-making ops.
#include "neurona/kernels/creation.h"

#include <cmath>
#include <cstdint>

#include "neurona/core/random.h"
#include "neurona/core/replica_context.h"
#include "neurona/kernels/checks.h"
#include "neurona/kernels/creation_stubs.h"
#include "neurona/kernels/elementwise.h"

namespace neurona::kernels {

DispatchStub<RandomFn> random_stub{"random"};
DispatchStub<TakeKeyFn> take_key_stub{"take_key"};

DispatchStub<ArangeFn> arange_stub{"arange"};

DispatchStub<FillFn> fill_stub{"fill"};

namespace {

// Host float64 values -> a tensor of the requested dtype and device.
Tensor from_doubles(const char* op, std::vector<double> values, Shape shape,
                    TensorOptions options) {
  shape.check_valid(op);
  const Device d = options.resolved_device();
  check_device_available(d, op);
  const auto n = static_cast<std::int64_t>(values.size());
  if (n == 1 && shape.numel() != 1) return fill(shape, values[0], options);
  NEURONA_CHECK(shape.numel() == n, ShapeError, op, ": ", n, " values do not fill shape ", shape,
                " (", shape.numel(), " elements)");
  Tensor host = constant(values, shape, Device::cpu());
  return cast(host, options.dtype).to(d);
}

template <typename List>
void flatten(const List& list, std::vector<double>& out, std::vector<std::int64_t>& dims,
             std::size_t depth, const char* op) {
  if (dims.size() <= depth) {
    dims.push_back(static_cast<std::int64_t>(list.size()));
  } else {
    NEURONA_CHECK(dims[depth] == static_cast<std::int64_t>(list.size()), ValueError, op,
                  ": nested lists are not rectangular: a list at depth ", depth, " has ",
                  list.size(), " elements, an earlier one ", dims[depth]);
  }
  for (const auto& item : list) {
    if constexpr (std::is_same_v<std::decay_t<decltype(item)>, double>) {
      out.push_back(item);
    } else {
      flatten(item, out, dims, depth + 1, op);
    }
  }
}

template <typename List>
Tensor from_nested(const List& values, std::optional<Shape> shape, TensorOptions options) {
  std::vector<double> flat;
  std::vector<std::int64_t> dims;
  flatten(values, flat, dims, 0, "constant");
  // An empty inner list leaves deeper dimensions unknown: they are 0.
  return from_doubles("constant", std::move(flat), shape ? *shape : Shape(std::move(dims)),
                      options);
}

}  // namespace

Tensor constant(double value, TensorOptions options) {
  return from_doubles("constant", {value}, Shape{}, options);
}
Tensor constant(std::initializer_list<double> values, TensorOptions options) {
  return from_nested(values, std::nullopt, options);
}
Tensor constant(std::initializer_list<double> values, const Shape& shape, TensorOptions options) {
  return from_nested(values, shape, options);
}
Tensor constant(std::initializer_list<std::initializer_list<double>> values,
                TensorOptions options) {
  return from_nested(values, std::nullopt, options);
}
Tensor constant(std::initializer_list<std::initializer_list<double>> values, const Shape& shape,
                TensorOptions options) {
  return from_nested(values, shape, options);
}
Tensor constant(std::initializer_list<std::initializer_list<std::initializer_list<double>>> values,
                TensorOptions options) {
  return from_nested(values, std::nullopt, options);
}
Tensor constant(std::initializer_list<std::initializer_list<std::initializer_list<double>>> values,
                const Shape& shape, TensorOptions options) {
  return from_nested(values, shape, options);
}

template <typename T>
Tensor constant(const std::vector<T>& values, const Shape& shape, std::optional<Device> device) {
  shape.check_valid("constant");
  NEURONA_CHECK(shape.numel() == static_cast<std::int64_t>(values.size()), ShapeError,
                "constant: ", values.size(), " values do not fill shape ", shape, " (",
                shape.numel(), " elements)");
  const Device d = device ? *device : default_device();
  Tensor host = Tensor::empty(shape, dtype_of<T>(), Device::cpu());
  if (!values.empty()) std::copy(values.begin(), values.end(), host.data<T>());
  return host.to(d);
}

template Tensor constant(const std::vector<float>&, const Shape&, std::optional<Device>);
template Tensor constant(const std::vector<double>&, const Shape&, std::optional<Device>);
template Tensor constant(const std::vector<std::int32_t>&, const Shape&, std::optional<Device>);
template Tensor constant(const std::vector<std::int64_t>&, const Shape&, std::optional<Device>);
template Tensor constant(const std::vector<std::uint8_t>&, const Shape&, std::optional<Device>);

namespace {

// Tensor::empty, with a shape error that names the op the user called.
Tensor empty_for(const char* op, const Shape& shape, DType dtype, Device device) {
  shape.check_valid(op);
  return Tensor::empty(shape, dtype, device);
}

Tensor filled(const char* op, const Shape& shape, double value, TensorOptions options) {
  Tensor out = empty_for(op, shape, options.dtype, options.resolved_device());
  if (out.numel() > 0) kernels::fill_stub.get(out.device())(value, out);
  return out;
}

}  // namespace

Tensor fill(const Shape& shape, double value, TensorOptions options) {
  return filled("fill", shape, value, options);
}
Tensor zeros(const Shape& shape, TensorOptions options) {
  return filled("zeros", shape, 0.0, options);
}
Tensor ones(const Shape& shape, TensorOptions options) {
  return filled("ones", shape, 1.0, options);
}
Tensor zeros_like(const Tensor& x) {
  return fill_like(x, 0.0);
}
Tensor ones_like(const Tensor& x) {
  return fill_like(x, 1.0);
}
Tensor fill_like(const Tensor& x, double value) {
  NEURONA_CHECK(x.defined(), ValueError, "fill_like: the tensor is undefined");
  return fill(x.shape(), value, {.dtype = x.dtype(), .device = x.device()});
}

Tensor arange(double start, double stop, double step, TensorOptions options) {
  NEURONA_CHECK(step != 0 && std::isfinite(step) && std::isfinite(start) && std::isfinite(stop),
                ValueError, "arange: start, stop and step must be finite and step nonzero, got (",
                start, ", ", stop, ", ", step, ")");
  const double count = std::ceil((stop - start) / step);
  NEURONA_CHECK(count < 9.0e15, ValueError, "arange: (", start, ", ", stop, ", ", step,
                ") gives too many elements");
  const auto n = static_cast<std::int64_t>(std::max(0.0, count));
  Tensor out = Tensor::empty(Shape{n}, options);
  if (n > 0) kernels::arange_stub.get(out.device())(start, step, out);
  return out;
}

namespace {
// Fills `out` from the generator's state on the device, or from a key made here (an op seed, or
// the global seed and call count). A draw advances the generator's or the global counter even
// for an empty tensor, as Keras's SeedGenerator.next does.
void draw(const char* op, kernels::RandomDist dist, double a, double b,
          std::optional<std::uint64_t> seed, SeedGenerator* generator, Tensor& out) {
  NEURONA_CHECK(!(seed && generator), ValueError, op,
                ": give either `seed` or `seed_generator`, not both");
  // Inside a ScopedRandomStream (a dataset's map) the scope's stream stands in for the generator.
  if (generator != nullptr && !detail::in_scoped_random_stream()) {
    const Tensor& state = generator->state(out.device());
    // A data-parallel replica's rows of the global batch: their part of the global batch's
    // draw (core/replica_context.h), the elements from the replica's first row on. Only
    // generators' draws: the layers' randomness in training.
    const std::int64_t rows = out.rank() >= 1 ? out.shape()[0] : 0;
    const std::int64_t offset =
        rows > 0 ? detail::replica_draw_offset(rows, out.numel() / rows) : 0;
    kernels::random_stub.get(out.device())(dist, a, b, RandomKey{}, state, offset, out);
    return;
  }
  const RandomKey key = detail::next_random_key(seed);
  if (out.numel() > 0) kernels::random_stub.get(out.device())(dist, a, b, key, Tensor(), 0, out);
}
}  // namespace

Tensor random_uniform(const Shape& shape, UniformOptions o) {
  NEURONA_CHECK(std::isfinite(o.minval) && std::isfinite(o.maxval) && o.minval < o.maxval,
                ValueError, "random_uniform: need finite minval < maxval, got minval=", o.minval,
                ", maxval=", o.maxval);
  if (!is_floating(o.dtype)) {
    // Integers in [minval, maxval): the range must lie in the dtype's (or the draws saturate).
    const IntegerRange r = integer_range(o.dtype);
    NEURONA_CHECK(o.minval >= r.lo && o.maxval <= r.end, ValueError,
                  "random_uniform: [minval, maxval) = [", o.minval, ", ", o.maxval,
                  ") is outside what ", o.dtype, " holds ([", r.lo, ", ", r.end, "))");
  }
  Tensor out = empty_for("random_uniform", shape, o.dtype, o.device ? *o.device : default_device());
  draw("random_uniform", kernels::RandomDist::uniform, o.minval, o.maxval, o.seed, o.seed_generator,
       out);
  return out;
}

namespace {
Tensor normal(const char* op, kernels::RandomDist dist, const Shape& shape, NormalOptions o) {
  NEURONA_CHECK(is_floating(o.dtype), ValueError, op, ": dtype must be a float dtype, got ",
                o.dtype);
  NEURONA_CHECK(std::isfinite(o.mean) && std::isfinite(o.stddev) && o.stddev >= 0, ValueError, op,
                ": need a finite mean and stddev >= 0, got mean=", o.mean, ", stddev=", o.stddev);
  Tensor out = empty_for(op, shape, o.dtype, o.device ? *o.device : default_device());
  draw(op, dist, o.mean, o.stddev, o.seed, o.seed_generator, out);
  return out;
}
}  // namespace

Tensor random_normal(const Shape& shape, NormalOptions o) {
  return normal("random_normal", kernels::RandomDist::normal, shape, o);
}
Tensor truncated_normal(const Shape& shape, NormalOptions o) {
  return normal("truncated_normal", kernels::RandomDist::truncated_normal, shape, o);
}

Tensor take_random_key(SeedGenerator& generator, Device device) {
  const Tensor& state = generator.state(device);
  Tensor key = Tensor::empty({2}, DType::int64, device);
  take_key_stub.get(device)(state, key);
  return key;
}

}  // namespace neurona::kernels
