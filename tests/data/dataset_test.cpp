// The input pipeline: what each transformation gives, its cardinality, reproducibility with seeds
// (whatever the number of workers), caches, prefetching threads and errors reaching the consumer.
#include "neurona/data/dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <limits>
#include <numeric>
#include <set>

#include "data/data_test_util.h"
#include "neurona/core/random.h"
#include "neurona/data/idx.h"
#include "neurona/data/npy.h"
#include "neurona/kernels/creation.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::data::Dataset;
using nr::data::Element;

namespace {

// The first component of every element, as int64 scalars (range() datasets and their batches).
std::vector<std::int64_t> values_of(const Dataset& ds) {
  std::vector<std::int64_t> out;
  for (const Element& e : ds) {
    for (std::int64_t v : e.at(0).to_vector<std::int64_t>()) out.push_back(v);
  }
  return out;
}

std::vector<std::int64_t> iota(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(to - from));
  std::iota(v.begin(), v.end(), from);
  return v;
}

}  // namespace

TEST(Dataset, FromTensorSlicesGivesRowsInOrder) {
  const nr::Tensor x = nr::testing::make_tensor({1, 2, 3, 4, 5, 6}, {3, 2});
  const nr::Tensor y = nr::testing::make_tensor({7, 8, 9}, {3}, nr::int32);
  const Dataset ds = Dataset::from_tensor_slices({x, y});
  EXPECT_EQ(ds.cardinality(), 3);
  const std::vector<Element> elements = ds.elements();
  ASSERT_EQ(elements.size(), 3u);
  EXPECT_EQ(elements[1][0].shape(), (nr::Shape{2}));
  EXPECT_EQ(elements[1][0].to_vector<float>(), (std::vector<float>{3, 4}));
  EXPECT_EQ(elements[2][1].shape(), (nr::Shape{}));
  EXPECT_EQ(elements[2][1].item<int>(), 9);
}

TEST(Dataset, FromTensorSlicesRefusesTensorsOfDifferentLengths) {
  const nr::Tensor x = nr::zeros({3, 2});
  const nr::Tensor y = nr::zeros({4});
  try {
    (void)Dataset::from_tensor_slices({x, y});
    FAIL() << "expected a ShapeError";
  } catch (const nr::ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("(3, 2)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(4,)"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)Dataset::from_tensor_slices({nr::constant(1.0)}), nr::ValueError);
}

// Ranges and counts at the ends of int64 (stop - start, a batch's rounding and a repeat's
// product overflowed: empty ranges, negative or wrong cardinalities).
TEST(Dataset, CountsNearTheEndsOfInt64) {
  constexpr std::int64_t big = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(Dataset::range(5, big).cardinality(), big - 5);
  EXPECT_EQ(Dataset::range(-big, big, 2).cardinality(), big);
  EXPECT_EQ(Dataset::range(0, big, 2).cardinality(), big / 2 + 1);
  EXPECT_EQ(Dataset::range(big - 3, big, 2).cardinality(), 2);
  EXPECT_EQ(values_of(Dataset::range(big - 3, big, 2)),
            (std::vector<std::int64_t>{big - 3, big - 1}));
  EXPECT_EQ(values_of(Dataset::range(-big, -big - 1, -1)), (std::vector<std::int64_t>{-big}));
  NEURONA_EXPECT_THROW_MSG(Dataset::range(-5, big), nr::ValueError, "Dataset.range",
                           "more elements than int64 counts");
  EXPECT_EQ(Dataset::range(10).batch(big).cardinality(), 1);
  EXPECT_EQ(Dataset::range(10).repeat(big).cardinality(), nr::data::kInfiniteCardinality);
  EXPECT_EQ(Dataset::range(10).repeat(3).cardinality(), 30);
}

