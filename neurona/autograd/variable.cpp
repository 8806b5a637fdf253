// Variables and the registry that lets a recording tape recognise a variable's value.
#include "neurona/autograd/variable.h"

#include <mutex>
#include <unordered_map>

#include "neurona/autograd/ops.h"
#include "neurona/core/state_writes.h"

namespace neurona {

struct Variable::State {
  Tensor value;
  std::string name;
  bool trainable = true;
  ~State();
};

// Live variables by the id of their value. Consulted only while a tape records.
struct VariableRegistry {
  std::mutex mu;
  std::unordered_map<std::uint64_t, std::weak_ptr<Variable::State>> by_id;

  static VariableRegistry& get() {
    static auto* r = new VariableRegistry();  // outlives variables in static objects
    return *r;
  }
  static Variable make(std::shared_ptr<Variable::State> s) { return Variable(std::move(s)); }
};

Variable::State::~State() {
  auto& r = VariableRegistry::get();
  std::lock_guard lock(r.mu);
  r.by_id.erase(value.id());
}

namespace {
Variable register_variable(Tensor value, VariableOptions options) {
  NEURONA_CHECK(value.defined(), ValueError, "Variable '", options.name,
                "': the initial value is an undefined tensor");
  auto state = std::make_shared<Variable::State>();
  // A tensor of its own, so that the id (and the storage assign() writes) belong to the
  // variable alone.
  state->value = value.clone();
  state->name = std::move(options.name);
  state->trainable = options.trainable;
  auto& r = VariableRegistry::get();
  {
    std::lock_guard lock(r.mu);
    r.by_id[state->value.id()] = state;
  }
  return VariableRegistry::make(std::move(state));
}
}  // namespace

Variable::Variable(const Tensor& initial_value, VariableOptions options)
    : Variable(register_variable(initial_value, std::move(options))) {}
Variable::Variable(float value, VariableOptions options)
    : Variable(register_variable(constant(value), std::move(options))) {}
Variable::Variable(double value, VariableOptions options)
    : Variable(register_variable(constant(value), std::move(options))) {}
Variable::Variable(int value, VariableOptions options)
    : Variable(register_variable(constant(value), std::move(options))) {}

const Tensor& Variable::value() const {
  return state_->value;
}

Tensor Variable::read_value() const {
  return state_->value.clone();
}

void Variable::assign(const Tensor& value) {
  NEURONA_CHECK(value.defined(), ValueError, "Variable '", state_->name,
                "'.assign: the value is an undefined tensor");
  Tensor& v = state_->value;
  NEURONA_CHECK(value.shape() == v.shape(), ShapeError, "Variable '", state_->name,
                "'.assign: expected shape ", v.shape(), ", got ", value.shape());
  detail::before_state_write(v);
  v.copy_from(kernels::cast(value, v.dtype()));
}

void Variable::assign_add(const Tensor& delta) {
  NEURONA_CHECK(delta.defined() && delta.shape() == shape(), ShapeError, "Variable '", state_->name,
                "'.assign_add: expected shape ", shape(), ", got ",
                delta.defined() ? delta.shape().str() : std::string("an undefined tensor"));
  assign(kernels::add(value(), kernels::cast(delta.to(device()), dtype())));
}

void Variable::assign_sub(const Tensor& delta) {
  NEURONA_CHECK(delta.defined() && delta.shape() == shape(), ShapeError, "Variable '", state_->name,
                "'.assign_sub: expected shape ", shape(), ", got ",
                delta.defined() ? delta.shape().str() : std::string("an undefined tensor"));
  assign(kernels::subtract(value(), kernels::cast(delta.to(device()), dtype())));
}

const std::string& Variable::name() const {
  return state_->name;
}
bool Variable::trainable() const {
  return state_->trainable;
}
void Variable::set_trainable(bool trainable) {
  state_->trainable = trainable;
}

std::ostream& operator<<(std::ostream& os, const Variable& v) {
  return os << "<nr.Variable '" << v.name() << "' shape=" << v.shape() << " dtype=" << v.dtype()
            << ", numpy=" << v.value().values_str() << ">";
}

namespace autograd::detail {
std::optional<Variable> find_variable(std::uint64_t id) {
  auto& r = VariableRegistry::get();
  std::lock_guard lock(r.mu);
  auto it = r.by_id.find(id);
  if (it == r.by_id.end()) return std::nullopt;
  auto s = it->second.lock();
  if (!s) return std::nullopt;
  return VariableRegistry::make(std::move(s));
}
}  // namespace autograd::detail

}  // namespace neurona
