// config.json parser: the real configs, the defaults and rejections of spec/model.md §2.2.
#include "model/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace mmada {
namespace {

using nlohmann::json;

std::string refdata_dir() {
  const char* env = std::getenv("MMADA_REFDATA");
  return env && *env ? env : "../shared/refdata";
}

// Smallest config the parser accepts; tests add or change one field at a time.
json base() {
  return {{"d_model", 64}, {"n_heads", 4}, {"n_layers", 2}, {"vocab_size", 1000}, {"mask_token_id", 5}};
}

ModelConfig parse(const json& j) { return ModelConfig::from_json_text(j.dump(), "cfg.json"); }

// The config must be rejected with a one-line message naming the file and each piece.
void expect_reject(const std::string& text, std::initializer_list<std::string> pieces) {
  try {
    ModelConfig::from_json_text(text, "cfg.json");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("cfg.json: ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& p : pieces) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}
void expect_reject(const json& j, std::initializer_list<std::string> pieces) { expect_reject(j.dump(), pieces); }

json with(json j, const std::string& k, const json& v) {
  j[k] = v;
  return j;
}

TEST(Config, TinyMMaDAConfigParses) {
  const std::string path = refdata_dir() + "/tiny/mmada_tiny/config.json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not found (set MMADA_REFDATA)";
  const ModelConfig c = ModelConfig::load(path);
  EXPECT_EQ(c.d_model, 32);
  EXPECT_EQ(c.n_heads, 2);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.mlp_hidden, 96);
  EXPECT_EQ(c.vocab, 134656);
  EXPECT_EQ(c.head_dim(), 16);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.mask_token_id, 126336);
  EXPECT_EQ(c.eos_token_id, 126081);
  EXPECT_EQ(c.pad_token_id, 126081);
  EXPECT_EQ(c.model_type, "mmada");
  EXPECT_TRUE(c.unknown_fields.empty()) << c.unknown_fields.front();
}

TEST(Config, LLaDA8BConfigParses) {
  const std::string path = refdata_dir() + "/../tokenizer/config.json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not found (set MMADA_REFDATA)";
  ModelConfig c = ModelConfig::load(path);
  EXPECT_EQ(c.d_model, 4096);
  EXPECT_EQ(c.n_layers, 32);
  EXPECT_EQ(c.n_heads, 32);
  EXPECT_EQ(c.n_kv_heads, 32);
  EXPECT_EQ(c.head_dim(), 128);
  EXPECT_EQ(c.mlp_hidden, 12288);
  EXPECT_EQ(c.vocab, 126464);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.model_type, "llada");
  EXPECT_TRUE(c.unknown_fields.empty());
  // model.md §1: 32 layers x 218,112,000 + 2 x vocab x 4096 + 4096.
  EXPECT_EQ(c.param_count(), int64_t(32) * 218112000 + 2 * int64_t(126464) * 4096 + 4096);
  EXPECT_EQ(c.param_count(), 8015581184);
  c.vocab = 134656;  // MMaDA's resized embedding
  EXPECT_EQ(c.param_count(), 8082690048);
}

TEST(Config, MissingFileNamesPath) {
  try {
    ModelConfig::load("/nonexistent/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/config.json: cannot open"), std::string::npos) << e.what();
  }
}

TEST(Config, Defaults) {
  const ModelConfig c = parse(base());
  EXPECT_EQ(c.n_kv_heads, 4);          // n_kv_heads absent -> n_heads
  EXPECT_EQ(c.mlp_hidden, 4 * 64);     // mlp_ratio defaults to 4
  EXPECT_EQ(c.vocab, 1000);            // embedding_size absent -> vocab_size
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.eos_token_id, 126081);
  EXPECT_EQ(c.pad_token_id, c.eos_token_id);
  EXPECT_EQ(c.model_type, "llada");
}

