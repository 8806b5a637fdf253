// The Dataset's nodes (one per source and transformation) and the iterators they make.
#include "neurona/data/dataset.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "neurona/core/error.h"
#include "neurona/core/io.h"
#include "neurona/core/philox.h"
#include "neurona/core/random.h"
#include "neurona/data/idx.h"
#include "neurona/data/npy.h"

namespace neurona::data {

namespace detail {

class NodeIterator {
 public:
  virtual ~NodeIterator() = default;
  virtual std::optional<Element> next() = 0;
};

class Node {
 public:
  virtual ~Node() = default;
  /// The iterator of a new pass.
  virtual std::unique_ptr<NodeIterator> iterate() const = 0;
  virtual std::int64_t cardinality() const = 0;
  /// "batch(32)": this step alone; describe() joins the chain.
  virtual std::string step() const = 0;
  /// The node this one transforms (null for a source).
  virtual const Node* input() const { return nullptr; }
};

}  // namespace detail

using detail::Node;
using detail::NodeIterator;

namespace {

using neurona::detail::str;

// SplitMix64's finaliser: the seeds of a pass and of an element, well apart from each other.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// A seed given, or one drawn from the global seed now (so that set_seed makes it repeatable).
std::uint64_t seed_or_global(std::optional<std::uint64_t> seed) {
  if (seed) return *seed;
  const RandomKey key = neurona::detail::next_random_key(std::nullopt);
  return mix(key.seed ^ mix(key.call));
}

std::string shapes_of(const Element& e) {
  std::string out = "(";
  for (std::size_t i = 0; i < e.size(); ++i) {
    out += str(i ? ", " : "", e[i].defined() ? e[i].shape().str() : std::string("undefined"));
  }
  return out + ")";
}

// A transformation: holds its input node.
class UnaryNode : public Node {
 public:
  explicit UnaryNode(std::shared_ptr<const Node> in) : in_(std::move(in)) {}
  const Node* input() const override { return in_.get(); }

 protected:
  std::shared_ptr<const Node> in_;
};

// ---- Sources ----------------------------------------------------------------------------------

class SlicesNode final : public Node {
 public:
  /// `labels` name the tensors in messages as the caller gave them (default: tensors[i]).
  explicit SlicesNode(std::vector<Tensor> tensors, std::vector<std::string> labels = {})
      : tensors_(std::move(tensors)) {
    NEURONA_CHECK(!tensors_.empty(), ValueError,
                  "Dataset.from_tensor_slices: argument `tensors` is empty");
    const auto label = [&labels](std::size_t i) {
      return i < labels.size() ? labels[i] : str("tensors[", i, "]");
    };
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      NEURONA_CHECK(tensors_[i].defined() && tensors_[i].rank() >= 1, ValueError,
                    "Dataset.from_tensor_slices: ", label(i),
                    " must have a first dimension to slice, got ",
                    tensors_[i].defined() ? tensors_[i].shape().str() : std::string("undefined"));
      NEURONA_CHECK(tensors_[i].shape()[0] == tensors_[0].shape()[0], ShapeError,
                    "Dataset.from_tensor_slices: every tensor needs the same first dimension; ",
                    label(0), " has shape ", tensors_[0].shape().str(), ", ", label(i), " ",
                    tensors_[i].shape().str());
    }
  }
  std::int64_t cardinality() const override { return tensors_[0].shape()[0]; }
  std::string step() const override { return str("from_tensor_slices(", cardinality(), ")"); }

  std::unique_ptr<NodeIterator> iterate() const override {
    struct It final : NodeIterator {
      const SlicesNode* node;
      std::int64_t i = 0;
      std::optional<Element> next() override {
        if (i >= node->cardinality()) return std::nullopt;
        Element e;
        for (const Tensor& t : node->tensors_) {
          std::vector<std::int64_t> dims(t.shape().dims().begin() + 1, t.shape().dims().end());
          e.push_back(t.slice(i, i + 1).reshape(Shape(dims)));
        }
        ++i;
        return e;
      }
    };
    auto it = std::make_unique<It>();
    it->node = this;
    return it;
  }

 private:
  std::vector<Tensor> tensors_;
};

class TensorsNode final : public Node {
 public:
  explicit TensorsNode(Element e) : element_(std::move(e)) {}
  std::int64_t cardinality() const override { return 1; }
  std::string step() const override { return "from_tensors"; }
  std::unique_ptr<NodeIterator> iterate() const override {
    struct It final : NodeIterator {
      std::optional<Element> element;
      std::optional<Element> next() override { return std::exchange(element, std::nullopt); }
    };
    auto it = std::make_unique<It>();
    it->element = element_;
    return it;
  }

 private:
  Element element_;
};

class RangeNode final : public Node {
 public:
  RangeNode(std::int64_t start, std::int64_t stop, std::int64_t step)
      : start_(start), stop_(stop), step_(step) {
    NEURONA_CHECK(step != 0, ValueError, "Dataset.range: argument `step` must not be 0");
    // Unsigned: stop - start and the step's magnitude overflow int64 at the ends of its range,
    // and their differences modulo 2^64 are exact where the range is not empty.
    const bool up = step > 0;
    const auto u = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
    const bool empty = up ? stop <= start : start <= stop;
    const std::uint64_t span = empty ? 0 : up ? u(stop) - u(start) : u(start) - u(stop);
    const std::uint64_t by = up ? u(step) : std::uint64_t{0} - u(step);
    const std::uint64_t n = span / by + (span % by != 0);
    NEURONA_CHECK(n <= u(std::numeric_limits<std::int64_t>::max()), ValueError, "Dataset.range(",
                  start, ", ", stop, ", ", step, "): more elements than int64 counts");
    count_ = static_cast<std::int64_t>(n);
  }
  std::int64_t cardinality() const override { return count_; }
  std::string step() const override { return str("range(", start_, ", ", stop_, ", ", step_, ")"); }
  std::unique_ptr<NodeIterator> iterate() const override {
    struct It final : NodeIterator {
      std::int64_t value, step, left;
      std::optional<Element> next() override {
        if (left <= 0) return std::nullopt;
        --left;
        const std::int64_t v = value;
        if (left > 0) value += step;  // not past the last: it could overflow there
        Tensor t = Tensor::empty(Shape{}, DType::int64, Device::cpu());
        *t.data<std::int64_t>() = v;
        return Element{std::move(t)};
      }
    };
    auto it = std::make_unique<It>();
    it->value = start_;
    it->step = step_;
    it->left = cardinality();
    return it;
  }

