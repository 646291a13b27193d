#include "train/rl_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
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

std::unique_ptr<Reward> make_reward(const RewardSpec& s, const ImageRollouts* images) {
  if (s.type == "classifier" || s.type == "class_name") {
    MMADA_CHECK(images != nullptr, "reward \"", s.name, "\" (", s.type, ") needs the t2i or mmu task and data.images");
    if (s.type == "class_name") return make_class_name_reward(s.name, images->class_names());
    return make_classifier_reward(s.name, s.model, s.score == "correct" ? ClassifierScore::Correct : ClassifierScore::Prob,
                                  images->reward_context());
  }
  if (s.type == "correctness") return make_correctness_reward();
  if (s.type == "format") return make_format_reward();
  if (s.type == "http") return make_http_reward(s.name, s.url, s.timeout_s);
  if (s.type == "clip")
    return make_clip_reward(s.name, s.model, s.text == "response" ? ClipText::Response : ClipText::Prompt);
  return make_command_reward(s.name, s.command, s.timeout_s);
}

}  // namespace

RlPromptRange rank_prompts(int64_t prompts, int rank, int world) {
  MMADA_CHECK(world >= 1 && rank >= 0 && rank < world, "rank ", rank, " outside a world of ", world);
  MMADA_CHECK(prompts >= world, "unigrpo: batch_size / group_size = ", prompts,
              " prompts per RL step cannot be shared by ", world,
              " data-parallel ranks (each rank rolls out whole groups): give at least one prompt per rank");
  return {prompts * rank / world, prompts * (rank + 1) / world};
}

void RunningStat::add(double v) {
  sum += v;
  sq += v * v;
  ++n;
}
double RunningStat::mean() const { return n ? sum / double(n) : 0; }
double RunningStat::sd() const { return n ? std::sqrt(std::max(0.0, sq / double(n) - mean() * mean())) : 0; }

void RlRolloutTally::add_length(int64_t eligible) {
  len_min = len.n ? std::min(len_min, eligible) : eligible;
  len_max = len.n ? std::max(len_max, eligible) : eligible;
  len.add(double(eligible));
}

void RlRolloutTally::reduce(Communicator& comm) {
  if (comm.world() == 1) return;
  // Sums: every RunningStat's three fields, then the counters; all exact in double.
  std::vector<RunningStat*> stats = {&total, &len};
  for (RunningStat& t : task) stats.push_back(&t);
  for (RunningStat& e : each) stats.push_back(&e);
  std::vector<double> v;
  for (const RunningStat* st : stats) v.insert(v.end(), {st->sum, st->sq, double(st->n)});
  v.insert(v.end(), {double(rollouts), double(skipped), double(groups_kept), double(groups_dropped),
                     double(groups_redrawn)});
  for (int64_t kept : task_groups_kept) v.push_back(double(kept));
  // The extremes of the ranks that have lengths, read before the sums overwrite len.n.
  const std::vector<double> ext = all_gather_values(comm, {double(len.n), double(len_min), double(len_max)});
  comm.all_reduce_sum(v.data(), int64_t(v.size()));
  size_t k = 0;
  for (RunningStat* st : stats) {
    st->sum = v[k++];
    st->sq = v[k++];
    st->n = int64_t(v[k++]);
  }
  rollouts = int64_t(v[k++]);
  skipped = int64_t(v[k++]);
  groups_kept = int64_t(v[k++]);
  groups_dropped = int64_t(v[k++]);
  groups_redrawn = int64_t(v[k++]);
  for (int64_t& kept : task_groups_kept) kept = int64_t(v[k++]);
  bool any = false;
  for (size_t r = 0; r < ext.size(); r += 3) {
    if (ext[r] == 0) continue;
    const int64_t lo = int64_t(ext[r + 1]), hi = int64_t(ext[r + 2]);
    len_min = any ? std::min(len_min, lo) : lo;
    len_max = any ? std::max(len_max, hi) : hi;
    any = true;
  }
}

