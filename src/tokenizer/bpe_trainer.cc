#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace mmada {

namespace {

using ordered_json = nlohmann::ordered_json;

// LLaDA's tokenizer.json front end (assets/llada-tokenizer), written into every trained file
// and used to pre-tokenise the training text, so training and encoding split alike.
ordered_json llada_normalizer() { return {{"type", "NFC"}}; }
ordered_json llada_pre_tokenizer() {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"},
             {"pattern",
              {{"Regex",
                R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)"}}},
             {"behavior", "Isolated"},
             {"invert", false}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
}
ordered_json byte_level_section(bool add_prefix_space, bool trim_offsets) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space}, {"trim_offsets", trim_offsets},
          {"use_regex", true}};
}

// Counts distinct pre-tokenized pieces of all texts, the special spellings cut out first.
std::map<std::string, int64_t> count_pieces(const std::vector<std::string>& texts,
                                            const std::vector<std::string>& specials) {
  const Normalizer norm = Normalizer::from_json(nlohmann::json::parse(llada_normalizer().dump()));
  const PreTokenizer pre = PreTokenizer::from_json(nlohmann::json::parse(llada_pre_tokenizer().dump()));
  std::map<std::string, int64_t> counts;
  auto add_segment = [&](std::string_view seg) {
    if (seg.empty()) return;
    for (std::string& p : pre.split(norm.apply(seg))) ++counts[std::move(p)];
  };
  for (const std::string& raw : texts) {
    const std::string text = utf8::to_valid_lossy(raw);
    // Next occurrence of each special at or after pos, searched again only once passed, so a
    // long text with many specials stays linear.
    std::vector<size_t> next;
    for (const std::string& sp : specials) next.push_back(text.find(sp));
    size_t pos = 0;
    while (pos < text.size()) {
      // Earliest special spelling from pos (longest on a tie).
      size_t hit = std::string::npos, len = 0;
      for (size_t k = 0; k < specials.size(); ++k) {
        if (next[k] != std::string::npos && next[k] < pos) next[k] = text.find(specials[k], pos);
        const size_t at = next[k];
        if (at != std::string::npos && (at < hit || (at == hit && specials[k].size() > len)))
          hit = at, len = specials[k].size();
      }
      if (hit == std::string::npos) {
        add_segment(std::string_view(text).substr(pos));
        break;
      }
      add_segment(std::string_view(text).substr(pos, hit - pos));
      pos = hit + len;
    }
  }
  return counts;
}

// Splits a piece in the byte-level alphabet into its characters (each is one UTF-8 sequence).
std::vector<std::string> characters(const std::string& piece) {
  std::vector<std::string> out;
  for (size_t i = 0; i < piece.size();) {
    const size_t start = i;
    utf8::next_code_point(piece, i);
    out.push_back(piece.substr(start, i - start));
  }
  return out;
}

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

class MergeLearner {
 public:
  MergeLearner(const std::map<std::string, int64_t>& pieces, TrainedBpe& out) : out_(out) {
    for (int b = 0; b < 256; ++b) add_token(byte_level::char_for_byte(static_cast<unsigned char>(b)));
    for (const auto& [piece, count] : pieces) {
      Word w;
      w.count = count;
      for (const std::string& c : characters(piece)) {
        const auto it = id_of_.find(c);
        MMADA_CHECK(it != id_of_.end(), "bpe trainer: piece character outside the byte alphabet");
        w.symbols.push_back(it->second);
      }
      words_.push_back(std::move(w));
    }
    std::unordered_map<uint64_t, int64_t> delta;
    for (size_t w = 0; w < words_.size(); ++w) add_pairs(int32_t(w), +1, delta);
    apply(delta);
  }

