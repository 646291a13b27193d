#include "tokenizer/onig_regex.h"

#include <oniguruma.h>

#include <mutex>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace mmada {

namespace {

void init_oniguruma() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encodings, 1);
  });
}

}  // namespace

OnigRegex::OnigRegex(const std::string& pattern, const std::string& what) {
  init_oniguruma();
  OnigErrorInfo info;
  const auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
  // The default syntax (Oniguruma's own) is what the Rust `onig` crate uses.
  const int r = onig_new(&re_, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                         ONIG_SYNTAX_DEFAULT, &info);
  if (r != ONIG_NORMAL) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, r, &info);
    fail("tokenizer.json: cannot compile ", what, " regex /", pattern, "/: ", reinterpret_cast<char*>(msg));
  }
}

OnigRegex::~OnigRegex() { onig_free(re_); }

std::vector<OnigRegex::Segment> OnigRegex::segments(std::string_view text) const {
  std::vector<Segment> out;
  OnigRegion* region = onig_region_new();
  const auto* start = reinterpret_cast<const OnigUChar*>(text.data());
  const auto* end = start + text.size();
  size_t pos = 0, gap_begin = 0;
  while (pos <= text.size()) {
    const int r = onig_search(re_, start, end, start + pos, end, region, ONIG_OPTION_NONE);
    if (r == ONIG_MISMATCH) break;
    if (r < 0) {
      onig_region_free(region, 1);
      fail("tokenizer: regex search failed (code ", r, ")");
    }
    const size_t b = size_t(region->beg[0]), e = size_t(region->end[0]);
    if (e == b) {  // empty match: step over one character
      if (b >= text.size()) break;
      size_t next = b;
      utf8::next_code_point(text, next);
      pos = next;
      continue;
    }
    if (b > gap_begin) out.push_back({gap_begin, b, false});
    out.push_back({b, e, true});
    gap_begin = pos = e;
  }
  onig_region_free(region, 1);
  if (gap_begin < text.size()) out.push_back({gap_begin, text.size(), false});
  return out;
}

std::string escape_regex_literal(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view(R"(\^$.|?*+()[]{}-)").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace mmada
