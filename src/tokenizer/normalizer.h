// The `normalizer` section of tokenizer.json: Unicode normal forms (via ICU), Replace (a
// String or Oniguruma Regex pattern) and Lowercase (CLIP's tokenizer), possibly in a Sequence.
// Applied to the text between added tokens, before pre-tokenization.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/onig_regex.h"

namespace mmada {

class Normalizer {
 public:
  enum class Form { NFC, NFD, NFKC, NFKD };

  // Accepts null (identity), NFC/NFD/NFKC/NFKD, Replace, Lowercase and Sequence of those;
  // throws mmada::Error naming the type for anything else.
  static Normalizer from_json(const nlohmann::json& j);

  // `text` must be valid UTF-8.
  std::string apply(std::string_view text) const;
  bool is_identity() const { return steps_.empty(); }

  struct Step {
    enum class Kind { Form, Replace, Lowercase } kind = Kind::Form;
    Form form = Form::NFC;                    // Form
    std::shared_ptr<const OnigRegex> regex;  // Replace: what to find...
    std::string content;                     // ...and what each match becomes
  };

 private:
  std::vector<Step> steps_;
};

}  // namespace mmada
