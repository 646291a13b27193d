// The `pre_tokenizer` section of tokenizer.json: Split (regex run by Oniguruma, the engine
// Hugging Face tokenizers uses, so the file's pattern is used verbatim) and ByteLevel
// (GPT-2 byte alphabet, optional prefix space and GPT-2 regex), alone or in a Sequence.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/onig_regex.h"

namespace mmada {

class PreTokenizer {
 public:
  // Throws mmada::Error naming the type for unsupported pre-tokenizers or bad patterns.
  static PreTokenizer from_json(const nlohmann::json& j);

  // Splits valid UTF-8 text into pieces, each already in the BPE model's alphabet.
  // Empty pieces are dropped.
  std::vector<std::string> split(std::string_view text) const;

  // The Split behaviors of Hugging Face tokenizers.
  enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

  using Regex = OnigRegex;

  struct Step {
    enum class Kind { Split, ByteLevel } kind = Kind::Split;
    std::shared_ptr<const Regex> regex;  // Split, or ByteLevel with use_regex
    Behavior behavior = Behavior::Isolated;
    bool invert = false;
    bool add_prefix_space = false;  // ByteLevel only
  };

 private:
  std::vector<Step> steps_;
};

}  // namespace mmada
