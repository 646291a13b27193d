// UTF-8 helpers shared by the tokenizer: lossy validation (as Rust's String::from_utf8_lossy)
// and code point iteration.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace mmada::utf8 {

inline constexpr char32_t kReplacement = 0xFFFD;

// Length of the well-formed UTF-8 sequence at s[i], or 0 if the bytes there are ill-formed.
size_t valid_sequence_length(std::string_view s, size_t i);

// Replaces every maximal ill-formed subsequence by one U+FFFD, the rule Rust's
// from_utf8_lossy and the Unicode standard (§3.9, "U+FFFD substitution of maximal subparts")
// use, so partial multi-byte tokens decode exactly like Hugging Face tokenizers.
std::string to_valid_lossy(std::string_view s);

bool is_valid(std::string_view s);

// Decodes the code point starting at s[i] (s must be valid UTF-8) and advances i.
char32_t next_code_point(std::string_view s, size_t& i);

void append_code_point(std::string& out, char32_t c);

}  // namespace mmada::utf8
