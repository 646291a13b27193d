// `mmada rl` end to end on a tiny random model: finite losses, rewards that fail are skipped
// and counted while the run goes on, exact resume, and config rejections; data parallelism
// with ranks as threads (ThreadWorld) on the CPU trainer: the group split, the statistics
// reduced over ranks, and 2 ranks giving the one-rank step.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

#include "core/error.h"
#include "train/checkpoint.h"
#include "train/communicator.h"
#include "train/rl_config.h"
#include "train/rl_trainer.h"
#include "train/text_encoder.h"
#include "train/trainer.h"

#include "test_util.h"

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

// Prompt "2+3" always scores 1, "4+4" the length of the line the scorer reads: only "4+4" groups
// whose responses differ in length carry advantages.
const std::string kOnePromptVaries =
    R"([{"type": "command", "command": "read x; case \"$x\" in *4+4*) echo ${#x};; *) echo 1;; esac"}])";

// redraw_equal_groups: a group whose rewards agree is rolled out again from another prompt;
// with enough redraws every slot ends on a group that carries advantages.
TEST(RlTrainer, RedrawnGroupsReplaceGroupsWhoseRewardsAgree) {
  const fs::path dir = temp_dir("redraw");
  make_fixture(dir);
  const RlStepRecord plain = RlTrainer(parse(rl_json(dir, "", kOnePromptVaries))).step();
  EXPECT_EQ(plain.groups_redrawn, 0);
  EXPECT_EQ(plain.rollouts, 4);
  RlTrainer t(parse(
      test::replaced(rl_json(dir, "", kOnePromptVaries), "\"mu\": 2", "\"mu\": 2, \"redraw_equal_groups\": 12")));
  const RlStepRecord r = t.step();
  EXPECT_EQ(r.groups_kept, 2);
  EXPECT_EQ(r.groups_dropped, 0);
  EXPECT_GT(r.groups_redrawn, 0);
  EXPECT_EQ(r.rollouts, 2 * (2 + r.groups_redrawn));  // G = 2 for each draw
  EXPECT_TRUE(std::isfinite(r.loss));
  // A reward that never varies: every slot uses all its redraws, then is dropped.
  const std::string equal = rl_json(dir, "", R"([{"type": "command", "command": "cat >/dev/null; echo 1"}])");
  const RlStepRecord e =
      RlTrainer(parse(test::replaced(equal, "\"mu\": 2", "\"mu\": 2, \"redraw_equal_groups\": 3"))).step();
  EXPECT_EQ(e.groups_kept, 0);
  EXPECT_EQ(e.groups_dropped, 2);
  EXPECT_EQ(e.groups_redrawn, 6);
  EXPECT_EQ(e.rollouts, 16);
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
  EXPECT_FALSE(ok.unigrpo.group_masks);
  auto with = [&](const std::string& from, const std::string& to) { return test::replaced(rl_json(dir), from, to); };
  expect_error(with("\"group_size\": 2", "\"group_size\": 3"), "does not divide batch_size");
  expect_error(with("\"mu\": 2", "\"mu\": 2, \"colour\": 1"), "unknown key \"colour\"");
  expect_error(with("\"mu\": 2", "\"mu\": 0"), "mu = 0");
  expect_error(with("\"mu\": 2", "\"mu\": 2, \"clip_eps\": 0"), "clip_eps");
  expect_error(with("\"mu\": 2", "\"mu\": 2, \"ratio_schedule\": \"spaced\""), "ratio_schedule");
  expect_error(with("\"mu\": 2", "\"mu\": 2, \"iid_range\": [0.9, 0.1]"), "iid_range");
  expect_error(with("\"mu\": 2", "\"mu\": 2, \"kl_estimator\": \"k4\""), "kl_estimator");
  EXPECT_TRUE(parse(with("\"mu\": 2", "\"mu\": 2, \"group_masks\": true")).unigrpo.group_masks);
  expect_error(with("\"mu\": 2", "\"mu\": 2, \"group_masks\": 1"), "group_masks");
  expect_error(with("\"mu\": 2", "\"mu\": 2, \"redraw_equal_groups\": 65"), "redraw_equal_groups");
  expect_error(with("\"mu\": 2", "\"mu\": 2, \"redraw_equal_groups\": 2, \"drop_equal_groups\": false"),
               "needs drop_equal_groups");
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


TEST(RlDataParallel, PromptRangesAreWholeGroupsCoveringTheStep) {
  for (int world = 1; world <= 4; ++world)
    for (int64_t prompts = world; prompts <= 9; ++prompts) {
      int64_t next = 0, smallest = prompts, largest = 0;
      for (int r = 0; r < world; ++r) {
        const RlPromptRange g = rank_prompts(prompts, r, world);
        EXPECT_EQ(g.first, next) << prompts << " prompts, rank " << r << " of " << world;
        next = g.end;
        smallest = std::min(smallest, g.end - g.first);
        largest = std::max(largest, g.end - g.first);
      }
      EXPECT_EQ(next, prompts);
      EXPECT_GE(smallest, 1);
      EXPECT_LE(largest - smallest, 1);
    }
  EXPECT_EQ(rank_prompts(3, 0, 2).end, 1);  // the later rank takes the extra group
  try {
    rank_prompts(2, 0, 3);
    ADD_FAILURE() << "2 prompts accepted for 3 ranks";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be shared by 3 data-parallel ranks"), std::string::npos) << e.what();
  }
}

// Rollouts spread over 3 ranks (rank 1 has none) reduce to the tally of all of them in one.
TEST(RlDataParallel, TallyReducedOverRanksIsTheOneRankTally) {
  const std::vector<std::vector<std::pair<int64_t, double>>> per_rank = {
      {{7, 1.0}, {3, 2.5}}, {}, {{12, 0.25}, {5, 1.0}, {9, 4.0}}};
  RlRolloutTally one(2);
  for (const auto& rollouts : per_rank)
    for (const auto& [len, reward] : rollouts) {
      one.add_length(len);
      ++one.rollouts;
      one.total.add(reward);
      one.task[int(RlTask::Text)].add(reward);
      one.each[1].add(2 * reward);
    }
  one.groups_kept = 2;
  one.task_groups_kept[int(RlTask::Text)] = 1;
  one.task_groups_kept[int(RlTask::Mmu)] = 1;
  RlStepRecord want;
  one.fill(want);
  ThreadWorld world(3);
  std::vector<RlStepRecord> got(3);
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      std::unique_ptr<Communicator> comm = world.rank(r);
      RlRolloutTally t(2);
      for (const auto& [len, reward] : per_rank[size_t(r)]) {
        t.add_length(len);
        ++t.rollouts;
        t.total.add(reward);
        t.task[int(RlTask::Text)].add(reward);
        t.each[1].add(2 * reward);
      }
      t.groups_kept = r == 1 ? 0 : 1;
      if (r != 1) ++t.task_groups_kept[int(r == 0 ? RlTask::Text : RlTask::Mmu)];
      t.reduce(*comm);
      t.fill(got[size_t(r)]);
    });
  for (std::thread& t : threads) t.join();
  for (const RlStepRecord& g : got) {
    EXPECT_EQ(g.rollouts, 5);
    EXPECT_EQ(g.groups_kept, 2);
    for (int k = 0; k < kNumRlTasks; ++k) EXPECT_EQ(g.task_groups_kept[k], want.task_groups_kept[k]);
    EXPECT_EQ(g.task_groups_kept[int(RlTask::T2i)], 0);
    EXPECT_EQ(g.len_min, 3);
    EXPECT_EQ(g.len_max, 12);
    EXPECT_EQ(g.task_rollouts[int(RlTask::Text)], 5);
    // Sums of a few exactly representable values: equal up to the order of additions.
    EXPECT_NEAR(g.reward_mean, want.reward_mean, 1e-12);
    EXPECT_NEAR(g.reward_std, want.reward_std, 1e-12);
    EXPECT_NEAR(g.len_mean, want.len_mean, 1e-12);
    EXPECT_NEAR(g.each_mean[1], want.each_mean[1], 1e-12);
    EXPECT_EQ(g.each_mean[0], 0.0);  // a reward that scored nothing
  }
}

