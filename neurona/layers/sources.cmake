# layers/: Layer and every layer; initializers, regularizers, constraints, activations.
target_sources(neurona PRIVATE
  layers/activation.cpp
  layers/activations.cpp
  layers/constraints.cpp
  layers/dense.cpp
  layers/dropout.cpp
  layers/flatten.cpp
  layers/initializers.cpp
  layers/input_layer.cpp
  layers/layer.cpp
  layers/regularizers.cpp
  layers/reshape.cpp
)
