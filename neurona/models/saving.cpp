// Model::save_weights / load_weights / save and load_model: Keras 3's `.weights.h5` layout
// (keras/src/saving/saving_lib.py: _save_state walks the model, each layer's own variables
// go to <path>/vars/0, 1, ...; a Sequential's layers sit under layers/<snake_case class>[_N], a
// subclassed model's under their attribute names) and the `.keras` zip around it.
//
// Every write builds the file in memory and hands it to write_file_atomic (temporary file in
// the same folder, fsync, rename), so a failed or interrupted save leaves the old file. Every
// load reads and checks everything before it assigns a single weight, and reads no more than
// the model it loads into needs (LoadOptions): files are untrusted.
#include "neurona/models/saving.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <new>
#include <set>
#include <stdexcept>

#include "neurona/core/io.h"
#include "neurona/models/keras_config.h"
#include "neurona/models/saving_h5.h"
#include "neurona/models/sequential.h"

namespace neurona {

namespace {

using models::detail::ExpectedGroup;
using models::detail::WeightGroup;

// One layer (or model) and the path of its group in the file.
struct Node {
  std::string path;
  const layers::Layer* layer;
};

std::string join(const std::string& path, const std::string& child) {
  return path.empty() ? child : path + "/" + child;
}

// Keras's _name_key: attributes starting with "_" are visited last.
std::string name_key(const std::string& name) {
  return !name.empty() && name[0] == '_' ? "~" + name : name;
}

// _save_state's walk: the layer, then a Sequential's or functional model's layers under layers/,
// or the tracked layers under their attribute names in sorted order. A layer reached twice is
// saved once, at its first path, as Keras does.
void walk(const layers::Layer& layer, const std::string& path, std::vector<Node>& out,
          std::set<const layers::Layer*>& visited, std::vector<std::string>& containers) {
  if (!visited.insert(&layer).second) return;
  out.push_back({path, &layer});
  const auto* model = dynamic_cast<const Model*>(&layer);
  if (dynamic_cast<const Sequential*>(&layer) != nullptr || (model && model->is_functional())) {
    const std::string container = join(path, "layers");
    containers.push_back(container);
    std::map<std::string, int> used;
    // A functional model's layers include its InputLayers, as Keras's do.
    for (const auto& sub : model->layers()) {
      // Keras's _get_unique_name in _save_container_state.
      const std::string base = layers::to_snake_case(sub->class_name());
      const auto it = used.find(base);
      std::string name = base;
      if (it == used.end()) {
        used[base] = 0;
      } else {
        name = base + "_" + std::to_string(++it->second);
      }
      walk(*sub, join(container, name), out, visited, containers);
    }
    return;
  }
  std::vector<layers::Layer::TrackedLayer> tracked = layer.tracked_layers();
  std::stable_sort(tracked.begin(), tracked.end(), [](const auto& a, const auto& b) {
    return name_key(a.attribute) < name_key(b.attribute);
  });
  for (const auto& t : tracked) walk(*t.layer, join(path, t.attribute), out, visited, containers);
}

std::vector<Node> walk_model(const Model& model, std::vector<std::string>* containers = nullptr) {
  std::vector<Node> nodes;
  std::set<const layers::Layer*> visited;
  std::vector<std::string> c;
  walk(model, "", nodes, visited, c);
  if (containers != nullptr) *containers = std::move(c);
  return nodes;
}

std::string weight_name(const Variable& v) {
  const std::string& full = v.name();
  const auto slash = full.rfind('/');
  return slash == std::string::npos ? full : full.substr(slash + 1);
}

// What neurona reads from the files a user names here (for the errors of core/io.h's readers).
constexpr const char* kModels = "models";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Where Keras keeps a compiled model's optimizer state: optimizer/vars/0 (iterations),
// optimizer/vars/1 (learning_rate, unless a schedule is used), then the slot variables.
constexpr const char* kOptimizerPath = "optimizer";

// What loading weights into a model expects of the file, gathered before a byte of it is read
// (so that its size can be bounded by what the model needs), and the variables it fills.
struct WeightsPlan {
  std::vector<std::string> containers;
  std::vector<ExpectedGroup> expected;
  std::vector<std::vector<Variable>> targets;
  std::shared_ptr<optimizers::Optimizer> optimizer;
};

// A compiled model's optimizer may make its slot variables here (zeros, as its first step
// would), also when the load then fails.
WeightsPlan plan_weights(Model& model, const std::string& what) {
  WeightsPlan plan;
  const std::vector<Node> nodes = walk_model(model, &plan.containers);
  NEURONA_CHECK(model.built(), ValueError, what,
                ": you are loading weights into a model that has not yet been built. Build it "
                "first by calling it on some data or by giving it an Input.");
  for (const Node& n : nodes) {
    ExpectedGroup e{.path = n.path,
                    .layer = n.layer->describe(),
                    .layer_built = n.layer->built(),
                    .names = {},
                    .shapes = {},
                    .dtypes = {}};
    plan.targets.push_back(n.layer->own_weights());
    for (const Variable& v : plan.targets.back()) {
      e.names.push_back(weight_name(v));
      e.shapes.push_back(v.shape());
      e.dtypes.push_back(v.dtype());
    }
    plan.expected.push_back(std::move(e));
  }
  // A compiled model's optimizer state, as Keras loads it: only when the optimizer has as many
  // variables as the file (Keras's Optimizer.load_own_variables warns and skips otherwise, e.g.
  // for a file from another kind of optimizer). Unlike Keras, an optimizer that has not taken
  // a step yet first makes its slots for the model's trainable weights, so that training goes
  // on from the file's state instead of silently starting over.
  if (model.compiled()) {
    plan.optimizer = model.optimizer();
    plan.optimizer->build(model.trainable_weights());
    ExpectedGroup e{
        .path = kOptimizerPath,
        .layer = plan.optimizer->class_name() + " optimizer '" + plan.optimizer->name() + "'",
        .layer_built = true,
        .names = {},
        .shapes = {},
        .dtypes = {},
        .optional = true};
    plan.targets.push_back(plan.optimizer->variables());
    for (const Variable& v : plan.targets.back()) {
      e.names.push_back(weight_name(v));
      e.shapes.push_back(v.shape());
      e.dtypes.push_back(v.dtype());
    }
    plan.expected.push_back(std::move(e));
  }
  return plan;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return a > std::numeric_limits<std::uint64_t>::max() - b
             ? std::numeric_limits<std::uint64_t>::max()
             : a + b;
}
std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) {
  return b != 0 && a > std::numeric_limits<std::uint64_t>::max() / b
             ? std::numeric_limits<std::uint64_t>::max()
             : a * b;
}

// The most bytes a `.weights.h5` for the plan can reasonably take: `factor` times the bytes of
// the weights it expects, plus HDF5's own structures (Keras's files hold about 8 KiB, then
// 1.5 KiB per layer group and per weight: tests/reference/saving). `why` gets the reckoning.
std::uint64_t weights_file_bound(const WeightsPlan& plan, std::uint64_t factor, std::string& why) {
  constexpr std::uint64_t kFixed = std::uint64_t{1} << 20;
  constexpr std::uint64_t kPerObject = std::uint64_t{16} << 10;
  std::uint64_t weight_bytes = 0;
  std::uint64_t weights = 0;
  for (const ExpectedGroup& e : plan.expected) {
    for (std::size_t i = 0; i < e.shapes.size(); ++i) {
      weight_bytes = saturating_add(
          weight_bytes,
          saturating_mul(static_cast<std::uint64_t>(e.shapes[i].numel()), size_of(e.dtypes[i])));
    }
    weights += e.shapes.size();
  }
  const std::uint64_t groups = plan.expected.size();
  why = neurona::detail::str(factor, " x the ", weight_bytes, " bytes of the model's ", weights,
                             " weights", plan.optimizer != nullptr ? " and its optimizer's" : "",
                             ", plus ", kFixed, " and ", kPerObject, " per layer and per weight ",
                             "for HDF5's own structures");
  return saturating_add(saturating_add(saturating_mul(weight_bytes, factor), kFixed),
                        saturating_mul(saturating_add(groups, weights), kPerObject));
}

// Reads, validates and only then assigns: the model is unchanged when anything throws (but
// for the optimizer's slots that plan_weights made).
void load_planned_weights(const WeightsPlan& plan, std::string_view image,
                          const std::string& what) {
  std::vector<std::string> skipped;
  const std::vector<std::vector<Tensor>> values =
      models::detail::read_weights_image(image, plan.expected, plan.containers, what, &skipped);
  if (plan.optimizer != nullptr && !values.back().empty()) {
    const Tensor& iterations = values.back().front();
    NEURONA_CHECK(iterations.item<std::int64_t>() >= 0, ValueError, what,
                  ": the optimizer's "
                  "iteration count (",
                  kOptimizerPath, "/vars/0) is ", iterations.item<std::int64_t>(),
                  "; it cannot be negative");
  }
  for (const std::string& s : skipped) {
    std::cerr << "Warning: " << what << ": skipping the optimizer's state: " << s
              << " (saved from a different optimizer?). Training starts with fresh optimizer "
                 "state.\n";
  }
  // Copies to the weights' devices first (the one step that can still fail, out of memory),
  // then assigns.
  std::vector<std::vector<Tensor>> placed(values.size());
  for (std::size_t g = 0; g < values.size(); ++g) {
    for (std::size_t i = 0; i < values[g].size(); ++i) {
      placed[g].push_back(values[g][i].to(plan.targets[g][i].device()));
    }
  }
  for (std::size_t g = 0; g < placed.size(); ++g) {
    for (std::size_t i = 0; i < placed[g].size(); ++i) {
      Variable target = plan.targets[g][i];  // a handle to the model's variable
      target.assign(placed[g][i]);
    }
  }
}

// Model::load_weights takes a file the model's own config did not describe: it may hold the
// state of another optimizer than the model's (or of one when the model has none), Keras's
// largest being four slots per weight (Adam with amsgrad and EMA), and hold it in float64.
constexpr std::uint64_t kLoadWeightsFactor = 2 * (1 + 4);
// load_model reads the weights its own config.json describes; twice leaves room for a wider
// dtype or a few variables neurona does not make.
constexpr std::uint64_t kLoadModelFactor = 2;

// Runs a loader, turning running out of memory all the same (std::bad_alloc from a string or
// vector, or a length past what one can hold) into neurona's own error, named by `what`.
template <typename F>
auto out_of_memory_as_error(const std::string& what, F&& load) {
  try {
    return load();
  } catch (const std::bad_alloc& e) {
    throw OutOfMemoryError(what + ": out of memory while loading (" + e.what() + ")");
  } catch (const std::length_error& e) {
    throw OutOfMemoryError(what + ": out of memory while loading (" + e.what() + ")");
  }
}

// ---------------------------------------------------------------- zip

// Entries larger than this are only read when their compression ratio is plausible: a
// decompression bomb declares gigabytes and stores almost nothing (Keras's _reject_zip_bomb).
constexpr zip_uint64_t kZipBombFloor = zip_uint64_t{1} << 30;
constexpr zip_uint64_t kZipMaxRatio = 1000;
// Keras's metadata.json holds about 60 bytes.
constexpr zip_uint64_t kMaxMetadataBytes = zip_uint64_t{64} << 10;

std::string zip_error_text(zip_error_t* error) {
  const char* s = zip_error_strerror(error);
  return s != nullptr ? s : "unknown zip error";
}

constexpr std::string_view kZipMagic("PK\x03\x04", 4);
constexpr const char* kNotKeras =
    ": not a .keras file (a .keras file is a zip archive, which starts with PK)";

// Selects ZipReader's constructor that opens a file.
struct OpenFile {};

// A `.keras` archive, from memory or from a file (read entry by entry, never whole).
class ZipReader {
 public:
  ZipReader(std::string_view bytes, std::string what) : what_(std::move(what)) {
    NEURONA_CHECK(bytes.size() >= 4 && bytes.substr(0, 4) == kZipMagic, IoError, what_, kNotKeras);
    zip_error_t error;
    zip_error_init(&error);
    zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
    if (src == nullptr) {
      const std::string msg = zip_error_text(&error);
      zip_error_fini(&error);
      throw IoError(what_ + ": cannot read the zip archive: " + msg);
    }
    archive_ = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &error);
    if (archive_ == nullptr) {
      zip_source_free(src);
      const std::string msg = zip_error_text(&error);
      zip_error_fini(&error);
      throw IoError(what_ + ": not a readable zip archive (truncated or corrupt): " + msg);
    }
    zip_error_fini(&error);
  }

