// `mmada rl` end to end on a tiny random model: finite losses, rewards that fail are skipped
// and counted while the run goes on, exact resume, and config rejections.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/error.h"
#include "train/checkpoint.h"
#include "train/rl_config.h"
#include "train/rl_trainer.h"
#include "train/text_encoder.h"
#include "train/trainer.h"

namespace mmada::train {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("mmada_rl_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

// A tiny byte-vocabulary model saved as a checkpoint folder, and two prompts.
void make_fixture(const fs::path& dir) {
  ByteEncoder enc;
  ModelConfig m;
  m.d_model = 16;
  m.n_heads = 2;
  m.n_kv_heads = 2;
  m.n_layers = 1;
  m.mlp_hidden = 32;
  m.vocab = enc.vocab_size();
  m.rope_theta = 10000;
  m.mask_token_id = enc.tokens().mask;
  m.eos_token_id = m.pad_token_id = enc.tokens().eos;
  m.max_sequence_length = 4096;
  ModelWeights w = random_init(m, 0.05, 3);
  save_checkpoint((dir / "init").string(), m, w, DType::F32, nullptr, nullptr);
  write(dir / "prompts.jsonl",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"2+3\"},{\"role\":\"assistant\",\"content\":\"<think>2+3=5</think>5\"}]}\n"
        "{\"messages\":[{\"role\":\"user\",\"content\":\"4+4\"}],\"answer\":\"8\"}\n");
}

// rewards: the external scorer returns the length of the JSON line it reads, so rewards vary
// with the response and groups carry advantages.
std::string rl_json(const fs::path& dir, const std::string& extra = "",
                    const std::string& rewards =
                        R"([{"type": "command", "name": "len", "command": "read x; echo ${#x}"},
                            {"type": "format"}])") {
  return R"({"model": {"init_from": ")" + (dir / "init").string() + R"("},
  "data": {"prompts": ")" + (dir / "prompts.jsonl").string() + R"("},
  "rollout": {"row_length": 38, "steps": 14, "block_length": 7, "temperature": 1.0},
  "unigrpo": {"batch_size": 4, "group_size": 2, "mu": 2},
  "rewards": )" + rewards + R"(,
  "optim": {"lr": 0.001},
  "steps": 2, "seed": 9, "output_dir": ")" + (dir / "out").string() + "\"" + extra + "}";
}

RlConfig parse(const std::string& s) { return RlConfig::from_json_text(s, "rl.json"); }

std::vector<float> flat(const ModelConfig& cfg, ModelWeights& w) {
  std::vector<float> v;
  for_each_tensor(cfg, w, [&](const TensorSlot& s) {
    v.insert(v.end(), s.tensor->ptr<float>(), s.tensor->ptr<float>() + s.tensor->numel());
  });
  return v;
}

TEST(RlTrainer, StepsAreFiniteAndMoveTheWeights) {
  const fs::path dir = temp_dir("steps");
  make_fixture(dir);
  RlTrainer t(parse(rl_json(dir)));
  const std::vector<float> before = flat(t.model_config(), t.params());
  std::vector<RlStepRecord> recs;
  t.run([&](const RlStepRecord& r) { recs.push_back(r); });
  ASSERT_EQ(recs.size(), 2u);
  for (const RlStepRecord& r : recs) {
    EXPECT_EQ(r.rollouts, 4);
    EXPECT_EQ(r.skipped, 0);
    EXPECT_TRUE(std::isfinite(r.loss));
    EXPECT_TRUE(std::isfinite(r.kl));
    EXPECT_GE(r.kl, 0.0);  // k3 is non-negative
    EXPECT_GE(r.clip_frac, 0.0);
    EXPECT_LE(r.clip_frac, 1.0);
    EXPECT_GT(r.len_mean, 0.0);
    EXPECT_EQ(r.each_mean.size(), 2u);
  }
  EXPECT_GT(recs[0].groups_kept, 0);
  EXPECT_NE(before, flat(t.model_config(), t.params()));
  // The JSONL log has one line per step with the per-reward columns.
  std::ifstream log(dir / "out" / "rl_log.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) {
    ++lines;
    EXPECT_NE(line.find("\"reward_len_mean\""), std::string::npos);
    EXPECT_NE(line.find("\"clip_frac\""), std::string::npos);
  }
  EXPECT_EQ(lines, 2);
}

TEST(RlTrainer, ResumeMatchesAnUninterruptedRun) {
  const fs::path dir = temp_dir("resume");
  make_fixture(dir);
  std::vector<float> full;
  {
    RlTrainer t(parse(rl_json(dir)));
    t.run();
    full = flat(t.model_config(), t.params());
  }
  fs::remove_all(dir / "out");
  {
    RlTrainer t(parse(rl_json(dir, R"(, "resume": true)")));
    t.run(nullptr, 1);
  }
  RlTrainer t(parse(rl_json(dir, R"(, "resume": true)")));
  EXPECT_EQ(t.state().step, 1);
  t.run();
  EXPECT_EQ(flat(t.model_config(), t.params()), full);
}

TEST(RlTrainer, FailingRewardSkipsRolloutsAndTheRunGoesOn) {
  const fs::path dir = temp_dir("garbage");
  make_fixture(dir);
  RlTrainer t(parse(rl_json(dir, "", R"([{"type": "command", "command": "echo garbage"}])")));
  std::vector<RlStepRecord> recs;
  t.run([&](const RlStepRecord& r) { recs.push_back(r); });
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].skipped, 4);
  EXPECT_EQ(recs[0].groups_kept, 0);
  EXPECT_EQ(recs[0].loss, 0.0);
  EXPECT_EQ(t.warnings(), 8);
}

