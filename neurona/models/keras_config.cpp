// Keras 3's serialization of models (keras/src/saving/serialization_lib.py): the JSON of
// config.json to and from ConfigValue, Sequential and registered models, and the lookup of layer
// classes in layers::layer_registry() (each layer's from_config sits beside its get_config).
#include "neurona/models/keras_config.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

#include "neurona/autograd/ops.h"
#include "neurona/core/registry.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/input_layer.h"
#include "neurona/layers/layer_registry.h"
#include "neurona/models/compile_config.h"
#include "neurona/models/functional.h"
#include "neurona/models/saving.h"
#include "neurona/models/sequential.h"

namespace neurona::models {

using Json = nlohmann::ordered_json;

namespace {

// The Keras version whose format neurona writes and was checked against
// (tests/reference/make_keras_saving_references.py).
constexpr const char* kKerasVersion = "3.15.1";
// Keras configs nest a few levels (model, layers, initializer, its config); anything far
// deeper is not a Keras config, and converting it recursively could exhaust the stack.
constexpr int kMaxDepth = 64;

// ---------------------------------------------------------------- JSON <-> ConfigValue

Json to_json(const ConfigValue& v) {
  switch (v.kind()) {
    case ConfigValue::Kind::Null:
      return nullptr;
    case ConfigValue::Kind::Bool:
      return v.as_bool();
    case ConfigValue::Kind::Int:
      return v.as_int();
    case ConfigValue::Kind::Float: {
      const double d = v.as_double();
      NEURONA_CHECK(std::isfinite(d), ValueError,
                    "save: a config holds a non-finite number, which JSON cannot represent");
      return d;
    }
    case ConfigValue::Kind::String:
      return v.as_string();
    case ConfigValue::Kind::List: {
      Json out = Json::array();
      for (const ConfigValue& item : v.as_list()) out.push_back(to_json(item));
      return out;
    }
    case ConfigValue::Kind::Dict: {
      Json out = Json::object();
      for (const auto& [k, item] : v.as_dict()) out[k] = to_json(item);
      return out;
    }
  }
  return nullptr;
}

ConfigValue from_json(const Json& j, int depth, const std::string& what) {
  NEURONA_CHECK(depth <= kMaxDepth, ValueError, what, ": the JSON nests deeper than ", kMaxDepth,
                " levels; this is not a Keras config");
  switch (j.type()) {
    case Json::value_t::null:
      return nullptr;
    case Json::value_t::boolean:
      return j.get<bool>();
    case Json::value_t::number_integer:
      return j.get<std::int64_t>();
    case Json::value_t::number_unsigned: {
      const auto u = j.get<std::uint64_t>();
      NEURONA_CHECK(u <= static_cast<std::uint64_t>(INT64_MAX), ValueError, what, ": the integer ",
                    u, " is too large");
      return static_cast<std::int64_t>(u);
    }
    case Json::value_t::number_float:
      return j.get<double>();
    case Json::value_t::string:
      return j.get<std::string>();
    case Json::value_t::array: {
      ConfigValue::List out;
      for (const Json& item : j) out.push_back(from_json(item, depth + 1, what));
      return out;
    }
    case Json::value_t::object: {
      ConfigValue::Dict out;
      for (auto it = j.begin(); it != j.end(); ++it) {
        out.emplace_back(it.key(), from_json(it.value(), depth + 1, what));
      }
      return out;
    }
    default:
      throw ValueError(what + ": unsupported JSON value (binary or discarded)");
  }
}

// ---------------------------------------------------------------- reading configs

using layers::AnyLayer;
using layers::LayerConfigReader;
namespace L = layers;

std::shared_ptr<Model> sequential_from(const ConfigValue& config, const std::string& who);
std::shared_ptr<Model> functional_from(const ConfigValue& config, const std::string& who);

// The model classes by name: Sequential, and the user's subclassed models (register_model).
Registry<ModelFactory>& model_registry() {
  static auto* registry = [] {
    auto* r = new Registry<ModelFactory>();  // outlives static models that load in destructors
    r->add("Sequential", [](const ConfigValue& c) { return sequential_from(c, "Sequential"); });
    return r;
  }();
  return *registry;
}

std::string known_classes() {
  return L::layer_registry().joined_names() + ", " + model_registry().joined_names();
}

// Applies the trainable flag of a config to layers whose options have none.
void apply_trainable(const ConfigValue& config, L::Layer& layer, const std::string& who) {
  const ConfigValue* t = config.find("trainable");
  if (t == nullptr || t->is_null()) return;
  NEURONA_CHECK(t->kind() == ConfigValue::Kind::Bool, ValueError, who,
                ": 'trainable' must be a bool, got ", t->kind_name());
  if (layer.trainable() != t->as_bool()) layer.set_trainable(t->as_bool());
}

// {"class_name": ..., "config": ...} -> (class_name, config), with errors naming `who`.
std::pair<std::string, ConfigValue> split_serialized(const ConfigValue& serialized,
                                                     const std::string& who) {
  NEURONA_CHECK(serialized.kind() == ConfigValue::Kind::Dict, ValueError, who,
                ": expected a serialized Keras object (a dict), got ", serialized.kind_name());
  const ConfigValue* cls = serialized.find("class_name");
  NEURONA_CHECK(cls != nullptr && cls->kind() == ConfigValue::Kind::String, ValueError, who,
                ": the object has no 'class_name'");
  const ConfigValue* config = serialized.find("config");
  NEURONA_CHECK(config != nullptr && config->kind() == ConfigValue::Kind::Dict, ValueError, who,
                ": the ", cls->as_string(), " object has no 'config' dict");
  return {cls->as_string(), *config};
}

std::optional<Shape> build_shape(const ConfigValue& serialized, const std::string& who) {
  const ConfigValue* build = serialized.find("build_config");
  if (build == nullptr || build->is_null()) return std::nullopt;
  const ConfigValue* shape = build->find("input_shape");
  if (shape == nullptr || shape->is_null()) return std::nullopt;
  const LayerConfigReader r(*build, who + " build_config");
  return r.shape("input_shape", *shape);
}

// A model from the model registry, built for its build_config by a call on zeros (what
// Keras's build_from_config does symbolically), so that its layers have their weights.
std::shared_ptr<Model> registered_model(const ModelFactory& factory, const std::string& cls,
                                        const ConfigValue& serialized, const ConfigValue& config,
                                        const std::string& who) {
  std::shared_ptr<Model> model = factory(config);
  NEURONA_CHECK(model != nullptr, ValueError, who, ": the factory registered for ", cls,
                " returned no model");
  if (!model->built()) {
    if (const auto shape = build_shape(serialized, who)) {
      model->ensure_built(*shape);
      std::vector<std::int64_t> dims = shape->dims();
      for (auto& d : dims) d = d < 0 ? 1 : d;
      const Shape probe(std::move(dims));
      layers::WeightBudget::charge(
          probe, "the input " + model->describe() + " is run on once to build it,");
      (*model)(zeros(probe, {.dtype = model->dtype()}), false);
    }
  }
  return model;
}

AnyLayer layer_from(const ConfigValue& serialized, const std::string& who) {
  auto [cls, config] = split_serialized(serialized, who);
  const std::string named = who + " (" + cls + ")";
  const std::optional<LayerFactory> layer_factory = L::layer_registry().find(cls);
  const std::optional<ModelFactory> model_factory = model_registry().find(cls);
  try {
    if (layer_factory) {
      AnyLayer layer = (*layer_factory)(config);
      apply_trainable(config, *layer, named);
      return layer;
    }
    if (model_factory) {
      return AnyLayer(registered_model(*model_factory, cls, serialized, config, named));
    }
  } catch (const ValueError&) {
    throw;
  } catch (const Error& e) {
    // Layer constructors reject bad arguments with ShapeError / NotImplementedError too.
    throw ValueError(named + ": " + e.what());
  }
  if (cls == "Functional") return AnyLayer(functional_from(config, named));
  throw ValueError(who + ": unknown layer class '" + cls +
                   "'; register it with nr::models::register_layer (or register_model for a "
                   "subclassed model). Known classes: " +
                   known_classes());
}

std::shared_ptr<Model> sequential_from(const ConfigValue& config, const std::string& who) {
  const LayerConfigReader r(config, who);
  const ConfigValue& list = r.need("layers");
  const auto& items = r.typed("layers", list, [](const ConfigValue& x) { return x.as_list(); });
  std::vector<AnyLayer> built;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string item_who = who + " layer " + std::to_string(i);
    auto [cls, item_config] = split_serialized(items[i], item_who);
    if (cls == "InputLayer") {
      NEURONA_CHECK(i == 0, ValueError, item_who, ": an InputLayer can only come first");
      const std::string input_who = item_who + " (InputLayer)";
      try {
        built.push_back(L::Input::from_config(item_config, input_who));
      } catch (const ValueError&) {
        throw;
      } catch (const Error& e) {
        throw ValueError(input_who + ": " + e.what());
      }
      continue;
    }
    const ConfigValue* name = item_config.find("name");
    built.push_back(layer_from(
        items[i], item_who + (name != nullptr && name->kind() == ConfigValue::Kind::String
                                  ? " '" + name->as_string() + "'"
                                  : std::string())));
  }
  std::shared_ptr<Sequential> model;
  try {
    model = std::make_shared<Sequential>(built,
                                         L::LayerOptions{.name = r.string("name", ""),
                                                         .trainable = r.boolean("trainable", true),
                                                         .dtype = r.dtype()});
    if (!model->built()) {
      if (const ConfigValue* shape = r.find("build_input_shape")) {
        model->ensure_built(r.shape("build_input_shape", *shape));
      }
    }
  } catch (const ValueError&) {
    throw;
  } catch (const Error& e) {
    throw ValueError(who + ": " + e.what());
  }
  return model;
}

// A functional model's config (keras/src/models/functional.py's functional_from_config): the
// layers, then their calls, each made once the tensors it takes exist, then the model from the
// tensors input_layers and output_layers name.
std::shared_ptr<Model> functional_from(const ConfigValue& config, const std::string& who) {
  const LayerConfigReader r(config, who);
  const auto& items =
      r.typed("layers", r.need("layers"), [](const ConfigValue& x) { return x.as_list(); });
  struct Made {
    std::shared_ptr<L::Layer> layer;
    std::vector<ConfigValue> calls;                      // inbound_nodes, in order
    std::size_t done = 0;                                // calls made so far
    std::map<int, std::vector<L::KerasTensor>> outputs;  // by node index
  };
  std::map<std::string, Made> made;
  std::vector<std::string> order;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string item_who = who + " layer " + std::to_string(i);
    auto [cls, item_config] = split_serialized(items[i], item_who);
    const ConfigValue* name_v = items[i].find("name");
    if (name_v == nullptr) name_v = item_config.find("name");
    NEURONA_CHECK(name_v != nullptr && name_v->kind() == ConfigValue::Kind::String, ValueError,
                  item_who, ": the layer has no 'name'");
    const std::string name = name_v->as_string();
    NEURONA_CHECK(made.count(name) == 0, ValueError, item_who, ": the name '", name,
                  "' is used twice");
    Made m;
    if (cls == "InputLayer") {
      const std::string input_who = item_who + " '" + name + "' (InputLayer)";
      try {
        L::Input input = L::Input::from_config(item_config, input_who);
        m.outputs[0] = {input->output()};
        m.layer = input.ptr();
      } catch (const ValueError&) {
        throw;
      } catch (const Error& e) {
        throw ValueError(input_who + ": " + e.what());
      }
    } else {
      m.layer = layer_from(items[i], item_who + " '" + name + "'").ptr();
      if (const ConfigValue* nodes = items[i].find("inbound_nodes")) {
        NEURONA_CHECK(nodes->kind() == ConfigValue::Kind::List, ValueError, item_who,
                      ": 'inbound_nodes' must be a list, got ", nodes->kind_name());
        m.calls = nodes->as_list();
      }
    }
    made.emplace(name, std::move(m));
    order.push_back(name);
  }

