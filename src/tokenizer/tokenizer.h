// Text tokenizer that reproduces Hugging Face `tokenizers` for byte-level BPE tokenizer.json
// files (LLaDA/MMaDA's, and CLIP's with its lower-casing normalizer and "</w>" word ends): added tokens -> normalizer -> pre-tokenizer -> BPE -> post-processor, and the
// ByteLevel decoder. Everything (pattern, merges, flags) is read from the file.
//
// Invalid UTF-8 input: Python and Rust strings cannot hold it, so the reference never sees
// it. encode() first replaces every maximal ill-formed byte subsequence by U+FFFD (the rule
// of Python's bytes.decode(errors="replace") and Rust's from_utf8_lossy) and then encodes
// the result, so the ids are those the reference gives for the lossily decoded text.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"

namespace mmada {

// The parts of tokenizer_config.json the engine uses (all optional).
struct TokenizerConfig {
  std::string bos_token, eos_token, pad_token;
  std::string chat_template;
  bool add_bos_token = false;  // informational: PreTrainedTokenizerFast ignores it
  bool add_eos_token = false;
};

class Tokenizer {
 public:
  // `path` is a folder holding tokenizer.json (and optionally tokenizer_config.json) or the
  // tokenizer.json file itself. Throws mmada::Error on missing or unsupported files.
  static Tokenizer load(const std::string& path);

  // Ids of `text`, with the tokens the post-processor adds when add_special_tokens is true
  // (Hugging Face's default). Added-token spellings in the text become their ids.
  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = true) const;

  // Unknown ids are skipped; invalid UTF-8 from partial byte tokens becomes U+FFFD.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const;

  int64_t token_to_id(std::string_view token) const;  // -1 if absent
  std::string id_to_token(int64_t id) const;          // "" if absent
  size_t size() const { return size_; }               // len(tokenizer): distinct ids
  bool is_special(int64_t id) const;

  const TokenizerConfig& config() const { return config_; }
  const AddedVocabulary& added_vocabulary() const { return added_; }
  // Id of a tokenizer_config.json token such as bos_token, or -1.
  int64_t bos_id() const { return config_.bos_token.empty() ? -1 : token_to_id(config_.bos_token); }
  int64_t eos_id() const { return config_.eos_token.empty() ? -1 : token_to_id(config_.eos_token); }

 private:
  void encode_plain(std::string_view text, std::vector<int64_t>& out) const;

  Normalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  BpeModel model_;
  AddedVocabulary added_;
  // TemplateProcessing "single" template: ids before and after the sequence.
  std::vector<int64_t> prefix_ids_, suffix_ids_;
  bool byte_level_decoder_ = false;
  size_t size_ = 0;
  TokenizerConfig config_;
};

}  // namespace mmada
