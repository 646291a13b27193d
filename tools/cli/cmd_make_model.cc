// mmada make-model: write a random-weight model folder (config.json, model.safetensors and
// the tokenizer files) of any shape. The build uses it for the embedded default model.
#include <filesystem>
#include <fstream>

#include "command.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "model/transformer.h"

namespace mmada::cli {
std::string assets_dir();
namespace {

struct Opts {
  std::string out, config, tokenizer;
  int64_t d_model = 64, n_layers = 2, n_heads = 4, mlp = 192;
  uint64_t seed = 1;
};

Command make_model_cmd(
    "make-model", "Write a random-weight MMaDA model folder (for tests and demos; NOT trained)",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<Opts>();
      sub.add_option("-o,--out", o->out, "output folder")->required();
      sub.add_option("--config", o->config, "take the shape from this config.json");
      sub.add_option("--d-model", o->d_model, "width")->capture_default_str();
      sub.add_option("--layers", o->n_layers, "layers")->capture_default_str();
      sub.add_option("--heads", o->n_heads, "attention heads")->capture_default_str();
      sub.add_option("--mlp", o->mlp, "MLP hidden size")->capture_default_str();
      sub.add_option("--seed", o->seed, "weight seed")->capture_default_str();
      sub.add_option("--tokenizer", o->tokenizer, "tokenizer folder to copy (default: assets/llada-tokenizer)");
      return [o] {
        namespace fs = std::filesystem;
        ModelConfig c;
        if (!o->config.empty()) {
          c = ModelConfig::load(o->config);
        } else {
          c.d_model = o->d_model, c.n_layers = o->n_layers, c.n_heads = o->n_heads;
          c.n_kv_heads = o->n_heads, c.mlp_hidden = o->mlp, c.vocab = 134656, c.rope_theta = 500000.0;
          c.model_type = "mmada";
        }
        Transformer m = Transformer::random(c, Precision::BF16, o->seed);
        fs::create_directories(o->out);
        std::vector<std::pair<std::string, Tensor>> ts;
        for_each_tensor(c, m.weights(), [&](const TensorSlot& s) {
          ts.emplace_back(s.name, s.tensor->dtype == DType::BF16 ? *s.tensor : s.tensor->to_bf16());
        });
        write_safetensors((fs::path(o->out) / "model.safetensors").string(), ts,
                          {{"format", "pt"}, {"mmada", "random weights, not a trained model"}});
        std::ofstream((fs::path(o->out) / "config.json").string()) << c.to_json() << "\n";
        const std::string tok = o->tokenizer.empty() ? assets_dir() + "/llada-tokenizer" : o->tokenizer;
        for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
          if (!fs::exists(fs::path(tok) / f)) continue;
          fs::copy_file(fs::path(tok) / f, fs::path(o->out) / f, fs::copy_options::overwrite_existing);
        }
        std::fprintf(stderr, "wrote %s (%.1f M random parameters)\n", o->out.c_str(), double(c.param_count()) / 1e6);
        return 0;
      };
    });

}  // namespace
}  // namespace mmada::cli
