// Tokenizer against the Hugging Face `tokenizers` reference: every case of
// refdata/tokenizer/cases.jsonl must give the same ids and the same decoded strings.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/utf8.h"
#include "tokenizer_test_data.h"

namespace mmada {
namespace {

using Ids = std::vector<int64_t>;

TEST(Tokenizer, MatchesEveryReferenceCase) {
  MMADA_REQUIRE_TOKENIZER(tok);
  const std::string path = test::refdata_dir() + "/tokenizer/cases.jsonl";
  std::ifstream in(path);
  if (!in) GTEST_SKIP() << "no " << path;
  int total = 0, matched = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto c = nlohmann::json::parse(line);
    const std::string text = c.at("text");
    const Ids want = c.at("ids").get<Ids>();
    ++total;
    const Ids got = tok->encode(text);
    const std::string decoded = tok->decode(want, false);
    const std::string decoded_skip = tok->decode(want, true);
    EXPECT_EQ(got, want) << "case " << total << ": " << text;
    EXPECT_EQ(decoded, c.at("decode").get<std::string>()) << "case " << total;
    EXPECT_EQ(decoded_skip, c.at("decode_skip_special").get<std::string>()) << "case " << total;
    if (got == want && decoded == c.at("decode") && decoded_skip == c.at("decode_skip_special")) ++matched;
  }
  std::printf("[tokenizer] %d / %d reference cases matched\n", matched, total);
  EXPECT_GT(total, 0);
  EXPECT_EQ(matched, total);
}

// Reference encodings quoted in shared/tokenizer/SOURCE.md (hf tokenizers 0.22.2).
TEST(Tokenizer, MatchesDocumentedEncodings) {
  MMADA_REQUIRE_TOKENIZER(tok);
  EXPECT_EQ(tok->encode("Hello world"), (Ids{14455, 1931}));
  EXPECT_EQ(tok->encode("\xF0\x9F\x91\xA9"), (Ids{47681, 102}));
  EXPECT_EQ(tok->encode(" The quick brown fox jumps over the lazy dog."),
            (Ids{468, 3901, 13187, 46998, 40977, 997, 268, 27028, 7339, 13}));
  EXPECT_EQ(tok->encode("12345 3.14159"), (Ids{16, 17, 18, 19, 20, 220, 18, 13, 16, 19, 16, 20, 24}));
  EXPECT_EQ(tok->encode("I'm   here\n\n\tend"), (Ids{40, 3180, 256, 1655, 198, 198, 197, 486}));
  EXPECT_EQ(tok->encode("Tom's dog isn't here. We'LL see."),
            (Ids{22698, 698, 7339, 4959, 1227, 1655, 13, 1104, 6, 2477, 1339, 13}));
  EXPECT_EQ(tok->encode("x = [1, 2, 3]\nprint(x)\n"),
            (Ids{87, 373, 831, 16, 11, 220, 17, 11, 220, 18, 60, 198, 3384, 3698, 8, 198}));
  EXPECT_EQ(tok->encode("caf\xC3\xA9"), (Ids{66, 2610, 2900}));
  EXPECT_EQ(tok->encode("cafe\xCC\x81"), (Ids{66, 2610, 2900}));  // NFC
  EXPECT_EQ(tok->encode("<|mdm_mask|><|mdm_mask|>"), (Ids{126336, 126336}));
}

TEST(Tokenizer, VocabularyFacts) {
  MMADA_REQUIRE_TOKENIZER(tok);
  EXPECT_EQ(tok->size(), 126349u);
  EXPECT_EQ(tok->token_to_id("<|startoftext|>"), 126080);
  EXPECT_EQ(tok->token_to_id("<|mdm_mask|>"), 126336);
  EXPECT_EQ(tok->token_to_id("<|eot_id|>"), 126348);
  EXPECT_EQ(tok->token_to_id("\xC4\xA0"), 220);  // "Ġ", the byte-level space
  EXPECT_EQ(tok->token_to_id("no such token"), -1);
  EXPECT_EQ(tok->id_to_token(126347), "<|end_header_id|>");
  EXPECT_EQ(tok->id_to_token(126349), "");
  EXPECT_EQ(tok->id_to_token(-5), "");
  EXPECT_TRUE(tok->is_special(126081));
  EXPECT_FALSE(tok->is_special(220));
  EXPECT_EQ(tok->bos_id(), 126080);
  EXPECT_EQ(tok->eos_id(), 126081);
  EXPECT_TRUE(tok->encode("").empty());  // the ByteLevel post-processor adds no BOS
}

TEST(Tokenizer, DecodeSkipsUnknownIdsAndReplacesPartialBytes) {
  MMADA_REQUIRE_TOKENIZER(tok);
  EXPECT_EQ(tok->decode({14455, 999999, -1, 1931}), "Hello world");
  // The first of the two tokens of U+1F469 holds 3 of its 4 bytes: one U+FFFD, as from_utf8_lossy.
  EXPECT_EQ(tok->decode({47681}), "\xEF\xBF\xBD");
  EXPECT_EQ(tok->decode({47681, 14455}), "\xEF\xBF\xBDHello");
  EXPECT_EQ(tok->decode({126080, 14455}, true), "Hello");
  EXPECT_EQ(tok->decode({126080, 14455}, false), "<|startoftext|>Hello");
}

TEST(Tokenizer, InvalidUtf8InputIsReplacedNotFatal) {
  MMADA_REQUIRE_TOKENIZER(tok);
  const std::string bad = "ab\xFF\xFE" "c\xE2\x82 d\xF0\x9F\x91 <|eot_id|>\xC0\xAF";
  Ids ids;
  ASSERT_NO_THROW(ids = tok->encode(bad));
  EXPECT_EQ(ids, tok->encode(utf8::to_valid_lossy(bad)));
  EXPECT_EQ(utf8::to_valid_lossy(bad),
            "ab\xEF\xBF\xBD\xEF\xBF\xBD" "c\xEF\xBF\xBD d\xEF\xBF\xBD <|eot_id|>\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(tok->decode(ids), utf8::to_valid_lossy(bad));
}

TEST(Tokenizer, RandomBytesAndIdsNeverCrash) {
  MMADA_REQUIRE_TOKENIZER(tok);
  uint64_t state = 42;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return uint32_t(state >> 33);
  };
  for (int round = 0; round < 500; ++round) {
    std::string text(next() % 64, '\0');
    for (char& c : text) c = char(next() % 4 == 0 ? "<|>\n "[next() % 5] : next() & 0xFF);
    const Ids ids = tok->encode(text);
    EXPECT_TRUE(utf8::is_valid(tok->decode(ids)));
    Ids random_ids(next() % 32);
    for (auto& id : random_ids) id = int64_t(next() % 140000) - 1000;
    EXPECT_TRUE(utf8::is_valid(tok->decode(random_ids, round % 2 == 0)));
  }
}

class TokenizerFileTest : public ::testing::Test {
 protected:
  std::filesystem::path dir_;
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mmada_tok_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& text) {
    std::ofstream(dir_ / "tokenizer.json") << text;
    return dir_.string();
  }
};