TEST(Dataset, BatchStacksAndKeepsTheRemainderUnlessDropped) {
  const Dataset ds = Dataset::range(10);
  const Dataset batched = ds.batch(4);
  EXPECT_EQ(batched.cardinality(), 3);
  const std::vector<Element> b = batched.elements();
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0][0].shape(), (nr::Shape{4}));
  EXPECT_EQ(b[2][0].to_vector<std::int64_t>(), (std::vector<std::int64_t>{8, 9}));
  const Dataset dropped = ds.batch(4, {.drop_remainder = true});
  EXPECT_EQ(dropped.cardinality(), 2);
  EXPECT_EQ(values_of(dropped), iota(0, 8));
}

TEST(Dataset, BatchRefusesElementsOfDifferentShapesNamingBoth) {
  const Dataset ds = Dataset::from_generator([] {
    return [i = 0]() mutable -> std::optional<Element> {
      if (i == 2) return std::nullopt;
      return Element{nr::zeros({++i + 1})};
    };
  });
  try {
    (void)ds.batch(2).elements();
    FAIL() << "expected a ShapeError";
  } catch (const nr::ShapeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Dataset.batch"), std::string::npos) << what;
    EXPECT_NE(what.find("(2,)"), std::string::npos) << what;
    EXPECT_NE(what.find("(3,)"), std::string::npos) << what;
  }
}

TEST(Dataset, ShuffleIsAPermutationThatTheSeedRepeatsAndEachPassRedraws) {
  const Dataset ds = Dataset::range(100).shuffle(100, {.seed = 7});
  const std::vector<std::int64_t> first = values_of(ds);
  const std::vector<std::int64_t> second = values_of(ds);
  std::vector<std::int64_t> sorted = first;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, iota(0, 100));
  EXPECT_NE(first, iota(0, 100));
  EXPECT_NE(first, second);  // reshuffled for the second pass
  // The same seed in a new dataset gives the same passes.
  const Dataset again = Dataset::range(100).shuffle(100, {.seed = 7});
  EXPECT_EQ(values_of(again), first);
  EXPECT_EQ(values_of(again), second);
  // Without reshuffling, every pass repeats the first.
  const Dataset fixed =
      Dataset::range(100).shuffle(100, {.seed = 7, .reshuffle_each_iteration = false});
  EXPECT_EQ(values_of(fixed), values_of(fixed));
  // Without a seed, set_seed makes it repeatable.
  nr::set_seed(3);
  const std::vector<std::int64_t> global_a = values_of(Dataset::range(50).shuffle(50));
  nr::set_seed(3);
  EXPECT_EQ(values_of(Dataset::range(50).shuffle(50)), global_a);
}

TEST(Dataset, ShuffleBufferBoundsHowFarAnElementMovesForward) {
  const std::int64_t buffer = 5;
  const std::vector<std::int64_t> out = values_of(Dataset::range(200).shuffle(buffer, {.seed = 1}));
  ASSERT_EQ(out.size(), 200u);
  for (std::size_t p = 0; p < out.size(); ++p) {
    // Output p is drawn from the first p + buffer elements.
    EXPECT_LT(out[p], static_cast<std::int64_t>(p) + buffer) << "at " << p;
  }
  EXPECT_EQ(values_of(Dataset::range(20).shuffle(1, {.seed = 1})), iota(0, 20));
}

TEST(Dataset, ParallelMapGivesWhatTheSequentialMapGivesRandomNumbersIncluded) {
  // Each element gets a random number drawn inside the function: the map's stream for that
  // element, not the global counter or a thread's.
  const auto noisy = [](const Element& e) {
    return Element{e[0], nr::random_uniform({}, {.device = nr::Device::cpu()})};
  };
  const auto run = [&](int workers, std::uint64_t seed) {
    std::vector<std::pair<std::int64_t, float>> out;
    const Dataset ds = Dataset::range(64).map(noisy, {.num_parallel_calls = workers, .seed = seed});
    for (const Element& e : ds) out.emplace_back(e[0].item<std::int64_t>(), e[1].item<float>());
    return out;
  };
  const auto sequential = run(1, 11);
  ASSERT_EQ(sequential.size(), 64u);
  for (std::size_t i = 0; i < sequential.size(); ++i) {
    EXPECT_EQ(sequential[i].first, static_cast<std::int64_t>(i));
  }
  EXPECT_EQ(run(4, 11), sequential);
  EXPECT_EQ(run(3, 11), sequential);
  EXPECT_NE(run(4, 12), sequential);
  std::set<float> distinct;
  for (const auto& [i, r] : sequential) distinct.insert(r);
  EXPECT_EQ(distinct.size(), sequential.size());
}

