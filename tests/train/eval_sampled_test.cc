// The sampled exact-match evaluation (train/eval_exact_match.h) that measures fast decoding
// modes on a trained checkpoint: a cache refreshed every step must give the exact answers, and
// the parallel rules may only save network calls.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/error.h"
#include "sample/fast_modes.h"
#include "train/eval_exact_match.h"
#include "train/trainer.h"

namespace mmada::train {
namespace {

namespace fs = std::filesystem;

TEST(EvalExactMatchSampled, ModesRunThroughTheEngineSampler) {
  const fs::path dir = fs::temp_directory_path() / ("mmada_eval_sampled_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string data = (dir / "chat.jsonl").string();
  std::ofstream(data) << "{\"messages\":[{\"role\":\"user\",\"content\":\"2+3\"},{\"role\":\"assistant\",\"content\":\"<think>2+3=5</think>5\"}]}\n"
                         "{\"messages\":[{\"role\":\"user\",\"content\":\"4+4\"},{\"role\":\"assistant\",\"content\":\"<think>4+4=8</think>8\"}]}\n";
  Trainer t(TrainConfig::from_json_text(
      R"({"model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "mlp_hidden": 32},
          "data": {"lm": [{"path": ")" + data + R"(", "format": "chat", "require_think": true}]},
          "batch": {"rows_lm": 2, "text_slots": 45}, "optim": {"lr": 0.01, "warmup_steps": 1},
          "steps": 2, "seed": 5, "output_dir": ")" + (dir / "out").string() + "\"}",
      "run.json"));
  t.run([](const StepRecord&) {});
  const auto enc = make_text_encoder(t.config().tokenizer);
  auto eval = [&](const std::string& mode, int64_t block) {
    TextSamplerParams shape;
    shape.block_length = block, shape.gen_length = shape.steps = 4 * block;
    TextSamplerParams sp = text_mode(mode, shape);
    sp.block_length = block;
    return eval_exact_match_sampled(t.checkpoint_dir(), *enc, data, t.config().row_length(), 10, sp);
  };
  const ExactMatchResult exact = eval("none", 8);
  ASSERT_EQ(exact.total, 2);
  ASSERT_EQ(exact.answers.size(), 2u);
  EXPECT_EQ(exact.network_calls % 8, 0);  // one token per step over whole blocks of 8
  EXPECT_EQ(eval("dual+r1", 8).answers, exact.answers);    // refreshed every step: exact
  EXPECT_EQ(eval("prefix+r1", 8).answers, exact.answers);
  EXPECT_LE(eval("none+t0.5", 8).network_calls, exact.network_calls);
  // max_problems: the first N problems, 0 for the whole file.
  TextSamplerParams sp;
  EXPECT_EQ(eval_exact_match_sampled(t.checkpoint_dir(), *enc, data, t.config().row_length(), 1, sp).total, 1);
  EXPECT_EQ(eval_exact_match_sampled(t.checkpoint_dir(), *enc, data, t.config().row_length(), 0, sp).total, 2);

  // Several answers per problem, both problems in one call: greedy samples all agree; sampled
  // ones are a function of the seed; the per-problem counts add up to the answers scored.
  auto sampled = [&](double temperature, uint64_t seed) {
    SampledEval how;
    how.samples = 3, how.temperature = temperature, how.seed = seed, how.batch = 2;
    return eval_exact_match_sampled(t.checkpoint_dir(), *enc, data, t.config().row_length(), 0, sp, "cpu", how);
  };
  const ExactMatchResult greedy = sampled(0, 1);
  ASSERT_EQ(greedy.total, 6);
  ASSERT_EQ(greedy.answers.size(), 6u);
  ASSERT_EQ(greedy.problem_correct.size(), 2u);
  for (size_t p = 0; p < 2; ++p) {
    EXPECT_EQ(greedy.answers[3 * p + 1], greedy.answers[3 * p]);
    EXPECT_EQ(greedy.answers[3 * p + 2], greedy.answers[3 * p]);
    EXPECT_TRUE(greedy.problem_correct[p] == 0 || greedy.problem_correct[p] == 3);
  }
  const ExactMatchResult hot = sampled(5.0, 7);
  EXPECT_EQ(sampled(5.0, 7).answers, hot.answers);
  EXPECT_NE(sampled(5.0, 8).answers, hot.answers);  // 6 answers of a near-random model
  EXPECT_EQ(hot.problem_correct[0] + hot.problem_correct[1], hot.correct);
  SampledEval none;
  none.samples = 0;
  EXPECT_THROW(eval_exact_match_sampled(t.checkpoint_dir(), *enc, data, t.config().row_length(), 0, sp, "cpu", none),
               Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mmada::train
