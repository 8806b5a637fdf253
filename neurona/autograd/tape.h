// GradientTape: records the differentiable ops whose inputs it watches and computes
// gradients by walking that record backwards, as tf.GradientTape does.
//
//   nr::Variable x(3.0f);
//   nr::GradientTape tape;
//   nr::Tensor y = x * x;
//   nr::Tensor dy_dx = tape.gradient(y, x);   // 6
//
// A tape records while it is alive and not paused, on the thread that made it. Gradient rules
// are written with the same differentiable ops, so an outer tape records an inner tape's
// gradient computation and gives second derivatives.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "neurona/autograd/variable.h"
#include "neurona/core/tensor.h"

namespace neurona {

namespace autograd::detail {
std::vector<Tensor> run_untaped(const std::function<std::vector<Tensor>()>& fn,
                                std::vector<Tensor>& used);  // see below
}  // namespace autograd::detail

/// What gradient() returns for a source that the target does not depend on.
enum class UnconnectedGradients { none, zero };

struct GradientOptions {
  /// The gradient of the target to start from (its shape); undefined means ones, i.e. the
  /// gradient of the sum of the target.
  Tensor output_gradients = {};
  /// none: an undefined Tensor (test with defined()); zero: zeros shaped like the source.
  UnconnectedGradients unconnected_gradients = UnconnectedGradients::none;
  /// Called once for each source (its index in `sources`) with what gradient() returns for it,
  /// as soon as that gradient is final: when the backward walk has run every recorded op that
  /// uses the source (the sources no op uses, at the end). A model's weights come roughly last
  /// layer first, so a caller can start work on them while the walk goes on (data-parallel
  /// training starts their all-reduce there).
  std::function<void(std::size_t source, const Tensor& gradient)> on_gradient = {};
};

struct TapeOptions {
  /// A persistent tape answers gradient() any number of times; otherwise once.
  bool persistent = false;
  /// Watch trainable Variables automatically when an op reads them.
  bool watch_accessed_variables = true;
};

class GradientTape {
 public:
  explicit GradientTape(TapeOptions options = {});
  ~GradientTape();
  GradientTape(const GradientTape&) = delete;
  GradientTape& operator=(const GradientTape&) = delete;

  /// Records ops that use `t` from now on (any float tensor, or a Variable).
  void watch(const Tensor& t);
  void watch(const Variable& v);
  /// The variables this tape watches, in the order it started watching them.
  std::vector<Variable> watched_variables() const;

  /// d sum(target) / d source (or the vector-Jacobian product with output_gradients).
  Tensor gradient(const Tensor& target, const Tensor& source, const GradientOptions& options = {});
  std::vector<Tensor> gradient(const Tensor& target, const std::vector<Tensor>& sources,
                               const GradientOptions& options = {});
  std::vector<Tensor> gradient(const Tensor& target, const std::vector<Variable>& sources,
                               const GradientOptions& options = {});
  /// The vector-Jacobian product of several targets at once: d sum_i <targets[i],
  /// output_gradients[i]> / d source (TensorFlow's gradient of a list of targets with
  /// output_gradients). output_gradients gives one gradient per target, shaped like it
  /// (`options.output_gradients` must be left undefined).
  std::vector<Tensor> gradient(const std::vector<Tensor>& targets,
                               const std::vector<Tensor>& output_gradients,
                               const std::vector<Tensor>& sources,
                               const GradientOptions& options = {});
  /// `tape.gradient(loss, {w, b})` with Variables.
  std::vector<Tensor> gradient(const Tensor& target, std::initializer_list<Variable> sources,
                               const GradientOptions& options = {}) {
    return gradient(target, std::vector<Variable>(sources), options);
  }

  /// Pauses recording until the returned guard goes out of scope.
  class StopRecording {
   public:
    explicit StopRecording(GradientTape* tape);
    ~StopRecording();
    StopRecording(const StopRecording&) = delete;
    StopRecording& operator=(const StopRecording&) = delete;

   private:
    GradientTape* tape_;
  };
  [[nodiscard]] StopRecording stop_recording() { return StopRecording(this); }

  /// Forgets everything recorded and watched; the tape records afresh.
  void reset();

  struct Impl;

 private:
  friend std::vector<Tensor> autograd::detail::run_untaped(
      const std::function<std::vector<Tensor>()>& fn, std::vector<Tensor>& used);
  std::unique_ptr<Impl> impl_;
};

/// The same values, cut from any tape: gradients do not flow through the result.
Tensor stop_gradient(const Tensor& t);

namespace autograd {

/// The gradient rule of one op: from the gradients of its outputs (one each, never
/// undefined), the gradients of its inputs (one each; undefined for none).
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs)>;

/// True when a tape on this thread is recording. Ops test this before anything else, so
/// that recording costs nothing when no tape is active.
bool is_recording();

/// Inside a gradient rule (a BackwardFn the tape is running): whether the gradient of the
/// op's input `i` can reach one of the sources asked for. A rule may return an undefined
/// tensor for an input that is not needed, to skip its work (e.g. conv2d's gradient with
/// respect to a batch of images when only the kernel's is asked for); the tape drops the
/// gradients of such inputs anyway. Outside a rule: true.
bool needs_input_gradient(std::size_t i);

/// Records an op in every recording tape that watches one of its float inputs (or, for
/// tapes that watch accessed variables, reads a trainable variable). A rule that is not
/// written in differentiable ops passes `differentiable_backward = false`: asking a second
/// derivative through it then throws NotImplementedError naming `op`. This is how custom ops
/// get gradients (tf.custom_gradient).
void record(const char* op, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn backward, bool differentiable_backward = true);

namespace detail {

/// Runs `fn` with this thread's tapes set aside and a tape of its own recording what they
/// would have recorded, then drops that record: nothing fn computes stays held for a gradient.
/// `used` gets the float tensors made outside fn that its recorded ops read (in order of first
/// use, once each): fn's inputs, tensors it captured, the values of trainable variables it
/// read. What rematerialization (autograd/remat.h) differentiates the recomputation against.
std::vector<Tensor> run_untaped(const std::function<std::vector<Tensor>()>& fn,
                                std::vector<Tensor>& used);

}  // namespace detail

}  // namespace autograd

}  // namespace neurona
