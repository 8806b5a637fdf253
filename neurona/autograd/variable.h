// Variable: a named tensor that training updates in place, trainable or not, on any device.
// A Variable is a handle: copies refer to the same variable, as Python references to a
// tf.Variable do. Reading it in an op while a GradientTape records makes the tape watch it
// (when trainable and the tape watches accessed variables).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "neurona/core/tensor.h"

namespace neurona {

struct VariableOptions {
  std::string name = "Variable";
  bool trainable = true;
};

class Variable {
 public:
  /// A variable holding (sharing) `initial_value`: `Variable x(nr::random_normal({1}))`.
  explicit Variable(const Tensor& initial_value, VariableOptions options = {});
  /// A float32 scalar on the default device: `Variable x(3.0f)`.
  explicit Variable(float value, VariableOptions options = {});
  explicit Variable(double value, VariableOptions options = {});
  explicit Variable(int value, VariableOptions options = {});

  /// The current value; ops take a Variable wherever they take a Tensor.
  const Tensor& value() const;
  operator const Tensor&() const { return value(); }  // NOLINT: implicit by design
  /// The current value as a tensor of its own (a snapshot under a new id, not watched).
  Tensor read_value() const;

  /// Overwrites the value in place (same storage, so the variable stays the one a tape
  /// watches). `value` must have the same shape; it is converted to the variable's dtype and
  /// copied to its device. Throws ShapeError naming the variable otherwise.
  void assign(const Tensor& value);
  void assign_add(const Tensor& delta);
  void assign_sub(const Tensor& delta);

  const std::string& name() const;
  bool trainable() const;
  void set_trainable(bool trainable);
  const Shape& shape() const { return value().shape(); }
  DType dtype() const { return value().dtype(); }
  Device device() const { return value().device(); }

  /// True when both handles are the same variable.
  bool is_same(const Variable& other) const { return state_ == other.state_; }

  struct State;

 private:
  explicit Variable(std::shared_ptr<State> state) : state_(std::move(state)) {}
  friend struct VariableRegistry;
  std::shared_ptr<State> state_;
};

std::ostream& operator<<(std::ostream& os, const Variable& v);

namespace autograd::detail {
/// The live variable whose value has tensor id `id`, if any.
std::optional<Variable> find_variable(std::uint64_t id);
}  // namespace autograd::detail

}  // namespace neurona
