// MMaDA prompt builders (spec prompting.md §2, §5.1, §5.2). The task and image ids come from
// the model's SpecialTokens (model/special_tokens.h). With MMaDA's tokenizer they re-purpose
// reserved ids, so typing "<|soi|>" in a prompt never yields them: builders insert the ids.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "model/special_tokens.h"
#include "tokenizer/chat_template.h"

namespace mmada {

class Tokenizer;

// [<|mmu|>, <|soi|>, IMG(c_0) ... IMG(c_n-1), <|eoi|>]; throws mmada::Error for a code outside
// [0, tokens.codebook_size).
std::vector<int64_t> image_prefix(const SpecialTokens& tokens, std::span<const int64_t> image_codes);

// §5.1 text chat prompt P as generate.py / app.py build it: the MMaDA one-newline template,
// tokenized with default special-token handling. max_tokens > 0 keeps only the first
// max_tokens ids (app.py passes 2048).
std::vector<int64_t> text_chat_prompt(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                      size_t max_tokens = 0);

// The three reference ways of building a multimodal-understanding prompt (§5.2).
enum class MmuPromptFormat {
  AppDemo,         // A: app.py — MMaDA template, tokenizer(prompt)
  InferenceMmu,    // B: inference_mmu.py — the tokenizer's own template, apply_chat_template
  TrainingFormat,  // C: old inference_mmu.py / VLMEvalKit — training text with literal "<eot_id>"
};

// [<|mmu|>, <|soi|>, IMG(c_0) ... IMG(c_n-1), <|eoi|>] followed by the question part of
// `format`. No image codes: the image prefix is left out (app.py without an upload).
// For thinking mode pass with_thinking_prefix(question) (app.py does so for A).
std::vector<int64_t> mmu_prompt(const Tokenizer& tok, const SpecialTokens& tokens,
                                std::span<const int64_t> image_codes, std::string_view question,
                                MmuPromptFormat format);

}  // namespace mmada
