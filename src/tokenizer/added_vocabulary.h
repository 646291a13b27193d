// Added tokens of tokenizer.json (special or not): they are matched in the text before the
// normalizer and pre-tokenizer run, leftmost-longest, honouring each token's lstrip, rstrip,
// single_word and normalized flags as Hugging Face tokenizers does.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mmada {

class Normalizer;

struct AddedToken {
  int64_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool single_word = false;
};

class AddedVocabulary {
 public:
  // `normalizer` gives the spelling matched for tokens with normalized = true.
  static AddedVocabulary from_json(const nlohmann::json& added_tokens, const Normalizer& normalizer);

  // A piece of text: an added token (id >= 0) or plain text to tokenize (id == -1).
  struct Piece {
    int64_t id;
    size_t begin, end;
  };
  // Splits `text` at the tokens of one group: those with normalized = false (matched in the
  // raw text) or those with normalized = true (matched in normalized text).
  std::vector<Piece> split(std::string_view text, bool normalized_group) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find(int64_t id) const;
  int64_t token_to_id(std::string_view content) const;  // -1 if absent

 private:
  // Byte trie of the spellings of one group.
  struct Trie {
    struct Node {
      std::unordered_map<unsigned char, int32_t> next;
      int32_t token = -1;  // index into tokens_
    };
    std::vector<Node> nodes{1};
    bool first_byte[256] = {};
    void insert(std::string_view s, int32_t token);
    // Longest spelling starting at text[pos]: token index and length, or -1.
    std::pair<int32_t, size_t> longest_at(std::string_view text, size_t pos) const;
  };

  std::vector<AddedToken> tokens_;
  std::unordered_map<int64_t, size_t> index_of_id_;
  std::unordered_map<std::string, int64_t> id_of_content_;
  Trie raw_trie_, normalized_trie_;
};

}  // namespace mmada
