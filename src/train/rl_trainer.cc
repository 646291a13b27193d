#include "train/rl_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/tensor.h"
#include "sample/text_sampler.h"
#include "train/clip_reward.h"
#include "train/jsonl_data.h"
#include "train/train_model.h"
#include "train/unigrpo_step.h"

namespace mmada::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Counter-RNG streams: every draw is a function of (seed, RL step, prompt, inner step, response).
constexpr uint64_t kStreamPrompt = 0x2100000000000000ull;
constexpr uint64_t kStreamRollout = 0x2200000000000000ull;
constexpr uint64_t kStreamMask = 0x2300000000000000ull;

uint64_t fold(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0;
  for (uint64_t p : parts) h = mix64(h ^ p);
  return h;
}

std::unique_ptr<Reward> make_reward(const RewardSpec& s) {
  if (s.type == "correctness") return make_correctness_reward();
  if (s.type == "format") return make_format_reward();
  if (s.type == "http") return make_http_reward(s.name, s.url, s.timeout_s);
  if (s.type == "clip")
    return make_clip_reward(s.name, s.model, s.text == "response" ? ClipText::Response : ClipText::Prompt);
  return make_command_reward(s.name, s.command, s.timeout_s);
}

struct Stat {
  double sum = 0, sq = 0;
  int64_t n = 0;
  void add(double v) {
    sum += v;
    sq += v * v;
    ++n;
  }
  double mean() const { return n ? sum / double(n) : 0; }
  double sd() const { return n ? std::sqrt(std::max(0.0, sq / double(n) - mean() * mean())) : 0; }
};

}  // namespace

std::vector<RlPrompt> load_rl_prompts(const std::string& path, const TextEncoder& enc,
                                      OnMalformed policy) {
  std::ifstream in(path);
  MMADA_CHECK(in.good(), path, ": cannot open the RL prompts");
  const RowTokens& tk = enc.tokens();
  std::vector<RlPrompt> out;
  std::string line;
  int64_t lineno = 0, bad = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string why;
    RlPrompt p;
    try {
      const json j = json::parse(line);
      std::vector<std::pair<std::string, std::string>> turns;
      if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array() || j["messages"].empty()) {
        why = "needs a non-empty \"messages\" array";
      } else {
        for (const json& m : j["messages"]) {
          if (!m.is_object() || !m.contains("role") || !m.contains("content") ||
              !m["role"].is_string() || !m["content"].is_string()) {
            why = "every message needs string \"role\" and \"content\"";
            break;
          }
          turns.emplace_back(m["role"].get<std::string>(), m["content"].get<std::string>());
        }
      }
      if (why.empty() && turns.back().first == "assistant") {
        p.reference = turns.back().second;
        turns.pop_back();
      }
      if (why.empty() && j.contains("answer")) {
        if (j["answer"].is_string()) p.reference = j["answer"].get<std::string>();
        else if (j["answer"].is_number()) p.reference = j["answer"].dump();
        else why = "\"answer\" must be a string or a number";
      }
      if (why.empty() && (turns.empty() || turns.back().first != "user"))
        why = "the prompt must end with a user message";
      if (why.empty()) {
        p.question = turns.back().second;
        p.ids = {tk.bos};
        const std::vector<int64_t> ids =
            enc.encode(render_chat_turns(turns) + "<|start_header_id|>assistant<|end_header_id|>\n");
        p.ids.insert(p.ids.end(), ids.begin(), ids.end());
      }
    } catch (const json::exception& e) {
      why = std::string("not valid JSON: ") + e.what();
    }
    if (!why.empty()) {
      MMADA_CHECK(policy == OnMalformed::Skip, path, ":", lineno, ": ", why);
      if (++bad <= 5) std::fprintf(stderr, "mmada rl: skipping %s:%lld: %s\n", path.c_str(), (long long)lineno, why.c_str());
      continue;
    }
    out.push_back(std::move(p));
  }
  if (bad > 0) std::fprintf(stderr, "mmada rl: skipped %lld malformed prompt lines\n", (long long)bad);
  MMADA_CHECK(!out.empty(), path, ": no usable prompts");
  return out;
}

