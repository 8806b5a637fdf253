// decode_image / read_image against PIL's decoding of the fixtures
// (tests/reference/make_image_fixtures.py): PNG exactly, JPEG within a unit (both libjpeg-turbo,
// whose versions may round a few pixels apart), each converted to RGB and grayscale as PIL does;
// broken files refused with an IoError naming them. image_dataset_from_directory on the
// fixtures' class folders: listing, labels in every mode, resizing, shuffling with a seed,
// validation splits, Keras's argument errors, and a fit on it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "data/data_test_util.h"
#include "neurona/neurona.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace fs = std::filesystem;

namespace {

fs::path images_dir() {
  return nr::testing::reference_dir() / "images";
}

std::string classes_dir() {
  return (images_dir() / "classes").string();
}

const nr::testing::Reference& pil() {
  static const nr::testing::Reference ref =
      nr::testing::parse_reference(images_dir() / "expected.txt");
  return ref;
}

const char* const kImages[] = {"cats/a.png", "cats/b.jpg",  "cats/nested/c.png",
                               "dogs/d.png", "dogs/e.JPEG", "dogs/f.png"};

bool is_jpeg(const std::string& name) {
  return name.find(".jpg") != std::string::npos || name.find(".JPEG") != std::string::npos;
}

void expect_pixels(const nr::Tensor& got, const std::string& key, double tol) {
  const auto& want = pil().at(key);
  ASSERT_EQ(got.dtype(), nr::uint8) << key;
  ASSERT_EQ(got.shape(), want.shape) << key;
  const auto v = got.to_vector<double>();
  for (std::size_t i = 0; i < v.size(); ++i) {
    ASSERT_NEAR(v[i], want.values[i], tol) << key << " at " << i;
  }
}

}  // namespace

TEST(DecodeImage, PngExactlyAndJpegWithinAUnitOfPil) {
  for (const std::string name : kImages) {
    const std::string path = classes_dir() + "/" + name;
    const double tol = is_jpeg(name) ? 1 : 0;
    expect_pixels(nr::data::read_image(path), name, tol);
    expect_pixels(nr::data::read_image(path, 3), name + ":rgb", tol);
    expect_pixels(nr::data::read_image(path, 1), name + ":grayscale", tol);
  }
}

TEST(DecodeImage, AddsAnOpaqueAlphaAndDropsIt) {
  const nr::Tensor gray = nr::data::read_image(classes_dir() + "/dogs/d.png");
  const nr::Tensor rgba = nr::data::read_image(classes_dir() + "/dogs/d.png", 4);
  ASSERT_EQ(rgba.shape(), (nr::Shape{3, 5, 4}));
  const auto g = gray.to_vector<int>(), a = rgba.to_vector<int>();
  for (std::size_t p = 0; p < g.size(); ++p) {
    EXPECT_EQ(a[p * 4], g[p]);
    EXPECT_EQ(a[p * 4 + 2], g[p]);
    EXPECT_EQ(a[p * 4 + 3], 255);
  }
  EXPECT_EQ(nr::data::channels_of_color_mode("rgba"), 4);
  NEURONA_EXPECT_THROW_MSG(nr::data::channels_of_color_mode("cmyk"), nr::ValueError, "color_mode",
                           "cmyk");
}

