#include "tokenizer/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/utf8.h"

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

void add_step(const nlohmann::json& j, std::vector<Normalizer::Step>& steps) {
  if (j.is_null()) return;
  using Step = Normalizer::Step;
  const std::string type = j.value("type", "");
  auto form = [&](Normalizer::Form f) { steps.push_back({Step::Kind::Form, f, nullptr, ""}); };
  if (type == "NFC") form(Normalizer::Form::NFC);
  else if (type == "NFD") form(Normalizer::Form::NFD);
  else if (type == "NFKC") form(Normalizer::Form::NFKC);
  else if (type == "NFKD") form(Normalizer::Form::NFKD);
  else if (type == "Lowercase") steps.push_back({Step::Kind::Lowercase, Normalizer::Form::NFC, nullptr, ""});
  else if (type == "Replace") {
    const auto& pattern = j.at("pattern");
    std::string re;
    if (pattern.contains("Regex")) re = pattern.at("Regex").get<std::string>();
    else if (pattern.contains("String")) re = escape_regex_literal(pattern.at("String").get<std::string>());
    else fail("tokenizer.json: Replace pattern must be Regex or String");
    steps.push_back({Step::Kind::Replace, Normalizer::Form::NFC, std::make_shared<OnigRegex>(re, "Replace"),
                     j.at("content").get<std::string>()});
  } else if (type == "Sequence")
    for (const auto& step : j.at("normalizers")) add_step(step, steps);
  else
    fail("tokenizer.json: normalizer type '", type,
         "' is not supported (only NFC/NFD/NFKC/NFKD/Replace/Lowercase/Sequence)");
}

std::string normal_form(Normalizer::Form form, std::string current) {
  const icu::Normalizer2& icu_norm = icu_instance(form);
  UErrorCode status = U_ZERO_ERROR;
  const icu::StringPiece piece(current.data(), int32_t(current.size()));
  // Most text is already normalized; the quick check avoids a copy.
  if (icu_norm.isNormalizedUTF8(piece, status) && U_SUCCESS(status)) return current;
  status = U_ZERO_ERROR;
  std::string out;
  icu::StringByteSink<std::string> sink(&out, int32_t(current.size()));
  icu_norm.normalizeUTF8(0, piece, sink, nullptr, status);
  MMADA_CHECK(U_SUCCESS(status), "tokenizer: normalization failed: ", u_errorName(status));
  return out;
}

// Hugging Face's Lowercase maps each character on its own (Rust char::to_lowercase, the full
// mapping without context), so ICU lower-cases one code point at a time.
std::string lowercase(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += char(c >= 'A' && c <= 'Z' ? c + 32 : c);
      ++i;
      continue;
    }
    const size_t start = i;
    utf8::next_code_point(s, i);
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(s.data() + start, int32_t(i - start)));
    u.toLower(icu::Locale::getRoot());
    u.toUTF8String(out);
  }
  return out;
}

std::string replace_matches(const OnigRegex& re, const std::string& content, const std::string& s) {
  std::string out;
  for (const auto& seg : re.segments(s))
    out += seg.is_match ? content : s.substr(seg.begin, seg.end - seg.begin);
  return out;
}

}  // namespace

Normalizer Normalizer::from_json(const nlohmann::json& j) {
  Normalizer n;
  add_step(j, n.steps_);
  return n;
}

std::string Normalizer::apply(std::string_view text) const {
  std::string current(text);
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Step::Kind::Form: current = normal_form(step.form, std::move(current)); break;
      case Step::Kind::Lowercase: current = lowercase(current); break;
      case Step::Kind::Replace: current = replace_matches(*step.regex, step.content, current); break;
    }
  }
  return current;
}

}  // namespace mmada