RlTrainer::RlTrainer(const RlConfig& cfg) : cfg_(cfg), rng_{cfg.run.seed} {
  enc_ = make_text_encoder(cfg_.tokenizer);
  const ModelConfig mcfg = ModelConfig::load((fs::path(cfg_.init_from) / "config.json").string());
  MMADA_CHECK(mcfg.vocab >= enc_->vocab_size(), "model vocab ", mcfg.vocab,
              " is smaller than the tokenizer's ", enc_->vocab_size());
  MMADA_CHECK(mcfg.mask_token_id == enc_->tokens().mask, "model mask_token_id ",
              mcfg.mask_token_id, " differs from the tokenizer's [MASK] ", enc_->tokens().mask);
  prompts_ = load_rl_prompts(cfg_.prompts_path, *enc_, cfg_.on_malformed);
  for (const RewardSpec& s : cfg_.rewards) rewards_.add(make_reward(s), s.weight);
  end_ids_ = {enc_->tokens().eos, enc_->encode("<|eot_id|>").at(0)};

  run_ = TrainingRun(mcfg, cfg_.optim, cfg_.run, "mmada rl",
                     [&] { return load_master_weights(cfg_.init_from, mcfg); });
  run_.tokenizer_dir = enc_->tokenizer_dir();
  MMADA_CHECK(run_.dist.world == 1, "mmada rl runs in one process (", run_.dist.world,
              " ranks given): data-parallel RL is not implemented yet");
  // The frozen reference is the initial model, also after a resume.
  if (cfg_.unigrpo.beta > 0 && cfg_.unigrpo.kl_reference == KlReference::Ref)
    ref_ = load_master_weights(cfg_.init_from, mcfg);
}

RlTrainer::~RlTrainer() = default;

