#include "model/model_file.h"

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/error.h"
#include "io/gguf.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace mmada {

namespace {

// Per-layer names: Hugging Face (LLaDA/MMaDA) suffix <-> llama.cpp suffix.
constexpr std::pair<const char*, const char*> kLayerNames[] = {
    {"attn_norm", "attn_norm"}, {"q_proj", "attn_q"},     {"k_proj", "attn_k"},
    {"v_proj", "attn_v"},       {"attn_out", "attn_output"}, {"ff_norm", "ffn_norm"},
    {"ff_proj", "ffn_gate"},    {"up_proj", "ffn_up"},    {"ff_out", "ffn_down"},
};
constexpr std::pair<const char*, const char*> kGlobalNames[] = {
    {"model.transformer.wte.weight", "token_embd.weight"},
    {"model.transformer.ln_f.weight", "output_norm.weight"},
    {"model.transformer.ff_out.weight", "output.weight"},
};

// llama.cpp's converter permutes the rows of q and k within each head from the half-rotation
// order (i, i + d/2) to interleaved pairs (2i, 2i+1), for its "normal" RoPE. GGUF row
// h·d + 2i + j holds Hugging Face row h·d + j·d/2 + i; rows are whole blocks, so undoing it
// is a row copy whatever the type.
Tensor unpermute_rope_rows(const Tensor& t, int64_t heads) {
  const int64_t rows = t.size(0), d = rows / heads;
  Tensor out = Tensor::empty(t.dtype, t.shape);
  const size_t rb = dtype_nbytes(t.dtype, t.size(1));
  const auto* src = static_cast<const unsigned char*>(t.data);
  auto* dst = static_cast<unsigned char*>(out.data);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < d / 2; ++i)
        std::memcpy(dst + size_t(h * d + j * d / 2 + i) * rb, src + size_t(h * d + 2 * i + j) * rb, rb);
  return out;
}

ModelFile open_gguf(const std::string& path) {
  auto g = GgufFile::open(path);
  MMADA_CHECK(g->has_key("general.architecture"), path, ": metadata 'general.architecture' is missing");
  const std::string arch = g->get_string("general.architecture");
  MMADA_CHECK(arch == "mmada" || arch == "llada", path, ": metadata 'general.architecture' is '",
              arch, "'; mmada.cpp runs 'mmada' and 'llada' (LLaDA) models");
  ModelFile m;
  m.path = path;
  m.format = "gguf:" + arch;
  if (arch == "mmada") {
    m.config = ModelConfig::from_json_text(g->get_string("mmada.config_json"), path + ": mmada.config_json");
  } else {
    // llama.cpp's LLaDA keys -> a LLaDA config.json, validated by the same parser.
    MMADA_CHECK(g->has("token_embd.weight") && g->get("token_embd.weight").dim() == 2, path,
                ": tensor 'token_embd.weight' is missing or not a matrix");
    nlohmann::json j;
    const std::string a = arch + ".";
    j["d_model"] = g->get_int(a + "embedding_length");
    j["n_layers"] = g->get_int(a + "block_count");
    j["n_heads"] = g->get_int(a + "attention.head_count");
    j["n_kv_heads"] = g->has_key(a + "attention.head_count_kv") ? g->get_int(a + "attention.head_count_kv")
                                                                 : g->get_int(a + "attention.head_count");
    j["mlp_hidden_size"] = g->get_int(a + "feed_forward_length");
    j["embedding_size"] = g->get("token_embd.weight").size(0);
    j["vocab_size"] = g->get("token_embd.weight").size(0);
    if (g->has_key(a + "rope.freq_base")) j["rope_theta"] = g->get_float(a + "rope.freq_base");
    if (g->has_key(a + "attention.layer_norm_rms_epsilon"))
      j["rms_norm_eps"] = g->get_float(a + "attention.layer_norm_rms_epsilon");
    if (g->has_key(a + "context_length")) j["max_sequence_length"] = g->get_int(a + "context_length");
    if (g->has_key("tokenizer.ggml.mask_token_id")) j["mask_token_id"] = g->get_int("tokenizer.ggml.mask_token_id");
    if (g->has_key("tokenizer.ggml.eos_token_id")) j["eos_token_id"] = g->get_int("tokenizer.ggml.eos_token_id");
    if (g->has_key("tokenizer.ggml.padding_token_id")) j["pad_token_id"] = g->get_int("tokenizer.ggml.padding_token_id");
    j["model_type"] = "llada";
    m.config = ModelConfig::from_json_text(j.dump(), path + " (llada metadata)");
  }
  for (const std::string& gname : g->names()) {
    const std::string hf = hf_tensor_name(gname);
    if (hf.empty()) continue;  // reported as unused by the loader's count
    Tensor t = g->get(gname);
    if (arch == "llada" && t.dim() == 2) {
      if (gname.ends_with(".attn_q.weight")) t = unpermute_rope_rows(t, m.config.n_heads);
      else if (gname.ends_with(".attn_k.weight")) t = unpermute_rope_rows(t, m.config.n_kv_heads);
    }
    m.tensors.emplace(hf, std::move(t));
  }
  return m;
}

}  // namespace