  // Learns one merge; false when no pair reaches min_frequency.
  bool step(int64_t min_frequency) {
    if (queue_.empty() || queue_.begin()->count < min_frequency) return false;
    const Entry best = *queue_.begin();
    const std::string merged = out_.tokens[size_t(best.a)] + out_.tokens[size_t(best.b)];
    out_.merges.emplace_back(out_.tokens[size_t(best.a)], out_.tokens[size_t(best.b)]);
    // Two different pairs can spell the same token ("a"+"bc", "ab"+"c"): one id for both.
    const auto found = id_of_.find(merged);
    const int32_t c = found != id_of_.end() ? found->second : add_token(merged);
    std::unordered_map<uint64_t, int64_t> delta;
    const std::set<int32_t> holders = std::move(where_[pair_key(best.a, best.b)]);
    where_.erase(pair_key(best.a, best.b));
    for (int32_t w : holders) {
      add_pairs(w, -1, delta);
      std::vector<int32_t>& s = words_[size_t(w)].symbols;
      std::vector<int32_t> next;
      next.reserve(s.size());
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == best.a && s[i + 1] == best.b) {
          next.push_back(c);
          ++i;
        } else {
          next.push_back(s[i]);
        }
      }
      s = std::move(next);
      add_pairs(w, +1, delta);
    }
    apply(delta);
    return true;
  }

 private:
  struct Word {
    std::vector<int32_t> symbols;
    int64_t count = 0;
  };
  struct Entry {
    int64_t count;
    int32_t a, b;
  };
  // Highest count first, then the smallest (left, right) spelling: deterministic ties.
  struct Order {
    const std::vector<std::string>* tokens;
    bool operator()(const Entry& x, const Entry& y) const {
      if (x.count != y.count) return x.count > y.count;
      const std::string &xa = (*tokens)[size_t(x.a)], &ya = (*tokens)[size_t(y.a)];
      if (xa != ya) return xa < ya;
      return (*tokens)[size_t(x.b)] < (*tokens)[size_t(y.b)];
    }
  };

  int32_t add_token(const std::string& t) {
    const int32_t id = int32_t(out_.tokens.size());
    out_.tokens.push_back(t);
    id_of_.emplace(t, id);
    return id;
  }

  void add_pairs(int32_t w, int sign, std::unordered_map<uint64_t, int64_t>& delta) {
    const Word& word = words_[size_t(w)];
    for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
      const uint64_t k = pair_key(word.symbols[i], word.symbols[i + 1]);
      delta[k] += sign * word.count;
      if (sign > 0) where_[k].insert(w);  // may go stale; merging re-checks the symbols
    }
  }

  void apply(const std::unordered_map<uint64_t, int64_t>& delta) {
    for (const auto& [k, d] : delta) {
      if (d == 0) continue;
      const int32_t a = int32_t(k >> 32), b = int32_t(k & 0xffffffffu);
      int64_t& count = counts_[k];
      if (count > 0) queue_.erase(Entry{count, a, b});
      count += d;
      if (count > 0)
        queue_.insert(Entry{count, a, b});
      else
        counts_.erase(k);
    }
  }

  TrainedBpe& out_;
  std::unordered_map<std::string, int32_t> id_of_;
  std::vector<Word> words_;
  std::unordered_map<uint64_t, int64_t> counts_;
  std::unordered_map<uint64_t, std::set<int32_t>> where_;
  std::set<Entry, Order> queue_{Order{&out_.tokens}};
};

ordered_json added_token_json(int64_t id, const std::string& content) {
  return {{"id", id},         {"content", content}, {"single_word", false}, {"lstrip", false},
          {"rstrip", false},  {"normalized", false}, {"special", true}};
}

void write_json(const std::filesystem::path& file, const ordered_json& j) {
  std::ofstream out(file, std::ios::binary);
  MMADA_CHECK(out.good(), "cannot write ", file.string());
  out << j.dump(2, ' ', false, ordered_json::error_handler_t::strict) << "\n";
  MMADA_CHECK(out.good(), "error writing ", file.string());
}

}  // namespace

const std::vector<std::string>& mmada_special_token_names() {
  static const std::vector<std::string> names = {
      "<|startoftext|>", "<|endoftext|>", "<|mdm_mask|>", "<|start_header_id|>", "<|end_header_id|>",
      "<|eot_id|>",      "<|soi|>",       "<|eoi|>",      "<|sov|>",             "<|eov|>",
      "<|t2i|>",         "<|mmu|>",       "<|t2v|>",      "<|v2v|>",             "<|lvg|>",
      "<|iPAD|>",        "<|r2i|>"};
  return names;
}

