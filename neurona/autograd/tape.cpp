// The tape: a list of recorded ops in execution order, walked backwards (iteratively) to
// accumulate gradients by tensor id.
#include "neurona/autograd/tape.h"

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "neurona/autograd/ops.h"

namespace neurona {

namespace {

struct OutputSpec {
  std::uint64_t id;
  Shape shape;
  DType dtype;
  Device device;
};

struct Entry {
  const char* op;
  std::vector<std::uint64_t> inputs;
  std::vector<OutputSpec> outputs;
  autograd::BackwardFn backward;
  bool differentiable = true;
  // For non-differentiable rules (see run_backward), and on run_untaped's tape.
  std::vector<Tensor> saved_inputs;
};

}  // namespace

struct GradientTape::Impl {
  TapeOptions options;
  std::vector<Entry> entries;
  std::unordered_set<std::uint64_t> watched;
  std::vector<Variable> watched_variables;
  int paused = 0;
  bool answered = false;
  // run_untaped's tape: the recording tapes set aside while it runs (what they watch, it
  // records), and it keeps every entry's inputs.
  std::vector<const Impl*> set_aside;
  bool keep_inputs = false;

  bool recording() const { return paused == 0; }

  void watch_id(std::uint64_t id) { watched.insert(id); }

  void watch_variable(const Variable& v) {
    if (watched.insert(v.value().id()).second) watched_variables.push_back(v);
  }

  bool watched_by_set_aside(std::uint64_t id) const {
    for (const Impl* t : set_aside) {
      if (t->watched.count(id)) return true;
    }
    return false;
  }

  // Whether this tape cares about an op with these inputs; auto-watches variables read.
  bool touches(const std::vector<Tensor>& inputs) {
    bool hit = false;
    for (const Tensor& t : inputs) {
      if (!t.defined() || !is_floating(t.dtype())) continue;
      if (watched.count(t.id()) || watched_by_set_aside(t.id())) {
        hit = true;
      } else if (options.watch_accessed_variables) {
        if (auto v = autograd::detail::find_variable(t.id()); v && v->trainable()) {
          watch_variable(*v);
          hit = true;
        }
      }
    }
    return hit;
  }
};

namespace {

thread_local std::vector<GradientTape::Impl*> t_tapes;

// Which inputs of the op whose gradient rule is running lead to a source (null: all).
thread_local const std::vector<bool>* t_needed_inputs = nullptr;

// Sets t_needed_inputs for one rule's run, restoring the outer value (a rule may itself ask a
// tape for gradients).
class NeededInputs {
 public:
  explicit NeededInputs(const std::vector<bool>* needed) : saved_(t_needed_inputs) {
    t_needed_inputs = needed;
  }
  ~NeededInputs() { t_needed_inputs = saved_; }
  NeededInputs(const NeededInputs&) = delete;
  NeededInputs& operator=(const NeededInputs&) = delete;

