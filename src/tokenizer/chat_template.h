// The two chat templates of MMaDA prompting (spec prompting.md §4), rendered without a Jinja
// engine:
//   MMaDA (generate.py / app.py): one "\n" after every <|end_header_id|>;
//   LLaDA (tokenizer_config.json's own template): two "\n".
// BOS before the first message, content stripped of surrounding whitespace (Jinja `trim`),
// and the assistant generation header always appended.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mmada {

class Tokenizer;
struct TokenizerConfig;

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

enum class ChatTemplateStyle { MMaDA, LLaDA };

// The "thinking mode" instruction app.py prepends to user content (§4.4), without the "\n"
// that joins it to the prompt.
inline constexpr std::string_view kThinkingPrefix =
    "You should first think about the reasoning process in the mind and then provide the user with the "
    "answer. The reasoning process is enclosed within <think> </think> tags, i.e. <think> reasoning "
    "process here </think> answer here";

// kThinkingPrefix + "\n" + content, as app.py builds thinking-mode user turns.
std::string with_thinking_prefix(std::string_view content);

// Python str.strip(): removes leading and trailing characters for which str.isspace() holds.
std::string strip_whitespace(std::string_view s);

std::string render_chat(const std::vector<ChatMessage>& messages, ChatTemplateStyle style,
                        std::string_view bos_token = "<|startoftext|>");

// Rendering tokenized the way the reference does: added-token spellings (BOS, headers,
// <|eot_id|>) become their ids. add_special_tokens = true is `tokenizer(prompt)` (generate.py,
// app.py); false is apply_chat_template(tokenize=True) (inference_mmu.py).
std::vector<int64_t> render_chat_ids(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                     ChatTemplateStyle style, bool add_special_tokens = true);

// Which of the two styles a tokenizer_config.json chat_template string is; throws
// mmada::Error if it is neither.
ChatTemplateStyle detect_chat_template_style(const TokenizerConfig& config);

}  // namespace mmada
