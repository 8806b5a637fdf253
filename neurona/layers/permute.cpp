// Permute over nr::transpose (one copy), RepeatVector over nr::broadcast_to (one copy; its
// gradient is a sum over the repeats).
#include "neurona/layers/permute.h"

#include <algorithm>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

namespace {
std::string dims_str(const std::vector<int>& dims) {
  std::string s = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    s += (i ? ", " : "") + std::to_string(dims[i]);
  }
  return s + (dims.size() == 1 ? ",)" : ")");
}

// Keras's InputSpec(ndim=...) message.
void check_ndim(const Layer& layer, const Shape& shape, int ndim) {
  NEURONA_CHECK(shape.rank() == ndim, ShapeError, layer.describe(), ": Input 0 of layer '",
                layer.name(), "' is incompatible with the layer: expected ndim=", ndim,
                ", found ndim=", shape.rank(), ". Full shape received: ", shape_str(shape));
}
}  // namespace

PermuteLayer::PermuteLayer(std::vector<int> dims, LayerOptions options)
    : Layer("Permute", std::move(options)), dims_(std::move(dims)) {
  std::vector<int> sorted = dims_;
  std::sort(sorted.begin(), sorted.end());
  bool consecutive = true;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    consecutive = consecutive && sorted[i] == static_cast<int>(i) + 1;
  }
  NEURONA_CHECK(consecutive, ValueError, describe(),
                ": Invalid permutation argument `dims` for Permute Layer. The set of indices in "
                "`dims` must be consecutive and start from 1. Received dims=",
                dims_str(dims_));
}

Shape PermuteLayer::compute_output_shape(const Shape& input_shape) const {
  check_ndim(*this, input_shape, static_cast<int>(dims_.size()) + 1);
  std::vector<std::int64_t> out{input_shape[0]};
  for (int d : dims_) out.push_back(input_shape[d]);
  return Shape(std::move(out));
}

Tensor PermuteLayer::call(const Tensor& inputs, bool /*training*/) {
  compute_output_shape(inputs.shape());
  std::vector<int> perm{0};
  perm.insert(perm.end(), dims_.begin(), dims_.end());
  return transpose(inputs, std::move(perm));
}

Permute::Permute(std::vector<int> dims, LayerOptions options)
    : LayerHandle<PermuteLayer>(
          std::make_shared<PermuteLayer>(std::move(dims), std::move(options))) {}

ConfigValue PermuteLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  ConfigValue::List dims;
  for (int d : dims_) dims.emplace_back(static_cast<std::int64_t>(d));
  config.set("dims", std::move(dims));
  return config;
}

Permute Permute::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Permute");
  std::vector<int> dims;
  for (std::int64_t d : r.ints("dims", r.need("dims"))) dims.push_back(static_cast<int>(d));
  return Permute(std::move(dims), r.layer_options());
}

RepeatVectorLayer::RepeatVectorLayer(std::int64_t n, LayerOptions options)
    : Layer("RepeatVector", std::move(options)), n_(n) {
  NEURONA_CHECK(n_ > 0, ValueError, describe(),
                ": Argument `n` should be a positive integer. Received: n=", n_);
}

Shape RepeatVectorLayer::compute_output_shape(const Shape& input_shape) const {
  check_ndim(*this, input_shape, 2);
  return Shape{input_shape[0], n_, input_shape[1]};
}

Tensor RepeatVectorLayer::call(const Tensor& inputs, bool /*training*/) {
  const Shape out = compute_output_shape(inputs.shape());
  return broadcast_to(reshape(inputs, {out[0], 1, out[2]}), out);
}

RepeatVector::RepeatVector(std::int64_t n, LayerOptions options)
    : LayerHandle<RepeatVectorLayer>(std::make_shared<RepeatVectorLayer>(n, std::move(options))) {}

ConfigValue RepeatVectorLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("n", n_);
  return config;
}

RepeatVector RepeatVector::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "RepeatVector");
  return RepeatVector(r.integer("n"), r.layer_options());
}

}  // namespace neurona::layers
