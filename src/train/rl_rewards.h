// UniGRPO rewards (spec/unigrpo.md §5), behind one interface so the RL loop never knows which
// scorer it runs:
//   correctness  maths answer check: the answer is extracted (§5.3: last \boxed{}, else the
//                text after </think>, else the last number; a reference may use GSM8K's
//                "#### 42"), normalised (§5.2 (a)) and compared numerically when both parse
//                (integers, decimals, simple fractions a/b and \frac{a}{b}, percentages).
//   format       the Mixed-CoT structure: after trimming the response starts with <think>,
//                holds exactly one </think>, and has non-empty text after it.
//   command      an external scorer: a shell command gets {"prompt","response","reference"}
//                as JSON on stdin and prints one number. A time-out, a crash, a non-zero exit
//                or output that is not a finite number fails that rollout (std::nullopt); the
//                RL loop skips the rollout and counts a warning.
//   http         the same JSON POSTed to a scorer's URL; the answer's body is the number.
// Image rewards take RewardInput::image_png (CLIP) or image_codes (the classifier,
// image_reward.h); nothing here depends on the response being text. Each reward applies to a set
// of rollout tasks (text, t2i, mmu); RewardSet scores a rollout with the ones that apply.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mmada::train {

// The kind of rollout a reward scores.
enum class RlTask { Text = 0, T2i = 1, Mmu = 2 };
inline constexpr int kNumRlTasks = 3;
const char* rl_task_name(RlTask t);
// Bit set of tasks (bit t = RlTask t).
using RlTaskSet = unsigned;
inline constexpr RlTaskSet kAllRlTasks = 7u;
inline RlTaskSet task_bit(RlTask t) { return 1u << unsigned(t); }

struct RewardInput {
  std::string prompt;     // the user's question (last user message), or the t2i caption
  std::string response;   // the decoded response, up to its first end token ("" for t2i)
  std::string reference;  // the ground-truth answer or solution text, or the image's class name
  std::vector<uint8_t> image_png;     // text-to-image rollouts, when a reward wants pixels (CLIP)
  std::vector<int32_t> image_codes;   // text-to-image rollouts: the generated VQ codes [N]
  RlTask task = RlTask::Text;
};

class Reward {
 public:
  virtual ~Reward() = default;
  virtual const std::string& name() const = 0;
  // The score, or nullopt when the scorer failed (the rollout is then skipped, not scored 0).
  virtual std::optional<double> score(const RewardInput& in) = 0;
  // Why the last score() returned nullopt (for the warning line).
  virtual std::string last_failure() const { return ""; }
};

// --- answer extraction and comparison (exposed for tests) ---

// Content of the last brace-matched \boxed{...} ("" with found = false when there is none).
std::string last_boxed(const std::string& s, bool* found);
// The last number in s (digits with optional sign, thousands commas, decimal part, a/b), "" if none.
std::string last_number(const std::string& s);
// A response's answer: last \boxed{}, else the text after the last </think>, else the last number.
std::string extract_answer(const std::string& response);
// A reference's answer: the text after "####" if present (GSM8K), else extract_answer.
std::string extract_reference(const std::string& reference);
// §5.2 (a) normalisation: spaces, $, \!, \left/\right, degrees, \%, commas, \text{...} units,
// tfrac/dfrac -> frac; a trailing period.
std::string normalise_answer(std::string s);
// The value of a normalised number: integer, decimal, percentage (as the number), a/b, \frac{a}{b}.
std::optional<double> parse_number(const std::string& normalised);
// Equal as numbers (relative tolerance 1e-9, enough for float round-off of decimals and simple
// fractions but far below any distinct GSM8K answer) when both parse, else as normalised strings.
bool answers_equal(const std::string& got, const std::string& want);

// Whether the response has the Mixed-CoT <think>…</think>answer structure (format reward).
bool has_think_format(const std::string& response);

// --- the rewards ---

std::unique_ptr<Reward> make_correctness_reward();
std::unique_ptr<Reward> make_format_reward();
// `command` runs under /bin/sh -c in its own process group; killed (the group) after timeout_s.
std::unique_ptr<Reward> make_command_reward(const std::string& name, const std::string& command,
                                            double timeout_s);
// POSTs the same JSON to url (http://host[:port][/path]); a 200 answer whose body is one number
// is the score; anything else (refused, timed out after timeout_s, other status, garbage) fails.
std::unique_ptr<Reward> make_http_reward(const std::string& name, const std::string& url, double timeout_s);
// Image understanding (mmu): 1 if the answer names the reference class — the longest of
// `class_names` found in it, case-insensitive (class_named_in, image_data.h) — else 0. A
// reference that is not one of the names fails the rollout.
std::unique_ptr<Reward> make_class_name_reward(const std::string& name, std::vector<std::string> class_names);

// A weighted sum of rewards (paper: correctness 2.0, format 0.5).
struct WeightedReward {
  std::unique_ptr<Reward> reward;
  double weight = 1.0;
  RlTaskSet tasks = kAllRlTasks;  // the rollouts it scores
};

struct RewardScores {
  bool ok = true;               // every reward produced a number
  std::string failed;           // the name of the first reward that failed
  double total = 0;             // Σ weight·score
  std::vector<double> each;     // per reward, unweighted (0 where not computed)
  std::vector<uint8_t> applied; // per reward: 1 if it scored this rollout's task
};

class RewardSet {
 public:
  void add(std::unique_ptr<Reward> r, double weight, RlTaskSet tasks = kAllRlTasks);
  bool applies(size_t i, RlTask t) const { return (rewards_[i].tasks & task_bit(t)) != 0; }
  RewardScores score(const RewardInput& in) const;
  size_t size() const { return rewards_.size(); }
  const std::string& name(size_t i) const { return rewards_[i].reward->name(); }
  double weight(size_t i) const { return rewards_[i].weight; }

 private:
  std::vector<WeightedReward> rewards_;
};

}  // namespace mmada::train
