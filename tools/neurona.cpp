// The `neurona` command: neurona's main job from one line. `neurona train` trains the
// notebook's CNN (or an MLP) on Fashion-MNIST and writes the history, the weights and a loss /
// accuracy plot; `neurona evaluate` and `neurona predict` use saved weights; `neurona bench`
// times the training (tools/fit_benchmark.h, as benchmarks/bench_train), or that of ResNet-50
// and GPT-2 small on synthetic data (tools/model_benchmark.h).
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

#include "charlm.h"
#include "fashion_models.h"
#include "fit_benchmark.h"
#include "model_benchmark.h"
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

// `neurona train --model charlm`'s text when --text is not given: the fortune cookies of
// Debian's `fortunes` and `fortunes-min` packages (BSD licence; scripts/bootstrap.sh installs
// them), 2.6 MB of English in UTF-8.
constexpr std::string_view kDefaultCorpus = "/usr/share/games/fortunes";

void select_device(const std::string& device) {
  if (device == "auto") return;  // the default: the first GPU, else the CPU
  nr::set_default_device(nr::Device::parse(device));
}

// `--distributed`: joins the job mpirun started (one replica per process, DataParallel). Each
// rank takes the GPU of its local rank (Open MPI's OMPI_COMM_WORLD_LOCAL_RANK) where the device
// is "auto" or "cuda" and there are GPUs, before DataParallel picks its transport (NCCL binds
// to the default device); the ranks but rank 0 print nothing on stdout (errors still reach
// stderr) and write no files.
void join_distributed_job(const std::string& device) {
  const int gpus = nr::cuda_device_count();
  if ((device == "auto" || device == "cuda") && gpus > 0) {
    const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    const int rank =
        local != nullptr ? std::atoi(local) : nr::distribution::mpi_communicator()->rank();
    nr::set_default_device(nr::Device::cuda(rank % gpus));
  } else {
    select_device(device);
  }
  auto dp = std::make_shared<nr::distribution::DataParallel>();
  nr::distribution::set_distribution(dp);
  if (!dp->is_chief()) std::cout.rdbuf(nullptr);
}

// The first `limit` rows (all when limit <= 0 or larger than the set).
nr::Tensor head(const nr::Tensor& t, std::int64_t limit) {
  if (limit <= 0 || limit >= t.shape()[0]) return t;
  return t.slice(0, limit);
}

