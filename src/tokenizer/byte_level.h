// GPT-2 byte-level alphabet: every byte maps to one printable Unicode character so that
// BPE can work on arbitrary bytes. Used by the ByteLevel pre-tokenizer and decoder.
#pragma once
#include <string>
#include <string_view>

namespace mmada::byte_level {

// UTF-8 spelling of the character that stands for byte b.
const std::string& char_for_byte(unsigned char b);

// Maps every byte of `bytes` to its character.
std::string encode(std::string_view bytes);

// Maps the characters of `token` back to bytes and appends them to `out`. Returns false
// (appending nothing) when some character is not in the alphabet.
bool decode_token(std::string_view token, std::string& out);

}  // namespace mmada::byte_level