 private:
  std::int64_t start_, stop_, step_;
  std::int64_t count_ = 0;
};

class GeneratorNode final : public Node {
 public:
  GeneratorNode(Dataset::GeneratorFactory factory, std::int64_t cardinality)
      : factory_(std::move(factory)), cardinality_(cardinality) {
    NEURONA_CHECK(factory_ != nullptr, ValueError,
                  "Dataset.from_generator: argument `factory` is empty");
    NEURONA_CHECK(cardinality >= 0 || cardinality == kInfiniteCardinality ||
                      cardinality == kUnknownCardinality,
                  ValueError, "Dataset.from_generator: argument `cardinality` must be >= 0, ",
                  "kInfiniteCardinality or kUnknownCardinality, got ", cardinality);
  }
  std::int64_t cardinality() const override { return cardinality_; }
  std::string step() const override { return "from_generator"; }
  std::unique_ptr<NodeIterator> iterate() const override {
    struct It final : NodeIterator {
      std::function<std::optional<Element>()> gen;
      std::optional<Element> next() override { return gen(); }
    };
    auto it = std::make_unique<It>();
    it->gen = factory_();
    NEURONA_CHECK(it->gen != nullptr, ValueError,
                  "Dataset.from_generator: the factory returned an empty function");
    return it;
  }

 private:
  Dataset::GeneratorFactory factory_;
  std::int64_t cardinality_;
};

// ---- map ----------------------------------------------------------------------------------------

class MapNode final : public UnaryNode {
 public:
  MapNode(std::shared_ptr<const Node> in, Dataset::MapFunction f, MapOptions o)
      : UnaryNode(std::move(in)), f_(std::move(f)), options_(o), seed_(seed_or_global(o.seed)) {
    NEURONA_CHECK(f_ != nullptr, ValueError, "Dataset.map: argument `f` is empty");
    NEURONA_CHECK(o.num_parallel_calls >= 1 || o.num_parallel_calls == kAutotune, ValueError,
                  "Dataset.map: argument `num_parallel_calls` must be >= 1 or kAutotune, got ",
                  o.num_parallel_calls);
    if (options_.num_parallel_calls == kAutotune) {
      options_.num_parallel_calls =
          static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    }
  }
  std::int64_t cardinality() const override { return in_->cardinality(); }
  std::string step() const override {
    return options_.num_parallel_calls > 1 ? str("map(workers=", options_.num_parallel_calls, ")")
                                           : std::string("map");
  }
  std::unique_ptr<NodeIterator> iterate() const override;

  /// f on element `index` of pass `pass`, its random numbers from their own stream.
  Element apply(const Element& e, std::uint64_t pass, std::uint64_t index) const {
    const ScopedRandomStream stream(mix(mix(seed_ ^ mix(pass)) + index));
    return f_(e);
  }

 private:
  Dataset::MapFunction f_;
  MapOptions options_;
  std::uint64_t seed_;
  mutable std::atomic<std::uint64_t> passes_{0};
};

class SequentialMapIterator final : public NodeIterator {
 public:
  SequentialMapIterator(const MapNode* node, std::unique_ptr<NodeIterator> in, std::uint64_t pass)
      : node_(node), in_(std::move(in)), pass_(pass) {}
  std::optional<Element> next() override {
    std::optional<Element> e = in_->next();
    if (!e) return std::nullopt;
    return node_->apply(*e, pass_, index_++);
  }

 private:
  const MapNode* node_;
  std::unique_ptr<NodeIterator> in_;
  std::uint64_t pass_;
  std::uint64_t index_ = 0;
};

// Workers take the input's elements in turn (one at a time, numbering them), map them at the
// same time, and leave the results by number; next() hands them out in the input's order (or as
// they come when not deterministic). At most 2 * workers elements are in flight, so a slow
// consumer holds the workers back instead of filling memory.
class ParallelMapIterator final : public NodeIterator {
 public:
  ParallelMapIterator(const MapNode* node, std::unique_ptr<NodeIterator> in, std::uint64_t pass,
                      int workers, bool deterministic)
      : node_(node),
        in_(std::move(in)),
        pass_(pass),
        window_(static_cast<std::uint64_t>(2 * workers)),
        deterministic_(deterministic) {
    for (int w = 0; w < workers; ++w) threads_.emplace_back([this] { work(); });
  }
  ~ParallelMapIterator() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  std::optional<Element> next() override {
    std::unique_lock lock(mu_);
    for (;;) {
      auto ready = deterministic_ ? done_.find(next_out_) : done_.begin();
      if (ready != done_.end()) {
        Result r = std::move(ready->second);
        done_.erase(ready);
        ++next_out_;
        ++handed_out_;
        lock.unlock();
        cv_.notify_all();
        if (r.error) std::rethrow_exception(r.error);
        return std::move(r.element);
      }
      if (input_done_ && handed_out_ == taken_) return std::nullopt;
      cv_.wait(lock);
    }
  }

 private:
  struct Result {
    Element element;
    std::exception_ptr error;
  };

