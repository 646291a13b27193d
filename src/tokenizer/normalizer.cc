#include "tokenizer/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace mmada {

namespace {

const icu::Normalizer2& icu_instance(Normalizer::Form form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (form) {
    case Normalizer::Form::NFC: n = icu::Normalizer2::getNFCInstance(status); break;
    case Normalizer::Form::NFD: n = icu::Normalizer2::getNFDInstance(status); break;
    case Normalizer::Form::NFKC: n = icu::Normalizer2::getNFKCInstance(status); break;
    case Normalizer::Form::NFKD: n = icu::Normalizer2::getNFKDInstance(status); break;
  }
  MMADA_CHECK(U_SUCCESS(status) && n, "tokenizer: ICU normalizer unavailable: ", u_errorName(status));
  return *n;
}

void add_step(const nlohmann::json& j, std::vector<Normalizer::Form>& forms) {
  if (j.is_null()) return;
  const std::string type = j.value("type", "");
  if (type == "NFC") forms.push_back(Normalizer::Form::NFC);
  else if (type == "NFD") forms.push_back(Normalizer::Form::NFD);
  else if (type == "NFKC") forms.push_back(Normalizer::Form::NFKC);
  else if (type == "NFKD") forms.push_back(Normalizer::Form::NFKD);
  else if (type == "Sequence")
    for (const auto& step : j.at("normalizers")) add_step(step, forms);
  else
    fail("tokenizer.json: normalizer type '", type, "' is not supported (only NFC/NFD/NFKC/NFKD/Sequence)");
}

}  // namespace

Normalizer Normalizer::from_json(const nlohmann::json& j) {
  Normalizer n;
  add_step(j, n.forms_);
  return n;
}

std::string Normalizer::apply(std::string_view text) const {
  std::string current(text);
  for (Form form : forms_) {
    const icu::Normalizer2& icu_norm = icu_instance(form);
    UErrorCode status = U_ZERO_ERROR;
    const icu::StringPiece piece(current.data(), int32_t(current.size()));
    // Most text is already normalized; the quick check avoids a copy.
    if (icu_norm.isNormalizedUTF8(piece, status) && U_SUCCESS(status)) continue;
    status = U_ZERO_ERROR;
    std::string out;
    icu::StringByteSink<std::string> sink(&out, int32_t(current.size()));
    icu_norm.normalizeUTF8(0, piece, sink, nullptr, status);
    MMADA_CHECK(U_SUCCESS(status), "tokenizer: normalization failed: ", u_errorName(status));
    current = std::move(out);
  }
  return current;
}

}  // namespace mmada