TEST(DecodeImage, RefusesBrokenAndUnknownBytesNamingThem) {
  for (const std::string name : {"cats/a.png", "cats/b.jpg"}) {
    auto bytes = nr::testing::read_bytes(classes_dir() + "/" + name);
    ASSERT_GT(bytes.size(), 60u);
    for (std::size_t keep : {bytes.size() / 2, std::size_t{40}, std::size_t{10}}) {
      const std::vector<std::uint8_t> cut(bytes.begin(),
                                          bytes.begin() + static_cast<std::ptrdiff_t>(keep));
      const std::string source = "cut-" + name;
      NEURONA_EXPECT_THROW_MSG(nr::data::decode_image(cut, 0, source), nr::IoError, "decode_image",
                               source.c_str());
    }
    if (name.ends_with(".jpg")) {
      // Missing its last bytes: libjpeg would pad the rows with gray; neurona refuses, as
      // tf.io.decode_jpeg does.
      const std::vector<std::uint8_t> cut(bytes.begin(), bytes.end() - 12);
      NEURONA_EXPECT_THROW_MSG(nr::data::decode_image(cut, 0, "short.jpg"), nr::IoError,
                               "short.jpg", "broken JPEG");
    }
    // Bytes flipped in the middle of the compressed data.
    for (std::size_t i = bytes.size() / 3; i < bytes.size() / 3 + 16; ++i) bytes[i] ^= 0x5A;
    try {
      const nr::Tensor t = nr::data::decode_image(bytes, 0, name);
      // JPEG has no checksum: a corrupt scan may still decode, but to an image of its size.
      EXPECT_FALSE(name.ends_with(".png")) << "a PNG with broken data decoded";
      EXPECT_EQ(t.rank(), 3);
    } catch (const nr::IoError& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
  const std::vector<std::uint8_t> text = {'h', 'e', 'l', 'l', 'o'};
  NEURONA_EXPECT_THROW_MSG(nr::data::decode_image(text, 0, "hello.txt"), nr::IoError, "hello.txt",
                           "neither a PNG nor a JPEG");
  NEURONA_EXPECT_THROW_MSG(nr::data::decode_image({}, 0, "empty"), nr::IoError, "empty");
  NEURONA_EXPECT_THROW_MSG(nr::data::read_image(classes_dir() + "/cats/a.png", 2), nr::ValueError,
                           "channels", "2");
  NEURONA_EXPECT_THROW_MSG(nr::data::read_image(classes_dir() + "/missing.png"), nr::IoError,
                           "missing.png");
}

TEST(DecodeImage, EncodePngRoundTripsEveryChannelCount) {
  nr::testing::ScratchDir dir("png");
  for (std::int64_t c = 1; c <= 4; ++c) {
    const nr::Tensor image =
        nr::cast(nr::random_uniform({5, 9, c}, {.minval = 0, .maxval = 256, .seed = 7}), nr::uint8);
    const std::string path = dir.file("x" + std::to_string(c) + ".png");
    nr::data::write_png(path, image);
    const nr::Tensor back = nr::data::read_image(path);
    EXPECT_EQ(back.shape(), image.shape());
    EXPECT_EQ(back.to_vector<int>(), image.to_vector<int>()) << c << " channels";
  }
  NEURONA_EXPECT_THROW_MSG(nr::data::encode_png(nr::zeros({2, 2, 3})), nr::ValueError, "encode_png",
                           "float32");
  NEURONA_EXPECT_THROW_MSG(nr::data::encode_png(nr::zeros({2, 2, 5}, {.dtype = nr::uint8})),
                           nr::ValueError, "encode_png", "(2, 2, 5)");
}

// ---- image_dataset_from_directory -------------------------------------------------------------

namespace {

nr::data::ImageDirectoryOptions quiet(nr::data::ImageDirectoryOptions o) {
  o.verbose = false;
  return o;
}

// What one image of the dataset must be: the file as RGB floats, resized.
nr::Tensor expected_image(const std::string& path, std::array<std::int64_t, 2> size,
                          int channels = 3) {
  return nr::image_resize(nr::cast(nr::data::read_image(path, channels), nr::float32), size);
}

}  // namespace

TEST(ImageDirectory, ListsClassFoldersInKerasOrderAndLabelsThem) {
  const auto d = nr::data::image_dataset_from_directory(
      classes_dir(), quiet({.batch_size = 0, .image_size = {4, 5}, .shuffle = false}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"cats", "dogs"}));
  std::vector<std::string> names;
  for (const auto& p : d.file_paths) {
    names.push_back(fs::relative(p, classes_dir()).generic_string());
  }
  EXPECT_EQ(names, std::vector<std::string>(std::begin(kImages), std::end(kImages)));
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(d.dataset.cardinality(), 6);
  const auto elements = d.dataset.elements();
  ASSERT_EQ(elements.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    const nr::Tensor want = expected_image(d.file_paths[i], {4, 5});
    ASSERT_EQ(elements[i][0].shape(), (nr::Shape{4, 5, 3}));
    EXPECT_EQ(elements[i][0].to_vector<float>(), want.to_vector<float>()) << names[i];
    EXPECT_EQ(elements[i][1].dtype(), nr::int32);
    EXPECT_EQ(elements[i][1].item<int>(), d.labels[i]);
  }
}

TEST(ImageDirectory, LabelModesColorModesBatchesAndNoLabels) {
  const auto categorical =
      nr::data::image_dataset_from_directory(classes_dir(), quiet({.label_mode = "categorical",
                                                                   .color_mode = "grayscale",
                                                                   .batch_size = 4,
                                                                   .image_size = {3, 3},
                                                                   .shuffle = false}));
  const auto batches = categorical.dataset.elements();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0][0].shape(), (nr::Shape{4, 3, 3, 1}));
  EXPECT_EQ(batches[1][0].shape(), (nr::Shape{2, 3, 3, 1}));
  EXPECT_EQ(batches[0][1].to_vector<float>(),
            (std::vector<float>{1, 0, 1, 0, 1, 0, 0, 1}));  // cats, cats, cats, dogs
  const auto binary = nr::data::image_dataset_from_directory(
      classes_dir(), quiet({.label_mode = "binary", .batch_size = 0, .shuffle = false}));
  const auto last = binary.dataset.elements().back();
  EXPECT_EQ(last[0].shape(), (nr::Shape{256, 256, 3}));  // Keras's default size
  EXPECT_EQ(last[1].shape(), (nr::Shape{1}));
  EXPECT_EQ(last[1].to_vector<float>(), (std::vector<float>{1}));
  // No labels: every image under the folder (top.png too), elements of images alone.
  const auto unlabelled =
      nr::data::image_dataset_from_directory(classes_dir(), quiet({.labels = "",
                                                                   .color_mode = "rgba",
                                                                   .batch_size = 0,
                                                                   .image_size = {2, 2},
                                                                   .shuffle = false}));
  EXPECT_EQ(unlabelled.file_paths.size(), 7u);
  EXPECT_TRUE(unlabelled.class_names.empty());
  const auto e = unlabelled.dataset.elements();
  ASSERT_EQ(e.size(), 7u);
  EXPECT_EQ(e[0].size(), 1u);
  EXPECT_EQ(e[0][0].shape(), (nr::Shape{2, 2, 4}));
  // Chosen classes, in the order given.
  const auto dogs_first = nr::data::image_dataset_from_directory(
      classes_dir(), quiet({.class_names = {"dogs", "cats"}, .batch_size = 0, .shuffle = false}));
  EXPECT_EQ(dogs_first.labels, (std::vector<std::int32_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(fs::path(dogs_first.file_paths[0]).filename(), "d.png");
}

TEST(ImageDirectory, ChannelsFirstGivesEachImageTransposed) {
  const auto last = nr::data::image_dataset_from_directory(
      classes_dir(), quiet({.batch_size = 4, .image_size = {3, 5}, .shuffle = false}));
  const auto first = nr::data::image_dataset_from_directory(
      classes_dir(), quiet({.batch_size = 4,
                            .image_size = {3, 5},
                            .shuffle = false,
                            .data_format = "channels_first"}));
  const auto a = last.dataset.elements();
  const auto b = first.dataset.elements();
  ASSERT_EQ(b.size(), a.size());
  EXPECT_EQ(b[0][0].shape(), (nr::Shape{4, 3, 3, 5}));
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i][0].to_vector<float>(), nr::transpose(a[i][0], {0, 3, 1, 2}).to_vector<float>());
    EXPECT_EQ(b[i][1].to_vector<int>(), a[i][1].to_vector<int>());
  }
  NEURONA_EXPECT_THROW_MSG(nr::data::image_dataset_from_directory(
                               classes_dir(), quiet({.data_format = "channels_middle"})),
                           nr::ValueError, "The `data_format` argument must be one of",
                           "Received: data_format=channels_middle");
}

