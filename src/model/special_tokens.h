// The special ids a model folder uses, in one place: prompt builders, samplers, the server and
// the CLI take them from here instead of MMaDA's constants (docs/tokenizer.md).
//
// Built from the model folder:
//   mask            config.json mask_token_id (the tokenizer's <|mdm_mask|> must agree)
//   named tokens    the tokenizer's token of that name (the names of a tokenizer made by
//                   `mmada train-tokenizer`); MMaDA's id when the tokenizer has none, which is
//                   the case for MMaDA's task tokens in the LLaDA tokenizer (they re-purpose
//                   <|reserved_token_N|>, spec/prompting.md §2)
//   image codes     image_code_offset = len(tokenizer), MMaDA's rule (inference_mmu.py); code c
//                   is id image_code_offset + c
//   vocab_rows      config.json's embedding rows
// With LLaDA's tokenizer and MMaDA's config.json every field equals model/mmada_tokens.h.
#pragma once
#include <cstdint>

#include "model/mmada_tokens.h"

namespace mmada {

class Tokenizer;
struct ModelConfig;

struct SpecialTokens {
  int64_t bos = mmada_tokens::kSot;  // <|startoftext|>
  int64_t eos = mmada_tokens::kEot;  // <|endoftext|>, also PAD
  int64_t pad = mmada_tokens::kEot;
  int64_t mask = mmada_tokens::kMask;
  int64_t start_header = mmada_tokens::kStartHeader, end_header = mmada_tokens::kEndHeader;
  int64_t eot_id = mmada_tokens::kEotId;  // <|eot_id|>, end of turn
  int64_t soi = mmada_tokens::kSoi, eoi = mmada_tokens::kEoi;
  int64_t t2i = mmada_tokens::kT2i, mmu = mmada_tokens::kMmu, r2i = mmada_tokens::kR2i;
  int64_t ipad = mmada_tokens::kIPad;
  int64_t image_code_offset = mmada_tokens::kImageCodeOffset;
  int64_t codebook_size = mmada_tokens::kCodebookSize;  // the commands set it from the VQ
  int64_t vocab_rows = mmada_tokens::kVocabRows;

  // Throws mmada::Error naming the token when an id falls outside the model's vocabulary or
  // the mask ids of config.json and the tokenizer disagree.
  static SpecialTokens from_model(const ModelConfig& config, const Tokenizer& tokenizer);
  // The tokenizer's part alone (the trainer's, before a model exists): mask = <|mdm_mask|> or
  // MMaDA's; vocab_rows = image_code_offset + codebook_size.
  static SpecialTokens from_tokenizer(const Tokenizer& tokenizer);

  // Vocabulary id of image code `code`; throws outside [0, codebook_size).
  int64_t image_id(int64_t code) const;
  // Throws unless codebook_size codes fit in the vocabulary after image_code_offset and stay
  // below the [MASK] id (the T2I sampler's marker of undrawn slots).
  void check_image_codes_fit() const;
};

}  // namespace mmada