TEST(RlTrainer, AllEqualRewardsDropGroupsWithoutNaN) {
  const fs::path dir = temp_dir("equal");
  make_fixture(dir);
  RlTrainer t(parse(rl_json(dir, "", R"([{"type": "command", "command": "cat >/dev/null; echo 1"}])")));
  const RlStepRecord r = t.step();
  EXPECT_EQ(r.groups_kept, 0);
  EXPECT_EQ(r.groups_dropped, 2);
  EXPECT_EQ(r.reward_mean, 1.0);
  EXPECT_EQ(r.reward_std, 0.0);
  EXPECT_FALSE(std::isnan(r.loss));
}

void expect_error(const std::string& json, const std::string& needle) {
  try {
    parse(json);
    ADD_FAILURE() << "accepted: " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(RlConfig, RejectsBadConfigs) {
  const fs::path dir = temp_dir("config");
  const RlConfig ok = parse(rl_json(dir));
  EXPECT_EQ(ok.prompts_per_step(), 2);
  EXPECT_EQ(ok.optim.max_train_steps, 4);  // steps × mu
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = rl_json(dir);
    const size_t k = s.find(from);
    EXPECT_NE(k, std::string::npos) << from;
    return s.replace(k, from.size(), to);
  };
  expect_error(with("\"group_size\": 2", "\"group_size\": 3"), "does not divide batch_size");
  expect_error(with("\"mu\": 2", "\"mu\": 2, \"colour\": 1"), "unknown key \"colour\"");
  expect_error(with("\"mu\": 2", "\"mu\": 0"), "mu = 0");
  expect_error(with("\"mu\": 2", "\"mu\": 2, \"clip_eps\": 0"), "clip_eps");
  expect_error(with("\"mu\": 2", "\"mu\": 2, \"ratio_schedule\": \"spaced\""), "ratio_schedule");
  expect_error(with("\"mu\": 2", "\"mu\": 2, \"iid_range\": [0.9, 0.1]"), "iid_range");
  expect_error(with("\"mu\": 2", "\"mu\": 2, \"kl_estimator\": \"k4\""), "kl_estimator");
  expect_error(with("\"row_length\": 38", "\"row_length\": 38, \"gen_length\": 8"), "exactly one");
  expect_error(with("\"row_length\": 38, \"steps\": 14, \"block_length\": 7",
                    "\"gen_length\": 8, \"block_length\": 3"), "not a multiple of block_length");
  expect_error(with("\"temperature\": 1.0", "\"temperature\": -1"), "temperature");
  expect_error(with("{\"type\": \"format\"}", "{\"type\": \"imagereward\"}"), "is not one of");
  expect_error(with("{\"type\": \"format\"}", "{\"type\": \"command\"}"), ".command is required");
  expect_error(with("{\"type\": \"format\"}", "{\"type\": \"format\", \"timeout_s\": 3}"), "only applies");
  expect_error(with("{\"type\": \"format\"}", "{\"type\": \"http\"}"), "url is required");
  expect_error(with("{\"type\": \"format\"}", "{\"type\": \"format\", \"url\": \"http://x\"}"), "only applies");
  expect_error(with("{\"type\": \"format\"}", "{\"type\": \"format\", \"name\": \"len\"}"), "duplicate");
  expect_error(with("\"steps\": 2,", ""), "\"steps\" is required");
  expect_error(R"({"data": {"prompts": "p"}, "rollout": {"row_length": 9}, "steps": 1, "output_dir": "o"})",
               "init_from is required");
  expect_error("{not json", "not valid JSON");
}

TEST(RlConfig, RejectsMalformedPrompts) {
  const fs::path dir = temp_dir("prompts");
  ByteEncoder enc;
  write(dir / "p.jsonl", "{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\"}]}\n");
  try {
    load_rl_prompts((dir / "p.jsonl").string(), enc, OnMalformed::Stop);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("p.jsonl:1: the prompt must end with a user message"),
              std::string::npos) << e.what();
  }
  write(dir / "q.jsonl", "nope\n{\"messages\":[{\"role\":\"user\",\"content\":\"1+1\"}],\"answer\":2}\n");
  const auto ps = load_rl_prompts((dir / "q.jsonl").string(), enc, OnMalformed::Skip);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].question, "1+1");
  EXPECT_EQ(ps[0].reference, "2");
  EXPECT_EQ(ps[0].ids[0], enc.tokens().bos);
}

}  // namespace
}  // namespace mmada::train
