# Optimizers and learning-rate schedules (neurona::optimizers).
target_sources(neurona PRIVATE
  training/optimizers.cpp
  training/schedules.cpp
  training/config.cpp
)
