// The arguments of compile(), fit() and evaluate() that Keras takes as one value, a list by
// position or a dict by name, for models with several inputs or outputs:
//   model.compile({.loss = {{"digits", "sparse_categorical_crossentropy"}, {"size", "mse"}},
//                  .metrics = {{"digits", {"accuracy"}}},
//                  .loss_weights = {{"digits", 1.0}, {"size", 0.2}}});
//   model.fit({images, meta}, {labels, sizes});
// (Structure itself, and nr::Tensors, are in core/structure.h.)
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "neurona/core/structure.h"
#include "neurona/training/losses.h"
#include "neurona/training/metrics.h"

namespace neurona {

/// compile's `.loss`: one loss for every output, one per output by position or by output name;
/// std::nullopt for an output that has no loss.
using CompileLoss = Structure<std::optional<losses::LossRef>>;

/// compile's `.loss_weights`: one weight for every output's loss, or per output by position or
/// by name (an output left out of a dict weighs 1).
using LossWeights = Structure<double>;

/// compile's `.metrics`, as Keras takes them: a list (every metric for the single output; for a
/// model with N outputs a list of N, one metric per output), a list of lists (per output, by
/// position) or a dict of lists by output name (outputs left out have none).
class CompileMetrics {
 public:
  using List = std::vector<metrics::MetricRef>;
  using PerOutput = std::vector<List>;
  using ByName = std::vector<std::pair<std::string, List>>;
  enum class Form { list, per_output, by_name };

  CompileMetrics() = default;
  CompileMetrics(std::initializer_list<metrics::MetricRef> list)  // NOLINT: implicit by design
      : list_(list) {}
  CompileMetrics(List list) : list_(std::move(list)) {}  // NOLINT: implicit by design
  CompileMetrics(PerOutput per_output)                   // NOLINT: implicit by design
      : form_(Form::per_output), per_output_(std::move(per_output)) {}
  CompileMetrics(ByName by_name)  // NOLINT: implicit by design
      : form_(Form::by_name), by_name_(std::move(by_name)) {}
  CompileMetrics(std::initializer_list<std::pair<const std::string, List>> by_name)  // NOLINT
      : form_(Form::by_name), by_name_(by_name.begin(), by_name.end()) {}

  Form form() const { return form_; }
  /// True when no metric is given in any form.
  bool empty() const;
  const List& list() const { return list_; }
  const PerOutput& per_output() const { return per_output_; }
  const ByName& by_name() const { return by_name_; }

 private:
  Form form_ = Form::list;
  List list_;
  PerOutput per_output_;
  ByName by_name_;
};

inline bool CompileMetrics::empty() const {
  switch (form_) {
    case Form::list:
      return list_.empty();
    case Form::per_output:
      for (const List& l : per_output_) {
        if (!l.empty()) return false;
      }
      return true;
    case Form::by_name:
      for (const auto& [name, l] : by_name_) {
        if (!l.empty()) return false;
      }
      return true;
  }
  return true;
}

}  // namespace neurona
