// Tensor: a shared handle to contiguous, row-major storage with a shape, a dtype and a
// device. Copying a Tensor copies the handle; reshape() and slicing along the first axis
// share storage; to() copies. Ops live in kernels/ and take Tensors by const reference.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "neurona/core/device.h"
#include "neurona/core/dtype.h"
#include "neurona/core/error.h"
#include "neurona/core/runtime.h"
#include "neurona/core/shape.h"

namespace neurona {

class Allocator;

/// Memory on one device, freed through its allocator when the last Tensor lets go of it.
class Storage {
 public:
  Storage(std::size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  /// In-place writes so far (Tensor::version()).
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
  void bump_version() { version_.fetch_add(1, std::memory_order_acq_rel); }

  /// Values computed from the contents that kernels keep with the storage
  /// (Tensor::cached_derived): each valid while version() is the one it was made at.
  struct Derived {
    const void* tag;
    std::size_t offset;
    Shape shape;
    DType dtype;
    std::uint64_t version;
    std::int64_t replays;  // detail::graph_replays() when it was made
    std::shared_ptr<void> value;
  };
  std::vector<Derived>& derived() { return derived_; }

 private:
  std::atomic<std::uint64_t> version_{0};
  std::vector<Derived> derived_;  // guarded by a mutex in tensor.cpp
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;
};

/// The dtype and device of a new tensor; a missing device means default_device().
/// `nr::zeros({2, 3}, {.dtype = nr::float64, .device = nr::Device::cpu()})`
struct TensorOptions {
  DType dtype = DType::float32;
  std::optional<Device> device = std::nullopt;
  Device resolved_device() const { return device ? *device : default_device(); }
};

class Tensor {
 public:
  /// An undefined tensor: defined() is false and most accessors throw.
  Tensor() = default;

  /// A tensor with uninitialized contents. Throws ShapeError for an invalid shape and
  /// ValueError for a device that does not exist.
  static Tensor empty(const Shape& shape, DType dtype, Device device);
  static Tensor empty(const Shape& shape, TensorOptions options = {});

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  Device device() const;
  int rank() const { return shape_.rank(); }
  std::int64_t numel() const { return numel_; }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel_) * size_of(dtype_); }

