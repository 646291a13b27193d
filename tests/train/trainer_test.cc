// The training loop end to end on a tiny model: reproducible runs, exact resume, checkpoint
// shape errors, the optimiser schedule, config and data rejections.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "model/quant_recipe.h"
#include "model/transformer.h"
#include "train/checkpoint.h"
#include "train/train_model.h"
#include "train/trainer.h"
#include "test_util.h"

namespace mmada::train {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("mmada_train_test_" + name + "_" +
                                                  std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

std::string data_file(const fs::path& dir) {
  const fs::path p = dir / "chat.jsonl";
  write(p,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"2+3\"},{\"role\":\"assistant\",\"content\":\"<think>2+3=5</think>5\"}]}\n"
        "{\"messages\":[{\"role\":\"user\",\"content\":\"4+4\"},{\"role\":\"assistant\",\"content\":\"<think>4+4=8</think>8\"}]}\n"
        "{\"messages\":[{\"role\":\"user\",\"content\":\"1+6\"},{\"role\":\"assistant\",\"content\":\"<think>1+6=7</think>7\"}]}\n");
  return p.string();
}

std::string config_json(const fs::path& dir, const std::string& extra = "") {
  return R"({"model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "mlp_hidden": 32},
  "data": {"lm": [{"path": ")" + data_file(dir) + R"(", "format": "chat", "require_think": true}]},
  "batch": {"rows_lm": 2, "text_slots": 45, "accumulation": 2},
  "optim": {"lr": 0.01, "warmup_steps": 1},
  "steps": 4, "seed": 5, "output_dir": ")" + (dir / "out").string() + "\"" + extra + "}";
}

std::vector<float> flat(const ModelConfig& cfg, ModelWeights& w) {
  std::vector<float> v;
  for_each_tensor(cfg, w, [&](const TensorSlot& s) {
    v.insert(v.end(), s.tensor->ptr<float>(), s.tensor->ptr<float>() + s.tensor->numel());
  });
  return v;
}

TEST(Trainer, IdenticalRunsGiveIdenticalLosses) {
  const fs::path dir = temp_dir("repro");
  std::vector<double> a, b;
  for (auto* out : {&a, &b}) {
    fs::remove_all(dir / "out");
    Trainer t(TrainConfig::from_json_text(config_json(dir), "run.json"));
    t.run([&](const StepRecord& r) { out->push_back(r.loss); });
  }
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a, b);
  fs::remove_all(dir);
}

TEST(Trainer, ResumeIsExact) {
  const fs::path dir = temp_dir("resume");
  Trainer full(TrainConfig::from_json_text(config_json(dir), "run.json"));
  full.run();
  const std::vector<float> want = flat(full.model_config(), full.params());
  fs::remove_all(dir / "out");
  for (const char* save_dtype : {"f32", "bf16"}) {
    fs::remove_all(dir / "out");
    {
      Trainer first(TrainConfig::from_json_text(
          config_json(dir, std::string(R"(, "save_dtype": ")") + save_dtype + "\""), "run.json"));
      first.run(nullptr, 2);  // stops and saves at step 2
    }
    // As if the run had gone on past its checkpoint and been killed mid-line: the resumed run
    // redoes step 3, and the log keeps one record per step.
    std::ofstream(dir / "out" / "train_log.jsonl", std::ios::app) << "{\"step\": 3, \"loss\": 9}\n{\"step\": 4, \"lo";
    Trainer second(TrainConfig::from_json_text(
        config_json(dir, std::string(R"(, "resume": true, "save_dtype": ")") + save_dtype + "\""),
        "run.json"));
    EXPECT_EQ(second.state().step, 2);
    second.run();
    EXPECT_EQ(flat(second.model_config(), second.params()), want) << save_dtype;
    std::vector<int64_t> steps;
    std::ifstream log(dir / "out" / "train_log.jsonl");
    for (std::string line; std::getline(log, line);) {
      const nlohmann::json j = nlohmann::json::parse(line);
      steps.push_back(j["step"].get<int64_t>());
      EXPECT_NE(j["loss"].get<double>(), 9.0);
    }
    EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3, 4})) << save_dtype;
  }
  // The checkpoint is an engine-loadable Hugging Face folder.
  Transformer m = Transformer::load((dir / "out" / "checkpoint").string(), Precision::F32);
  EXPECT_EQ(m.config().d_model, 16);
  fs::remove_all(dir);
}

