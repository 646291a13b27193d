// The byte-level BPE trainer: merges on a corpus small enough to count by hand, the written
// tokenizer.json read back by the engine's loader (round trip, special ids), corpus files.
#include "tokenizer/bpe_trainer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "model/special_tokens.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace mmada {
namespace {

namespace fs = std::filesystem;
using Merge = std::pair<std::string, std::string>;

const std::string kSpace = "\xC4\xA0";  // "Ġ", the byte-level character of ' '

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("mmada_bpe_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Pieces Ġhug x10, Ġpug x5, Ġpun x12, Ġbun x4, Ġhugs x5. Pair counts: u g 20, Ġ p 17, p u 17,
// u n 16, Ġ h 15, h u 15, ... so "u g" first; then Ġ p 17 (beats p u 12 after the first merge);
// u n 16; then Ġ h and h ug tie at 15 and "h" < "Ġ" in byte order picks h ug; then Ġ hug 15.
TEST(BpeTrainer, MergesOfAHandCountedCorpus) {
  const std::string text = repeat(" hug", 10) + repeat(" pug", 5) + repeat(" pun", 12) + repeat(" bun", 4) +
                           repeat(" hugs", 5);
  BpeTrainOptions o;
  o.vocab_size = 256 + 5;
  const TrainedBpe bpe = train_bpe({text}, o);
  const std::vector<Merge> expected = {
      {"u", "g"}, {kSpace, "p"}, {"u", "n"}, {"h", "ug"}, {kSpace, "hug"}};
  EXPECT_EQ(bpe.merges, expected);
  ASSERT_EQ(bpe.tokens.size(), 261u);
  EXPECT_EQ(bpe.tokens[0], "\xC4\x80");  // byte 0's character: ids 0-255 are the bytes in order
  EXPECT_EQ(bpe.tokens[32], kSpace);
  EXPECT_EQ(bpe.tokens[256], "ug");
  EXPECT_EQ(bpe.tokens[260], kSpace + "hug");
  // Training stops when no pair reaches min_frequency: the five merges above occur 20, 17, 16,
  // 15 and 15 times, the next best pair (Ġp un) 12 times.
  o.vocab_size = 100000;
  o.min_frequency = 13;
  EXPECT_EQ(train_bpe({text}, o).merges.size(), 5u);
}

TEST(BpeTrainer, SpecialSpellingsNeverTakePartInMerges) {
  BpeTrainOptions o;
  o.vocab_size = 400;
  o.special_tokens = {"<|eot_id|>"};
  const TrainedBpe bpe = train_bpe({repeat("ab<|eot_id|>", 50)}, o);
  for (const std::string& t : bpe.tokens) EXPECT_EQ(t.find("eot"), std::string::npos) << t;
  EXPECT_EQ(bpe.merges, (std::vector<Merge>{{"a", "b"}}));  // "ab" is the only piece
  // Two specials, alternating: only "ab" and "cd" are text (equal counts: "a" < "c" first).
  o.special_tokens = {"<|eot_id|>", "<|endoftext|>"};
  const TrainedBpe two = train_bpe({repeat("ab<|eot_id|>cd<|endoftext|><|eot_id|>", 30)}, o);
  EXPECT_EQ(two.merges, (std::vector<Merge>{{"a", "b"}, {"c", "d"}}));
}

TEST(BpeTrainer, WrittenTokenizerRoundTripsAndMapsTheSpecials) {
  const std::vector<std::string> corpus = {
      "Tom has 12 apples. He buys 7 more, then gives 3 away. How many are left?\n"
      "<think>12 + 7 = 19. 19 - 3 = 16.</think> 16",
      "a photo of a sneaker\ndraw the digit 7\nWhat do you wear on your feet? A sneaker.",
      "Ünïcödé, tabs\tand  double  spaces, emoji \xF0\x9F\x98\x80 and CJK \xE4\xB8\xAD\xE6\x96\x87.\r\n"};
  std::vector<std::string> texts;
  for (int i = 0; i < 20; ++i) texts.insert(texts.end(), corpus.begin(), corpus.end());
  BpeTrainOptions o;
  o.vocab_size = 256 + 60 + int64_t(mmada_special_token_names().size());
  o.special_tokens = mmada_special_token_names();
  const TrainedBpe bpe = train_bpe(texts, o);
  ASSERT_EQ(bpe.size(), o.vocab_size);
  const fs::path dir = temp_dir("roundtrip");
  write_tokenizer_folder(bpe, dir.string());
  const Tokenizer tok = Tokenizer::load(dir.string());
  EXPECT_EQ(int64_t(tok.size()), o.vocab_size);

  for (const std::string& s : corpus) {
    const std::vector<int64_t> ids = tok.encode(s, /*add_special_tokens=*/true);
    EXPECT_EQ(tok.decode(ids), s);
    EXPECT_LT(ids.size(), s.size()) << "the merges should shorten the training text: " << s;
  }
  // Text never seen still round-trips through the byte alphabet.
  const std::string unseen = "zebra \xC3\x9F \xF0\x9F\x90\x8D 9999";
  EXPECT_EQ(tok.decode(tok.encode(unseen)), unseen);

  // Special tokens: ids after the BPE vocabulary, in the listed order, found in text, dropped
  // by decode(skip_special).
  const int64_t first = int64_t(bpe.tokens.size());
  for (size_t i = 0; i < bpe.special_tokens.size(); ++i)
    EXPECT_EQ(tok.token_to_id(bpe.special_tokens[i]), first + int64_t(i)) << bpe.special_tokens[i];
  const std::vector<int64_t> chat = tok.encode("<|startoftext|><|start_header_id|>user<|end_header_id|>\nhi<|eot_id|>");
  EXPECT_EQ(chat.front(), tok.token_to_id("<|startoftext|>"));  // no second BOS from a post-processor
  EXPECT_EQ(chat.back(), tok.token_to_id("<|eot_id|>"));
  EXPECT_EQ(tok.decode(chat, /*skip_special=*/true), "user\nhi");
  EXPECT_EQ(tok.bos_id(), tok.token_to_id("<|startoftext|>"));  // tokenizer_config.json
  EXPECT_EQ(tok.eos_id(), tok.token_to_id("<|endoftext|>"));

  // The engine's ids for a model with this tokenizer: its own, image codes after the vocabulary.
  const SpecialTokens t = SpecialTokens::from_tokenizer(tok);
  EXPECT_EQ(t.bos, first + 0);
  EXPECT_EQ(t.eos, first + 1);
  EXPECT_EQ(t.mask, first + 2);
  EXPECT_EQ(t.soi, tok.token_to_id("<|soi|>"));
  EXPECT_EQ(t.t2i, tok.token_to_id("<|t2i|>"));
  EXPECT_EQ(t.mmu, tok.token_to_id("<|mmu|>"));
  EXPECT_EQ(t.ipad, tok.token_to_id("<|iPAD|>"));
  EXPECT_EQ(t.eot_id, tok.token_to_id("<|eot_id|>"));
  EXPECT_EQ(t.image_code_offset, o.vocab_size);
  fs::remove_all(dir);
}

TEST(BpeTrainer, ReadsChatAndTextJsonlAndPlainFiles) {
  const fs::path dir = temp_dir("corpus");
  std::ofstream(dir / "chat.jsonl") << R"({"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]})"
                                    << "\n\n"
                                    << R"({"text": "plain line"})" << "\n";
  std::ofstream(dir / "notes.txt") << "line one\nline two\n";
  EXPECT_EQ(load_tokenizer_corpus((dir / "chat.jsonl").string()), (std::vector<std::string>{"2+2?", "4", "plain line"}));
  EXPECT_EQ(load_tokenizer_corpus((dir / "notes.txt").string()), (std::vector<std::string>{"line one\nline two\n"}));

  std::ofstream(dir / "bad.jsonl") << R"({"text": "ok"})" << "\n" << R"({"prompt": "x"})" << "\n";
  EXPECT_NE(test::error_of([&] { load_tokenizer_corpus((dir / "bad.jsonl").string()); }).find("bad.jsonl:2"),
            std::string::npos);
  std::ofstream(dir / "broken.jsonl") << "{not json\n";
  EXPECT_NE(test::error_of([&] { load_tokenizer_corpus((dir / "broken.jsonl").string()); }).find("not JSON"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { load_tokenizer_corpus((dir / "missing.txt").string()); }).find("cannot open"),
            std::string::npos);
  fs::remove_all(dir);
}

TEST(BpeTrainer, RejectsAVocabularyTooSmallForBytesAndSpecials) {
  BpeTrainOptions o;
  o.special_tokens = mmada_special_token_names();
  o.vocab_size = 256 + int64_t(o.special_tokens.size()) - 1;
  EXPECT_NE(test::error_of([&] { train_bpe({"x"}, o); }).find("below the"), std::string::npos);
  o.vocab_size = 1000;
  o.special_tokens = {"<a>", "<a>"};
  EXPECT_NE(test::error_of([&] { train_bpe({"x"}, o); }).find("listed twice"), std::string::npos);
}

}  // namespace
}  // namespace mmada
