// Text -> token ids for training rows, with the special ids the rows need (objectives.h).
// Two encoders:
//   LladaEncoder: the real LLaDA/MMaDA tokenizer (tokenizer.json), MMaDA's ids.
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

class LladaEncoder : public TextEncoder {
 public:
  explicit LladaEncoder(const std::string& tokenizer_dir);
  ~LladaEncoder() override;
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  int64_t vocab_size() const override;
  int64_t image_code_offset() const override;  // 126349 = len(tokenizer), MMaDA's layout

 private:
  std::unique_ptr<Tokenizer> tok_;
};

// "byte" -> ByteEncoder; anything else is a tokenizer folder for LladaEncoder.
std::unique_ptr<TextEncoder> make_text_encoder(const std::string& spec);

}  // namespace mmada::train