TEST(ImageDirectory, CropToAspectRatioResizesTheCentralWindow) {
  const auto d = nr::data::image_dataset_from_directory(
      classes_dir(),
      quiet(
          {.batch_size = 0, .image_size = {2, 2}, .shuffle = false, .crop_to_aspect_ratio = true}));
  // a.png is 5 x 7: the central 5 x 5 window, resized to 2 x 2.
  const nr::Tensor a = nr::cast(nr::data::read_image(d.file_paths[0], 3), nr::float32);
  const nr::Tensor want = nr::image_resize(nr::narrow(a, 1, 1, 5), {2, 2});
  EXPECT_EQ(d.dataset.elements()[0][0].to_vector<float>(), want.to_vector<float>());
}

TEST(ImageDirectory, PadToAspectRatioPadsWithZerosAndResizes) {
  const auto d = nr::data::image_dataset_from_directory(
      classes_dir(),
      quiet(
          {.batch_size = 0, .image_size = {2, 2}, .shuffle = false, .pad_to_aspect_ratio = true}));
  // a.png is 5 x 7: a row of zeros above and below (7 x 7), resized to 2 x 2.
  const nr::Tensor a = nr::cast(nr::data::read_image(d.file_paths[0], 3), nr::float32);
  const nr::Tensor zeros = nr::zeros({1, 7, 3});
  const nr::Tensor want = nr::image_resize(nr::concat({zeros, a, zeros}, 0), {2, 2});
  EXPECT_EQ(d.dataset.elements()[0][0].to_vector<float>(), want.to_vector<float>());
  NEURONA_EXPECT_THROW_MSG(
      nr::data::image_dataset_from_directory(
          classes_dir(), quiet({.crop_to_aspect_ratio = true, .pad_to_aspect_ratio = true})),
      nr::ValueError, "Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio`");
}

