// Rematerialization (gradient checkpointing), as keras.remat and jax.checkpoint: a function
// runs without keeping its intermediate results for the gradient, and runs again during the
// backward pass to rebuild them. Memory for time: a transformer block kept this way holds its
// input only, instead of every activation inside it.
//
//   auto block = nr::remat([&](const nr::Tensor& x) { return mlp(attention(x)); });
//   nr::Tensor y = block(x);   // under a tape: y, and the block's input, are all it keeps
//
// The recomputation sees what the first run saw: the state the function wrote in place
// (moving statistics, a SeedGenerator's counter) is put back before it and restored after it,
// and the global random counter rewound, so that dropout draws the same masks.
#pragma once

#include <functional>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona {

using RematFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs)>;

/// Runs fn(inputs) so that a recording tape keeps only its inputs and outputs and recomputes
/// the rest for the gradient. fn may read tensors and variables it does not take as inputs
/// (the gradient reaches them). fn must compute the same outputs when run again on the same
/// inputs and state (deterministic kernels; what it draws at random is replayed). Without a
/// recording tape it is just fn(inputs).
std::vector<Tensor> remat(const RematFn& fn, const std::vector<Tensor>& inputs);
Tensor remat(const std::function<Tensor(const Tensor&)>& fn, const Tensor& x);

/// keras.remat(f): `f` wrapped so that each call is rematerialized.
std::function<Tensor(const Tensor&)> remat(std::function<Tensor(const Tensor&)> fn);

namespace autograd {
/// True while a rematerialized function runs again for the gradient: what it adds besides its
/// outputs (a layer's losses) was added by the first run already.
bool is_recomputing();
}  // namespace autograd

}  // namespace neurona
