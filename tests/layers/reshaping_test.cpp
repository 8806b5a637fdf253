// Flatten and Reshape: output shapes with an unknown batch, values in order, and errors.
#include <neurona/neurona.h>

#include "support/test_util.h"

namespace nr = neurona;

TEST(Flatten, KeepsTheBatchAndFlattensTheRest) {
  auto flatten = nr::layers::Flatten();
  EXPECT_EQ(flatten->compute_output_shape({-1, 28, 28, 1}), (nr::Shape{-1, 784}));
  EXPECT_EQ(flatten->compute_output_shape({-1}), (nr::Shape{-1, 1}));
  EXPECT_EQ(flatten->compute_output_shape({-1, -1, 3}), (nr::Shape{-1, -1}));
  const nr::Tensor x = nr::arange(24.0).reshape({2, 3, 4});
  const nr::Tensor y = flatten(x);
  EXPECT_EQ(y.shape(), (nr::Shape{2, 12}));
  EXPECT_EQ(y.to_vector<double>(), x.to_vector<double>());
}

TEST(Flatten, ChannelsFirstIsPermutedToChannelsLast) {
  auto flatten = nr::layers::Flatten({.data_format = "channels_first"});
  // (batch 1, channels 2, 3 positions): channels-last order interleaves the channels.
  const nr::Tensor x = nr::arange(6.0).reshape({1, 2, 3});
  EXPECT_TRUE(nr::testing::all_close(flatten(x), {0, 3, 1, 4, 2, 5}));
  NEURONA_EXPECT_THROW_MSG(nr::layers::Flatten({.data_format = "nchw"}), nr::ValueError, "nchw");
}

TEST(Reshape, ReshapesAllButTheBatch) {
  auto reshape = nr::layers::Reshape({4, -1});
  EXPECT_EQ(reshape->compute_output_shape({-1, 20}), (nr::Shape{-1, 4, 5}));
  EXPECT_EQ(reshape->compute_output_shape({-1, -1}), (nr::Shape{-1, 4, -1}));
  const nr::Tensor x = nr::arange(40.0).reshape({2, 20});
  const nr::Tensor y = reshape(x);
  EXPECT_EQ(y.shape(), (nr::Shape{2, 4, 5}));
  EXPECT_EQ(y.to_vector<double>(), x.to_vector<double>());
}

TEST(Reshape, ErrorsNameTheShapes) {
  nr::clear_session();
  auto reshape = nr::layers::Reshape({5});
  NEURONA_EXPECT_THROW_MSG(reshape(nr::ones({2, 4})), nr::ShapeError, "Reshape 'reshape'",
                           "total size of the tensor must be unchanged", "input_shape=(4,)",
                           "target_shape=(5,)");
  NEURONA_EXPECT_THROW_MSG(nr::layers::Reshape({-1, -1}), nr::ValueError,
                           "at most one unknown dimension");
  NEURONA_EXPECT_THROW_MSG(nr::layers::Reshape({0, 2}), nr::ValueError, "got 0 at index 0");
  // A negative dimension other than -1 is named as given (the shape printed it as None).
  NEURONA_EXPECT_THROW_MSG(nr::layers::Reshape({2, -3}), nr::ValueError, "got -3 at index 1");
  NEURONA_EXPECT_THROW_MSG((void)nr::Input({-5}), nr::ShapeError, "got -5 at index 0");
}
