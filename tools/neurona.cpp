// The `neurona` command: neurona's main job from one line. `neurona train` trains the
// notebook's CNN (or an MLP) on Fashion-MNIST and writes the history, the weights and a loss /
// accuracy plot; `neurona evaluate` and `neurona predict` use saved weights; `neurona bench`
// times the training (tools/fit_benchmark.h, as benchmarks/bench_train).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>

#include "fashion_models.h"
#include "fit_benchmark.h"
#include "neurona/neurona.h"

namespace nr = neurona;
namespace fs = std::filesystem;

namespace {

// Checks for numeric options whose errors read "--batch-size: must be at least 1, got 0"
// (CLI11's own range check says "Value 0 not in range 0.000000 to 1797693134862315708145...").
// They run on the option's text, before CLI11 converts it, so a word or an out-of-range number
// gets the same kind of message.
template <typename T>
CLI::Validator whole_number(T min, T max = std::numeric_limits<T>::max()) {
  static_assert(std::is_integral_v<T>);
  std::ostringstream description;  // the help's "--epochs INT:at least 1=3"
  if (max == std::numeric_limits<T>::max()) {
    description << "at least " << min;
  } else {
    description << min << " to " << max;
  }
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        // Parsed as the widest integer of T's signedness, so that "-1" for an unsigned option
        // and "99999999999" for an int are reported against the range, not as unreadable.
        using Wide = std::conditional_t<std::is_signed_v<T>, long long, unsigned long long>;
        Wide value{};
        const char* end = text.data() + text.size();
        const bool negative = !text.empty() && text[0] == '-';
        const auto [ptr, ec] = std::from_chars(text.data(), end, value);
        std::ostringstream error;
        if (std::is_unsigned_v<T> && negative && text.size() > 1 &&
            text.find_first_not_of("0123456789", 1) == std::string::npos) {
          error << "must be at least " << min << ", got " << text;
        } else if (ec == std::errc::result_out_of_range && ptr == end) {
          error << "must be " << (negative ? "at least " : "at most ") << (negative ? min : max)
                << ", got " << text;
        } else if (ec != std::errc() || ptr != end) {
          error << "must be a whole number, got '" << text << "'";
        } else if (value < static_cast<Wide>(min)) {
          error << "must be at least " << min << ", got " << text;
        } else if (value > static_cast<Wide>(max)) {
          error << "must be at most " << max << ", got " << text;
        }
        return error.str();
      },
      description.str());
}

// A number in [min, max], checked as whole_number does.
CLI::Validator number_between(double min, double max) {
  std::ostringstream description;
  description << min << " to " << max;
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        std::ostringstream error;
        if (text.empty() || end != text.c_str() + text.size() || !(value == value)) {
          error << "must be a number from " << min << " to " << max << ", got '" << text << "'";
        } else if (value < min || value > max) {
          error << "must be from " << min << " to " << max << ", got " << text;
        }
        return error.str();
      },
      description.str());
}

void select_device(const std::string& device) {
  if (device == "auto") return;  // the default: the first GPU, else the CPU
  nr::set_default_device(nr::Device::parse(device));
}

// The first `limit` rows (all when limit <= 0 or larger than the set).
nr::Tensor head(const nr::Tensor& t, std::int64_t limit) {
  if (limit <= 0 || limit >= t.shape()[0]) return t;
  return t.slice(0, limit);
}