TEST(Dataset, MapDrawsNewNumbersOnEveryPass) {
  const Dataset ds = Dataset::range(4).map(
      [](const Element&) { return Element{nr::random_uniform({}, {.device = nr::Device::cpu()})}; },
      {.seed = 5});
  std::vector<float> a, b;
  for (const Element& e : ds) a.push_back(e[0].item<float>());
  for (const Element& e : ds) b.push_back(e[0].item<float>());
  EXPECT_NE(a, b);
}

TEST(Dataset, UnorderedParallelMapGivesEveryElementOnce) {
  const Dataset ds = Dataset::range(100).map([](const Element& e) { return e; },
                                             {.num_parallel_calls = 4, .deterministic = false});
  std::vector<std::int64_t> out = values_of(ds);
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, iota(0, 100));
}

TEST(Dataset, AMapFunctionsErrorReachesTheConsumerAfterTheElementsBeforeIt) {
  for (int workers : {1, 4}) {
    const Dataset ds = Dataset::range(20).map(
        [](const Element& e) {
          if (e[0].item<std::int64_t>() == 5) throw nr::ValueError("bad element 5");
          return e;
        },
        {.num_parallel_calls = workers});
    nr::data::Iterator it = ds.iterator();
    for (std::int64_t i = 0; i < 5; ++i) {
      const std::optional<Element> e = it.next();
      ASSERT_TRUE(e.has_value());
      EXPECT_EQ((*e)[0].item<std::int64_t>(), i);
    }
    EXPECT_THROW((void)it.next(), nr::ValueError) << workers << " workers";
  }
}

TEST(Dataset, AnIteratorLeftHalfWayStopsItsThreads) {
  const Dataset ds = Dataset::range(1000)
                         .map([](const Element& e) { return e; }, {.num_parallel_calls = 3})
                         .prefetch(4);
  for (int pass = 0; pass < 3; ++pass) {
    nr::data::Iterator it = ds.iterator();
    ASSERT_TRUE(it.next().has_value());
  }  // each iterator's destructor joins its threads; the test ends instead of hanging
  EXPECT_EQ(values_of(ds.take(3)), iota(0, 3));
}

TEST(Dataset, RepeatTakeSkipAndShard) {
  const Dataset ds = Dataset::range(10);
  EXPECT_EQ(ds.repeat(2).cardinality(), 20);
  EXPECT_EQ(values_of(ds.repeat(2)).size(), 20u);
  EXPECT_EQ(ds.repeat().cardinality(), nr::data::kInfiniteCardinality);
  EXPECT_EQ(ds.repeat().take(25).cardinality(), 25);
  EXPECT_EQ(values_of(ds.repeat().take(12)),
            (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1}));
  EXPECT_EQ(values_of(ds.take(3)), iota(0, 3));
  EXPECT_EQ(values_of(ds.take(-1)), iota(0, 10));
  EXPECT_EQ(values_of(ds.skip(8)), iota(8, 10));
  EXPECT_EQ(ds.skip(8).cardinality(), 2);
  EXPECT_EQ(ds.skip(12).cardinality(), 0);
  EXPECT_EQ(values_of(ds.shard(3, 1)), (std::vector<std::int64_t>{1, 4, 7}));
  EXPECT_EQ(ds.shard(3, 1).cardinality(), 3);
  EXPECT_EQ(ds.shard(3, 0).cardinality(), 4);
  EXPECT_EQ(values_of(ds.shard(3, 0)), (std::vector<std::int64_t>{0, 3, 6, 9}));
  EXPECT_THROW((void)ds.shard(3, 3), nr::ValueError);
  // The shards of all workers together are the dataset, each element once.
  std::vector<std::int64_t> all;
  for (int k = 0; k < 4; ++k) {
    for (std::int64_t v : values_of(ds.shard(4, k))) all.push_back(v);
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, iota(0, 10));
  // An empty dataset repeated forever ends instead of spinning.
  EXPECT_TRUE(values_of(ds.take(0).repeat()).empty());
}