struct RankResult {
  RlStepRecord rec;
  std::vector<float> params;
};

// One RL step of `cfg` on `world` ranks as threads (world 0: the plain one-process trainer).
std::vector<RankResult> step_on_ranks(const std::string& cfg, int world) {
  if (world == 0) {
    RlTrainer t(parse(cfg));
    RankResult r{t.step(), {}};
    r.params = flat(t.model_config(), t.params());
    return {r};
  }
  ThreadWorld w(world);
  std::vector<RankResult> out(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      RlTrainer t(parse(cfg), w.rank(r));
      out[size_t(r)].rec = t.step();
      out[size_t(r)].params = flat(t.model_config(), t.params());
    });
  for (std::thread& t : threads) t.join();
  return out;
}

// Mean |a − b| over the parameters relative to the largest possible AdamW move (lr per update):
// check-train's measure of weights after updates (docs/multi-gpu.md).
double mean_discrepancy(const std::vector<float>& a, const std::vector<float>& b, double lr, int updates) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += std::fabs(double(a[i]) - double(b[i]));
  return d / double(a.size()) / (lr * updates);
}

// 3 prompts on 2 ranks (one and two groups), the frozen reference in the KL: the same
// rollouts, rewards, statistics and update as one process — also with groups redrawn (each
// rank redraws its own slots).
TEST(RlDataParallel, TwoRanksGiveTheOneRankStep) {
  const fs::path dir = temp_dir("dp");
  make_fixture(dir);
  for (const char* redraw : {"", ", \"redraw_equal_groups\": 4"}) {
    SCOPED_TRACE(redraw);
    const std::string base = *redraw ? rl_json(dir, "", kOnePromptVaries) : rl_json(dir);
    const std::string cfg = test::replaced(test::replaced(base, "\"batch_size\": 4", "\"batch_size\": 6"),
                                           "\"mu\": 2", std::string("\"mu\": 2") + redraw);
    const RankResult one = step_on_ranks(cfg, 0)[0];
    ASSERT_GT(one.rec.groups_kept, 0);
    if (*redraw) {
      ASSERT_GT(one.rec.groups_redrawn, 0);
    }
    const std::vector<RankResult> two = step_on_ranks(cfg, 2);
    EXPECT_EQ(two[0].params, two[1].params);  // the all-gathered parameters
    for (const RankResult& r : two) {
      EXPECT_EQ(r.rec.rollouts, 6 + 2 * one.rec.groups_redrawn);
      EXPECT_EQ(r.rec.rollouts, one.rec.rollouts);
      EXPECT_EQ(r.rec.groups_kept, one.rec.groups_kept);
      EXPECT_EQ(r.rec.groups_dropped, one.rec.groups_dropped);
      EXPECT_EQ(r.rec.groups_redrawn, one.rec.groups_redrawn);
      EXPECT_EQ(r.rec.len_min, one.rec.len_min);
      EXPECT_EQ(r.rec.len_max, one.rec.len_max);
      EXPECT_EQ(r.rec.clip_frac, one.rec.clip_frac);
      // The rewards are the same numbers summed in another order.
      EXPECT_NEAR(r.rec.reward_mean, one.rec.reward_mean, 1e-12);
      EXPECT_NEAR(r.rec.reward_std, one.rec.reward_std, 1e-12);
      for (size_t k = 0; k < one.rec.each_mean.size(); ++k)
        EXPECT_NEAR(r.rec.each_mean[k], one.rec.each_mean[k], 1e-12);
      // float forward/backward, gradients summed per rank then across: fp32 rounding (2^-24
      // relative per operation) through a few thousand operations.
      EXPECT_NEAR(r.rec.loss, one.rec.loss, 1e-5 * std::fabs(one.rec.loss) + 1e-9);
      EXPECT_NEAR(r.rec.kl, one.rec.kl, 1e-5 * one.rec.kl + 1e-9);
      EXPECT_NEAR(r.rec.grad_norm, one.rec.grad_norm, 1e-5 * one.rec.grad_norm);
      // check-train's fp32 limit for weights after AdamW steps (2e-4 of the update size).
      EXPECT_LT(mean_discrepancy(r.params, one.params, 1e-3, 2), 2e-4);
    }
    std::fprintf(stderr, "2 ranks vs 1%s: loss %.9g vs %.9g, |g| %.9g vs %.9g, mean |dtheta|/(lr*updates) %.3g, %lld groups redrawn\n",
                 redraw, two[0].rec.loss, one.rec.loss, two[0].rec.grad_norm, one.rec.grad_norm,
                 mean_discrepancy(two[0].params, one.params, 1e-3, 2), (long long)one.rec.groups_redrawn);
  }
}

