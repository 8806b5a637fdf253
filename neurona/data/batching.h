// What training does to a data set before the batches: one-hot labels, a reproducible
// shuffle order and Keras's validation_split.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona::data {

/// One-hot encoding as keras.utils.to_categorical: float32 of shape labels.shape +
/// (num_classes,), except that a trailing dimension of 1 is replaced ((N, 1) gives
/// (N, num_classes), as in Keras). num_classes -1 (or 0, as Keras's None) means
/// max(labels) + 1. The result is on the labels' device.
///
///   to_categorical(nr::constant({0, 2, 1}), 3)   // [[1 0 0] [0 0 1] [0 1 0]]
///
/// Labels may be any dtype but must hold whole numbers in [0, num_classes); unlike NumPy
/// indexing in Keras, a negative label or a fraction is a ValueError rather than a wrapped or
/// truncated index. Also ValueError: num_classes below -1, or -1 with no labels.
Tensor to_categorical(const Tensor& labels, std::int64_t num_classes = -1);

/// The numbers 0 .. n-1 in a random order (a Fisher-Yates shuffle), as an int64 CPU tensor,
/// to pass to gather(). The order depends only on `seed` (the project's Philox generator, no
/// global state): the same seed gives the same order on every machine and device. Without a
/// seed it draws from the global seed (set_seed) and call count, as the other random ops.
///
///   Tensor order = nr::data::permutation(60000, 42);
///   Tensor x_shuffled = nr::gather(x, order);
///
/// Throws ValueError for a negative n.
Tensor permutation(std::int64_t n, std::optional<std::uint64_t> seed = std::nullopt);

/// The first sample index of the validation part under Keras's validation_split:
/// floor(n * (1 - validation_split)), computed in double as Keras does. Throws ValueError
/// unless 0 < validation_split < 1, or when either part would be empty (Keras's message).
std::int64_t validation_split_index(std::int64_t n, double validation_split);

/// The arrays split as fit(validation_split=...) splits them: the LAST fraction of the
/// samples (taken before any shuffling) is the validation set. The parts are views that share
/// storage with the inputs.
struct TrainValidationSplit {
  std::vector<Tensor> train;
  std::vector<Tensor> validation;
};

/// Splits every array at validation_split_index(n, validation_split) along the first axis.
///
///   auto [train, val] = nr::data::train_validation_split({x, y}, 0.1);  // 54000 / 6000
///
/// Throws ValueError when the arrays are empty, undefined, scalars or differ in their first
/// dimension, or as validation_split_index.
TrainValidationSplit train_validation_split(const std::vector<Tensor>& arrays,
                                            double validation_split);

}  // namespace neurona::data
