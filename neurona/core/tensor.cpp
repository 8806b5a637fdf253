// Tensor handles, storage, device copies, host-side conversion and TensorFlow-style printing.
#include "neurona/core/tensor.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstring>
#include <mutex>

#include "neurona/core/allocator.h"
#include "neurona/core/backend.h"
#include "neurona/core/capture.h"
#include "neurona/core/runtime.h"

namespace neurona {

namespace detail {
std::uint64_t next_tensor_id() {
  static std::atomic<std::uint64_t> counter{0};
  return ++counter;
}

namespace {
std::atomic<ViewHook> g_view_hook{nullptr};
}  // namespace

void set_view_hook(ViewHook hook) {
  g_view_hook.store(hook);
}

static void notify_view(ViewKind kind, const Tensor& source, const Tensor& result) {
  if (ViewHook hook = g_view_hook.load(std::memory_order_relaxed)) hook(kind, source, result);
}
}  // namespace detail

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  allocator_ = &allocator_for(device);
  data_ = allocator_->allocate(nbytes);
}

Storage::~Storage() {
  allocator_->deallocate(data_, nbytes_);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  shape.check_valid("Tensor::empty");
  NEURONA_CHECK(size_of(dtype) != 0, ValueError, "Tensor::empty: unknown dtype (enumerator ",
                static_cast<int>(dtype), ") for shape ", shape);
  const std::int64_t n = shape.numel();
  const auto max_elems = static_cast<std::int64_t>(SIZE_MAX / 2 / size_of(dtype));
  NEURONA_CHECK(n <= max_elems, OutOfMemoryError, "Tensor::empty: shape ", shape, " of ", dtype,
                " needs more bytes than can be addressed");
  Tensor t;
  try {
    t.storage_ = std::make_shared<Storage>(static_cast<std::size_t>(n) * size_of(dtype), device);
  } catch (const OutOfMemoryError& e) {
    // The allocator names the bytes (on a GPU also what is in use and cached); the tensor's
    // shape says which one an op asked for.
    throw OutOfMemoryError(
        detail::str(e.what(), " (a ", dtype, " tensor of shape ", shape, " on ", device, ")"));
  }
  // Storage made during a capture lives as long as the graph: replays write to it.
  if (detail::CaptureState* capture = detail::current_capture();
      capture != nullptr && capture->device == device) {
    capture->retained.push_back(t.storage_);
  }
  t.shape_ = shape;
  t.numel_ = n;
  t.dtype_ = dtype;
  t.id_ = detail::next_tensor_id();
  return t;
}

Tensor Tensor::alias() const {
  check_defined("Tensor::alias");
  Tensor out = *this;
  out.id_ = detail::next_tensor_id();
  out.keras_mask_.reset();
  return out;
}

const Tensor& Tensor::keras_mask() const {
  static const Tensor none;
  return keras_mask_ ? *keras_mask_ : none;
}

void Tensor::set_keras_mask(const Tensor& mask) {
  if (mask.defined()) {
    keras_mask_ = std::make_shared<const Tensor>(mask);
  } else {
    keras_mask_.reset();
  }
}

Tensor Tensor::empty(const Shape& shape, TensorOptions options) {
  return empty(shape, options.dtype, options.resolved_device());
}

Device Tensor::device() const {
  check_defined("Tensor::device");
  return storage_->device();
}

void* Tensor::raw_data() const {
  check_defined("Tensor::data");
  return static_cast<char*>(storage_->data()) + offset_;
}

void Tensor::check_defined(const char* op) const {
  NEURONA_CHECK(defined(), ValueError, op, ": the tensor is undefined (default-constructed)");
}

void Tensor::check_type(DType expected, const char* op) const {
  check_defined(op);
  NEURONA_CHECK(dtype_ == expected, ValueError, op, ": tensor has dtype ", dtype_, ", accessed as ",
                expected);
}

Tensor Tensor::to(Device device) const {
  check_defined("Tensor::to");
  if (device == this->device()) return *this;
  check_device_available(device, "Tensor::to");
  Tensor out = empty(shape_, dtype_, device);
  copy_bytes(out.raw_data(), device, raw_data(), this->device(), nbytes());
  detail::notify_view(detail::ViewKind::to_device, *this, out);
  return out;
}

