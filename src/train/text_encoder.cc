#include "train/text_encoder.h"

#include <filesystem>
#include <string_view>

#include "model/special_tokens.h"
#include "tokenizer/tokenizer.h"

namespace mmada::train {

namespace {
struct Special {
  std::string_view text;
  int64_t id;
};
const Special kSpecials[] = {
    {"<|startoftext|>", ByteEncoder::kBos},        {"<|endoftext|>", ByteEncoder::kEos},
    {"<|start_header_id|>", ByteEncoder::kStartHeader}, {"<|end_header_id|>", ByteEncoder::kEndHeader},
    {"<|eot_id|>", ByteEncoder::kEotId},           {"<|mdm_mask|>", ByteEncoder::kMask},
};
}  // namespace

ByteEncoder::ByteEncoder() {
  tokens_.bos = kBos;
  tokens_.eos = kEos;
  tokens_.mask = kMask;
  tokens_.end_header = kEndHeader;
  tokens_.t2i = kT2i;
  tokens_.mmu = kMmu;
  tokens_.soi = kSoi;
  tokens_.eoi = kEoi;
  tokens_.ipad = kIPad;
}

std::vector<int64_t> ByteEncoder::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  std::string_view s(text);
  while (!s.empty()) {
    bool special = false;
    if (s[0] == '<')
      for (const Special& sp : kSpecials)
        if (s.substr(0, sp.text.size()) == sp.text) {
          ids.push_back(sp.id);
          s.remove_prefix(sp.text.size());
          special = true;
          break;
        }
    if (!special) {
      ids.push_back(int64_t(static_cast<unsigned char>(s[0])));
      s.remove_prefix(1);
    }
  }
  return ids;
}

std::string ByteEncoder::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    if (id >= 0 && id < 256) {
      out.push_back(char(id));
      continue;
    }
    for (const Special& sp : kSpecials)
      if (sp.id == id) out += sp.text;
  }
  return out;
}

TokenizerEncoder::TokenizerEncoder(const std::string& dir)
    : tok_(std::make_unique<Tokenizer>(Tokenizer::load(dir))), dir_(dir) {
  const SpecialTokens t = SpecialTokens::from_tokenizer(*tok_);
  tokens_.bos = t.bos;
  tokens_.eos = t.eos;
  tokens_.mask = t.mask;
  tokens_.end_header = t.end_header;
  tokens_.t2i = t.t2i;
  tokens_.mmu = t.mmu;
  tokens_.soi = t.soi;
  tokens_.eoi = t.eoi;
  tokens_.ipad = t.ipad;
}
TokenizerEncoder::~TokenizerEncoder() = default;

std::vector<int64_t> TokenizerEncoder::encode(const std::string& text) const {
  return tok_->encode(text, /*add_special_tokens=*/false);
}
std::string TokenizerEncoder::decode(const std::vector<int64_t>& ids) const { return tok_->decode(ids); }
int64_t TokenizerEncoder::vocab_size() const {
  const int64_t n = int64_t(tok_->size());
  return n == mmada_tokens::kImageCodeOffset ? mmada_tokens::kVocabRows : n;
}
int64_t TokenizerEncoder::image_code_offset() const { return int64_t(tok_->size()); }

std::unique_ptr<TextEncoder> make_text_encoder(const std::string& spec) {
  if (spec == "byte") return std::make_unique<ByteEncoder>();
  return std::make_unique<TokenizerEncoder>(spec);
}

std::string default_tokenizer_spec(const std::string& init_from) {
  return !init_from.empty() && std::filesystem::exists(std::filesystem::path(init_from) / "tokenizer.json") ? init_from
                                                                                                              : "byte";
}

}  // namespace mmada::train
