// The thread's stack of RematScopes (Keras keeps its own in thread-local global state too).
#include "neurona/layers/remat_scope.h"

#include "neurona/core/error.h"

namespace neurona {

namespace {
thread_local const RematScope* t_innermost = nullptr;
}  // namespace

RematScope::RematScope(RematOptions options) : options_(std::move(options)), outer_(t_innermost) {
  const std::optional<std::string>& m = options_.mode;
  NEURONA_CHECK(
      !m || *m == "full" || *m == "activations" || *m == "larger_than" || *m == "list_of_layers",
      ValueError, "Invalid mode '", m.value_or(""),
      "'. Supported modes are: 'full', 'activations', 'larger_than', "
      "'list_of_layers', or  None.");
  NEURONA_CHECK(options_.output_size_threshold >= 0, ValueError,
                "RematScope: output_size_threshold must be non-negative, got ",
                options_.output_size_threshold);
  t_innermost = this;
}

RematScope::~RematScope() {
  t_innermost = outer_;
}

std::optional<RematOptions> current_remat_mode() {
  if (t_innermost == nullptr) return std::nullopt;
  return t_innermost->options();
}

}  // namespace neurona