  void work() {
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || input_done_ || taken_ < handed_out_ + window_; });
        if (stopping_ || input_done_) return;
      }
      // One worker reads the input at a time (sources are not thread-safe, and the elements'
      // numbers must follow the input's order), under a lock of its own: next() keeps handing
      // out finished elements while a worker waits on a slow input.
      std::unique_lock input_lock(input_mu_);
      {
        std::lock_guard lock(mu_);
        if (stopping_ || input_done_) return;
      }
      std::optional<Element> e;
      std::exception_ptr error;
      try {
        e = in_->next();
      } catch (...) {
        error = std::current_exception();
      }
      std::uint64_t index = 0;
      {
        std::lock_guard lock(mu_);
        if (!e && !error) {
          input_done_ = true;
        } else {
          index = taken_++;
          if (error) input_done_ = true;  // nothing follows an input that failed
        }
      }
      input_lock.unlock();
      if (!e && !error) {
        cv_.notify_all();
        return;
      }
      Result r;
      r.error = error;
      if (!error) {
        try {
          r.element = node_->apply(*e, pass_, index);
        } catch (...) {
          r.error = std::current_exception();
        }
      }
      {
        std::lock_guard lock(mu_);
        done_.emplace(index, std::move(r));
      }
      cv_.notify_all();
    }
  }

  const MapNode* node_;
  std::unique_ptr<NodeIterator> in_;
  std::uint64_t pass_;
  std::uint64_t window_;
  bool deterministic_;
  std::mutex mu_;        // the counters, done_ and the flags
  std::mutex input_mu_;  // in_, read by one worker at a time
  std::condition_variable cv_;
  std::map<std::uint64_t, Result> done_;
  std::uint64_t taken_ = 0, next_out_ = 0, handed_out_ = 0;
  bool input_done_ = false, stopping_ = false;
  std::vector<std::thread> threads_;
};

std::unique_ptr<NodeIterator> MapNode::iterate() const {
  const std::uint64_t pass = passes_++;
  if (options_.num_parallel_calls <= 1) {
    return std::make_unique<SequentialMapIterator>(this, in_->iterate(), pass);
  }
  return std::make_unique<ParallelMapIterator>(this, in_->iterate(), pass,
                                               options_.num_parallel_calls, options_.deterministic);
}

// ---- filter, shuffle, batch -------------------------------------------------------------------

class FilterNode final : public UnaryNode {
 public:
  FilterNode(std::shared_ptr<const Node> in, Dataset::Predicate p)
      : UnaryNode(std::move(in)), p_(std::move(p)) {
    NEURONA_CHECK(p_ != nullptr, ValueError, "Dataset.filter: argument `predicate` is empty");
  }
  std::int64_t cardinality() const override {
    return in_->cardinality() == kInfiniteCardinality ? kInfiniteCardinality : kUnknownCardinality;
  }
  std::string step() const override { return "filter"; }
  std::unique_ptr<NodeIterator> iterate() const override {
    struct It final : NodeIterator {
      const FilterNode* node;
      std::unique_ptr<NodeIterator> in;
      std::optional<Element> next() override {
        while (std::optional<Element> e = in->next()) {
          if (node->p_(*e)) return e;
        }
        return std::nullopt;
      }
    };
    auto it = std::make_unique<It>();
    it->node = this;
    it->in = in_->iterate();
    return it;
  }

 private:
  Dataset::Predicate p_;
};

class ShuffleNode final : public UnaryNode {
 public:
  ShuffleNode(std::shared_ptr<const Node> in, std::int64_t buffer, ShuffleOptions o)
      : UnaryNode(std::move(in)), buffer_(buffer), options_(o), seed_(seed_or_global(o.seed)) {
    NEURONA_CHECK(buffer > 0, ValueError,
                  "Dataset.shuffle: argument `buffer_size` must be > 0, got ", buffer);
  }
  std::int64_t cardinality() const override { return in_->cardinality(); }
  std::string step() const override { return str("shuffle(", buffer_, ")"); }
  std::unique_ptr<NodeIterator> iterate() const override {
    // Philox words, not a std:: distribution, so that the order is the same on every platform.
    struct It final : NodeIterator {
      std::unique_ptr<NodeIterator> in;
      std::size_t capacity = 0;
      std::vector<Element> buffer;
      bool input_done = false;
      RandomKey key;
      std::uint64_t draws = 0;
      std::optional<Element> next() override {
        while (!input_done && buffer.size() < capacity) {
          std::optional<Element> e = in->next();
          if (!e) {
            input_done = true;
            break;
          }
          buffer.push_back(std::move(*e));
        }
        if (buffer.empty()) return std::nullopt;
        const Philox4x32 w = philox_words(key, draws++, 0);
        const std::uint64_t r = (std::uint64_t{w.v[0]} << 32) | w.v[1];
        // A 64-bit draw modulo the buffer's size: biased by at most size / 2^64.
        const auto j = static_cast<std::size_t>(r % buffer.size());
        std::swap(buffer[j], buffer.back());
        Element out = std::move(buffer.back());
        buffer.pop_back();
        return out;
      }
    };
    const std::uint64_t pass = options_.reshuffle_each_iteration ? passes_++ : 0;
    auto it = std::make_unique<It>();
    it->in = in_->iterate();
    it->capacity = static_cast<std::size_t>(buffer_);
    it->key = RandomKey{mix(seed_ ^ mix(pass)), 0};
    return it;
  }

 private:
  std::int64_t buffer_;
  ShuffleOptions options_;
  std::uint64_t seed_;
  mutable std::atomic<std::uint64_t> passes_{0};
};