  // The archive in the regular file at `path`; libzip reads its directory and then only the
  // entries asked for, so the file's size costs no memory.
  ZipReader(OpenFile, const std::string& path, std::string what) : what_(std::move(what)) {
    const int fd = open_regular_file(path, what_, kModels);
    char magic[4];
    if (::pread(fd, magic, sizeof magic, 0) != 4 || std::string_view(magic, 4) != kZipMagic) {
      ::close(fd);
      throw IoError(what_ + kNotKeras);
    }
    int code = 0;
    archive_ = zip_fdopen(fd, ZIP_CHECKCONS, &code);  // owns fd from here on
    if (archive_ == nullptr) {
      ::close(fd);
      zip_error_t error;
      zip_error_init_with_code(&error, code);
      const std::string msg = zip_error_text(&error);
      zip_error_fini(&error);
      throw IoError(what_ + ": not a readable zip archive (truncated or corrupt): " + msg);
    }
  }
  ~ZipReader() {
    if (archive_ != nullptr) zip_discard(archive_);
  }
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  bool has(const char* name) const { return zip_name_locate(archive_, name, 0) >= 0; }

  // The entry `name`, of at most `max_bytes` (`limit` says where that comes from). Its
  // declared size is checked first but never allocated on trust: the entry is read in pieces
  // into a buffer that grows with the bytes that arrive, stopping at the first byte past the
  // declared size.
  std::string read(const char* name, zip_uint64_t max_bytes, const std::string& limit) const {
    const zip_int64_t index = zip_name_locate(archive_, name, 0);
    NEURONA_CHECK(index >= 0, IoError, what_, ": the archive has no ", name,
                  "; a .keras file holds config.json, metadata.json and model.weights.h5");
    zip_stat_t st;
    zip_stat_init(&st);
    NEURONA_CHECK(zip_stat_index(archive_, static_cast<zip_uint64_t>(index), 0, &st) == 0 &&
                      (st.valid & ZIP_STAT_SIZE) && (st.valid & ZIP_STAT_COMP_SIZE),
                  IoError, what_, ": cannot read the size of ", name, ": ", zip_strerror(archive_));
    NEURONA_CHECK(st.size <= max_bytes, IoError, what_, ": ", name, " is ", st.size,
                  " bytes (as the archive declares), more than the ", max_bytes, " bytes allowed (",
                  limit, ")");
    NEURONA_CHECK(st.size <= kZipBombFloor || st.size / kZipMaxRatio <= st.comp_size, IoError,
                  what_, ": ", name, " claims ", st.size, " bytes but stores only ", st.comp_size,
                  "; refusing a likely zip bomb");
    zip_file_t* file = zip_fopen_index(archive_, static_cast<zip_uint64_t>(index), 0);
    NEURONA_CHECK(file != nullptr, IoError, what_, ": cannot open ", name, ": ",
                  zip_strerror(archive_));
    struct Close {
      zip_file_t* f;
      ~Close() { zip_fclose(f); }
    } close_file{file};
    std::string out;
    constexpr zip_uint64_t kPiece = zip_uint64_t{1} << 20;
    for (;;) {
      const std::size_t old = out.size();
      // At most one byte past the declared size (the CRC is checked at the end of the data).
      const zip_uint64_t left = st.size - old;
      const zip_uint64_t want = left >= kPiece ? kPiece : left + 1;
      out.resize(old + want);
      const zip_int64_t n = zip_fread(file, out.data() + old, want);
      NEURONA_CHECK(n >= 0, IoError, what_, ": cannot read ", name,
                    " (the archive is truncated or corrupt): ", zip_file_strerror(file));
      out.resize(old + static_cast<std::size_t>(n));
      NEURONA_CHECK(out.size() <= st.size, IoError, what_, ": ", name, " holds more than the ",
                    st.size, " bytes the archive declares for it (the archive is corrupt)");
      if (n == 0) break;
    }
    NEURONA_CHECK(out.size() == st.size, IoError, what_, ": ", name, " ends after ", out.size(),
                  " of the ", st.size,
                  " bytes the archive declares for it (the archive is truncated or corrupt)");
    return out;
  }