void RlRolloutTally::fill(RlStepRecord& rec) const {
  rec.rollouts = rollouts;
  rec.skipped = skipped;
  rec.groups_kept = groups_kept;
  rec.groups_dropped = groups_dropped;
  rec.groups_redrawn = groups_redrawn;
  rec.reward_mean = total.mean();
  rec.reward_std = total.sd();
  for (int k = 0; k < kNumRlTasks; ++k) {
    rec.task_reward_mean[k] = task[k].mean();
    rec.task_rollouts[k] = task[k].n;
    rec.task_groups_kept[k] = task_groups_kept[k];
  }
  rec.each_mean.clear();
  rec.each_std.clear();
  for (const RunningStat& e : each) {
    rec.each_mean.push_back(e.mean());
    rec.each_std.push_back(e.sd());
  }
  rec.len_mean = len.mean();
  rec.len_min = len.n ? len_min : 0;
  rec.len_max = len.n ? len_max : 0;
}

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

RlTrainer::RlTrainer(const RlConfig& cfg, std::unique_ptr<Communicator> comm) : cfg_(cfg), rng_{cfg.run.seed} {
  enc_ = make_text_encoder(cfg_.tokenizer);
  const ModelConfig mcfg = ModelConfig::load((fs::path(cfg_.init_from) / "config.json").string());
  MMADA_CHECK(mcfg.vocab >= enc_->vocab_size(), "model vocab ", mcfg.vocab,
              " is smaller than the tokenizer's ", enc_->vocab_size());
  MMADA_CHECK(mcfg.mask_token_id == enc_->tokens().mask, "model mask_token_id ",
              mcfg.mask_token_id, " differs from the tokenizer's [MASK] ", enc_->tokens().mask);
  if (cfg_.has_task(RlTask::Text)) prompts_ = load_rl_prompts(cfg_.prompts_path, *enc_, cfg_.on_malformed);
  if (cfg_.has_task(RlTask::T2i) || cfg_.has_task(RlTask::Mmu))
    images_ = std::make_unique<ImageRollouts>(cfg_, *enc_, mcfg);
  for (const RewardSpec& s : cfg_.rewards) {
    rewards_.add(make_reward(s, images_.get()), s.weight, s.tasks);
    if (s.type == "clip" && images_ && (s.tasks & task_bit(RlTask::T2i))) images_->want_png();
  }
  end_ids_ = {enc_->tokens().eos, enc_->encode("<|eot_id|>").at(0)};

  run_ = TrainingRun(mcfg, cfg_.optim, cfg_.run, "mmada rl",
                     [&] { return load_master_weights(cfg_.init_from, mcfg); }, std::move(comm));
  run_.tokenizer_dir = enc_->tokenizer_dir();
  rank_prompts(cfg_.prompts_per_step(), run_.dist.rank, run_.dist.world);  // fails early if too few
  // The frozen reference is the initial model, also after a resume; it lives where the policy
  // runs (uploaded once to the GPU with device cuda).
  if (cfg_.unigrpo.beta > 0 && cfg_.unigrpo.kl_reference == KlReference::Ref)
    run_.compute().set_reference(load_master_weights(cfg_.init_from, mcfg));
}

RlTrainer::~RlTrainer() = default;