// Loss and `metric` (accuracy, or bits per character) per epoch, drawn with gnuplot into `png`.
// Returns false (after saying why) when gnuplot is missing or fails; the data and the script stay
// beside the plot.
bool plot_curves(const nr::callbacks::History& history, const fs::path& out_dir,
                 const std::string& metric = "accuracy") {
  const fs::path data = out_dir / "curves.dat";
  const fs::path script = out_dir / "curves.gp";
  const fs::path png = out_dir / "curves.png";
  std::ostringstream rows;
  const std::string val_metric = nr::detail::str("val_", metric);
  rows << "# epoch loss " << metric << " val_loss " << val_metric << "\n";
  auto value = [&](const char* name, std::size_t i) -> std::string {
    auto it = history.history.find(name);
    if (it == history.history.end() || i >= it->second.size()) return "NaN";
    return std::to_string(it->second[i]);
  };
  for (std::size_t i = 0; i < history.epoch.size(); ++i) {
    rows << history.epoch[i] + 1 << " " << value("loss", i) << " " << value(metric.c_str(), i)
         << " " << value("val_loss", i) << " " << value(val_metric.c_str(), i) << "\n";
  }
  nr::write_file_atomic(data, rows.str(), "neurona train (curves)");
  const bool has_val = history.history.count("val_loss") > 0;
  std::ostringstream gp;
  gp << "set terminal pngcairo size 1000,420 noenhanced\n"
     << "set output '" << png.string() << ".tmp'\n"
     << "set multiplot layout 1,2\n"
     << "set xlabel 'epoch'\nset grid\nset key top right\nset offsets 0.5, 0.5, 0, 0\n"
     << "set title 'loss'\n"
     << "plot '" << data.string() << "' using 1:2 with linespoints title 'train'"
     << (has_val ? ", '' using 1:4 with linespoints title 'validation'" : "") << "\n"
     << (metric == "accuracy" ? "set key bottom right\n" : "set key top right\n") << "set title '"
     << metric << "'\n"
     << "plot '" << data.string() << "' using 1:3 with linespoints title 'train'"
     << (has_val ? ", '' using 1:5 with linespoints title 'validation'" : "") << "\n"
     << "unset multiplot\nset output\n";
  nr::write_file_atomic(script, gp.str(), "neurona train (curves)");
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

// The callbacks of every `neurona train`: history.csv, TensorBoard's logs when asked, and
// BackupAndRestore in `backup_dir` (`--backup-dir`: a killed run started again resumes).
std::vector<nr::callbacks::CallbackRef> train_callbacks(
    const fs::path& out_dir, const std::shared_ptr<nr::callbacks::TensorBoard>& tensorboard,
    bool append = false, const std::string& backup_dir = "") {
  std::vector<nr::callbacks::CallbackRef> callbacks{
      nr::callbacks::CSVLogger((out_dir / "history.csv").string(), {.append = append})};
  if (tensorboard) callbacks.emplace_back(tensorboard);
  if (!backup_dir.empty()) callbacks.emplace_back(nr::callbacks::BackupAndRestore(backup_dir));
  return callbacks;
}

// `--tensorboard DIR`: epoch and batch scalars (every 50 batches), weight histograms and the
// weights as images (write_images: the first convolution's kernels, the biases).
std::shared_ptr<nr::callbacks::TensorBoard> make_tensorboard(const std::string& log_dir) {
  if (log_dir.empty()) return nullptr;
  return std::make_shared<nr::callbacks::TensorBoard>(nr::callbacks::TensorBoardOptions{
      .log_dir = log_dir, .histogram_freq = 1, .write_images = true, .update_freq = 50});
}

// `--augment`: each image flipped left to right at random and shifted by up to a tenth of its
// size (the vacated border black, as the background of Fashion-MNIST), on the map's worker
// threads (nr::layers::RandomFlip and RandomTranslation inside Dataset.map).
nr::data::Dataset augment_batches(const nr::data::Dataset& batches, std::uint64_t seed,
                                  double scale = 1.0) {
  const nr::layers::RandomFlip flip("horizontal");
  const nr::layers::RandomTranslation shift(0.1, 0.1, {.fill_mode = "constant"});
  return batches.map(
      [flip, shift, scale](const nr::data::Element& e) {
        const nr::Tensor x = scale == 1.0 ? e[0] : e[0] * scale;
        return nr::data::Element{shift->call(flip->call(x, true), true), e[1]};
      },
      {.num_parallel_calls = nr::data::kAutotune, .seed = seed});
}

// The training images as a Dataset: shuffled, batched, augmented, and copied to the model's
// device ahead of the step.
nr::data::Dataset augmented_batches(const nr::Tensor& x, const nr::Tensor& y,
                                    std::int64_t batch_size, std::uint64_t seed) {
  return augment_batches(nr::data::Dataset::from_tensor_slices({x, y})
                             .shuffle(x.shape()[0], {.seed = seed})
                             .batch(batch_size),
                         seed)
      .prefetch(2, nr::default_device());
}

// Fashion-MNIST's class folders for `export-images` and `--image-dir`: the index first, so that
// image_dataset_from_directory's sorted class names keep the data set's label order.
std::string class_folder(std::size_t label) {
  std::string name(nr::datasets::fashion_mnist_class_names[label]);
  std::replace(name.begin(), name.end(), '/', '_');
  return std::to_string(label) + "_" + name;
}

// `neurona export-images`: Fashion-MNIST as PNG files in class folders, out/train and out/test.
int export_images(const std::string& data_dir, const std::string& out, std::int64_t train_limit,
                  std::int64_t test_limit) {
  const auto data = nr::datasets::fashion_mnist(data_dir);
  const auto write = [&](const nr::Tensor& x, const nr::Tensor& y, const fs::path& dir) {
    for (std::size_t c = 0; c < nr::datasets::fashion_mnist_class_names.size(); ++c) {
      fs::create_directories(dir / class_folder(c));
    }
    const nr::Tensor bytes = nr::cast(x * 255.0 + 0.5, nr::uint8);  // rounded: x = b / 255
    const auto labels = y.to_vector<std::int64_t>();
    for (std::int64_t i = 0; i < x.shape()[0]; ++i) {
      char name[32];
      std::snprintf(name, sizeof(name), "%05lld.png", static_cast<long long>(i));
      const std::size_t label = static_cast<std::size_t>(labels[static_cast<std::size_t>(i)]);
      nr::data::write_png((dir / class_folder(label) / name).string(),
                          bytes.slice(i, i + 1).reshape({28, 28, 1}));
    }
    std::printf("wrote %lld images to %s\n", static_cast<long long>(x.shape()[0]),
                dir.string().c_str());
  };
  write(head(data.x_train, train_limit), head(data.y_train, train_limit), fs::path(out) / "train");
  write(head(data.x_test, test_limit), head(data.y_test, test_limit), fs::path(out) / "test");
  return 0;
}

// `--image-dir DIR`: the training images from DIR's class folders (image_dataset_from_directory:
// 28 x 28 grayscale, shuffled with the seed; the validation subset from the same folder),
// scaled to [0, 1] and, with --augment, augmented on the map's workers.
std::pair<nr::data::Dataset, std::optional<nr::data::Dataset>> image_dir_batches(
    const std::string& dir, std::int64_t batch_size, double validation_split, std::uint64_t seed,
    bool augment) {
  nr::data::ImageDirectoryOptions o{
      .color_mode = "grayscale", .batch_size = batch_size, .image_size = {28, 28}, .seed = seed};
  // One map per batch: scaled and, for the training part with --augment, augmented there.
  const auto finish = [&](const nr::data::Dataset& d, bool train_part) {
    if (train_part && augment) {
      return augment_batches(d, seed, 1.0 / 255.0).prefetch(2, nr::default_device());
    }
    return d
        .map([](const nr::data::Element& e) {
          return nr::data::Element{e[0] * (1.0 / 255.0), e[1]};
        })
        .prefetch(2, nr::default_device());
  };
  if (validation_split > 0.0) {
    o.validation_split = validation_split;
    o.subset = "both";
    auto [train_part, val_part] = nr::data::image_datasets_from_directory(dir, o);
    return {finish(train_part.dataset, true), finish(val_part.dataset, false)};
  }
  return {finish(nr::data::image_dataset_from_directory(dir, o).dataset, true), std::nullopt};
}

// `neurona train` of a Fashion-MNIST model: its command-line options.
struct TrainJob {
  std::string kind;
  int epochs = 1;
  std::int64_t batch_size = 128;
  std::string out, data_dir;
  std::int64_t train_limit = 0, test_limit = 0;
  double validation_split = 0.0;
  std::uint64_t seed = 1;
  int verbose = 1;
  std::string tensorboard_dir;
  bool augment = false;
  std::string image_dir, backup_dir;
  bool sync_batch_norm = false;
};

int train(const TrainJob& job) {
  const std::string& kind = job.kind;
  const int epochs = job.epochs;
  const std::int64_t batch_size = job.batch_size;
  const double validation_split = job.validation_split;
  const std::uint64_t seed = job.seed;
  const int verbose = job.verbose;
  const bool augment = job.augment;
  const std::string &image_dir = job.image_dir, &backup_dir = job.backup_dir,
                    &tensorboard_dir = job.tensorboard_dir;
  nr::set_seed(seed);
  const fs::path out_dir(job.out);
  fs::create_directories(out_dir);
  auto data = nr::datasets::fashion_mnist(job.data_dir);
  const nr::Tensor x_train = head(data.x_train, job.train_limit);
  const nr::Tensor y_train = head(data.y_train, job.train_limit);
  const nr::Tensor x_test = head(data.x_test, job.test_limit);
  const nr::Tensor y_test = head(data.y_test, job.test_limit);
  std::cout << "neurona train: model " << kind << ", "
            << (image_dir.empty() ? std::to_string(x_train.shape()[0]) : "the")
            << " training images" << (image_dir.empty() ? "" : " of " + image_dir) << " and "
            << x_test.shape()[0] << " test images, device " << nr::default_device() << "\n";

  auto model = nr::tools::make_fashion_model(kind, job.sync_batch_norm);
  const std::int64_t n_fit = validation_split > 0.0 ? nr::data::validation_split_index(
                                                          x_train.shape()[0], validation_split)
                                                    : x_train.shape()[0];
  nr::tools::compile_fashion_model(*model, kind, epochs * ((n_fit + batch_size - 1) / batch_size));
  model->summary();
  nr::callbacks::History history;
  if (!image_dir.empty()) {
    auto [train_part, val_part] =
        image_dir_batches(image_dir, batch_size, validation_split, seed, augment);
    std::optional<nr::ValidationData> validation;
    if (val_part) validation = nr::ValidationData{.dataset = *val_part};
    history = model->fit(train_part,
                         {.epochs = epochs,
                          .verbose = verbose,
                          .callbacks = train_callbacks(out_dir, make_tensorboard(tensorboard_dir),
                                                       /*append=*/false, backup_dir),
                          .validation_data = validation});
  } else if (augment) {
    // The held-out part as fit's validation_split takes it: the last fraction, unshuffled.
    std::optional<nr::ValidationData> validation;
    nr::Tensor x_fit = x_train, y_fit = y_train;
    if (validation_split > 0.0) {
      auto [fit_part, val_part] =
          nr::data::train_validation_split({x_train, y_train}, validation_split);
      x_fit = fit_part[0];
      y_fit = fit_part[1];
      validation = nr::ValidationData{{val_part[0]}, {val_part[1]}};
    }
    history = model->fit(augmented_batches(x_fit, y_fit, batch_size, seed),
                         {.epochs = epochs,
                          .verbose = verbose,
                          .callbacks = train_callbacks(out_dir, make_tensorboard(tensorboard_dir),
                                                       /*append=*/false, backup_dir),
                          .validation_data = validation});
  } else {
    history = model->fit(x_train, y_train,
                         {.batch_size = batch_size,
                          .epochs = epochs,
                          .verbose = verbose,
                          .callbacks = train_callbacks(out_dir, make_tensorboard(tensorboard_dir),
                                                       /*append=*/false, backup_dir),
                          .validation_split = validation_split});
  }
  // Every rank evaluates (its part of the test images, the metrics summed); rank 0 writes.
  const auto scores = model->evaluate(x_test, y_test, {.batch_size = 256, .verbose = 0});
  if (!nr::distribution::is_chief()) return 0;
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

// `neurona train --model charlm`'s arguments.
struct CharLMTrainOptions {
  std::string text;
  std::string out;
  nr::tools::TransformerLMConfig model;
  std::int64_t batch_size = 32;
  int epochs = 3;
  /// Batches per epoch, drawn at random places in the training text, fresh every epoch; 0:
  /// every window of the training text side by side, once per epoch.
  std::int64_t steps_per_epoch = 0;
  double learning_rate = 1e-3;
  /// -1: a tenth of the run's steps, at most 100.
  std::int64_t warmup_steps = -1;
  double weight_decay = 0.01;
  std::uint64_t seed = 1;
  int verbose = nr::kVerboseAuto;
  /// TensorBoard's log folder ("": none).
  std::string tensorboard;
};

// Ends fit after the epoch it is in (Keras's model.stop_training from a callback): the charlm
// draws fresh windows for each epoch and fits them one epoch at a time, keeping the progress
// bar's "Epoch k/N".
class StopAfterEpoch : public nr::callbacks::Callback {
 public:
  void on_epoch_end(int /*epoch*/, nr::callbacks::Logs& /*logs*/) override {
    model().set_stop_training(true);
  }
};

// Trains the character transformer on a text: the last 10% for validation, AdamW with a linear
// warmup to the learning rate then a cosine decay to a tenth of it over the run; writes
// history.csv, curves.png (loss and bits per character), charlm.weights.h5 and charlm.json.
int train_charlm(CharLMTrainOptions o) {
  nr::set_seed(o.seed);
  const fs::path out_dir(o.out);
  const std::string text = nr::data::read_text(o.text);
  const auto vocab = nr::data::CharVocabulary::from_text(text);
  const auto split = nr::data::split_text(vocab.encode(text, "train"), 0.1);
  const std::int64_t context = o.model.context;
  if (static_cast<std::int64_t>(split.validation.size()) < context + 1) {
    throw nr::ValueError(nr::detail::str(
        "train: the validation text (the last 10% of ", o.text, ", ", split.validation.size(),
        " characters) is shorter than one window of --context ", context,
        " plus its target; use a longer text or a smaller --context"));
  }
  // With --steps-per-epoch every epoch draws its own windows (the seed's Philox stream of
  // that epoch), as nanoGPT samples fresh batches; without, the same side-by-side windows.
  const auto training_windows = [&](int epoch) {
    return o.steps_per_epoch > 0 ? nr::data::random_char_windows(
                                       split.train, context, o.steps_per_epoch * o.batch_size,
                                       o.seed + static_cast<std::uint64_t>(epoch))
                                 : nr::data::char_windows(split.train, context);
  };
  nr::data::TextWindows train = training_windows(0);
  const nr::data::TextWindows val = nr::data::char_windows(split.validation, context);
  o.model.vocab_size = vocab.size();
  nr::tools::TransformerLM model(o.model);  // checks the sizes before anything is printed
  std::cout << "neurona train: model charlm, " << text.size() << " bytes of " << o.text << ", "
            << vocab.size() << " characters in the vocabulary, " << train.x.shape()[0]
            << " training and " << val.x.shape()[0] << " validation windows of " << context
            << ", device " << nr::default_device() << "\n";

  const std::int64_t steps_per_epoch = (train.x.shape()[0] + o.batch_size - 1) / o.batch_size;
  const std::int64_t total = steps_per_epoch * o.epochs;
  const std::int64_t warmup =
      o.warmup_steps >= 0 ? o.warmup_steps : std::min<std::int64_t>(100, total / 10);
  namespace sch = nr::optimizers::schedules;
  const sch::CosineDecay schedule(
      0.0, std::max<std::int64_t>(1, total - warmup),
      {.alpha = 0.1, .warmup_target = o.learning_rate, .warmup_steps = warmup});
  model.compile({.optimizer = nr::optimizers::AdamW(
                     schedule, {.weight_decay = o.weight_decay, .global_clipnorm = 1.0}),
                 .loss = nr::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {nr::tools::bits_per_character()}});
  model(val.x.slice(0, 1).to(nr::default_device()));  // builds it, for the summary
  model.summary();
  fs::create_directories(out_dir);
  nr::callbacks::History history;
  const auto tensorboard = make_tensorboard(o.tensorboard);  // one for every epoch's fit
  const auto fit = [&](int first_epoch, bool one_epoch) {
    std::vector<nr::callbacks::CallbackRef> callbacks =
        train_callbacks(out_dir, tensorboard, /*append=*/first_epoch > 0);
    if (one_epoch) callbacks.emplace_back(StopAfterEpoch());
    const nr::callbacks::History h =
        model.fit(train.x, train.y,
                  {.batch_size = o.batch_size,
                   .epochs = o.epochs,
                   .verbose = o.verbose,
                   .callbacks = std::move(callbacks),
                   .validation_data = nr::ValidationData{{val.x}, {val.y}},
                   .initial_epoch = first_epoch});
    for (const auto& [key, values] : h.history) {
      auto& all = history.history[key];
      all.insert(all.end(), values.begin(), values.end());
    }
    history.epoch.insert(history.epoch.end(), h.epoch.begin(), h.epoch.end());
  };
  if (o.steps_per_epoch > 0) {
    // One epoch per fit; the optimizer's step count carries the schedule on.
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
      if (epoch > 0) train = training_windows(epoch);
      fit(epoch, /*one_epoch=*/true);
    }
  } else {
    fit(0, /*one_epoch=*/false);
  }
  if (!nr::distribution::is_chief()) return 0;  // --distributed: rank 0 reports and writes
  const auto& val_bpc = history.history.at("val_bpc");
  std::printf("Validation loss: %.4f - validation bits per character: %.4f\n",
              history.history.at("val_loss").back(), val_bpc.back());
  const fs::path weights = out_dir / "charlm.weights.h5";
  model.save_weights(weights.string());
  const fs::path settings = nr::tools::charlm_config_path(weights);
  nr::tools::save_charlm_config(settings, model.config(), vocab, o.text);
  const bool plotted = plot_curves(history, out_dir, "bpc");
  std::cout << "Wrote " << (out_dir / "history.csv").string() << ", " << weights.string() << ", "
            << settings.string()
            << (plotted ? ", " + (out_dir / "curves.png").string() : std::string()) << "\n";
  return 0;
}

// `neurona generate`: the model rebuilt from the settings beside the weights, then sampling.
int generate(const std::string& weights, const std::string& prompt,
             const nr::tools::SampleOptions& options) {
  const fs::path settings = nr::tools::charlm_config_path(weights);
  if (!fs::exists(weights)) {
    throw nr::IoError(nr::detail::str("generate: no such weights file: ", weights));
  }
  if (!fs::exists(settings)) {
    throw nr::IoError(nr::detail::str("generate: ", settings.string(),
                                      " (the vocabulary and sizes `neurona train --model charlm` "
                                      "writes beside the weights) is missing"));
  }
  auto saved = nr::tools::load_charlm_config(settings);
  // The prompt is checked before the model is built: a bad character fails fast.
  saved.vocab.encode(prompt, "generate: --prompt");
  nr::tools::TransformerLM model(saved.config);
  model(nr::zeros({1, 1}, {.dtype = nr::DType::int32}));
  model.load_weights(weights);
  std::cout << prompt << nr::tools::sample_text(model, saved.vocab, prompt, options) << "\n";
  return 0;
}

int bench_model(const nr::tools::ModelBenchmarkOptions& options) {
  const auto result = nr::tools::run_model_benchmark(options);
  std::printf("%s\n%s\n", nr::tools::model_benchmark_summary(result).c_str(),
              nr::tools::model_benchmark_json(result).c_str());
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

  // --model's choices: the Fashion-MNIST models, and what else the command takes.
  const auto add_common = [&](CLI::App* cmd, const std::vector<std::string>& extra = {},
                              const std::string& extra_help = "") {
    std::vector<std::string> models = {"cnn", "mlp", "resnet"};
    models.insert(models.end(), extra.begin(), extra.end());
    cmd->add_option("--model", kind,
                    "cnn, mlp or resnet (ResNet-20 on the images padded to 32x32) on "
                    "Fashion-MNIST" +
                        extra_help)
        ->check(CLI::IsMember(models))
        ->capture_default_str();
    cmd->add_option("--device", device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    cmd->add_option("--data-dir", data_dir,
                    "Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)");
    cmd->add_option("--dtype-policy", dtype_policy,
                    "float32, mixed_bfloat16 or mixed_float16 (Keras's mixed precision)")
        ->check(CLI::IsMember({"float32", "mixed_bfloat16", "mixed_float16"}))
        ->capture_default_str();
  };
  CLI::App* train_cmd = app.add_subcommand(
      "train", "train on Fashion-MNIST and report accuracy, or a character model on a text");
  add_common(train_cmd, {"charlm"}, ", or charlm (a character-level transformer on --text)");
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
  std::string tensorboard_dir;
  train_cmd->add_option(
      "--tensorboard", tensorboard_dir,
      "write TensorBoard logs (scalars, weight histograms and images) to this folder");
  bool distributed = false;
  train_cmd->add_flag("--distributed", distributed,
                      "data-parallel across the processes of `mpirun -np N neurona train "
                      "--distributed ...`: --batch-size is the global batch, split across them; "
                      "rank 0 prints and writes the files");
  bool sync_batch_norm = false;
  train_cmd->add_flag("--sync-batch-norm", sync_batch_norm,
                      "resnet under --distributed: batch normalization over the global batch "
                      "(every process's rows) instead of each process's own");
  std::string backup_dir;
  train_cmd->add_option("--backup-dir", backup_dir,
                        "back the run up there after every epoch (BackupAndRestore); the same "
                        "command run again after a crash resumes from the last backup (not for "
                        "charlm)");
  bool augment = false;
  train_cmd->add_flag("--augment", augment,
                      "stream the training images through a Dataset that flips them left to "
                      "right and shifts them by up to 10% at random (RandomFlip and "
                      "RandomTranslation on worker threads, prefetched to the device)");

  std::string image_dir;
  train_cmd->add_option("--image-dir", image_dir,
                        "train on the images of this folder's class subfolders (PNG or JPEG, "
                        "read by image_dataset_from_directory; `neurona export-images` writes "
                        "Fashion-MNIST so); the test images stay Fashion-MNIST's");

  CharLMTrainOptions charlm;
  train_cmd
      ->add_option("--text", charlm.text,
                   "charlm: a UTF-8 text file, or a folder of them (joined in name order; .dat "
                   "files left out)")
      ->capture_default_str();
  charlm.text = std::string(kDefaultCorpus);
  train_cmd->add_option("--context", charlm.model.context, "charlm: characters the model sees")
      ->check(whole_number<std::int64_t>(1))
      ->capture_default_str();
  train_cmd->add_option("--layers", charlm.model.num_layers, "charlm: transformer blocks")
      ->check(whole_number<std::int64_t>(1))
      ->capture_default_str();
  train_cmd->add_option("--heads", charlm.model.num_heads, "charlm: attention heads")
      ->check(whole_number<std::int64_t>(1))
      ->capture_default_str();
  train_cmd
      ->add_option("--width", charlm.model.width, "charlm: model width (a multiple of --heads)")
      ->check(whole_number<std::int64_t>(1))
      ->capture_default_str();
  train_cmd->add_flag("--tie-embeddings", charlm.model.tie_embeddings,
                      "charlm: the output is the token embedding transposed (GPT-2's tying)");
  train_cmd->add_flag("--gelu-approximate", charlm.model.gelu_approximate,
                      "charlm: the MLP's gelu in its tanh form (GPT-2's)");
  train_cmd->add_option("--dropout", charlm.model.dropout, "charlm: dropout rate")
      ->check(number_between(0.0, 0.9))
      ->capture_default_str();
  train_cmd
      ->add_option("--steps-per-epoch", charlm.steps_per_epoch,
                   "charlm: batches per epoch at random places of the text (0: every window "
                   "of --context side by side)")
      ->check(whole_number<std::int64_t>(0))
      ->capture_default_str();
  train_cmd
      ->add_option("--learning-rate", charlm.learning_rate,
                   "charlm: AdamW's peak learning rate (linear warmup, then cosine decay to a "
                   "tenth)")
      ->check(number_between(0.0, 1.0))
      ->capture_default_str();
  train_cmd
      ->add_option("--warmup-steps", charlm.warmup_steps,
                   "charlm: warmup steps (default: a tenth of the steps, at most 100)")
      ->check(whole_number<std::int64_t>(0));
  train_cmd->add_option("--weight-decay", charlm.weight_decay, "charlm: AdamW's weight decay")
      ->check(number_between(0.0, 1.0))
      ->capture_default_str();

  CLI::App* generate_cmd = app.add_subcommand(
      "generate", "sample text from a character model trained by `train --model charlm`");
  nr::tools::SampleOptions sample;
  std::string prompt;
  generate_cmd->add_option("--device", device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  generate_cmd->add_option("--weights", weights, "charlm.weights.h5 (charlm.json beside it)")
      ->required();
  generate_cmd->add_option("--prompt", prompt, "the text to continue")->required();
  generate_cmd->add_option("--length", sample.length, "characters to generate")
      ->check(whole_number<std::int64_t>(0))
      ->capture_default_str();
  generate_cmd
      ->add_option("--temperature", sample.temperature,
                   "divides the logits (0: always the most likely character)")
      ->check(number_between(0.0, 100.0))
      ->capture_default_str();
  generate_cmd->add_option("--top-k", sample.top_k, "sample among the k likeliest (0: all)")
      ->check(whole_number<std::int64_t>(0))
      ->capture_default_str();
  generate_cmd->add_option("--seed", sample.seed, "random seed of the sampling")
      ->check(whole_number<std::uint64_t>(0))
      ->capture_default_str();

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

  CLI::App* export_cmd = app.add_subcommand(
      "export-images", "write Fashion-MNIST as PNG files in class folders (out/train, out/test)");
  export_cmd->add_option("--data-dir", data_dir,
                         "Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)");
  std::string export_out = "runs/fashion-images";
  export_cmd->add_option("--out", export_out, "folder for train/ and test/")->capture_default_str();
  export_cmd->add_option("--train-samples", train_limit, "write only the first N training images")
      ->check(whole_number<std::int64_t>(0));
  export_cmd->add_option("--test-samples", test_limit, "write only the first N test images")
      ->check(whole_number<std::int64_t>(0));

  CLI::App* bench_cmd = app.add_subcommand(
      "bench",
      "training speed as a JSON line: seconds per epoch, test accuracy and allocations of a "
      "Fashion-MNIST model, or images or tokens per second of resnet50 / gpt2 on synthetic data");
  add_common(bench_cmd, {"resnet50", "gpt2"},
             ", or resnet50 (Keras's ResNet50) or gpt2 (GPT-2 small) on synthetic data made on "
             "the device");
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
  nr::tools::ModelBenchmarkOptions large;
  bench_cmd->add_option("--steps", large.steps, "resnet50, gpt2: steps per epoch")
      ->check(whole_number<std::int64_t>(1))
      ->capture_default_str();
  bench_cmd
      ->add_option("--image-size", large.image_size, "resnet50: the images' side (at least 32)")
      ->check(whole_number<std::int64_t>(32))
      ->capture_default_str();
  bench_cmd->add_option("--classes", large.classes, "resnet50: classes")
      ->check(whole_number<std::int64_t>(1))
      ->capture_default_str();
  bench_cmd->add_option("--context", large.gpt.context, "gpt2: tokens per sequence")
      ->check(whole_number<std::int64_t>(1))
      ->capture_default_str();
  bench_cmd->add_option("--layers", large.gpt.num_layers, "gpt2: transformer blocks")
      ->check(whole_number<std::int64_t>(1))
      ->capture_default_str();
  bench_cmd->add_option("--heads", large.gpt.num_heads, "gpt2: attention heads")
      ->check(whole_number<std::int64_t>(1))
      ->capture_default_str();
  bench_cmd->add_option("--width", large.gpt.width, "gpt2: model width (a multiple of --heads)")
      ->check(whole_number<std::int64_t>(1))
      ->capture_default_str();
  bench_cmd->add_option("--vocab-size", large.gpt.vocab_size, "gpt2: vocabulary (tied embeddings)")
      ->check(whole_number<std::int64_t>(1))
      ->capture_default_str();
  bench_cmd->add_flag("--remat-blocks", large.gpt.remat_blocks,
                      "gpt2: recompute each block's activations in the backward pass instead "
                      "of keeping them (gradient checkpointing)");
  bench_cmd
      ->add_option("--peak-tflops", large.peak_tflops,
                   "gpt2: the device's peak TFLOP/s for the MFU (default: H100/H200/A100 data "
                   "sheets, dense bf16 under a mixed policy, TF32 under float32)")
      ->check(number_between(0.0, 1e6));

  CLI11_PARSE(app, argc, argv);
  try {
    // charlm fits one epoch at a time with --steps-per-epoch, which BackupAndRestore (one fit,
    // resumed at its initial epoch) does not follow.
    NEURONA_CHECK(!(kind == "charlm" && !backup_dir.empty()), nr::ValueError,
                  "train: --backup-dir backs up the Fashion-MNIST models (cnn, mlp, resnet), not "
                  "charlm yet");
    NEURONA_CHECK(!sync_batch_norm || kind == "resnet", nr::ValueError,
                  "train: --sync-batch-norm synchronizes BatchNormalization, which only --model "
                  "resnet has (got --model ",
                  kind, ")");
    if (distributed) {
      join_distributed_job(device);
    } else {
      select_device(device);
    }
    nr::mixed_precision::set_global_policy(dtype_policy);
    if (train_cmd->parsed() && kind == "charlm") {
      charlm.out = train_cmd->count("--out") ? out : "runs/charlm";
      if (!train_cmd->count("--batch-size")) batch_size = 32;
      charlm.batch_size = batch_size;
      charlm.epochs = epochs;
      charlm.seed = seed;
      charlm.verbose = verbose;
      charlm.tensorboard = tensorboard_dir;
      return train_charlm(charlm);
    }
    if (generate_cmd->parsed()) return generate(weights, prompt, sample);
    if (train_cmd->parsed()) {
      return train({.kind = kind,
                    .epochs = epochs,
                    .batch_size = batch_size,
                    .out = out,
                    .data_dir = data_dir,
                    .train_limit = train_limit,
                    .test_limit = test_limit,
                    .validation_split = validation_split,
                    .seed = seed,
                    .verbose = verbose,
                    .tensorboard_dir = tensorboard_dir,
                    .augment = augment,
                    .image_dir = image_dir,
                    .backup_dir = backup_dir,
                    .sync_batch_norm = sync_batch_norm});
    }
    if (export_cmd->parsed()) return export_images(data_dir, export_out, train_limit, test_limit);
    if (eval_cmd->parsed()) return evaluate(kind, weights, data_dir, test_limit);
    if (predict_cmd->parsed()) return predict(kind, weights, input, output);
    if (bench_cmd->parsed() && (kind == "resnet50" || kind == "gpt2")) {
      large.model = kind;
      large.epochs = epochs;
      large.batch_size = bench_cmd->count("--batch-size") ? batch_size : 0;
      large.seed = seed;
      return bench_model(large);
    }
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
