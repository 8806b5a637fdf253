# models/: Model (predict, summary) and Sequential.
target_sources(neurona PRIVATE
  models/model.cpp
  models/sequential.cpp
)
