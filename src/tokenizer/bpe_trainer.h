// Byte-level BPE training, LLaDA-style, written as a Hugging Face tokenizer.json that
// Tokenizer::load (and Python `tokenizers`) reads. Same front end as the LLaDA tokenizer: NFC,
// the LLaDA Split regex, the GPT-2 ByteLevel alphabet; no BOS from the post-processor.
//
// Training (docs/tokenizer.md):
//   1. each text is cut at the special-token spellings (they never take part in merges),
//      normalised and pre-tokenised; identical pieces are counted once with their frequency;
//   2. the vocabulary starts as the 256 byte characters, ids 0-255 in byte order;
//   3. repeatedly the adjacent pair with the highest frequency over all pieces is merged
//      (non-overlapping, leftmost first, as the BPE model applies merges). Ties go to the pair
//      whose (left, right) spellings are smallest in byte order, so the result is a function of
//      the input alone. Training stops at the vocabulary size or when no pair occurs
//      min_frequency times;
//   4. the special tokens follow as added tokens, in the order given.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mmada {

struct BpeTrainOptions {
  // len(tokenizer): 256 byte tokens + merges + special tokens.
  int64_t vocab_size = 4096;
  int64_t min_frequency = 2;
  std::vector<std::string> special_tokens;  // added tokens, ids after the BPE vocabulary
};

struct TrainedBpe {
  std::vector<std::string> tokens;  // BPE vocabulary by id, in the byte-level alphabet
  std::vector<std::pair<std::string, std::string>> merges;  // by rank
  std::vector<std::string> special_tokens;                  // ids tokens.size() + i
  int64_t size() const { return int64_t(tokens.size() + special_tokens.size()); }
};

// Throws mmada::Error if vocab_size cannot hold the byte alphabet and the special tokens.
TrainedBpe train_bpe(const std::vector<std::string>& texts, const BpeTrainOptions& options);

// Writes dir/tokenizer.json and dir/tokenizer_config.json (bos/eos/pad from the special
// tokens <|startoftext|> and <|endoftext|> when present). Creates dir.
void write_tokenizer_folder(const TrainedBpe& bpe, const std::string& dir);

// Training text of one file: for *.jsonl, each line's "text" string or the "content" of every
// message in "messages" (a chat line); any other file is one plain text. Throws mmada::Error
// naming the file and line for JSONL lines that are not JSON or carry neither field.
std::vector<std::string> load_tokenizer_corpus(const std::string& path);

// The special tokens MMaDA's prompt builders and chat template use, in the order a trained
// tokenizer lists them (model/special_tokens.h looks them up by these names).
const std::vector<std::string>& mmada_special_token_names();

}  // namespace mmada
