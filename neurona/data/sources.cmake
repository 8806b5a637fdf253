# data/: dataset readers (IDX, .npy), the datasets, batching utilities.
target_sources(neurona PRIVATE
  data/batching.cpp
  data/bytes.cpp
  data/datasets.cpp
  data/idx.cpp
  data/npy.cpp
)
