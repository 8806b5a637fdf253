# models/: Model (predict, summary, compile/fit/evaluate), Sequential, callbacks, saving.
target_sources(neurona PRIVATE
  models/model.cpp
  models/sequential.cpp
)
include(models/training.cmake OPTIONAL)
include(models/saving.cmake OPTIONAL)