  // [layer name, node index, tensor index] -> the tensor, or null when not made yet. In
  // input_layers and output_layers (`io`) a functional layer's calls count from 1.
  auto find_tensor = [&](const ConfigValue& history, const std::string& at,
                         bool io = false) -> const L::KerasTensor* {
    NEURONA_CHECK(history.kind() == ConfigValue::Kind::List && history.as_list().size() == 3 &&
                      history.as_list()[0].kind() == ConfigValue::Kind::String &&
                      history.as_list()[1].kind() == ConfigValue::Kind::Int &&
                      history.as_list()[2].kind() == ConfigValue::Kind::Int,
                  ValueError, at,
                  ": a tensor reference must be [layer name, node index, tensor "
                  "index]");
    const auto& h = history.as_list();
    const auto it = made.find(h[0].as_string());
    NEURONA_CHECK(it != made.end(), ValueError, at,
                  ": Invalid Functional model configuration. "
                  "Missing node: ",
                  h[0].as_string());
    const auto* nested = dynamic_cast<const Model*>(it->second.layer.get());
    const bool shifted = io && nested != nullptr && nested->is_functional();
    const auto node = it->second.outputs.find(static_cast<int>(h[1].as_int()) - (shifted ? 1 : 0));
    if (node == it->second.outputs.end()) return nullptr;
    const std::int64_t t = h[2].as_int();
    NEURONA_CHECK(t >= 0 && t < static_cast<std::int64_t>(node->second.size()), ValueError, at,
                  ": layer '", h[0].as_string(), "' call ", h[1].as_int(), " has no output ", t);
    return &node->second[static_cast<std::size_t>(t)];
  };
  const auto is_keras_tensor = [](const ConfigValue& v) {
    const ConfigValue* cls = v.find("class_name");
    return cls != nullptr && cls->kind() == ConfigValue::Kind::String &&
           cls->as_string() == "__keras_tensor__";
  };
  // A serialized KerasTensor ({"class_name": "__keras_tensor__", ...}) -> its keras_history.
  auto history_of = [&](const ConfigValue& v, const std::string& at) -> const ConfigValue& {
    NEURONA_CHECK(v.kind() == ConfigValue::Kind::Dict, ValueError, at,
                  ": expected a serialized KerasTensor, got ", v.kind_name());
    const ConfigValue* cls = v.find("class_name");
    const ConfigValue* c = v.find("config");
    NEURONA_CHECK(cls != nullptr && cls->kind() == ConfigValue::Kind::String &&
                      cls->as_string() == "__keras_tensor__" && c != nullptr,
                  ValueError, at, ": expected a serialized KerasTensor");
    const ConfigValue* h = c->find("keras_history");
    NEURONA_CHECK(h != nullptr, ValueError, at, ": the KerasTensor has no keras_history");
    return *h;
  };

