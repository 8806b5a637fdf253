# layers/: Layer and every layer; initializers, regularizers, constraints, activations.
target_sources(neurona PRIVATE
  layers/activation.cpp
  layers/activations.cpp
  layers/batch_normalization.cpp
  layers/config.cpp
  layers/config_reader.cpp
  layers/constraints.cpp
  layers/conv2d.cpp
  layers/dense.cpp
  layers/dropout.cpp
  layers/dtype_policy.cpp
  layers/flatten.cpp
  layers/image_args.cpp
  layers/initializers.cpp
  layers/input_layer.cpp
  layers/layer.cpp
  layers/layer_registry.cpp
  layers/pooling2d.cpp
  layers/regularizers.cpp
  layers/reshape.cpp
  layers/zero_padding2d.cpp
)
