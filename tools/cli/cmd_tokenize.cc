// mmada tokenize / detokenize: text <-> ids with a Hugging Face tokenizer.json folder.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "command.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace {

std::string read_all_stdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

void print_ids(const std::vector<int64_t>& ids) {
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
  std::printf("%s\n", line.c_str());
}

// One JSON object {"text": ...} per line in, {"text": ..., "ids": [...]} per line out. A bad
// line is reported on stderr and skipped; the exit status says whether any line failed.
int tokenize_jsonl(const mmada::Tokenizer& tok, bool add_special) {
  int failures = 0;
  size_t line_no = 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      const auto in = nlohmann::json::parse(line);
      if (!in.is_object() || !in.contains("text") || !in.at("text").is_string())
        mmada::fail("expected an object with a string field \"text\"");
      const std::string text = in.at("text").get<std::string>();
      nlohmann::ordered_json out;  // keeps "text" before "ids"
      out["text"] = text;
      out["ids"] = tok.encode(text, add_special);
      std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
    } catch (const std::exception& e) {
      ++failures;
      std::fprintf(stderr, "mmada tokenize: line %zu: %s\n", line_no, e.what());
    }
  }
  std::fflush(stdout);
  return failures == 0 ? 0 : 1;
}

// Ids separated by spaces, commas or newlines; brackets are ignored so "[1, 2]" works too.
std::vector<int64_t> parse_ids(const std::string& text) {
  std::string cleaned = text;
  for (char& c : cleaned)
    if (c == ',' || c == '[' || c == ']') c = ' ';
  std::istringstream in(cleaned);
  std::vector<int64_t> ids;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    int64_t id = 0;
    try {
      id = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    MMADA_CHECK(used == word.size(), "detokenize: '", word, "' is not an integer id");
    ids.push_back(id);
  }
  return ids;
}

struct TokenizeOpts {
  std::string tokenizer;
  std::string prompt;
  bool jsonl = false;
  bool no_special = false;
};

mmada::cli::Command tokenize_cmd(
    "tokenize", "Print the token ids of a text (from -p or stdin), or of JSON lines with --jsonl",
    [](CLI::App& sub) -> mmada::cli::RunFn {
      auto o = std::make_shared<TokenizeOpts>();
      sub.add_option("--tokenizer", o->tokenizer, "folder with tokenizer.json (or the file)")->required();
      auto* prompt = sub.add_option("-p,--prompt", o->prompt, "text to tokenize (default: all of stdin)");
      sub.add_flag("--jsonl", o->jsonl, "read {\"text\": ...} lines on stdin, write {\"text\", \"ids\"} lines")
          ->excludes(prompt);
      sub.add_flag("--no-special", o->no_special, "do not add the post-processor's special tokens");
      return [o, prompt] {
        const auto tok = mmada::Tokenizer::load(o->tokenizer);
        if (o->jsonl) return tokenize_jsonl(tok, !o->no_special);
        const std::string text = prompt->count() ? o->prompt : read_all_stdin();
        print_ids(tok.encode(text, !o->no_special));
        return 0;
      };
    });

struct DetokenizeOpts {
  std::string tokenizer;
  std::vector<std::string> ids;
  bool skip_special = false;
  bool no_newline = false;
};

mmada::cli::Command detokenize_cmd(
    "detokenize", "Print the text of token ids (from the arguments or stdin)",
    [](CLI::App& sub) -> mmada::cli::RunFn {
      auto o = std::make_shared<DetokenizeOpts>();
      sub.add_option("--tokenizer", o->tokenizer, "folder with tokenizer.json (or the file)")->required();
      sub.add_option("ids", o->ids, "token ids (default: read from stdin)");
      sub.add_flag("--skip-special", o->skip_special, "drop special tokens (BOS, EOS, masks, ...)");
      sub.add_flag("-n,--no-newline", o->no_newline, "do not end the output with a newline");
      return [o] {
        const auto tok = mmada::Tokenizer::load(o->tokenizer);
        std::string joined;
        if (o->ids.empty())
          joined = read_all_stdin();
        else
          for (const auto& s : o->ids) joined += s + " ";
        const std::string text = tok.decode(parse_ids(joined), o->skip_special);
        std::fwrite(text.data(), 1, text.size(), stdout);
        if (!o->no_newline) std::fputc('\n', stdout);
        return 0;
      };
    });

}  // namespace