TEST(Dataset, FilterKeepsTheElementsThePredicateAccepts) {
  const Dataset ds = Dataset::range(10).filter(
      [](const Element& e) { return e[0].item<std::int64_t>() % 3 == 0; });
  EXPECT_EQ(ds.cardinality(), nr::data::kUnknownCardinality);
  EXPECT_EQ(values_of(ds), (std::vector<std::int64_t>{0, 3, 6, 9}));
}

TEST(Dataset, FromGeneratorStartsTheGeneratorAgainForEveryPass) {
  auto passes = std::make_shared<int>(0);
  const Dataset ds = Dataset::from_generator([passes] {
    ++*passes;
    return [i = std::int64_t{0}]() mutable -> std::optional<Element> {
      if (i == 3) return std::nullopt;
      return Element{nr::kernels::constant(std::vector<std::int64_t>{i++}, nr::Shape{})};
    };
  });
  EXPECT_EQ(ds.cardinality(), nr::data::kUnknownCardinality);
  EXPECT_EQ(values_of(ds), iota(0, 3));
  EXPECT_EQ(values_of(ds), iota(0, 3));
  EXPECT_EQ(*passes, 2);
}

TEST(Dataset, CacheInMemoryReadsTheInputOnlyOnceItHasAWholePass) {
  auto reads = std::make_shared<std::atomic<int>>(0);
  const Dataset ds =
      Dataset::range(6)
          .map(
              [reads](const Element& e) {
                ++*reads;
                return Element{e[0], nr::random_uniform({}, {.device = nr::Device::cpu()})};
              },
              {.seed = 2})
          .cache();
  // A pass cut short keeps nothing.
  {
    nr::data::Iterator it = ds.iterator();
    (void)it.next();
  }
  std::vector<float> first, second;
  for (const Element& e : ds) first.push_back(e[1].item<float>());
  const int after_first = reads->load();
  for (const Element& e : ds) second.push_back(e[1].item<float>());
  EXPECT_EQ(reads->load(), after_first);
  EXPECT_EQ(first, second);  // the random numbers of the cached pass, not new ones
}

TEST(Dataset, CacheToAFileIsWrittenWholeAndReadByALaterDataset) {
  nr::testing::ScratchDir dir("dataset_cache");
  const std::string path = dir.file("cache.bin");
  const nr::Tensor x = nr::testing::make_tensor({1, 2, 3, 4, 5, 6}, {3, 2});
  const nr::Tensor y = nr::testing::make_tensor({0, 1, 2}, {3}, nr::int32);
  const Dataset ds = Dataset::from_tensor_slices({x, y}).cache(path);
  {
    nr::data::Iterator it = ds.iterator();
    (void)it.next();
  }
  EXPECT_FALSE(std::filesystem::exists(path)) << "a pass cut short must not leave a cache";
  EXPECT_EQ(ds.elements().size(), 3u);
  ASSERT_TRUE(std::filesystem::exists(path));
  // Another dataset over other data but the same file reads the file.
  const Dataset later =
      Dataset::from_tensor_slices({nr::zeros({3, 2}), nr::zeros({3}, {.dtype = nr::int32})})
          .cache(path);
  const std::vector<Element> read = later.elements();
  ASSERT_EQ(read.size(), 3u);
  EXPECT_EQ(read[2][0].to_vector<float>(), (std::vector<float>{5, 6}));
  EXPECT_EQ(read[2][1].dtype(), nr::int32);
  EXPECT_EQ(read[2][1].item<int>(), 2);
  // A file that is not a cache is refused by name.
  const std::string other = dir.file("other.bin");
  nr::write_file_atomic(other, "not a cache");
  EXPECT_THROW((void)Dataset::range(3).cache(other).elements(), nr::IoError);
}

