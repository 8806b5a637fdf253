// Embedding as one gather of table rows; its gradient is the scatter-add of gather's rule, so
// only the rows a batch uses receive gradient.
#include "neurona/layers/embedding.h"

#include <cmath>
#include <cstddef>
#include <vector>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

EmbeddingLayer::EmbeddingLayer(std::int64_t input_dim, std::int64_t output_dim,
                               EmbeddingOptions options)
    : Layer("Embedding", {.name = options.name,
                          .trainable = options.trainable,
                          .dtype = options.dtype,
                          .input_shape = options.input_shape}),
      input_dim_(input_dim),
      output_dim_(output_dim),
      options_(std::move(options)) {
  NEURONA_CHECK(input_dim_ > 0, ValueError, describe(),
                ": `input_dim` must be a positive integer. Received: input_dim=", input_dim_);
  NEURONA_CHECK(output_dim_ > 0, ValueError, describe(),
                ": `output_dim` must be a positive integer. Received: output_dim=", output_dim_);
  // As Keras: indices are not cast to the compute dtype, and only mask_zero makes a mask.
  set_autocast_inputs(false);
  set_supports_masking(options_.mask_zero);
  set_activity_regularizer(options_.activity_regularizer);
  if (options_.weights) {
    const Tensor& w = *options_.weights;
    NEURONA_CHECK(w.defined() && w.shape() == Shape({input_dim_, output_dim_}), ShapeError,
                  describe(), ": `weights` must have shape (input_dim, output_dim) = ",
                  shape_str(Shape({input_dim_, output_dim_})), ", got ",
                  w.defined() ? shape_str(w.shape()) : std::string("an undefined tensor"));
    ensure_built(Shape{-1, -1});
    set_weights({w});
  }
}

void EmbeddingLayer::build(const Shape& /*input_shape*/) {
  embeddings_ = add_weight("embeddings", {input_dim_, output_dim_},
                           {.initializer = options_.embeddings_initializer,
                            .regularizer = options_.embeddings_regularizer,
                            .constraint = options_.embeddings_constraint});
}

const Variable& EmbeddingLayer::embeddings() const {
  NEURONA_CHECK(embeddings_.has_value(), ValueError, describe(),
                ": You must build the layer before accessing `embeddings`.");
  return *embeddings_;
}

Tensor EmbeddingLayer::call(const Tensor& inputs, bool /*training*/) {
  if (is_floating(inputs.dtype()) && inputs.device().is_cpu()) {
    // NaN or infinity would be cast to row 0 or the int32 ends (kernels::check_finite_indices
    // for the losses' labels; on a GPU the ids are not read, as their range is not).
    const std::vector<double> ids = inputs.to_vector<double>();
    for (std::size_t i = 0; i < ids.size(); ++i) {
      NEURONA_CHECK(std::isfinite(ids[i]), ValueError, describe(), ": input ", ids[i], " at index ",
                    i, " of shape ", inputs.shape(), " is not a row of the table");
    }
  }
  const Tensor indices = inputs.dtype() == DType::int32 || inputs.dtype() == DType::int64
                             ? inputs
                             : cast(inputs, DType::int32);
  // Gather in the table's dtype, then cast the rows only (Keras's order).
  const Tensor rows = gather(*embeddings_, indices);
  return rows.dtype() == compute_dtype() ? rows : cast(rows, compute_dtype());
}

Tensor EmbeddingLayer::compute_mask(const Tensor& inputs, const Tensor& /*mask*/) const {
  if (!options_.mask_zero) return {};
  return not_equal(inputs, scalar_like(inputs, 0.0));
}

Shape EmbeddingLayer::compute_output_shape(const Shape& input_shape) const {
  std::vector<std::int64_t> dims = input_shape.dims();
  dims.push_back(output_dim_);
  return Shape(std::move(dims));
}

std::vector<TensorSpec> EmbeddingLayer::compute_output_spec(const std::vector<TensorSpec>& inputs,
                                                            bool list_call) {
  NEURONA_CHECK(!list_call && inputs.size() == 1, ValueError, describe(),
                ": expects one tensor of indices, got a list of ", inputs.size());
  return {{compute_output_shape(inputs[0].shape), compute_dtype()}};
}

ConfigValue EmbeddingLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("input_dim", input_dim_);
  config.set("output_dim", output_dim_);
  config.set("embeddings_initializer", serialize(options_.embeddings_initializer));
  config.set("embeddings_regularizer", serialize(options_.embeddings_regularizer));
  config.set("activity_regularizer", serialize(options_.activity_regularizer));
  config.set("embeddings_constraint", serialize(options_.embeddings_constraint));
  config.set("mask_zero", options_.mask_zero);
  config.set("quantization_config", nullptr);
  return config;
}

Embedding::Embedding(std::int64_t input_dim, std::int64_t output_dim, EmbeddingOptions options)
    : LayerHandle<EmbeddingLayer>(
          std::make_shared<EmbeddingLayer>(input_dim, output_dim, std::move(options))) {}

Embedding Embedding::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Embedding");
  r.none("quantization_config", "quantized Embedding layers");
  r.none("lora_rank", "LoRA");
  r.none("input_length", "input_length (deprecated in Keras; remove it)");
  return Embedding(r.integer("input_dim"), r.integer("output_dim"),
                   {.embeddings_initializer = r.initializer("embeddings_initializer", "uniform"),
                    .embeddings_regularizer = r.regularizer("embeddings_regularizer"),
                    .activity_regularizer = r.regularizer("activity_regularizer"),
                    .embeddings_constraint = r.constraint("embeddings_constraint"),
                    .mask_zero = r.boolean("mask_zero", false),
                    .name = r.string("name", ""),
                    .trainable = r.boolean("trainable", true),
                    .dtype = r.dtype()});
}

}  // namespace neurona::layers
