// Keras's flat structures of values: one value, a list by position, or a dict by name. fit's
// x, y and sample_weight take tensors in them (nr::Tensors), and so do a dataset's parts
// (data::Dataset::from_tensor_slices(x, y)):
//   model.fit({{"image", images}, {"meta", meta}}, labels);
#pragma once

#include <concepts>
#include <initializer_list>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona {

/// One value (for a single input or output, or for every output), a list with one value per
/// input or output by position, or a dict by input or output name (Keras's flat structures).
/// A dict keeps the order it was given in.
template <typename T>
class Structure {
 public:
  enum class Form { none, one, list, dict };
  using Named = std::vector<std::pair<std::string, T>>;

  Structure() = default;
  template <typename U>
  requires(!std::same_as<std::remove_cvref_t<U>, Structure> && std::constructible_from<T, U&&>)
      Structure(U&& one)  // NOLINT: implicit by design
      : form_(Form::one), list_{T(std::forward<U>(one))} {}
  Structure(std::initializer_list<T> list) : form_(Form::list), list_(list) {}
  Structure(std::vector<T> list) : form_(Form::list), list_(std::move(list)) {}  // NOLINT
  Structure(std::initializer_list<std::pair<const std::string, T>> named)        // NOLINT
      : form_(Form::dict), named_(named.begin(), named.end()) {}
  Structure(Named named) : form_(Form::dict), named_(std::move(named)) {}  // NOLINT
  Structure(const std::map<std::string, T>& named)                         // NOLINT
      : form_(Form::dict), named_(named.begin(), named.end()) {}

  Form form() const { return form_; }
  bool given() const { return form_ != Form::none; }
  /// The single value (Form::one).
  const T& one() const { return list_.front(); }
  /// The values by position (Form::list).
  const std::vector<T>& list() const { return list_; }
  /// The values by name (Form::dict).
  const Named& dict() const { return named_; }

 private:
  Form form_ = Form::none;
  std::vector<T> list_;
  Named named_;
};

/// fit's and evaluate's x, y and sample_weight: one tensor, one per input (output) in order,
/// or a dict by input (output) name.
using Tensors = Structure<Tensor>;

}  // namespace neurona