/// `parts` stacked along a new first axis, on the first part's device; ShapeError / ValueError
/// naming the batch otherwise. One copy per part into its row of the result.
Tensor stack_rows(const std::vector<Tensor>& parts, std::size_t component) {
  const Tensor& first = parts.front();
  std::vector<std::int64_t> dims{static_cast<std::int64_t>(parts.size())};
  dims.insert(dims.end(), first.shape().dims().begin(), first.shape().dims().end());
  Tensor out = Tensor::empty(Shape(dims), first.dtype(), first.device());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = parts[i];
    NEURONA_CHECK(t.shape() == first.shape(), ShapeError, "Dataset.batch: component ", component,
                  " of the elements of a batch must have one shape; element 0 has ",
                  first.shape().str(), ", element ", i, " has ", t.shape().str(),
                  " (resize or pad them in a map first)");
    NEURONA_CHECK(t.dtype() == first.dtype(), ValueError, "Dataset.batch: component ", component,
                  " of element 0 is ", first.dtype(), ", of element ", i, " ", t.dtype());
    const auto row = static_cast<std::int64_t>(i);
    out.slice(row, row + 1).reshape(first.shape()).copy_from(t);
  }
  return out;
}

class BatchNode final : public UnaryNode {
 public:
  BatchNode(std::shared_ptr<const Node> in, std::int64_t size, BatchOptions o)
      : UnaryNode(std::move(in)), size_(size), options_(o) {
    NEURONA_CHECK(size > 0, ValueError, "Dataset.batch: argument `batch_size` must be > 0, got ",
                  size);
  }
  std::int64_t cardinality() const override {
    const std::int64_t n = in_->cardinality();
    if (n < 0) return n;
    return options_.drop_remainder ? n / size_ : n / size_ + (n % size_ != 0);
  }
  std::string step() const override {
    return str("batch(", size_, options_.drop_remainder ? ", drop_remainder" : "", ")");
  }
  std::unique_ptr<NodeIterator> iterate() const override {
    struct It final : NodeIterator {
      const BatchNode* node;
      std::unique_ptr<NodeIterator> in;
      std::optional<Element> next() override {
        std::vector<Element> items;
        while (static_cast<std::int64_t>(items.size()) < node->size_) {
          std::optional<Element> e = in->next();
          if (!e) break;
          NEURONA_CHECK(items.empty() || e->size() == items.front().size(), ValueError,
                        "Dataset.batch: the elements of a batch must have as many components; "
                        "element 0 has ",
                        items.front().size(), " ", shapes_of(items.front()), ", element ",
                        items.size(), " has ", e->size(), " ", shapes_of(*e));
          items.push_back(std::move(*e));
        }
        if (items.empty()) return std::nullopt;
        if (node->options_.drop_remainder &&
            static_cast<std::int64_t>(items.size()) < node->size_) {
          return std::nullopt;
        }
        Element out;
        std::vector<Tensor> parts(items.size());
        for (std::size_t c = 0; c < items.front().size(); ++c) {
          for (std::size_t i = 0; i < items.size(); ++i) parts[i] = items[i][c];
          out.push_back(stack_rows(parts, c));
        }
        return out;
      }
    };
    auto it = std::make_unique<It>();
    it->node = this;
    it->in = in_->iterate();
    return it;
  }

 private:
  std::int64_t size_;
  BatchOptions options_;
};

// ---- repeat, take, skip, shard ----------------------------------------------------------------

class RepeatNode final : public UnaryNode {
 public:
  RepeatNode(std::shared_ptr<const Node> in, std::int64_t count)
      : UnaryNode(std::move(in)), count_(count) {}
  std::int64_t cardinality() const override {
    const std::int64_t n = in_->cardinality();
    if (n == 0 || count_ == 0) return 0;
    if (count_ < 0 || n == kInfiniteCardinality) return kInfiniteCardinality;
    if (n == kUnknownCardinality) return kUnknownCardinality;
    std::int64_t total = 0;
    // More elements than int64 counts: as good as infinite.
    return __builtin_mul_overflow(n, count_, &total) ? kInfiniteCardinality : total;
  }
  std::string step() const override { return count_ < 0 ? "repeat" : str("repeat(", count_, ")"); }
  std::unique_ptr<NodeIterator> iterate() const override {
    struct It final : NodeIterator {
      const RepeatNode* node;
      std::unique_ptr<NodeIterator> in;
      std::int64_t passes_done = 0;
      bool pass_had_elements = false;
      std::optional<Element> next() override {
        for (;;) {
          if (node->count_ >= 0 && passes_done >= node->count_) return std::nullopt;
          if (!in) {
            in = node->in_->iterate();
            pass_had_elements = false;
          }
          if (std::optional<Element> e = in->next()) {
            pass_had_elements = true;
            return e;
          }
          in.reset();
          ++passes_done;
          // An empty input repeated forever would spin: it ends, as in tf.data.
          if (!pass_had_elements) return std::nullopt;
        }
      }
    };
    auto it = std::make_unique<It>();
    it->node = this;
    return it;
  }

 private:
  std::int64_t count_;
};

class TakeNode final : public UnaryNode {
 public:
  TakeNode(std::shared_ptr<const Node> in, std::int64_t count)
      : UnaryNode(std::move(in)), count_(count) {}
  std::int64_t cardinality() const override {
    const std::int64_t n = in_->cardinality();
    if (count_ < 0) return n;
    if (n == kInfiniteCardinality) return count_;
    if (n == kUnknownCardinality) return kUnknownCardinality;
    return std::min(n, count_);
  }
  std::string step() const override { return str("take(", count_, ")"); }
  std::unique_ptr<NodeIterator> iterate() const override {
    struct It final : NodeIterator {
      std::unique_ptr<NodeIterator> in;
      std::int64_t left;
      std::optional<Element> next() override {
        if (left == 0) return std::nullopt;
        std::optional<Element> e = in->next();
        if (e && left > 0) --left;
        return e;
      }
    };
    auto it = std::make_unique<It>();
    it->in = in_->iterate();
    it->left = count_;
    return it;
  }

 private:
  std::int64_t count_;
};

