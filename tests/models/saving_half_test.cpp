// 16-bit weights in `.weights.h5`: each dataset is read in the variable's own dtype (a float32
// file into float16 or bfloat16 variables rounds once to nearest even, as Keras's assign does)
// and 16-bit variables are written as Keras 3 writes them (float16 as IEEE half datasets,
// bfloat16 as 2-byte opaque data with dtype="bfloat16"), checked against files Keras wrote
// (tests/reference/saving/dense_*16.*, make_keras_saving_references.py) and, in the script's
// --check mode, by Keras loading what neurona wrote (from_neurona/). Run under ASan in CI: the
// loader once wrote 4 bytes per element into 2-byte storage.
#include <hdf5.h>

#include <unistd.h>

#include <functional>

#include "models/saving_models.h"
#include "support/paths.h"
#include "support/test_util.h"

using namespace saving_test;
namespace fs = std::filesystem;

namespace {

// A fresh folder for one test, removed at its end.
struct TempDir {
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name =
        std::string("neurona_half_") + info->name() + "_" + std::to_string(::getpid());
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    dir = fs::temp_directory_path() / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  const fs::path& path() const { return dir; }
  fs::path dir;
};

std::shared_ptr<nr::Model> dense_model(const std::string& dtype, std::int64_t units = 8,
                                       std::int64_t inputs = 4) {
  return std::make_shared<nr::Sequential>(
      std::vector<L::AnyLayer>{L::Input({inputs}), L::Dense(units, {.dtype = dtype})});
}

// The HDF5 element type of dataset `path` in `file`: its class, its size, and its
// dtype attribute ("" when it has none).
struct StoredType {
  H5T_class_t cls = H5T_NO_CLASS;
  std::size_t size = 0;
  std::string dtype_attribute;
};

StoredType stored_type(const fs::path& file, const std::string& path) {
  StoredType out;
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return out;
  const hid_t ds = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  if (ds >= 0) {
    const hid_t type = H5Dget_type(ds);
    out.cls = H5Tget_class(type);
    out.size = H5Tget_size(type);
    H5Tclose(type);
    if (H5Aexists(ds, "dtype") > 0) {
      const hid_t attr = H5Aopen(ds, "dtype", H5P_DEFAULT);
      const hid_t mem = H5Tcopy(H5T_C_S1);
      H5Tset_size(mem, H5T_VARIABLE);
      H5Tset_cset(mem, H5T_CSET_UTF8);
      char* value = nullptr;
      if (H5Aread(attr, mem, &value) >= 0 && value != nullptr) {
        out.dtype_attribute = value;
        H5free_memory(value);
      }
      H5Tclose(mem);
      H5Aclose(attr);
    }
    H5Dclose(ds);
  }
  H5Fclose(f);
  return out;
}

class HalfWeights : public ::testing::TestWithParam<const char*> {};

// The case: a float16 (or bfloat16) Dense(256) model loads the float32 model's file.
TEST_P(HalfWeights, Float32FileLoadsRoundedOnceInto16BitVariables) {
  const std::string dtype = GetParam();
  const nr::DType h = nr::dtype_from_string(dtype);
  TempDir dir;
  auto wide = dense_model("float32", 256, 64);
  randomize_weights(*wide, 7);
  const fs::path file = dir.path() / "wide.weights.h5";
  wide->save_weights(file.string());

  auto narrow = dense_model(dtype, 256, 64);
  narrow->load_weights(file.string());
  const auto w = wide->get_weights();
  const auto n = narrow->get_weights();
  ASSERT_EQ(n.size(), w.size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(n[i].dtype(), h);
    // Exactly the float32 values rounded once to nearest even: no inf, no neighbour's bytes.
    EXPECT_EQ(nr::cast(n[i], nr::float32).to_vector<float>(),
              nr::cast(nr::cast(w[i], h), nr::float32).to_vector<float>());
  }
}

TEST_P(HalfWeights, SixteenBitFilesRoundTripAndLoadIntoFloat32AndFloat64) {
  const std::string dtype = GetParam();
  TempDir dir;
  auto narrow = dense_model(dtype, 33, 17);
  randomize_weights(*narrow, 11);
  const fs::path file = dir.path() / "narrow.weights.h5";
  narrow->save_weights(file.string());
  const auto expected = narrow->get_weights();

  for (const char* into : {dtype.c_str(), "float32", "float64"}) {
    SCOPED_TRACE(into);
    auto model = dense_model(into, 33, 17);
    model->load_weights(file.string());
    const auto got = model->get_weights();
    ASSERT_EQ(got.size(), expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].dtype(), nr::dtype_from_string(into));
      // Widening is exact.
      EXPECT_EQ(nr::cast(got[i], nr::float64).to_vector<double>(),
                nr::cast(expected[i], nr::float64).to_vector<double>());
    }
  }
}

