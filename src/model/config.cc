#include "model/config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <type_traits>

#include "core/error.h"

using nlohmann::json;

namespace mmada {

namespace {

// Fields of LLaDA / MMaDA configs and standard Hugging Face PretrainedConfig keys that the
// engine knows about (read, checked, or deliberately ignored). Anything else is reported.
const std::set<std::string> kKnownFields = {
    "activation_type", "alibi", "alibi_bias_max", "architectures", "attention_dropout",
    "attention_layer_norm", "attention_layer_norm_with_affine", "auto_map", "bias_for_layer_norm",
    "block_group_size", "block_type", "bos_token_id", "clip_qkv", "codebook_size", "d_model",
    "dtype", "embedding_dropout", "embedding_size", "eos_token_id", "flash_attention", "image_layout",
    "include_bias", "include_qkv_bias", "init_cutoff_factor", "init_device", "init_fn",
    "init_std", "input_emb_norm", "layer_norm_type", "layer_norm_with_affine", "llm_vocab_size",
    "mask_token_id", "max_sequence_length", "mlp_hidden_size", "mlp_ratio", "model_type",
    "multi_query_attention", "n_heads", "n_kv_heads", "n_layers", "new_vocab_size",
    "num_new_special_tokens", "num_vq_tokens", "pad_token_id", "precision",
    "pretrained_model_path", "residual_dropout", "rms_norm_eps", "rope", "rope_full_precision",
    "rope_theta", "scale_logits", "tie_word_embeddings", "torch_dtype", "torchscript",
    "transformers_version", "use_cache", "vocab_size", "w_clip_vit", "weight_tying",
    "_name_or_path", "attn_implementation", "output_hidden_states", "return_dict"};

struct Reader {
  const json& j;
  const std::string& where;

  bool present(const char* k) const { return j.contains(k) && !j[k].is_null(); }

  int64_t positive_int(const char* k) const {
    MMADA_CHECK(present(k), where, ": required field \"", k, "\" is missing");
    MMADA_CHECK(j[k].is_number_integer() && j[k].get<int64_t>() > 0, where, ": field \"", k,
                "\" must be a positive integer, got ", j[k].dump());
    return j[k].get<int64_t>();
  }
  double number(const char* k, double dflt) const {
    if (!present(k)) return dflt;
    MMADA_CHECK(j[k].is_number(), where, ": field \"", k, "\" must be a number, got ", j[k].dump());
    return j[k].get<double>();
  }
  int64_t integer(const char* k, int64_t dflt) const {
    if (!present(k)) return dflt;
    MMADA_CHECK(j[k].is_number_integer(), where, ": field \"", k, "\" must be an integer, got ",
                j[k].dump());
    return j[k].get<int64_t>();
  }
  // Fields whose other values change the network: only MMaDA's value is supported.
  template <typename T>
  void require(const char* k, const T& supported) const {
    if (!present(k)) return;
    bool ok = false;
    try {
      // get<int64_t>() would truncate 1.5 to 1; an integer field must hold an integer.
      bool int_ok = true;
      if constexpr (std::is_same_v<T, int64_t>) int_ok = j[k].is_number_integer();
      ok = int_ok && j[k].get<T>() == supported;
    } catch (const json::exception&) {
    }
    MMADA_CHECK(ok, where, ": unsupported value ", j[k].dump(), " for \"", k,
                "\" (mmada.cpp runs the LLaDA/MMaDA variant with ", json(supported).dump(), ")");
  }
};

ImageLayout read_image_layout(const json& o, const std::string& where) {
  const std::string w = where + ": \"image_layout\"";
  MMADA_CHECK(o.is_object(), w, " must be an object");
  for (auto it = o.begin(); it != o.end(); ++it)
    MMADA_CHECK(it.key() == "codes_per_image" || it.key() == "t2i_text_len" || it.key() == "t2i_pad_visible" ||
                    it.key() == "fit",
                w, ": unknown field \"", it.key(), "\" (codes_per_image, t2i_text_len, t2i_pad_visible, fit)");
  Reader r{o, w};
  ImageLayout l;
  l.codes_per_image = r.positive_int("codes_per_image");
  const auto side = int64_t(std::llround(std::sqrt(double(l.codes_per_image))));
  MMADA_CHECK(side * side == l.codes_per_image, w, ": codes_per_image ", l.codes_per_image,
              " is not a square grid");
  l.t2i_text_len = r.positive_int("t2i_text_len");
  MMADA_CHECK(l.t2i_text_len >= 3, w, ": t2i_text_len ", l.t2i_text_len,
              " leaves no room for <|t2i|> BOS EOS");
  if (r.present("t2i_pad_visible")) {
    MMADA_CHECK(o["t2i_pad_visible"].is_boolean(), w, ": \"t2i_pad_visible\" must be true or false");
    l.t2i_pad_visible = o["t2i_pad_visible"].get<bool>();
  }
  if (r.present("fit")) {
    MMADA_CHECK(o["fit"].is_string(), w, ": \"fit\" must be a string");
    l.fit = o["fit"].get<std::string>();
    MMADA_CHECK(l.fit == "crop" || l.fit == "squash" || l.fit == "pad", w, ": \"fit\" must be crop, squash or pad, got \"",
                l.fit, "\"");
  }
  return l;
}

}  // namespace

ModelConfig ModelConfig::from_json_text(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(where, ": not valid JSON (", e.what(), ")");
  }
  MMADA_CHECK(j.is_object(), where, ": config must be a JSON object");
  Reader r{j, where};
  ModelConfig c;
  c.d_model = r.positive_int("d_model");
  c.n_heads = r.positive_int("n_heads");
  c.n_layers = r.positive_int("n_layers");
  MMADA_CHECK(c.d_model % c.n_heads == 0, where, ": d_model ", c.d_model,
              " is not divisible by n_heads ", c.n_heads);
  MMADA_CHECK(c.head_dim() % 2 == 0, where, ": head dim ", c.head_dim(), " must be even for RoPE");