// Loss and accuracy per epoch, drawn with gnuplot into `png`. Returns false (after saying why)
// when gnuplot is missing or fails; the data and the script stay beside the plot.
bool plot_curves(const nr::callbacks::History& history, const fs::path& out_dir) {
  const fs::path data = out_dir / "curves.dat";
  const fs::path script = out_dir / "curves.gp";
  const fs::path png = out_dir / "curves.png";
  std::ostringstream rows;
  rows << "# epoch loss accuracy val_loss val_accuracy\n";
  auto value = [&](const char* name, std::size_t i) -> std::string {
    auto it = history.history.find(name);
    if (it == history.history.end() || i >= it->second.size()) return "NaN";
    return std::to_string(it->second[i]);
  };
  for (std::size_t i = 0; i < history.epoch.size(); ++i) {
    rows << history.epoch[i] + 1 << " " << value("loss", i) << " " << value("accuracy", i) << " "
         << value("val_loss", i) << " " << value("val_accuracy", i) << "\n";
  }
  nr::write_file_atomic(data, rows.str());
  const bool has_val = history.history.count("val_loss") > 0;
  std::ostringstream gp;
  gp << "set terminal pngcairo size 1000,420 noenhanced\n"
     << "set output '" << png.string() << ".tmp'\n"
     << "set multiplot layout 1,2\n"
     << "set xlabel 'epoch'\nset grid\nset key top right\nset offsets 0.5, 0.5, 0, 0\n"
     << "set title 'loss'\n"
     << "plot '" << data.string() << "' using 1:2 with linespoints title 'train'"
     << (has_val ? ", '' using 1:4 with linespoints title 'validation'" : "") << "\n"
     << "set key bottom right\nset title 'accuracy'\n"
     << "plot '" << data.string() << "' using 1:3 with linespoints title 'train'"
     << (has_val ? ", '' using 1:5 with linespoints title 'validation'" : "") << "\n"
     << "unset multiplot\nset output\n";
  nr::write_file_atomic(script, gp.str());
  // gnuplot's chatter (such as "empty x range" after one epoch) goes to a log beside the plot.
  const fs::path log = out_dir / "curves.log";
  const std::string cmd = "gnuplot '" + script.string() + "' > '" + log.string() + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::cerr << "neurona: gnuplot failed or is missing (apt-get install gnuplot-nox); see " << log
              << "; the data is in " << data << " and the script in " << script << "\n";
    return false;
  }
  // gnuplot wrote beside the target; the rename makes the plot appear whole.
  fs::rename(png.string() + ".tmp", png);
  return true;
}

int train(const std::string& kind, int epochs, std::int64_t batch_size, const std::string& out,
          const std::string& data_dir, std::int64_t train_limit, std::int64_t test_limit,
          double validation_split, std::uint64_t seed, int verbose) {
  nr::set_seed(seed);
  const fs::path out_dir(out);
  fs::create_directories(out_dir);
  auto data = nr::datasets::fashion_mnist(data_dir);
  const nr::Tensor x_train = head(data.x_train, train_limit);
  const nr::Tensor y_train = head(data.y_train, train_limit);
  const nr::Tensor x_test = head(data.x_test, test_limit);
  const nr::Tensor y_test = head(data.y_test, test_limit);
  std::cout << "neurona train: model " << kind << ", " << x_train.shape()[0] << " training and "
            << x_test.shape()[0] << " test images, device " << nr::default_device() << "\n";

  auto model = nr::tools::make_fashion_model(kind);
  const std::int64_t n_fit = validation_split > 0.0 ? nr::data::validation_split_index(
                                                          x_train.shape()[0], validation_split)
                                                    : x_train.shape()[0];
  nr::tools::compile_fashion_model(*model, kind, epochs * ((n_fit + batch_size - 1) / batch_size));
  model->summary();
  auto history =
      model->fit(x_train, y_train,
                 {.batch_size = batch_size,
                  .epochs = epochs,
                  .verbose = verbose,
                  .callbacks = {nr::callbacks::CSVLogger((out_dir / "history.csv").string())},
                  .validation_split = validation_split});
  const auto scores = model->evaluate(x_test, y_test, {.batch_size = 256, .verbose = 0});
  std::printf("Test loss: %.4f - test accuracy: %.4f\n", scores.at("loss"), scores.at("accuracy"));
  const fs::path weights = out_dir / (kind + ".weights.h5");
  model->save_weights(weights.string());
  // The plot first: gnuplot's failure is a line of its own on stderr, before this one.
  const bool plotted = plot_curves(history, out_dir);
  std::cout << "Wrote " << (out_dir / "history.csv").string() << ", " << weights.string()
            << (plotted ? ", " + (out_dir / "curves.png").string() : std::string()) << "\n";
  return 0;
}

