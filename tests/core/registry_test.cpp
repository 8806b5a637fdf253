// Registry<T>: the list constructor and aliases, the forms every name table is built with.
#include "neurona/core/registry.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/test_util.h"

namespace nr = neurona;

namespace {
using Fn = int (*)();
}  // namespace

TEST(Registry, ListConstructorAddsEachNameWithItsEntry) {
  const nr::Registry<Fn> r{{"one", [] { return 1; }}, {"two", [] { return 2; }}};
  EXPECT_EQ(r.names(), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(r.get("one", "", "")(), 1);
  EXPECT_EQ(r.get("two", "", "")(), 2);
}

TEST(Registry, ListConstructorTakesAliasesForOneEntry) {
  const nr::Registry<Fn> r{{{"mse", "MSE", "mean_squared_error"}, [] { return 1; }},
                           {"huber", [] { return 2; }}};
  EXPECT_EQ(r.names(), (std::vector<std::string>{"MSE", "huber", "mean_squared_error", "mse"}));
  for (const char* name : {"mse", "MSE", "mean_squared_error"}) {
    EXPECT_EQ(r.get(name, "", "")(), 1) << name;
  }
}

TEST(Registry, AddWithAliasesGivesEachNameACopy) {
  nr::Registry<std::string> r;
  r.add({"l1", "L1"}, std::string("penalty"));
  EXPECT_EQ(r.names(), (std::vector<std::string>{"L1", "l1"}));
  EXPECT_EQ(*r.find("l1"), "penalty");
  EXPECT_EQ(*r.find("L1"), "penalty");
}

TEST(Registry, RepeatedNamesAreErrors) {
  nr::Registry<int> r;
  r.add("a", 1);
  NEURONA_EXPECT_THROW_MSG(r.add({"b", "a"}, 2), nr::ValueError, "'a' is already registered");
  EXPECT_THROW((nr::Registry<int>{{{"x", "x"}, 1}}), nr::ValueError);
}

TEST(Registry, UnknownNameListsTheValidNamesSorted) {
  const nr::Registry<int> r{{{"b", "a"}, 1}, {"c", 2}};
  NEURONA_EXPECT_THROW_MSG(r.get("z", "no '", "'; valid: "), nr::ValueError,
                           "no 'z'; valid: a, b, c");
}

TEST(Registry, JoinCanNameTheLastWithAnotherSeparator) {
  EXPECT_EQ(nr::Registry<int>::join({"a", "b", "c"}), "a, b, c");
  EXPECT_EQ(nr::Registry<int>::join({"a", "b", "c"}, " and "), "a, b and c");
  EXPECT_EQ(nr::Registry<int>::join({"a"}, " and "), "a");
  EXPECT_EQ(nr::Registry<int>::join({}, " and "), "");
}