TEST(Trainer, CheckpointShapeAndConfigMismatchAreClearErrors) {
  const fs::path dir = temp_dir("mismatch");
  Trainer t(TrainConfig::from_json_text(config_json(dir), "run.json"));
  t.run(nullptr, 1);
  ModelConfig other = t.model_config();
  other.d_model = 32;
  other.n_heads = 2;
  try {
    load_master_weights(t.checkpoint_dir(), other);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("d_model"), std::string::npos) << e.what();
  }
  // A resume with a different model config.
  const std::string cfg = test::replaced(config_json(dir, R"(, "resume": true)"), "\"d_model\": 16", "\"d_model\": 32");
  EXPECT_THROW(Trainer(TrainConfig::from_json_text(cfg, "run.json")), Error);
  // A tensor whose shape does not match config.json.
  const std::string ck = t.checkpoint_dir();
  ModelWeights w = load_master_weights(ck, t.model_config());
  w.ln_f = Tensor::empty(DType::F32, {8});
  std::vector<std::pair<std::string, Tensor>> named;
  for_each_tensor(t.model_config(), w, [&](const TensorSlot& s) { named.emplace_back(s.name, *s.tensor); });
  fs::remove(fs::path(ck) / "optimizer.safetensors");
  write_safetensors((fs::path(ck) / "model.safetensors").string(), named);
  try {
    load_master_weights(ck, t.model_config());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ln_f"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// `mmada quantize`'s folder as a starting point (`init_from`, an RL run's model and KL
// reference): the masters are exactly the quantized tensors dequantized, norms untouched.
TEST(Trainer, MasterWeightsLoadFromAQuantizedFolder) {
  const fs::path dir = temp_dir("fromq8");
  // d_model 32: Q8_0 blocks are 32 weights of a row.
  Trainer t(TrainConfig::from_json_text(test::replaced(config_json(dir), "\"d_model\": 16", "\"d_model\": 32"),
                                        "run.json"));
  t.run(nullptr, 1);
  const ModelConfig& cfg = t.model_config();
  ModelWeights masters = load_master_weights(t.checkpoint_dir(), cfg);
  const QuantRecipe q8 = QuantRecipe::from_name("q8");
  std::vector<std::pair<std::string, Tensor>> quantized;
  for_each_tensor(cfg, masters, [&](const TensorSlot& s) { quantized.emplace_back(s.name, q8.apply(s, *s.tensor)); });
  const fs::path qdir = dir / "q8";
  fs::create_directories(qdir);
  write_safetensors((qdir / "model.safetensors").string(), quantized);
  fs::copy_file(fs::path(t.checkpoint_dir()) / "config.json", qdir / "config.json");
  ModelWeights loaded = load_master_weights(qdir.string(), cfg);
  size_t i = 0, n_quantized = 0;
  for_each_tensor(cfg, loaded, [&](const TensorSlot& s) {
    const Tensor& q = quantized[i++].second;
    n_quantized += dtype_is_quantized(q.dtype);
    ASSERT_EQ(s.tensor->dtype, DType::F32) << s.name;
    const Tensor want = q.to_f32();
    for (int64_t k = 0; k < want.numel(); ++k)
      ASSERT_EQ(s.tensor->ptr<float>()[k], want.ptr<float>()[k]) << s.name << " " << k;
  });
  EXPECT_GT(n_quantized, 0u);  // the recipe did quantize the matrices
  fs::remove_all(dir);
}

TEST(Trainer, ConfigRejectsUnknownKeysAndImpossibleValues) {
  const fs::path dir = temp_dir("config");
  EXPECT_THROW(TrainConfig::from_json_text(config_json(dir, R"(, "stpes": 3)"), "r"), Error);
  EXPECT_THROW(TrainConfig::from_json_text(test::replaced(config_json(dir), "\"lr\": 0.01", "\"lr\": -1.0"), "r"),
               Error);
  EXPECT_THROW(TrainConfig::from_json_text(test::replaced(config_json(dir), "\"rows_lm\": 2", "\"rows_t2i\": 2"), "r"),
               Error);  // t2i rows without data.images
  fs::remove_all(dir);
}

TEST(Trainer, DeviceAndComputeKeys) {
  const fs::path dir = temp_dir("device");
  using test::error_of;
  EXPECT_NE(error_of([&] { TrainConfig::from_json_text(config_json(dir, R"(, "device": "gpu")"), "r"); })
                .find("device"), std::string::npos);
  EXPECT_NE(error_of([&] { TrainConfig::from_json_text(config_json(dir, R"(, "compute": "fp16")"), "r"); })
                .find("compute"), std::string::npos);
  EXPECT_NE(error_of([&] { TrainConfig::from_json_text(config_json(dir, R"(, "compute": "bf16")"), "r"); })
                .find("needs \"device\": \"cuda\""), std::string::npos);
  const TrainConfig cpu = TrainConfig::from_json_text(config_json(dir, R"(, "device": "cpu", "compute": "fp32")"), "r");
  EXPECT_FALSE(cpu.run.cuda);
  const TrainConfig gpu = TrainConfig::from_json_text(config_json(dir, R"(, "device": "cuda")"), "r");
  EXPECT_TRUE(gpu.run.cuda);
  EXPECT_TRUE(gpu.run.bf16_compute);  // cuda's default
#ifndef MMADA_WITH_CUDA
  EXPECT_NE(error_of([&] { Trainer(gpu).run(); }).find("CUDA build"), std::string::npos);
#endif
  // Several ranks in the environment: only the GPU trainer runs data-parallel.
  setenv("MMADA_WORLD_SIZE", "2", 1);
  setenv("MMADA_RANK", "1", 1);
  const std::string e = error_of([&] { Trainer t(cpu); });
  unsetenv("MMADA_WORLD_SIZE");
  unsetenv("MMADA_RANK");
  EXPECT_NE(e.find("2 data-parallel ranks need \"device\": \"cuda\""), std::string::npos) << e;
  fs::remove_all(dir);
}

TEST(Trainer, MalformedDataSkippedWithCountOrStops) {
  const fs::path dir = temp_dir("malformed");
  const fs::path p = dir / "d.jsonl";
  write(p, "{\"text\": \"hello\"}\nnot json\n{\"txt\": 1}\n{\"text\": \"world\"}\n");
  ByteEncoder enc;
  SourceSpec s{p.string(), DataFormat::Text, 1.0, false};
  const JsonlSource src = JsonlSource::load(s, enc, OnMalformed::Skip, 100);
  EXPECT_EQ(src.size(), 2u);
  EXPECT_EQ(src.malformed(), 2);
  EXPECT_THROW(JsonlSource::load(s, enc, OnMalformed::Stop, 100), Error);
  // Mixed-CoT: the answer must hold <think>…</think> when required.
  write(p, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}\n");
  EXPECT_THROW(JsonlSource::load({p.string(), DataFormat::Chat, 1.0, true}, enc, OnMalformed::Stop, 100),
               Error);
  // Chat examples longer than a row are dropped, and the count is said on stderr.
  const std::string chat = "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"";
  write(p, chat + "short\"}]}\n" + chat + std::string(200, 'x') + "\"}]}\n");
  testing::internal::CaptureStderr();
  const JsonlSource kept = JsonlSource::load({p.string(), DataFormat::Chat, 1.0, false}, enc, OnMalformed::Stop, 100);
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept.too_long(), 1);
  EXPECT_NE(said.find("dropped 1 of 2 chat examples longer than a row (100 tokens)"), std::string::npos) << said;
  fs::remove_all(dir);
}

