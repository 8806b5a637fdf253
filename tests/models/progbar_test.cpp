// The progress bar's text for known runs (a fake clock), against Keras 3's Progbar output.
#include "neurona/models/progbar.h"

#include <gtest/gtest.h>

#include <sstream>

#include "neurona/core/error.h"

namespace nr = neurona;
using nr::callbacks::Progbar;
using nr::callbacks::ProgbarOptions;

namespace {

const std::string kBar = "\u2501";

std::string bars(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += kBar;
  return s;
}

}  // namespace

TEST(Progbar, NotATerminalPrintsOnlyTheFinishedLine) {
  double now = 0;
  std::ostringstream out;
  Progbar bar(3, out, {.verbose = 1, .dynamic_display = false, .clock = [&] { return now; }});
  now = 1.0;
  bar.update(1, {{"loss", 1.0}});
  now = 1.5;
  bar.update(2, {{"loss", 0.5}});
  EXPECT_EQ(out.str(), "");
  now = 2.0;
  bar.update(3, {{"loss", 0.25}, {"accuracy", 0.5}});
  // Time per step ignores the first step, as Keras: (2.0 - 1.0) / 2.
  EXPECT_EQ(out.str(), "3/3 " + bars(20) + " 2s 500ms/step - loss: 0.2500 - accuracy: 0.5000\n");
}

TEST(Progbar, TerminalRedrawsWithEtaAndKerasColours) {
  double now = 0;
  std::ostringstream out;
  Progbar bar(3, out, {.verbose = 1, .dynamic_display = true, .clock = [&] { return now; }});
  now = 1.0;
  bar.update(1, {{"loss", 1.0}});
  EXPECT_EQ(out.str(), "\r\x1b[1m1/3\x1b[0m \x1b[32m" + bars(6) + "\x1b[0m\x1b[37m" + bars(14) +
                           "\x1b[0m \x1b[1m2s\x1b[0m 1s/step - loss: 1.0000");
  out.str("");
  now = 1.01;  // within the 0.05 s interval: no redraw
  bar.update(2, {{"loss", 0.5}});
  EXPECT_EQ(out.str(), "");
  now = 3.0;
  bar.update(3, {{"loss", 0.25}});
  const std::string text = out.str();
  // Back over the previous line (its width without escape codes), then the final line.
  const std::size_t prev_width =
      std::string("1/3 ").size() + 20 + std::string(" 2s 1s/step - loss: 1.0000").size();
  EXPECT_EQ(text.substr(0, prev_width), std::string(prev_width, '\b'));
  EXPECT_NE(text.find("\x1b[1m3s\x1b[0m 1s/step - loss: 0.2500\n"), std::string::npos) << text;
}

TEST(Progbar, RunningValuesAreAveragedOverStepsAsKerasDoes) {
  double now = 0;
  std::ostringstream out;
  Progbar bar(4, out, {.verbose = 1, .dynamic_display = true, .clock = [&] { return now; }});
  now = 1;
  bar.update(1, {{"loss", 1.0}});
  now = 2;
  out.str("");
  bar.update(2, {{"loss", 0.5}});
  EXPECT_NE(out.str().find("loss: 0.7500"), std::string::npos) << out.str();
}

TEST(Progbar, VerboseTwoIsOneLinePerEpoch) {
  double now = 0;
  std::ostringstream out;
  Progbar bar(469, out, {.verbose = 2, .clock = [&] { return now; }});
  for (int i = 1; i <= 469; ++i) {
    now = 0.006 * i;
    bar.update(i, {{"accuracy", 0.8512}, {"loss", 0.4194}});
  }
  EXPECT_EQ(out.str(), "469/469 - 3s - 6ms/step - accuracy: 0.8512 - loss: 0.4194\n");
}

TEST(Progbar, SmallValuesUseExponentFormatAndTimesTheirUnits) {
  EXPECT_EQ(nr::callbacks::format_log_value(0.0004), "4.0000e-04");
  EXPECT_EQ(nr::callbacks::format_log_value(0.5), "0.5000");
  EXPECT_EQ(nr::callbacks::format_step_time(0.0002, "step"), " 200us/step");
  EXPECT_EQ(nr::callbacks::format_step_time(2.4, "step"), " 2s/step");
}

TEST(Progbar, RejectsANegativeTarget) {
  std::ostringstream out;
  EXPECT_THROW(Progbar(-1, out), nr::ValueError);
}

TEST(Progbar, AnUnknownTargetCountsStepsAsKerasDoesUntilItIsKnown) {
  // Keras's Progbar(target=None): "%7d/Unknown", the time so far instead of an ETA.
  double now = 0;
  std::ostringstream out;
  Progbar bar(0, out, {.verbose = 1, .dynamic_display = true, .clock = [&] { return now; }});
  now = 1.0;
  bar.update(1, {{"loss", 1.0}});
  EXPECT_EQ(out.str(), "\r      1/Unknown \x1b[1m1s\x1b[0m 1s/step - loss: 1.0000");
  out.str("");
  now = 2.0;
  bar.set_target(2);  // ProgbarLogger: the steps seen when the epoch ends
  bar.update(2, {{"loss", 0.5}}, /*finalize=*/true);
  EXPECT_NE(out.str().find("2/2\x1b[0m "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("\x1b[1m2s\x1b[0m 1s/step - loss: 0.5000\n"), std::string::npos)
      << out.str();
}