// skip(n) and shard(k, i) are one walk: drop `first`, then keep one element in every `every`.
class StrideNode final : public UnaryNode {
 public:
  StrideNode(std::shared_ptr<const Node> in, std::int64_t first, std::int64_t every,
             std::string step)
      : UnaryNode(std::move(in)), first_(first), every_(every), step_(std::move(step)) {}
  std::int64_t cardinality() const override {
    const std::int64_t n = in_->cardinality();
    if (n < 0) return n;
    if (first_ < 0) return 0;
    return n <= first_ ? 0 : (n - first_ + every_ - 1) / every_;
  }
  std::string step() const override { return step_; }
  std::unique_ptr<NodeIterator> iterate() const override {
    struct It final : NodeIterator {
      const StrideNode* node;
      std::unique_ptr<NodeIterator> in;
      bool started = false;
      std::optional<Element> next() override {
        if (node->first_ < 0) return std::nullopt;
        const std::int64_t drop = started ? node->every_ - 1 : node->first_;
        started = true;
        for (std::int64_t i = 0; i < drop; ++i) {
          if (!in->next()) return std::nullopt;
        }
        return in->next();
      }
    };
    auto it = std::make_unique<It>();
    it->node = this;
    it->in = in_->iterate();
    return it;
  }

 private:
  std::int64_t first_, every_;
  std::string step_;
};

// ---- cache ------------------------------------------------------------------------------------

// The cache file: "NRCACHE1", then per element its component count and, per tensor, the dtype
// code, the rank, the dimensions and the bytes; all integers int64, host byte order (a cache
// belongs to the machine that wrote it).
constexpr char kCacheMagic[8] = {'N', 'R', 'C', 'A', 'C', 'H', 'E', '1'};

void write_i64(std::ostream& os, std::int64_t v) {
  os.write(reinterpret_cast<const char*>(&v), sizeof v);
}

std::int64_t read_i64(std::istream& is, const std::string& path) {
  std::int64_t v = 0;
  is.read(reinterpret_cast<char*>(&v), sizeof v);
  NEURONA_CHECK(is.gcount() == static_cast<std::streamsize>(sizeof v), IoError,
                "Dataset.cache: ", path, " is truncated");
  return v;
}

void write_element(std::ostream& os, const Element& e) {
  write_i64(os, static_cast<std::int64_t>(e.size()));
  for (const Tensor& t0 : e) {
    const Tensor t = t0.to(Device::cpu());
    write_i64(os, static_cast<std::int64_t>(t.dtype()));
    write_i64(os, t.rank());
    for (std::int64_t d : t.shape().dims()) write_i64(os, d);
    os.write(static_cast<const char*>(t.raw_data()),
             static_cast<std::streamsize>(static_cast<std::int64_t>(t.nbytes())));
  }
}

std::optional<Element> read_element(std::istream& is, const std::string& path) {
  if (is.peek() == std::char_traits<char>::eof()) return std::nullopt;
  const std::int64_t n = read_i64(is, path);
  NEURONA_CHECK(n >= 0 && n < 4096, IoError, "Dataset.cache: ", path, " is corrupt (an element of ",
                n, " components)");
  Element e;
  for (std::int64_t c = 0; c < n; ++c) {
    const std::int64_t code = read_i64(is, path);
    const std::int64_t rank = read_i64(is, path);
    NEURONA_CHECK(rank >= 0 && rank <= 16, IoError, "Dataset.cache: ", path, " is corrupt (rank ",
                  rank, ")");
    std::vector<std::int64_t> dims(static_cast<std::size_t>(rank));
    for (auto& d : dims) {
      d = read_i64(is, path);
      NEURONA_CHECK(d >= 0 && d < (std::int64_t{1} << 40), IoError, "Dataset.cache: ", path,
                    " is corrupt (dimension ", d, ")");
    }
    NEURONA_CHECK(code >= 0 && code <= static_cast<std::int64_t>(DType::float16), IoError,
                  "Dataset.cache: ", path, " is corrupt (dtype code ", code, ")");
    const auto dtype = static_cast<DType>(code);
    Tensor t = Tensor::empty(Shape(dims), dtype, Device::cpu());
    const auto bytes = static_cast<std::streamsize>(static_cast<std::int64_t>(t.nbytes()));
    is.read(static_cast<char*>(t.raw_data()), bytes);
    NEURONA_CHECK(is.gcount() == bytes, IoError, "Dataset.cache: ", path, " is truncated");
    e.push_back(std::move(t));
  }
  return e;
}

class CacheNode final : public UnaryNode {
 public:
  CacheNode(std::shared_ptr<const Node> in, std::string filename)
      : UnaryNode(std::move(in)), filename_(std::move(filename)) {
    NEURONA_CHECK(UnaryNode::in_->cardinality() != kInfiniteCardinality, ValueError,
                  "Dataset.cache: the input is infinite (", UnaryNode::in_->step(),
                  "); cache before repeat()");
  }
  std::int64_t cardinality() const override { return in_->cardinality(); }
  std::string step() const override {
    return filename_.empty() ? std::string("cache") : str("cache(", filename_, ")");
  }
  std::unique_ptr<NodeIterator> iterate() const override;

  /// The first complete pass (memory cache).
  std::shared_ptr<const std::vector<Element>> kept() const {
    std::lock_guard lock(mu_);
    return kept_;
  }
  void keep(std::shared_ptr<const std::vector<Element>> elements) const {
    std::lock_guard lock(mu_);
    if (!kept_) kept_ = std::move(elements);
  }

 private:
  std::string filename_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<const std::vector<Element>> kept_;
};

