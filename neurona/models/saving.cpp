// Model::save_weights / load_weights / save and load_model: Keras 3's `.weights.h5` layout
// (keras/src/saving/saving_lib.py: _save_state walks the model, each layer's own variables
// go to <path>/vars/0, 1, ...; a Sequential's layers sit under layers/<snake_case class>[_N], a
// subclassed model's under their attribute names) and the `.keras` zip around it.
//
// Every write builds the file in memory and hands it to write_file_atomic (temporary file in
// the same folder, fsync, rename), so a failed or interrupted save leaves the old file. Every
// load reads and checks everything before it assigns a single weight.
#include "neurona/models/saving.h"

#include <zip.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <set>

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

// _save_state's walk: the layer, then a Sequential's layers under layers/, or the tracked
// layers under their attribute names in sorted order. A layer reached twice is saved once,
// at its first path, as Keras does.
void walk(const layers::Layer& layer, const std::string& path, std::vector<Node>& out,
          std::set<const layers::Layer*>& visited, std::vector<std::string>& containers) {
  if (!visited.insert(&layer).second) return;
  out.push_back({path, &layer});
  if (dynamic_cast<const Sequential*>(&layer) != nullptr) {
    const std::string container = join(path, "layers");
    containers.push_back(container);
    std::map<std::string, int> used;
    for (const auto& sub : layer.sublayers()) {
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

std::string read_file(const std::string& path, const char* op) {
  std::ifstream in(path, std::ios::binary);
  NEURONA_CHECK(in.good(), IoError, op, ": cannot open '", path, "' for reading");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  NEURONA_CHECK(!in.bad(), IoError, op, ": cannot read '", path, "'");
  return bytes;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Where Keras keeps a compiled model's optimizer state: optimizer/vars/0 (iterations),
// optimizer/vars/1 (learning_rate, unless a schedule is used), then the slot variables.
constexpr const char* kOptimizerPath = "optimizer";

// Reads, validates and only then assigns: the model is unchanged when anything throws (a
// compiled model's optimizer may have made its slot variables, zero, as its first step would).
void load_weights_image(Model& model, std::string_view image, const std::string& what) {
  std::vector<std::string> containers;
  const std::vector<Node> nodes = walk_model(model, &containers);
  NEURONA_CHECK(model.built(), ValueError, what,
                ": you are loading weights into a model that has not yet been built. Build it "
                "first by calling it on some data or by giving it an Input.");
  std::vector<ExpectedGroup> expected;
  std::vector<std::vector<Variable>> targets;
  for (const Node& n : nodes) {
    ExpectedGroup e{.path = n.path,
                    .layer = n.layer->describe(),
                    .layer_built = n.layer->built(),
                    .names = {},
                    .shapes = {},
                    .dtypes = {}};
    targets.push_back(n.layer->own_weights());
    for (const Variable& v : targets.back()) {
      e.names.push_back(weight_name(v));
      e.shapes.push_back(v.shape());
      e.dtypes.push_back(v.dtype());
    }
    expected.push_back(std::move(e));
  }
  // A compiled model's optimizer state, as Keras loads it: only when the optimizer has as many
  // variables as the file (Keras's Optimizer.load_own_variables warns and skips otherwise, e.g.
  // for a file from another kind of optimizer). Unlike Keras, an optimizer that has not taken
  // a step yet first makes its slots for the model's trainable weights, so that training goes
  // on from the file's state instead of silently starting over.
  std::shared_ptr<optimizers::Optimizer> optimizer;
  if (model.compiled()) {
    optimizer = model.optimizer();
    optimizer->build(model.trainable_weights());
    ExpectedGroup e{.path = kOptimizerPath,
                    .layer = optimizer->class_name() + " optimizer '" + optimizer->name() + "'",
                    .layer_built = true,
                    .names = {},
                    .shapes = {},
                    .dtypes = {},
                    .optional = true};
    targets.push_back(optimizer->variables());
    for (const Variable& v : targets.back()) {
      e.names.push_back(weight_name(v));
      e.shapes.push_back(v.shape());
      e.dtypes.push_back(v.dtype());
    }
    expected.push_back(std::move(e));
  }
  std::vector<std::string> skipped;
  const std::vector<std::vector<Tensor>> values =
      models::detail::read_weights_image(image, expected, containers, what, &skipped);
  if (optimizer != nullptr && !values.back().empty()) {
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
      placed[g].push_back(values[g][i].to(targets[g][i].device()));
    }
  }
  for (std::size_t g = 0; g < placed.size(); ++g) {
    for (std::size_t i = 0; i < placed[g].size(); ++i) targets[g][i].assign(placed[g][i]);
  }
}

// ---------------------------------------------------------------- zip

// Entries larger than this are only read when their compression ratio is plausible: a
// decompression bomb declares gigabytes and stores almost nothing (Keras's _reject_zip_bomb).
constexpr zip_uint64_t kZipBombFloor = zip_uint64_t{1} << 30;
constexpr zip_uint64_t kZipMaxRatio = 1000;
constexpr zip_uint64_t kMaxJsonBytes = zip_uint64_t{64} << 20;

std::string zip_error_text(zip_error_t* error) {
  const char* s = zip_error_strerror(error);
  return s != nullptr ? s : "unknown zip error";
}

class ZipReader {
 public:
  ZipReader(std::string_view bytes, std::string what) : what_(std::move(what)) {
    NEURONA_CHECK(bytes.size() >= 4 && bytes.substr(0, 4) == std::string_view("PK\x03\x04", 4),
                  IoError, what_,
                  ": not a .keras file (a .keras file is a zip archive, which starts with PK)");
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
  ~ZipReader() {
    if (archive_ != nullptr) zip_discard(archive_);
  }
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  bool has(const char* name) const { return zip_name_locate(archive_, name, 0) >= 0; }

  std::string read(const char* name, zip_uint64_t max_bytes) const {
    const zip_int64_t index = zip_name_locate(archive_, name, 0);
    NEURONA_CHECK(index >= 0, IoError, what_, ": the archive has no ", name,
                  "; a .keras file holds config.json, metadata.json and model.weights.h5");
    zip_stat_t st;
    zip_stat_init(&st);
    NEURONA_CHECK(zip_stat_index(archive_, static_cast<zip_uint64_t>(index), 0, &st) == 0 &&
                      (st.valid & ZIP_STAT_SIZE) && (st.valid & ZIP_STAT_COMP_SIZE),
                  IoError, what_, ": cannot read the size of ", name, ": ", zip_strerror(archive_));
    NEURONA_CHECK(st.size <= max_bytes, IoError, what_, ": ", name, " claims ", st.size,
                  " bytes, more than the ", max_bytes, " neurona reads");
    NEURONA_CHECK(st.size <= kZipBombFloor || st.size / kZipMaxRatio <= st.comp_size, IoError,
                  what_, ": ", name, " claims ", st.size, " bytes but stores only ", st.comp_size,
                  "; refusing a likely zip bomb");
    zip_file_t* file = zip_fopen_index(archive_, static_cast<zip_uint64_t>(index), 0);
    NEURONA_CHECK(file != nullptr, IoError, what_, ": cannot open ", name, ": ",
                  zip_strerror(archive_));
    std::string out(static_cast<std::size_t>(st.size), '\0');
    zip_uint64_t done = 0;
    bool ok = true;
    while (done < st.size) {
      const zip_int64_t n = zip_fread(file, out.data() + done, st.size - done);
      if (n <= 0) {
        ok = false;
        break;
      }
      done += static_cast<zip_uint64_t>(n);
    }
    char extra;
    // One more read: the CRC is checked at the end, and data past the stated size is an error.
    if (ok && zip_fread(file, &extra, 1) != 0) ok = false;
    const std::string error = ok ? "" : zip_file_strerror(file);
    zip_fclose(file);
    NEURONA_CHECK(ok, IoError, what_, ": cannot read ", name,
                  " (the archive is truncated or corrupt): ", error);
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
  write_file_atomic(path, models::save_weights_to_bytes(*this));
}

void Model::load_weights(const std::string& path) {
  if (ends_with(path, ".keras")) {
    const std::string bytes = read_file(path, "load_weights");
    const ZipReader zip(bytes, "load_weights('" + path + "')");
    load_weights_image(*this, zip.read(kWeights, std::numeric_limits<zip_uint64_t>::max()),
                       "load_weights('" + path + "': " + kWeights + ")");
    return;
  }
  NEURONA_CHECK(ends_with(path, ".weights.h5"), ValueError,
                "load_weights: the filename must end in `.weights.h5` or `.keras`. Received: "
                "filepath=",
                path);
  load_weights_image(*this, read_file(path, "load_weights"), "load_weights('" + path + "')");
}

void Model::save(const std::string& path) const {
  NEURONA_CHECK(ends_with(path, ".keras"), ValueError,
                "save: the filename must end in `.keras`. Received: filepath=", path);
  const std::string config = models::detail::model_config_json(*this);
  const std::string weights = models::save_weights_to_bytes(*this);
  write_file_atomic(path, write_zip({{kMetadata, models::detail::metadata_json()},
                                     {kConfig, config},
                                     {kWeights, weights}}));
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
  load_weights_image(model, bytes, "load_weights");
}

std::shared_ptr<Model> load_model_from_bytes(std::string_view bytes) {
  const ZipReader zip(bytes, "load_model");
  detail::check_metadata_json(zip.read(kMetadata, kMaxJsonBytes));
  std::shared_ptr<Model> model = detail::model_from_config_json(zip.read(kConfig, kMaxJsonBytes));
  NEURONA_CHECK(zip.has(kWeights), IoError,
                "load_model: the archive has no model.weights.h5 (weights in .npz are not "
                "supported)");
  // A model saved unbuilt has no weights to load (Keras cannot save one either).
  if (model->built()) {
    load_weights_image(*model, zip.read(kWeights, std::numeric_limits<zip_uint64_t>::max()),
                       "load_model (model.weights.h5)");
  }
  return model;
}

std::shared_ptr<Model> load_model(const std::string& path) {
  NEURONA_CHECK(ends_with(path, ".keras"), ValueError,
                "load_model: the filename must end in `.keras`. Received: filepath=", path);
  const std::string bytes = read_file(path, "load_model");
  try {
    return load_model_from_bytes(bytes);
  } catch (const IoError& e) {
    throw IoError(std::string(e.what()) + " [" + path + "]");
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()) + " [" + path + "]");
  }
}

}  // namespace models

}  // namespace neurona
