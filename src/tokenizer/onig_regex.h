// A compiled Oniguruma pattern, the regex engine Hugging Face tokenizers uses, so that the
// patterns of tokenizer.json (Split pre-tokenizer, Replace normalizer) are used verbatim.
#pragma once
#include <string>
#include <string_view>
#include <vector>

struct re_pattern_buffer;

namespace mmada {

class OnigRegex {
 public:
  // Throws mmada::Error naming `what` and the pattern when it does not compile.
  OnigRegex(const std::string& pattern, const std::string& what);
  ~OnigRegex();
  OnigRegex(const OnigRegex&) = delete;
  OnigRegex& operator=(const OnigRegex&) = delete;

  struct Segment {
    size_t begin, end;
    bool is_match;
  };
  // Non-empty matches, left to right, covering the text together with the gaps between them.
  std::vector<Segment> segments(std::string_view text) const;

 private:
  re_pattern_buffer* re_ = nullptr;
};

// `pattern` with regex metacharacters escaped (a tokenizer.json {"String": ...} pattern).
std::string escape_regex_literal(std::string_view s);

}  // namespace mmada
