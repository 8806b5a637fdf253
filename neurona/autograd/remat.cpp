// Rematerialization: the function's first run is untaped (autograd/tape.h's run_untaped), and
// one tape entry, "remat", stands for it; its gradient rule runs the function again under a
// tape of its own, with the state it wrote put back, and differentiates that.
#include "neurona/autograd/remat.h"

#include <cstdint>
#include <memory>
#include <unordered_set>

#include "neurona/autograd/tape.h"
#include "neurona/core/error.h"
#include "neurona/core/random.h"
#include "neurona/core/state_writes.h"

namespace neurona {

namespace {

thread_local int t_recomputing = 0;

// The state a function wrote in place during its first run, as it was before: one copy per
// tensor, taken at its first write.
class StateLog final : public detail::StateWriteObserver {
 public:
  struct Written {
    Tensor state;   // shares the storage written
    Tensor before;  // a copy of its value before the first write
  };

  void before_state_write(const Tensor& state) override {
    for (const Written& w : written_) {
      if (w.state.id() == state.id()) return;
    }
    written_.push_back({state, state.clone()});
  }
  const std::vector<Written>& written() const { return written_; }

 private:
  std::vector<Written> written_;
};

// For the recomputation: the state as the first run found it and the global random counter
// where it stood; afterwards (restore()), what they are now.
class Rewind {
 public:
  Rewind(const StateLog& log, std::uint32_t random_calls) : log_(log) {
    for (const StateLog::Written& w : log_.written()) {
      now_.push_back(w.state.clone());
      w.state.copy_from(w.before);
    }
    random_calls_now_ = detail::random_call_count();
    detail::set_random_call_count(random_calls);
    ++t_recomputing;
  }
  void restore() {
    if (restored_) return;
    restored_ = true;
    --t_recomputing;
    detail::set_random_call_count(random_calls_now_);
    for (std::size_t i = 0; i < now_.size(); ++i) log_.written()[i].state.copy_from(now_[i]);
  }
  ~Rewind() {
    try {
      restore();
    } catch (...) {  // NOLINT(bugprone-empty-catch): the error that unwinds us is the one to see
    }
  }
  Rewind(const Rewind&) = delete;
  Rewind& operator=(const Rewind&) = delete;

 private:
  const StateLog& log_;
  std::vector<Tensor> now_;
  std::uint32_t random_calls_now_ = 0;
  bool restored_ = false;
};

}  // namespace

namespace autograd {
bool is_recomputing() {
  return t_recomputing > 0;
}
}  // namespace autograd

std::vector<Tensor> remat(const RematFn& fn, const std::vector<Tensor>& inputs) {
  NEURONA_CHECK(static_cast<bool>(fn), ValueError, "remat: the function is empty");
  if (!autograd::is_recording()) return fn(inputs);

  auto log = std::make_shared<StateLog>();
  const std::uint32_t random_calls = detail::random_call_count();
  std::vector<Tensor> used;
  std::vector<Tensor> outputs;
  {
    const detail::ScopedStateObserver observe(*log);
    outputs = autograd::detail::run_untaped([&] { return fn(inputs); }, used);
  }
  if (used.empty()) return outputs;  // nothing a tape watches reached the function's ops

  // An output that is one of the tensors used (an input passed through), or twice the same
  // tensor, becomes an alias of its own, so that the entry's outputs are new tensors.
  std::unordered_set<std::uint64_t> ids;
  for (const Tensor& t : used) ids.insert(t.id());
  for (Tensor& out : outputs) {
    if (out.defined() && !ids.insert(out.id()).second) {
      Tensor alias = out.alias();
      alias.set_keras_mask(out.keras_mask());
      out = std::move(alias);
    }
  }

  autograd::record("remat", used, outputs,
                   [fn, inputs, used, log, random_calls](const std::vector<Tensor>& grads) {
                     std::vector<Tensor> result(used.size());
                     std::vector<Tensor> sources;
                     std::vector<std::size_t> where;
                     for (std::size_t i = 0; i < used.size(); ++i) {
                       if (autograd::needs_input_gradient(i)) {
                         sources.push_back(used[i]);
                         where.push_back(i);
                       }
                     }
                     if (sources.empty()) return result;

                     GradientTape tape({.watch_accessed_variables = false});
                     for (const Tensor& s : sources) tape.watch(s);
                     std::vector<Tensor> again;
                     {
                       Rewind rewind(*log, random_calls);
                       again = fn(inputs);
                       rewind.restore();
                     }
                     NEURONA_CHECK(again.size() == grads.size(), Error,
                                   "remat: the function returned ", again.size(),
                                   " tensors when run again for the gradient but ", grads.size(),
                                   " the first time");
                     std::vector<Tensor> targets;
                     std::vector<Tensor> seeds;
                     for (std::size_t k = 0; k < again.size(); ++k) {
                       if (!again[k].defined() || !is_floating(again[k].dtype())) continue;
                       NEURONA_CHECK(again[k].shape() == grads[k].shape(), Error, "remat: output ",
                                     k, " has shape ", again[k].shape(), " when run again but ",
                                     grads[k].shape(), " the first time");
                       targets.push_back(again[k]);
                       seeds.push_back(grads[k]);
                     }
                     const std::vector<Tensor> g = tape.gradient(targets, seeds, sources);
                     for (std::size_t j = 0; j < where.size(); ++j) result[where[j]] = g[j];
                     return result;
                   });
  return outputs;
}

Tensor remat(const std::function<Tensor(const Tensor&)>& fn, const Tensor& x) {
  NEURONA_CHECK(static_cast<bool>(fn), ValueError, "remat: the function is empty");
  return remat([fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in[0])}; },
               std::vector<Tensor>{x})[0];
}

std::function<Tensor(const Tensor&)> remat(std::function<Tensor(const Tensor&)> fn) {
  NEURONA_CHECK(static_cast<bool>(fn), ValueError, "remat: the function is empty");
  return [fn = std::move(fn)](const Tensor& x) { return remat(fn, x); };
}

}  // namespace neurona