TEST(Dataset, PrefetchGivesTheSameElementsAndPassesOnErrors) {
  const Dataset ds = Dataset::range(50).shuffle(50, {.seed = 4}).batch(8);
  EXPECT_EQ(values_of(ds.prefetch(3)),
            values_of(Dataset::range(50).shuffle(50, {.seed = 4}).batch(8)));
  EXPECT_EQ(ds.prefetch(3).cardinality(), 7);
  const Dataset failing = Dataset::range(10)
                              .map([](const Element& e) {
                                if (e[0].item<std::int64_t>() == 7) throw nr::IoError("disk gone");
                                return e;
                              })
                              .prefetch(2);
  nr::data::Iterator it = failing.iterator();
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(it.next().has_value());
  EXPECT_THROW((void)it.next(), nr::IoError);
}

TEST(Dataset, FromNpyAndFromIdxSliceTheFilesRows) {
  nr::testing::ScratchDir dir("dataset_files");
  const nr::Tensor x = nr::testing::make_tensor({1, 2, 3, 4}, {2, 2});
  const nr::Tensor y = nr::testing::make_tensor({3, 4}, {2}, nr::uint8);
  nr::data::save_npy(dir.file("x.npy"), x);
  nr::data::save_npy(dir.file("y.npy"), y);
  const std::vector<Element> from_npy =
      Dataset::from_npy({dir.file("x.npy"), dir.file("y.npy")}).elements();
  ASSERT_EQ(from_npy.size(), 2u);
  EXPECT_EQ(from_npy[1][0].to_vector<float>(), (std::vector<float>{3, 4}));
  EXPECT_EQ(from_npy[1][1].item<int>(), 4);
  nr::data::save_idx(dir.file("y.idx"), y);
  EXPECT_EQ(Dataset::from_idx({dir.file("y.idx")}).elements()[0][0].item<int>(), 3);
  EXPECT_THROW((void)Dataset::from_npy({dir.file("missing.npy")}), nr::IoError);
}

TEST(Dataset, DescribeNamesEveryStep) {
  const Dataset ds = Dataset::range(10).shuffle(4, {.seed = 1}).batch(2, {.drop_remainder = true});
  EXPECT_EQ(ds.describe(), "range(0, 10, 1) -> shuffle(4) -> batch(2, drop_remainder)");
}

TEST(ScopedRandomStream, DrawsTheSameNumbersWhateverTheGlobalCounter) {
  const auto draw = [] {
    const nr::ScopedRandomStream stream(42);
    return nr::random_uniform({3}, {.device = nr::Device::cpu()}).to_vector<float>();
  };
  const std::vector<float> a = draw();
  (void)nr::random_uniform({5}, {.device = nr::Device::cpu()});  // moves the global counter
  EXPECT_EQ(draw(), a);
  // A SeedGenerator inside the scope draws from the scope too, and is left where it was.
  nr::SeedGenerator gen(1);
  std::vector<float> in_scope;
  {
    const nr::ScopedRandomStream stream(42);
    in_scope = nr::random_uniform({3}, {.device = nr::Device::cpu(), .seed_generator = &gen})
                   .to_vector<float>();
  }
  EXPECT_EQ(in_scope, a);
  nr::SeedGenerator fresh(1);
  EXPECT_EQ(nr::random_uniform({3}, {.device = nr::Device::cpu(), .seed_generator = &gen})
                .to_vector<float>(),
            nr::random_uniform({3}, {.device = nr::Device::cpu(), .seed_generator = &fresh})
                .to_vector<float>());
}
