#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace mmada {

namespace {

// GPT-2's pattern, used by ByteLevel when `use_regex` is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

using Segment = OnigRegex::Segment;
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
      step.regex = std::make_shared<PreTokenizer::Regex>(pattern.at("Regex").get<std::string>(), "Split");
    else if (pattern.contains("String"))
      step.regex = std::make_shared<PreTokenizer::Regex>(escape_regex_literal(pattern.at("String").get<std::string>()), "Split");
    else
      fail("tokenizer.json: Split pattern must be Regex or String");
    step.kind = PreTokenizer::Step::Kind::Split;
    step.behavior = parse_behavior(j.at("behavior").get<std::string>());
    step.invert = j.value("invert", false);
  } else if (type == "ByteLevel") {
    step.kind = PreTokenizer::Step::Kind::ByteLevel;
    step.add_prefix_space = j.value("add_prefix_space", true);
    if (j.value("use_regex", true)) step.regex = std::make_shared<PreTokenizer::Regex>(kGpt2Pattern, "ByteLevel");
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
