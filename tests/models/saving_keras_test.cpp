// Interoperability with Keras 3 itself. tests/reference/saving/ holds files Keras wrote
// (make_keras_saving_references.py): neurona loads each and reproduces Keras's outputs. Its
// from_neurona/ folder holds files neurona wrote (this binary with
// NEURONA_WRITE_SAVING_FIXTURES=DIR), which the script's --check mode loads into Keras; here
// they must still load into neurona and give the outputs stored beside them.

#include "models/saving_models.h"
#include "support/paths.h"
#include "support/test_util.h"

using namespace saving_test;
namespace fs = std::filesystem;

namespace {

void expect_reproduces(nr::Model& model, const fs::path& io_path) {
  const auto io = read_io(io_path);
  const nr::Tensor y = model.predict(io.at("x"));
  ASSERT_EQ(y.shape(), io.at("y").shape());
  EXPECT_TRUE(nr::testing::all_close(y, io.at("y").to_vector<double>(), 1e-6, 1e-5));
}

}  // namespace

TEST(KerasFiles, WeightsH5FromKerasReproduceKerasOutputs) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    auto model = c.build();
    model->load_weights((reference_dir() / (std::string(c.name) + ".weights.h5")).string());
    expect_reproduces(*model, reference_dir() / (std::string(c.name) + ".io.txt"));
  }
}

TEST(KerasFiles, KerasArchivesFromKerasRebuildAndReproduce) {
  register_subclass_model();
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    auto model =
        nr::models::load_model((reference_dir() / (std::string(c.name) + ".keras")).string());
    EXPECT_EQ(model->class_name(), c.build()->class_name());
    expect_reproduces(*model, reference_dir() / (std::string(c.name) + ".io.txt"));
  }
}

TEST(KerasFiles, NeuronaWrittenFixturesStillLoad) {
  register_subclass_model();
  const fs::path dir = reference_dir() / "from_neurona";
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    auto model = c.build();
    model->load_weights((dir / (std::string(c.name) + ".weights.h5")).string());
    expect_reproduces(*model, dir / (std::string(c.name) + ".io.txt"));
    auto loaded = nr::models::load_model((dir / (std::string(c.name) + ".keras")).string());
    expect_reproduces(*loaded, dir / (std::string(c.name) + ".io.txt"));
  }
}

// Writes <case>.weights.h5, <case>.keras and <case>.io.txt from neurona models with
// neurona's own weights into $NEURONA_WRITE_SAVING_FIXTURES, for
// `make_keras_saving_references.py --check DIR`.
TEST(KerasFiles, WriteFixturesForKerasWhenAsked) {
  NEURONA_FIXTURE_DIR_OR_SKIP(dir, "NEURONA_WRITE_SAVING_FIXTURES");
  for (std::size_t i = 0; i < cases().size(); ++i) {
    const Case& c = cases()[i];
    nr::clear_session();
    auto model = c.build();
    randomize_weights(*model, 1000 + static_cast<std::uint32_t>(i) * 100);
    const nr::Tensor x = nr::testing::random_tensor(c.x_shape, nr::float32, -1.0, 1.0,
                                                    500 + static_cast<std::uint32_t>(i));
    const fs::path base = fs::path(dir) / c.name;
    model->save_weights(base.string() + ".weights.h5");
    model->save(base.string() + ".keras");
    write_io(base.string() + ".io.txt", {{"x", x}, {"y", model->predict(x)}});
  }
}
