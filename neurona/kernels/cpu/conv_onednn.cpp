// float32 conv2d and its two gradients through oneDNN (Debian's libdnnl, OpenMP threading on
// the same libgomp as ours, so OMP_NUM_THREADS holds for both). Activations stay in neurona's
// NHWC; the kernel is Keras's (kh, kw, in / groups, filters), oneDNN's hwio (hwigo with groups),
// and is reordered to whatever layout the chosen implementation wants: its AVX-512 kernels want
// blocked weights, and the weights are small next to the activations. Creating a primitive
// costs milliseconds (it generates code), so each is made once per geometry, direction and
// thread count and kept in a small least-recently-used cache.
#include "neurona/kernels/cpu/conv_onednn.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace neurona::kernels::cpu {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

enum class Direction : std::int64_t { forward, backward_input, backward_filter };

// The engine and the primitives' cache live until the process ends and are never destroyed:
// no static destructor then runs oneDNN's code after another static it needs is gone.
dnnl::engine& engine() {
  static auto* e = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *e;
}

// A CPU stream executes synchronously on the calling thread's OpenMP team; one per thread so
// that two threads convolving at once never share one.
dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

// One argument of a primitive: neurona's plain layout and, where the primitive wants another,
// the reorder between them (into the primitive for inputs, out of it for outputs).
struct Arg {
  int id = 0;
  bool output = false;
  memory::desc user;
  memory::desc inner;
  std::optional<dnnl::reorder> reorder;
};

struct Entry {
  dnnl::primitive primitive;
  std::vector<Arg> args;
  std::size_t scratchpad_bytes = 0;  // the largest of the primitive's and the reorders'
};