Tensor Tensor::clone() const {
  check_defined("Tensor::clone");
  Tensor out = empty(shape_, dtype_, device());
  copy_bytes(out.raw_data(), out.device(), raw_data(), device(), nbytes());
  return out;
}

void Tensor::copy_from(const Tensor& src) const {
  check_defined("Tensor::copy_from");
  NEURONA_CHECK(src.defined(), ValueError, "Tensor::copy_from: the source is an undefined tensor");
  NEURONA_CHECK(src.shape() == shape_, ShapeError, "Tensor::copy_from: the source has shape ",
                src.shape(), ", the destination ", shape_);
  NEURONA_CHECK(src.dtype() == dtype_, ValueError, "Tensor::copy_from: the source has dtype ",
                src.dtype(), ", the destination ", dtype_);
  copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
  storage_->bump_version();
}

std::uint64_t Tensor::version() const {
  return storage_ ? storage_->version() : 0;
}

void Tensor::bump_version() const {
  check_defined("Tensor::bump_version");
  storage_->bump_version();
}

namespace {
std::mutex& derived_mutex() {
  static std::mutex mu;
  return mu;
}
}  // namespace

Tensor Tensor::cached_derived(const void* tag,
                              const std::function<Tensor(const Tensor&)>& make) const {
  check_defined("Tensor::cached_derived");
  if (detail::current_capture() != nullptr) return make(*this);
  const std::uint64_t version = storage_->version();
  const std::int64_t replays = detail::graph_replays();
  auto matches = [&](const Storage::Derived& e) {
    return e.tag == tag && e.offset == offset_ && e.shape == shape_ && e.dtype == dtype_;
  };
  {
    std::lock_guard lock(derived_mutex());
    for (const Storage::Derived& e : storage_->derived()) {
      if (matches(e) && e.version == version && e.replays == replays)
        return *static_cast<const Tensor*>(e.value.get());
    }
  }
  // Made outside the lock (it queues kernels); a write since `version` was read makes the entry
  // stale at once, so the next call makes it again.
  auto value = std::make_shared<Tensor>(make(*this));
  std::lock_guard lock(derived_mutex());
  auto& entries = storage_->derived();
  const auto it = std::find_if(entries.begin(), entries.end(), matches);
  if (it != entries.end()) {
    it->version = version;
    it->replays = replays;
    it->value = value;
  } else {
    entries.push_back({tag, offset_, shape_, dtype_, version, replays, value});
  }
  return *value;
}

Tensor Tensor::reshape(const Shape& shape) const {
  check_defined("Tensor::reshape");
  std::vector<std::int64_t> dims = shape.dims();
  int infer = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      NEURONA_CHECK(infer < 0, ShapeError, "reshape: more than one -1 in the new shape ", shape);
      infer = static_cast<int>(i);
    } else {
      NEURONA_CHECK(dims[i] >= 0, ShapeError, "reshape: negative dimension in the new shape ",
                    shape);
      known = dims[i] == 0 ? 0 : known * dims[i];
    }
  }
  if (infer >= 0) {
    NEURONA_CHECK(known != 0 && numel_ % known == 0, ShapeError, "reshape: cannot reshape a ",
                  "tensor of shape ", shape_, " (", numel_, " elements) into ", shape);
    dims[static_cast<std::size_t>(infer)] = numel_ / known;
  }
  Shape target(std::move(dims));
  target.check_valid("reshape");
  NEURONA_CHECK(target.numel() == numel_, ShapeError, "reshape: cannot reshape a tensor of shape ",
                shape_, " (", numel_, " elements) into ", target, " (", target.numel(),
                " elements)");
  Tensor out = *this;
  out.shape_ = std::move(target);
  out.id_ = detail::next_tensor_id();
  out.keras_mask_.reset();
  detail::notify_view(detail::ViewKind::reshape, *this, out);
  return out;
}