RlStepRecord RlTrainer::step() {
  const auto t0 = std::chrono::steady_clock::now();
  const ModelConfig& mcfg = run_.mcfg;
  const UniGrpoConfig& ug = cfg_.unigrpo;
  const int64_t G = ug.group_size, NP = cfg_.prompts_per_step(), s = run_.state.step;
  const RowTokens& tk = enc_->tokens();
  RlStepRecord rec;
  rec.step = s + 1;

  // The training forward as the sampler's network: rollouts use the engine's own decoder.
  const LogitsFn network = [&](const std::vector<int64_t>& ids, int64_t B, int64_t L,
                               const uint8_t* token_mask, const std::vector<int64_t>& rows) {
    TrainBatch b;
    b.ids = ids;
    b.B = B;
    b.L = L;
    if (token_mask) {
      b.token_mask.assign(token_mask, token_mask + B * L);
      b.mask_mode = AttnMask::Pair;
    }
    b.rows = rows;
    const std::vector<float> logits = run_.compute().forward(b);
    Tensor t = Tensor::empty(DType::F32, {int64_t(rows.size()), mcfg.vocab});
    std::memcpy(t.ptr<float>(), logits.data(), logits.size() * sizeof(float));
    return t;
  };

  struct Group {
    const RlPrompt* prompt = nullptr;
    std::vector<std::vector<int64_t>> resp;
    std::vector<int64_t> eligible;
    std::vector<uint8_t> valid;
    std::vector<double> adv;  // per valid response, in order
    bool kept = false;
    // Per inner step: the masked rows of the valid responses and their recorded ℓ^old, ℓ^ref.
    std::vector<std::vector<MaskedRow>> rows;
    std::vector<std::vector<double>> l_old, l_ref;
  };
  std::vector<Group> groups(static_cast<size_t>(NP));
  Stat total;
  std::vector<Stat> each(rewards_.size());
  Stat len;
  rec.len_min = INT64_MAX;
  for (int64_t p = 0; p < NP; ++p) {
    Group& g = groups[size_t(p)];
    const size_t idx = std::min(prompts_.size() - 1,
                                size_t(rng_.uniform(kStreamPrompt + uint64_t(s), uint64_t(p)) *
                                       double(prompts_.size())));
    g.prompt = &prompts_[idx];
    const int64_t P = int64_t(g.prompt->ids.size());
    TextSamplerParams sp;
    sp.gen_length = cfg_.gen_length > 0 ? cfg_.gen_length : cfg_.row_length - P;
    MMADA_CHECK(sp.gen_length > 0, "prompt \"", g.prompt->question, "\" has ", P,
                " tokens, no room in rollout.row_length ", cfg_.row_length);
    sp.block_length = cfg_.block_length > 0 ? cfg_.block_length : sp.gen_length;
    sp.steps = cfg_.sampler_steps > 0 ? cfg_.sampler_steps : sp.gen_length;
    sp.temperature = cfg_.temperature;
    sp.remasking = cfg_.remasking;
    sp.threshold = cfg_.threshold;
    sp.mask_id = tk.mask;
    sp.seed = rng_.bits(kStreamRollout + uint64_t(s), uint64_t(p));
    sp.end_ids = end_ids_;
    sp.end_fill_id = tk.eos;
    try {
      sp.validate();
    } catch (const Error& e) {
      fail("rollout settings for prompt \"", g.prompt->question, "\" (response length ",
           sp.gen_length, "): ", e.what());
    }
    std::vector<int64_t> prompt_rows;
    for (int64_t i = 0; i < G; ++i) prompt_rows.insert(prompt_rows.end(), g.prompt->ids.begin(), g.prompt->ids.end());
    const TextSamplerResult out = generate_text(network, prompt_rows, G, P, nullptr, sp);
    std::vector<double> valid_rewards;
    for (int64_t i = 0; i < G; ++i) {
      const auto begin = out.ids.begin() + i * out.L + P, end = out.ids.begin() + (i + 1) * out.L;
      g.resp.emplace_back(begin, end);
      const std::vector<int64_t>& r = g.resp.back();
      g.eligible.push_back(eligible_length(r, end_ids_, ug.post_num));
      const int64_t content = eligible_length(r, end_ids_, 0);
      const std::string text = enc_->decode(std::vector<int64_t>(r.begin(), r.begin() + content));
      const RewardScores sc = rewards_.score({g.prompt->question, text, g.prompt->reference, {}});
      ++rec.rollouts;
      len.add(double(g.eligible.back()));
      rec.len_min = std::min(rec.len_min, g.eligible.back());
      rec.len_max = std::max(rec.len_max, g.eligible.back());
      if (rec.samples.size() < 2) rec.samples.push_back(g.prompt->question + " => " + text);
      if (!sc.ok) {
        ++rec.skipped;
        if (++warnings_ <= 20)
          std::fprintf(stderr, "mmada rl: warning: step %lld, prompt \"%s\", rollout %lld skipped: reward %s\n",
                       (long long)(s + 1), g.prompt->question.c_str(), (long long)i, sc.failed.c_str());
        g.valid.push_back(0);
        continue;
      }
      g.valid.push_back(1);
      valid_rewards.push_back(sc.total);
      total.add(sc.total);
      for (size_t k = 0; k < each.size(); ++k) each[k].add(sc.each[k]);
    }
    g.adv = group_advantages(valid_rewards);
    const bool informative = std::any_of(g.adv.begin(), g.adv.end(), [](double a) { return a != 0; });
    g.kept = !valid_rewards.empty() && (informative || !ug.drop_equal_groups);
    (g.kept ? rec.groups_kept : rec.groups_dropped) += 1;
  }
  rec.reward_mean = total.mean();
  rec.reward_std = total.sd();
  for (const Stat& e : each) {
    rec.each_mean.push_back(e.mean());
    rec.each_std.push_back(e.sd());
  }
  rec.len_mean = len.mean();
  if (rec.len_min == INT64_MAX) rec.len_min = 0;

  // θ_old = θ: record ℓ^old (and ℓ^ref) on every inner step's masks before any update.
  int64_t B = 0;
  for (int64_t p = 0; p < NP; ++p) {
    Group& g = groups[size_t(p)];
    if (!g.kept) continue;
    const std::string what = str_cat("RL step ", s + 1, ", prompt \"", g.prompt->question, "\"");
    for (int64_t n = 0; n < ug.mu; ++n) {
      std::vector<MaskedRow> rows;
      for (int64_t i = 0; i < G; ++i) {
        if (!g.valid[size_t(i)]) continue;
        const double ratio = mask_ratio(ug, rng_, s, n, p * G + i);
        rows.push_back(mask_response(g.prompt->ids, g.resp[size_t(i)], g.eligible[size_t(i)], ratio,
                                     ug.mask_sampling, tk.mask, rng_,
                                     fold({kStreamMask, uint64_t(s), uint64_t(p), uint64_t(n), uint64_t(i)})));
      }
      g.l_old.push_back(masked_logprobs(mcfg, run_.compute(), rows, what));
      if (ug.beta > 0)
        g.l_ref.push_back(ug.kl_reference == KlReference::Old
                              ? g.l_old.back()
                              : masked_logprobs<float>(mcfg, ref_, rows, what));
      else
        g.l_ref.emplace_back();
      g.rows.push_back(std::move(rows));
    }
    B += int64_t(g.rows[0].size());
  }
  const auto t1 = std::chrono::steady_clock::now();
  rec.rollout_seconds = std::chrono::duration<double>(t1 - t0).count();

  // µ updates on the same responses, mask n for update n.
  int64_t tokens = 0, clipped = 0;
  double kl_sum = 0;
  for (int64_t n = 0; n < ug.mu && B > 0; ++n) {
    run_.compute().zero_grads();
    ObjectiveSums sum;
    for (int64_t p = 0; p < NP; ++p) {
      Group& g = groups[size_t(p)];
      if (!g.kept) continue;
      std::vector<ResponseTokens> rt;
      size_t a = 0;
      for (int64_t i = 0; i < G; ++i) {
        if (!g.valid[size_t(i)]) continue;
        ResponseTokens t;
        t.advantage = g.adv[a++];
        t.response_length = g.eligible[size_t(i)];
        rt.push_back(std::move(t));
      }
      const std::string what = str_cat("RL step ", s + 1, ", update ", n + 1, ", prompt \"",
                                       g.prompt->question, "\"");
      const ObjectiveSums gs = unigrpo_group_backward(
          mcfg, run_.compute(), g.rows[size_t(n)], g.l_old[size_t(n)], g.l_ref[size_t(n)], rt, B,
          ug, what);
      sum.loss += gs.loss;
      sum.policy += gs.policy;
      sum.kl += gs.kl;
      sum.tokens += gs.tokens;
      sum.clipped += gs.clipped;
    }
    MMADA_CHECK(std::isfinite(sum.loss), "non-finite UniGRPO loss at RL step ", s + 1, ", update ",
                n + 1, "; stopped, the last good checkpoint is ", checkpoint_dir());
    rec.grad_norm = run_.compute().reduce_and_clip();
    MMADA_CHECK(std::isfinite(rec.grad_norm), "non-finite gradient norm at RL step ", s + 1,
                ", update ", n + 1, "; stopped, the last good checkpoint is ", checkpoint_dir());
    const int64_t os = run_.compute().optimizer_steps();
    const OptimConfig& oc = cfg_.optim;
    rec.lr = cfg_.cosine ? lr_at(oc, os)
             : os < oc.warmup_steps ? oc.lr * double(os) / double(oc.warmup_steps)
                                    : oc.lr;
    run_.compute().step(rec.lr);
    rec.loss += sum.loss / double(ug.mu);
    rec.policy += sum.policy / double(ug.mu);
    kl_sum += sum.kl;
    tokens += sum.tokens;
    clipped += sum.clipped;
  }
  rec.kl = tokens ? kl_sum / double(tokens) : 0;
  rec.clip_frac = tokens ? double(clipped) / double(tokens) : 0;
  run_.state.step = s + 1;
  run_.state.micro_step = run_.state.step;
  rec.update_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  return rec;
}

