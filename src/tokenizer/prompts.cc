#include "tokenizer/prompts.h"

#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace mmada {

std::vector<int64_t> image_prefix(const SpecialTokens& tokens, std::span<const int64_t> image_codes) {
  std::vector<int64_t> ids;
  ids.reserve(image_codes.size() + 3);
  ids.push_back(tokens.mmu);
  ids.push_back(tokens.soi);
  for (int64_t code : image_codes) ids.push_back(tokens.image_id(code));
  ids.push_back(tokens.eoi);
  return ids;
}

std::vector<int64_t> text_chat_prompt(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                      size_t max_tokens) {
  std::vector<int64_t> ids = render_chat_ids(tok, messages, ChatTemplateStyle::MMaDA, /*add_special_tokens=*/true);
  if (max_tokens > 0 && ids.size() > max_tokens) ids.resize(max_tokens);
  return ids;
}

std::vector<int64_t> mmu_prompt(const Tokenizer& tok, const SpecialTokens& tokens,
                                std::span<const int64_t> image_codes, std::string_view question,
                                MmuPromptFormat format) {
  std::vector<int64_t> ids;
  if (!image_codes.empty()) ids = image_prefix(tokens, image_codes);
  std::vector<int64_t> text;
  const std::vector<ChatMessage> turn = {{"user", std::string(question)}};
  switch (format) {
    case MmuPromptFormat::AppDemo:
      text = render_chat_ids(tok, turn, ChatTemplateStyle::MMaDA, /*add_special_tokens=*/true);
      break;
    case MmuPromptFormat::InferenceMmu: {
      // Uses the template the tokenizer ships; LLaDA's when the config carries none.
      const ChatTemplateStyle style = tok.config().chat_template.empty() ? ChatTemplateStyle::LLaDA
                                                                         : detect_chat_template_style(tok.config());
      text = render_chat_ids(tok, turn, style, /*add_special_tokens=*/false);
      break;
    }
    case MmuPromptFormat::TrainingFormat:
      // BOS is inserted as an id; the question is not stripped and "<eot_id>" is plain text,
      // exactly as the training data was built.
      ids.push_back(tokens.bos);
      text = tok.encode("<|start_header_id|>user<|end_header_id|>\n" + std::string(question) +
                            "<eot_id><|start_header_id|>assistant<|end_header_id|>\n",
                        /*add_special_tokens=*/true);
      break;
  }
  ids.insert(ids.end(), text.begin(), text.end());
  return ids;
}

}  // namespace mmada
