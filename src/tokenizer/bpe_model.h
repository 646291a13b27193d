// The BPE `model` section of tokenizer.json: vocabulary, merges by rank, and the merge loop
// (lowest rank first, leftmost on ties, as Hugging Face tokenizers), with a word cache.
// end_of_word_suffix (CLIP's "</w>") is supported; continuing_subword_prefix is not.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mmada {

class BpeModel {
 public:
  // Throws mmada::Error for non-BPE models (WordPiece, Unigram, WordLevel) and for BPE
  // options this engine does not implement.
  static BpeModel from_json(const nlohmann::json& model);

  // Appends the ids of one pre-tokenized piece (in the model's alphabet).
  void tokenize(const std::string& piece, std::vector<int64_t>& out) const;

  int64_t token_to_id(std::string_view token) const;  // -1 if absent
  const std::string* id_to_token(int64_t id) const;   // nullptr if absent
  const std::unordered_map<std::string, int32_t>& vocab() const { return vocab_; }

 private:
  struct MergeResult {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  std::vector<int32_t> merge_word(const std::string& piece) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> tokens_by_id_;
  std::vector<bool> id_present_;
  std::unordered_map<uint64_t, MergeResult> merges_;
  int32_t unk_id_ = -1;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  std::string end_of_word_suffix_;  // appended to a piece's last character ("</w>" in CLIP)

  // Results for pieces seen before; shared by copies of the model.
  struct Cache {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>> words;
  };
  std::shared_ptr<Cache> cache_ = std::make_shared<Cache>();
};

}  // namespace mmada
