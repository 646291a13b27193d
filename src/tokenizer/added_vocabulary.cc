#include "tokenizer/added_vocabulary.h"

#include <unicode/uchar.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/utf8.h"

namespace mmada {

namespace {

// \w of Unicode regexes (UTS #18): what Hugging Face's single_word check treats as a word.
bool is_word_char(char32_t c) {
  const int8_t type = u_charType(UChar32(c));
  return u_hasBinaryProperty(UChar32(c), UCHAR_ALPHABETIC) || type == U_NON_SPACING_MARK ||
         type == U_ENCLOSING_MARK || type == U_COMBINING_SPACING_MARK || type == U_DECIMAL_DIGIT_NUMBER ||
         type == U_CONNECTOR_PUNCTUATION || u_hasBinaryProperty(UChar32(c), UCHAR_JOIN_CONTROL);
}

bool is_space(char32_t c) { return u_isUWhiteSpace(UChar32(c)); }

// Start of the code point that ends just before `end`.
size_t previous_char_start(std::string_view s, size_t end) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

char32_t char_before(std::string_view s, size_t end) {
  size_t i = previous_char_start(s, end);
  return utf8::next_code_point(s, i);
}

char32_t char_at(std::string_view s, size_t pos) { return utf8::next_code_point(s, pos); }

}  // namespace

void AddedVocabulary::Trie::insert(std::string_view s, int32_t token) {
  if (s.empty()) return;
  int32_t node = 0;
  for (char ch : s) {
    const auto b = static_cast<unsigned char>(ch);
    auto it = nodes[size_t(node)].next.find(b);
    if (it == nodes[size_t(node)].next.end()) {
      nodes.emplace_back();
      const int32_t child = int32_t(nodes.size() - 1);
      nodes[size_t(node)].next.emplace(b, child);
      node = child;
    } else {
      node = it->second;
    }
  }
  // An earlier token with the same spelling wins, like the first pattern of an Aho-Corasick set.
  if (nodes[size_t(node)].token < 0) nodes[size_t(node)].token = token;
  first_byte[static_cast<unsigned char>(s[0])] = true;
}

std::pair<int32_t, size_t> AddedVocabulary::Trie::longest_at(std::string_view text, size_t pos) const {
  std::pair<int32_t, size_t> best{-1, 0};
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto& next = nodes[size_t(node)].next;
    auto it = next.find(static_cast<unsigned char>(text[i]));
    if (it == next.end()) break;
    node = it->second;
    if (nodes[size_t(node)].token >= 0) best = {nodes[size_t(node)].token, i + 1 - pos};
  }
  return best;
}

AddedVocabulary AddedVocabulary::from_json(const nlohmann::json& added_tokens, const Normalizer& normalizer) {
  AddedVocabulary v;
  if (added_tokens.is_null()) return v;
  MMADA_CHECK(added_tokens.is_array(), "tokenizer.json: added_tokens must be an array");
  for (const auto& t : added_tokens) {
    AddedToken a;
    a.id = t.at("id").get<int64_t>();
    a.content = t.at("content").get<std::string>();
    a.special = t.value("special", false);
    a.lstrip = t.value("lstrip", false);
    a.rstrip = t.value("rstrip", false);
    a.normalized = t.value("normalized", !a.special);
    a.single_word = t.value("single_word", false);
    MMADA_CHECK(a.id >= 0, "tokenizer.json: added token '", a.content, "' has a negative id");
    MMADA_CHECK(utf8::is_valid(a.content), "tokenizer.json: added token ", a.id, " is not valid UTF-8");
    const int32_t index = int32_t(v.tokens_.size());
    if (a.normalized)
      v.normalized_trie_.insert(normalizer.apply(a.content), index);
    else
      v.raw_trie_.insert(a.content, index);
    v.index_of_id_[a.id] = size_t(index);
    v.id_of_content_.emplace(a.content, a.id);
    v.tokens_.push_back(std::move(a));
  }
  return v;
}

const AddedToken* AddedVocabulary::find(int64_t id) const {
  auto it = index_of_id_.find(id);
  return it == index_of_id_.end() ? nullptr : &tokens_[it->second];
}

int64_t AddedVocabulary::token_to_id(std::string_view content) const {
  auto it = id_of_content_.find(std::string(content));
  return it == id_of_content_.end() ? -1 : it->second;
}

std::vector<AddedVocabulary::Piece> AddedVocabulary::split(std::string_view text, bool normalized_group) const {
  const Trie& trie = normalized_group ? normalized_trie_ : raw_trie_;
  std::vector<Piece> pieces;
  size_t text_start = 0;  // start of the pending plain-text piece
  size_t pos = 0;
  while (pos < text.size()) {
    if (!trie.first_byte[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const auto [index, length] = trie.longest_at(text, pos);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[size_t(index)];
    size_t start = pos, stop = pos + length;
    if (token.single_word) {
      const bool space_before = start == 0 || !is_word_char(char_before(text, start));
      const bool space_after = stop == text.size() || !is_word_char(char_at(text, stop));
      if (!space_before || !space_after) {
        pos = stop;  // matches never overlap, even a discarded one
        continue;
      }
    }
    if (token.lstrip)  // swallow whitespace on the left, but not into an earlier match
      while (start > text_start && is_space(char_before(text, start))) start = previous_char_start(text, start);
    if (token.rstrip)
      while (stop < text.size() && is_space(char_at(text, stop))) {
        size_t next = stop;
        utf8::next_code_point(text, next);
        stop = next;
      }
    if (start > text_start) pieces.push_back({-1, text_start, start});
    pieces.push_back({token.id, start, stop});
    text_start = pos = stop;
  }
  if (text_start < text.size()) pieces.push_back({-1, text_start, text.size()});
  return pieces;
}

}  // namespace mmada