  const bool mqa_set = r.present("multi_query_attention");
  MMADA_CHECK(!mqa_set || j["multi_query_attention"].is_boolean(), where,
              ": \"multi_query_attention\" must be true, false or null");
  const bool mqa = mqa_set && j["multi_query_attention"].get<bool>();
  if (r.present("n_kv_heads")) {
    c.n_kv_heads = r.positive_int("n_kv_heads");
    MMADA_CHECK(!mqa || c.n_kv_heads == 1, where, ": multi_query_attention is true but n_kv_heads is ",
                c.n_kv_heads);
  } else {
    c.n_kv_heads = mqa ? 1 : c.n_heads;
  }
  MMADA_CHECK(c.n_heads % c.n_kv_heads == 0, where, ": n_heads ", c.n_heads,
              " is not a multiple of n_kv_heads ", c.n_kv_heads);

  if (r.present("mlp_hidden_size")) {
    c.mlp_hidden = r.positive_int("mlp_hidden_size");
  } else {
    const int64_t ratio = r.present("mlp_ratio") ? r.positive_int("mlp_ratio") : 4;
    MMADA_CHECK(ratio <= INT64_MAX / c.d_model, where, ": mlp_ratio ", ratio, " x d_model ",
                c.d_model, " overflows 64 bits");
    c.mlp_hidden = ratio * c.d_model;
  }
  c.vocab = r.present("embedding_size") ? r.positive_int("embedding_size")
                                         : r.positive_int("vocab_size");
  if (r.present("vocab_size") && r.present("embedding_size"))
    MMADA_CHECK(r.positive_int("vocab_size") <= c.vocab, where, ": vocab_size ",
                j["vocab_size"].dump(), " exceeds embedding_size ", c.vocab);
  c.rope_theta = r.number("rope_theta", 10000.0);
  MMADA_CHECK(c.rope_theta > 0, where, ": rope_theta must be positive");
  c.rms_norm_eps = r.number("rms_norm_eps", 1e-5);
  MMADA_CHECK(c.rms_norm_eps > 0, where, ": rms_norm_eps must be positive");
  c.max_sequence_length = r.integer("max_sequence_length", 4096);
  c.mask_token_id = r.integer("mask_token_id", 126336);
  c.eos_token_id = r.integer("eos_token_id", 126081);
  c.pad_token_id = r.integer("pad_token_id", c.eos_token_id);
  MMADA_CHECK(c.mask_token_id >= 0 && c.mask_token_id < c.vocab, where, ": mask_token_id ",
              c.mask_token_id, " is outside the vocabulary of ", c.vocab);
  if (r.present("model_type")) c.model_type = j["model_type"].is_string() ? j["model_type"].get<std::string>() : "?";

