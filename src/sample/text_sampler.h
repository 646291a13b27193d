// LLaDA / MMaDA semi-autoregressive block diffusion for text and multimodal understanding
// (spec/sampling.md §1-2): blocks, an even transfer schedule, low-confidence or random
// remasking, Gumbel-max temperature sampling, classifier-free guidance.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend/cpu/pick.h"
#include "core/tensor.h"

namespace mmada {

// The network as the sampler sees it: tokens in, logits out. Returns [rows.size(), V] float32
// for rows b*L+i of the [B, L] canvas. token_mask ([B, L], 1 = real) is null when nothing is
// padded; it is then a pair mask (bidirectional).
using LogitsFn = std::function<Tensor(const std::vector<int64_t>& ids, int64_t B, int64_t L,
                                      const uint8_t* token_mask,
                                      const std::vector<int64_t>& rows)>;

// Optional fast path: the network and the per-position choice (cpu/pick.h) in one call, so
// logits never leave the backend. Used for every step without guidance.
using PickFn = std::function<std::vector<Pick>(
    const std::vector<int64_t>& ids, int64_t B, int64_t L, const uint8_t* token_mask,
    const std::vector<int64_t>& rows, double temperature, uint64_t seed,
    const std::vector<uint64_t>& streams, bool bf16_logits)>;

enum class Remasking { LowConfidence, Random };
Remasking remasking_from_name(const std::string& s);

// Approximate KV caches for block decoding (docs/fast-decoding.md). At the first step of each
// block (and every cache_refresh steps) the whole canvas runs and every layer's keys and values
// are kept; the other steps run only positions from the block start to the end of the canvas
// (Prefix) or only the block (Dual: the masked suffix's keys/values are cached too).
enum class CacheMode { None, Prefix, Dual };
CacheMode cache_mode_from_name(const std::string& s);
const char* cache_mode_name(CacheMode m);

// Which positions one step runs under a KV cache: the whole canvas, refreshing the cache, or
// positions [begin, end) of each row against the cached keys/values of the others.
struct CacheStep {
  bool refresh = true;
  int64_t begin = 0, end = 0;
};

// The network behind a KV cache for one generation (it owns the cache): the LogitsFn and PickFn
// of above with the step's CacheStep. pick may be empty (logits are then picked on the host).
struct CachedNetwork {
  std::function<Tensor(const std::vector<int64_t>& ids, int64_t B, int64_t L,
                       const uint8_t* token_mask, const std::vector<int64_t>& rows,
                       const CacheStep& step)>
      logits;
  std::function<std::vector<Pick>(const std::vector<int64_t>& ids, int64_t B, int64_t L,
                                  const uint8_t* token_mask, const std::vector<int64_t>& rows,
                                  double temperature, uint64_t seed,
                                  const std::vector<uint64_t>& streams, bool bf16_logits,
                                  const CacheStep& step)>
      pick;
};

struct TextSamplerParams {
  int64_t gen_length = 128;
  int64_t steps = 128;
  int64_t block_length = 128;
  double temperature = 0.0;
  double cfg_scale = 0.0;
  Remasking remasking = Remasking::LowConfidence;
  int64_t mask_id = 126336;
  uint64_t seed = 0;
  // Round logits (and the guidance arithmetic) to bf16 like the reference's bf16 model.
  bool bf16_logits = false;
  // Once a finished block ends a row's answer (an end id followed only by end ids), fill the
  // rest of that row with end_fill_id without running the network for it.
  bool early_stop = false;
  // Confidence-threshold parallel decoding (Fast-dLLM's rule): 0 = off, the exact fixed
  // schedule; otherwise each step commits every masked token of the block whose confidence
  // exceeds it (at least one), so a block may take fewer steps than steps / blocks.
  double threshold = 0;
  // Fast-dLLM's factor rule, the alternative to threshold: 0 = off; otherwise each step commits
  // the n most confident masked tokens of the block for the largest n with (m+1)·(1 − c_m) < factor
  // for every m = 2..n (c_m the m-th highest confidence); at least one.
  double factor = 0;
  // Approximate KV cache (needs a CachedNetwork); None keeps every step exact.
  CacheMode cache = CacheMode::None;
  // With a cache: also refresh it every cache_refresh steps inside a block (0 = only at block
  // starts; 1 = every step, which is the exact computation).
  int64_t cache_refresh = 0;
  std::vector<int64_t> end_ids = {126081, 126348};
  int64_t end_fill_id = 126081;

  // Throws mmada::Error for settings the algorithm cannot run.
  void validate() const;
};

struct TextStep {
  int64_t step = 0, total_steps = 0;  // steps done so far (1-based after a step), of total
  int64_t block = 0;
  const std::vector<int64_t>* canvas = nullptr;  // [B, P+G] after this step
  std::vector<int64_t> transferred;              // tokens committed per row this step
};
// Return false to cancel.
using TextStepCallback = std::function<bool(const TextStep&)>;

struct TextSamplerResult {
  std::vector<int64_t> ids;  // [B, P+G]
  int64_t B = 0, L = 0;
  int64_t network_calls = 0;
  int64_t cache_refreshes = 0;  // network calls that ran the whole canvas under a KV cache
  int64_t steps_skipped = 0;  // by early stop
  bool cancelled = false;
};

// prompt: [B, P] ids; prompt_mask: null, [B, P] or [B, P+G] (1 = real token; extended with
// ones over the canvas). The returned canvas holds prompt + answer. With p.cache set, every
// network call goes through `cached` (required then).
TextSamplerResult generate_text(const LogitsFn& model, const std::vector<int64_t>& prompt,
                                int64_t B, int64_t P, const std::vector<uint8_t>* prompt_mask,
                                const TextSamplerParams& p, const TextStepCallback& on_step = {},
                                const PickFn& picker = {}, const CachedNetwork& cached = {});

// The even transfer schedule: n tokens over s steps, remainder first.
std::vector<int64_t> split_transfers(int64_t n, int64_t s);

}  // namespace mmada
