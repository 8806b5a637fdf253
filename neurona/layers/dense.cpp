// Dense as one GEMM: inputs of rank > 2 are folded to (rows, input_dim) and unfolded after.
#include "neurona/layers/dense.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/kernel_bias.h"

namespace neurona::layers {

DenseLayer::DenseLayer(std::int64_t units, DenseOptions options)
    : Layer("Dense", detail::layer_options(options)), units_(units), options_(std::move(options)) {
  set_promote_integer_inputs(true);  // Keras promotes int x float weights to float
  set_supports_masking(true);
  NEURONA_CHECK(units_ > 0, ValueError, describe(),
                ": received an invalid value for `units`, expected a positive integer. Received: "
                "units=",
                units_);
  set_activity_regularizer(options_.activity_regularizer);
}

void DenseLayer::check_input(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() >= 2, ShapeError, describe(), " (units=", units_,
                "): expected input with at least 2 dimensions (batch, ..., input_dim), got shape ",
                shape_str(input_shape));
  NEURONA_CHECK(input_shape[-1] > 0, ShapeError, describe(), " (units=", units_,
                "): the last dimension of the inputs must be known and positive, got shape ",
                shape_str(input_shape));
  if (kernel_) {
    NEURONA_CHECK(input_shape[-1] == kernel_->shape()[0], ShapeError, describe(),
                  " (units=", units_, "): expected input with last dimension ", kernel_->shape()[0],
                  ", got shape ", shape_str(input_shape));
  }
}

void DenseLayer::build(const Shape& input_shape) {
  check_input(input_shape);
  kernel_ =
      add_weight("kernel", {input_shape[-1], units_}, detail::kernel_weight_options(options_));
  if (options_.use_bias) {
    bias_ = add_weight("bias", {units_}, detail::bias_weight_options(options_));
  }
}

const Variable& DenseLayer::kernel() const {
  return detail::built_kernel(*this, kernel_);
}

const Variable& DenseLayer::bias() const {
  return detail::built_bias(*this, bias_, options_.use_bias);
}

Shape DenseLayer::compute_output_shape(const Shape& input_shape) const {
  check_input(input_shape);
  std::vector<std::int64_t> dims = input_shape.dims();
  dims.back() = units_;
  return Shape(std::move(dims));
}

Tensor DenseLayer::call(const Tensor& inputs, bool /*training*/) {
  check_input(inputs.shape());
  Tensor x = inputs;
  const bool fold = inputs.rank() > 2;
  if (fold) x = reshape(x, {-1, inputs.shape()[-1]});
  // The fused op: one GEMM with the bias and a ReLU applied as the output is written
  // (OpenBLAS then one pass over the output on the CPU, cuBLASLt's epilogue on a GPU).
  const bool relu = options_.activation.name() == "relu";
  Tensor y = dense(x, read(*kernel_), bias_ ? read(*bias_) : Tensor(),
                   relu ? FusedActivation::relu : FusedActivation::linear);
  if (fold) y = reshape(y, compute_output_shape(inputs.shape()));
  return relu ? y : apply_activation(options_.activation, y);
}

Dense::Dense(std::int64_t units, DenseOptions options)
    : LayerHandle<DenseLayer>(std::make_shared<DenseLayer>(units, std::move(options))) {}

ConfigValue DenseLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("units", units_);
  detail::set_kernel_bias_config(config, options_, detail::ActivityRegularizerKey::when_set);
  config.set("quantization_config", nullptr);
  return config;
}

Dense Dense::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Dense");
  r.none("quantization_config", "quantized Dense layers");
  r.none("lora_rank", "LoRA");
  DenseOptions options;
  detail::read_kernel_bias_config(r, options);
  return Dense(r.integer("units"), std::move(options));
}

}  // namespace neurona::layers
