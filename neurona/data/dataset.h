// A streaming input pipeline in the spirit of tf.data (and what Keras 3's fit takes from it):
// a Dataset describes where elements come from and what happens to them; iterating it runs that
// description, on background threads where asked (parallel map, prefetch).
#pragma once

#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "neurona/core/device.h"
#include "neurona/core/structure.h"
#include "neurona/core/tensor.h"

namespace neurona::data {

/// One element of a dataset: a tuple of tensors, such as (image, label). fit reads an element
/// as a batch of (x, y) or (x, y, sample_weight), with the model's inputs first (one tensor per
/// input), then one target per output, then the sample weights (one for all outputs, or one
/// per output).
using Element = std::vector<Tensor>;

/// Cardinalities as tf.data reports them.
inline constexpr std::int64_t kInfiniteCardinality = -1;
inline constexpr std::int64_t kUnknownCardinality = -2;

/// num_parallel_calls = kAutotune: one worker per core.
inline constexpr int kAutotune = -1;

struct MapOptions {
  /// Elements mapped at once, each on a worker thread of its own (1: on the calling thread).
  int num_parallel_calls = 1;
  /// Keep the input's order (the default, as tf.data); false hands out elements as they are
  /// done.
  bool deterministic = true;
  /// The seed of the function's random numbers. Every draw inside the function that has no
  /// op seed of its own (random ops, and the SeedGenerators of layers such as RandomFlip) comes
  /// from a stream of element `i` of iteration `k` of this map alone, so that the same seed
  /// gives the same elements whatever the number of workers. Without a seed one is drawn from
  /// the global seed (set_seed) when the map is made.
  std::optional<std::uint64_t> seed = std::nullopt;
};

struct ShuffleOptions {
  /// Without a seed one is drawn from the global seed (set_seed) when the shuffle is made.
  std::optional<std::uint64_t> seed = std::nullopt;
  /// A new order for every iteration (tf.data's default); false repeats the first.
  bool reshuffle_each_iteration = true;
};

struct BatchOptions {
  /// Drop a last batch with fewer than batch_size elements.
  bool drop_remainder = false;
};

/// How fit, evaluate and predict read the elements of a dataset made from parts
/// (Dataset::from_tensor_slices(x, y[, sample_weight])) or given a layout (with_structure): an
/// element's tensors are x's, then y's, then sample_weight's, in order, and each part is one
/// tensor, a list, or a dict by input or output name (Keras's ({"image": images, "meta": meta},
/// labels)). The transformations keep it; a map returns its elements in the same layout, or
/// with_structure gives the new one.
class ElementStructure {
 public:
  struct Part {
    Tensors::Form form = Tensors::Form::none;
    /// A dict's names, one per tensor, in order.
    std::vector<std::string> names;
    std::size_t count = 0;
  };
  /// A part's layout, for the constructor: one tensor, a list of `count`, a dict of the tensors
  /// named `names` in that order, or none (a y left out).
  static Part one();
  static Part list(std::size_t count);
  static Part dict(std::vector<std::string> names);
  static Part none();
  /// The layout of elements holding x's tensors, then y's, then sample_weight's, for a dataset
  /// whose source does not know it (Dataset::with_structure; tf.data's output_signature).
  /// ValueError for an x that is none, a sample_weight without y, an empty list or dict, or a
  /// dict that names a tensor twice.
  ///   using S = nr::data::ElementStructure;
  ///   S layout(S::dict({"image", "meta"}), S::one());   // ({"image": ..., "meta": ...}, y)
  explicit ElementStructure(Part x, Part y = none(), std::optional<Part> sample_weight = {});

  /// The structure of the parts (x, y and, when given, sample_weight), each flattened into
  /// `tensors` in order (one tensor, a list's, a dict's in the order given). ValueError as the
  /// constructor.
  static ElementStructure flatten(const std::vector<const Tensors*>& parts,
                                  std::vector<Tensor>& tensors, const std::string& caller);
  const std::vector<Part>& parts() const { return parts_; }
  /// The number of tensors in an element.
  std::size_t size() const;
  /// An element's tensors regrouped into the parts (x, y[, sample_weight]), each in the form it
  /// was given (Form::none for a y not given). ValueError naming the structure when the
  /// element has another number of tensors.
  std::vector<Tensors> group(const Element& e, const std::string& caller) const;
  /// For messages: "(x: {image, meta}, y: one tensor)".
  std::string str() const;

