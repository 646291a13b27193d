#include "tokenizer/chat_template.h"

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace mmada {

namespace {

// The characters Python's str.isspace() accepts (Unicode White_Space plus the
// information separators U+001C..U+001F); Jinja's `trim` filter is str.strip().
bool is_python_space(char32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D:
    case 0x1C: case 0x1D: case 0x1E: case 0x1F: case 0x20:
    case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

}  // namespace

std::string with_thinking_prefix(std::string_view content) {
  std::string out(kThinkingPrefix);
  out += '\n';
  out += content;
  return out;
}

std::string strip_whitespace(std::string_view s) {
  const std::string valid = utf8::to_valid_lossy(s);
  size_t begin = 0, end = valid.size();
  // Leading: advance over whole code points while they are spaces.
  while (begin < end) {
    size_t next = begin;
    if (!is_python_space(utf8::next_code_point(valid, next))) break;
    begin = next;
  }
  // Trailing: walk back code point by code point.
  while (end > begin) {
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(valid[start]) & 0xC0) == 0x80) --start;
    size_t probe = start;
    if (!is_python_space(utf8::next_code_point(valid, probe))) break;
    end = start;
  }
  return valid.substr(begin, end - begin);
}

std::string render_chat(const std::vector<ChatMessage>& messages, ChatTemplateStyle style,
                        std::string_view bos_token) {
  const std::string_view header_end =
      style == ChatTemplateStyle::MMaDA ? "<|end_header_id|>\n" : "<|end_header_id|>\n\n";
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i == 0) out += bos_token;
    out += "<|start_header_id|>";
    out += messages[i].role;
    out += header_end;
    out += strip_whitespace(messages[i].content);
    out += "<|eot_id|>";
  }
  out += "<|start_header_id|>assistant";
  out += header_end;
  return out;
}

std::vector<int64_t> render_chat_ids(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                     ChatTemplateStyle style, bool add_special_tokens) {
  const std::string bos = tok.config().bos_token.empty() ? "<|startoftext|>" : tok.config().bos_token;
  return tok.encode(render_chat(messages, style, bos), add_special_tokens);
}

ChatTemplateStyle detect_chat_template_style(const TokenizerConfig& config) {
  const std::string& t = config.chat_template;
  // The template is Jinja source: the newlines appear as the two characters '\' 'n' or raw.
  if (t.find("<|end_header_id|>\\n\\n") != std::string::npos || t.find("<|end_header_id|>\n\n") != std::string::npos)
    return ChatTemplateStyle::LLaDA;
  if (t.find("<|end_header_id|>\\n") != std::string::npos || t.find("<|end_header_id|>\n") != std::string::npos)
    return ChatTemplateStyle::MMaDA;
  fail("tokenizer_config.json: chat_template is neither the LLaDA nor the MMaDA template");
}

}  // namespace mmada