std::string gguf_tensor_name(const std::string& hf) {
  for (const auto& [h, g] : kGlobalNames)
    if (hf == h) return g;
  static const std::regex layer(R"(model\.transformer\.blocks\.(\d+)\.(\w+)\.weight)");
  std::smatch mt;
  if (!std::regex_match(hf, mt, layer)) return "";
  for (const auto& [h, g] : kLayerNames)
    if (mt[2] == h) return "blk." + mt[1].str() + "." + g + ".weight";
  return "";
}

std::string hf_tensor_name(const std::string& gname) {
  for (const auto& [h, g] : kGlobalNames)
    if (gname == g) return h;
  static const std::regex layer(R"(blk\.(\d+)\.(\w+)\.weight)");
  std::smatch mt;
  if (!std::regex_match(gname, mt, layer)) return "";
  for (const auto& [h, g] : kLayerNames)
    if (mt[2] == g) return "model.transformer.blocks." + mt[1].str() + "." + h + ".weight";
  return "";
}

ModelFile ModelFile::open(const std::string& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec) && fs::path(path).extension() == ".gguf") return open_gguf(path);
  const std::string cfg_path = (fs::path(path) / "config.json").string();
  if (fs::is_directory(path, ec) && !fs::exists(cfg_path)) {
    std::vector<fs::path> ggufs;
    for (const auto& e : fs::directory_iterator(path))
      if (e.path().extension() == ".gguf") ggufs.push_back(e.path());
    if (ggufs.size() == 1) return open_gguf(ggufs[0].string());
  }
  MMADA_CHECK(fs::exists(cfg_path), path,
              ": no config.json (expected a Hugging Face model folder or a .gguf file)");
  ModelFile m;
  m.path = path;
  m.format = "safetensors";
  m.config = ModelConfig::load(cfg_path);
  const SafeTensorsSet set = SafeTensorsSet::open(path);
  for (const auto& n : set.names()) m.tensors.emplace(n, set.get(n));  // views keep the maps alive
  return m;
}

void write_model_gguf(const std::string& path, const ModelConfig& c,
                      const std::vector<std::pair<std::string, Tensor>>& tensors) {
  std::vector<std::pair<std::string, GgufValue>> kv = {
      {"general.architecture", GgufValue::str("mmada")},
      {"general.name", GgufValue::str("MMaDA")},
      {"mmada.config_json", GgufValue::str(c.to_json())},
      {"mmada.context_length", GgufValue::u32(uint32_t(c.max_sequence_length))},
      {"mmada.embedding_length", GgufValue::u32(uint32_t(c.d_model))},
      {"mmada.block_count", GgufValue::u32(uint32_t(c.n_layers))},
      {"mmada.feed_forward_length", GgufValue::u32(uint32_t(c.mlp_hidden))},
      {"mmada.attention.head_count", GgufValue::u32(uint32_t(c.n_heads))},
      {"mmada.attention.head_count_kv", GgufValue::u32(uint32_t(c.n_kv_heads))},
      {"mmada.attention.layer_norm_rms_epsilon", GgufValue::f32(float(c.rms_norm_eps))},
      {"mmada.rope.freq_base", GgufValue::f32(float(c.rope_theta))},
      {"mmada.rope.layout", GgufValue::str("half")},
      {"mmada.vocab_size", GgufValue::u32(uint32_t(c.vocab))},
      {"tokenizer.ggml.mask_token_id", GgufValue::u32(uint32_t(c.mask_token_id))},
      {"tokenizer.ggml.eos_token_id", GgufValue::u32(uint32_t(c.eos_token_id))},
      {"tokenizer.ggml.padding_token_id", GgufValue::u32(uint32_t(c.pad_token_id))},
  };
  std::vector<std::pair<std::string, Tensor>> named;
  for (const auto& [hf, t] : tensors) {
    const std::string g = gguf_tensor_name(hf);
    MMADA_CHECK(!g.empty(), path, ": tensor '", hf, "' has no GGUF name");
    named.emplace_back(g, t);
  }
  write_gguf(path, kv, named);
}

}  // namespace mmada
