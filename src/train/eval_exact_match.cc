#include "train/eval_exact_match.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "train/jsonl_data.h"
#include "train/train_model.h"

namespace mmada::train {

namespace {
std::string final_answer(const std::string& s) {
  const size_t k = s.rfind("</think>");
  return k == std::string::npos ? s : s.substr(k + 8);
}
}  // namespace

ExactMatchResult eval_exact_match(const ModelConfig& cfg, const ModelWeights& w,
                                  const TextEncoder& enc, const std::string& path, int64_t L,
                                  int64_t max_problems) {
  std::ifstream in(path);
  MMADA_CHECK(in.good(), path, ": cannot open held-out data");
  const RowTokens& tk = enc.tokens();
  const int64_t eot = enc.encode("<|eot_id|>").at(0);
  const cpu::RopeTable rope = cpu::make_rope_table(L, cfg.head_dim(), cfg.rope_theta);
  ExactMatchResult res;
  std::string line;
  while (std::getline(in, line) && res.total < max_problems) {
    const nlohmann::json j = nlohmann::json::parse(line);
    std::vector<std::pair<std::string, std::string>> turns;
    for (const auto& m : j.at("messages")) turns.emplace_back(m.at("role"), m.at("content"));
    const std::string want = turns.back().second;
    turns.pop_back();
    std::vector<int64_t> ids = {tk.bos};
    const std::vector<int64_t> p =
        enc.encode(render_chat_turns(turns) + "<|start_header_id|>assistant<|end_header_id|>\n");
    ids.insert(ids.end(), p.begin(), p.end());
    const int64_t prompt = int64_t(ids.size());
    MMADA_CHECK(prompt < L, path, ": prompt longer than the row length");
    ids.resize(size_t(L), tk.mask);
    for (int64_t step = prompt; step < L; ++step) {
      TrainBatch b;
      b.B = 1;
      b.L = L;
      b.ids = ids;
      for (int64_t i = prompt; i < L; ++i)
        if (ids[size_t(i)] == tk.mask) b.rows.push_back(i);
      Activations<float> acts;
      const std::vector<float> logits = train_forward<float>(cfg, w, b, rope, acts);
      // The most confident (largest top logit margin = largest softmax max) masked position.
      double best = -1;
      int64_t best_pos = -1, best_tok = 0;
      for (size_t r = 0; r < b.rows.size(); ++r) {
        const float* z = logits.data() + int64_t(r) * cfg.vocab;
        int64_t arg = 0;
        double sum = 0;
        for (int64_t v = 1; v < cfg.vocab; ++v)
          if (z[v] > z[arg] && v != tk.mask) arg = v;
        for (int64_t v = 0; v < cfg.vocab; ++v) sum += std::exp(double(z[v] - z[arg]));
        const double conf = 1.0 / sum;
        if (conf > best) {
          best = conf;
          best_pos = b.rows[r];
          best_tok = arg;
        }
      }
      ids[size_t(best_pos)] = best_tok;
    }
    std::vector<int64_t> answer;
    for (int64_t i = prompt; i < L && ids[size_t(i)] != eot && ids[size_t(i)] != tk.eos; ++i)
      answer.push_back(ids[size_t(i)]);
    const std::string got = enc.decode(answer);
    ++res.total;
    res.correct += final_answer(got) == final_answer(want);
    if (res.examples.size() < 5) res.examples.push_back(turns.back().second + " => " + got);
  }
  return res;
}

}  // namespace mmada::train
