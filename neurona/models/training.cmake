# models/: compile/fit/evaluate, callbacks and the progress bar.
target_sources(neurona PRIVATE
  models/callbacks.cpp
  models/progbar.cpp
  models/training.cpp
  models/compile_config.cpp
)
