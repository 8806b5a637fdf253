#include "neurona/layers/normalization_axes.h"

#include <algorithm>
#include <sstream>

#include "neurona/layers/config_reader.h"

namespace neurona::layers {

NormalizationAxes NormalizationAxes::sorted() const {
  std::vector<int> axes = axes_;
  std::sort(axes.begin(), axes.end());
  return NormalizationAxes(std::move(axes));
}

std::string NormalizationAxes::repr() const {
  if (is_int_) return std::to_string(axes_[0]);
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < axes_.size(); ++i) os << (i ? ", " : "") << axes_[i];
  os << ']';
  return os.str();
}

ConfigValue NormalizationAxes::to_config() const {
  if (is_int_) return ConfigValue(static_cast<std::int64_t>(axes_[0]));
  ConfigValue::List axes;
  for (int a : axes_) axes.emplace_back(static_cast<std::int64_t>(a));
  return ConfigValue(std::move(axes));
}

std::vector<int> NormalizationAxes::resolve(const Shape& shape, const std::string& who) const {
  const int rank = shape.rank();
  std::vector<int> out;
  for (int a : axes_) {
    NEURONA_CHECK(a < rank && a >= -rank, ValueError, who, ": Axis ", a,
                  " is out of bounds for input shape ", shape_str(shape),
                  ". Received: axis=", repr());
    const int n = a < 0 ? a + rank : a;
    NEURONA_CHECK(std::find(out.begin(), out.end(), n) == out.end(), ValueError, who,
                  ": duplicate value in 'axis': ", repr(), " for input shape ", shape_str(shape));
    out.push_back(n);
  }
  return out;
}

std::vector<int> NormalizationAxes::resolve_for_weight(const Shape& shape, const Shape& weight,
                                                       const Shape& built_for,
                                                       const std::string& who) const {
  std::vector<int> axes = resolve(shape, who);
  bool same = static_cast<int>(axes.size()) == weight.rank();
  for (std::size_t i = 0; same && i < axes.size(); ++i) {
    same = shape[axes[i]] == weight[static_cast<int>(i)];
  }
  NEURONA_CHECK(same, ShapeError, who, ": expected inputs with sizes ", shape_str(weight),
                " on axes ", repr(), " (built for shape ", shape_str(built_for), "), got shape ",
                shape_str(shape));
  return axes;
}

namespace {
int axis_int(const LayerConfigReader& r, std::int64_t v) {
  // Past any rank a tensor can have, and kept from wrapping into a valid axis.
  NEURONA_CHECK(v >= -1024 && v <= 1024, ValueError, r.who(), ": 'axis' ", v, " is out of range");
  return static_cast<int>(v);
}
}  // namespace

NormalizationAxes NormalizationAxes::from_config(const LayerConfigReader& r,
                                                 NormalizationAxes fallback) {
  const ConfigValue* a = r.find("axis");
  if (a == nullptr) return fallback;
  const bool is_list = a->kind() == ConfigValue::Kind::List;
  bool ints = a->kind() == ConfigValue::Kind::Int || is_list;
  if (is_list) {
    for (const ConfigValue& item : a->as_list())
      ints = ints && item.kind() == ConfigValue::Kind::Int;
  }
  NEURONA_CHECK(ints, ValueError, r.who(),
                ": Expected an int or a list/tuple of ints for the argument 'axis', but received "
                "a ",
                a->kind_name());
  if (!is_list) return axis_int(r, a->as_int());
  std::vector<int> axes;
  for (std::int64_t v : r.ints("axis", *a)) axes.push_back(axis_int(r, v));
  return NormalizationAxes(std::move(axes));
}

}  // namespace neurona::layers