TEST(Config, NullFieldsTakeDefaults) {
  json j = base();
  j["n_kv_heads"] = nullptr;
  j["multi_query_attention"] = nullptr;
  j["mlp_hidden_size"] = nullptr;
  j["mlp_ratio"] = 3;
  j["embedding_size"] = nullptr;
  const ModelConfig c = parse(j);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.mlp_hidden, 3 * 64);
  EXPECT_EQ(c.vocab, 1000);
}

TEST(Config, MultiQueryAttentionMeansOneKvHead) {
  EXPECT_EQ(parse(with(base(), "multi_query_attention", true)).n_kv_heads, 1);
  EXPECT_EQ(parse(with(with(base(), "multi_query_attention", true), "n_kv_heads", 1)).n_kv_heads, 1);
  EXPECT_EQ(parse(with(base(), "multi_query_attention", false)).n_kv_heads, 4);
  // Both set, inconsistently.
  expect_reject(with(with(base(), "multi_query_attention", true), "n_kv_heads", 4),
                {"multi_query_attention is true but n_kv_heads is 4"});
  expect_reject(with(base(), "multi_query_attention", "yes"), {"\"multi_query_attention\" must be"});
}

TEST(Config, EmbeddingSizeOverridesVocabSize) {
  const ModelConfig c = parse(with(base(), "embedding_size", 1024));
  EXPECT_EQ(c.vocab, 1024);
  expect_reject(with(base(), "embedding_size", 900), {"vocab_size 1000 exceeds embedding_size 900"});
}

TEST(Config, GqaAccepted) {
  json j = base();
  j["d_model"] = 4096;
  j["n_heads"] = 32;
  j["n_kv_heads"] = 8;
  const ModelConfig c = parse(j);
  EXPECT_EQ(c.n_kv_heads, 8);
  EXPECT_EQ(c.kv_dim(), 8 * 128);
}

TEST(Config, MissingRequiredFields) {
  for (const char* k : {"d_model", "n_heads", "n_layers", "vocab_size"}) {
    SCOPED_TRACE(k);
    json j = base();
    j.erase(k);
    expect_reject(j, {std::string("required field \"") + k + "\" is missing"});
    j[k] = nullptr;  // null counts as missing
    expect_reject(j, {std::string("required field \"") + k + "\" is missing"});
  }
}

TEST(Config, DModelNotDivisibleByHeads) {
  expect_reject(with(base(), "n_heads", 3), {"d_model 64 is not divisible by n_heads 3"});
}

TEST(Config, OddHeadDimRejected) {
  expect_reject(with(base(), "n_heads", 64), {"head dim 1 must be even"});
}

TEST(Config, HeadsNotMultipleOfKvHeads) {
  expect_reject(with(base(), "n_kv_heads", 3), {"n_heads 4 is not a multiple of n_kv_heads 3"});
}

TEST(Config, UnsupportedArchitectureChoices) {
  const std::vector<std::pair<std::string, json>> cases = {
      {"alibi", true},
      {"block_type", "sequential"},
      {"activation_type", "gelu"},
      {"activation_type", "swiglu"},
      {"weight_tying", true},
      {"include_bias", true},
      {"include_qkv_bias", true},
      {"layer_norm_type", "default"},
      {"rope", false},
      {"scale_logits", true},
      {"attention_layer_norm", true},
      {"input_emb_norm", true},
      {"block_group_size", 2},
      {"block_group_size", 1.5},  // not silently truncated to 1
      {"tie_word_embeddings", true},
      {"alibi", "false"},  // a string is not false
  };
  for (const auto& [k, v] : cases) {
    SCOPED_TRACE(k + "=" + v.dump());
    expect_reject(with(base(), k, v), {"unsupported value " + v.dump() + " for \"" + k + "\""});
  }
  expect_reject(with(base(), "clip_qkv", 8.0), {"unsupported value for \"clip_qkv\""});
  // The supported values pass.
  json ok = base();
  ok["alibi"] = false;
  ok["block_type"] = "llama";
  ok["activation_type"] = "silu";
  ok["layer_norm_type"] = "rms";
  ok["weight_tying"] = false;
  ok["block_group_size"] = 1;
  ok["clip_qkv"] = nullptr;
  EXPECT_NO_THROW(parse(ok));
}

