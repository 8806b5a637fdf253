# models/ saving and loading in Keras 3's formats (.weights.h5 through libhdf5, .keras through
# libzip, config.json through nlohmann_json).
target_sources(neurona PRIVATE
  models/keras_config.cpp
  models/saving.cpp
  models/saving_h5.cpp
)
