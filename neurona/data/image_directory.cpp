// image_dataset_from_directory: the listing (Keras's index_directory: class subfolders, files
// sorted by folder then name), a seeded shuffle of the list, the split, then a Dataset of file
// indices that the map turns into decoded, resized images and their labels.
#include "neurona/data/image_directory.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <numeric>

#include "neurona/core/error.h"
#include "neurona/data/image_io.h"
#include "neurona/kernels/array.h"
#include "neurona/kernels/creation.h"
#include "neurona/kernels/elementwise.h"
#include "neurona/kernels/image.h"
#include "neurona/kernels/linalg.h"

namespace neurona::data {

namespace {

namespace fs = std::filesystem;
using neurona::detail::str;

constexpr const char* kAllowed = "('.bmp', '.gif', '.jpeg', '.jpg', '.png')";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Whether `path` is an image neurona reads; IoError for the formats Keras reads that neurona
// does not.
bool is_image(const fs::path& path) {
  const std::string ext = lower(path.extension().string());
  if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") return true;
  NEURONA_CHECK(ext != ".bmp" && ext != ".gif", IoError,
                "image_dataset_from_directory: ", path.string(),
                ": BMP and GIF images are not supported (neurona decodes PNG and JPEG)");
  return false;
}

// The images under `folder` at any depth, sorted by folder then name (os.walk sorted, as Keras).
std::vector<std::string> images_under(const fs::path& folder, bool follow_links) {
  std::vector<std::pair<std::string, std::string>> found;  // (folder, name)
  auto opts = fs::directory_options::skip_permission_denied;
  if (follow_links) opts |= fs::directory_options::follow_directory_symlink;
  for (auto it = fs::recursive_directory_iterator(folder, opts);
       it != fs::recursive_directory_iterator(); ++it) {
    if (!it->is_regular_file() || !is_image(it->path())) continue;
    found.emplace_back(it->path().parent_path().string(), it->path().filename().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  paths.reserve(found.size());
  for (const auto& [dir, name] : found) paths.push_back((fs::path(dir) / name).string());
  return paths;
}

void check_options(const std::string& directory, const ImageDirectoryOptions& o) {
  NEURONA_CHECK(o.labels.is_list() || o.labels.inferred() || o.labels.none(), ValueError,
                "image_dataset_from_directory: `labels` argument should be a list/tuple of "
                "integer labels, of the same size as the number of image files in the target "
                "directory. If you wish to infer the labels from the subdirectory names in the "
                "target directory, pass `labels=\"inferred\"`. If you wish to get a dataset that "
                "only contains images (no labels), pass `labels=\"\"`. Received: labels=",
                o.labels.mode());
  NEURONA_CHECK(o.class_names.empty() || o.labels.inferred(), ValueError,
                "image_dataset_from_directory: You can only pass `class_names` if "
                "`labels=\"inferred\"`.");
  NEURONA_CHECK(!(o.crop_to_aspect_ratio && o.pad_to_aspect_ratio), ValueError,
                "image_dataset_from_directory: Only one of `pad_to_aspect_ratio` & "
                "`crop_to_aspect_ratio` can be True.");
  NEURONA_CHECK(o.label_mode == "int" || o.label_mode == "categorical" ||
                    o.label_mode == "binary" || o.label_mode.empty(),
                ValueError,
                "image_dataset_from_directory: `label_mode` argument must be one of \"int\", "
                "\"categorical\", \"binary\", or None (empty). Received: label_mode=",
                o.label_mode);
  (void)channels_of_color_mode(o.color_mode);
  NEURONA_CHECK(o.data_format == "channels_last" || o.data_format == "channels_first", ValueError,
                "image_dataset_from_directory: The `data_format` argument must be one of "
                "{'channels_first', 'channels_last'}. Received: data_format=",
                o.data_format);
  NEURONA_CHECK(o.image_size[0] > 0 && o.image_size[1] > 0, ValueError,
                "image_dataset_from_directory: Invalid `image_size` value. Expected a tuple of 2 "
                "positive integers. Received: image_size=(",
                o.image_size[0], ", ", o.image_size[1], ")");
  NEURONA_CHECK(o.batch_size >= 0, ValueError,
                "image_dataset_from_directory: batch_size must be positive (0: unbatched), got ",
                o.batch_size);
  (void)interpolation_from_string(o.interpolation);
  if (o.validation_split) {
    NEURONA_CHECK(*o.validation_split > 0 && *o.validation_split < 1, ValueError,
                  "image_dataset_from_directory: `validation_split` must be between 0 and 1, "
                  "received: ",
                  *o.validation_split);
  }
  NEURONA_CHECK(o.validation_split.has_value() == !o.subset.empty(), ValueError,
                "image_dataset_from_directory: If `subset` is set, `validation_split` must be "
                "set, and inversely.");
  NEURONA_CHECK(
      o.subset.empty() || o.subset == "training" || o.subset == "validation" || o.subset == "both",
      ValueError,
      "image_dataset_from_directory: `subset` must be either \"training\", "
      "\"validation\" or \"both\", received: ",
      o.subset);
  NEURONA_CHECK(!(o.validation_split && o.shuffle && !o.seed), ValueError,
                "image_dataset_from_directory: If using `validation_split` and shuffling the "
                "data, you must provide a `seed` argument, to make sure that there is no overlap "
                "between the training and validation subset.");
  NEURONA_CHECK(fs::is_directory(directory), IoError, "image_dataset_from_directory: ", directory,
                " is not a folder");
}

// The listing, shuffled as the options say, with the class names.
struct Listing {
  std::vector<std::string> paths;
  std::vector<std::int32_t> labels;  // empty without labels
  std::vector<std::string> class_names;
};

Listing list_images(const std::string& directory, const ImageDirectoryOptions& o) {
  Listing l;
  if (o.labels.none()) {
    l.paths = images_under(directory, o.follow_links);
  } else if (o.labels.is_list()) {
    l.paths = images_under(directory, o.follow_links);
    const std::vector<std::int32_t>& given = o.labels.values();
    NEURONA_CHECK(given.size() == l.paths.size(), ValueError,
                  "image_dataset_from_directory: Expected the lengths of `labels` to match the "
                  "number of files in the target directory. len(labels) is ",
                  given.size(), " while we found ", l.paths.size(), " files in directory ",
                  directory, ".");
    l.labels = given;
    std::vector<std::int32_t> distinct = given;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    for (std::int32_t v : distinct) l.class_names.push_back(std::to_string(v));
  } else {
    l.class_names = o.class_names;
    if (l.class_names.empty()) {
      for (const auto& entry : fs::directory_iterator(directory)) {
        if (entry.is_directory()) l.class_names.push_back(entry.path().filename().string());
      }
      std::sort(l.class_names.begin(), l.class_names.end());
    }
    for (std::size_t c = 0; c < l.class_names.size(); ++c) {
      const fs::path sub = fs::path(directory) / l.class_names[c];
      NEURONA_CHECK(fs::is_directory(sub), ValueError, "image_dataset_from_directory: class ",
                    l.class_names[c], " of `class_names` has no folder ", sub.string());
      for (auto& p : images_under(sub, o.follow_links)) {
        l.paths.push_back(std::move(p));
        l.labels.push_back(static_cast<std::int32_t>(c));
      }
    }
  }
  if (o.verbose) {
    if (o.labels.none()) {
      std::printf("Found %zu files.\n", l.paths.size());
    } else {
      std::printf("Found %zu files belonging to %zu classes.\n", l.paths.size(),
                  l.class_names.size());
    }
  }
  NEURONA_CHECK(!l.paths.empty(), ValueError, "image_dataset_from_directory: No images found in ",
                "directory ", directory, ". Allowed formats: ", kAllowed,
                " (neurona reads the PNG and JPEG ones)");
  NEURONA_CHECK(o.label_mode != "binary" || o.labels.none() || l.class_names.size() == 2,
                ValueError,
                "image_dataset_from_directory: When passing `label_mode=\"binary\"`, there must "
                "be exactly 2 class_names. Received: ",
                l.class_names.size(), " classes");
  if (o.shuffle) {
    // A random key per file (Philox, the same on every platform), the files in key order.
    const Tensor keys = kernels::random_uniform(
        Shape{static_cast<std::int64_t>(l.paths.size())},
        {.dtype = DType::float64,
         .seed = o.seed ? std::optional<std::uint64_t>(*o.seed) : std::nullopt});
    const double* k = keys.data<double>();
    std::vector<std::size_t> order(l.paths.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [k](std::size_t a, std::size_t b) { return k[a] < k[b]; });
    Listing shuffled{.paths = {}, .labels = {}, .class_names = l.class_names};
    for (std::size_t i : order) {
      shuffled.paths.push_back(l.paths[i]);
      if (!l.labels.empty()) shuffled.labels.push_back(l.labels[i]);
    }
    l = std::move(shuffled);
  }
  return l;
}

// Files [begin, end) of the listing as a dataset.
ImageDirectory make_subset(const Listing& l, std::size_t begin, std::size_t end,
                           const ImageDirectoryOptions& o) {
  std::vector<std::string> file_paths(l.paths.begin() + static_cast<std::ptrdiff_t>(begin),
                                      l.paths.begin() + static_cast<std::ptrdiff_t>(end));
  std::vector<std::int32_t> file_labels;
  if (!l.labels.empty()) {
    file_labels.assign(l.labels.begin() + static_cast<std::ptrdiff_t>(begin),
                       l.labels.begin() + static_cast<std::ptrdiff_t>(end));
  }
  const auto paths = std::make_shared<const std::vector<std::string>>(file_paths);
  const auto labels = std::make_shared<const std::vector<std::int32_t>>(file_labels);
  const int channels = channels_of_color_mode(o.color_mode);
  const auto size = o.image_size;
  const ResizeOptions resize{.interpolation = interpolation_from_string(o.interpolation),
                             .crop_to_aspect_ratio = o.crop_to_aspect_ratio,
                             .pad_to_aspect_ratio = o.pad_to_aspect_ratio};
  const std::string label_mode = o.labels.none() ? "" : o.label_mode;
  const bool channels_first = o.data_format == "channels_first";
  const auto classes = static_cast<std::int64_t>(l.class_names.size());
  const auto n = static_cast<std::int64_t>(file_paths.size());

  Dataset ds = Dataset::range(n);
  if (o.shuffle) {
    ds = ds.shuffle(n, {.seed = o.seed, .reshuffle_each_iteration = true});
  }
  ds = ds.map(
      [=](const Element& e) {
        const auto i = static_cast<std::size_t>(e[0].item<std::int64_t>());
        Tensor image = kernels::cast(read_image((*paths)[i], channels), DType::float32);
        image = kernels::resize(image, size, resize);
        if (channels_first) image = kernels::transpose(image, {2, 0, 1});
        if (label_mode.empty()) return Element{image};
        const std::int32_t label = (*labels)[i];
        if (label_mode == "int") {
          return Element{image,
                         kernels::constant(static_cast<double>(label), {.dtype = DType::int32})};
        }
        if (label_mode == "binary") {
          return Element{image, kernels::fill(Shape{1}, static_cast<double>(label),
                                              {.dtype = DType::float32})};
        }
        // A label outside [0, classes) (a given list's) is all zeros, as Keras's one_hot.
        Tensor hot = kernels::zeros(Shape{classes}, {.dtype = DType::float32});
        if (label >= 0 && label < classes) hot.data<float>()[label] = 1.0f;
        return Element{image, hot};
      },
      {.num_parallel_calls = o.num_parallel_calls});
  if (o.batch_size > 0) ds = ds.batch(o.batch_size);
  return {.dataset = ds,
          .class_names = l.class_names,
          .file_paths = std::move(file_paths),
          .labels = std::move(file_labels)};
}

std::size_t validation_count(std::size_t n, double split) {
  return static_cast<std::size_t>(split * static_cast<double>(n));
}

void check_not_empty(std::size_t n, const char* which, const std::string& directory) {
  NEURONA_CHECK(n > 0, ValueError, "image_dataset_from_directory: No ", which,
                " images found in directory ", directory, ". Allowed formats: ", kAllowed);
}

}  // namespace

ImageDirectory image_dataset_from_directory(const std::string& directory,
                                            const ImageDirectoryOptions& options) {
  NEURONA_CHECK(options.subset != "both", ValueError,
                "image_dataset_from_directory: subset=\"both\" gives two datasets: call "
                "image_datasets_from_directory");
  check_options(directory, options);
  const Listing l = list_images(directory, options);
  const std::size_t n = l.paths.size();
  if (!options.validation_split) return make_subset(l, 0, n, options);
  const std::size_t val = validation_count(n, *options.validation_split);
  if (options.subset == "training") {
    if (options.verbose) std::printf("Using %zu files for training.\n", n - val);
    check_not_empty(n - val, "training", directory);
    return make_subset(l, 0, n - val, options);
  }
  if (options.verbose) std::printf("Using %zu files for validation.\n", val);
  check_not_empty(val, "validation", directory);
  return make_subset(l, n - val, n, options);
}

std::pair<ImageDirectory, ImageDirectory> image_datasets_from_directory(
    const std::string& directory, const ImageDirectoryOptions& options) {
  NEURONA_CHECK(options.subset == "both", ValueError,
                "image_datasets_from_directory: gives the training and validation subsets "
                "(subset=\"both\"), got subset=",
                options.subset);
  check_options(directory, options);
  const Listing l = list_images(directory, options);
  const std::size_t n = l.paths.size();
  const std::size_t val = validation_count(n, *options.validation_split);
  if (options.verbose) {
    std::printf("Using %zu files for training.\nUsing %zu files for validation.\n", n - val, val);
  }
  check_not_empty(n - val, "training", directory);
  check_not_empty(val, "validation", directory);
  return {make_subset(l, 0, n - val, options), make_subset(l, n - val, n, options)};
}

}  // namespace neurona::data