Tensor Tensor::slice(std::int64_t start, std::int64_t stop) const {
  check_defined("Tensor::slice");
  NEURONA_CHECK(rank() >= 1, ShapeError, "slice: cannot slice a scalar (shape ", shape_, ")");
  const std::int64_t n = shape_.dims()[0];
  auto clip = [n](std::int64_t i) {
    if (i < 0) i += n;
    return std::clamp<std::int64_t>(i, 0, n);
  };
  start = clip(start);
  stop = std::max(clip(stop), start);
  std::vector<std::int64_t> dims = shape_.dims();
  const std::int64_t row = n == 0 ? 0 : numel_ / n;
  dims[0] = stop - start;
  Tensor out = *this;
  out.offset_ += static_cast<std::size_t>(start * row) * size_of(dtype_);
  out.shape_ = Shape(std::move(dims));
  out.numel_ = (stop - start) * row;
  out.id_ = detail::next_tensor_id();
  out.keras_mask_.reset();
  detail::notify_view(detail::ViewKind::slice, *this, out);
  return out;
}

namespace detail {
void convert_to(const void* src, DType src_type, void* dst, DType dst_type, std::int64_t n) {
  if (n == 0) return;  // empty tensors have null storage
  if (src_type == dst_type) {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * size_of(src_type));
    return;
  }
  visit_dtype(src_type, [&](auto s) {
    using S = std::decay_t<decltype(s)>;
    visit_dtype(dst_type, [&](auto d) {
      using D = std::decay_t<decltype(d)>;
      const S* in = static_cast<const S*>(src);
      D* out = static_cast<D*>(dst);
      for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<D>(in[i]);
    });
  });
}
}  // namespace detail

// ---- printing ---------------------------------------------------------------------------

namespace {

constexpr std::int64_t kSummaryThreshold = 1000;  // NumPy's print threshold
constexpr std::int64_t kEdgeItems = 3;

std::string shortest(double v, bool single) {
  char buf[64];
  auto r = single ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v))
                  : std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// Formats every element with a common style, as NumPy does: integers right-aligned; floats
// in their shortest round-trip form, aligned on the decimal point, or in scientific notation
// when the magnitudes span too much.
class ElementFormatter {
 public:
  ElementFormatter(const std::vector<double>& shown, DType dtype) {
    floating_ = is_floating(dtype);
    single_ = dtype == DType::float32;
    double max_abs = 0, min_abs = INFINITY;
    bool all_integral = true;
    for (double v : shown) {
      if (!std::isfinite(v)) continue;
      max_abs = std::max(max_abs, std::abs(v));
      if (v != 0) min_abs = std::min(min_abs, std::abs(v));
      all_integral = all_integral && v == std::floor(v);
    }
    scientific_ = floating_ && (max_abs >= 1e16 || (min_abs < 1e-4 && min_abs > 0) ||
                                (!all_integral && max_abs >= 1e8));
    all_integral_ = all_integral;
    for (double v : shown) {
      auto [ip, fp] = split(v);
      int_width_ = std::max(int_width_, ip.size());
      frac_width_ = std::max(frac_width_, fp.size());
    }
  }

  std::string format(double v) const {
    auto [ip, fp] = split(v);
    std::string s(int_width_ - std::min(int_width_, ip.size()), ' ');
    s += ip;
    s += fp;
    if (floating_ && !scientific_) s.append(frac_width_ - std::min(frac_width_, fp.size()), ' ');
    return s;
  }

 private:
  // Integer part (with sign) and the rest (from the decimal point on).
  std::pair<std::string, std::string> split(double v) const {
    if (!floating_) return {std::to_string(static_cast<long long>(v)), ""};
    if (std::isnan(v)) return {"nan", ""};
    if (std::isinf(v)) return {v > 0 ? "inf" : "-inf", ""};
    if (scientific_) {
      char buf[64];
      auto r = single_ ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v),
                                       std::chars_format::scientific)
                       : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
      std::string s(buf, r.ptr);
      if (s.find('.') == std::string::npos) {  // 1e-05 -> 1.e-05, as NumPy prints
        const std::size_t e = s.find('e');
        s = s.substr(0, e) + "." + s.substr(e);
      }
      return {s, ""};
    }
    if (all_integral_) {
      return {std::to_string(static_cast<long long>(v)) + ".", ""};
    }
    std::string s = shortest(v, single_);
    if (s.find('e') != std::string::npos) {  // shortest form chose an exponent: use fixed
      char buf[64];
      auto r = single_ ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v),
                                       std::chars_format::fixed)
                       : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
      s.assign(buf, r.ptr);
    }
    auto dot = s.find('.');
    if (dot == std::string::npos) return {s + ".", ""};
    if (s.size() - dot - 1 > 8) {  // NumPy's default precision: at most 8 decimals
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 8);
      s.assign(buf, r.ptr);
      while (s.back() == '0') s.pop_back();
      dot = s.find('.');
    }
    return {s.substr(0, dot + 1), s.substr(dot + 1)};
  }

  bool floating_ = false, single_ = false, scientific_ = false, all_integral_ = false;
  std::size_t int_width_ = 0, frac_width_ = 0;
};