  // Makes the calls whose inputs exist until none is left (or none can be made).
  for (bool progress = true; progress;) {
    progress = false;
    for (const std::string& name : order) {
      Made& m = made.at(name);
      while (m.done < m.calls.size()) {
        const std::string at = who + " layer '" + name + "' call " + std::to_string(m.done);
        const ConfigValue& call = m.calls[m.done];
        NEURONA_CHECK(call.kind() == ConfigValue::Kind::Dict, ValueError, at,
                      ": expected {\"args\": ..., \"kwargs\": ...} (Keras 2's node lists are "
                      "not read)");
        const ConfigValue* args = call.find("args");
        // One tensor or one list of tensors; several tensors for a layer whose Keras call
        // takes them as positional arguments (MultiHeadAttention's query, value, key).
        const bool positional = m.layer->takes_positional_inputs();
        NEURONA_CHECK(args != nullptr && args->kind() == ConfigValue::Kind::List &&
                          (args->as_list().size() == 1 || (positional && !args->as_list().empty())),
                      ValueError, at,
                      positional ? ": expected 'args' holding the tensors"
                                 : ": expected 'args' holding one tensor or one list of tensors");
        const ConfigValue& arg = args->as_list()[0];
        const bool list_call = arg.kind() == ConfigValue::Kind::List || args->as_list().size() > 1;
        std::vector<L::KerasTensor> inputs;
        bool ready = true;
        for (const ConfigValue& t : arg.kind() == ConfigValue::Kind::List ? arg.as_list()
                                    : list_call                           ? args->as_list()
                                                : ConfigValue::List{arg}) {
          const L::KerasTensor* x = find_tensor(history_of(t, at), at);
          if (x == nullptr) {
            ready = false;
            break;
          }
          inputs.push_back(*x);
        }
        if (!ready) break;
        std::optional<bool> training;
        ConfigValue other_kwargs;  // the layer's own keyword arguments (Node::kwargs)
        std::vector<L::TensorKwarg> tensor_kwargs;  // attention_mask, mask=[qm, vm]
        // A recurrent layer's call is neurona's list call [sequences, initial states...].
        const bool recurrent = m.layer->call_takes_initial_state();
        if (const ConfigValue* kwargs = call.find("kwargs");
            kwargs != nullptr && !kwargs->is_null()) {
          NEURONA_CHECK(kwargs->kind() == ConfigValue::Kind::Dict, ValueError, at,
                        ": 'kwargs' must be a dict");
          for (const auto& [key, value] : kwargs->as_dict()) {
            if (value.is_null()) continue;  // Keras writes mask=None for nested models
            if (recurrent && key == "initial_state") {
              NEURONA_CHECK(!list_call, ValueError, at,
                            ": a list of sequences and an initial_state");
              for (const ConfigValue& t : value.kind() == ConfigValue::Kind::List
                                              ? value.as_list()
                                              : ConfigValue::List{value}) {
                const L::KerasTensor* s = find_tensor(history_of(t, at), at);
                if (s == nullptr) {
                  ready = false;
                  break;
                }
                inputs.push_back(*s);
              }
              continue;
            }
            if (key == "training") {
              NEURONA_CHECK(value.kind() == ConfigValue::Kind::Bool, ValueError, at,
                            ": the call argument 'training' must be a bool, got ",
                            value.kind_name());
              training = value.as_bool();
              continue;
            }
            if (is_keras_tensor(value)) {
              // A tensor keyword argument (MultiHeadAttention's attention_mask).
              const L::KerasTensor* t = find_tensor(history_of(value, at), at);
              if (t == nullptr) {
                ready = false;
                break;
              }
              tensor_kwargs.emplace_back(key, *t);
              continue;
            }
            // A list of them, None in it (Attention's mask=[query_mask, value_mask]); a mask
            // list of Nones too: Keras's Attention then reads no masks at all.
            const auto is_none = [](const ConfigValue& v) { return v.is_null(); };
            const bool tensor_list =
                value.kind() == ConfigValue::Kind::List && !value.as_list().empty() &&
                std::all_of(
                    value.as_list().begin(), value.as_list().end(),
                    [&](const ConfigValue& v) { return is_none(v) || is_keras_tensor(v); }) &&
                (key == "mask" ||
                 !std::all_of(value.as_list().begin(), value.as_list().end(), is_none));
            if (tensor_list) {
              // Keras writes mask=[None, None] for a nested model called on a list, whose call
              // (Functional.call) ignores a None.
              if (dynamic_cast<const Model*>(m.layer.get()) != nullptr &&
                  std::all_of(value.as_list().begin(), value.as_list().end(), is_none)) {
                continue;
              }
              std::vector<L::KerasTensor> list;
              for (const ConfigValue& item : value.as_list()) {
                const L::KerasTensor* t =
                    item.is_null() ? nullptr : find_tensor(history_of(item, at), at);
                if (!item.is_null() && t == nullptr) {
                  ready = false;
                  break;
                }
                list.push_back(t == nullptr ? L::KerasTensor() : *t);
              }
              if (!ready) break;
              tensor_kwargs.emplace_back(key, std::move(list));
              continue;
            }
            other_kwargs.set(key, value);  // the layer checks it
          }
        }
        if (!ready) break;
        std::vector<L::KerasTensor> outs;
        try {
          if (!other_kwargs.is_null() || !tensor_kwargs.empty()) {
            outs = m.layer->apply_with_kwargs(inputs, other_kwargs, training, tensor_kwargs);
          } else if (list_call || recurrent) {
            outs = m.layer->apply(inputs, training);
          } else {
            outs = {(*m.layer)(inputs[0], training)};
          }
        } catch (const ValueError&) {
          throw;
        } catch (const Error& e) {
          throw ValueError(at + ": " + e.what());
        }
        m.outputs[outs[0].node_index()] = std::move(outs);
        ++m.done;
        progress = true;
      }
    }
  }
  for (const std::string& name : order) {
    const Made& m = made.at(name);
    NEURONA_CHECK(m.done == m.calls.size(), ValueError, who, ": layer '", name, "' call ", m.done,
                  " takes a tensor that no layer of the config makes");
  }
  auto tensors = [&](const char* key) {
    const ConfigValue& v = r.need(key);
    const std::string at = who + " " + key;
    NEURONA_CHECK(v.kind() == ConfigValue::Kind::List && !v.as_list().empty(), ValueError, at,
                  ": expected [name, node, tensor] or a list of them");
    // One tensor ["name", 0, 0], or a list of them.
    const bool one = v.as_list()[0].kind() == ConfigValue::Kind::String;
    std::vector<L::KerasTensor> out;
    for (const ConfigValue& h : one ? ConfigValue::List{v} : v.as_list()) {
      const L::KerasTensor* t = find_tensor(h, at, /*io=*/true);
      NEURONA_CHECK(t != nullptr, ValueError, at, ": the tensor is not made by the layers");
      out.push_back(*t);
    }
    return out;
  };
  try {
    return std::make_shared<Model>(
        tensors("input_layers"), tensors("output_layers"),
        L::LayerOptions{.name = r.string("name", ""), .trainable = r.boolean("trainable", true)});
  } catch (const ValueError&) {
    throw;
  } catch (const Error& e) {
    throw ValueError(who + ": " + e.what());
  }
}