void RlTrainer::run(const std::function<void(const RlStepRecord&)>& on_step, int64_t until_step) {
  const int64_t last = until_step > 0 ? std::min(until_step, cfg_.steps) : cfg_.steps;
  run_.run_steps<RlStepRecord>(
      last, "RL log", [&] { return step(); },
      [&](const RlStepRecord& r) {
        json j = {{"step", r.step},
                  {"reward_mean", r.reward_mean},
                  {"reward_std", r.reward_std},
                  {"loss", r.loss},
                  {"policy", r.policy},
                  {"kl", r.kl},
                  {"clip_frac", r.clip_frac},
                  {"len_mean", r.len_mean},
                  {"len_min", r.len_min},
                  {"len_max", r.len_max},
                  {"rollouts", r.rollouts},
                  {"skipped", r.skipped},
                  {"groups_kept", r.groups_kept},
                  {"groups_dropped", r.groups_dropped},
                  {"lr", r.lr},
                  {"grad_norm", r.grad_norm},
                  {"rollout_seconds", r.rollout_seconds},
                  {"update_seconds", r.update_seconds}};
        for (size_t k = 0; k < rewards_.size(); ++k) {
          j["reward_" + rewards_.name(k) + "_mean"] = r.each_mean[k];
          j["reward_" + rewards_.name(k) + "_std"] = r.each_std[k];
        }
        return j;
      },
      on_step);
}

}  // namespace mmada::train