RolloutGroup RlTrainer::text_rollout(const LogitsFn& network, int64_t s, int64_t p, uint64_t seed) const {
  const int64_t G = cfg_.unigrpo.group_size;
  const RowTokens& tk = enc_->tokens();
  const size_t idx = std::min(prompts_.size() - 1,
                              size_t(rng_.uniform(kStreamPrompt + uint64_t(s), uint64_t(p)) * double(prompts_.size())));
  const RlPrompt& prompt = prompts_[idx];
  const int64_t P = int64_t(prompt.ids.size());
  TextSamplerParams sp = cfg_.rollout_sampler(tk.mask, end_ids_, tk.eos, seed);
  sp.gen_length = cfg_.gen_length > 0 ? cfg_.gen_length : cfg_.row_length - P;
  MMADA_CHECK(sp.gen_length > 0, "prompt \"", prompt.question, "\" has ", P,
              " tokens, no room in rollout.row_length ", cfg_.row_length);
  sp.block_length = cfg_.block_length > 0 ? cfg_.block_length : sp.gen_length;
  sp.steps = cfg_.sampler_steps > 0 ? cfg_.sampler_steps : sp.gen_length;
  try {
    sp.validate();
  } catch (const Error& e) {
    fail("rollout settings for prompt \"", prompt.question, "\" (response length ", sp.gen_length, "): ", e.what());
  }
  std::vector<int64_t> prompt_rows;
  for (int64_t i = 0; i < G; ++i) prompt_rows.insert(prompt_rows.end(), prompt.ids.begin(), prompt.ids.end());
  const TextSamplerResult out = generate_text(network, prompt_rows, G, P, nullptr, sp);
  RolloutGroup g;
  g.task = RlTask::Text;
  g.prefix = prompt.ids;
  g.label = "\"" + prompt.question + "\"";
  for (int64_t i = 0; i < G; ++i) {
    std::vector<int64_t> r(out.ids.begin() + i * out.L + P, out.ids.begin() + (i + 1) * out.L);
    const int64_t content = eligible_length(r, end_ids_, 0);
    RewardInput in;
    in.task = RlTask::Text;
    in.prompt = prompt.question;
    in.response = enc_->decode(std::vector<int64_t>(r.begin(), r.begin() + content));
    in.reference = prompt.reference;
    g.eligible.push_back(eligible_length(r, end_ids_, cfg_.unigrpo.post_num));
    g.responses.push_back(std::move(r));
    g.inputs.push_back(std::move(in));
  }
  return g;
}