TEST_F(TokenizerFileTest, RejectsWordPiece) {
  const std::string dir = write(R"({"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0}}})");
  try {
    Tokenizer::load(dir);
    FAIL() << "WordPiece accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("WordPiece"), std::string::npos) << e.what();
  }
}

TEST_F(TokenizerFileTest, RejectsUnigram) {
  const std::string dir = write(R"({"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]]}})");
  EXPECT_THROW(Tokenizer::load(dir), Error);
}

TEST_F(TokenizerFileTest, RejectsMissingAndMalformedFiles) {
  EXPECT_THROW(Tokenizer::load((dir_ / "nowhere").string()), Error);
  EXPECT_THROW(Tokenizer::load(dir_.string()), Error);  // folder without tokenizer.json
  EXPECT_THROW(Tokenizer::load(write("{ not json")), Error);
  EXPECT_THROW(Tokenizer::load(write(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})")), Error);
  EXPECT_THROW(Tokenizer::load(write(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
     "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}})")),
               Error);
}

// A toy byte-level BPE exercising merges by rank and the added-token flags.
TEST_F(TokenizerFileTest, ToyBpeAndAddedTokenFlags) {
  const std::string dir = write(R"({
    "added_tokens": [
      {"id": 10, "content": "<x>", "special": true, "lstrip": true, "rstrip": true, "normalized": false, "single_word": false},
      {"id": 11, "content": "ab", "special": false, "lstrip": false, "rstrip": false, "normalized": true, "single_word": true}
    ],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>", "type_id": 0}},
        {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {"<x>": {"id": "<x>", "ids": [10], "tokens": ["<x>"]}}},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "\u0120": 3, "bc": 4, "abc": 5, "ab": 6},
              "merges": ["b c", "a bc", "a b"]}})");
  const Tokenizer tok = Tokenizer::load(dir);
  EXPECT_EQ(tok.size(), 9u);
  EXPECT_EQ(tok.encode("abc", false), (Ids{5}));     // "b c" outranks "a b"
  EXPECT_EQ(tok.encode("abc"), (Ids{10, 5}));        // template prefix
  EXPECT_EQ(tok.encode("ab", false), (Ids{11}));     // single word
  EXPECT_EQ(tok.encode("abab", false), (Ids{6, 6}));  // not a single word: plain BPE
  EXPECT_EQ(tok.encode("a  <x>  c", false), (Ids{0, 10, 2}));  // lstrip + rstrip eat the spaces
  EXPECT_EQ(tok.decode({10, 5, 3, 2}, true), "abc c");
  EXPECT_EQ(tok.decode({10, 5}, false), "<x>abc");
}

TEST(Tokenizer, EncodeSpeedOneMegabyte) {
  MMADA_REQUIRE_TOKENIZER(tok);
  const std::string sentence =
      "The quick brown fox jumps over the lazy dog, while 42 engineers write C++ code in 2025. "
      "Diffusion language models denoise masked tokens in parallel; isn't that neat?\n";
  std::string text;
  for (int i = 0; text.size() < (1u << 20); ++i) text += sentence + std::to_string(i) + " ";
  const auto t0 = std::chrono::steady_clock::now();
  const Ids ids = tok->encode(text);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[tokenizer] encoded %zu bytes into %zu ids in %.3f s (%.1f MB/s)\n", text.size(), ids.size(), s,
              text.size() / s / 1e6);
  EXPECT_EQ(tok->decode(ids), text);
}

}  // namespace
}  // namespace mmada
