// Dense as one GEMM: inputs of rank > 2 are folded to (rows, input_dim) and unfolded after.
#include "neurona/layers/dense.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

DenseLayer::DenseLayer(std::int64_t units, DenseOptions options)
    : Layer("Dense", {.name = options.name,
                      .trainable = options.trainable,
                      .dtype = options.dtype,
                      .input_shape = options.input_shape}),
      units_(units),
      options_(std::move(options)) {
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
  kernel_ = add_weight("kernel", {input_shape[-1], units_},
                       {.initializer = options_.kernel_initializer,
                        .regularizer = options_.kernel_regularizer,
                        .constraint = options_.kernel_constraint});
  if (options_.use_bias) {
    bias_ = add_weight("bias", {units_},
                       {.initializer = options_.bias_initializer,
                        .regularizer = options_.bias_regularizer,
                        .constraint = options_.bias_constraint});
  }
}

const Variable& DenseLayer::kernel() const {
  NEURONA_CHECK(kernel_.has_value(), ValueError, describe(),
                ": the kernel does not exist until the ", "layer is built (call it on inputs)");
  return *kernel_;
}

const Variable& DenseLayer::bias() const {
  NEURONA_CHECK(bias_.has_value(), ValueError, describe(),
                options_.use_bias ? ": the bias does not exist until the layer is built"
                                  : ": the layer has no bias (use_bias = false)");
  return *bias_;
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
  config.set("activation", options_.activation.name());
  config.set("use_bias", options_.use_bias);
  config.set("kernel_initializer", serialize(options_.kernel_initializer));
  config.set("bias_initializer", serialize(options_.bias_initializer));
  config.set("kernel_regularizer", serialize(options_.kernel_regularizer));
  config.set("bias_regularizer", serialize(options_.bias_regularizer));
  // Keras's Dense leaves activity_regularizer out of its config; write it only when set, so
  // that it survives a round trip (Keras's Layer takes it as a keyword argument).
  if (options_.activity_regularizer) {
    config.set("activity_regularizer", serialize(options_.activity_regularizer));
  }
  config.set("kernel_constraint", serialize(options_.kernel_constraint));
  config.set("bias_constraint", serialize(options_.bias_constraint));
  config.set("quantization_config", nullptr);
  return config;
}

Dense Dense::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Dense");
  r.none("quantization_config", "quantized Dense layers");
  r.none("lora_rank", "LoRA");
  return Dense(r.integer("units"),
               {.activation = r.activation(),
                .use_bias = r.boolean("use_bias", true),
                .kernel_initializer = r.initializer("kernel_initializer", "glorot_uniform"),
                .bias_initializer = r.initializer("bias_initializer", "zeros"),
                .kernel_regularizer = r.regularizer("kernel_regularizer"),
                .bias_regularizer = r.regularizer("bias_regularizer"),
                .activity_regularizer = r.regularizer("activity_regularizer"),
                .kernel_constraint = r.constraint("kernel_constraint"),
                .bias_constraint = r.constraint("bias_constraint"),
                .name = r.string("name", ""),
                .trainable = r.boolean("trainable", true),
                .dtype = r.dtype()});
}

}  // namespace neurona::layers