int evaluate(const std::string& kind, const std::string& weights, const std::string& data_dir,
             std::int64_t test_limit) {
  auto data = nr::datasets::fashion_mnist(data_dir);
  auto model = nr::tools::make_fashion_model(kind);
  nr::tools::compile_fashion_model(*model, kind);
  model->load_weights(weights);
  const auto scores = model->evaluate(head(data.x_test, test_limit), head(data.y_test, test_limit),
                                      {.batch_size = 256, .verbose = 0});
  std::printf("Test loss: %.4f - test accuracy: %.4f\n", scores.at("loss"), scores.at("accuracy"));
  return 0;
}

int predict(const std::string& kind, const std::string& weights, const std::string& input,
            const std::string& output) {
  auto model = nr::tools::make_fashion_model(kind);
  model->load_weights(weights);
  nr::Tensor x = nr::data::load_npy(input);
  // A batch or one image, the channel axis optional where there is one channel:
  // (N, 28, 28, 1), (N, 28, 28), (28, 28, 1) or (28, 28) for the Fashion-MNIST models.
  const std::vector<std::int64_t> batch_shape = model->build_input_shape().dims();
  const std::vector<std::int64_t> image(batch_shape.begin() + 1, batch_shape.end());
  const std::vector<std::int64_t> plain(image.begin(), image.end() - 1);  // without channels
  const bool one_channel = image.back() == 1;
  std::vector<std::int64_t> dims = x.shape().dims();
  const auto is = [&](const std::vector<std::int64_t>& tail, std::size_t leading) {
    return dims.size() == tail.size() + leading &&
           std::equal(tail.begin(), tail.end(),
                      dims.begin() + static_cast<std::ptrdiff_t>(leading));
  };
  if (is(image, 0) || (one_channel && is(plain, 0))) dims.insert(dims.begin(), 1);
  if (one_channel && is(plain, 1)) dims.push_back(1);
  if (!is(image, 1)) {
    throw nr::ValueError(nr::detail::str(
        "predict: the ", kind, " model takes images of shape ", nr::Shape(image),
        one_channel ? nr::detail::str(" or ", nr::Shape(plain)) : std::string(),
        ", one image or a batch of them; ", input, " holds an array of shape ", x.shape()));
  }
  x = x.reshape(nr::Shape(dims));
  if (x.dtype() == nr::DType::uint8) x = nr::cast(x, nr::DType::float32) / 255.0;
  const nr::Tensor probs = model->predict(x.to(nr::default_device()), {.batch_size = 256});
  const auto classes = nr::argmax(probs, -1).to(nr::Device::cpu()).to_vector<std::int64_t>();
  const auto& names = nr::datasets::fashion_mnist_class_names;
  for (std::size_t i = 0; i < classes.size(); ++i) {
    std::cout << i << "\t" << classes[i] << "\t" << names.at(static_cast<std::size_t>(classes[i]))
              << "\n";
  }
  if (!output.empty()) nr::data::save_npy(output, probs);
  return 0;
}

