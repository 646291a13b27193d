#include "tokenizer/bpe_model.h"

#include <queue>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace mmada {

namespace {

constexpr size_t kCacheCapacity = 200000;
constexpr size_t kMaxCachedPieceBytes = 256;

bool is_set(const nlohmann::json& j, const char* key) {
  return j.contains(key) && !j.at(key).is_null() && !(j.at(key).is_string() && j.at(key).get<std::string>().empty());
}

}  // namespace

BpeModel BpeModel::from_json(const nlohmann::json& model) {
  const std::string type = model.value("type", "");
  MMADA_CHECK(type == "BPE", "tokenizer.json: model type '", type,
              "' is not supported (this engine implements byte-level BPE only)");
  MMADA_CHECK(!is_set(model, "continuing_subword_prefix"),
              "tokenizer.json: BPE continuing_subword_prefix is not supported");
  MMADA_CHECK(!model.value("byte_fallback", false), "tokenizer.json: BPE byte_fallback is not supported");
  MMADA_CHECK(!model.contains("dropout") || model.at("dropout").is_null() || model.at("dropout").get<double>() == 0.0,
              "tokenizer.json: BPE dropout is not supported");

  BpeModel m;
  const auto& vocab = model.at("vocab");
  MMADA_CHECK(vocab.is_object(), "tokenizer.json: model.vocab must be an object");
  m.vocab_.reserve(vocab.size());
  int64_t max_id = -1;
  for (const auto& [token, id_json] : vocab.items()) {
    const int64_t id = id_json.get<int64_t>();
    MMADA_CHECK(id >= 0 && id < INT32_MAX, "tokenizer.json: bad id ", id, " for token '", token, "'");
    m.vocab_.emplace(token, int32_t(id));
    max_id = std::max(max_id, id);
  }
  m.tokens_by_id_.resize(size_t(max_id + 1));
  m.id_present_.assign(size_t(max_id + 1), false);
  for (const auto& [token, id] : m.vocab_) {
    m.tokens_by_id_[size_t(id)] = token;
    m.id_present_[size_t(id)] = true;
  }

  const auto& merges = model.at("merges");
  m.merges_.reserve(merges.size());
  int32_t rank = 0;
  for (const auto& merge : merges) {
    std::string left, right;
    if (merge.is_string()) {
      const std::string s = merge.get<std::string>();
      const size_t space = s.find(' ');
      MMADA_CHECK(space != std::string::npos && s.find(' ', space + 1) == std::string::npos,
                  "tokenizer.json: merge #", rank, " '", s, "' is not two tokens separated by one space");
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else {
      MMADA_CHECK(merge.is_array() && merge.size() == 2, "tokenizer.json: merge #", rank, " is malformed");
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    }
    const int64_t a = m.token_to_id(left), b = m.token_to_id(right), ab = m.token_to_id(left + right);
    MMADA_CHECK(a >= 0 && b >= 0 && ab >= 0, "tokenizer.json: merge #", rank, " '", left, " ", right,
                "' uses a token missing from the vocabulary");
    // A repeated pair keeps its first (best) rank.
    m.merges_.emplace(pair_key(int32_t(a), int32_t(b)), MergeResult{rank, int32_t(ab)});
    ++rank;
  }

  if (is_set(model, "unk_token")) {
    const int64_t unk = m.token_to_id(model.at("unk_token").get<std::string>());
    MMADA_CHECK(unk >= 0, "tokenizer.json: unk_token is not in the vocabulary");
    m.unk_id_ = int32_t(unk);
  }
  m.fuse_unk_ = model.value("fuse_unk", false);
  if (is_set(model, "end_of_word_suffix")) m.end_of_word_suffix_ = model.at("end_of_word_suffix").get<std::string>();
  m.ignore_merges_ = model.value("ignore_merges", false);
  return m;
}

int64_t BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  return it == vocab_.end() ? -1 : it->second;
}

const std::string* BpeModel::id_to_token(int64_t id) const {
  if (id < 0 || size_t(id) >= tokens_by_id_.size() || !id_present_[size_t(id)]) return nullptr;
  return &tokens_by_id_[size_t(id)];
}

std::vector<int32_t> BpeModel::merge_word(const std::string& piece) const {
  if (ignore_merges_) {
    auto it = vocab_.find(piece);
    if (it != vocab_.end()) return {it->second};
  }
  // Symbols form a doubly linked list over the characters; merged-away symbols get len 0.
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    const size_t start = i;
    utf8::next_code_point(piece, i);
    // CLIP-style BPE marks the last character of a word ("t</w>"), as Hugging Face does
    // before looking the character up.
    auto it = vocab_.find(i >= piece.size() ? piece.substr(start) + end_of_word_suffix_
                                            : piece.substr(start, i - start));
    int32_t id;
    if (it != vocab_.end()) {
      id = it->second;
    } else if (unk_id_ >= 0) {
      if (fuse_unk_ && !symbols.empty() && symbols.back().id == unk_id_) continue;
      id = unk_id_;
    } else {
      continue;  // no unk token: the character is dropped, as Hugging Face does
    }
    const int32_t n = int32_t(symbols.size());
    symbols.push_back({id, n - 1, n + 1, true});
  }
  if (!symbols.empty()) symbols.back().next = -1;

  struct Candidate {
    int32_t rank, pos, new_id;
    bool operator<(const Candidate& o) const {  // max-heap: invert for lowest rank, then leftmost
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate> queue;
  auto push_pair = [&](int32_t pos) {
    const int32_t next = symbols[size_t(pos)].next;
    if (next < 0) return;
    auto it = merges_.find(pair_key(symbols[size_t(pos)].id, symbols[size_t(next)].id));
    if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.new_id});
  };
  for (int32_t i = 0; i + 1 < int32_t(symbols.size()); ++i) push_pair(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[size_t(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[size_t(left.next)];
    // Stale entry: one side changed since the pair was queued.
    auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[size_t(right.next)].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }

  std::vector<int32_t> ids;
  for (const Symbol& s : symbols)
    if (s.alive) ids.push_back(s.id);
  return ids;
}

void BpeModel::tokenize(const std::string& piece, std::vector<int64_t>& out) const {
  const bool cacheable = piece.size() <= kMaxCachedPieceBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto it = cache_->words.find(piece);
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = merge_word(piece);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cache_->words.size() >= kCacheCapacity) cache_->words.clear();
    cache_->words.emplace(piece, std::move(ids));
  }
}

}  // namespace mmada