// ---------------------------------------------------------------- writing

ConfigValue serialize_layer(const L::Layer& layer);

ConfigValue serialize_sequential(const Sequential& model) {
  ConfigValue config = model.L::Layer::get_config();
  ConfigValue::List items;
  std::optional<Shape> input = model.input_shape();
  if (!input && model.built()) input = model.build_input_shape();
  if (input) {
    items.push_back(ConfigValue::Dict{
        {"module", "keras.layers"},
        {"class_name", "InputLayer"},
        {"config", L::InputLayer::keras_config(*input, model.input_dtype(), "input_layer")},
        {"registered_name", nullptr}});
  }
  for (const auto& layer : model.layers()) items.push_back(serialize_layer(*layer));
  config.set("layers", std::move(items));
  if (model.built())
    config.set("build_input_shape", layers::shape_config(model.build_input_shape()));
  ConfigValue out = ConfigValue::Dict{{"module", "keras"},
                                      {"class_name", "Sequential"},
                                      {"config", std::move(config)},
                                      {"registered_name", nullptr}};
  if (model.built()) {
    out.set("build_config",
            ConfigValue::Dict{{"input_shape", layers::shape_config(model.build_input_shape())}});
  }
  return out;
}

// A functional model as Keras's Functional.get_config writes it: each layer with its calls in
// the model ("inbound_nodes"), tensors as [layer, node, tensor] where a node counts only the
// layer's calls in this model. In input_layers and output_layers a functional layer's calls
// count from 1 (Keras's get_config keeps a node 0 for it there, and its loader takes 1 off).
ConfigValue serialize_functional(const Model& model) {
  const FunctionalGraph& graph = *model.graph();
  auto history = [&](const L::KerasTensor& t, bool io = false) {
    const auto* nested = dynamic_cast<const Model*>(&t.layer());
    std::int64_t index = io && nested != nullptr && nested->is_functional() ? 1 : 0;
    for (const L::Node* node : graph.nodes_of(t.layer())) index += node->index < t.node_index();
    return ConfigValue(ConfigValue::List{t.layer().name(), index, t.tensor_index()});
  };
  auto tensor = [&](const L::KerasTensor& t) {
    return ConfigValue(
        ConfigValue::Dict{{"class_name", "__keras_tensor__"},
                          {"config", ConfigValue::Dict{{"shape", layers::shape_config(t.shape())},
                                                       {"dtype", std::string(name(t.dtype()))},
                                                       {"keras_history", history(t)}}}});
  };
  ConfigValue::List items;
  for (const auto& layer : graph.layers()) {
    ConfigValue item;
    if (dynamic_cast<const L::InputLayer*>(layer.get()) != nullptr) {
      item = ConfigValue::Dict{{"module", "keras.layers"},
                               {"class_name", "InputLayer"},
                               {"config", layer->get_config()},
                               {"registered_name", nullptr}};
    } else {
      item = serialize_layer(*layer);
    }
    item.set("name", layer->name());
    ConfigValue::List calls;
    for (const L::Node* node : graph.nodes_of(*layer)) {
      if (node->inputs.empty()) continue;
      ConfigValue::List args;
      ConfigValue::Dict kwargs;
      // The tensor keyword arguments (attention_mask, mask) follow the positional inputs.
      const auto positional = static_cast<std::ptrdiff_t>(
          L::Layer::positional_count(node->kwargs, node->inputs.size()));
      if (layer->call_takes_initial_state()) {
        // Keras's call(sequences, initial_state=[...]).
        args.push_back(tensor(node->inputs[0]));
        if (positional > 1) {
          ConfigValue::List states;
          for (std::ptrdiff_t i = 1; i < positional; ++i) {
            states.push_back(tensor(node->inputs[static_cast<std::size_t>(i)]));
          }
          kwargs.emplace_back("initial_state", std::move(states));
        }
      } else {
        const std::vector<L::KerasTensor> inputs(node->inputs.begin(),
                                                 node->inputs.begin() + positional);
        if (layer->takes_positional_inputs()) {
          // Keras's call(query, value, key): one tensor is call(x, x).
          for (const auto& t : inputs) args.push_back(tensor(t));
          if (!node->list_call) args.push_back(tensor(inputs[0]));
        } else if (node->list_call) {
          ConfigValue::List list;
          for (const auto& t : inputs) list.push_back(tensor(t));
          args.push_back(std::move(list));
        } else {
          args.push_back(tensor(inputs[0]));
        }
      }
      if (node->kwargs.kind() == ConfigValue::Kind::Dict) {
        for (const auto& [key, value] : node->kwargs.as_dict()) {
          if (const auto index = L::Layer::kwarg_tensor(node->kwargs, key)) {
            kwargs.emplace_back(key, tensor(node->inputs[*index]));
          } else if (const auto list = L::Layer::kwarg_tensor_list(node->kwargs, key);
                     !list.empty()) {
            ConfigValue::List tensors;  // Attention's mask=[query_mask, None]
            for (const auto& i : list)
              tensors.push_back(i ? tensor(node->inputs[*i]) : ConfigValue());
            kwargs.emplace_back(key, std::move(tensors));
          } else {
            kwargs.emplace_back(key, value);
          }
        }
      }
      if (node->training) kwargs.emplace_back("training", *node->training);
      calls.push_back(ConfigValue::Dict{{"args", std::move(args)}, {"kwargs", std::move(kwargs)}});
    }
    item.set("inbound_nodes", std::move(calls));
    items.push_back(std::move(item));
  }
  auto io = [&](const std::vector<L::KerasTensor>& ts) {
    if (ts.size() == 1) return history(ts[0], true);
    ConfigValue::List list;
    for (const auto& t : ts) list.push_back(history(t, true));
    return ConfigValue(std::move(list));
  };
  ConfigValue config = ConfigValue::Dict{{"name", model.name()},
                                         {"trainable", model.trainable()},
                                         {"layers", std::move(items)},
                                         {"input_layers", io(graph.inputs())},
                                         {"output_layers", io(graph.outputs())}};
  return ConfigValue::Dict{{"module", "keras.src.models.functional"},
                           {"class_name", "Functional"},
                           {"config", std::move(config)},
                           {"registered_name", "Functional"},
                           {"build_config", ConfigValue::Dict{{"input_shape", nullptr}}}};
}