RlStepRecord RlTrainer::step() {
  const auto t0 = std::chrono::steady_clock::now();
  const ModelConfig& mcfg = run_.mcfg;
  const UniGrpoConfig& ug = cfg_.unigrpo;
  const int64_t G = ug.group_size, NP = cfg_.prompts_per_step(), s = run_.state.step;
  const RowTokens& tk = enc_->tokens();
  TrainCompute& tc = run_.compute();
  Communicator& comm = tc.comm();
  const RlPromptRange mine = rank_prompts(NP, comm.rank(), comm.world());
  RlStepRecord rec;
  rec.step = s + 1;

  // The training forward (CPU or CUDA) as the samplers' network: rollouts use the engine's own
  // decoders.
  const TrainForwardFn forward = [&tc](const TrainBatch& b) { return tc.forward(b); };
  const LogitsFn network = training_logits_fn(mcfg, forward);

  struct Group {
    RolloutGroup r;
    std::vector<uint8_t> valid;
    std::vector<double> adv;  // per valid response, in order
    bool kept = false;
    // Per inner step: the masked rows of the valid responses and their recorded ℓ^old, ℓ^ref.
    std::vector<std::vector<MaskedRow>> rows;
    std::vector<std::vector<double>> l_old, l_ref;
  };
  // This rank's groups: prompts [mine.first, mine.end) of the step; p is always the global index.
  std::vector<Group> groups(static_cast<size_t>(mine.end - mine.first));
  auto group_of = [&](int64_t p) -> Group& { return groups[size_t(p - mine.first)]; };
  RlRolloutTally tally(rewards_.size());
  // Rolls out draw q of the step for a group of `task`, scores it and sets g's responses,
  // validity and advantages; returns the number of valid rewards.
  auto roll_out = [&](Group& g, RlTask task, int64_t q) {
    const uint64_t seed = rng_.bits(kStreamRollout + uint64_t(s), uint64_t(q));
    g.r = task == RlTask::Text  ? text_rollout(network, s, q, seed)
          : task == RlTask::T2i ? images_->t2i(forward, s, q, seed)
                                : images_->mmu(forward, s, q, seed, end_ids_, ug.post_num);
    g.valid.clear();
    std::vector<double> valid_rewards;
    for (int64_t i = 0; i < G; ++i) {
      const RewardInput& in = g.r.inputs[size_t(i)];
      const RewardScores sc = rewards_.score(in);
      ++tally.rollouts;
      tally.add_length(g.r.eligible[size_t(i)]);
      if (rec.samples.size() < 2)
        rec.samples.push_back(g.r.label + " => " +
                              (task == RlTask::T2i ? str_cat(in.image_codes.size(), " codes, reward ", sc.total) : in.response));
      if (!sc.ok) {
        ++tally.skipped;
        if (++warnings_ <= 20)
          std::fprintf(stderr, "mmada rl: warning: step %lld, prompt %s, rollout %lld skipped: reward %s\n",
                       (long long)(s + 1), g.r.label.c_str(), (long long)i, sc.failed.c_str());
        g.valid.push_back(0);
        continue;
      }
      g.valid.push_back(1);
      valid_rewards.push_back(sc.total);
      tally.total.add(sc.total);
      tally.task[int(task)].add(sc.total);
      for (size_t k = 0; k < tally.each.size(); ++k)
        if (sc.applied[k]) tally.each[k].add(sc.each[k]);
    }
    g.adv = group_advantages(valid_rewards);
    return valid_rewards.size();
  };
  for (int64_t p = mine.first; p < mine.end; ++p) {
    Group& g = group_of(p);
    const RlTask task = task_of_prompt(cfg_.task_share, p, NP);
    // Draw a of slot p is draw index p + a·NP of the step (its prompt and rollout seed): draw 0
    // is the slot's own, a redraw one no other slot uses. A group whose rewards all failed is
    // not redrawn.
    for (int64_t a = 0;; ++a) {
      const size_t valid = roll_out(g, task, p + a * NP);
      const bool informative = std::any_of(g.adv.begin(), g.adv.end(), [](double v) { return v != 0; });
      g.kept = valid > 0 && (informative || !ug.drop_equal_groups);
      if (g.kept || valid == 0 || a == ug.redraw_equal_groups) break;
      ++tally.groups_redrawn;
    }
    (g.kept ? tally.groups_kept : tally.groups_dropped) += 1;
    if (g.kept) ++tally.task_groups_kept[int(task)];
  }
  tally.reduce(comm);
  tally.fill(rec);

  // θ_old = θ: record ℓ^old (and ℓ^ref) on every inner step's masks before any update.
  double responses = 0;  // B of the objective: the kept valid responses of every rank
  for (int64_t p = mine.first; p < mine.end; ++p) {
    Group& g = group_of(p);
    if (!g.kept) continue;
    const std::string what = str_cat("RL step ", s + 1, ", prompt ", g.r.label);
    for (int64_t n = 0; n < ug.mu; ++n) {
      std::vector<MaskedRow> rows;
      for (int64_t i = 0; i < G; ++i) {
        if (!g.valid[size_t(i)]) continue;
        const int64_t draw = ug.group_masks ? 0 : i;  // whose random numbers mask response i
        const double ratio = mask_ratio(ug, rng_, s, n, p * G + draw);
        rows.push_back(masked_rollout_row(g.r, size_t(i), ratio, ug.mask_sampling, tk.mask, rng_,
                                          fold({kStreamMask, uint64_t(s), uint64_t(p), uint64_t(n), uint64_t(draw)})));
      }
      g.l_old.push_back(masked_logprobs(mcfg, tc, rows, what));
      if (ug.beta > 0)
        g.l_ref.push_back(ug.kl_reference == KlReference::Old ? g.l_old.back()
                                                               : reference_logprobs(mcfg, tc, rows, what));
      else
        g.l_ref.emplace_back();
      g.rows.push_back(std::move(rows));
    }
    responses += double(g.rows[0].size());
  }
  comm.all_reduce_sum(&responses, 1);
  const int64_t B = int64_t(responses);
  const auto t1 = std::chrono::steady_clock::now();
  double seconds[2] = {std::chrono::duration<double>(t1 - t0).count(), 0};

  // µ updates on the same responses, mask n for update n; every rank takes part in each (the
  // gradient sum and AdamW are collective), with or without groups of its own.
  int64_t tokens = 0, clipped = 0;
  double kl_sum = 0;
  for (int64_t n = 0; n < ug.mu && B > 0; ++n) {
    tc.zero_grads();
    ObjectiveSums sum;
    for (int64_t p = mine.first; p < mine.end; ++p) {
      Group& g = group_of(p);
      if (!g.kept) continue;
      std::vector<ResponseTokens> rt;
      size_t a = 0;
      for (int64_t i = 0; i < G; ++i) {
        if (!g.valid[size_t(i)]) continue;
        ResponseTokens t;
        t.advantage = g.adv[a++];
        t.response_length = g.r.eligible[size_t(i)];
        rt.push_back(std::move(t));
      }
      const std::string what = str_cat("RL step ", s + 1, ", update ", n + 1, ", prompt ", g.r.label);
      const ObjectiveSums gs = unigrpo_group_backward(mcfg, tc, g.rows[size_t(n)], g.l_old[size_t(n)],
                                                      g.l_ref[size_t(n)], rt, B, ug, what);
      sum.loss += gs.loss;
      sum.policy += gs.policy;
      sum.kl += gs.kl;
      sum.tokens += gs.tokens;
      sum.clipped += gs.clipped;
    }
    // Summed over the ranks before the check, so every rank stops together on a bad loss.
    double sums[5] = {sum.loss, sum.policy, sum.kl, double(sum.tokens), double(sum.clipped)};
    comm.all_reduce_sum(sums, 5);
    MMADA_CHECK(std::isfinite(sums[0]), "non-finite UniGRPO loss at RL step ", s + 1, ", update ",
                n + 1, "; stopped, the last good checkpoint is ", checkpoint_dir());
    rec.grad_norm = tc.reduce_and_clip();
    MMADA_CHECK(std::isfinite(rec.grad_norm), "non-finite gradient norm at RL step ", s + 1,
                ", update ", n + 1, "; stopped, the last good checkpoint is ", checkpoint_dir());
    const int64_t os = tc.optimizer_steps();
    const OptimConfig& oc = cfg_.optim;
    rec.lr = cfg_.cosine ? lr_at(oc, os)
             : os < oc.warmup_steps ? oc.lr * double(os) / double(oc.warmup_steps)
                                    : oc.lr;
    tc.step(rec.lr);
    rec.loss += sums[0] / double(ug.mu);
    rec.policy += sums[1] / double(ug.mu);
    kl_sum += sums[2];
    tokens += int64_t(sums[3]);
    clipped += int64_t(sums[4]);
  }
  rec.kl = tokens ? kl_sum / double(tokens) : 0;
  rec.clip_frac = tokens ? double(clipped) / double(tokens) : 0;
  run_.state.step = s + 1;
  run_.state.micro_step = run_.state.step;
  // The step lasts as long as its slowest rank.
  seconds[1] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  const std::vector<double> all = all_gather_values(comm, {seconds[0], seconds[1]});
  for (size_t r = 0; r < all.size(); r += 2) {
    rec.rollout_seconds = std::max(rec.rollout_seconds, all[r]);
    rec.update_seconds = std::max(rec.update_seconds, all[r + 1]);
  }
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
                  {"groups_redrawn", r.groups_redrawn},
                  {"lr", r.lr},
                  {"grad_norm", r.grad_norm},
                  {"rollout_seconds", r.rollout_seconds},
                  {"update_seconds", r.update_seconds}};
        for (size_t k = 0; k < rewards_.size(); ++k) {
          j["reward_" + rewards_.name(k) + "_mean"] = r.each_mean[k];
          j["reward_" + rewards_.name(k) + "_std"] = r.each_std[k];
        }
        int tasks = 0;
        for (int k = 0; k < kNumRlTasks; ++k) tasks += cfg_.has_task(RlTask(k));
        for (int k = 0; tasks > 1 && k < kNumRlTasks; ++k)
          if (cfg_.has_task(RlTask(k))) {
            j[str_cat("task_", rl_task_name(RlTask(k)), "_reward_mean")] = r.task_reward_mean[k];
            j[str_cat("task_", rl_task_name(RlTask(k)), "_rollouts")] = r.task_rollouts[k];
            j[str_cat("task_", rl_task_name(RlTask(k)), "_groups_kept")] = r.task_groups_kept[k];
          }
        return j;
      },
      on_step);
}

}  // namespace mmada::train
