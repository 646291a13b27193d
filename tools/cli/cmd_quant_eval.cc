// mmada quant-eval -m BASE --type q8,q4,q4_0 --data heldout.jsonl: what quantization costs a
// model, measured (docs/quantization.md):
//  * logits: the base and the quantized model (written to a temporary folder and loaded like
//    any checkpoint, so the real quantized kernels run) on the held-out chat rows with the
//    answer canvas masked — all of it (the first denoising step) and half of it — top-1
//    agreement and KL(base ‖ quantized) over the masked positions;
//  * task accuracy: exact match of greedy decoding (train/eval_exact_match) with the base
//    weights and with the quantized weights expanded back to float32.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "command.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "model/model_file.h"
#include "model/quant_recipe.h"
#include "model/transformer.h"
#include "train/eval_exact_match.h"
#include "train/jsonl_data.h"
#include "train/text_encoder.h"

namespace mmada::cli {
namespace {

struct Opts {
  std::string model, data, tokenizer = "byte", backend = "cpu";
  std::vector<std::string> types = {"q8"};
  int64_t row_length = 64, problems = 200;
  bool exact_match = true;
};

struct Rows {
  std::vector<int64_t> ids;       // [B, L] with the masked canvas
  std::vector<int64_t> positions; // masked positions (b*L + i)
};

// Held-out chat rows as the trainer builds them: BOS, prompt, assistant header, answer, EOT,
// EOS padding; answer positions masked with probability `rate` (1 = all of the canvas).
Rows build_rows(const train::TextEncoder& enc, const std::string& path, int64_t L, int64_t n, double rate) {
  std::ifstream in(path);
  MMADA_CHECK(in.good(), path, ": cannot open");
  const auto& tk = enc.tokens();
  const std::vector<int64_t> eot = enc.encode("<|eot_id|>");
  Rows r;
  std::string line;
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (int64_t k = 0; k < n && std::getline(in, line); ++k) {
    const nlohmann::json j = nlohmann::json::parse(line);
    std::vector<std::pair<std::string, std::string>> turns;
    for (const auto& m : j.at("messages")) turns.emplace_back(m.at("role"), m.at("content"));
    const std::string want = turns.back().second;
    turns.pop_back();
    std::vector<int64_t> ids = {tk.bos};
    for (int64_t t : enc.encode(train::render_chat_turns(turns) + "<|start_header_id|>assistant<|end_header_id|>\n"))
      ids.push_back(t);
    const int64_t prompt = int64_t(ids.size());
    for (int64_t t : enc.encode(want)) ids.push_back(t);
    ids.insert(ids.end(), eot.begin(), eot.end());
    MMADA_CHECK(int64_t(ids.size()) <= L, path, ": example longer than --row-length ", L);
    ids.resize(size_t(L), tk.eos);
    const int64_t base = int64_t(r.ids.size());
    for (int64_t i = prompt; i < L; ++i) {
      h = (h ^ uint64_t(base + i)) * 0xBF58476D1CE4E5B9ull;
      if (rate >= 1 || double(h >> 11) / double(1ull << 53) < rate) {
        ids[size_t(i)] = tk.mask;
        r.positions.push_back(base + i);
      }
    }
    r.ids.insert(r.ids.end(), ids.begin(), ids.end());
  }
  return r;
}

struct Agreement {
  double top1 = 0, kl = 0;
  int64_t n = 0;
};

Agreement compare(const Transformer& a, const Transformer& b, const Rows& rows, int64_t L) {
  ForwardRequest r;
  r.ids = rows.ids.data();
  r.B = int64_t(rows.ids.size()) / L;
  r.L = L;
  r.rows = rows.positions;
  const Tensor za = a.forward(r), zb = b.forward(r);
  const int64_t V = za.size(1);
  Agreement g;
  for (int64_t i = 0; i < za.size(0); ++i) {
    const float* p = za.ptr<float>() + i * V;
    const float* q = zb.ptr<float>() + i * V;
    int64_t ap = 0, aq = 0;
    for (int64_t v = 1; v < V; ++v) {
      if (p[v] > p[ap]) ap = v;
      if (q[v] > q[aq]) aq = v;
    }
    double sp = 0, sq = 0;
    for (int64_t v = 0; v < V; ++v) sp += std::exp(double(p[v] - p[ap])), sq += std::exp(double(q[v] - q[aq]));
    double kl = 0;  // Σ P (log P − log Q), log-softmax in float64
    for (int64_t v = 0; v < V; ++v) {
      const double lp = double(p[v] - p[ap]) - std::log(sp), lq = double(q[v] - q[aq]) - std::log(sq);
      kl += std::exp(lp) * (lp - lq);
    }
    g.top1 += ap == aq;
    g.kl += kl;
    ++g.n;
  }
  g.top1 /= double(g.n);
  g.kl /= double(g.n);
  return g;
}

// The model's tensors as float32 (optionally through the recipe first), for the f32 decoder.
ModelWeights as_f32(const ModelFile& f, const QuantRecipe* recipe) {
  ModelWeights w;
  for_each_tensor(f.config, w, [&](const TensorSlot& s) {
    const Tensor& t = f.tensors.at(s.name);
    *s.tensor = (recipe ? recipe->apply(s, t) : t).to_f32();
  });
  return w;
}

Command quant_eval_cmd(
    "quant-eval", "Measure what quantization costs a model: logit agreement, KL and task accuracy",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<Opts>();
      sub.add_option("-m,--model", o->model, "base model folder")->required();
      sub.add_option("--type", o->types, "q8, q4 or q4_0 (comma-separated for several)")
          ->delimiter(',')->check(CLI::IsMember({"q8", "q4", "q4_0"}))->capture_default_str();
      sub.add_option("--data", o->data, "held-out chat JSONL (scripts/make-arith-chat.py)")->required();
      sub.add_option("--tokenizer", o->tokenizer, "byte, or a tokenizer folder")->capture_default_str();
      sub.add_option("--row-length", o->row_length, "row length (the trainer's text_slots + 3)")->capture_default_str();
      sub.add_option("--problems", o->problems, "held-out problems to use")->capture_default_str();
      sub.add_flag("!--no-exact-match", o->exact_match, "skip the task accuracy (slow on large vocabularies)");
      sub.add_option("--backend", o->backend,
                     "where both models' logits are computed: cpu, or cuda[:N] (the GPU's weight-only "
                     "kernels); the exact match always runs the CPU trainer's float32 forward")
          ->capture_default_str();
      return [o] {
        namespace fs = std::filesystem;
        const ModelFile base = ModelFile::open(o->model);
        const auto backend = make_backend(o->backend);
        const Transformer mb = Transformer::load(o->model, Precision::BF16, backend);
        const auto enc = train::make_text_encoder(o->tokenizer);
        std::vector<Rows> rows;
        for (double rate : {1.0, 0.5}) rows.push_back(build_rows(*enc, o->data, o->row_length, o->problems, rate));
        const auto eval = [&](const ModelWeights& w) {
          return train::eval_exact_match(base.config, w, *enc, o->data, o->row_length, o->problems);
        };
        if (o->exact_match) {
          const train::ExactMatchResult e = eval(as_f32(base, nullptr));
          std::printf("exact match: base %lld/%lld\n", (long long)e.correct, (long long)e.total);
        }
        std::printf("| type | masked | positions | top-1 agreement | mean KL (nats) | exact match |\n|---|---:|---:|---:|---:|---:|\n");
        for (const std::string& type : o->types) {
          const QuantRecipe recipe = QuantRecipe::from_name(type);
          // The quantized model as `mmada quantize` writes it, loaded like any checkpoint.
          const fs::path tmp = fs::temp_directory_path() / ("mmada_quant_eval_" + std::to_string(::getpid()));
          fs::create_directories(tmp);
          {
            std::vector<std::pair<std::string, Tensor>> ts;
            ModelWeights slots;
            for_each_tensor(base.config, slots, [&](const TensorSlot& s) {
              ts.emplace_back(s.name, recipe.apply(s, base.tensors.at(s.name)));
            });
            write_safetensors((tmp / "model.safetensors").string(), ts);
            std::ofstream((tmp / "config.json").string()) << base.config.to_json() << "\n";
          }
          const Transformer mq = Transformer::load(tmp.string(), Precision::BF16, backend);
          fs::remove_all(tmp);
          std::string em = "-";
          if (o->exact_match) {
            const train::ExactMatchResult e = eval(as_f32(base, &recipe));
            em = std::to_string(e.correct) + "/" + std::to_string(e.total);
          }
          for (size_t k = 0; k < rows.size(); ++k) {
            const Agreement g = compare(mb, mq, rows[k], o->row_length);
            std::printf("| %s | %s | %lld | %.4f | %.3g | %s |\n", type.c_str(), k == 0 ? "all" : "half",
                        (long long)g.n, g.top1, g.kl, em.c_str());
          }
          std::fflush(stdout);
        }
        return 0;
      };
    });

}  // namespace
}  // namespace mmada::cli
