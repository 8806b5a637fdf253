// Registry<T>: name -> entry (a factory, a function), the one form of neurona's name tables
// (layers, activations, initializers, optimizers, losses, ...), so that an unknown name gives
// the same kind of error everywhere: the caller's wording followed by the valid names, sorted.
//   Registry<Factory> r;
//   r.add("relu", make_relu);
//   r.get(name, "Could not interpret activation function identifier: '", "'. Valid names: ");
#pragma once

#include <functional>
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

  /// `names` joined by ", ".
  static std::string join(const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& n : names) {
      if (!out.empty()) out += ", ";
      out += n;
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, T, std::less<>> entries_;
};

}  // namespace neurona