  /// Pointer to the first element, on the tensor's device. Throws ValueError if `T` is not
  /// the tensor's element type.
  template <typename T>
  T* data() const {
    check_type(dtype_of<T>(), "Tensor::data");
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  /// A copy on `device` (the same handle if already there).
  Tensor to(Device device) const;

  /// A copy with storage of its own, on the same device (a new id, unrelated for autograd).
  Tensor clone() const;

  /// Overwrites this tensor's elements with `src`'s, in place, from any device: the storage
  /// (and the address a captured graph reads) stays. `src` must have this tensor's shape and
  /// dtype; ShapeError / ValueError naming both otherwise. Queued on the device's stream like
  /// a kernel (no wait when both are on one GPU).
  void copy_from(const Tensor& src) const;

  /// How many in-place writes the storage has had: copy_from (and so Variable::assign),
  /// optimizer updates, bump_version(). Something computed from the values stays valid while
  /// this is unchanged. 0 for an undefined tensor.
  std::uint64_t version() const;

  /// Records an in-place write that neurona did not make (through data<T>() or raw_data()), so
  /// that values cached from the old contents (cached_derived) are made again.
  void bump_version() const;

  /// What `make(*this)` returns, kept with the storage while version() stays the same: a
  /// kernel's copy of a weight in the layout its library wants (cuDNN's filter layout) is then
  /// made once per weight update, not once per call. `tag` (an address of the caller's)
  /// tells the callers apart; the offset, shape and dtype of this view are part of the key.
  /// While a graph is being captured nothing is cached or served from the cache: a replay
  /// must redo the work on the values of its own step. A replay writes without bumping
  /// versions, so any replay since makes a cached value stale too.
  Tensor cached_derived(const void* tag, const std::function<Tensor(const Tensor&)>& make) const;

  /// A view with a new shape and the same storage; one dimension may be -1 (inferred).
  /// Throws ShapeError when the element counts differ.
  Tensor reshape(const Shape& shape) const;

  /// Rows [start, stop) of the first axis, sharing storage (Python's t[start:stop], negative
  /// indices count from the end, bounds are clipped as Python does).
  Tensor slice(std::int64_t start, std::int64_t stop) const;

  /// The one element of a tensor with numel() == 1, converted to `T`.
  template <typename T = float>
  T item() const;

  /// All elements in row-major order, converted to `T`, copied to the host.
  template <typename T = float>
  std::vector<T> to_vector() const;

  /// Printed as TensorFlow prints its tensors, under neurona's prefix (variables print as
  /// <nr.Variable ...>): nr.Tensor([[0.5 0.7 0.2]], shape=(1, 3), dtype=float32), with "..."
  /// in place of the middle of dimensions longer than 6 when numel() > 1000.
  std::string str() const;

  /// The contents only, as NumPy prints them: [[0.5 0.7 0.2]].
  std::string values_str() const;

  /// True when both handles refer to the same storage and offset.
  bool is_same(const Tensor& other) const {
    return storage_ == other.storage_ && offset_ == other.offset_;
  }

  /// Identity for autograd: every new tensor or view gets a fresh id; copies of a handle
  /// share it. 0 for an undefined tensor.
  std::uint64_t id() const { return id_; }

  /// The same storage, shape and dtype under a fresh id (what stop_gradient returns).
  Tensor alias() const;

  /// The mask a layer attached to this tensor (Keras's backend.get_keras_mask): which steps of
  /// a padded sequence are real, a uint8 tensor of 0/1 over the leading axes (batch, steps);
  /// undefined when there is none. Layers attach and read masks (Embedding with mask_zero,
  /// Masking, and every layer that supports masking); ops and views return tensors without one.
  const Tensor& keras_mask() const;
  /// Attaches `mask` to this handle (and to the copies made from it from now on); an undefined
  /// mask removes it (Keras's backend.set_keras_mask).
  void set_keras_mask(const Tensor& mask);

 private:
  void check_type(DType expected, const char* op) const;
  void check_defined(const char* op) const;
  /// The elements as float64/int64 values on the host, for printing and conversion.
  std::vector<double> host_doubles() const;

  std::shared_ptr<Storage> storage_;
  std::uint64_t id_ = 0;
  std::size_t offset_ = 0;  // bytes
  Shape shape_;
  std::int64_t numel_ = 0;
  DType dtype_ = DType::float32;
  std::shared_ptr<const Tensor> keras_mask_;  // null when none: copies stay cheap
};

inline std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << t.str();
}

namespace detail {
/// Host-side element conversion used by item() and to_vector().
void convert_to(const void* src, DType src_type, void* dst, DType dst_type, std::int64_t n);

/// A fresh tensor id.
std::uint64_t next_tensor_id();

/// How a view or copy was made from its source, for autograd to record.
enum class ViewKind : std::uint8_t { reshape, slice, to_device };
/// Called by reshape(), slice() and to() with the source and the result once autograd has
/// installed it (it does so when the first GradientTape is made); core itself knows nothing
/// of tapes.
using ViewHook = void (*)(ViewKind kind, const Tensor& source, const Tensor& result);
void set_view_hook(ViewHook hook);
}  // namespace detail

template <typename T>
T Tensor::item() const {
  check_defined("Tensor::item");
  NEURONA_CHECK(numel_ == 1, ValueError, "Tensor::item: expected a tensor with one element, got ",
                "shape ", shape_);
  return to_vector<T>()[0];
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  check_defined("Tensor::to_vector");
  const Tensor host = to(Device::cpu());
  std::vector<T> out(static_cast<std::size_t>(numel_));
  detail::convert_to(host.raw_data(), dtype_, out.data(), dtype_of<T>(), numel_);
  return out;
}

}  // namespace neurona