 private:
  ElementStructure() = default;
  /// ValueError, naming `caller`, for the layouts the constructor refuses.
  void check(const std::string& caller) const;
  std::vector<Part> parts_;
};

class Dataset;

namespace detail {
/// A source or a transformation: makes the iterators of one pass (dataset.cpp).
class Node;
class NodeIterator;
}  // namespace detail

/// One pass over a dataset, element by element.
///
///   auto it = dataset.iterator();
///   while (auto element = it.next()) use(*element);
class Iterator {
 public:
  explicit Iterator(std::unique_ptr<detail::NodeIterator> impl);
  Iterator(Iterator&&) noexcept;
  Iterator& operator=(Iterator&&) noexcept;
  ~Iterator();

  /// The next element; none at the end of the pass. Rethrows what a source, a map function or
  /// a background thread threw.
  std::optional<Element> next();

 private:
  std::unique_ptr<detail::NodeIterator> impl_;
};

/// A description of a stream of elements (an immutable value: every transformation returns a
/// new Dataset, and copies share the description). Elements are produced only when iterated.
///
///   auto train = nr::data::Dataset::from_tensor_slices({x_train, y_train})
///                    .shuffle(10000, {.seed = 1})
///                    .map(augment, {.num_parallel_calls = nr::data::kAutotune})
///                    .batch(128)
///                    .prefetch(2, nr::Device::cuda(0));
///   model.fit(train, {.epochs = 10});
///
/// The same seeds give the same elements in the same order on every run, whatever the number
/// of workers. Every pass (`iterator()`, `for (auto& e : dataset)`, each epoch of fit, each
/// repetition of repeat()) starts the description again: a shuffle draws a new order, a map
/// new random numbers, a cache reads what its first complete pass kept.
class Dataset {
 public:
  /// A generator: called once per pass; the function it returns gives the pass's elements, and
  /// none at the end.
  using GeneratorFactory = std::function<std::function<std::optional<Element>()>()>;
  using MapFunction = std::function<Element(const Element&)>;
  using Predicate = std::function<bool(const Element&)>;

  /// Element i holds row i of every tensor (tf.data's from_tensor_slices): the tensors must
  /// share their first dimension. ValueError / ShapeError otherwise.
  static Dataset from_tensor_slices(std::vector<Tensor> tensors);
  /// Keras's from_tensor_slices((x, y)) and ((x, y, sample_weight)) with parts that may be
  /// lists or dicts by input or output name: element i holds row i of every tensor, and fit,
  /// evaluate and predict match a dict's tensors to the model's inputs (outputs) by name, as
  /// fit(x, y) does (structure()). y may be empty ({}) for data that only predict reads.
  ///
  ///   auto ds = nr::data::Dataset::from_tensor_slices({{"image", images}, {"meta", meta}},
  ///                                                   labels).shuffle(1000).batch(64);
  ///   model.fit(ds, {.epochs = 3});
  static Dataset from_tensor_slices(const Tensors& x, const Tensors& y,
                                    const std::optional<Tensors>& sample_weight = std::nullopt);
  /// One element: `tensors` whole.
  static Dataset from_tensors(std::vector<Tensor> tensors);
  /// The int64 scalars start, start + step, ... below stop (above it for a negative step).
  static Dataset range(std::int64_t start, std::int64_t stop, std::int64_t step = 1);
  static Dataset range(std::int64_t stop) { return range(0, stop, 1); }
  /// Elements from C++ code (tf.data's from_generator). `cardinality` may be given when known.
  ///
  ///   auto counter = nr::data::Dataset::from_generator([] {
  ///     return [i = 0]() mutable -> std::optional<nr::data::Element> {
  ///       if (i == 3) return std::nullopt;
  ///       return nr::data::Element{nr::constant(double(i++))};
  ///     };
  ///   });
  static Dataset from_generator(GeneratorFactory factory,
                                std::int64_t cardinality = kUnknownCardinality);
  /// The rows of .npy files (one array per file, the tensors of from_tensor_slices), read when
  /// the dataset is made: from_npy({"x.npy", "y.npy"}). IoError as load_npy.
  static Dataset from_npy(const std::vector<std::string>& paths);
  /// The rows of IDX files (MNIST's format, gzip-compressed or not), read when the dataset is
  /// made: from_idx({"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}).
  static Dataset from_idx(const std::vector<std::string>& paths);

