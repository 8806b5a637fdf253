// LayerConfigReader: reads the typed entries of one layer's config (what get_config() wrote, or
// a Keras config.json holds) for the layers' from_config functions, naming the layer and the
// key in every error. As Keras, a key neurona does not know is ignored; a value neurona cannot
// honour (LoRA, quantization) is an error rather than a silently different layer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "neurona/core/config_value.h"
#include "neurona/core/error.h"
#include "neurona/core/shape.h"
#include "neurona/layers/activations.h"
#include "neurona/layers/constraints.h"
#include "neurona/layers/dtype_policy.h"
#include "neurona/layers/image_args.h"
#include "neurona/layers/initializers.h"
#include "neurona/layers/layer.h"
#include "neurona/layers/regularizers.h"

namespace neurona::layers {

class LayerConfigReader {
 public:
  /// `who` names the layer in errors ("Dense", "config.json: Sequential layer 2 'dense'").
  /// ValueError when `config` is not a dict.
  LayerConfigReader(const ConfigValue& config, std::string who);
  const std::string& who() const { return who_; }

  /// The entry `key`, or nullptr when it is absent or None.
  const ConfigValue* find(const char* key) const;
  /// The entry `key`; ValueError when it is absent or None.
  const ConfigValue& need(const char* key) const;
  /// f(v), with a ValueError from it prefixed by the layer and the key.
  template <typename F>
  auto typed(const char* key, const ConfigValue& v, F f) const {
    try {
      return f(v);
    } catch (const ValueError& e) {
      throw ValueError(who_ + ": '" + key + "': " + e.what());
    }
  }

  std::int64_t integer(const char* key) const;
  std::int64_t integer(const char* key, std::int64_t def) const;
  /// `v` (an item of `key`) as an int.
  std::int64_t integer_of(const char* key, const ConfigValue& v) const;
  double number(const char* key, double def) const;
  bool boolean(const char* key, bool def) const;
  std::string string(const char* key, const std::string& def) const;
  /// `v` (the value of `key`) as a list of ints.
  std::vector<std::int64_t> ints(const char* key, const ConfigValue& v) const;
  /// An int or a pair of ints, as Keras's standardize_tuple takes.
  IntPair pair(const char* key, IntPair def) const;
  /// A shape as Keras writes it (None for an unknown dimension, read as -1).
  Shape shape(const char* key, const ConfigValue& v) const;

  /// A key whose only value neurona supports is `ok` (or absent / None).
  template <typename T>
  void only(const char* key, T ok, const char* feature) const {
    const ConfigValue* v = find(key);
    if (v == nullptr) return;
    bool same = false;
    if constexpr (std::is_same_v<T, bool>) {
      same = v->kind() == ConfigValue::Kind::Bool && v->as_bool() == ok;
    }
    NEURONA_CHECK(same, ValueError, who_, ": '", key, "' is set, but neurona does not support ",
                  feature);
  }
  /// A key neurona supports only as absent or None.
  void none(const char* key, const char* feature) const;

  /// 'dtype': a dtype name or a serialized DTypePolicy; absent: the global policy.
  DTypePolicy dtype() const;
  /// An InputLayer's dtype: a plain dtype (float32 when absent; int32, int64 or uint8 for an
  /// input of indices), never a mixed policy.
  DType input_dtype() const;
  /// The name in 'dtype' (a string, or a DTypePolicy's config name); nullopt when absent.
  std::optional<std::string> dtype_name() const;
  /// 'seed', when set.
  std::optional<std::uint64_t> seed() const;
  /// 'activation': the name of an activation ("linear" when absent).
  activations::Activation activation() const;
  /// A serialized initializer, regularizer or constraint (or its name) under `key`.
  initializers::Initializer initializer(const char* key,
                                        const initializers::Initializer& def) const;
  regularizers::Regularizer regularizer(const char* key) const;
  constraints::Constraint constraint(const char* key) const;
  /// name, trainable and dtype: the options every layer takes.
  LayerOptions layer_options() const;

 private:
  const ConfigValue& config_;
  std::string who_;
};

}  // namespace neurona::layers
