# Optimizers and learning-rate schedules (neurona::optimizers).
target_sources(neurona PRIVATE
  training/loss_scale.cpp
  training/optimizers.cpp
  training/schedules.cpp
  training/config.cpp
)