ConfigValue serialize_layer(const L::Layer& layer) {
  if (const auto* seq = dynamic_cast<const Sequential*>(&layer)) return serialize_sequential(*seq);
  if (const auto* model = dynamic_cast<const Model*>(&layer); model && model->is_functional()) {
    return serialize_functional(*model);
  }
  return L::serialize_nested_layer(layer);
}

}  // namespace

// ---------------------------------------------------------------- public

void register_layer(const std::string& class_name, LayerFactory factory) {
  NEURONA_CHECK(!class_name.empty() && factory != nullptr, ValueError,
                "register_layer: needs a class name and a factory");
  L::layer_registry().add(class_name, std::move(factory), /*replace=*/true);
}

void register_model(const std::string& class_name, ModelFactory factory) {
  NEURONA_CHECK(!class_name.empty() && factory != nullptr, ValueError,
                "register_model: needs a class name and a factory");
  NEURONA_CHECK(class_name != "Sequential", ValueError,
                "register_model: Sequential is neurona's own");
  model_registry().add(class_name, std::move(factory), /*replace=*/true);
}

layers::AnyLayer deserialize_layer(const ConfigValue& serialized) {
  return layer_from(serialized, "deserialize_layer");
}

namespace detail {

ConfigValue parse_json(std::string_view json, const std::string& what) {
  Json j;
  try {
    j = Json::parse(json.begin(), json.end());
  } catch (const Json::exception& e) {
    // nlohmann names the byte and the reason, including ill-formed UTF-8.
    throw ValueError(what + ": malformed JSON: " + e.what());
  }
  return from_json(j, 0, what);
}

std::string model_config_json(const Model& model) {
  ConfigValue serialized;
  if (const auto* seq = dynamic_cast<const Sequential*>(&model)) {
    serialized = serialize_sequential(*seq);
  } else if (model.is_functional()) {
    serialized = serialize_functional(model);
  } else {
    serialized = serialize_layer(model);
    serialized.set("module", "neurona");
  }
  serialized.set("compile_config", compile_config_for_save(model));
  return to_json(serialized).dump();
}

std::string metadata_json() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&now, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", &tm);
  Json j = Json::object();
  j["keras_version"] = kKerasVersion;
  j["date_saved"] = date;
  return j.dump();
}