 private:
  const std::vector<bool>* saved_;
};

void on_view(detail::ViewKind kind, const Tensor& source, const Tensor& result);

void install_view_hook() {
  static std::once_flag once;
  std::call_once(once, [] { detail::set_view_hook(&on_view); });
}

// Records reshape(), slice() and to() made through Tensor's own methods.
void on_view(detail::ViewKind kind, const Tensor& source, const Tensor& result) {
  if (!autograd::is_recording() || !is_floating(source.dtype())) return;
  switch (kind) {
    case detail::ViewKind::reshape:
      autograd::record("reshape", {source}, {result},
                       [shape = source.shape()](const std::vector<Tensor>& g) {
                         return std::vector<Tensor>{g[0].reshape(shape)};
                       });
      break;
    case detail::ViewKind::to_device:
      autograd::record("to", {source}, {result}, [device = source.device()](const auto& g) {
        return std::vector<Tensor>{g[0].to(device)};
      });
      break;
    case detail::ViewKind::slice: {
      const std::int64_t rows = source.shape()[0];
      const std::int64_t taken = result.shape()[0];
      std::int64_t start = 0;
      if (result.numel() > 0) {
        const auto row_bytes = static_cast<std::int64_t>(source.nbytes()) / rows;
        start = (static_cast<const char*>(result.raw_data()) -
                 static_cast<const char*>(source.raw_data())) /
                row_bytes;
      }
      autograd::record("slice", {source}, {result}, [rows, taken, start](const auto& g) {
        return std::vector<Tensor>{autograd::detail::pad_rows(g[0], start, rows - start - taken)};
      });
      break;
    }
  }
}

}  // namespace

namespace autograd {

bool needs_input_gradient(std::size_t i) {
  return t_needed_inputs == nullptr || i >= t_needed_inputs->size() || (*t_needed_inputs)[i];
}

bool is_recording() {
  for (const auto* t : t_tapes) {
    if (t->recording()) return true;
  }
  return false;
}

void record(const char* op, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn backward, bool differentiable_backward) {
  bool any_float_output = false;
  for (const Tensor& o : outputs) any_float_output |= o.defined() && is_floating(o.dtype());
  if (!any_float_output) return;
  for (auto* tape : t_tapes) {
    if (!tape->recording() || !tape->touches(inputs)) continue;
    Entry e;
    e.op = op;
    for (const Tensor& t : inputs) e.inputs.push_back(t.defined() ? t.id() : 0);
    for (const Tensor& o : outputs) {
      e.outputs.push_back({o.id(), o.shape(), o.dtype(), o.device()});
      tape->watch_id(o.id());
    }
    e.backward = backward;
    e.differentiable = differentiable_backward;
    if (!differentiable_backward || tape->keep_inputs) e.saved_inputs = inputs;
    tape->entries.push_back(std::move(e));
  }
}

}  // namespace autograd

GradientTape::GradientTape(TapeOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  install_view_hook();
  t_tapes.push_back(impl_.get());
}

GradientTape::~GradientTape() {
  auto it = std::find(t_tapes.begin(), t_tapes.end(), impl_.get());
  if (it != t_tapes.end()) t_tapes.erase(it);
}

void GradientTape::watch(const Tensor& t) {
  NEURONA_CHECK(t.defined(), ValueError, "GradientTape.watch: the tensor is undefined");
  NEURONA_CHECK(is_floating(t.dtype()), ValueError,
                "GradientTape.watch: only float tensors have gradients, got ", t.dtype(),
                " with shape ", t.shape());
  if (auto v = autograd::detail::find_variable(t.id())) {
    impl_->watch_variable(*v);
  } else {
    impl_->watch_id(t.id());
  }
}

void GradientTape::watch(const Variable& v) {
  NEURONA_CHECK(is_floating(v.dtype()), ValueError, "GradientTape.watch: variable '", v.name(),
                "' has dtype ", v.dtype(), "; only float variables have gradients");
  impl_->watch_variable(v);
}

std::vector<Variable> GradientTape::watched_variables() const {
  return impl_->watched_variables;
}

GradientTape::StopRecording::StopRecording(GradientTape* tape) : tape_(tape) {
  ++tape_->impl_->paused;
}
GradientTape::StopRecording::~StopRecording() {
  --tape_->impl_->paused;
}

void GradientTape::reset() {
  impl_->entries.clear();
  impl_->watched.clear();
  impl_->watched_variables.clear();
  impl_->answered = false;
}

Tensor GradientTape::gradient(const Tensor& target, const Tensor& source,
                              const GradientOptions& options) {
  return gradient(target, std::vector<Tensor>{source}, options)[0];
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target,
                                           const std::vector<Variable>& sources,
                                           const GradientOptions& options) {
  std::vector<Tensor> tensors;
  for (const Variable& v : sources) tensors.push_back(v.value());
  return gradient(target, tensors, options);
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, const std::vector<Tensor>& sources,
                                           const GradientOptions& options) {
  NEURONA_CHECK(target.defined(), ValueError, "GradientTape.gradient: target is undefined");
  const Tensor& seed = options.output_gradients;
  if (seed.defined()) {
    NEURONA_CHECK(seed.shape() == target.shape(), ShapeError,
                  "GradientTape.gradient: output_gradients has shape ", seed.shape(),
                  " but the target has shape ", target.shape());
  }
  GradientOptions rest = options;
  rest.output_gradients = Tensor();
  return gradient(std::vector<Tensor>{target},
                  std::vector<Tensor>{seed.defined() ? seed : ones_like(target)}, sources, rest);
}

std::vector<Tensor> GradientTape::gradient(const std::vector<Tensor>& targets,
                                           const std::vector<Tensor>& output_gradients,
                                           const std::vector<Tensor>& sources,
                                           const GradientOptions& options) {
  Impl& tape = *impl_;
  NEURONA_CHECK(!(tape.answered && !tape.options.persistent), Error,
                "GradientTape.gradient: a non-persistent tape can only be used once; make it "
                "with {.persistent = true} to ask for several gradients");
  NEURONA_CHECK(!options.output_gradients.defined(), ValueError,
                "GradientTape.gradient: with several targets, give their output_gradients as a "
                "list, not in options.output_gradients");
  NEURONA_CHECK(targets.size() == output_gradients.size(), ValueError,
                "GradientTape.gradient: ", targets.size(), " targets but ", output_gradients.size(),
                " output_gradients");
  for (std::size_t i = 0; i < targets.size(); ++i) {
    NEURONA_CHECK(targets[i].defined(), ValueError, "GradientTape.gradient: targets[", i,
                  "] is undefined");
    NEURONA_CHECK(is_floating(targets[i].dtype()), ValueError, "GradientTape.gradient: target",
                  targets.size() > 1 ? detail::str("s[", i, "]") : std::string(),
                  " must be a float tensor, got ", targets[i].dtype());
    NEURONA_CHECK(
        output_gradients[i].defined() && output_gradients[i].shape() == targets[i].shape(),
        ShapeError, "GradientTape.gradient: output_gradients[", i, "] has shape ",
        output_gradients[i].defined() ? output_gradients[i].shape().str()
                                      : std::string("(undefined)"),
        " but targets[", i, "] has shape ", targets[i].shape());
    NEURONA_CHECK(output_gradients[i].dtype() == targets[i].dtype() &&
                      output_gradients[i].device() == targets[i].device(),
                  ValueError, "GradientTape.gradient: output_gradients[", i, "] is ",
                  output_gradients[i].dtype(), " on ", output_gradients[i].device(),
                  " but targets[", i, "] is ", targets[i].dtype(), " on ", targets[i].device(),
                  " (shape ", targets[i].shape(), "): nr::cast or Tensor::to it first");
  }
  for (std::size_t i = 0; i < sources.size(); ++i) {
    NEURONA_CHECK(sources[i].defined(), ValueError, "GradientTape.gradient: sources[", i,
                  "] is undefined");
  }
  // This tape does not record its own gradient computation; outer tapes do.
  StopRecording pause(this);

  std::unordered_map<std::uint64_t, Tensor> grads;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    auto [pos, inserted] = grads.try_emplace(targets[i].id(), output_gradients[i]);
    if (!inserted) pos->second = add(pos->second, output_gradients[i]);
  }
  std::unordered_set<std::uint64_t> keep;
  for (const Tensor& s : sources) keep.insert(s.id());

