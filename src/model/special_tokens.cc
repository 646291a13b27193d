#include "model/special_tokens.h"

#include <initializer_list>
#include <string_view>

#include "core/error.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace mmada {

namespace {

// The tokenizer's id for the first of `names` it has; `fallback` (MMaDA's) otherwise.
int64_t named(const Tokenizer& tok, std::initializer_list<std::string_view> names, int64_t fallback) {
  for (std::string_view n : names)
    if (const int64_t id = tok.token_to_id(n); id >= 0) return id;
  return fallback;
}

}  // namespace

SpecialTokens SpecialTokens::from_tokenizer(const Tokenizer& tok) {
  SpecialTokens t;
  t.bos = tok.bos_id() >= 0 ? tok.bos_id() : named(tok, {"<|startoftext|>"}, t.bos);
  t.eos = tok.eos_id() >= 0 ? tok.eos_id() : named(tok, {"<|endoftext|>"}, t.eos);
  const std::string& pad_name = tok.config().pad_token;
  t.pad = !pad_name.empty() && tok.token_to_id(pad_name) >= 0 ? tok.token_to_id(pad_name) : t.eos;
  t.mask = named(tok, {"<|mdm_mask|>"}, t.mask);
  t.start_header = named(tok, {"<|start_header_id|>"}, t.start_header);
  t.end_header = named(tok, {"<|end_header_id|>"}, t.end_header);
  t.eot_id = named(tok, {"<|eot_id|>"}, t.eot_id);
  t.soi = named(tok, {"<|soi|>"}, t.soi);
  t.eoi = named(tok, {"<|eoi|>"}, t.eoi);
  t.t2i = named(tok, {"<|t2i|>"}, t.t2i);
  t.mmu = named(tok, {"<|mmu|>"}, t.mmu);
  t.r2i = named(tok, {"<|r2i|>"}, t.r2i);
  t.ipad = named(tok, {"<|iPAD|>", "[iPAD]"}, t.ipad);
  t.image_code_offset = int64_t(tok.size());
  t.vocab_rows = t.image_code_offset + t.codebook_size;
  return t;
}

SpecialTokens SpecialTokens::from_model(const ModelConfig& cfg, const Tokenizer& tok) {
  SpecialTokens t = from_tokenizer(tok);
  const int64_t tok_mask = tok.token_to_id("<|mdm_mask|>");
  MMADA_CHECK(tok_mask < 0 || tok_mask == cfg.mask_token_id, "config.json mask_token_id ", cfg.mask_token_id,
              " differs from the tokenizer's <|mdm_mask|> ", tok_mask);
  t.mask = cfg.mask_token_id;
  t.vocab_rows = cfg.vocab;
  const std::pair<const char*, int64_t> ids[] = {
      {"BOS <|startoftext|>", t.bos}, {"EOS <|endoftext|>", t.eos},   {"PAD", t.pad},
      {"<|mdm_mask|>", t.mask},       {"<|start_header_id|>", t.start_header},
      {"<|end_header_id|>", t.end_header}, {"<|eot_id|>", t.eot_id}, {"<|soi|>", t.soi},
      {"<|eoi|>", t.eoi},             {"<|t2i|>", t.t2i},             {"<|mmu|>", t.mmu},
      {"<|r2i|>", t.r2i},             {"<|iPAD|>", t.ipad}};
  for (const auto& [name, id] : ids)
    MMADA_CHECK(id >= 0 && id < t.vocab_rows, "special token ", name, " has id ", id,
                ", outside the model's vocabulary of ", t.vocab_rows,
                " rows (a tokenizer without that token falls back to MMaDA's id)");
  return t;
}

int64_t SpecialTokens::image_id(int64_t code) const {
  MMADA_CHECK(code >= 0 && code < codebook_size, "image code ", code, " is outside [0, ", codebook_size, ")");
  return image_code_offset + code;
}

void SpecialTokens::check_image_codes_fit() const {
  MMADA_CHECK(image_code_offset >= 0 && codebook_size > 0 && image_code_offset + codebook_size <= vocab_rows,
              "the model's vocabulary (", vocab_rows, " rows) has no room for ", codebook_size,
              " image codes at ", image_code_offset);
  // Image slots are told from masks by their token ids: [MASK] must not be one of the codes' ids.
  MMADA_CHECK(mask < image_code_offset || mask >= image_code_offset + codebook_size, "the [MASK] id ", mask,
              " is one of the image codes' token ids [", image_code_offset, ", ", image_code_offset + codebook_size, ")");
}

}  // namespace mmada