TEST(Config, NegativeOrZeroValues) {
  for (const char* k : {"d_model", "n_heads", "n_layers", "vocab_size"}) {
    SCOPED_TRACE(k);
    expect_reject(with(base(), k, -4), {std::string("field \"") + k + "\" must be a positive integer, got -4"});
    expect_reject(with(base(), k, 0), {std::string("field \"") + k + "\" must be a positive integer, got 0"});
  }
  expect_reject(with(base(), "n_kv_heads", -1), {"\"n_kv_heads\" must be a positive integer"});
  expect_reject(with(base(), "mlp_hidden_size", 0), {"\"mlp_hidden_size\" must be a positive integer"});
  expect_reject(with(base(), "mlp_ratio", -2), {"\"mlp_ratio\" must be a positive integer"});
  expect_reject(with(base(), "embedding_size", -1), {"\"embedding_size\" must be a positive integer"});
  expect_reject(with(base(), "rope_theta", -1.0), {"rope_theta must be positive"});
  expect_reject(with(base(), "rms_norm_eps", 0.0), {"rms_norm_eps must be positive"});
  // Out-of-range literals: 1e400 overflows the JSON parser, 1e-400 underflows to 0.
  expect_reject(std::string(R"({"d_model":64,"n_heads":4,"n_layers":2,"vocab_size":1000,"rope_theta":1e400})"),
                {"not valid JSON", "number overflow"});
  expect_reject(std::string(R"({"d_model":64,"n_heads":4,"n_layers":2,"vocab_size":1000,"rms_norm_eps":1e-400})"),
                {"rms_norm_eps must be positive"});
  expect_reject(with(base(), "mask_token_id", -1), {"mask_token_id -1 is outside the vocabulary of 1000"});
  expect_reject(with(base(), "mask_token_id", 1000), {"mask_token_id 1000 is outside the vocabulary"});
}

TEST(Config, WrongJsonTypes) {
  expect_reject(with(base(), "d_model", "4096"), {"field \"d_model\" must be a positive integer, got \"4096\""});
  expect_reject(with(base(), "d_model", 64.0), {"field \"d_model\" must be a positive integer, got 64.0"});
  expect_reject(with(base(), "n_layers", true), {"field \"n_layers\" must be a positive integer, got true"});
  expect_reject(with(base(), "n_heads", json::array({4})), {"field \"n_heads\" must be a positive integer"});
  expect_reject(with(base(), "rope_theta", "1e4"), {"field \"rope_theta\" must be a number"});
  expect_reject(with(base(), "rms_norm_eps", json::object()), {"field \"rms_norm_eps\" must be a number"});
  expect_reject(with(base(), "eos_token_id", 1.5), {"field \"eos_token_id\" must be an integer"});
  expect_reject(with(base(), "max_sequence_length", "4096"), {"field \"max_sequence_length\" must be an integer"});
  expect_reject(with(base(), "d_model", 18446744073709551615u), {"field \"d_model\" must be a positive integer"});
}

TEST(Config, NotJsonOrNotObject) {
  expect_reject(std::string("{\"d_model\": 64,"), {"not valid JSON"});
  expect_reject(std::string(""), {"not valid JSON"});
  expect_reject(std::string("[{\"d_model\": 64}]"), {"config must be a JSON object"});
  expect_reject(std::string("42"), {"config must be a JSON object"});
}

TEST(Config, MlpRatioOverflowRejected) {
  // mlp_ratio * d_model would overflow int64.
  json j = base();
  j["d_model"] = int64_t(1) << 40;
  j["n_heads"] = 2;
  j["mlp_ratio"] = int64_t(1) << 40;
  expect_reject(j, {"mlp_ratio"});
}