constexpr std::size_t kAlign = 64;
std::size_t aligned(std::size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

dnnl::primitive_attr user_scratchpad() {
  // The primitive's scratch space comes from us, per call: oneDNN's own would be shared by
  // every primitive, which is not safe to execute from two threads at once.
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

Arg make_arg(int id, bool output, const memory::desc& user, const memory::desc& inner,
             std::size_t* scratchpad_bytes) {
  Arg a{id, output, user, inner, std::nullopt};
  if (user != inner) {
    const dnnl::reorder::primitive_desc pd =
        output ? dnnl::reorder::primitive_desc(engine(), inner, engine(), user, user_scratchpad())
               : dnnl::reorder::primitive_desc(engine(), user, engine(), inner, user_scratchpad());
    *scratchpad_bytes = std::max(*scratchpad_bytes, pd.scratchpad_desc().get_size());
    a.reorder = dnnl::reorder(pd);
  }
  return a;
}

// What a primitive computes besides the convolution: a bias (forward: added to the output;
// kernel gradient: its gradient too) and, forward, a relu as post-ops.
struct Extras {
  bool bias = false;
  bool relu = false;
};

std::shared_ptr<const Entry> create(Direction dir, const Conv2DGeometry& g, Extras extras) {
  const auto f32 = memory::data_type::f32;
  const memory::desc src({g.n, g.c, g.h, g.w}, f32, Tag::nhwc);
  const memory::desc dst({g.n, g.filters, g.oh, g.ow}, f32, Tag::nhwc);
  const memory::desc weights =
      g.groups == 1 ? memory::desc({g.filters, g.c, g.kh, g.kw}, f32, Tag::hwio)
                    : memory::desc({g.groups, g.filters / g.groups, g.c / g.groups, g.kh, g.kw},
                                   f32, Tag::hwigo);
  const memory::desc weights_any(weights.dims(), f32, Tag::any);
  const memory::desc bias({g.filters}, f32, Tag::a);
  const memory::dims strides = {g.sh, g.sw}, dilates = {g.dh - 1, g.dw - 1};
  const memory::dims pad_l = {g.pad_top, g.pad_left}, pad_r = {g.pad_bottom, g.pad_right};
  const auto algo = dnnl::algorithm::convolution_direct;
  dnnl::primitive_attr attr = user_scratchpad();
  if (dir == Direction::forward && extras.relu) {
    // relu that keeps NaN, as neurona's (and TensorFlow's) does: elu with alpha 0 (x > 0 ? x :
    // 0 * (e^x - 1); NaN stays NaN), then 1 * y + 0, which turns elu's -0 for negative x into
    // relu's +0. oneDNN's relu post-op with alpha 0 is vmaxps(x, 0) in its jit kernels, which
    // turns NaN into 0 (oneDNN 2.6, jit:avx2). Measured on the cnn's first convolution (batch
    // 128, one thread): 1.2-1.8 ms with that relu, 2.7-3.7 ms so, 4.3-6.0 ms with a separate
    // relu pass over the output; the second convolution (32 -> 64 channels) is the same within
    // noise either way.
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_elu, 0.0f, 0.0f);
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, 1.0f, 0.0f);
    attr.set_post_ops(ops);
  }

  const auto forward_desc = [&] {
    const auto prop = dnnl::prop_kind::forward_training;
    return extras.bias ? dnnl::convolution_forward::desc(prop, algo, src, weights_any, bias, dst,
                                                         strides, dilates, pad_l, pad_r)
                       : dnnl::convolution_forward::desc(prop, algo, src, weights_any, dst, strides,
                                                         dilates, pad_l, pad_r);
  };
  const dnnl::convolution_forward::primitive_desc fwd(forward_desc(), attr, engine());
  auto entry = std::make_shared<Entry>();
  std::size_t scratch = 0;
  if (dir == Direction::forward) {
    scratch = fwd.scratchpad_desc().get_size();
    entry->args = {make_arg(DNNL_ARG_SRC, false, src, fwd.src_desc(), &scratch),
                   make_arg(DNNL_ARG_WEIGHTS, false, weights, fwd.weights_desc(), &scratch)};
    if (extras.bias) entry->args.push_back(make_arg(DNNL_ARG_BIAS, false, bias, bias, &scratch));
    entry->args.push_back(make_arg(DNNL_ARG_DST, true, dst, fwd.dst_desc(), &scratch));
    entry->primitive = dnnl::convolution_forward(fwd);
  } else if (dir == Direction::backward_input) {
    const dnnl::convolution_backward_data::primitive_desc bwd(
        dnnl::convolution_backward_data::desc(algo, src, weights_any, dst, strides, dilates, pad_l,
                                              pad_r),
        attr, engine(), fwd);
    scratch = bwd.scratchpad_desc().get_size();
    entry->args = {make_arg(DNNL_ARG_DIFF_DST, false, dst, bwd.diff_dst_desc(), &scratch),
                   make_arg(DNNL_ARG_WEIGHTS, false, weights, bwd.weights_desc(), &scratch),
                   make_arg(DNNL_ARG_DIFF_SRC, true, src, bwd.diff_src_desc(), &scratch)};
    entry->primitive = dnnl::convolution_backward_data(bwd);
  } else {
    const auto backward_desc = [&] {
      return extras.bias ? dnnl::convolution_backward_weights::desc(
                               algo, src, weights_any, bias, dst, strides, dilates, pad_l, pad_r)
                         : dnnl::convolution_backward_weights::desc(algo, src, weights_any, dst,
                                                                    strides, dilates, pad_l, pad_r);
    };
    const dnnl::convolution_backward_weights::primitive_desc bwd(backward_desc(), attr, engine(),
                                                                 fwd);
    scratch = bwd.scratchpad_desc().get_size();
    entry->args = {
        make_arg(DNNL_ARG_SRC, false, src, bwd.src_desc(), &scratch),
        make_arg(DNNL_ARG_DIFF_DST, false, dst, bwd.diff_dst_desc(), &scratch),
        make_arg(DNNL_ARG_DIFF_WEIGHTS, true, weights, bwd.diff_weights_desc(), &scratch)};
    if (extras.bias) {
      entry->args.push_back(
          make_arg(DNNL_ARG_DIFF_BIAS, true, bias, bwd.diff_bias_desc(), &scratch));
    }
    entry->primitive = dnnl::convolution_backward_weights(bwd);
  }
  entry->scratchpad_bytes = scratch;
  return entry;
}

// Every field of the geometry, the direction, the extras and the thread count (oneDNN splits
// the work for the threads it will have when the primitive is made).
using Key = std::array<std::int64_t, 22>;

Key key_of(Direction dir, const Conv2DGeometry& g, Extras extras) {
  return {static_cast<std::int64_t>(dir),
          extras.bias,
          extras.relu,
          g.n,
          g.h,
          g.w,
          g.c,
          g.kh,
          g.kw,
          g.filters,
          g.oh,
          g.ow,
          g.sh,
          g.sw,
          g.dh,
          g.dw,
          g.pad_top,
          g.pad_bottom,
          g.pad_left,
          g.pad_right,
          g.groups,
          omp_get_max_threads()};
}

// The primitives, most recently used first; an entry without a primitive records that oneDNN
// has none for its key, so that it is not asked again.
class Cache {
 public:
  static constexpr std::size_t kCapacity = 64;

  std::shared_ptr<const Entry> get(Direction dir, const Conv2DGeometry& g, Extras extras) {
    const Key key = key_of(dir, g, extras);
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      order_.splice(order_.begin(), order_, it->second);
      return it->second->second;
    }
    std::shared_ptr<const Entry> entry;
    try {
      entry = create(dir, g, extras);
    } catch (const dnnl::error&) {
      entry = nullptr;  // unimplemented for this geometry: the caller uses im2col
    }
    order_.emplace_front(key, entry);
    index_[key] = order_.begin();
    if (order_.size() > kCapacity) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    return entry;
  }

 private:
  std::mutex mu_;
  std::list<std::pair<Key, std::shared_ptr<const Entry>>> order_;
  std::map<Key, decltype(order_)::iterator> index_;
};