// Keras's explicit labels: one per image file under the folder, at any depth, in the sorted
// order of the paths (top.png first); the class names are the distinct labels, sorted.
TEST(ImageDirectory, ExplicitLabelsFollowTheSortedFilesAndNameTheClasses) {
  const std::vector<std::int32_t> given{3, 1, 3, 0, 1, 1, 0};
  const auto d = nr::data::image_dataset_from_directory(
      classes_dir(),
      quiet({.labels = given, .batch_size = 0, .image_size = {2, 2}, .shuffle = false}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"0", "1", "3"}));
  EXPECT_EQ(d.labels, given);
  ASSERT_EQ(d.file_paths.size(), 7u);
  EXPECT_EQ(fs::path(d.file_paths[0]).filename(), "top.png");
  EXPECT_EQ(fs::path(d.file_paths[3]).filename(), "c.png");
  const auto elements = d.dataset.elements();
  for (std::size_t i = 0; i < 7; ++i) EXPECT_EQ(elements[i][1].item<int>(), given[i]) << i;
  // categorical: one-hot by value over the three classes; 3 is outside [0, 3), all zeros as
  // Keras's one_hot gives.
  const auto categorical =
      nr::data::image_dataset_from_directory(classes_dir(), quiet({.labels = given,
                                                                   .label_mode = "categorical",
                                                                   .batch_size = 0,
                                                                   .image_size = {2, 2},
                                                                   .shuffle = false}));
  const auto hot = categorical.dataset.elements();
  EXPECT_EQ(hot[0][1].to_vector<float>(), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(hot[1][1].to_vector<float>(), (std::vector<float>{0, 1, 0}));
  EXPECT_EQ(hot[3][1].to_vector<float>(), (std::vector<float>{1, 0, 0}));
  // Shuffled: every file keeps its label.
  const auto shuffled = nr::data::image_dataset_from_directory(
      classes_dir(), quiet({.labels = given, .batch_size = 0, .image_size = {2, 2}, .seed = 5}));
  std::map<std::string, std::int32_t> label_of;
  for (std::size_t i = 0; i < 7; ++i) label_of[d.file_paths[i]] = given[i];
  EXPECT_NE(shuffled.file_paths, d.file_paths);
  for (std::size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(shuffled.labels[i], label_of.at(shuffled.file_paths[i])) << shuffled.file_paths[i];
  }
  const auto fails = [](nr::data::ImageDirectoryOptions o) {
    return nr::data::image_dataset_from_directory(classes_dir(), quiet(std::move(o)));
  };
  NEURONA_EXPECT_THROW_MSG(fails({.labels = {0, 1, 0}}), nr::ValueError, "len(labels) is 3",
                           "found 7 files");
  NEURONA_EXPECT_THROW_MSG(fails({.labels = "folders"}), nr::ValueError, "list/tuple",
                           "labels=folders");
  NEURONA_EXPECT_THROW_MSG(fails({.labels = given, .class_names = {"0"}}), nr::ValueError,
                           "class_names");
  NEURONA_EXPECT_THROW_MSG(fails({.labels = given, .label_mode = "binary"}), nr::ValueError,
                           "binary", "exactly 2");
}