TEST(Optimizer, ScheduleAndClipping) {
  OptimConfig c;
  c.lr = 1.0;
  c.warmup_steps = 10;
  c.max_train_steps = 110;
  EXPECT_EQ(lr_at(c, 0), 0.0);  // the first update runs at lr 0
  EXPECT_DOUBLE_EQ(lr_at(c, 5), 0.5);
  EXPECT_DOUBLE_EQ(lr_at(c, 10), 1.0);
  EXPECT_NEAR(lr_at(c, 60), 0.5, 1e-12);
  EXPECT_NEAR(lr_at(c, 110), 0.0, 1e-12);
  ModelConfig m;
  m.d_model = 4;
  m.n_heads = m.n_kv_heads = 1;
  m.n_layers = 1;
  m.mlp_hidden = 4;
  m.vocab = 3;
  ModelWeights g = zero_weights(m, DType::F32);
  g.ln_f.ptr<float>()[0] = 3;
  g.ln_f.ptr<float>()[1] = 4;
  EXPECT_NEAR(clip_grad_norm(m, g, 1.0), 5.0, 1e-6);
  EXPECT_NEAR(g.ln_f.ptr<float>()[1], 0.8, 1e-6);
}

TEST(Optimizer, AdamWMatchesTorchFormula) {
  ModelConfig m;
  m.d_model = 2;
  m.n_heads = m.n_kv_heads = 1;
  m.n_layers = 1;
  m.mlp_hidden = 2;
  m.vocab = 2;
  OptimConfig oc;
  oc.weight_decay = 0.1;
  ModelWeights p = zero_weights(m, DType::F32), g = zero_weights(m, DType::F32);
  p.ln_f.ptr<float>()[0] = 1.0f;
  g.ln_f.ptr<float>()[0] = 0.5f;
  AdamW opt(m, oc);
  opt.step(p, g, 0.01);
  // step 1: p = 1·(1 − 0.001) − 0.01·(0.05/0.1)/(sqrt(0.00025)/sqrt(0.001) + 1e-8) = 0.999 − 0.01
  EXPECT_NEAR(p.ln_f.ptr<float>()[0], 0.989, 1e-6);
}

}  // namespace
}  // namespace mmada::train