TEST_P(HalfWeights, StoredAsKeras3StoresThem) {
  const std::string dtype = GetParam();
  TempDir dir;
  const fs::path file = dir.path() / "narrow.weights.h5";
  dense_model(dtype)->save_weights(file.string());
  // What Keras wrote for the same model (dense_<dtype>.weights.h5) and what neurona writes.
  for (const fs::path& f : {reference_dir() / ("dense_" + dtype + ".weights.h5"), file}) {
    SCOPED_TRACE(f.string());
    const StoredType t = stored_type(f, "layers/dense/vars/0");
    EXPECT_EQ(t.size, 2u);
    if (dtype == "float16") {
      EXPECT_EQ(t.cls, H5T_FLOAT);
      EXPECT_EQ(t.dtype_attribute, "");
    } else {
      EXPECT_EQ(t.cls, H5T_OPAQUE);
      EXPECT_EQ(t.dtype_attribute, "bfloat16");
    }
  }
}

TEST_P(HalfWeights, KerasFilesLoadToKerasValues) {
  const std::string dtype = GetParam();
  const std::string name = "dense_" + dtype;
  for (const fs::path& folder : {reference_dir(), reference_dir() / "from_neurona"}) {
    SCOPED_TRACE(folder.string());
    const auto io = read_io(folder / (name + ".io.txt"));
    for (const char* into : {dtype.c_str(), "float32"}) {
      SCOPED_TRACE(into);
      auto model = dense_model(into);
      model->load_weights((folder / (name + ".weights.h5")).string());
      const auto w = model->get_weights();
      ASSERT_EQ(w.size(), 2u);
      EXPECT_EQ(nr::cast(w[0], nr::float32).to_vector<float>(), io.at("kernel").to_vector<float>());
      EXPECT_EQ(nr::cast(w[1], nr::float32).to_vector<float>(), io.at("bias").to_vector<float>());
    }
  }
}

// Writes dense_<dtype>.weights.h5 and .io.txt into $NEURONA_WRITE_SAVING_FIXTURES for
// `make_keras_saving_references.py --check DIR`.
TEST_P(HalfWeights, WriteFixturesForKerasWhenAsked) {
  NEURONA_FIXTURE_DIR_OR_SKIP(dir, "NEURONA_WRITE_SAVING_FIXTURES");
  const std::string dtype = GetParam();
  nr::clear_session();
  auto model = dense_model(dtype);
  randomize_weights(*model, dtype == "float16" ? 1500 : 1600);
  const fs::path base = fs::path(dir) / ("dense_" + dtype);
  model->save_weights(base.string() + ".weights.h5");
  const auto w = model->get_weights();
  write_io(base.string() + ".io.txt",
           {{"kernel", nr::cast(w[0], nr::float32)}, {"bias", nr::cast(w[1], nr::float32)}});
}

INSTANTIATE_TEST_SUITE_P(Types, HalfWeights, ::testing::Values("float16", "bfloat16"),
                         [](const auto& param_info) { return std::string(param_info.param); });

}  // namespace

namespace {

// Rewrites dataset `path` of the HDF5 file `file` with the same float32 values and the dataset
// creation properties `dcpl` sets up (a chunked, filtered or external layout).
void rewrite_dataset(const fs::path& file, const std::string& path,
                     const std::function<void(hid_t dcpl)>& layout) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  const hid_t ds = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  ASSERT_GE(ds, 0);
  const hid_t space = H5Dget_space(ds);
  std::vector<float> values(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space)));
  ASSERT_GE(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  H5Dclose(ds);
  ASSERT_GE(H5Ldelete(f, path.c_str(), H5P_DEFAULT), 0);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  layout(dcpl);
  const hid_t again =
      H5Dcreate2(f, path.c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  ASSERT_GE(again, 0);
  ASSERT_GE(H5Dwrite(again, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  H5Dclose(again);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Fclose(f);
}

// libhdf5 1.10 trusts corrupt chunk indexes and filter pipelines: the loader reads only the
// contiguous, unfiltered datasets Keras and neurona write, and refuses the rest before any
// data is read.
TEST(WeightsLayouts, ChunkedFilteredAndExternalDatasetsAreRefused) {
  TempDir dir;
  const fs::path file = dir.path() / "mlp.weights.h5";
  const std::string kernel = "layers/dense/vars/0";
  const hsize_t chunk[2] = {2, 2};
  struct Case {
    const char* what;
    std::function<void(hid_t)> layout;
    const char* message;
  };
  const fs::path external = dir.path() / "outside.bin";
  const std::vector<Case> cases = {
      {"chunked", [&](hid_t dcpl) { H5Pset_chunk(dcpl, 2, chunk); }, "stored in chunks"},
      {"deflated",
       [&](hid_t dcpl) {
         H5Pset_chunk(dcpl, 2, chunk);
         H5Pset_deflate(dcpl, 6);
       },
       "stored in chunks"},
      {"external", [&](hid_t dcpl) { H5Pset_external(dcpl, external.c_str(), 0, 4 * 2 * 4); },
       "external"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto model = dense_model("float32", 2, 4);
    model->save_weights(file.string());
    rewrite_dataset(file, kernel, c.layout);
    auto fresh = dense_model("float32", 2, 4);
    const auto before = fresh->get_weights();
    NEURONA_EXPECT_THROW_MSG(fresh->load_weights(file.string()), nr::ValueError, "dense", "kernel",
                             c.message);
    // Left unchanged.
    EXPECT_EQ(fresh->get_weights()[0].to_vector<float>(), before[0].to_vector<float>());
  }
}

}  // namespace