// A checkpoint written by 2 ranks (the ZeRO-1 moments gathered) resumes on one process and
// continues as the one-process run does.
TEST(RlDataParallel, TwoRankCheckpointResumesOnOneRank) {
  const fs::path dir = temp_dir("dpresume");
  make_fixture(dir);
  const std::string cfg = rl_json(dir, R"(, "resume": true)");
  std::vector<float> full;
  {
    RlTrainer t(parse(cfg));
    t.run();
    full = flat(t.model_config(), t.params());
  }
  fs::remove_all(dir / "out");
  {
    ThreadWorld w(2);
    std::vector<std::thread> threads;
    for (int r = 0; r < 2; ++r)
      threads.emplace_back([&, r] {
        RlTrainer t(parse(cfg), w.rank(r));
        t.run(nullptr, 1);
      });
    for (std::thread& t : threads) t.join();
  }
  RlTrainer t(parse(cfg));
  EXPECT_EQ(t.state().step, 1);
  t.run();
  EXPECT_LT(mean_discrepancy(flat(t.model_config(), t.params()), full, 1e-3, 4), 2e-4);
}

// Ranks from the environment (mmada launch) need the GPU trainer (NCCL); the CPU trainer runs
// several ranks only as an in-process world.
TEST(RlDataParallel, EnvironmentRanksNeedDeviceCuda) {
  const fs::path dir = temp_dir("dpenv");
  make_fixture(dir);
  setenv("MMADA_WORLD_SIZE", "2", 1);
  setenv("MMADA_RANK", "1", 1);
  std::string e;
  try {
    RlTrainer t(parse(rl_json(dir)));
  } catch (const Error& x) {
    e = x.what();
  }
  unsetenv("MMADA_WORLD_SIZE");
  unsetenv("MMADA_RANK");
  EXPECT_NE(e.find("mmada rl: 2 data-parallel ranks need \"device\": \"cuda\""), std::string::npos) << e;
}

TEST(RlDataParallel, FewerPromptsThanRanksIsAnError) {
  const fs::path dir = temp_dir("dpfew");
  make_fixture(dir);
  const std::string cfg = rl_json(dir);  // 2 prompts per step
  ThreadWorld w(3);
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      try {
        RlTrainer t(parse(cfg), w.rank(r));
        ADD_FAILURE() << "rank " << r << " accepted 2 prompts for 3 ranks";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("2 prompts per RL step cannot be shared by 3"), std::string::npos)
            << e.what();
      }
    });
  for (std::thread& t : threads) t.join();
}

}  // namespace
}  // namespace mmada::train
