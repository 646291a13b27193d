// Text -> token ids for training rows, with the special ids the rows need (objectives.h).
// Two encoders:
//   TokenizerEncoder: a Hugging Face tokenizer.json folder: LLaDA/MMaDA's (MMaDA's ids) or one
//                 made by `mmada train-tokenizer` (its own ids, image codes after its vocabulary);
//                 the ids are the engine's SpecialTokens::from_tokenizer, so a checkpoint trained
//                 with it runs in every engine command.
//   ByteEncoder:  a toy byte-level vocabulary for tiny CPU models: ids 0-255 are bytes, then
//                 the chat/diffusion specials below (vocab 272). Special spellings in the text
//                 ("<|start_header_id|>", ...) become their ids, as with the real tokenizer.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "train/objectives.h"

namespace mmada {
class Tokenizer;
}

namespace mmada::train {

class TextEncoder {
 public:
  virtual ~TextEncoder() = default;
  // Ids of `text` WITHOUT a leading BOS (rows add it, training.md §3).
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  virtual int64_t vocab_size() const = 0;  // rows the model's embedding needs at least
  // Token id of image code 0: codes c become image_code_offset() + c (training.md §1.5).
  virtual int64_t image_code_offset() const = 0;
  // Folder of the tokenizer files a checkpoint should carry, "" when there are none.
  virtual std::string tokenizer_dir() const { return ""; }
  const RowTokens& tokens() const { return tokens_; }

 protected:
  RowTokens tokens_;
};

class ByteEncoder : public TextEncoder {
 public:
  static constexpr int64_t kBos = 256, kEos = 257, kStartHeader = 258, kEndHeader = 259,
                           kEotId = 260, kMask = 261, kT2i = 262, kMmu = 263, kSoi = 264,
                           kEoi = 265, kIPad = 266, kVocab = 272;
  ByteEncoder();
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  int64_t vocab_size() const override { return kVocab; }
  // Image codes follow the byte vocabulary: a model for codebook K needs kVocab + K rows.
  int64_t image_code_offset() const override { return kVocab; }
};

class TokenizerEncoder : public TextEncoder {
 public:
  explicit TokenizerEncoder(const std::string& tokenizer_dir);
  ~TokenizerEncoder() override;
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  // len(tokenizer); LLaDA's tokenizer: MMaDA's 134656 rows (image codes and spare rows included).
  int64_t vocab_size() const override;
  int64_t image_code_offset() const override;  // len(tokenizer), MMaDA's rule (126349 for LLaDA's)
  std::string tokenizer_dir() const override { return dir_; }

 private:
  std::unique_ptr<Tokenizer> tok_;
  std::string dir_;
};

// "byte" -> ByteEncoder; anything else is a tokenizer folder for TokenizerEncoder.
std::unique_ptr<TextEncoder> make_text_encoder(const std::string& spec);

// The "tokenizer" of a run config that names none: the init_from model folder when it carries a
// tokenizer.json (a checkpoint trained with one), else "byte".
std::string default_tokenizer_spec(const std::string& init_from);

}  // namespace mmada::train