TrainedBpe train_bpe(const std::vector<std::string>& texts, const BpeTrainOptions& o) {
  const std::set<std::string> distinct(o.special_tokens.begin(), o.special_tokens.end());
  MMADA_CHECK(distinct.size() == o.special_tokens.size(), "bpe trainer: a special token is listed twice");
  for (const std::string& s : o.special_tokens) MMADA_CHECK(!s.empty(), "bpe trainer: empty special token");
  const int64_t floor = 256 + int64_t(o.special_tokens.size());
  MMADA_CHECK(o.vocab_size >= floor, "vocab size ", o.vocab_size, " is below the ", floor,
              " tokens of the byte alphabet and the special tokens");
  MMADA_CHECK(o.min_frequency >= 1, "min frequency must be >= 1, got ", o.min_frequency);
  TrainedBpe out;
  out.special_tokens = o.special_tokens;
  MergeLearner learner(count_pieces(texts, o.special_tokens), out);
  while (out.size() < o.vocab_size && learner.step(o.min_frequency)) {
  }
  return out;
}

void write_tokenizer_folder(const TrainedBpe& bpe, const std::string& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  ordered_json vocab = ordered_json::object();
  for (size_t i = 0; i < bpe.tokens.size(); ++i) vocab[bpe.tokens[i]] = int64_t(i);
  ordered_json merges = ordered_json::array();
  for (const auto& [a, b] : bpe.merges) merges.push_back(a + " " + b);  // byte-level text has no spaces
  ordered_json added = ordered_json::array();
  for (size_t i = 0; i < bpe.special_tokens.size(); ++i)
    added.push_back(added_token_json(int64_t(bpe.tokens.size() + i), bpe.special_tokens[i]));

  ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = llada_normalizer();
  j["pre_tokenizer"] = llada_pre_tokenizer();
  j["post_processor"] = byte_level_section(true, false);  // as LLaDA's: adds no BOS
  j["decoder"] = byte_level_section(true, true);
  j["model"] = {{"type", "BPE"},       {"dropout", nullptr},       {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},         {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},   {"byte_fallback", false},   {"ignore_merges", false},
                {"vocab", vocab},      {"merges", merges}};
  write_json(fs::path(dir) / "tokenizer.json", j);

  auto has = [&](const std::string& s) {
    return std::find(bpe.special_tokens.begin(), bpe.special_tokens.end(), s) != bpe.special_tokens.end();
  };
  ordered_json cfg;
  cfg["tokenizer_class"] = "PreTrainedTokenizerFast";
  if (has("<|startoftext|>")) cfg["bos_token"] = "<|startoftext|>";
  if (has("<|endoftext|>")) cfg["eos_token"] = cfg["pad_token"] = "<|endoftext|>";
  cfg["add_bos_token"] = false;
  cfg["add_eos_token"] = false;
  cfg["clean_up_tokenization_spaces"] = false;
  cfg["model_max_length"] = 4096;
  write_json(fs::path(dir) / "tokenizer_config.json", cfg);
}

std::vector<std::string> load_tokenizer_corpus(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MMADA_CHECK(in.good(), path, ": cannot open");
  std::vector<std::string> texts;
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext != ".jsonl") {
    std::stringstream buf;
    buf << in.rdbuf();
    texts.push_back(buf.str());
    return texts;
  }
  std::string line;
  for (int64_t no = 1; std::getline(in, line); ++no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail(path, ":", no, ": not JSON: ", e.what());
    }
    MMADA_CHECK(j.is_object(), path, ":", no, ": expected a JSON object");
    if (j.contains("text") && j["text"].is_string()) {
      texts.push_back(j["text"].get<std::string>());
    } else if (j.contains("messages") && j["messages"].is_array()) {
      for (const auto& m : j["messages"]) {
        MMADA_CHECK(m.is_object() && m.contains("content") && m["content"].is_string(), path, ":", no,
                    ": every message needs a string \"content\"");
        texts.push_back(m["content"].get<std::string>());
      }
    } else {
      fail(path, ":", no, ": expected a string \"text\" or a \"messages\" array");
    }
  }
  return texts;
}

}  // namespace mmada