  // Forward over the record: the tensors that depend on a source, and per op which inputs do.
  // A gradient only matters where it can flow back to a source, so ops that depend on none are
  // skipped and rules may skip the inputs that depend on none (needs_input_gradient).
  std::unordered_set<std::uint64_t> reaches = keep;
  std::vector<std::vector<bool>> needed(tape.entries.size());
  for (std::size_t k = 0; k < tape.entries.size(); ++k) {
    const Entry& e = tape.entries[k];
    bool any = false;
    needed[k].resize(e.inputs.size());
    for (std::size_t i = 0; i < e.inputs.size(); ++i) {
      needed[k][i] = e.inputs[i] != 0 && reaches.count(e.inputs[i]) > 0;
      any |= needed[k][i];
    }
    if (any) {
      for (const OutputSpec& o : e.outputs) reaches.insert(o.id);
    }
  }

  // Runs entry n's gradient rule on the gradients of its outputs, adding what it gives to its
  // inputs' gradients.
  const auto run_backward_of = [&](std::size_t n) {
    Entry& e = tape.entries[n];
    const std::vector<bool>& needs = needed[n];
    if (std::find(needs.begin(), needs.end(), true) == needs.end()) {
      // No source depends on this op's inputs: its gradient would go nowhere. (Drop the
      // gradients of its outputs that are not sources, as below.)
      for (const OutputSpec& o : e.outputs) {
        if (!keep.count(o.id)) grads.erase(o.id);
      }
      return;
    }
    std::vector<Tensor> grad_outputs;
    bool any = false;
    for (const OutputSpec& o : e.outputs) {
      auto g = grads.find(o.id);
      if (g != grads.end()) {
        grad_outputs.push_back(g->second);
        any = true;
        if (!keep.count(o.id)) grads.erase(g);
      } else {
        grad_outputs.push_back(Tensor());
      }
    }
    if (!any || !e.backward) return;
    for (std::size_t k = 0; k < grad_outputs.size(); ++k) {
      if (!grad_outputs[k].defined()) {
        const OutputSpec& o = e.outputs[k];
        grad_outputs[k] = zeros(o.shape, {.dtype = o.dtype, .device = o.device});
      }
    }
    std::vector<Tensor> input_grads;
    {
      const NeededInputs scope(&needs);
      input_grads = e.backward(grad_outputs);
    }
    if (!e.differentiable && autograd::is_recording()) {
      // An outer tape would record this gradient through a rule it cannot differentiate.
      std::vector<Tensor> deps = grad_outputs;
      deps.insert(deps.end(), e.saved_inputs.begin(), e.saved_inputs.end());
      std::vector<Tensor> results;
      for (const Tensor& g : input_grads) {
        if (g.defined()) results.push_back(g);
      }
      autograd::record(e.op, deps, results, [op = e.op](const auto&) -> std::vector<Tensor> {
        throw NotImplementedError(detail::str(
            op, ": no second derivative: its gradient is a fused kernel, not differentiable ops"));
      });
    }
    NEURONA_CHECK(input_grads.size() == e.inputs.size(), Error, "gradient rule of ", e.op,
                  " returned ", input_grads.size(), " gradients for ", e.inputs.size(), " inputs");
    for (std::size_t i = 0; i < e.inputs.size(); ++i) {
      if (!input_grads[i].defined() || !needs[i]) continue;
      auto [pos, inserted] = grads.try_emplace(e.inputs[i], input_grads[i]);
      if (!inserted) pos->second = add(pos->second, input_grads[i]);
    }
    if (!tape.options.persistent) e.backward = nullptr;  // free what the rule captured
  };

