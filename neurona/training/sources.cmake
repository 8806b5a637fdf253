# training/: optimizers and learning-rate schedules, losses, metrics. Each part lists its own
# sources.
include(training/optimizers.cmake OPTIONAL)
include(training/losses.cmake OPTIONAL)
