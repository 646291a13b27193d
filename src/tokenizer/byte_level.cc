#include "tokenizer/byte_level.h"

#include <array>
#include <unordered_map>

#include "tokenizer/utf8.h"

namespace mmada::byte_level {

namespace {

struct Alphabet {
  std::array<std::string, 256> char_of_byte;
  std::unordered_map<char32_t, unsigned char> byte_of_char;

  Alphabet() {
    // Printable Latin-1 bytes stand for themselves; the rest take 256, 257, ... in byte order.
    auto printable = [](int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    char32_t next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      const char32_t c = printable(b) ? char32_t(b) : next_extra++;
      utf8::append_code_point(char_of_byte[b], c);
      byte_of_char[c] = static_cast<unsigned char>(b);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

const std::string& char_for_byte(unsigned char b) { return alphabet().char_of_byte[b]; }

std::string encode(std::string_view bytes) {
  const Alphabet& a = alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) out += a.char_of_byte[static_cast<unsigned char>(ch)];
  return out;
}

bool decode_token(std::string_view token, std::string& out) {
  const Alphabet& a = alphabet();
  const size_t start = out.size();
  for (size_t i = 0; i < token.size();) {
    if (utf8::valid_sequence_length(token, i) == 0) {
      out.resize(start);
      return false;
    }
    auto it = a.byte_of_char.find(utf8::next_code_point(token, i));
    if (it == a.byte_of_char.end()) {
      out.resize(start);
      return false;
    }
    out += char(it->second);
  }
  return true;
}

}  // namespace mmada::byte_level
