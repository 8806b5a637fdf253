// Reference files made by the scripts in tests/reference/ (Keras, NumPy): lines
// `name dim0 dim1 ... : v0 v1 ...` (and `#` comments), read into a map from name to shape and
// values.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "neurona/core/shape.h"
#include "neurona/core/tensor.h"
#include "support/paths.h"

namespace neurona::testing {

struct ReferenceEntry {
  Shape shape;
  std::vector<double> values;
};
using Reference = std::map<std::string, ReferenceEntry>;

/// A reference file at `path` (any name: .txt, .io.txt, ...).
inline Reference parse_reference(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  Reference entries;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t colon = line.find(" : ");
    if (colon == std::string::npos) throw std::runtime_error("bad line in " + path.string());
    std::istringstream head(line.substr(0, colon)), body(line.substr(colon + 3));
    std::string key;
    head >> key;
    std::vector<std::int64_t> dims;
    for (std::int64_t d; head >> d;) dims.push_back(d);
    ReferenceEntry e{Shape(dims), {}};
    for (double v; body >> v;) e.values.push_back(v);
    if (static_cast<std::int64_t>(e.values.size()) != e.shape.numel()) {
      throw std::runtime_error("wrong value count for " + key + " in " + path.string());
    }
    entries[key] = std::move(e);
  }
  return entries;
}

/// Writes `t` as one line of a reference file, `name dim0 ... : v0 v1 ...` (9 significant
/// digits), for the fixtures that the reference scripts check with Keras.
inline void write_reference_line(std::ostream& out, const std::string& name, const Tensor& t) {
  out << name;
  for (std::int64_t d : t.shape().dims()) out << ' ' << d;
  out << " :";
  const auto precision = out.precision(9);
  for (double v : t.to_vector<double>()) out << ' ' << v;
  out << '\n';
  out.precision(precision);
}

/// tests/reference/<folder>/<name>.txt.
inline Reference load_reference(const std::string& folder, const std::string& name) {
  return parse_reference(reference_dir() / folder / (name + ".txt"));
}

}  // namespace neurona::testing
