// Keras 3's compile_config (keras/src/trainers/trainer.py: get_compile_config and
// compile_from_config): the arguments of compile() as a `.keras` file records them, so that
// load_model returns a model ready to go on training, as keras.saving.load_model does. The
// objects themselves are made by the training layer's from_config functions; this file only
// translates between config.json's values and theirs.
#include "neurona/models/compile_config.h"

#include <cmath>
#include <iostream>

namespace neurona {

namespace {

// ---------------------------------------------------------------- writing

// Keras's serialize_keras_object of a built-in object.
ConfigValue serialized_object(const char* module, const std::string& class_name,
                              ConfigValue config) {
  return ConfigValue::Dict{{"module", module},
                           {"class_name", class_name},
                           {"config", std::move(config)},
                           {"registered_name", nullptr}};
}

// An object of the user's own class: Keras would write its module and registered name; the
// reader cannot rebuild it either way.
ConfigValue serialized_custom(const std::string& name, ConfigValue config) {
  return ConfigValue::Dict{{"module", "neurona"},
                           {"class_name", name},
                           {"config", std::move(config)},
                           {"registered_name", name}};
}

// A training object's config (a schedule in it already serialized) as a ConfigValue dict.
ConfigValue config_dict(optimizers::Config config) {
  return ConfigValue(std::move(config));
}

ConfigValue serialize_loss(const losses::LossRef& ref) {
  if (ref.is_name()) return ref.identifier();  // Keras keeps a string as given
  const losses::Loss& loss = *ref;
  const std::string cls = loss.class_name();
  if (cls.empty()) return serialized_custom(loss.name(), config_dict(loss.config()));
  return serialized_object("keras.losses", cls, config_dict(loss.config()));
}

ConfigValue serialize_metric(const metrics::MetricRef& ref) {
  if (ref.is_name()) return ref.identifier();
  const metrics::Metric& metric = *ref.metric();
  const std::string cls = metric.class_name();
  if (cls.empty()) return serialized_custom(metric.name(), config_dict(metric.config()));
  return serialized_object("keras.metrics", cls, config_dict(metric.config()));
}

bool all_finite(const ConfigValue& v) {
  switch (v.kind()) {
    case ConfigValue::Kind::Float:
      return std::isfinite(v.as_double());
    case ConfigValue::Kind::List:
      for (const ConfigValue& item : v.as_list()) {
        if (!all_finite(item)) return false;
      }
      return true;
    case ConfigValue::Kind::Dict:
      for (const auto& [key, item] : v.as_dict()) {
        if (!all_finite(item)) return false;
      }
      return true;
    default:
      return true;
  }
}

// ---------------------------------------------------------------- reading

// {"class_name": ..., "config": ...} -> (class_name, config); a serialized function
// ({"class_name": "function", "config": "mean_squared_error"}) keeps its string config.
std::pair<std::string, ConfigValue> class_and_config(const ConfigValue& v, const std::string& who) {
  const ConfigValue* cls = v.find("class_name");
  NEURONA_CHECK(cls != nullptr && cls->kind() == ConfigValue::Kind::String, ValueError, who,
                ": expected a serialized Keras object with a 'class_name' string");
  const ConfigValue* config = v.find("config");
  if (cls->as_string() == "function") {
    NEURONA_CHECK(config != nullptr && config->kind() == ConfigValue::Kind::String, ValueError, who,
                  ": a serialized function needs its name as 'config'");
    return {"function", *config};
  }
  if (config == nullptr || config->is_null()) return {cls->as_string(), ConfigValue::Dict{}};
  NEURONA_CHECK(config->kind() == ConfigValue::Kind::Dict, ValueError, who, ": the ",
                cls->as_string(), " object's 'config' must be a dict, got ", config->kind_name());
  return {cls->as_string(), *config};
}

optimizers::Config training_config(const ConfigValue& config, const std::string& who,
                                   bool allow_schedule);

// One value of a serialized object's config as the training layer's from_config functions take
// it: scalars and lists of numbers as they are, a DTypePolicy as its name, and (where
// `allow_schedule`) a learning-rate schedule as {"class_name": ..., "config": {...}} with its
// config checked the same way. Anything else is a ValueError naming `who` and `key`.
ConfigValue training_value(const std::string& key, const ConfigValue& v, const std::string& who,
                           bool allow_schedule) {
  switch (v.kind()) {
    case ConfigValue::Kind::Null:
    case ConfigValue::Kind::Bool:
    case ConfigValue::Kind::Int:
    case ConfigValue::Kind::Float:
    case ConfigValue::Kind::String:
      return v;
    case ConfigValue::Kind::List: {
      for (const ConfigValue& item : v.as_list()) {
        NEURONA_CHECK(
            item.kind() == ConfigValue::Kind::Int || item.kind() == ConfigValue::Kind::Float,
            ValueError, who, ": '", key, "' must be a list of numbers, found a ", item.kind_name());
      }
      return v;
    }
    case ConfigValue::Kind::Dict:
      break;
  }
  if (key == "dtype") {
    // {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}
    const ConfigValue* config = v.find("config");
    const ConfigValue* name = config != nullptr ? config->find("name") : nullptr;
    NEURONA_CHECK(name != nullptr && name->kind() == ConfigValue::Kind::String, ValueError, who,
                  ": 'dtype' must be a dtype name or a DTypePolicy");
    return name->as_string();
  }
  NEURONA_CHECK(allow_schedule && key == "learning_rate", ValueError, who, ": '", key,
                "' holds a dict, which neurona does not take there");
  const std::string schedule_who = neurona::detail::str(who, " learning_rate");
  const auto [cls, config] = class_and_config(v, schedule_who);
  return ConfigValue::Dict{
      {"class_name", cls},
      {"config", training_config(config, neurona::detail::str(schedule_who, " ", cls), false)}};
}

// A serialized object's config as the training layer's from_config functions take it.
optimizers::Config training_config(const ConfigValue& config, const std::string& who,
                                   bool allow_schedule) {
  optimizers::Config out;
  for (const auto& [key, value] : config.as_dict()) {
    out.emplace_back(key, training_value(key, value, who, allow_schedule));
  }
  return out;
}

std::shared_ptr<optimizers::Optimizer> optimizer_from(const ConfigValue& v) {
  switch (v.kind()) {
    case ConfigValue::Kind::Null:
      return optimizers::get("rmsprop");  // compile()'s default, as Keras's
    case ConfigValue::Kind::String:
      return optimizers::get(v.as_string());
    case ConfigValue::Kind::Dict: {
      const auto [cls, config] = class_and_config(v, "optimizer");
      NEURONA_CHECK(config.kind() == ConfigValue::Kind::Dict, ValueError,
                    "optimizer: a function is not an optimizer");
      return optimizers::from_config(cls, training_config(config, cls, true));
    }
    default:
      throw ValueError(neurona::detail::str(
          "must be an optimizer name or a serialized optimizer, got ", v.kind_name()));
  }
}

std::optional<losses::LossRef> one_loss_from(const ConfigValue& v) {
  switch (v.kind()) {
    case ConfigValue::Kind::Null:
      return std::nullopt;
    case ConfigValue::Kind::String:
      return losses::LossRef(v.as_string());
    case ConfigValue::Kind::Dict: {
      const auto [cls, config] = class_and_config(v, "loss");
      if (cls == "function") return losses::LossRef(config.as_string());
      return losses::LossRef(losses::from_config(cls, training_config(config, cls, false)));
    }
    default:
      throw ValueError(
          neurona::detail::str("must be a loss name or a serialized loss, got ", v.kind_name()));
  }
}

// One loss, a list by output position or a dict by output name ({"class_name": ...} is one).
CompileLoss loss_from(const ConfigValue& v) {
  if (v.is_null()) return {};
  if (v.kind() == ConfigValue::Kind::List) {
    std::vector<std::optional<losses::LossRef>> list;
    for (const ConfigValue& item : v.as_list()) list.push_back(one_loss_from(item));
    return list;
  }
  if (v.kind() == ConfigValue::Kind::Dict && v.find("class_name") == nullptr) {
    CompileLoss::Named named;
    for (const auto& [name, item] : v.as_dict()) named.emplace_back(name, one_loss_from(item));
    return named;
  }
  return one_loss_from(v);
}

metrics::MetricRef metric_from(const ConfigValue& v) {
  if (v.kind() == ConfigValue::Kind::String) return metrics::MetricRef(v.as_string());
  NEURONA_CHECK(v.kind() == ConfigValue::Kind::Dict, ValueError,
                "a metric must be a name or a serialized metric, got ", v.kind_name());
  const auto [cls, config] = class_and_config(v, "metric");
  if (cls == "function") return metrics::MetricRef(config.as_string());
  return metrics::MetricRef(metrics::from_config(cls, training_config(config, cls, false)));
}

// The metrics of one output: a list, one metric, or none.
CompileMetrics::List output_metrics_from(const ConfigValue& v) {
  if (v.is_null()) return {};
  if (v.kind() != ConfigValue::Kind::List) return {metric_from(v)};
  CompileMetrics::List out;
  for (std::size_t i = 0; i < v.as_list().size(); ++i) {
    try {
      out.push_back(metric_from(v.as_list()[i]));
    } catch (const ValueError& e) {
      throw ValueError(neurona::detail::str("item ", i, ": ", e.what()));
    }
  }
  return out;
}

// A list of metrics, a list of lists (per output) or a dict by output name.
CompileMetrics metrics_from(const ConfigValue& v) {
  if (v.is_null()) return {};
  if (v.kind() == ConfigValue::Kind::Dict && v.find("class_name") == nullptr) {
    CompileMetrics::ByName by_name;
    for (const auto& [name, item] : v.as_dict()) {
      by_name.emplace_back(name, output_metrics_from(item));
    }
    return by_name;
  }
  NEURONA_CHECK(v.kind() == ConfigValue::Kind::List, ValueError, "must be a list, got ",
                v.kind_name());
  bool nested = false;
  for (const ConfigValue& item : v.as_list()) {
    nested = nested || item.kind() == ConfigValue::Kind::List || item.is_null();
  }
  if (!nested) return output_metrics_from(v);
  CompileMetrics::PerOutput per_output;
  for (std::size_t i = 0; i < v.as_list().size(); ++i) {
    try {
      per_output.push_back(output_metrics_from(v.as_list()[i]));
    } catch (const ValueError& e) {
      throw ValueError(neurona::detail::str("output ", i, ": ", e.what()));
    }
  }
  return per_output;
}

double one_weight_from(const ConfigValue& v) {
  NEURONA_CHECK(v.kind() == ConfigValue::Kind::Int || v.kind() == ConfigValue::Kind::Float,
                ValueError, "must be a number, or numbers in a list or a dict, got ",
                v.kind_name());
  return v.as_double();
}

LossWeights loss_weights_from(const ConfigValue& v) {
  switch (v.kind()) {
    case ConfigValue::Kind::Null:
      return 1.0;
    case ConfigValue::Kind::List: {
      std::vector<double> list;
      for (const ConfigValue& item : v.as_list()) list.push_back(one_weight_from(item));
      return list;
    }
    case ConfigValue::Kind::Dict: {
      LossWeights::Named named;
      for (const auto& [name, item] : v.as_dict()) named.emplace_back(name, one_weight_from(item));
      return named;
    }
    default:
      return one_weight_from(v);
  }
}

// Runs `f`, prefixing a ValueError (or another neurona Error, which a constructor may throw
// for a bad argument) with "compile_config: <part>: ".
template <typename F>
auto part(const char* name, F f) {
  try {
    return f();
  } catch (const Error& e) {
    throw ValueError(neurona::detail::str("compile_config: ", name, ": ", e.what()));
  }
}

}  // namespace

namespace models::detail {

CompileOptions compile_options_from_config(const ConfigValue& config) {
  NEURONA_CHECK(config.kind() == ConfigValue::Kind::Dict, ValueError,
                "compile_config: expected a dict, got ", config.kind_name());
  const auto entry = [&config](const char* key) {
    const ConfigValue* v = config.find(key);
    return v != nullptr ? *v : ConfigValue();
  };
  part("weighted_metrics", [&] {
    const ConfigValue w = entry("weighted_metrics");
    NEURONA_CHECK(w.is_null() || (w.kind() == ConfigValue::Kind::List && w.as_list().empty()),
                  ValueError, "neurona does not implement weighted metrics");
    return 0;
  });
  // run_eagerly, steps_per_execution, jit_compile (and any other execution option) do not
  // change what is computed; neurona has no use for them.
  return CompileOptions{
      .optimizer = part("optimizer", [&] { return optimizer_from(entry("optimizer")); }),
      .loss = part("loss", [&] { return loss_from(entry("loss")); }),
      .metrics = part("metrics", [&] { return metrics_from(entry("metrics")); }),
      .loss_weights =
          part("loss_weights", [&] { return loss_weights_from(entry("loss_weights")); })};
}

ConfigValue compile_config_for_save(const Model& model) {
  if (!model.compiled()) return nullptr;
  ConfigValue config = model.get_compile_config();
  try {
    NEURONA_CHECK(all_finite(config), ValueError,
                  "compile_config: holds a non-finite number, which JSON cannot represent");
    (void)compile_options_from_config(config);
  } catch (const ValueError& e) {
    std::cerr << "Warning: save: " << e.what()
              << "; the file records no compile_config, so load_model will return the model "
                 "uncompiled\n";
    return nullptr;
  }
  return config;
}

}  // namespace models::detail

namespace {

ConfigValue serialize_losses(const CompileLoss& loss) {
  const auto one = [](const std::optional<losses::LossRef>& l) {
    return l ? serialize_loss(*l) : ConfigValue();
  };
  switch (loss.form()) {
    case CompileLoss::Form::none:
      return nullptr;
    case CompileLoss::Form::one:
      return one(loss.one());
    case CompileLoss::Form::list: {
      ConfigValue::List list;
      for (const auto& l : loss.list()) list.push_back(one(l));
      return list;
    }
    case CompileLoss::Form::dict: {
      ConfigValue::Dict dict;
      for (const auto& [name, l] : loss.dict()) dict.emplace_back(name, one(l));
      return dict;
    }
  }
  return nullptr;
}

ConfigValue serialize_loss_weights(const LossWeights& w) {
  switch (w.form()) {
    case LossWeights::Form::none:
      return nullptr;
    case LossWeights::Form::one:
      return w.one() == 1.0 ? ConfigValue() : ConfigValue(w.one());  // Keras's default None
    case LossWeights::Form::list: {
      ConfigValue::List list;
      for (double x : w.list()) list.emplace_back(x);
      return list;
    }
    case LossWeights::Form::dict: {
      ConfigValue::Dict dict;
      for (const auto& [name, x] : w.dict()) dict.emplace_back(name, x);
      return dict;
    }
  }
  return nullptr;
}

ConfigValue serialize_metrics(const CompileMetrics& m) {
  if (m.empty()) return nullptr;
  const auto list_of = [](const CompileMetrics::List& list) {
    ConfigValue::List out;
    for (const metrics::MetricRef& ref : list) out.push_back(serialize_metric(ref));
    return ConfigValue(std::move(out));
  };
  switch (m.form()) {
    case CompileMetrics::Form::list:
      return list_of(m.list());
    case CompileMetrics::Form::per_output: {
      ConfigValue::List out;
      // An output without metrics as Keras writes the None it was given.
      for (const auto& list : m.per_output()) {
        out.push_back(list.empty() ? ConfigValue() : list_of(list));
      }
      return out;
    }
    case CompileMetrics::Form::by_name: {
      ConfigValue::Dict out;
      for (const auto& [name, list] : m.by_name()) out.emplace_back(name, list_of(list));
      return out;
    }
  }
  return nullptr;
}

}  // namespace

ConfigValue Model::get_compile_config() const {
  if (!compiled()) return ConfigValue::Dict{};
  const CompileOptions& o = compile_options();
  const optimizers::Optimizer& opt = *o.optimizer.get();
  // Keras's key order; run_eagerly, steps_per_execution and jit_compile as Keras writes them
  // on JAX by default.
  return ConfigValue::Dict{{"optimizer", serialized_object("keras.optimizers", opt.class_name(),
                                                           config_dict(opt.config()))},
                           {"loss", serialize_losses(o.loss)},
                           {"loss_weights", serialize_loss_weights(o.loss_weights)},
                           {"metrics", serialize_metrics(o.metrics)},
                           {"weighted_metrics", nullptr},
                           {"run_eagerly", false},
                           {"steps_per_execution", 1},
                           {"jit_compile", true}};
}

void Model::compile_from_config(const ConfigValue& config) {
  CompileOptions options = models::detail::compile_options_from_config(config);
  try {
    compile(std::move(options));
  } catch (const ValueError& e) {  // arguments that do not fit this model's outputs
    throw ValueError(neurona::detail::str("compile_config: ", e.what()));
  }
  // As Keras: the optimizer's variables exist before any weights (and its state) are loaded.
  if (built()) optimizer()->build(trainable_weights());
}

}  // namespace neurona
