#include "tokenizer/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace mmada {

namespace {

nlohmann::json read_json(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  MMADA_CHECK(in, "tokenizer: cannot open ", file.string());
  std::stringstream buf;
  buf << in.rdbuf();
  try {
    return nlohmann::json::parse(buf.str());
  } catch (const nlohmann::json::exception& e) {
    fail("tokenizer: ", file.string(), " is not valid JSON: ", e.what());
  }
}

// Special tokens in tokenizer_config.json are strings or {"content": ...} objects.
std::string token_string(const nlohmann::json& cfg, const char* key) {
  if (!cfg.contains(key)) return "";
  const auto& v = cfg.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content")) return v.at("content").get<std::string>();
  return "";
}

TokenizerConfig parse_config(const nlohmann::json& cfg) {
  TokenizerConfig c;
  c.bos_token = token_string(cfg, "bos_token");
  c.eos_token = token_string(cfg, "eos_token");
  c.pad_token = token_string(cfg, "pad_token");
  if (cfg.contains("chat_template") && cfg.at("chat_template").is_string())
    c.chat_template = cfg.at("chat_template").get<std::string>();
  c.add_bos_token = cfg.value("add_bos_token", false);
  c.add_eos_token = cfg.value("add_eos_token", false);
  return c;
}

}  // namespace

Tokenizer Tokenizer::load(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path file = path;
  if (fs::is_directory(file)) file /= "tokenizer.json";
  MMADA_CHECK(fs::is_regular_file(file), "tokenizer: no tokenizer.json at ", path);
  const nlohmann::json j = read_json(file);
  MMADA_CHECK(j.is_object() && j.contains("model"), "tokenizer: ", file.string(), " has no 'model' section");

  Tokenizer t;
  try {
    t.model_ = BpeModel::from_json(j.at("model"));
    t.normalizer_ = Normalizer::from_json(j.value("normalizer", nlohmann::json()));
    t.pre_tokenizer_ = PreTokenizer::from_json(j.value("pre_tokenizer", nlohmann::json()));
    t.added_ = AddedVocabulary::from_json(j.value("added_tokens", nlohmann::json()), t.normalizer_);

    auto parse_post = [&](const nlohmann::json& pp, auto& self) -> void {
      if (pp.is_null()) return;
      const std::string type = pp.value("type", "");
      if (type == "ByteLevel") return;  // adjusts offsets only
      if (type == "Sequence") {
        for (const auto& sub : pp.at("processors")) self(sub, self);
        return;
      }
      if (type == "RobertaProcessing") {  // CLIP's: <cls> sequence <sep>
        t.prefix_ids_.push_back(pp.at("cls").at(1).get<int64_t>());
        t.suffix_ids_.push_back(pp.at("sep").at(1).get<int64_t>());
        return;
      }
      MMADA_CHECK(type == "TemplateProcessing", "tokenizer.json: post_processor type '", type,
                  "' is not supported (only ByteLevel, TemplateProcessing, RobertaProcessing, Sequence)");
      bool after = false;
      for (const auto& item : pp.at("single")) {
        if (item.contains("Sequence")) {
          after = true;
          continue;
        }
        const std::string name = item.at("SpecialToken").at("id").get<std::string>();
        const auto& ids = pp.at("special_tokens").at(name).at("ids");
        for (const auto& id : ids) (after ? t.suffix_ids_ : t.prefix_ids_).push_back(id.get<int64_t>());
      }
    };
    parse_post(j.value("post_processor", nlohmann::json()), parse_post);

    const nlohmann::json decoder = j.value("decoder", nlohmann::json());
    if (!decoder.is_null()) {
      const std::string type = decoder.value("type", "");
      MMADA_CHECK(type == "ByteLevel", "tokenizer.json: decoder type '", type, "' is not supported (only ByteLevel)");
      t.byte_level_decoder_ = true;
    }
  } catch (const nlohmann::json::exception& e) {
    fail("tokenizer: ", file.string(), ": malformed section: ", e.what());
  }

  std::set<int64_t> ids;
  for (const auto& [token, id] : t.model_.vocab()) ids.insert(id);
  for (const auto& a : t.added_.tokens()) ids.insert(a.id);
  t.size_ = ids.size();

  const fs::path config_file = file.parent_path() / "tokenizer_config.json";
  if (fs::is_regular_file(config_file)) t.config_ = parse_config(read_json(config_file));
  return t;
}

void Tokenizer::encode_plain(std::string_view text, std::vector<int64_t>& out) const {
  for (const std::string& piece : pre_tokenizer_.split(text)) model_.tokenize(piece, out);
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::string valid;
  if (!utf8::is_valid(text)) {
    valid = utf8::to_valid_lossy(text);
    text = valid;
  }
  std::vector<int64_t> ids;
  if (add_special_tokens) ids = prefix_ids_;
  // Tokens with normalized = false are found in the raw text; the rest of the text is
  // normalized and then searched for tokens with normalized = true.
  for (const auto& raw : added_.split(text, /*normalized_group=*/false)) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    const std::string normalized = normalizer_.apply(text.substr(raw.begin, raw.end - raw.begin));
    for (const auto& piece : added_.split(normalized, /*normalized_group=*/true)) {
      if (piece.id >= 0)
        ids.push_back(piece.id);
      else
        encode_plain(std::string_view(normalized).substr(piece.begin, piece.end - piece.begin), ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), suffix_ids_.begin(), suffix_ids_.end());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::vector<const std::string*> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    const AddedToken* added = added_.find(id);
    if (added) {
      if (!(skip_special && added->special)) tokens.push_back(&added->content);
    } else if (const std::string* t = model_.id_to_token(id)) {
      tokens.push_back(t);
    }
  }
  std::string out;
  if (!byte_level_decoder_) {  // no decoder: Hugging Face joins the tokens with spaces
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + *tokens[i];
    return out;
  }
  // A token whose characters are not all in the byte alphabet contributes its own UTF-8.
  for (const std::string* t : tokens)
    if (!byte_level::decode_token(*t, out)) out += *t;
  return utf8::to_valid_lossy(out);
}

int64_t Tokenizer::token_to_id(std::string_view token) const {
  const int64_t added = added_.token_to_id(token);
  return added >= 0 ? added : model_.token_to_id(token);
}

std::string Tokenizer::id_to_token(int64_t id) const {
  if (const AddedToken* a = added_.find(id)) return a->content;
  const std::string* t = model_.id_to_token(id);
  return t ? *t : std::string();
}

bool Tokenizer::is_special(int64_t id) const {
  const AddedToken* a = added_.find(id);
  return a && a->special;
}

}  // namespace mmada
