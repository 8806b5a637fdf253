// keras.RematScope: layers made while one is alive rematerialize their calls under a tape
// (autograd/remat.h): their activations are recomputed for the gradient instead of kept.
//
//   {
//     nr::RematScope scope("full");
//     model = gpt2_block_stack();          // every layer made here rematerializes
//   }
//   nr::RematScope scope({.mode = "larger_than", .output_size_threshold = 1 << 20});
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace neurona {

struct RematOptions {
  /// "full": every call of the layer; "activations": only the activation function of a layer
  /// that has one (Dense(..., activation="gelu")); "larger_than": calls whose outputs have more
  /// than output_size_threshold elements; "list_of_layers": the layers named in layer_names.
  /// None: no rematerialization (a scope that turns an outer one off).
  std::optional<std::string> mode = "full";
  std::int64_t output_size_threshold = 1024;
  std::vector<std::string> layer_names = {};
};

class RematScope {
 public:
  /// ValueError, as Keras, for a mode that is not one of the above.
  explicit RematScope(RematOptions options = {});
  explicit RematScope(const char* mode) : RematScope(RematOptions{.mode = std::string(mode)}) {}
  ~RematScope();
  RematScope(const RematScope&) = delete;
  RematScope& operator=(const RematScope&) = delete;

  const RematOptions& options() const { return options_; }

 private:
  RematOptions options_;
  const RematScope* outer_;
};

/// The options of this thread's innermost RematScope (what a layer made now takes), or none.
std::optional<RematOptions> current_remat_mode();

}  // namespace neurona
