// mmada plot-log's pieces: reading train/RL JSONL logs into series (bad lines counted, resumed
// runs de-duplicated), choosing panels and bands, moving averages, labels, the bucketed table,
// and a rendered PNG read back with the engine's PNG reader.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/error.h"
#include "io/image.h"
#include "plot/log_series.h"
#include "plot/render.h"
#include "test_util.h"

namespace mmada::plot {
namespace {

namespace fs = std::filesystem;

LogData parse(const std::string& text) {
  std::istringstream in(text);
  return parse_log(in, "test.jsonl");
}

using test::error_of;

// Three RL-log records in the shape rl_trainer.cc writes them (nlohmann sorts the keys).
const char* kRlLog =
    R"({"kl":0.5,"len_max":12,"len_mean":10.0,"len_min":8,"reward_format_mean":1.0,"reward_format_std":0.0,"reward_mean":1.0,"reward_std":0.5,"step":1})"
    "\n"
    R"({"kl":0.25,"len_max":14,"len_mean":11.0,"len_min":9,"reward_format_mean":1.0,"reward_format_std":0.0,"reward_mean":1.5,"reward_std":0.25,"step":2})"
    "\n"
    R"({"kl":0.125,"len_max":15,"len_mean":12.0,"len_min":9,"reward_format_mean":0.5,"reward_format_std":0.5,"reward_mean":2.0,"reward_std":0.0,"step":3})"
    "\n";

TEST(PlotLog, ParsesColumnsAndCountsMalformedLines) {
  const LogData l = parse(
      "{\"step\": 1, \"loss\": 2.5, \"lr\": 0.001, \"note\": \"text is ignored\"}\n"
      "\n"
      "{\"step\": 2, \"loss\": 2.0}\n"
      "[1, 2, 3]\n"
      "{\"step\": \"three\", \"loss\": 1}\n"
      "{\"step\": 3, \"loss\": null, \"lr\": 0.002}\n"
      "{\"step\": 4, \"loss\": 1.5, \"lr\":");  // a run killed mid-write
  ASSERT_EQ(l.records(), 3u);
  EXPECT_EQ(l.step, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(l.malformed, 3);
  EXPECT_EQ(l.first_malformed, "line 4: not a JSON object");
  EXPECT_EQ(l.values.size(), 2u);  // loss, lr: "step" is the x axis, strings are not series
  EXPECT_EQ(l.at("loss")[0], 2.5);
  EXPECT_EQ(l.at("loss")[1], 2.0);
  EXPECT_TRUE(std::isnan(l.at("loss")[2]));  // null: a non-finite value in the run
  EXPECT_TRUE(std::isnan(l.at("lr")[1]));    // absent in that record
  EXPECT_EQ(l.at("lr")[2], 0.002);
  EXPECT_NE(error_of([&] { l.at("kl"); }).find("no key \"kl\""), std::string::npos);
}

TEST(PlotLog, ResumedRunKeepsTheLaterLines) {
  // Steps 1-3 logged, the run resumed from the checkpoint of step 1 and logged 2-4 again.
  const LogData l = parse(
      "{\"step\":1,\"loss\":4}\n{\"step\":2,\"loss\":3}\n{\"step\":3,\"loss\":2}\n"
      "{\"step\":2,\"loss\":30}\n{\"step\":3,\"loss\":20}\n{\"step\":4,\"loss\":10}\n");
  EXPECT_EQ(l.step, (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(l.at("loss"), (std::vector<double>{4, 30, 20, 10}));
  EXPECT_EQ(l.superseded, 2);
  EXPECT_EQ(l.malformed, 0);
}

TEST(PlotLog, WithoutAStepKeyTheRecordPositionIsTheX) {
  const LogData l = parse("{\"a\":1}\n{\"a\":2}\n");
  EXPECT_EQ(l.step, (std::vector<double>{1, 2}));
}

TEST(PlotLog, LoadRefusesMissingAndEmptyLogs) {
  EXPECT_NE(error_of([] { load_log("/nonexistent/log.jsonl"); }).find("no such log file"), std::string::npos);
  const std::string path = (fs::temp_directory_path() / ("mmada_plot_empty_" + std::to_string(::getpid()))).string();
  {
    std::ofstream f(path);
    f << "not json\n";
  }
  const std::string e = error_of([&] { load_log(path); });
  fs::remove(path);
  EXPECT_NE(e.find("no JSON records (1 malformed lines, first at line 1: not valid JSON)"), std::string::npos) << e;
}

TEST(PlotLog, PanelKeysSyntax) {
  const std::vector<PanelSpec> p = parse_panel_keys("loss, loss_t2i+loss_lm ,lr");
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].keys, (std::vector<std::string>{"loss"}));
  EXPECT_EQ(p[1].keys, (std::vector<std::string>{"loss_t2i", "loss_lm"}));
  EXPECT_EQ(p[2].keys, (std::vector<std::string>{"lr"}));
  for (const char* bad : {"", "a,,b", "a+", ",a"})
    EXPECT_NE(error_of([&] { parse_panel_keys(bad); }).find("empty key name"), std::string::npos) << bad;
}

TEST(PlotLog, DefaultPanelsDrawBandCompanionsAsBands) {
  const std::vector<LogData> logs = {parse(kRlLog)};
  std::vector<std::string> keys;
  for (const PanelSpec& p : default_panels(logs)) keys.push_back(p.keys.at(0));
  // reward_std, reward_format_std, len_min and len_max are bands, not panels.
  EXPECT_EQ(keys, (std::vector<std::string>{"reward_mean", "reward_format_mean", "kl", "len_mean"}));
  const Band s = band_for(logs[0], "reward_mean");
  EXPECT_TRUE(s.is_std);
  EXPECT_EQ(s.lo_key, "reward_std");
  const Band m = band_for(logs[0], "len_mean");
  EXPECT_FALSE(m.is_std);
  EXPECT_EQ(m.lo_key, "len_min");
  EXPECT_EQ(m.hi_key, "len_max");
  EXPECT_FALSE(band_for(logs[0], "kl").present());
}

TEST(PlotLog, UnknownKeyIsAClearError) {
  const std::vector<LogData> logs = {parse(kRlLog)};
  EXPECT_NO_THROW(check_panel_keys(parse_panel_keys("kl,reward_mean+reward_std"), logs));
  const std::string e = error_of([&] { check_panel_keys(parse_panel_keys("kl,los"), logs); });
  EXPECT_NE(e.find("no log has the key \"los\" (keys: kl, len_max, len_mean"), std::string::npos) << e;
}

TEST(PlotLog, MovingAverageIsTrailingAndKeepsGaps) {
  const double nan = std::nan("");
  const std::vector<double> v = {1, 2, 3, 4, nan, 6};
  const std::vector<double> m = moving_average(v, 3);
  EXPECT_EQ(m[0], 1);
  EXPECT_EQ(m[1], 1.5);
  EXPECT_EQ(m[2], 2);
  EXPECT_EQ(m[3], 3);
  EXPECT_TRUE(std::isnan(m[4]));
  EXPECT_EQ(m[5], 5);  // (4 + 6) / 2: the gap is left out of the window
  EXPECT_EQ(moving_average({1, 5}, 1), (std::vector<double>{1, 5}));
}

TEST(PlotLog, LabelsKeepWhatTellsTheLogsApart) {
  EXPECT_EQ(log_labels({{"", "/tmp/a/rl_spaced/rl_log.jsonl"}, {"", "/tmp/a/rl_full/rl_log.jsonl"}}),
            (std::vector<std::string>{"rl_spaced", "rl_full"}));
  EXPECT_EQ(log_labels({{"", "run6/train_log.jsonl"}}), (std::vector<std::string>{"train_log"}));
  EXPECT_EQ(log_labels({{"spaced", "a/x.jsonl"}, {"", "a/b/x.jsonl"}}),
            (std::vector<std::string>{"spaced", "b/x"}));
  EXPECT_EQ(log_labels({{"", "x.jsonl"}, {"", "x.jsonl"}}), (std::vector<std::string>{"x", "x (2)"}));
  const LogArgument named = parse_log_argument("iid=runs/rl_iid/rl_log.jsonl");
  EXPECT_EQ(named.name, "iid");
  EXPECT_EQ(named.path, "runs/rl_iid/rl_log.jsonl");
  EXPECT_EQ(parse_log_argument("plain.jsonl").name, "");
}

TEST(PlotLog, BucketTable) {
  const std::vector<LogData> logs = {parse(kRlLog), parse("{\"step\":1,\"reward_mean\":0}\n{\"step\":2,\"reward_mean\":1}\n")};
  const std::string t = bucket_table(logs, {"a", "b"}, "reward_mean", 2);
  EXPECT_EQ(t,
            "| steps | a | b |\n"
            "|---|---|---|\n"
            "| 1-2 | 1.250 | 0.500 |\n"
            "| 3-3 | 2.000 | |\n"
            "| mean abs step change | 0.500 | 1.000 |\n");
}

TEST(PlotLog, NiceTicks) {
  const std::vector<double> unit = nice_ticks(0, 1, 5);
  ASSERT_EQ(unit.size(), 6u);
  for (size_t i = 0; i < unit.size(); ++i) EXPECT_NEAR(unit[i], 0.2 * double(i), 1e-12);  // k·0.2 rounding
  const std::vector<double> t = nice_ticks(1, 2501, 6);  // a 2,501-step training log
  EXPECT_EQ(t, (std::vector<double>{500, 1000, 1500, 2000, 2500}));
  EXPECT_TRUE(nice_ticks(3, 3).empty());
  EXPECT_TRUE(nice_ticks(1e16, 1e16 + 4).size() <= 5u);  // terminates though k + 1 == k there
}

class PlotRender : public ::testing::Test {
 protected:
  std::string dir_;
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("mmada_plot_" + std::to_string(::getpid()))).string();
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
};

TEST_F(PlotRender, WritesAPngThatReadsBackWithCurves) {
  std::string b;
  for (int s = 1; s <= 40; ++s)
    b += "{\"step\":" + std::to_string(s) + ",\"reward_mean\":" + std::to_string(1 + 0.02 * s) +
         ",\"reward_std\":0.2,\"kl\":" + std::to_string(0.01 * s) + "}\n";
  const std::vector<LogData> logs = {parse(kRlLog), parse(b)};
  const std::vector<PanelSpec> panels = parse_panel_keys("reward_mean,kl,reward_mean+kl");
  PlotOptions opt;
  opt.smooth = 3;
  opt.columns = 2;
  opt.title = "two runs";
  const RgbImage img = render_plot(logs, {"short", "long"}, panels, opt);
  EXPECT_EQ(img.width, 2 * opt.panel_width);
  EXPECT_GT(img.height, 2 * opt.panel_height);  // two rows plus the title and legend header
  EXPECT_LT(img.height, 2 * opt.panel_height + 100);

  const std::string path = dir_ + "/cmp.png";
  write_png(path, img, {{"Software", "mmada plot-log"}});
  const RgbImage back = load_image(path);
  ASSERT_EQ(back.width, img.width);
  ASSERT_EQ(back.height, img.height);
  EXPECT_EQ(back.rgb, img.rgb);
  // Not blank: ink covers a few per cent of a white page, and both logs' colours (tab10 blue
  // 31,119,180 and orange 255,127,14) appear.
  int64_t ink = 0, blue = 0, orange = 0;
  for (size_t i = 0; i < back.rgb.size(); i += 3) {
    const int r = back.rgb[i], g = back.rgb[i + 1], bl = back.rgb[i + 2];
    if (r < 250 || g < 250 || bl < 250) ++ink;
    if (std::abs(r - 31) < 8 && std::abs(g - 119) < 8 && std::abs(bl - 180) < 8) ++blue;
    if (std::abs(r - 255) < 8 && std::abs(g - 127) < 8 && std::abs(bl - 14) < 8) ++orange;
  }
  const int64_t pixels = int64_t(back.width) * back.height;
  EXPECT_GT(ink, pixels / 50);
  EXPECT_LT(ink, pixels / 2);
  EXPECT_GT(blue, 100);
  EXPECT_GT(orange, 100);
}

TEST_F(PlotRender, ExtremeAndMissingValuesStillRender) {
  const std::vector<LogData> logs = {parse("{\"step\":1,\"a\":-1e308,\"b\":null,\"c\":1e16}\n"
                                           "{\"step\":2,\"a\":1e308,\"b\":null,\"c\":1.0000000000000004e16}\n")};
  const RgbImage img = render_plot(logs, {"x"}, parse_panel_keys("a,b,c"), PlotOptions{});
  EXPECT_EQ(img.width, 3 * PlotOptions{}.panel_width);
}

TEST_F(PlotRender, RefusesImpossibleSizes) {
  const std::vector<LogData> logs = {parse(kRlLog)};
  PlotOptions opt;
  opt.panel_width = 50;
  EXPECT_NE(error_of([&] { render_plot(logs, {"a"}, default_panels(logs), opt); }).find("out of range"),
            std::string::npos);
  opt = {};
  opt.panel_width = opt.panel_height = 4000;
  opt.columns = 4;
  std::vector<PanelSpec> many(16, PanelSpec{{"kl"}});
  EXPECT_NE(error_of([&] { render_plot(logs, {"a"}, many, opt); }).find("too large"), std::string::npos);
}

}  // namespace
}  // namespace mmada::plot