 private:
  std::string what_;
  zip_t* archive_ = nullptr;
};

// A zip archive in memory with the entries stored (uncompressed, as Keras writes them).
std::string write_zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* buffer = zip_source_buffer_create(nullptr, 0, 0, &error);
  NEURONA_CHECK(buffer != nullptr, IoError,
                "save: cannot create a zip archive in memory: ", zip_error_text(&error));
  zip_source_keep(buffer);
  struct Free {
    zip_source_t* s;
    ~Free() { zip_source_free(s); }
  } free_buffer{buffer};
  zip_t* archive = zip_open_from_source(buffer, ZIP_TRUNCATE, &error);
  if (archive == nullptr) {
    const std::string msg = zip_error_text(&error);
    zip_error_fini(&error);
    throw IoError("save: cannot create a zip archive in memory: " + msg);
  }
  zip_error_fini(&error);
  for (const auto& [name, data] : entries) {
    zip_source_t* s = zip_source_buffer(archive, data.data(), data.size(), 0);
    const zip_int64_t index =
        s == nullptr ? -1 : zip_file_add(archive, name.c_str(), s, ZIP_FL_ENC_UTF_8);
    if (index < 0 ||
        zip_set_file_compression(archive, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0) != 0) {
      if (s != nullptr && index < 0) zip_source_free(s);
      const std::string msg = zip_strerror(archive);
      zip_discard(archive);
      throw IoError("save: cannot add " + name + " to the archive: " + msg);
    }
  }
  if (zip_close(archive) != 0) {
    const std::string msg = zip_strerror(archive);
    zip_discard(archive);
    throw IoError("save: cannot write the zip archive: " + msg);
  }
  zip_stat_t st;
  zip_stat_init(&st);
  NEURONA_CHECK(zip_source_stat(buffer, &st) == 0 && (st.valid & ZIP_STAT_SIZE), IoError,
                "save: cannot size the zip archive");
  std::string out(static_cast<std::size_t>(st.size), '\0');
  NEURONA_CHECK(zip_source_open(buffer) == 0, IoError, "save: cannot read the zip archive back");
  const zip_int64_t n = zip_source_read(buffer, out.data(), st.size);
  zip_source_close(buffer);
  NEURONA_CHECK(n >= 0 && static_cast<zip_uint64_t>(n) == st.size, IoError,
                "save: cannot read the zip archive back");
  return out;
}

