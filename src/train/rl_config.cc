#include "train/rl_config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "train/json_section.h"
#include "train/run_settings.h"
#include "train/text_encoder.h"
#include "train/train_config.h"

namespace mmada::train {

RlConfig RlConfig::from_json_text(const std::string& text, const std::string& where) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    fail(where, ": not valid JSON: ", e.what());
  }
  RlConfig c;
  const Section top(root, where,
                    with_run_keys({"model", "tokenizer", "task", "data", "rollout", "unigrpo",
                                   "rewards", "optim", "steps"}));
  const Section m = top.sub("model", {"init_from"});
  c.init_from = m.str("init_from", "");
  MMADA_CHECK(!c.init_from.empty(), where,
              ".model.init_from is required (RL starts from a trained model, which is also the "
              "frozen KL reference)");
  c.tokenizer = top.str("tokenizer", default_tokenizer_spec(c.init_from));

  // "task": one of text / t2i / mmu, or {"text": w, "t2i": w, "mmu": w} shares of the prompts.
  if (top.has("task")) {
    const json& t = top.j["task"];
    const char* names[kNumRlTasks] = {"text", "t2i", "mmu"};
    std::fill(std::begin(c.task_share), std::end(c.task_share), 0.0);
    if (t.is_string()) {
      const std::string v = top.str("task", "", {"text", "t2i", "mmu"});
      for (int k = 0; k < kNumRlTasks; ++k) c.task_share[k] = v == names[k] ? 1.0 : 0.0;
    } else {
      MMADA_CHECK(t.is_object(), where, ".task must be \"text\", \"t2i\", \"mmu\" or an object of shares "
                  "such as {\"t2i\": 1, \"mmu\": 1}, got ", t.dump());
      const Section ts = top.sub("task", {"text", "t2i", "mmu"});
      double sum = 0;
      for (int k = 0; k < kNumRlTasks; ++k) sum += c.task_share[k] = ts.num(names[k], 0, 0, 1e6);
      MMADA_CHECK(sum > 0, where, ".task: every share is 0");
      for (double& v : c.task_share) v /= sum;
    }
  }
  const bool text_task = c.has_task(RlTask::Text), images = c.has_task(RlTask::T2i) || c.has_task(RlTask::Mmu);

  const Section d = top.sub("data", {"prompts", "on_malformed", "images"});
  c.prompts_path = d.str("prompts", "");
  MMADA_CHECK(!text_task || !c.prompts_path.empty(), where, ".data.prompts is required for the text task (a chat JSONL file)");
  c.on_malformed = d.str("on_malformed", "stop", {"skip", "stop"}) == "skip" ? OnMalformed::Skip
                                                                           : OnMalformed::Stop;
  c.has_images = d.has("images");
  MMADA_CHECK(!images || c.has_images, where,
              ".data.images (the class-labelled IDX folder and its VQ, as in mmada train) is required for the "
              "t2i and mmu tasks");
  if (c.has_images) {
    std::set<std::string> keys = image_source_keys();
    keys.erase("mmu_code_mask");  // a training-row regulariser: UniGRPO's prompts show whole images
    c.images = parse_image_source(d.sub("images", keys));
  }

  const Section r = top.sub("rollout", {"row_length", "gen_length", "block_length", "steps",
                                        "temperature", "remasking", "threshold", "text_slots", "t2i"});
  c.row_length = r.integer("row_length", 0, 0, 1 << 20);
  c.gen_length = r.integer("gen_length", 0, 0, 1 << 20);
  MMADA_CHECK(!text_task || (c.row_length > 0) != (c.gen_length > 0), where,
              ".rollout: give exactly one of \"row_length\" (responses fill the row after the "
              "prompt) and \"gen_length\" (a fixed response length)");
  MMADA_CHECK(!r.has("text_slots") || images, where, ".rollout.text_slots only applies to the t2i and mmu tasks");
  c.text_slots = r.integer("text_slots", 128, 2, 1 << 20);
  MMADA_CHECK(!r.has("t2i") || c.has_task(RlTask::T2i), where, ".rollout.t2i needs the t2i task");
  {
    const Section t = r.sub("t2i", {"timesteps", "guidance", "temperature", "pad_attention"});
    c.t2i.timesteps = t.integer("timesteps", 12, 1, 1 << 20);
    c.t2i.guidance = t.num("guidance", 0, 0, 100);
    c.t2i.temperature = t.num("temperature", 1.0, 0, 100);
    c.t2i.hard_pad_attention = t.str("pad_attention", "none", {"none", "hard"}) == "hard";
  }
  c.block_length = r.integer("block_length", 0, 0, 1 << 20);
  c.sampler_steps = r.integer("steps", 0, 0, 1 << 20);
  if (c.gen_length > 0) {
    const int64_t bl = c.block_length ? c.block_length : c.gen_length;
    MMADA_CHECK(c.gen_length % bl == 0, where, ".rollout.gen_length ", c.gen_length,
                " is not a multiple of block_length ", bl);
    MMADA_CHECK(c.sampler_steps == 0 || c.sampler_steps % (c.gen_length / bl) == 0, where,
                ".rollout.steps ", c.sampler_steps, " must be a multiple of the number of blocks ",
                c.gen_length / bl);
  }
  c.temperature = r.num("temperature", 0.8, 0, 100);
  c.remasking = remasking_from_name(r.str("remasking", "low_confidence", {"low_confidence", "random"}));
  c.threshold = r.num("threshold", 0, 0, 0.999999);
  MMADA_CHECK(c.threshold == 0 || c.remasking == Remasking::LowConfidence, where,
              ".rollout.threshold needs remasking \"low_confidence\"");

  const Section u = top.sub("unigrpo", {"batch_size", "group_size", "mu", "ratio_schedule",
                                        "timesteps", "iid_range", "mask_sampling", "group_masks", "clip_eps",
                                        "beta", "kl_estimator", "kl_max", "kl_reference", "kl_aggregation",
                                        "token_norm", "post_num", "drop_equal_groups",
                                        "redraw_equal_groups"});
  UniGrpoConfig& g = c.unigrpo;
  c.batch_size = u.integer("batch_size", 16, 1);
  g.group_size = u.integer("group_size", 8, 2);
  MMADA_CHECK(c.batch_size % g.group_size == 0, where, ".unigrpo: group_size ", g.group_size,
              " does not divide batch_size ", c.batch_size,
              " (every prompt gets exactly group_size responses)");
  g.mu = u.integer("mu", 4, 1, 1000);
  const std::string sched = u.str("ratio_schedule", "paper_spaced", {"paper_spaced", "iid_uniform", "full"});
  g.schedule = sched == "iid_uniform" ? RatioSchedule::IidUniform
               : sched == "full"      ? RatioSchedule::Full
                                      : RatioSchedule::PaperSpaced;
  g.timesteps = u.integer("timesteps", 1000, 1, 1 << 30);
  if (u.has("iid_range")) {
    const json& ir = u.j["iid_range"];
    MMADA_CHECK(ir.is_array() && ir.size() == 2 && ir[0].is_number() && ir[1].is_number(), where,
                ".unigrpo.iid_range must be [lo, hi]");
    g.iid_lo = ir[0].get<double>();
    g.iid_hi = ir[1].get<double>();
    MMADA_CHECK(0 <= g.iid_lo && g.iid_lo <= g.iid_hi && g.iid_hi <= 1, where,
                ".unigrpo.iid_range must satisfy 0 <= lo <= hi <= 1, got [", g.iid_lo, ", ",
                g.iid_hi, "]");
  }
  g.mask_sampling = u.str("mask_sampling", "bernoulli", {"bernoulli", "exact_count"}) == "exact_count"
                        ? MaskSampling::ExactCount
                        : MaskSampling::Bernoulli;
  g.group_masks = u.boolean("group_masks", false);
  g.clip_eps = u.num("clip_eps", 0.2, 0, 1, true);
  g.beta = u.num("beta", 0.01, 0, 1e6);
  const std::string est = u.str("kl_estimator", "k3", {"k1", "k2", "k3"});
  g.kl_estimator = est == "k1" ? KlEstimator::K1 : est == "k2" ? KlEstimator::K2 : KlEstimator::K3;
  g.kl_max = u.num("kl_max", 0, 0, 1e9);
  g.kl_reference = u.str("kl_reference", "ref", {"ref", "old"}) == "old" ? KlReference::Old
                                                                         : KlReference::Ref;
  g.kl_aggregation = u.str("kl_aggregation", "token_mean", {"token_mean", "sum"}) == "sum"
                         ? KlAggregation::Sum
                         : KlAggregation::TokenMean;
  g.token_norm = u.str("token_norm", "masked_count", {"masked_count", "response_length"}) ==
                         "response_length"
                     ? TokenNorm::ResponseLength
                     : TokenNorm::MaskedCount;
  g.post_num = u.integer("post_num", 1, 0, 1 << 20);
  g.drop_equal_groups = u.boolean("drop_equal_groups", true);
  g.redraw_equal_groups = u.integer("redraw_equal_groups", 0, 0, 64);
  MMADA_CHECK(g.redraw_equal_groups == 0 || g.drop_equal_groups, where,
              ".unigrpo.redraw_equal_groups needs drop_equal_groups (a kept group is never redrawn)");

  // Rewards: default the paper's text pair, correctness 2.0 + format 0.5 (and, with the mmu task,
  // the class-name correctness 2.0); t2i has no default (its classifier must be named).
  if (!top.has("rewards")) {
    RewardSpec correctness, format, class_name;
    correctness.type = correctness.name = "correctness";
    correctness.weight = 2.0;
    correctness.tasks = task_bit(RlTask::Text);
    format.type = format.name = "format";
    format.weight = 0.5;
    format.tasks = task_bit(RlTask::Text);
    class_name.type = class_name.name = "class_name";
    class_name.weight = 2.0;
    class_name.tasks = task_bit(RlTask::Mmu);
    if (text_task) c.rewards = {correctness, format};
    if (c.has_task(RlTask::Mmu)) c.rewards.push_back(class_name);
  } else {
    MMADA_CHECK(top.j["rewards"].is_array() && !top.j["rewards"].empty(), where,
                ".rewards must be a non-empty array");
    for (size_t i = 0; i < top.j["rewards"].size(); ++i) {
      const Section s(top.j["rewards"][i], where + ".rewards[" + std::to_string(i) + "]",
                      {"type", "name", "weight", "command", "url", "timeout_s", "model", "text", "score", "tasks"});
      RewardSpec spec;
      spec.type = s.str("type", "", {"correctness", "format", "command", "http", "clip", "class_name", "classifier"});
      MMADA_CHECK(!spec.type.empty(), s.where, ".type is required");
      spec.name = s.str("name", spec.type);
      const double dflt = spec.type == "correctness" || spec.type == "class_name" ? 2.0
                          : spec.type == "format"    ? 0.5
                          : spec.type == "clip"      ? 0.1
                                                     : 1.0;
      spec.weight = s.num("weight", dflt, -1e6, 1e6);
      MMADA_CHECK(spec.type == "command" || !s.has("command"), s.where, ": \"command\" only applies to type \"command\"");
      MMADA_CHECK(spec.type == "http" || !s.has("url"), s.where, ": \"url\" only applies to type \"http\"");
      MMADA_CHECK(spec.type == "command" || spec.type == "http" || !s.has("timeout_s"), s.where,
                  ": \"timeout_s\" only applies to types \"command\" and \"http\"");
      if (spec.type == "command") {
        spec.command = s.str("command", "");
        MMADA_CHECK(!spec.command.empty(), s.where, ".command is required for a command reward");
      }
      if (spec.type == "http") {
        spec.url = s.str("url", "");
        MMADA_CHECK(!spec.url.empty(), s.where, ".url is required for an http reward");
      }
      MMADA_CHECK(spec.type == "clip" || !s.has("text"), s.where, ": \"text\" only applies to type \"clip\"");
      MMADA_CHECK(spec.type == "clip" || spec.type == "classifier" || !s.has("model"), s.where,
                  ": \"model\" only applies to types \"clip\" and \"classifier\"");
      MMADA_CHECK(spec.type == "classifier" || !s.has("score"), s.where, ": \"score\" only applies to type \"classifier\"");
      if (spec.type == "classifier") {
        spec.model = s.str("model", "");
        MMADA_CHECK(!spec.model.empty(), s.where,
                    ".model (a folder written by mmada train-classifier) is required for a classifier reward");
        spec.score = s.str("score", "correct", {"prob", "correct"});
      }
      // Which rollouts it scores: by default the tasks its type makes sense for.
      spec.tasks = spec.type == "correctness" || spec.type == "format" ? task_bit(RlTask::Text)
                   : spec.type == "class_name"                          ? task_bit(RlTask::Mmu)
                   : spec.type == "classifier"                          ? task_bit(RlTask::T2i)
                                                                        : kAllRlTasks;
      if (s.has("tasks")) {
        const json& a = s.j["tasks"];
        MMADA_CHECK(a.is_array() && !a.empty(), s.where, ".tasks must be a non-empty array of \"text\", \"t2i\", \"mmu\"");
        spec.tasks = 0;
        for (const json& e : a) {
          const std::string v = e.is_string() ? e.get<std::string>() : "";
          MMADA_CHECK(v == "text" || v == "t2i" || v == "mmu", s.where, ".tasks: ", e.dump(),
                      " is not \"text\", \"t2i\" or \"mmu\"");
          spec.tasks |= task_bit(v == "text" ? RlTask::Text : v == "t2i" ? RlTask::T2i : RlTask::Mmu);
        }
      }
      MMADA_CHECK(spec.type != "classifier" || spec.tasks == task_bit(RlTask::T2i), s.where,
                  ": a classifier reward scores t2i images only (\"tasks\": [\"t2i\"])");
      MMADA_CHECK(spec.type != "class_name" || spec.tasks == task_bit(RlTask::Mmu), s.where,
                  ": a class_name reward scores mmu answers only (\"tasks\": [\"mmu\"])");
      MMADA_CHECK((spec.type != "classifier" && spec.type != "class_name") || c.has_images, s.where,
                  ": type \"", spec.type, "\" needs data.images (its class names)");
      if (spec.type == "clip") {
        spec.model = s.str("model", "");
        MMADA_CHECK(!spec.model.empty(), s.where, ".model (a Hugging Face CLIP folder) is required for a clip reward");
        spec.text = s.str("text", "prompt", {"prompt", "response"});
      }
      if (spec.type == "command" || spec.type == "http") spec.timeout_s = s.num("timeout_s", 10, 0, 86400, true);
      for (const RewardSpec& o : c.rewards)
        MMADA_CHECK(o.name != spec.name, s.where, ": duplicate reward name \"", spec.name, "\"");
      c.rewards.push_back(spec);
    }
  }

  for (int k = 0; k < kNumRlTasks; ++k) {
    if (c.task_share[k] == 0) continue;
    const RlTask t = RlTask(k);
    const bool any = std::any_of(c.rewards.begin(), c.rewards.end(),
                                 [&](const RewardSpec& sp) { return (sp.tasks & task_bit(t)) != 0; });
    MMADA_CHECK(any, where, ": no reward scores the ", rl_task_name(t), " task",
                t == RlTask::T2i ? " (add {\"type\": \"classifier\", \"model\": DIR} from mmada train-classifier)"
                : t == RlTask::Mmu ? " (add {\"type\": \"class_name\"})" : "");
  }
  for (const RewardSpec& sp : c.rewards) {
    bool used = false;
    for (int k = 0; k < kNumRlTasks; ++k) used |= c.task_share[k] > 0 && (sp.tasks & task_bit(RlTask(k)));
    MMADA_CHECK(used, where, ": reward \"", sp.name, "\" scores none of the run's tasks");
  }

  const Section o = top.sub("optim", {"lr", "warmup_steps", "schedule", "beta1", "beta2", "eps",
                                      "weight_decay", "grad_clip"});
  OptimConfig& oc = c.optim;
  oc.lr = o.num("lr", 1e-6, 0, 10, true);
  oc.warmup_steps = o.integer("warmup_steps", 0, 0);
  c.cosine = o.str("schedule", "constant", {"constant", "cosine"}) == "cosine";
  oc.beta1 = o.num("beta1", 0.9, 0, 0.999999);
  oc.beta2 = o.num("beta2", 0.999, 0, 0.999999999);
  oc.eps = o.num("eps", 1e-8, 0, 1, true);
  oc.weight_decay = o.num("weight_decay", 0.0, 0, 1);
  oc.grad_clip = o.num("grad_clip", 1.0, 0, 1e9);

  MMADA_CHECK(top.has("steps"), where, ": \"steps\" is required");
  c.steps = top.integer("steps", 0, 1);
  oc.max_train_steps = c.steps * g.mu;  // optimiser updates of the whole run
  MMADA_CHECK(oc.max_train_steps > oc.warmup_steps, where,
              ".optim.warmup_steps must be below steps × mu (", oc.max_train_steps, ")");
  c.run = parse_run_settings(top, "rl_log.jsonl");
  return c;
}

TextSamplerParams RlConfig::rollout_sampler(int64_t mask_id, const std::vector<int64_t>& end_ids, int64_t eos,
                                           uint64_t seed) const {
  TextSamplerParams sp;
  sp.temperature = temperature;
  sp.remasking = remasking;
  sp.threshold = threshold;
  sp.mask_id = mask_id;
  sp.seed = seed;
  sp.end_ids = end_ids;
  sp.end_fill_id = eos;
  return sp;
}

RlConfig RlConfig::load(const std::string& path) {
  std::ifstream in(path);
  MMADA_CHECK(in.good(), path, ": cannot read the RL config");
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), path);
}

}  // namespace mmada::train
