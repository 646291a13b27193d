#include "tokenizer/pre_tokenizer.h"

#include <oniguruma.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace mmada {

namespace {

// GPT-2's pattern, used by ByteLevel when `use_regex` is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

void init_oniguruma() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encodings, 1);
  });
}

std::string escape_literal(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view(R"(\^$.|?*+()[]{}-)").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

struct Segment {
  size_t begin, end;
  bool is_match;
};

}  // namespace

struct PreTokenizer::Regex {
  regex_t* re = nullptr;

  explicit Regex(const std::string& pattern) {
    init_oniguruma();
    OnigErrorInfo info;
    const auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
    // The default syntax (Oniguruma's own) is what the Rust `onig` crate uses.
    const int r = onig_new(&re, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                           ONIG_SYNTAX_DEFAULT, &info);
    if (r != ONIG_NORMAL) {
      OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
      onig_error_code_to_str(msg, r, &info);
      fail("tokenizer.json: cannot compile Split regex /", pattern, "/: ", reinterpret_cast<char*>(msg));
    }
  }
  ~Regex() { onig_free(re); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-empty matches, left to right, covering the text together with the gaps between them.
  std::vector<Segment> segments(std::string_view text) const {
    std::vector<Segment> out;
    OnigRegion* region = onig_region_new();
    const auto* start = reinterpret_cast<const OnigUChar*>(text.data());
    const auto* end = start + text.size();
    size_t pos = 0, gap_begin = 0;
    while (pos <= text.size()) {
      const int r = onig_search(re, start, end, start + pos, end, region, ONIG_OPTION_NONE);
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
};

namespace {

using Behavior = PreTokenizer::Behavior;

Behavior parse_behavior(const std::string& s) {
  if (s == "Removed") return Behavior::Removed;
  if (s == "Isolated") return Behavior::Isolated;
  if (s == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::MergedWithNext;
  if (s == "Contiguous") return Behavior::Contiguous;
  fail("tokenizer.json: unknown Split behavior '", s, "'");
}

// Groups matches and gaps into pieces the way Hugging Face's split behaviors do.
std::vector<std::pair<size_t, size_t>> apply_behavior(std::vector<Segment> segs, Behavior behavior) {
  std::vector<std::pair<size_t, size_t>> out;
  switch (behavior) {
    case Behavior::Isolated:
      for (const auto& s : segs) out.emplace_back(s.begin, s.end);
      break;
    case Behavior::Removed:
      for (const auto& s : segs)
        if (!s.is_match) out.emplace_back(s.begin, s.end);
      break;
    case Behavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const auto& s : segs) {
        if (s.is_match && !previous_match && !out.empty())
          out.back().second = s.end;
        else
          out.emplace_back(s.begin, s.end);
        previous_match = s.is_match;
      }
      break;
    }
    case Behavior::MergedWithNext: {
      bool previous_match = false;
      for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty())
          out.back().first = it->begin;
        else
          out.emplace_back(it->begin, it->end);
        previous_match = it->is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
    case Behavior::Contiguous: {
      bool previous_match = false;
      for (const auto& s : segs) {
        if (s.is_match && previous_match && !out.empty())
          out.back().second = s.end;
        else
          out.emplace_back(s.begin, s.end);
        previous_match = s.is_match;
      }
      break;
    }
  }
  return out;
}

void add_step(const nlohmann::json& j, std::vector<PreTokenizer::Step>& steps) {
  if (j.is_null()) return;
  const std::string type = j.value("type", "");
  PreTokenizer::Step step;
  if (type == "Sequence") {
    for (const auto& sub : j.at("pretokenizers")) add_step(sub, steps);
    return;
  } else if (type == "Split") {
    const auto& pattern = j.at("pattern");
    if (pattern.contains("Regex"))
      step.regex = std::make_shared<PreTokenizer::Regex>(pattern.at("Regex").get<std::string>());
    else if (pattern.contains("String"))
      step.regex = std::make_shared<PreTokenizer::Regex>(escape_literal(pattern.at("String").get<std::string>()));
    else
      fail("tokenizer.json: Split pattern must be Regex or String");
    step.kind = PreTokenizer::Step::Kind::Split;
    step.behavior = parse_behavior(j.at("behavior").get<std::string>());
    step.invert = j.value("invert", false);
  } else if (type == "ByteLevel") {
    step.kind = PreTokenizer::Step::Kind::ByteLevel;
    step.add_prefix_space = j.value("add_prefix_space", true);
    if (j.value("use_regex", true)) step.regex = std::make_shared<PreTokenizer::Regex>(kGpt2Pattern);
  } else {
    fail("tokenizer.json: pre_tokenizer type '", type, "' is not supported (only Split, ByteLevel, Sequence)");
  }
  steps.push_back(std::move(step));
}

void split_piece(const PreTokenizer::Regex& re, const std::string& piece, Behavior behavior, bool invert,
                 std::vector<std::string>& out) {
  auto segs = re.segments(piece);
  if (invert)
    for (auto& s : segs) s.is_match = !s.is_match;
  for (const auto& [b, e] : apply_behavior(std::move(segs), behavior))
    if (e > b) out.emplace_back(piece, b, e - b);
}

}  // namespace

PreTokenizer PreTokenizer::from_json(const nlohmann::json& j) {
  PreTokenizer p;
  add_step(j, p.steps_);
  return p;
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string> pieces;
  if (!text.empty()) pieces.emplace_back(text);
  for (const Step& step : steps_) {
    std::vector<std::string> next;
    next.reserve(pieces.size());
    for (std::string& piece : pieces) {
      if (step.kind == Step::Kind::Split) {
        split_piece(*step.regex, piece, step.behavior, step.invert, next);
        continue;
      }
      // ByteLevel: optional prefix space, optional GPT-2 split, then the byte alphabet.
      if (step.add_prefix_space && piece.front() != ' ') piece.insert(piece.begin(), ' ');
      const size_t first = next.size();
      if (step.regex)
        split_piece(*step.regex, piece, Behavior::Isolated, false, next);
      else
        next.push_back(std::move(piece));
      for (size_t k = first; k < next.size(); ++k) next[k] = byte_level::encode(next[k]);
    }
    pieces = std::move(next);
  }
  return pieces;
}

}  // namespace mmada