void check_metadata_json(std::string_view json) {
  const ConfigValue m = parse_json(json, "metadata.json");
  const ConfigValue* v = m.find("keras_version");
  NEURONA_CHECK(v != nullptr && v->kind() == ConfigValue::Kind::String, ValueError,
                "metadata.json: no keras_version; this is not a Keras 3 .keras file");
  NEURONA_CHECK(v->as_string().rfind("3.", 0) == 0, ValueError, "metadata.json: keras_version is '",
                v->as_string(), "'; neurona reads files of Keras 3");
}

namespace {

std::shared_ptr<Model> model_from_serialized(const ConfigValue& serialized) {
  auto [cls, config] = split_serialized(serialized, "config.json");
  const std::optional<ModelFactory> factory = model_registry().find(cls);
  if (cls == "Sequential") return sequential_from(config, "config.json: Sequential");
  if (cls == "Functional") return functional_from(config, "config.json: Functional");
  NEURONA_CHECK(factory.has_value(), ValueError, "config.json: unknown model class '", cls,
                "'. A subclassed model needs its class registered: "
                "nr::models::register_model(\"",
                cls,
                "\", factory) (the equivalent of Keras's custom_objects); or construct it and "
                "call load_weights");
  try {
    return registered_model(*factory, cls, serialized, config, "config.json: " + cls);
  } catch (const ValueError&) {
    throw;
  } catch (const Error& e) {
    throw ValueError("config.json: " + cls + ": " + e.what());
  }
}

}  // namespace

std::shared_ptr<Model> model_from_config_json(std::string_view json) {
  const ConfigValue serialized = parse_json(json, "config.json");
  std::shared_ptr<Model> model = model_from_serialized(serialized);
  // As keras.saving.load_model(compile=True): compiled from compile_config when it has one
  // (Keras writes {} for a model that was not compiled).
  const ConfigValue* compile_config = serialized.find("compile_config");
  if (compile_config == nullptr || compile_config->is_null() ||
      (compile_config->kind() == ConfigValue::Kind::Dict && compile_config->as_dict().empty())) {
    return model;
  }
  try {
    model->compile_from_config(*compile_config);
  } catch (const Error& e) {
    throw ValueError(std::string("config.json: ") + e.what());
  }
  return model;
}

}  // namespace detail

}  // namespace neurona::models
