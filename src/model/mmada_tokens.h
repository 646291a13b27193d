// MMaDA's own token ids (spec/prompting.md §1-2). The task tokens re-purpose the LLaDA
// tokenizer's reserved ids; they belong to MMaDA, not to the tokenizer, so prompt builders and
// samplers insert them directly. These are the defaults of SpecialTokens
// (model/special_tokens.h), which is what the engine reads: a model folder may say otherwise.
#pragma once
#include <cstdint>

namespace mmada {

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
inline constexpr int64_t kStartHeader = 126346;  // <|start_header_id|>
inline constexpr int64_t kEndHeader = 126347;    // <|end_header_id|>
inline constexpr int64_t kEotId = 126348;        // <|eot_id|>, end of turn
inline constexpr int64_t kImageCodeOffset = 126349;  // len(tokenizer): id of MAGVIT code 0
inline constexpr int64_t kCodebookSize = 8192;
inline constexpr int64_t kVocabRows = 134656;  // embedding / LM-head rows
}  // namespace mmada_tokens

}  // namespace mmada