struct Printer {
  const std::vector<double>& values;
  const std::vector<std::int64_t>& dims;
  std::vector<std::int64_t> strides;
  bool summarize;
  const ElementFormatter* fmt = nullptr;

  // Calls f(flat index) for the elements shown along dimension `axis` from `base`.
  template <typename F>
  void for_shown(int axis, std::int64_t base, F&& f) const {
    const std::int64_t n = dims[static_cast<std::size_t>(axis)];
    const std::int64_t st = strides[static_cast<std::size_t>(axis)];
    if (summarize && n > 2 * kEdgeItems) {
      for (std::int64_t i = 0; i < kEdgeItems; ++i) f(base + i * st, false);
      f(-1, true);
      for (std::int64_t i = n - kEdgeItems; i < n; ++i) f(base + i * st, false);
    } else {
      for (std::int64_t i = 0; i < n; ++i) f(base + i * st, false);
    }
  }

  void collect(int axis, std::int64_t base, std::vector<double>& out) const {
    if (axis == static_cast<int>(dims.size())) {
      out.push_back(values[static_cast<std::size_t>(base)]);
      return;
    }
    for_shown(axis, base, [&](std::int64_t b, bool ellipsis) {
      if (!ellipsis) collect(axis + 1, b, out);
    });
  }

  void print(int axis, std::int64_t base, std::string& out) const {
    const int rank = static_cast<int>(dims.size());
    if (axis == rank) {
      out += fmt->format(values[static_cast<std::size_t>(base)]);
      return;
    }
    out += '[';
    bool first = true;
    const std::string indent(static_cast<std::size_t>(axis + 1), ' ');
    const std::string sep =
        axis == rank - 1 ? std::string(" ")
                         : std::string(static_cast<std::size_t>(rank - axis - 1), '\n') + indent;
    for_shown(axis, base, [&](std::int64_t b, bool ellipsis) {
      if (!first) out += sep;
      first = false;
      if (ellipsis) {
        out += "...";
      } else {
        print(axis + 1, b, out);
      }
    });
    out += ']';
  }
};

}  // namespace

std::vector<double> Tensor::host_doubles() const {
  std::vector<double> v(static_cast<std::size_t>(numel_));
  const Tensor host = to(Device::cpu());
  detail::convert_to(host.raw_data(), dtype_, v.data(), DType::float64, numel_);
  return v;
}

std::string Tensor::values_str() const {
  check_defined("Tensor::str");
  const std::vector<double> values = host_doubles();
  if (rank() == 0) {  // a NumPy scalar: 3.0, not 3.
    if (!is_floating(dtype_)) return std::to_string(static_cast<long long>(values[0]));
    if (std::isfinite(values[0]) && values[0] == std::floor(values[0]) &&
        std::abs(values[0]) < 1e16) {
      return std::to_string(static_cast<long long>(values[0])) + ".0";
    }
    return ElementFormatter(values, dtype_).format(values[0]);
  }
  Printer p{values, shape_.dims(), {}, numel_ > kSummaryThreshold};
  p.strides.assign(shape_.dims().size(), 1);
  for (int i = rank() - 2; i >= 0; --i) {
    p.strides[static_cast<std::size_t>(i)] =
        p.strides[static_cast<std::size_t>(i + 1)] * shape_.dims()[static_cast<std::size_t>(i + 1)];
  }
  std::vector<double> shown;
  if (numel_ > 0) p.collect(0, 0, shown);
  const ElementFormatter fmt(shown, dtype_);
  p.fmt = &fmt;
  std::string out;
  p.print(0, 0, out);
  return out;
}

std::string Tensor::str() const {
  if (!defined()) return "nr.Tensor(<undefined>)";
  const std::string v = values_str();
  const bool multiline = v.find('\n') != std::string::npos;
  return detail::str("nr.Tensor(", multiline ? "\n" : "", v, ", shape=", shape_, ", dtype=", dtype_,
                     ")");
}

}  // namespace neurona