std::unique_ptr<NodeIterator> CacheNode::iterate() const {
  if (filename_.empty()) {
    if (auto kept = this->kept()) {
      struct It final : NodeIterator {
        std::shared_ptr<const std::vector<Element>> elements;
        std::size_t i = 0;
        std::optional<Element> next() override {
          if (i >= elements->size()) return std::nullopt;
          return (*elements)[i++];
        }
      };
      auto it = std::make_unique<It>();
      it->elements = std::move(kept);
      return it;
    }
    struct Filling final : NodeIterator {
      const CacheNode* node;
      std::unique_ptr<NodeIterator> in;
      std::vector<Element> seen;
      std::optional<Element> next() override {
        std::optional<Element> e = in->next();
        if (!e) {
          node->keep(std::make_shared<const std::vector<Element>>(std::move(seen)));
          return std::nullopt;
        }
        Element host;
        for (const Tensor& t : *e) host.push_back(t.to(Device::cpu()));
        seen.push_back(std::move(host));
        return e;
      }
    };
    auto it = std::make_unique<Filling>();
    it->node = this;
    it->in = in_->iterate();
    return it;
  }
  if (std::filesystem::exists(filename_)) {
    struct Reading final : NodeIterator {
      std::string path;
      std::ifstream is;
      std::optional<Element> next() override { return read_element(is, path); }
    };
    auto it = std::make_unique<Reading>();
    it->path = filename_;
    it->is.open(filename_, std::ios::binary);
    NEURONA_CHECK(it->is.good(), IoError, "Dataset.cache: cannot read ", filename_);
    char magic[sizeof kCacheMagic] = {};
    it->is.read(magic, sizeof magic);
    NEURONA_CHECK(std::memcmp(magic, kCacheMagic, sizeof magic) == 0, IoError,
                  "Dataset.cache: ", filename_,
                  " is not a neurona dataset cache; delete it or choose another name");
    return it;
  }
  // Written next to the final name and renamed into place at the end of the pass: a pass cut
  // short (or a crash) leaves no cache that looks complete.
  struct Writing final : NodeIterator {
    std::unique_ptr<NodeIterator> in;
    std::string path, tmp;
    std::ofstream os;
    ~Writing() override {
      if (os.is_open()) {
        os.close();
        std::error_code ec;
        std::filesystem::remove(tmp, ec);
      }
    }
    std::optional<Element> next() override {
      std::optional<Element> e = in->next();
      if (!e) {
        os.close();
        NEURONA_CHECK(!os.fail(), IoError, "Dataset.cache: cannot write ", tmp);
        std::error_code ec;
        std::filesystem::rename(tmp, path, ec);
        NEURONA_CHECK(!ec, IoError, "Dataset.cache: cannot rename ", tmp, " to ", path, ": ",
                      ec.message());
        return std::nullopt;
      }
      write_element(os, *e);
      NEURONA_CHECK(os.good(), IoError, "Dataset.cache: cannot write ", tmp);
      return e;
    }
  };
  auto it = std::make_unique<Writing>();
  it->in = in_->iterate();
  it->path = filename_;
  it->tmp = neurona::temporary_path_for(filename_).string();
  it->os.open(it->tmp, std::ios::binary | std::ios::trunc);
  NEURONA_CHECK(it->os.good(), IoError, "Dataset.cache: cannot create ", it->tmp);
  it->os.write(kCacheMagic, sizeof kCacheMagic);
  return it;
}

// ---- prefetch ---------------------------------------------------------------------------------

// A producer thread fills a queue of up to `capacity` elements (copied to the device there, if
// one is given); next() takes from it. An error in the producer reaches the consumer in order.
class PrefetchIterator final : public NodeIterator {
 public:
  PrefetchIterator(std::unique_ptr<NodeIterator> in, std::size_t capacity,
                   std::optional<Device> device)
      : in_(std::move(in)), capacity_(capacity), device_(device) {
    thread_ = std::thread([this] { produce(); });
  }
  ~PrefetchIterator() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  std::optional<Element> next() override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty() || done_; });
    if (queue_.empty()) {
      if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
      return std::nullopt;
    }
    Element e = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    cv_.notify_all();
    return e;
  }

 private:
  void produce() {
    try {
      for (;;) {
        {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [&] { return stopping_ || queue_.size() < capacity_; });
          if (stopping_) break;
        }
        std::optional<Element> e = in_->next();
        if (!e) break;
        if (device_) {
          for (Tensor& t : *e) t = t.to(*device_);
        }
        {
          std::lock_guard lock(mu_);
          queue_.push_back(std::move(*e));
        }
        cv_.notify_all();
      }
    } catch (...) {
      std::lock_guard lock(mu_);
      error_ = std::current_exception();
    }
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
  }

  std::unique_ptr<NodeIterator> in_;
  std::size_t capacity_;
  std::optional<Device> device_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Element> queue_;
  std::exception_ptr error_;
  bool done_ = false, stopping_ = false;
  std::thread thread_;
};

class PrefetchNode final : public UnaryNode {
 public:
  PrefetchNode(std::shared_ptr<const Node> in, std::int64_t size, std::optional<Device> device)
      : UnaryNode(std::move(in)), size_(size), device_(device) {
    NEURONA_CHECK(size > 0, ValueError,
                  "Dataset.prefetch: argument `buffer_size` must be > 0, got ", size);
  }
  std::int64_t cardinality() const override { return in_->cardinality(); }
  std::string step() const override {
    return device_ ? str("prefetch(", size_, ", ", *device_, ")") : str("prefetch(", size_, ")");
  }
  std::unique_ptr<NodeIterator> iterate() const override {
    return std::make_unique<PrefetchIterator>(in_->iterate(), static_cast<std::size_t>(size_),
                                              device_);
  }

 private:
  std::int64_t size_;
  std::optional<Device> device_;
};

}  // namespace

// ---- Dataset ----------------------------------------------------------------------------------

namespace {
constexpr const char* kPartNames[] = {"x", "y", "sample_weight"};
}  // namespace

ElementStructure::Part ElementStructure::one() {
  return {Tensors::Form::one, {}, 1};
}

ElementStructure::Part ElementStructure::list(std::size_t count) {
  return {Tensors::Form::list, {}, count};
}

