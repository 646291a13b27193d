// mmada train-tokenizer: learn a small byte-level BPE (LLaDA's front end) from text or chat
// JSONL files and write a Hugging Face tokenizer folder with MMaDA's special tokens
// (src/tokenizer/bpe_trainer.h, docs/tokenizer.md).
#include <cstdio>

#include "command.h"
#include "core/error.h"
#include "tokenizer/bpe_trainer.h"

namespace mmada::cli {
namespace {

struct Opts {
  std::vector<std::string> inputs;
  std::string out;
  int64_t vocab_size = 4096, min_frequency = 2;
};

Command train_tokenizer_cmd(
    "train-tokenizer",
    "Learn a byte-level BPE tokenizer (tokenizer.json with MMaDA's special tokens) from text or JSONL files",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<Opts>();
      sub.add_option("--input", o->inputs,
                     "training files: *.jsonl ({\"text\"} or {\"messages\"} lines; message contents are used), "
                     "anything else is plain text")
          ->required();
      sub.add_option("--vocab-size", o->vocab_size,
                     "len(tokenizer): 256 byte tokens + merges + the special tokens")
          ->capture_default_str();
      sub.add_option("--min-frequency", o->min_frequency, "stop when no pair occurs this often")
          ->capture_default_str();
      sub.add_option("-o,--out", o->out, "output folder (tokenizer.json, tokenizer_config.json)")->required();
      return [o] {
        std::vector<std::string> texts;
        for (const std::string& f : o->inputs)
          for (std::string& t : load_tokenizer_corpus(f)) texts.push_back(std::move(t));
        BpeTrainOptions opt;
        opt.vocab_size = o->vocab_size;
        opt.min_frequency = o->min_frequency;
        opt.special_tokens = mmada_special_token_names();
        const TrainedBpe bpe = train_bpe(texts, opt);
        write_tokenizer_folder(bpe, o->out);
        std::fprintf(stderr, "wrote %s: %lld tokens (256 bytes + %zu merges + %zu special) from %zu texts%s\n",
                     o->out.c_str(), (long long)bpe.size(), bpe.merges.size(), bpe.special_tokens.size(),
                     texts.size(),
                     bpe.size() < o->vocab_size ? " (stopped early: no pair reaches --min-frequency)" : "");
        return 0;
      };
    });

}  // namespace
}  // namespace mmada::cli