Cache& cache() {
  static auto* c = new Cache;
  return *c;
}

// The tensors of a call, in the order of Entry::args.
using Tensors = std::span<const Tensor* const>;

// Runs the primitive for `dir` on `tensors`; false where oneDNN has no primitive for the
// geometry.
bool run(Direction dir, const Conv2DGeometry& g, Extras extras, const Tensors& tensors) {
  const std::shared_ptr<const Entry> entry = cache().get(dir, g, extras);
  if (!entry) return false;
  std::size_t bytes = aligned(entry->scratchpad_bytes);
  for (const Arg& a : entry->args) {
    if (a.reorder) bytes += aligned(a.inner.get_size());
  }
  Tensor buffer;
  std::uint8_t* next = nullptr;
  if (bytes > 0) {
    buffer = Tensor::empty({static_cast<std::int64_t>(bytes)}, uint8, Device::cpu());
    next = buffer.data<std::uint8_t>();
  }
  std::unordered_map<int, memory> args;
  std::unordered_map<int, memory> reorder_args;
  if (entry->scratchpad_bytes > 0) {
    const memory scratchpad(memory::desc({static_cast<memory::dim>(entry->scratchpad_bytes)},
                                         memory::data_type::u8, Tag::a),
                            engine(), next);
    args.emplace(DNNL_ARG_SCRATCHPAD, scratchpad);
    reorder_args.emplace(DNNL_ARG_SCRATCHPAD, scratchpad);
    next += aligned(entry->scratchpad_bytes);
  }

  dnnl::stream& s = stream();
  std::vector<std::pair<const Arg*, memory>> outputs;
  for (std::size_t i = 0; i < entry->args.size(); ++i) {
    const Arg& a = entry->args[i];
    const memory user(a.user, engine(), tensors[i]->raw_data());
    if (!a.reorder) {
      args.emplace(a.id, user);
      continue;
    }
    const memory inner(a.inner, engine(), next);
    next += aligned(a.inner.get_size());
    if (a.output) {
      outputs.emplace_back(&a, user);
    } else {
      reorder_args[DNNL_ARG_FROM] = user;
      reorder_args[DNNL_ARG_TO] = inner;
      a.reorder->execute(s, reorder_args);
    }
    args.emplace(a.id, inner);
  }
  entry->primitive.execute(s, args);
  for (const auto& [a, user] : outputs) {
    reorder_args[DNNL_ARG_FROM] = args.at(a->id);
    reorder_args[DNNL_ARG_TO] = user;
    a->reorder->execute(s, reorder_args);
  }
  s.wait();
  return true;
}

// run(), with oneDNN's own errors while executing (out of memory, say) as neurona's.
bool checked(const char* op, Direction dir, const Conv2DGeometry& g, Extras extras,
             const Tensors& tensors) {
  try {
    return run(dir, g, extras, tensors);
  } catch (const dnnl::error& e) {
    throw Error(detail::str(op, " (oneDNN): ", e.what()));
  }
}

}  // namespace

bool onednn_conv2d(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                   FusedActivation activation, const Conv2DGeometry& g, Tensor& out) {
  const Extras extras{.bias = bias.defined(), .relu = activation == FusedActivation::relu};
  const std::array<const Tensor*, 4> with_bias{&x, &kernel, &bias, &out};
  const std::array<const Tensor*, 3> without{&x, &kernel, &out};
  return checked("conv2d", Direction::forward, g, extras,
                 extras.bias ? Tensors(with_bias) : Tensors(without));
}

bool onednn_conv2d_backward_input(const Tensor& grad_out, const Tensor& kernel,
                                  const Conv2DGeometry& g, Tensor& dx) {
  const std::array<const Tensor*, 3> tensors{&grad_out, &kernel, &dx};
  return checked("conv2d_backward_input", Direction::backward_input, g, {}, tensors);
}

bool onednn_conv2d_backward_filter(const Tensor& x, const Tensor& grad_out, const Conv2DGeometry& g,
                                   Tensor& dk, Tensor* dbias) {
  const std::array<const Tensor*, 4> with_bias{&x, &grad_out, &dk, dbias};
  const std::array<const Tensor*, 3> without{&x, &grad_out, &dk};
  return checked("conv2d_backward_filter", Direction::backward_filter, g,
                 {.bias = dbias != nullptr}, dbias ? Tensors(with_bias) : Tensors(without));
}

}  // namespace neurona::kernels::cpu