  // What gradient() returns for source s, from the gradients gathered so far.
  const auto result_for = [&](const Tensor& s) {
    // Only what the tape watched (or recorded) has a gradient, as in TensorFlow: an input of
    // a recorded op that the tape did not watch stays unconnected.
    auto g = tape.watched.count(s.id()) ? grads.find(s.id()) : grads.end();
    if (g != grads.end()) return g->second;
    if (options.unconnected_gradients == UnconnectedGradients::zero) return zeros_like(s);
    return Tensor();
  };
  // With on_gradient: the sources whose gradient is final once entry n has run (the first
  // entry that uses them: the reverse walk reaches it last), and those no entry uses.
  std::unordered_map<std::size_t, std::vector<std::size_t>> final_after;
  std::vector<std::size_t> unused;
  if (options.on_gradient) {
    std::unordered_map<std::uint64_t, std::size_t> first_use;
    for (std::size_t k = 0; k < tape.entries.size(); ++k) {
      for (std::size_t i = 0; i < tape.entries[k].inputs.size(); ++i) {
        if (needed[k][i]) first_use.try_emplace(tape.entries[k].inputs[i], k);
      }
    }
    for (std::size_t i = 0; i < sources.size(); ++i) {
      auto f = first_use.find(sources[i].id());
      if (f != first_use.end()) {
        final_after[f->second].push_back(i);
      } else {
        unused.push_back(i);
      }
    }
  }
  const auto announce = [&](std::size_t n) {
    auto f = final_after.find(n);
    if (f == final_after.end()) return;
    for (std::size_t i : f->second) options.on_gradient(i, result_for(sources[i]));
  };

  // Entries are in execution order, so every consumer of a tensor comes after its producer:
  // one reverse pass sees all of a tensor's gradient before passing it on.
  for (std::size_t n = tape.entries.size(); n-- > 0;) {
    run_backward_of(n);
    announce(n);
  }
  for (std::size_t i : unused) options.on_gradient(i, result_for(sources[i]));

  std::vector<Tensor> result;
  for (const Tensor& s : sources) result.push_back(result_for(s));
  if (!tape.options.persistent) {
    tape.answered = true;
    tape.entries.clear();
    tape.entries.shrink_to_fit();
    tape.watched.clear();
  }
  return result;
}

namespace autograd::detail {

std::vector<Tensor> run_untaped(const std::function<std::vector<Tensor>()>& fn,
                                std::vector<Tensor>& used) {
  // The tapes go back when this returns or throws, after `own` has left the list.
  struct SetAside {
    std::vector<GradientTape::Impl*> tapes;
    SetAside() { tapes.swap(t_tapes); }
    ~SetAside() { t_tapes = std::move(tapes); }
    SetAside(const SetAside&) = delete;
    SetAside& operator=(const SetAside&) = delete;
  } set_aside;
  std::vector<Tensor> outputs;
  GradientTape own;
  GradientTape::Impl& impl = *own.impl_;
  impl.keep_inputs = true;
  for (const GradientTape::Impl* t : set_aside.tapes) {
    if (!t->recording()) continue;
    impl.set_aside.push_back(t);
    // What a tape set aside by an enclosing run_untaped watched counts too.
    impl.set_aside.insert(impl.set_aside.end(), t->set_aside.begin(), t->set_aside.end());
  }
  outputs = fn();
  std::unordered_set<std::uint64_t> made;
  std::unordered_set<std::uint64_t> seen;
  for (const Entry& e : impl.entries) {
    for (const Tensor& t : e.saved_inputs) {
      if (t.defined() && is_floating(t.dtype()) && !made.count(t.id()) &&
          seen.insert(t.id()).second) {
        used.push_back(t);
      }
    }
    for (const OutputSpec& o : e.outputs) made.insert(o.id);
  }
  return outputs;
}

}  // namespace autograd::detail

Tensor stop_gradient(const Tensor& t) {
  NEURONA_CHECK(t.defined(), ValueError, "stop_gradient: the tensor is undefined");
  return t.alias();
}

}  // namespace neurona
