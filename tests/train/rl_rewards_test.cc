// UniGRPO rewards: answer extraction and numeric equivalence, the <think> format, the external
// command reward's failure modes (each one a skipped rollout, never a crash), weighted sums.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

#include "train/rl_rewards.h"

namespace mmada::train {
namespace {

TEST(RlRewards, AnswerExtraction) {
  bool found = false;
  EXPECT_EQ(last_boxed("a \\boxed{1} b \\boxed{\\frac{3}{4}} c", &found), "\\frac{3}{4}");
  EXPECT_TRUE(found);
  last_boxed("\\boxed{unbalanced", &found);
  EXPECT_FALSE(found);
  EXPECT_EQ(last_number("I have 3 apples and 1,234.5 pears"), "1,234.5");
  EXPECT_EQ(last_number("ratio -3/4."), "-3/4");
  EXPECT_EQ(last_number("no digits"), "");
  EXPECT_EQ(extract_answer("<think>7+5=12 c1</think>82"), "82");
  EXPECT_EQ(extract_answer("<think>x</think>The answer is 82."), "82");
  EXPECT_EQ(extract_answer("<think>2+2</think> so \\boxed{4} and 5"), "4");
  EXPECT_EQ(extract_answer("first 3 then 17"), "17");
  EXPECT_EQ(extract_reference("Natalia sold 48 clips... #### 1,072"), "1072");
  EXPECT_EQ(extract_reference("<think>a</think>82"), "82");
}

TEST(RlRewards, NumericEquivalence) {
  EXPECT_TRUE(answers_equal("82", "82"));
  EXPECT_TRUE(answers_equal("82.0", "82"));
  EXPECT_TRUE(answers_equal("1,072", "1072"));
  EXPECT_TRUE(answers_equal("$18", "18"));
  EXPECT_TRUE(answers_equal("0.5", "\\frac{1}{2}"));
  EXPECT_TRUE(answers_equal(".5", "1/2"));
  EXPECT_TRUE(answers_equal("\\dfrac{3}{4}", "0.75"));
  EXPECT_TRUE(answers_equal("\\frac12", "0.5"));
  EXPECT_TRUE(answers_equal("-\\frac{2}{3}", "-2/3"));
  EXPECT_TRUE(answers_equal("50\\%", "50"));
  EXPECT_TRUE(answers_equal("x = 5", "5"));
  EXPECT_TRUE(answers_equal("12\\text{ cm}", "12"));
  EXPECT_TRUE(answers_equal("2\\sqrt{2}", "\\sqrt{8}"));
  EXPECT_FALSE(answers_equal("0.33", "1/3"));
  EXPECT_FALSE(answers_equal("83", "82"));
  EXPECT_FALSE(answers_equal("", "82"));
}

TEST(RlRewards, FormatReward) {
  EXPECT_TRUE(has_think_format("<think>7+5=12</think>82"));
  EXPECT_TRUE(has_think_format("  <think>a</think> b \n"));
  EXPECT_FALSE(has_think_format("<think>a</think>"));          // nothing after
  EXPECT_FALSE(has_think_format("<think>a</think>b</think>c"));  // two closers
  EXPECT_FALSE(has_think_format("x<think>a</think>b"));        // does not start with it
  EXPECT_FALSE(has_think_format("<think>a b"));
  auto f = make_format_reward();
  EXPECT_EQ(*f->score({"q", "<think>t</think>4", "", {}, {}, RlTask::Text}), 1.0);
  EXPECT_EQ(*f->score({"q", "4", "", {}, {}, RlTask::Text}), 0.0);
}

TEST(RlRewards, CorrectnessReward) {
  auto c = make_correctness_reward();
  EXPECT_EQ(*c->score({"37+45", "<think>7+5=12 c1 3+4+1=8</think>82", "<think>...</think>82", {}, {}, RlTask::Text}), 1.0);
  EXPECT_EQ(*c->score({"37+45", "<think>wrong</think>81", "<think>...</think>82", {}, {}, RlTask::Text}), 0.0);
  EXPECT_EQ(*c->score({"q", "so the total is \\boxed{1072}", "blah #### 1,072", {}, {}, RlTask::Text}), 1.0);
  EXPECT_EQ(*c->score({"q", "no answer", "#### 5", {}, {}, RlTask::Text}), 0.0);
}

TEST(RlRewards, CommandRewardReadsJsonAndPrintsNumber) {
  // The scorer gets the JSON on stdin: here it prints 1 when the response field holds "82".
  auto r = make_command_reward("ext", "grep -q '\"response\":\"82\"' && echo 1 || echo 0.25", 10);
  EXPECT_EQ(r->name(), "ext");
  EXPECT_EQ(*r->score({"q", "82", "", {}, {}, RlTask::Text}), 1.0);
  EXPECT_EQ(*r->score({"q", "81", "", {}, {}, RlTask::Text}), 0.25);
}

TEST(RlRewards, CommandRewardFailuresAreSkipsNotCrashes) {
  auto garbage = make_command_reward("g", "cat >/dev/null; echo not-a-number", 10);
  EXPECT_FALSE(garbage->score({"q", "r", "", {}, {}, RlTask::Text}).has_value());
  EXPECT_NE(garbage->last_failure().find("not a number"), std::string::npos);
  auto nan = make_command_reward("n", "echo nan", 10);  // never reads stdin, prints a non-finite
  EXPECT_FALSE(nan->score({"q", "r", "", {}, {}, RlTask::Text}).has_value());
  auto crash = make_command_reward("c", "echo 3; exit 4", 10);
  EXPECT_FALSE(crash->score({"q", "r", "", {}, {}, RlTask::Text}).has_value());
  EXPECT_NE(crash->last_failure().find("status 4"), std::string::npos);
  auto killed = make_command_reward("k", "kill -9 $$", 10);
  EXPECT_FALSE(killed->score({"q", "r", "", {}, {}, RlTask::Text}).has_value());
  auto missing = make_command_reward("m", "/nonexistent/scorer", 10);
  EXPECT_FALSE(missing->score({"q", "r", "", {}, {}, RlTask::Text}).has_value());
  const auto t0 = std::chrono::steady_clock::now();
  auto hang = make_command_reward("h", "sleep 30; echo 1", 0.3);
  EXPECT_FALSE(hang->score({"q", "r", "", {}, {}, RlTask::Text}).has_value());
  EXPECT_NE(hang->last_failure().find("timed out"), std::string::npos);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
}

// A local scorer: 1 when the JSON body's response is "82", 0.25 otherwise; "slow" sleeps past
// the client's time-out, "junk" answers text, "teapot" answers status 418.
TEST(RlRewards, HttpRewardPostsJsonAndReadsNumber) {
  httplib::Server srv;
  srv.Post("/score", [](const httplib::Request& req, httplib::Response& res) {
    const nlohmann::json j = nlohmann::json::parse(req.body);
    const std::string r = j.at("response");
    if (r == "slow") std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    if (r == "teapot") res.status = 418;
    res.set_content(r == "junk" ? "not-a-number" : r == "82" ? "1" : " 0.25\n", "text/plain");
  });
  const int port = srv.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread th([&] { srv.listen_after_bind(); });
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/score";
  auto r = make_http_reward("judge", url, 0.5);
  EXPECT_EQ(r->name(), "judge");
  EXPECT_EQ(*r->score({"q", "82", "", {}, {}, RlTask::Text}), 1.0);
  EXPECT_EQ(*r->score({"q", "81", "", {}, {}, RlTask::Text}), 0.25);
  EXPECT_FALSE(r->score({"q", "junk", "", {}, {}, RlTask::Text}).has_value());
  EXPECT_NE(r->last_failure().find("not a number"), std::string::npos);
  EXPECT_FALSE(r->score({"q", "teapot", "", {}, {}, RlTask::Text}).has_value());
  EXPECT_NE(r->last_failure().find("418"), std::string::npos);
  EXPECT_FALSE(r->score({"q", "slow", "", {}, {}, RlTask::Text}).has_value());  // read time-out
  srv.stop();
  th.join();
  auto refused = make_http_reward("gone", url, 0.5);  // nobody listens any more
  EXPECT_FALSE(refused->score({"q", "82", "", {}, {}, RlTask::Text}).has_value());
  EXPECT_THROW(make_http_reward("s", "https://example.com/x", 1), Error);
  EXPECT_THROW(make_http_reward("p", "http://host:99999/x", 1), Error);
}

TEST(RlRewards, WeightedSumWithPaperDefaults) {
  RewardSet set;
  set.add(make_correctness_reward(), 2.0);
  set.add(make_format_reward(), 0.5);
  const RewardScores a = set.score({"q", "<think>t</think>82", "82", {}, {}, RlTask::Text});
  EXPECT_TRUE(a.ok);
  EXPECT_EQ(a.total, 2.5);
  EXPECT_EQ(a.each, (std::vector<double>{1.0, 1.0}));
  EXPECT_EQ(set.score({"q", "82", "82", {}, {}, RlTask::Text}).total, 2.0);
  EXPECT_EQ(set.score({"q", "<think>t</think>8", "82", {}, {}, RlTask::Text}).total, 0.5);
  set.add(make_command_reward("bad", "echo x", 10), 1.0);
  const RewardScores b = set.score({"q", "82", "82", {}, {}, RlTask::Text});
  EXPECT_FALSE(b.ok);
  EXPECT_NE(b.failed.find("bad"), std::string::npos);
}

}  // namespace
}  // namespace mmada::train
