// The tokenizer.json pieces CLIP's tokenizer needs, on a hand-made file (the full CLIP
// tokenizer is matched against transformers in tests/train/clip_reward_test.cc): Replace and
// Lowercase normalizers, BPE end_of_word_suffix, RobertaProcessing; unsupported options refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace mmada {
namespace {

// Characters a..z and Greek σ/α, each also with "</w>"; merges "a b" and "ab c</w>".
nlohmann::json clip_style() {
  nlohmann::json vocab = nlohmann::json::object();
  int id = 0;
  for (std::string c : {"a", "b", "c", "x", "\u03c3", "\u03b1"}) {
    vocab[c] = id++;
    vocab[c + "</w>"] = id++;
  }
  vocab["ab"] = id++;
  vocab["abc</w>"] = id++;
  return {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b", "ab c</w>"}},
                     {"end_of_word_suffix", "</w>"}, {"continuing_subword_prefix", ""}}},
          {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Replace"}, {"pattern", {{"String", "zz"}}},
                                                                   {"content", "x"}},
                                                                  {{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}},
                                                                   {"content", " "}},
                                                                  {{"type", "Lowercase"}}}}}},
          {"pre_tokenizer", {{"type", "WhitespaceSplitIsNotUsed"}}},
          {"post_processor", {{"type", "RobertaProcessing"}, {"cls", {"<s>", 100}}, {"sep", {"</s>", 101}}}},
          {"added_tokens", nlohmann::json::array()}};
}

Tokenizer load(const nlohmann::json& j, const std::string& name) {
  const auto path = std::filesystem::temp_directory_path() / ("mmada_clip_style_" + name + ".json");
  std::ofstream(path) << j.dump();
  Tokenizer t = Tokenizer::load(path.string());
  std::filesystem::remove(path);
  return t;
}

TEST(ClipStyleTokenizer, ReplaceLowercaseWordEndsAndRoberta) {
  nlohmann::json j = clip_style();
  // Split on spaces (removed), then no byte-level mapping: pieces stay in the vocab's alphabet.
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", " "}}}, {"behavior", "Removed"}, {"invert", false}};
  const Tokenizer t = load(j, "ok");
  const auto id = [&](const char* s) { return t.token_to_id(s); };
  // "ABC" -> "abc" -> a b c</w> -> ab c</w> -> abc</w>; "zz" -> "x" (word end); tab+spaces -> one split.
  EXPECT_EQ(t.encode("ABC \t  zz"), (std::vector<int64_t>{100, id("abc</w>"), id("x</w>"), 101}));
  // "a b" merges plain "b", not the word-final "b</w>".
  EXPECT_EQ(t.encode("ab", false), (std::vector<int64_t>{id("a"), id("b</w>")}));
  // Lowercase maps each character alone (Hugging Face): a final capital sigma becomes σ, not ς.
  EXPECT_EQ(t.encode("\u03a3\u0391\u03a3", false),
            (std::vector<int64_t>{id("\u03c3"), id("\u03b1"), id("\u03c3</w>")}));
}

TEST(ClipStyleTokenizer, UnsupportedOptionsAreNamed) {
  nlohmann::json j = clip_style();
  j["pre_tokenizer"] = nullptr;
  j["model"]["continuing_subword_prefix"] = "##";
  try {
    load(j, "prefix");
    FAIL() << "accepted continuing_subword_prefix";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("continuing_subword_prefix"), std::string::npos) << e.what();
  }
  j = clip_style();
  j["pre_tokenizer"] = nullptr;
  j["normalizer"] = {{"type", "Replace"}, {"pattern", {{"Regex", "("}}}, {"content", ""}};
  try {
    load(j, "regex");
    FAIL() << "accepted a broken Replace regex";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Replace regex"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmada
