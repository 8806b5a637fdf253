// Registry<T>: name -> entry (a factory, a function), the one form of neurona's name tables
// (layers, activations, initializers, optimizers, losses, ...), so that an unknown name gives
// the same kind of error everywhere: the caller's wording followed by the valid names, sorted.
//   Registry<Factory> r{{"relu", make_relu}, {{"tanh", "Tanh"}, make_tanh}};  // with an alias
//   r.add({"mse", "mean_squared_error"}, make_mse);  // later additions, aliases alike
//   r.get(name, "Could not interpret activation function identifier: '", "'. Valid names: ");
#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "neurona/core/error.h"

namespace neurona {

/// A thread-safe table from names to entries of type T. Lookups copy the entry out, so an
/// entry replaced by another thread is never read half-written.
template <typename T>
class Registry {
 public:
  /// One item of the list constructor: {name, entry}, or {{name, alias, ...}, entry}.
  struct Named {
    Named(std::string_view name, T value) : names{name}, entry(std::move(value)) {}
    Named(std::initializer_list<std::string_view> aliases, T value)
        : names(aliases), entry(std::move(value)) {}
    std::vector<std::string_view> names;
    T entry;
  };

  /// The given entries, each under its name and aliases (a repeated name is a ValueError):
  ///   Registry<Fn> r{{"relu", relu_fn}, {{"mse", "mean_squared_error"}, mse_fn}};
  Registry(std::initializer_list<Named> entries) {
    for (const Named& item : entries) {
      for (std::string_view name : item.names) add(std::string(name), item.entry);
    }
  }
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Adds `entry` under `name`. A name already present is a ValueError unless `replace` is
  /// true, in which case the new entry takes its place.
  void add(const std::string& name, T entry, bool replace = false) {
    NEURONA_CHECK(!name.empty(), ValueError, "Registry: an entry needs a name");
    std::lock_guard lock(mu_);
    auto [it, inserted] = entries_.try_emplace(name, std::move(entry));
    NEURONA_CHECK(inserted || replace, ValueError, "Registry: '", name, "' is already registered");
    // try_emplace leaves `entry` untouched when the name is present.
    if (!inserted) it->second = std::move(entry);
  }

  /// Adds a copy of `entry` under each of `names` (a name and its aliases); a name already
  /// present is a ValueError.
  void add(std::initializer_list<std::string_view> names, const T& entry) {
    for (std::string_view name : names) add(std::string(name), entry);
  }

  /// The entry for `name`, or nothing.
  std::optional<T> find(std::string_view name) const {
    std::lock_guard lock(mu_);
    const auto it = entries_.find(name);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }

  bool contains(std::string_view name) const {
    std::lock_guard lock(mu_);
    return entries_.find(name) != entries_.end();
  }

  /// The names, sorted.
  std::vector<std::string> names() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& [name, entry] : entries_) out.push_back(name);
    return out;
  }

  /// The names, sorted, joined by ", " (for messages).
  std::string joined_names() const { return join(names()); }

  /// The entry for `name`; otherwise ValueError(before + name + after + the valid names), so
  /// that each caller keeps its own wording:
  ///   get("rleu", "Could not interpret activation function identifier: '", "'. Valid names: ")
  T get(const std::string& name, std::string_view before, std::string_view after) const {
    if (std::optional<T> entry = find(name)) return *std::move(entry);
    throw ValueError(detail::str(before, name, after, joined_names()));
  }

  /// `names` joined by ", ", or by `last_separator` before the last ("a, b and c").
  static std::string join(const std::vector<std::string>& names,
                          std::string_view last_separator = ", ") {
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i > 0) out += i + 1 == names.size() ? last_separator : ", ";
      out += names[i];
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, T, std::less<>> entries_;
};

}  // namespace neurona
