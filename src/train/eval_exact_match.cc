#include "train/eval_exact_match.h"

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/cached_network.h"
#include "model/logits_fn.h"
#include "model/transformer.h"
#include "train/jsonl_data.h"
#include "train/train_model.h"

namespace mmada::train {

namespace {
std::string final_answer(const std::string& s) {
  const size_t k = s.rfind("</think>");
  return k == std::string::npos ? s : s.substr(k + 8);
}

// Held-out problems: the prompt (BOS + chat turns + the assistant header) and the reference.
struct Problem {
  std::vector<int64_t> prompt;
  std::string question, want;
};

std::vector<Problem> load_problems(const TextEncoder& enc, const std::string& path, int64_t L,
                                   int64_t max_problems) {
  std::ifstream in(path);
  MMADA_CHECK(in.good(), path, ": cannot open held-out data");
  std::vector<Problem> out;
  std::string line;
  // max_problems 0: the whole file.
  while (std::getline(in, line) && (max_problems <= 0 || int64_t(out.size()) < max_problems)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    std::vector<std::pair<std::string, std::string>> turns;
    for (const auto& m : j.at("messages")) turns.emplace_back(m.at("role"), m.at("content"));
    Problem p;
    p.want = turns.back().second;
    turns.pop_back();
    p.question = turns.back().second;
    p.prompt = {enc.tokens().bos};
    const std::vector<int64_t> t =
        enc.encode(render_chat_turns(turns) + "<|start_header_id|>assistant<|end_header_id|>\n");
    p.prompt.insert(p.prompt.end(), t.begin(), t.end());
    MMADA_CHECK(int64_t(p.prompt.size()) < L, path, ": prompt longer than the row length");
    out.push_back(std::move(p));
  }
  return out;
}

// The decoded answer: its tokens up to the first end token.
std::string answer_text(const TextEncoder& enc, const std::vector<int64_t>& answer_slots) {
  const int64_t eot = enc.encode("<|eot_id|>").at(0), eos = enc.tokens().eos;
  std::vector<int64_t> answer;
  for (int64_t id : answer_slots) {
    if (id == eot || id == eos) break;
    answer.push_back(id);
  }
  return enc.decode(answer);
}

// Adds one answer of problem p to res; true when its final answer is the reference's.
bool score(const Problem& p, const std::string& got, ExactMatchResult& res) {
  const bool right = final_answer(got) == final_answer(p.want);
  ++res.total;
  res.correct += right;
  res.answers.push_back(got);
  if (res.examples.size() < 5) res.examples.push_back(p.question + " => " + got);
  return right;
}

}  // namespace

ExactMatchResult eval_exact_match(const ModelConfig& cfg, const ModelWeights& w,
                                  const TextEncoder& enc, const std::string& path, int64_t L,
                                  int64_t max_problems) {
  const RowTokens& tk = enc.tokens();
  const cpu::RopeTable rope = cpu::make_rope_table(L, cfg.head_dim(), cfg.rope_theta);
  ExactMatchResult res;
  for (const Problem& pr : load_problems(enc, path, L, max_problems)) {
    const int64_t prompt = int64_t(pr.prompt.size());
    std::vector<int64_t> ids = pr.prompt;
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
    score(pr, answer_text(enc, std::vector<int64_t>(ids.begin() + prompt, ids.end())), res);
  }
  return res;
}

ExactMatchResult eval_exact_match_sampled(const std::string& checkpoint_dir, const TextEncoder& enc,
                                          const std::string& path, int64_t L, int64_t max_problems,
                                          const TextSamplerParams& sp_in, const std::string& backend,
                                          const SampledEval& how) {
  MMADA_CHECK(how.samples >= 1 && how.batch >= 1 && how.temperature >= 0, "exact-match evaluation: samples ",
              how.samples, ", batch ", how.batch, " must be at least 1 and temperature ", how.temperature,
              " not negative");
  const RowTokens& tk = enc.tokens();
  const Transformer model =
      Transformer::load(checkpoint_dir, how.bf16 ? Precision::BF16 : Precision::F32, make_backend(backend));
  const std::vector<Problem> problems = load_problems(enc, path, L, max_problems);
  // Problems by prompt length (a call's rows share one), each list in file order.
  std::map<int64_t, std::vector<size_t>> by_length;
  for (size_t i = 0; i < problems.size(); ++i) by_length[int64_t(problems[i].prompt.size())].push_back(i);
  const int64_t k = how.samples;
  std::vector<std::string> got(problems.size() * size_t(k));  // problem-major
  ExactMatchResult res;
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t call = 0;
  for (const auto& [P, members] : by_length) {
    TextSamplerParams sp = sp_in;
    const int64_t block = sp_in.block_length > 0 ? sp_in.block_length : L - P;
    sp.gen_length = sp.steps = (L - P + block - 1) / block * block;
    sp.block_length = block;
    sp.temperature = how.temperature;
    sp.remasking = Remasking::LowConfidence;
    sp.mask_id = tk.mask;
    sp.end_ids = {tk.eos};
    const std::vector<int64_t> eot = enc.encode("<|eot_id|>");
    if (eot.size() == 1) sp.end_ids.push_back(eot[0]);
    sp.end_fill_id = tk.eos;
    sp.validate();
    for (size_t first = 0; first < members.size(); first += size_t(how.batch)) {
      const size_t n = std::min(members.size() - first, size_t(how.batch));
      std::vector<int64_t> prompts;
      for (size_t j = 0; j < n; ++j)
        for (int64_t s = 0; s < k; ++s) {
          const std::vector<int64_t>& p = problems[members[first + j]].prompt;
          prompts.insert(prompts.end(), p.begin(), p.end());
        }
      sp.seed = how.seed + 0x9E3779B97F4A7C15ull * call++;
      const TextSamplerResult r =
          generate_text(make_logits_fn(model), prompts, int64_t(n) * k, P, nullptr, sp, {}, make_pick_fn(model),
                        sp.cache != CacheMode::None ? make_cached_network(model) : CachedNetwork{});
      res.network_calls += r.network_calls * int64_t(n) * k;  // per row, as with one answer a call
      for (size_t j = 0; j < n; ++j)
        for (int64_t s = 0; s < k; ++s) {
          const auto row = r.ids.begin() + (int64_t(j) * k + s) * r.L;
          got[members[first + j] * size_t(k) + size_t(s)] = answer_text(enc, std::vector<int64_t>(row + P, row + r.L));
        }
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (size_t i = 0; i < problems.size(); ++i) {
    int64_t right = 0;
    for (int64_t s = 0; s < k; ++s) right += score(problems[i], got[i * size_t(k) + size_t(s)], res);
    res.problem_correct.push_back(right);
  }
  return res;
}

}  // namespace mmada::train
