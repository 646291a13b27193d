#include "train/jsonl_data.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace mmada::train {

using nlohmann::json;

std::string render_chat_turns(const std::vector<std::pair<std::string, std::string>>& turns) {
  std::string s;
  for (const auto& [role, content] : turns)
    s += "<|start_header_id|>" + role + "<|end_header_id|>\n" + content + "<|eot_id|>";
  return s;
}

namespace {
// The text of one line, or an error reason ("" = ok).
std::string parse_line(const std::string& line, const SourceSpec& spec, std::string* text) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception&) {
    return "not valid JSON";
  }
  if (!j.is_object()) return "not a JSON object";
  if (spec.format == DataFormat::Text) {
    if (!j.contains("text") || !j["text"].is_string()) return "no string field \"text\"";
    *text = j["text"].get<std::string>();
    if (text->empty()) return "empty \"text\"";
    return "";
  }
  if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty())
    return "no non-empty array \"messages\"";
  std::vector<std::pair<std::string, std::string>> turns;
  for (const json& m : j["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() ||
        !m.contains("content") || !m["content"].is_string())
      return "a message lacks string \"role\"/\"content\"";
    const std::string role = m["role"].get<std::string>();
    if (role != "system" && role != "user" && role != "assistant")
      return "unknown role \"" + role + "\"";
    turns.emplace_back(role, m["content"].get<std::string>());
  }
  if (turns.back().first != "assistant") return "the last message is not the assistant's";
  if (spec.require_think) {
    const std::string& a = turns.back().second;
    const size_t open = a.find("<think>"), close = a.find("</think>");
    if (open == std::string::npos || close == std::string::npos || close < open)
      return "assistant message has no <think>…</think> part";
  }
  *text = render_chat_turns(turns);
  return "";
}
}  // namespace

JsonlSource JsonlSource::load(const SourceSpec& spec, const TextEncoder& enc, OnMalformed policy,
                              int64_t max_tokens) {
  std::ifstream in(spec.path);
  MMADA_CHECK(in.good(), spec.path, ": cannot open training data");
  JsonlSource s;
  s.spec_ = spec;
  std::string line, text;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines
    const std::string why = parse_line(line, spec, &text);
    if (!why.empty()) {
      MMADA_CHECK(policy == OnMalformed::Skip, spec.path, ":", lineno, ": malformed line: ", why,
                  " (set data.on_malformed to \"skip\" to skip such lines)");
      if (++s.malformed_ <= 5)
        std::fprintf(stderr, "mmada train: %s:%lld: skipping malformed line: %s\n",
                     spec.path.c_str(), (long long)lineno, why.c_str());
      continue;
    }
    std::vector<int64_t> ids = enc.encode(text);
    if (int64_t(ids.size()) + 1 > max_tokens) {
      ++s.too_long_;
      if (spec.format == DataFormat::Chat) continue;  // dropped, as the reference does
    }
    s.examples_.push_back(std::move(ids));
  }
  if (s.malformed_ > 0)
    std::fprintf(stderr, "mmada train: %s: skipped %lld malformed lines of %lld\n",
                 spec.path.c_str(), (long long)s.malformed_, (long long)lineno);
  // Dropped chat examples are data the user gave that will never be trained on: say so.
  if (spec.format == DataFormat::Chat && s.too_long_ > 0 && !s.examples_.empty())
    std::fprintf(stderr, "mmada train: %s: dropped %lld of %lld chat examples longer than a row (%lld tokens)\n",
                 spec.path.c_str(), (long long)s.too_long_, (long long)(s.too_long_ + int64_t(s.examples_.size())),
                 (long long)max_tokens);
  MMADA_CHECK(!s.examples_.empty(), spec.path, ": no usable examples (", s.malformed_,
              " malformed, ", s.too_long_, " too long)");
  return s;
}

MixedTextLoader::MixedTextLoader(std::vector<JsonlSource> sources) : sources_(std::move(sources)) {
  MMADA_CHECK(!sources_.empty(), "no lm data sources");
  double total = 0;
  for (const JsonlSource& s : sources_) {
    MMADA_CHECK(s.spec().weight > 0, s.spec().path, ": weight must be positive");
    total += s.spec().weight;
  }
  double acc = 0;
  for (const JsonlSource& s : sources_) cumulative_.push_back(acc += s.spec().weight / total);
}

std::vector<CleanRow> MixedTextLoader::draw(const CounterRng& rng, int64_t micro_step, int64_t rows,
                                            int64_t L, const RowTokens& tk, size_t* which) const {
  constexpr uint64_t kSourceStream = 0x51, kExampleStream = 0x52;
  const double u = rng.uniform(kSourceStream, uint64_t(micro_step));
  size_t k = 0;
  while (k + 1 < cumulative_.size() && u >= cumulative_[k]) ++k;
  if (which) *which = k;
  const JsonlSource& src = sources_[k];
  std::vector<CleanRow> out;
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t bits = rng.bits(kExampleStream, uint64_t(micro_step) * 65536 + uint64_t(r));
    const std::vector<int64_t>& ex = src.example(size_t(bits % src.size()));
    out.push_back(src.spec().format == DataFormat::Chat ? chat_row(ex, L, tk) : lm_row(ex, L, tk));
  }
  return out;
}

}  // namespace mmada::train
