#include "tokenizer/prompts.h"

#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace mmada {

using namespace mmada_tokens;

int64_t image_code_to_id(int64_t code) {
  MMADA_CHECK(code >= 0 && code < kCodebookSize, "image code ", code, " is outside [0, ", kCodebookSize, ")");
  return kImageCodeOffset + code;
}

std::vector<int64_t> text_chat_prompt(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                      size_t max_tokens) {
  std::vector<int64_t> ids = render_chat_ids(tok, messages, ChatTemplateStyle::MMaDA, /*add_special_tokens=*/true);
  if (max_tokens > 0 && ids.size() > max_tokens) ids.resize(max_tokens);
  return ids;
}

std::vector<int64_t> mmu_prompt(const Tokenizer& tok, std::span<const int64_t> image_codes,
                                std::string_view question, MmuPromptFormat format) {
  std::vector<int64_t> ids;
  if (!image_codes.empty()) {
    ids.reserve(image_codes.size() + 64);
    ids.push_back(kMmu);
    ids.push_back(kSoi);
    for (int64_t code : image_codes) ids.push_back(image_code_to_id(code));
    ids.push_back(kEoi);
  }
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
      ids.push_back(kSot);
      text = tok.encode("<|start_header_id|>user<|end_header_id|>\n" + std::string(question) +
                            "<eot_id><|start_header_id|>assistant<|end_header_id|>\n",
                        /*add_special_tokens=*/true);
      break;
  }
  ids.insert(ids.end(), text.begin(), text.end());
  return ids;
}

}  // namespace mmada
