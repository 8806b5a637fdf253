// The child process of BackupAndRestore's kill test (tests/models/backup_and_restore_test.cpp):
// a small deterministic fit (shuffling, Dropout, Adam, validation) with a backup every epoch,
// which then writes its History, weights and optimizer state, exactly, to a file (atomically).
//   backup_fit_child <backup_dir> <result_file>
#include <neurona/neurona.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace nr = neurona;

namespace {

constexpr int kEpochs = 12;

// Three classes from the signs of the first two features, as int32 labels.
nr::Tensor labels_of(const nr::Tensor& x) {
  const std::vector<float> v = x.to_vector<float>();
  const std::int64_t n = x.shape()[0], d = x.shape()[1];
  std::vector<std::int32_t> y(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    y[static_cast<std::size_t>(i)] = (v[static_cast<std::size_t>(i * d)] > 0.0f ? 1 : 0) +
                                     (v[static_cast<std::size_t>(i * d + 1)] > 0.0f ? 1 : 0);
  }
  return nr::constant(y, {n});
}

// Every bit of each value: %a prints a double exactly.
void write_values(std::string& out, const std::vector<double>& values) {
  char buf[64];
  for (double v : values) {
    std::snprintf(buf, sizeof buf, " %a", v);
    out += buf;
  }
  out += "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: backup_fit_child <backup_dir> <result_file>\n";
    return 2;
  }
  try {
    nr::set_seed(5);
    const nr::Tensor x = nr::random_normal({192, 8}, {.seed = 11});
    const nr::Tensor x_val = nr::random_normal({48, 8}, {.seed = 12});
    nr::Sequential model({nr::layers::Input({8}), nr::layers::Dense(16, {.activation = "relu"}),
                          nr::layers::Dropout(0.25), nr::layers::Dense(3)});
    model.compile({.optimizer = nr::optimizers::Adam(1e-2),
                   .loss = nr::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                   .metrics = {"accuracy"}});
    const nr::callbacks::History history =
        model.fit(x, labels_of(x),
                  {.batch_size = 32,
                   .epochs = kEpochs,
                   .verbose = 0,
                   .callbacks = {nr::callbacks::BackupAndRestore(argv[1])},
                   .validation_data = nr::ValidationData{x_val, labels_of(x_val)}});

    std::string out = "epoch";
    std::vector<double> epochs(history.epoch.begin(), history.epoch.end());
    write_values(out, epochs);
    for (const auto& [name, values] : history.history) {
      out += name;
      write_values(out, values);
    }
    for (const nr::Tensor& w : model.get_weights()) {
      out += "weight";
      write_values(out, nr::cast(w, nr::DType::float64).to_vector<double>());
    }
    for (const nr::Variable& v : model.optimizer()->variables()) {
      out += v.name();
      write_values(out, nr::cast(v.read_value(), nr::DType::float64).to_vector<double>());
    }
    nr::write_file_atomic(argv[2], out);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "backup_fit_child: " << e.what() << "\n";
    return 1;
  }
}