TEST(ImageDirectory, ShufflesWithTheSeedAndSplitsWithoutOverlap) {
  const auto order = [](std::uint64_t seed) {
    return nr::data::image_dataset_from_directory(
               classes_dir(), quiet({.batch_size = 0, .image_size = {2, 2}, .seed = seed}))
        .file_paths;
  };
  EXPECT_EQ(order(3), order(3));
  std::set<std::vector<std::string>> orders;
  for (std::uint64_t s = 1; s <= 6; ++s) orders.insert(order(s));
  EXPECT_GT(orders.size(), 3u);
  // Each pass reads every file once, in a new order.
  const auto d = nr::data::image_dataset_from_directory(
      classes_dir(), quiet({.batch_size = 0, .image_size = {2, 2}, .seed = 4}));
  const auto labels_of = [](const std::vector<nr::data::Element>& es) {
    std::vector<float> firsts;
    for (const auto& e : es) firsts.push_back(e[0].to_vector<float>()[0]);
    return firsts;
  };
  const auto pass1 = labels_of(d.dataset.elements()), pass2 = labels_of(d.dataset.elements());
  EXPECT_NE(pass1, pass2);
  EXPECT_EQ(std::multiset<float>(pass1.begin(), pass1.end()),
            std::multiset<float>(pass2.begin(), pass2.end()));

  const nr::data::ImageDirectoryOptions split{
      .batch_size = 0, .image_size = {2, 2}, .seed = 9, .validation_split = 0.34};
  auto training = split, validation = split;
  training.subset = "training";
  validation.subset = "validation";
  const auto t = nr::data::image_dataset_from_directory(classes_dir(), quiet(training));
  const auto v = nr::data::image_dataset_from_directory(classes_dir(), quiet(validation));
  EXPECT_EQ(t.file_paths.size(), 4u);  // int(0.34 * 6) = 2 for validation
  EXPECT_EQ(v.file_paths.size(), 2u);
  std::set<std::string> all(t.file_paths.begin(), t.file_paths.end());
  all.insert(v.file_paths.begin(), v.file_paths.end());
  EXPECT_EQ(all.size(), 6u);
  auto both_options = split;
  both_options.subset = "both";
  const auto both = nr::data::image_datasets_from_directory(classes_dir(), quiet(both_options));
  EXPECT_EQ(both.first.file_paths, t.file_paths);
  EXPECT_EQ(both.second.file_paths, v.file_paths);
  EXPECT_EQ(both.second.dataset.cardinality(), 2);
}