ElementStructure::Part ElementStructure::dict(std::vector<std::string> names) {
  const std::size_t count = names.size();
  return {Tensors::Form::dict, std::move(names), count};
}

ElementStructure::Part ElementStructure::none() {
  return {};
}

ElementStructure::ElementStructure(Part x, Part y, std::optional<Part> sample_weight)
    : parts_{std::move(x), std::move(y)} {
  if (sample_weight) parts_.push_back(std::move(*sample_weight));
  check("ElementStructure");
}

void ElementStructure::check(const std::string& caller) const {
  for (std::size_t p = 0; p < parts_.size(); ++p) {
    const Part& part = parts_[p];
    // A Part made by hand must say what the factories would: a count of its form, names for a
    // dict only.
    const bool consistent = part.form == Tensors::Form::dict
                                ? part.count == part.names.size()
                                : part.names.empty() &&
                                      (part.form != Tensors::Form::none || part.count == 0) &&
                                      (part.form != Tensors::Form::one || part.count == 1);
    NEURONA_CHECK(consistent, ValueError, caller, ": argument `", kPartNames[p],
                  "` has a count of ", part.count, " and ", part.names.size(),
                  " names, which its form does not have (make it with ElementStructure::one(), "
                  "list(n), dict(names) or none())");
    switch (part.form) {
      case Tensors::Form::none:
        NEURONA_CHECK(p == 1 && parts_.size() == 2, ValueError, caller, ": argument `",
                      kPartNames[p], "` is empty",
                      p == 0 ? "" : " (only y may be left out, and then no sample_weight)");
        break;
      case Tensors::Form::one:
        break;
      case Tensors::Form::list:
        NEURONA_CHECK(part.count > 0, ValueError, caller, ": argument `", kPartNames[p],
                      "` is an empty list");
        break;
      case Tensors::Form::dict:
        NEURONA_CHECK(part.count > 0, ValueError, caller, ": argument `", kPartNames[p],
                      "` is an empty dict");
        for (std::size_t i = 0; i < part.names.size(); ++i) {
          for (std::size_t j = 0; j < i; ++j) {
            NEURONA_CHECK(part.names[j] != part.names[i], ValueError, caller, ": argument `",
                          kPartNames[p], "` names '", part.names[i], "' twice");
          }
        }
        break;
    }
  }
}

ElementStructure ElementStructure::flatten(const std::vector<const Tensors*>& parts,
                                           std::vector<Tensor>& tensors,
                                           const std::string& caller) {
  ElementStructure s;
  for (const Tensors* part : parts) {
    Part out;
    out.form = part->form();
    switch (part->form()) {
      case Tensors::Form::none:
        break;
      case Tensors::Form::one:
        tensors.push_back(part->one());
        out.count = 1;
        break;
      case Tensors::Form::list:
        tensors.insert(tensors.end(), part->list().begin(), part->list().end());
        out.count = part->list().size();
        break;
      case Tensors::Form::dict:
        for (const auto& [name, t] : part->dict()) {
          out.names.push_back(name);
          tensors.push_back(t);
        }
        out.count = part->dict().size();
        break;
    }
    s.parts_.push_back(std::move(out));
  }
  s.check(caller);
  return s;
}

std::size_t ElementStructure::size() const {
  std::size_t n = 0;
  for (const Part& p : parts_) n += p.count;
  return n;
}

std::string ElementStructure::str() const {
  std::string out = "(";
  for (std::size_t p = 0; p < parts_.size(); ++p) {
    const Part& part = parts_[p];
    out += neurona::detail::str(p ? ", " : "", kPartNames[p], ": ");
    switch (part.form) {
      case Tensors::Form::none:
        out += "none";
        break;
      case Tensors::Form::one:
        out += "one tensor";
        break;
      case Tensors::Form::list:
        out += neurona::detail::str("a list of ", part.count);
        break;
      case Tensors::Form::dict:
        out += "{";
        for (std::size_t i = 0; i < part.names.size(); ++i) {
          out += neurona::detail::str(i ? ", " : "", part.names[i]);
        }
        out += "}";
        break;
    }
  }
  return out + ")";
}

std::vector<Tensors> ElementStructure::group(const Element& e, const std::string& caller) const {
  NEURONA_CHECK(
      e.size() == size(), ValueError, caller, ": a dataset element has ", e.size(),
      " tensors where the dataset's structure ", str(), " has ", size(),
      " (the layout that from_tensor_slices or with_structure gave it; a map must keep it)");
  std::vector<Tensors> out;
  std::size_t at = 0;
  for (const Part& part : parts_) {
    const auto first = e.begin() + static_cast<std::ptrdiff_t>(at);
    switch (part.form) {
      case Tensors::Form::none:
        out.emplace_back();
        break;
      case Tensors::Form::one:
        out.emplace_back(e[at]);
        break;
      case Tensors::Form::list:
        out.emplace_back(
            std::vector<Tensor>(first, first + static_cast<std::ptrdiff_t>(part.count)));
        break;
      case Tensors::Form::dict: {
        Tensors::Named named;
        for (std::size_t i = 0; i < part.count; ++i) named.emplace_back(part.names[i], e[at + i]);
        out.emplace_back(std::move(named));
        break;
      }
    }
    at += part.count;
  }
  return out;
}

Iterator::Iterator(std::unique_ptr<detail::NodeIterator> impl) : impl_(std::move(impl)) {}
Iterator::Iterator(Iterator&&) noexcept = default;
Iterator& Iterator::operator=(Iterator&&) noexcept = default;
Iterator::~Iterator() = default;

std::optional<Element> Iterator::next() {
  if (!impl_) return std::nullopt;
  std::optional<Element> e = impl_->next();
  if (!e) impl_.reset();  // stops background threads at once
  return e;
}

Dataset Dataset::from_tensor_slices(std::vector<Tensor> tensors) {
  return Dataset(std::make_shared<SlicesNode>(std::move(tensors)));
}

