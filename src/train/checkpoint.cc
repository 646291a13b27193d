#include "train/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/safetensors.h"
#include "train/train_model.h"

namespace mmada::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  out.flush();
  MMADA_CHECK(out.good(), p.string(), ": cannot write");
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  MMADA_CHECK(in.good(), p.string(), ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::pair<std::string, Tensor>> named(const ModelConfig& cfg, ModelWeights& w,
                                                  const std::string& prefix, DType dt) {
  std::vector<std::pair<std::string, Tensor>> out;
  for_each_tensor(cfg, w, [&](const TensorSlot& s) {
    out.emplace_back(prefix + s.name, dt == DType::BF16 ? s.tensor->to_bf16() : *s.tensor);
  });
  return out;
}

// Copies tensor `prefix+name` of `set` (checked against the slot's shape) into the slot as f32.
void read_into(const SafeTensorsSet& set, const std::string& prefix, const TensorSlot& s,
               const std::string& where) {
  const std::string name = prefix + s.name;
  MMADA_CHECK(set.has(name), where, ": checkpoint is missing tensor '", name,
              "' (config expects shape ", shape_str(s.shape), ")");
  const Tensor& t = set.get(name);
  MMADA_CHECK(t.shape == s.shape, where, ": tensor '", name, "' has shape ", shape_str(t.shape),
              " but the config implies ", shape_str(s.shape));
  *s.tensor = t.to_f32();
}
}  // namespace

void require_same_architecture(const ModelConfig& a, const ModelConfig& b, const std::string& what) {
  auto same = [&](const char* field, auto x, auto y) {
    MMADA_CHECK(x == y, what, ": config field ", field, " is ", x, " in the checkpoint but ", y,
                " in this run (a checkpoint resumes only with the same model config)");
  };
  same("d_model", a.d_model, b.d_model);
  same("n_heads", a.n_heads, b.n_heads);
  same("n_kv_heads", a.n_kv_heads, b.n_kv_heads);
  same("n_layers", a.n_layers, b.n_layers);
  same("mlp_hidden_size", a.mlp_hidden, b.mlp_hidden);
  same("vocab_size", a.vocab, b.vocab);
  same("rope_theta", a.rope_theta, b.rope_theta);
  same("rms_norm_eps", a.rms_norm_eps, b.rms_norm_eps);
  same("mask_token_id", a.mask_token_id, b.mask_token_id);
}

void save_checkpoint(const std::string& dir, const ModelConfig& cfg, ModelWeights& params,
                     DType save_dtype, AdamW* opt, const TrainerState* state,
                     const std::string& tokenizer_dir) {
  MMADA_CHECK(save_dtype == DType::F32 || save_dtype == DType::BF16,
              "checkpoint dtype must be f32 or bf16");
  const fs::path final_dir(dir), tmp = fs::path(dir + ".tmp"), old = fs::path(dir + ".old");
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  write_text(tmp / "config.json", cfg.to_json());
  write_safetensors((tmp / "model.safetensors").string(), named(cfg, params, "", save_dtype),
                    {{"format", "pt"}});
  if (opt) {
    auto t = named(cfg, opt->m(), "m.", DType::F32);
    auto v = named(cfg, opt->v(), "v.", DType::F32);
    t.insert(t.end(), v.begin(), v.end());
    if (save_dtype != DType::F32) {
      auto m = named(cfg, params, "master.", DType::F32);
      t.insert(t.end(), m.begin(), m.end());
    }
    write_safetensors((tmp / "optimizer.safetensors").string(), t);
  }
  if (state) {
    json j = {{"step", state->step},
              {"seed", state->seed},
              {"micro_step", state->micro_step},
              {"adam_steps", opt ? opt->steps() : 0}};
    write_text(tmp / "trainer_state.json", j.dump(2) + "\n");
  }
  if (!tokenizer_dir.empty()) {
    const fs::path src =
        fs::is_directory(tokenizer_dir) ? fs::path(tokenizer_dir) : fs::path(tokenizer_dir).parent_path();
    for (const char* f : kTokenizerFiles)
      if (fs::exists(src / f)) fs::copy_file(src / f, tmp / f, fs::copy_options::overwrite_existing);
  }
  // Swap in: the old folder moves aside first, so a crash leaves either dir or dir.old whole.
  fs::remove_all(old);
  if (fs::exists(final_dir)) fs::rename(final_dir, old);
  fs::rename(tmp, final_dir);
  fs::remove_all(old);
}

ModelWeights load_master_weights(const std::string& dir, const ModelConfig& cfg) {
  const fs::path cfg_path = fs::path(dir) / "config.json";
  MMADA_CHECK(fs::exists(cfg_path), dir, ": no config.json (expected a checkpoint folder)");
  require_same_architecture(ModelConfig::load(cfg_path.string()), cfg, dir);
  const fs::path opt_path = fs::path(dir) / "optimizer.safetensors";
  std::string prefix;
  SafeTensorsSet set = SafeTensorsSet::open((fs::path(dir) / "model.safetensors").string());
  if (fs::exists(opt_path)) {
    SafeTensorsSet o = SafeTensorsSet::open(opt_path.string());
    if (o.has("master.model.transformer.wte.weight")) {
      set = std::move(o);
      prefix = "master.";
    }
  }
  ModelWeights w;
  for_each_tensor(cfg, w, [&](const TensorSlot& s) { read_into(set, prefix, s, dir); });
  return w;
}

void load_optimizer_state(const std::string& dir, const ModelConfig& cfg, AdamW& opt,
                          TrainerState& state) {
  const fs::path p(dir);
  require_same_architecture(ModelConfig::load((p / "config.json").string()), cfg, dir);
  MMADA_CHECK(fs::exists(p / "optimizer.safetensors") && fs::exists(p / "trainer_state.json"), dir,
              ": not a resumable checkpoint (optimizer.safetensors or trainer_state.json missing)");
  const SafeTensorsSet set = SafeTensorsSet::open((p / "optimizer.safetensors").string());
  for_each_tensor(cfg, opt.m(), [&](const TensorSlot& s) { read_into(set, "m.", s, dir); });
  for_each_tensor(cfg, opt.v(), [&](const TensorSlot& s) { read_into(set, "v.", s, dir); });
  json j;
  try {
    j = json::parse(read_text(p / "trainer_state.json"));
    state.step = j.at("step").get<int64_t>();
    state.seed = j.at("seed").get<uint64_t>();
    state.micro_step = j.at("micro_step").get<int64_t>();
    opt.set_steps(j.at("adam_steps").get<int64_t>());
  } catch (const json::exception& e) {
    fail((p / "trainer_state.json").string(), ": malformed: ", e.what());
  }
}

}  // namespace mmada::train