TEST(ImageDirectory, RefusesWhatKerasRefusesAndFilesItCannotRead) {
  const auto fails = [](nr::data::ImageDirectoryOptions o) {
    return nr::data::image_dataset_from_directory(classes_dir(), quiet(std::move(o)));
  };
  NEURONA_EXPECT_THROW_MSG(fails({.validation_split = 0.2}), nr::ValueError, "subset");
  NEURONA_EXPECT_THROW_MSG(fails({.validation_split = 0.2, .subset = "training"}), nr::ValueError,
                           "seed");
  NEURONA_EXPECT_THROW_MSG(fails({.seed = 1, .validation_split = 1.5, .subset = "training"}),
                           nr::ValueError, "validation_split", "1.5");
  NEURONA_EXPECT_THROW_MSG(fails({.label_mode = "sparse"}), nr::ValueError, "label_mode", "sparse");
  NEURONA_EXPECT_THROW_MSG(fails({.color_mode = "bgr"}), nr::ValueError, "color_mode", "bgr");
  NEURONA_EXPECT_THROW_MSG(fails({.interpolation = "area"}), nr::ValueError, "interpolation",
                           "area");
  NEURONA_EXPECT_THROW_MSG(fails({.image_size = {0, 3}}), nr::ValueError, "image_size");
  NEURONA_EXPECT_THROW_MSG(fails({.labels = "", .class_names = {"cats"}}), nr::ValueError,
                           "class_names");
  NEURONA_EXPECT_THROW_MSG(fails({.class_names = {"cats", "birds"}}), nr::ValueError, "birds");
  NEURONA_EXPECT_THROW_MSG(fails({.label_mode = "binary", .class_names = {"cats"}}), nr::ValueError,
                           "binary", "exactly 2");
  NEURONA_EXPECT_THROW_MSG(fails({.seed = 1, .validation_split = 0.5, .subset = "both"}),
                           nr::ValueError, "image_datasets_from_directory");
  NEURONA_EXPECT_THROW_MSG(
      nr::data::image_dataset_from_directory(classes_dir() + "/none", quiet({})), nr::IoError,
      "none", "not a folder");

  nr::testing::ScratchDir dir("image_dir");
  fs::create_directories(dir.path() / "a");
  NEURONA_EXPECT_THROW_MSG(nr::data::image_dataset_from_directory(dir.path().string(), quiet({})),
                           nr::ValueError, "No images found");
  nr::testing::write_bytes(dir.file("a/x.gif"), {'G', 'I', 'F'});
  NEURONA_EXPECT_THROW_MSG(nr::data::image_dataset_from_directory(dir.path().string(), quiet({})),
                           nr::IoError, "x.gif", "PNG and JPEG");
  fs::remove(dir.path() / "a" / "x.gif");
  // A broken image fails the pass that reads it, naming the file.
  nr::testing::write_bytes(dir.file("a/broken.png"), {0x89, 'P', 'N', 'G', 1, 2, 3});
  const auto d = nr::data::image_dataset_from_directory(
      dir.path().string(), quiet({.batch_size = 0, .image_size = {2, 2}, .shuffle = false}));
  NEURONA_EXPECT_THROW_MSG(d.dataset.elements(), nr::IoError, "broken.png");
}

TEST(ImageDirectory, AModelFitsOnIt) {
  nr::set_seed(2);
  const auto d = nr::data::image_dataset_from_directory(
      classes_dir(), quiet({.batch_size = 3, .image_size = {6, 6}, .seed = 5}));
  nr::Sequential model(std::vector<nr::layers::AnyLayer>{
      nr::layers::Input({6, 6, 3}), nr::layers::Rescaling(1.0 / 255), nr::layers::Flatten(),
      nr::layers::Dense(2, {.activation = "softmax"})});
  model.compile({.optimizer = nr::optimizers::Adam(0.01),
                 .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"}});
  const auto history = model.fit(d.dataset, {.epochs = 2, .verbose = 0});
  ASSERT_EQ(history.history.at("loss").size(), 2u);
  EXPECT_TRUE(std::isfinite(history.history.at("loss")[1]));
  EXPECT_EQ(model.predict(d.dataset).at(0).shape(), (nr::Shape{6, 2}));
}
