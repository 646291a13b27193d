// MMaDA prompt builders (spec prompting.md §2, §5.1, §5.2) and MMaDA's own token ids. The
// task tokens re-purpose the tokenizer's reserved ids; they are MMaDA's, not the tokenizer's,
// so typing "<|soi|>" in a prompt never yields them: builders insert the ids directly.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tokenizer/chat_template.h"

namespace mmada {

class Tokenizer;

namespace mmada_tokens {
inline constexpr int64_t kSot = 126080;   // <|startoftext|>, BOS
inline constexpr int64_t kEot = 126081;   // <|endoftext|>, EOS and PAD
inline constexpr int64_t kSoi = 126084;   // start of image
inline constexpr int64_t kEoi = 126085;   // end of image
inline constexpr int64_t kSov = 126086;   // start of video (unused)
inline constexpr int64_t kEov = 126087;   // end of video (unused)
inline constexpr int64_t kT2i = 126088;   // task: text-to-image
inline constexpr int64_t kMmu = 126089;   // task: multimodal understanding
inline constexpr int64_t kT2v = 126090;   // unused
inline constexpr int64_t kV2v = 126091;   // unused
inline constexpr int64_t kLvg = 126092;   // unused
inline constexpr int64_t kIPad = 126093;  // left padding of the T2I text part
inline constexpr int64_t kR2i = 126094;   // task: reasoning-to-image (training only)
inline constexpr int64_t kMask = 126336;  // <|mdm_mask|>, the diffusion mask
inline constexpr int64_t kImageCodeOffset = 126349;  // len(tokenizer): id of MAGVIT code 0
inline constexpr int64_t kCodebookSize = 8192;
inline constexpr int64_t kVocabRows = 134656;  // embedding / LM-head rows
}  // namespace mmada_tokens

// Vocabulary id of MAGVIT-v2 code `code`; throws mmada::Error outside [0, 8192).
int64_t image_code_to_id(int64_t code);

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
std::vector<int64_t> mmu_prompt(const Tokenizer& tok, std::span<const int64_t> image_codes,
                                std::string_view question, MmuPromptFormat format);

}  // namespace mmada