constexpr const char* kConfig = "config.json";
constexpr const char* kMetadata = "metadata.json";
constexpr const char* kWeights = "model.weights.h5";

}  // namespace

void Model::save_weights(const std::string& path) const {
  NEURONA_CHECK(ends_with(path, ".weights.h5"), ValueError,
                "save_weights: the filename must end in `.weights.h5`. Received: filepath=", path);
  write_file_atomic(path, models::save_weights_to_bytes(*this), "Model.save_weights");
}

void Model::load_weights(const std::string& path) {
  const std::string what = "load_weights('" + path + "')";
  const bool keras = ends_with(path, ".keras");
  NEURONA_CHECK(keras || ends_with(path, ".weights.h5"), ValueError,
                "load_weights: the filename must end in `.weights.h5` or `.keras`. Received: "
                "filepath=",
                path);
  out_of_memory_as_error(what, [&] {
    std::string why;
    std::uint64_t bound = 0;
    WeightsPlan plan;
    // The file is read only once the model is known to take weights (and what they need).
    auto plan_and_bound = [&] {
      plan = plan_weights(*this, what);
      bound = weights_file_bound(plan, kLoadWeightsFactor, why);
      why += "; models::load_weights_from_bytes reads any size";
    };
    if (keras) {
      const ZipReader zip(OpenFile{}, path, what);
      plan_and_bound();
      load_planned_weights(plan, zip.read(kWeights, bound, why),
                           "load_weights('" + path + "': " + kWeights + ")");
    } else {
      check_regular_file(path, what, kModels);
      plan_and_bound();
      load_planned_weights(plan, read_regular_file(path, what, kModels, bound, why), what);
    }
  });
}