  /// `f` applied to every element. With num_parallel_calls > 1 the function runs on several
  /// threads at once: it must not change shared state without a lock of its own.
  Dataset map(MapFunction f, MapOptions options = {}) const;
  /// The elements for which `predicate` is true.
  Dataset filter(Predicate predicate) const;
  /// Elements drawn at random from a buffer of `buffer_size` that refills from the input
  /// (tf.data's shuffle): a buffer as large as the dataset shuffles it uniformly.
  Dataset shuffle(std::int64_t buffer_size, ShuffleOptions options = {}) const;
  /// `batch_size` consecutive elements stacked along a new first axis (the last batch smaller
  /// unless options.drop_remainder). ShapeError naming both shapes when two elements of a
  /// batch differ in shape, ValueError when they differ in size or dtype.
  Dataset batch(std::int64_t batch_size, BatchOptions options = {}) const;
  /// The dataset `count` times over; forever for a negative count.
  Dataset repeat(std::int64_t count = -1) const;
  /// The first `count` elements (all for a negative count).
  Dataset take(std::int64_t count) const;
  /// All but the first `count` elements (none for a negative count).
  Dataset skip(std::int64_t count) const;
  /// Every `num_shards`-th element from element `index` on: the part of worker `index` of
  /// `num_shards` (data-parallel training). ValueError unless 0 <= index < num_shards.
  Dataset shard(std::int64_t num_shards, std::int64_t index) const;
  /// Keeps the elements of the first complete pass, in memory (an empty filename) or in a file
  /// (written whole, then renamed into place; a later run with the same file reads it instead of
  /// the input). A pass that stops early keeps nothing. Cached elements are on the CPU.
  Dataset cache(const std::string& filename = "") const;
  /// Makes up to `buffer_size` elements ahead on a background thread while the consumer works
  /// on the current one, and copies them to `device` there when one is given, so that fit's
  /// next batch is already on the GPU when its step begins.
  Dataset prefetch(std::int64_t buffer_size, std::optional<Device> device = std::nullopt) const;

  /// The same elements, which fit, evaluate and predict read as `structure` lays them out
  /// (tf.data's output_signature): for a generator whose elements are ({"image": ..., "meta":
  /// ...}, label), or after a map that changes the layout. The transformations after it keep
  /// it; an element with another number of tensors is refused when fit reads it.
  ///   using S = nr::data::ElementStructure;
  ///   auto ds = nr::data::Dataset::from_generator(read_records)
  ///                 .with_structure(S(S::dict({"image", "meta"}), S::one()))
  ///                 .batch(32);
  ///   model.fit(ds, {.epochs = 3});   // matched to the inputs named "image" and "meta"
  Dataset with_structure(ElementStructure structure) const;

  /// The number of elements, kInfiniteCardinality or kUnknownCardinality (tf.data's).
  std::int64_t cardinality() const;
  /// Starts a pass.
  Iterator iterator() const;
  /// Every element of one pass, in order (ValueError for an infinite dataset).
  std::vector<Element> elements() const;
  /// What the dataset does, for messages: "from_tensor_slices -> shuffle(100) -> batch(32)".
  std::string describe() const;
  /// How fit reads the elements when the dataset was made from parts (from_tensor_slices(x,
  /// y)) or given a structure (with_structure); null for flat elements (the model's inputs first,
  /// then the targets, then the sample weights).
  const ElementStructure* structure() const { return structure_.get(); }

  /// Range-for over one pass: `for (const nr::data::Element& e : dataset)`.
  class RangeIterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Element;
    using difference_type = std::ptrdiff_t;
    using pointer = const Element*;
    using reference = const Element&;
    RangeIterator() = default;
    explicit RangeIterator(std::shared_ptr<Iterator> it);
    const Element& operator*() const { return *current_; }
    const Element* operator->() const { return &*current_; }
    RangeIterator& operator++();
    bool operator==(const RangeIterator& other) const { return done() == other.done(); }

   private:
    bool done() const { return !current_.has_value(); }
    std::shared_ptr<Iterator> it_;
    std::optional<Element> current_;
  };
  RangeIterator begin() const;
  RangeIterator end() const { return {}; }

 private:
  explicit Dataset(std::shared_ptr<const detail::Node> node,
                   std::shared_ptr<const ElementStructure> structure = nullptr)
      : node_(std::move(node)), structure_(std::move(structure)) {}
  /// A transformation of this dataset: the same element structure.
  Dataset then(std::shared_ptr<const detail::Node> node) const {
    return Dataset(std::move(node), structure_);
  }
  std::shared_ptr<const detail::Node> node_;
  std::shared_ptr<const ElementStructure> structure_;
};

}  // namespace neurona::data
