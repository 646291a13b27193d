// The `normalizer` section of tokenizer.json: Unicode normal forms (via ICU), possibly in a
// Sequence. Applied to the text between added tokens, before pre-tokenization.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mmada {

class Normalizer {
 public:
  enum class Form { NFC, NFD, NFKC, NFKD };

  // Accepts null (identity), NFC/NFD/NFKC/NFKD and Sequence of those; throws mmada::Error
  // naming the type for anything else.
  static Normalizer from_json(const nlohmann::json& j);

  // `text` must be valid UTF-8.
  std::string apply(std::string_view text) const;
  bool is_identity() const { return forms_.empty(); }

 private:
  std::vector<Form> forms_;
};

}  // namespace mmada