Dataset Dataset::from_tensor_slices(const Tensors& x, const Tensors& y,
                                    const std::optional<Tensors>& sample_weight) {
  std::vector<const Tensors*> parts{&x, &y};
  if (sample_weight) parts.push_back(&*sample_weight);
  std::vector<Tensor> tensors;
  auto structure = std::make_shared<const ElementStructure>(
      ElementStructure::flatten(parts, tensors, "Dataset.from_tensor_slices"));
  // Each tensor named in messages as the caller gave it (x['image'], y[1], sample_weight).
  std::vector<std::string> labels;
  for (std::size_t p = 0; p < structure->parts().size(); ++p) {
    const ElementStructure::Part& part = structure->parts()[p];
    for (std::size_t i = 0; i < part.count; ++i) {
      labels.push_back(part.form == Tensors::Form::dict
                           ? str(kPartNames[p], "['", part.names[i], "']")
                       : part.form == Tensors::Form::list ? str(kPartNames[p], "[", i, "]")
                                                          : std::string(kPartNames[p]));
    }
  }
  return Dataset(std::make_shared<SlicesNode>(std::move(tensors), std::move(labels)),
                 std::move(structure));
}

Dataset Dataset::from_tensors(std::vector<Tensor> tensors) {
  NEURONA_CHECK(!tensors.empty(), ValueError, "Dataset.from_tensors: argument `tensors` is empty");
  return Dataset(std::make_shared<TensorsNode>(std::move(tensors)));
}

Dataset Dataset::range(std::int64_t start, std::int64_t stop, std::int64_t step) {
  return Dataset(std::make_shared<RangeNode>(start, stop, step));
}

Dataset Dataset::with_structure(ElementStructure structure) const {
  return Dataset(node_, std::make_shared<const ElementStructure>(std::move(structure)));
}

Dataset Dataset::from_generator(GeneratorFactory factory, std::int64_t cardinality) {
  return Dataset(std::make_shared<GeneratorNode>(std::move(factory), cardinality));
}

Dataset Dataset::from_npy(const std::vector<std::string>& paths) {
  NEURONA_CHECK(!paths.empty(), ValueError, "Dataset.from_npy: argument `paths` is empty");
  std::vector<Tensor> arrays;
  for (const auto& p : paths) arrays.push_back(load_npy(p));
  return from_tensor_slices(std::move(arrays));
}

Dataset Dataset::from_idx(const std::vector<std::string>& paths) {
  NEURONA_CHECK(!paths.empty(), ValueError, "Dataset.from_idx: argument `paths` is empty");
  std::vector<Tensor> arrays;
  for (const auto& p : paths) arrays.push_back(read_idx(p));
  return from_tensor_slices(std::move(arrays));
}

Dataset Dataset::map(MapFunction f, MapOptions options) const {
  return then(std::make_shared<MapNode>(node_, std::move(f), options));
}

Dataset Dataset::filter(Predicate predicate) const {
  return then(std::make_shared<FilterNode>(node_, std::move(predicate)));
}

Dataset Dataset::shuffle(std::int64_t buffer_size, ShuffleOptions options) const {
  return then(std::make_shared<ShuffleNode>(node_, buffer_size, options));
}

Dataset Dataset::batch(std::int64_t batch_size, BatchOptions options) const {
  return then(std::make_shared<BatchNode>(node_, batch_size, options));
}

Dataset Dataset::repeat(std::int64_t count) const {
  return then(std::make_shared<RepeatNode>(node_, count));
}

Dataset Dataset::take(std::int64_t count) const {
  return then(std::make_shared<TakeNode>(node_, count));
}

Dataset Dataset::skip(std::int64_t count) const {
  return then(std::make_shared<StrideNode>(node_, count, 1, str("skip(", count, ")")));
}

Dataset Dataset::shard(std::int64_t num_shards, std::int64_t index) const {
  NEURONA_CHECK(num_shards > 0, ValueError,
                "Dataset.shard: argument `num_shards` must be > 0, got ", num_shards);
  NEURONA_CHECK(index >= 0 && index < num_shards, ValueError,
                "Dataset.shard: argument `index` must be in [0, num_shards = ", num_shards,
                "), got ", index);
  return then(std::make_shared<StrideNode>(node_, index, num_shards,
                                           str("shard(", num_shards, ", ", index, ")")));
}

Dataset Dataset::cache(const std::string& filename) const {
  return then(std::make_shared<CacheNode>(node_, filename));
}

Dataset Dataset::prefetch(std::int64_t buffer_size, std::optional<Device> device) const {
  return then(std::make_shared<PrefetchNode>(node_, buffer_size, device));
}

std::int64_t Dataset::cardinality() const {
  return node_->cardinality();
}

Iterator Dataset::iterator() const {
  return Iterator(node_->iterate());
}

std::vector<Element> Dataset::elements() const {
  NEURONA_CHECK(cardinality() != kInfiniteCardinality, ValueError,
                "Dataset.elements: the dataset is infinite (", describe(), ")");
  std::vector<Element> out;
  Iterator it = iterator();
  while (std::optional<Element> e = it.next()) out.push_back(std::move(*e));
  return out;
}

std::string Dataset::describe() const {
  std::vector<std::string> steps;
  for (const Node* n = node_.get(); n != nullptr; n = n->input()) steps.push_back(n->step());
  std::string out;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    out += str(out.empty() ? "" : " -> ", *it);
  }
  return out;
}

Dataset::RangeIterator::RangeIterator(std::shared_ptr<Iterator> it) : it_(std::move(it)) {
  current_ = it_->next();
}

Dataset::RangeIterator& Dataset::RangeIterator::operator++() {
  current_ = it_->next();
  return *this;
}

Dataset::RangeIterator Dataset::begin() const {
  return RangeIterator(std::make_shared<Iterator>(iterator()));
}

}  // namespace neurona::data