int bench(const nr::tools::FitBenchmarkOptions& options) {
  const auto result = nr::tools::run_fit_benchmark(options);
  std::printf("%s\n%s\n", nr::tools::fit_benchmark_summary(result).c_str(),
              nr::tools::fit_benchmark_json(result).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"neurona: Keras-style deep learning in C++ on the GPU or the CPU"};
  app.require_subcommand(1);

  std::string kind = "cnn";
  std::string device = "auto";
  std::string data_dir;
  int epochs = 3;
  std::int64_t batch_size = 128;
  std::string out = "runs/fashion";
  std::int64_t train_limit = 0;
  std::int64_t test_limit = 0;
  double validation_split = 0.0;
  std::uint64_t seed = 1;
  int verbose = nr::kVerboseAuto;
  std::string dtype_policy = "float32";
  std::string weights;
  std::string input;
  std::string output;

  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--model", kind, "cnn, mlp or resnet (ResNet-20 on the images padded to 32x32)")
        ->check(CLI::IsMember({"cnn", "mlp", "resnet"}))
        ->capture_default_str();
    cmd->add_option("--device", device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    cmd->add_option("--data-dir", data_dir,
                    "Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)");
    cmd->add_option("--dtype-policy", dtype_policy,
                    "float32, mixed_bfloat16 or mixed_float16 (Keras's mixed precision)")
        ->check(CLI::IsMember({"float32", "mixed_bfloat16", "mixed_float16"}))
        ->capture_default_str();
  };
  CLI::App* train_cmd = app.add_subcommand("train", "train on Fashion-MNIST and report accuracy");
  add_common(train_cmd);
  train_cmd->add_option("--epochs", epochs, "epochs")
      ->check(whole_number(1))
      ->capture_default_str();
  train_cmd->add_option("--batch-size", batch_size, "samples per batch")
      ->check(whole_number<std::int64_t>(1))
      ->capture_default_str();
  train_cmd->add_option("--out", out, "folder for history.csv, the weights and curves.png")
      ->capture_default_str();
  train_cmd->add_option("--train-samples", train_limit, "use only the first N training images")
      ->check(whole_number<std::int64_t>(0));
  train_cmd->add_option("--test-samples", test_limit, "use only the first N test images")
      ->check(whole_number<std::int64_t>(0));
  train_cmd
      ->add_option("--validation-split", validation_split,
                   "fraction of the training images held out for validation")
      ->check(number_between(0.0, 0.99));
  train_cmd->add_option("--seed", seed, "random seed (weights and shuffling)")
      ->check(whole_number<std::uint64_t>(0))
      ->capture_default_str();
  train_cmd->add_option("--verbose", verbose, "0 silent, 1 progress bar, 2 one line per epoch")
      ->check(whole_number(0, 2));

  CLI::App* eval_cmd = app.add_subcommand("evaluate", "test loss and accuracy of saved weights");
  add_common(eval_cmd);
  eval_cmd->add_option("--weights", weights, ".weights.h5 file")->required();
  eval_cmd->add_option("--test-samples", test_limit, "use only the first N test images")
      ->check(whole_number<std::int64_t>(0));

  CLI::App* predict_cmd = app.add_subcommand("predict", "classify images from a .npy file");
  add_common(predict_cmd);
  predict_cmd->add_option("--weights", weights, ".weights.h5 file")->required();
  predict_cmd
      ->add_option("--input", input,
                   ".npy of images (N, 28, 28[, 1]) or one (28, 28[, 1]), uint8 or float")
      ->required();
  predict_cmd->add_option("--output", output, "write the class probabilities to this .npy");

  CLI::App* bench_cmd = app.add_subcommand(
      "bench", "seconds per training epoch, test accuracy and allocations, as a JSON line");
  add_common(bench_cmd);
  bench_cmd
      ->add_option("--epochs", epochs, "epochs (2 or more to count allocations after the first)")
      ->check(whole_number(1))
      ->capture_default_str();
  bench_cmd->add_option("--batch-size", batch_size, "samples per batch")
      ->check(whole_number<std::int64_t>(1))
      ->capture_default_str();
  bench_cmd->add_option("--train-samples", train_limit, "use only the first N training images")
      ->check(whole_number<std::int64_t>(0));
  bench_cmd->add_option("--test-samples", test_limit, "use only the first N test images")
      ->check(whole_number<std::int64_t>(0));
  bench_cmd->add_option("--seed", seed, "random seed (weights and shuffling)")
      ->check(whole_number<std::uint64_t>(0))
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  try {
    select_device(device);
    nr::mixed_precision::set_global_policy(dtype_policy);
    if (train_cmd->parsed()) {
      return train(kind, epochs, batch_size, out, data_dir, train_limit, test_limit,
                   validation_split, seed, verbose);
    }
    if (eval_cmd->parsed()) return evaluate(kind, weights, data_dir, test_limit);
    if (predict_cmd->parsed()) return predict(kind, weights, input, output);
    if (bench_cmd->parsed()) {
      return bench({.model = kind,
                    .epochs = epochs,
                    .batch_size = batch_size,
                    .train_samples = train_limit,
                    .test_samples = test_limit,
                    .data_dir = data_dir,
                    .seed = seed});
    }
  } catch (const std::exception& e) {
    std::cerr << "neurona: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