TEST(Config, UnknownFieldsCollected) {
  json j = base();
  j["my_custom_flag"] = true;
  j["another"] = json::array();
  j["codebook_size"] = 8192;  // known MMaDA extra: not reported
  const ModelConfig c = parse(j);
  std::vector<std::string> u = c.unknown_fields;
  std::sort(u.begin(), u.end());
  EXPECT_EQ(u, (std::vector<std::string>{"another", "my_custom_flag"}));
}

TEST(Config, ToJsonRoundTrips) {
  json j = base();
  j["n_kv_heads"] = 2;
  j["mlp_hidden_size"] = 80;
  j["rope_theta"] = 500000.0;
  const ModelConfig a = parse(j);
  const ModelConfig b = ModelConfig::from_json_text(a.to_json(), "round-trip");
  EXPECT_EQ(b.d_model, a.d_model);
  EXPECT_EQ(b.n_kv_heads, 2);
  EXPECT_EQ(b.mlp_hidden, 80);
  EXPECT_EQ(b.vocab, a.vocab);
  EXPECT_EQ(b.rope_theta, a.rope_theta);
  EXPECT_EQ(b.mask_token_id, a.mask_token_id);
  EXPECT_TRUE(b.unknown_fields.empty());
}

// "image_layout": what mmada train records about the images (codes per image, the T2I text part,
// [iPAD] visibility, the canvas fit) so describe / imagine / serve lay images out the same way.
TEST(Config, ImageLayoutParsesAndRoundTrips) {
  EXPECT_FALSE(parse(base()).image_layout.has_value());  // MMaDA's configs: none
  const json layout = {{"codes_per_image", 64}, {"t2i_text_len", 65}, {"t2i_pad_visible", true}, {"fit", "pad"}};
  const ModelConfig a = parse(with(base(), "image_layout", layout));
  ASSERT_TRUE(a.image_layout.has_value());
  EXPECT_EQ(a.image_layout->codes_per_image, 64);
  EXPECT_EQ(a.image_layout->t2i_text_len, 65);
  EXPECT_TRUE(a.image_layout->t2i_pad_visible);
  EXPECT_EQ(a.image_layout->fit, "pad");
  EXPECT_TRUE(a.unknown_fields.empty());
  const ModelConfig b = ModelConfig::from_json_text(a.to_json(), "round-trip");
  ASSERT_TRUE(b.image_layout.has_value());
  EXPECT_EQ(b.image_layout->codes_per_image, 64);
  EXPECT_EQ(b.image_layout->t2i_text_len, 65);
  EXPECT_TRUE(b.image_layout->t2i_pad_visible);
  EXPECT_EQ(b.image_layout->fit, "pad");
}

TEST(Config, ImageLayoutRejectsBadValues) {
  auto bad = [](json layout) {
    json l = {{"codes_per_image", 64}, {"t2i_text_len", 65}};
    for (auto it = layout.begin(); it != layout.end(); ++it) l[it.key()] = it.value();
    return with(base(), "image_layout", l);
  };
  expect_reject(with(base(), "image_layout", 64), {"\"image_layout\" must be an object"});
  expect_reject(bad({{"codes_per_image", 60}}), {"codes_per_image 60", "not a square grid"});
  expect_reject(bad({{"codes_per_image", 0}}), {"codes_per_image", "positive integer"});
  expect_reject(bad({{"t2i_text_len", 2}}), {"t2i_text_len 2", "<|t2i|> BOS EOS"});
  expect_reject(bad({{"fit", "stretch"}}), {"\"fit\" must be crop, squash or pad", "stretch"});
  expect_reject(bad({{"t2i_pad_visible", 1}}), {"t2i_pad_visible", "true or false"});
  expect_reject(bad({{"image_side", 32}}), {"unknown field \"image_side\""});
  expect_reject(with(base(), "image_layout", json{{"t2i_text_len", 65}}), {"\"codes_per_image\" is missing"});
}

}  // namespace
}  // namespace mmada