  r.require("block_type", std::string("llama"));
  r.require("activation_type", std::string("silu"));
  r.require("layer_norm_type", std::string("rms"));
  r.require("weight_tying", false);
  r.require("include_bias", false);
  r.require("include_qkv_bias", false);
  r.require("bias_for_layer_norm", false);
  r.require("layer_norm_with_affine", true);
  r.require("attention_layer_norm", false);
  r.require("input_emb_norm", false);
  r.require("scale_logits", false);
  r.require("alibi", false);
  r.require("rope", true);
  r.require("block_group_size", int64_t(1));
  r.require("tie_word_embeddings", false);
  if (r.present("image_layout")) c.image_layout = read_image_layout(j["image_layout"], where);
  if (r.present("clip_qkv")) fail(where, ": unsupported value for \"clip_qkv\" (must be null)");

  for (auto it = j.begin(); it != j.end(); ++it)
    if (!kKnownFields.count(it.key())) c.unknown_fields.push_back(it.key());
  return c;
}

ModelConfig ModelConfig::load(const std::string& path) {
  std::ifstream in(path);
  MMADA_CHECK(in.good(), path, ": cannot open config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), path);
}

int64_t ModelConfig::param_count() const {
  const int64_t per_layer = 2 * d_model * d_model + 2 * d_model * kv_dim() +
                            3 * d_model * mlp_hidden + 2 * d_model;
  return n_layers * per_layer + 2 * vocab * d_model + d_model;
}

double ModelConfig::flops_per_token_blocks(int64_t seq_len) const {
  const double macs = double(2 * d_model * d_model + 2 * d_model * kv_dim() + 3 * d_model * mlp_hidden);
  // QK^T and PV: 2 * L * d_model MACs per token per layer.
  return 2.0 * n_layers * (macs + 2.0 * double(seq_len) * double(d_model));
}

std::string ModelConfig::to_json() const {
  json j = {{"model_type", model_type}, {"architectures", {"MMadaModelLM"}},
            {"d_model", d_model}, {"n_heads", n_heads}, {"n_kv_heads", n_kv_heads},
            {"n_layers", n_layers}, {"mlp_hidden_size", mlp_hidden}, {"mlp_ratio", 4},
            {"vocab_size", vocab}, {"embedding_size", vocab}, {"rope_theta", rope_theta},
            {"rms_norm_eps", rms_norm_eps}, {"max_sequence_length", max_sequence_length},
            {"mask_token_id", mask_token_id}, {"eos_token_id", eos_token_id},
            {"pad_token_id", pad_token_id}, {"block_type", "llama"}, {"activation_type", "silu"},
            {"layer_norm_type", "rms"}, {"weight_tying", false}, {"include_bias", false},
            {"include_qkv_bias", false}, {"bias_for_layer_norm", false},
            {"layer_norm_with_affine", true}, {"attention_layer_norm", false},
            {"input_emb_norm", false}, {"scale_logits", false}, {"alibi", false}, {"rope", true},
            {"rope_full_precision", true}, {"block_group_size", 1}, {"multi_query_attention", nullptr}};
  if (image_layout)
    j["image_layout"] = {{"codes_per_image", image_layout->codes_per_image},
                         {"t2i_text_len", image_layout->t2i_text_len},
                         {"t2i_pad_visible", image_layout->t2i_pad_visible},
                         {"fit", image_layout->fit}};
  return j.dump(2);
}

}  // namespace mmada
