# Losses and metrics (neurona::losses, neurona::metrics).
target_sources(neurona PRIVATE
  training/losses.cpp
  training/metrics.cpp
)