void Model::save(const std::string& path) const {
  NEURONA_CHECK(ends_with(path, ".keras"), ValueError,
                "save: the filename must end in `.keras`. Received: filepath=", path);
  const std::string config = models::detail::model_config_json(*this);
  const std::string weights = models::save_weights_to_bytes(*this);
  write_file_atomic(
      path,
      write_zip(
          {{kMetadata, models::detail::metadata_json()}, {kConfig, config}, {kWeights, weights}}),
      "Model.save");
}

namespace models {

std::string save_weights_to_bytes(const Model& model) {
  NEURONA_CHECK(model.built(), ValueError, model.describe(),
                ": you are saving a model that has not yet been built. Build it first by "
                "calling it on some data or by giving it an Input.");
  std::vector<WeightGroup> groups;
  for (const Node& n : walk_model(model)) {
    WeightGroup g{.path = n.path, .name = n.layer->name(), .vars = {}};
    for (const Variable& v : n.layer->own_weights()) g.vars.push_back(v.read_value());
    groups.push_back(std::move(g));
  }
  // Keras saves a compiled model's optimizer state too (also before its first step: iterations
  // and learning_rate only), so that a loaded model goes on training where it stopped.
  if (model.compiled()) {
    const std::shared_ptr<optimizers::Optimizer> optimizer = model.optimizer();
    // An optimizer that has not taken a step yet makes its slots first (zeros, as its first
    // step would), so that the file holds the full state a loader (neurona, or Keras's
    // compile_from_config, which builds the optimizer) expects, not just iterations and
    // learning_rate, which it would skip with a warning.
    optimizer->build(model.trainable_weights());
    WeightGroup g{.path = kOptimizerPath, .name = optimizer->name(), .vars = {}};
    for (const Variable& v : optimizer->variables()) g.vars.push_back(v.read_value());
    groups.push_back(std::move(g));
  }
  return detail::write_weights_image(groups);
}

void load_weights_from_bytes(Model& model, std::string_view bytes) {
  out_of_memory_as_error("load_weights", [&] {
    load_planned_weights(plan_weights(model, "load_weights"), bytes, "load_weights");
  });
}

namespace {

// load_model after the archive is open: metadata.json, then config.json (bounded), then the
// model built from it under the parameter budget, then model.weights.h5, bounded by what that
// model needs.
std::shared_ptr<Model> load_archive(const ZipReader& zip, const LoadOptions& options) {
  detail::check_metadata_json(
      zip.read(kMetadata, kMaxMetadataBytes, "Keras writes about 60 bytes of metadata.json"));
  std::shared_ptr<Model> model;
  {
    const std::string config =
        zip.read(kConfig, options.max_config_bytes, "LoadOptions::max_config_bytes");
    const layers::WeightBudget budget(options.max_params, "LoadOptions::max_params");
    model = detail::model_from_config_json(config);
  }
  NEURONA_CHECK(zip.has(kWeights), IoError,
                "load_model: the archive has no model.weights.h5 (weights in .npz are not "
                "supported)");
  // A model saved unbuilt has no weights to load (Keras cannot save one either).
  if (model->built()) {
    const std::string what = "load_model (model.weights.h5)";
    const WeightsPlan plan = plan_weights(*model, what);
    std::string why = "LoadOptions::max_weights_bytes";
    std::uint64_t bound = options.max_weights_bytes;
    if (bound == 0) {
      bound = weights_file_bound(plan, kLoadModelFactor, why);
      why = "what the model needs: " + why + "; LoadOptions::max_weights_bytes sets another limit";
    }
    load_planned_weights(plan, zip.read(kWeights, bound, why), what);
  }
  return model;
}

}  // namespace

std::shared_ptr<Model> load_model_from_bytes(std::string_view bytes, LoadOptions options) {
  return out_of_memory_as_error("load_model", [&] {
    const ZipReader zip(bytes, "load_model");
    return load_archive(zip, options);
  });
}

std::shared_ptr<Model> load_model(const std::string& path, LoadOptions options) {
  NEURONA_CHECK(ends_with(path, ".keras"), ValueError,
                "load_model: the filename must end in `.keras`. Received: filepath=", path);
  const std::string where = " [" + path + "]";
  try {
    return out_of_memory_as_error("load_model", [&] {
      const ZipReader zip(OpenFile{}, path, "load_model");
      return load_archive(zip, options);
    });
  } catch (const IoError& e) {
    throw IoError(std::string(e.what()) + where);
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()) + where);
  } catch (const OutOfMemoryError& e) {
    throw OutOfMemoryError(std::string(e.what()) + where);
  }
}

}  // namespace models

}  // namespace neurona
