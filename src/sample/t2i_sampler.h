// Text-to-image MaskGIT / MUSE sampling over MAGVIT-v2 codes (spec/sampling.md §4) and the
// T2I token layout (spec/prompting.md §5.3).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/special_tokens.h"

namespace mmada {

enum class MaskSchedule { Cosine, Linear, Sigmoid, Pow };
struct ScheduleSpec {
  MaskSchedule kind = MaskSchedule::Cosine;
  float power = 2.0f;  // for Pow ("pow2", "pow3", ...)
};
ScheduleSpec schedule_from_name(const std::string& s);
// floor(n * f((s+1)/S)) computed in float32 exactly as the reference, before any clamp.
int64_t schedule_mask_len(const ScheduleSpec& f, int64_t step, int64_t total_steps, int64_t n);


// One T2I row: [iPAD]* <|t2i|> BOS text EOS | <|soi|> M*n_image <|eoi|>, text part of
// `text_len` slots (513 for the released models), the ids (M = tk.mask) from `tk`. `text_ids`
// is the tokenised prompt (without BOS; a leading BOS is kept once). mask: 0 on the pads.
struct T2iRow {
  std::vector<int64_t> ids;
  std::vector<uint8_t> mask;
};
T2iRow build_t2i_row(const std::vector<int64_t>& text_ids, int64_t text_len, int64_t n_image,
                     const SpecialTokens& tk);

// Source of the two random inputs of each step; replaceable to replay recorded draws.
class T2iRandom {
 public:
  virtual ~T2iRandom() = default;
  // Step `step`'s categorical draws for the [B, N] slots when they are fixed in advance (replay),
  // else empty: the backend then draws each slot from its probabilities by Gumbel-max with
  // counter-based noise keyed by seed() and t2i::draw_stream(step, b, n) (cpu/t2i_draw.h), so the
  // noise is made where the logits are.
  virtual std::vector<int64_t> fixed_draws(int64_t step, int64_t B, int64_t N) = 0;
  virtual uint64_t seed() const = 0;
  // Standard Gumbel noise for the remasking confidence.
  virtual float gumbel(int64_t step, int64_t row, int64_t slot) = 0;
};

// Counter-based seeded draws (reproducible for a seed; PyTorch's stream is not reproduced).
class SeededT2iRandom : public T2iRandom {
 public:
  explicit SeededT2iRandom(uint64_t seed) : seed_(seed) {}
  std::vector<int64_t> fixed_draws(int64_t, int64_t, int64_t) override { return {}; }
  uint64_t seed() const override { return seed_; }
  float gumbel(int64_t step, int64_t row, int64_t slot) override;

 private:
  uint64_t seed_;
};

// One step's network call and draw, made where the logits live (make_t2i_fn in
// model/logits_fn.h), so only the drawn codes and their probabilities come back.
struct T2iDrawRequest {
  const std::vector<int64_t>* ids = nullptr;  // [rows, L]: B cond rows, then B uncond rows (cfg)
  int64_t rows = 0, L = 0;
  const uint8_t* mask = nullptr;              // [rows, L] token mask (pair bias; 0 = padding)
  std::vector<int64_t> slots;                 // r*L+i of the B*N cond slots, then the uncond ones
  bool cfg = false;
  double guidance = 0;
  bool bf16 = false;
  std::vector<int64_t> fixed;                 // [B*N] codes to take (replay), or empty
  uint64_t seed = 0;
  std::vector<uint64_t> streams;              // [B*N] draw streams when not fixed
  bool want_logits = false;                   // also return the guided logits [B*N, C]
  // Fast modes (T2iParams::context_refresh / cfg_refresh); all false is the exact computation.
  bool context_cache = false;  // run the cond and uncond rows apart, each behind a KV cache
  bool reuse_context = false;  // this step: only the image part runs, the text part's K/V are cached
  bool keep_uncond = false;    // keep this step's unconditional logits for later steps
  bool reuse_uncond = false;   // this step: take the kept unconditional logits, run the cond rows only
  bool cache_image = false;    // with context_cache: committed image codes' K/V stay cached too
  int64_t mask_id = -1;        // the [MASK] id in ids (which image slots are still to draw)
};
struct T2iDrawResult {
  std::vector<int64_t> codes;  // [B*N]
  std::vector<float> probs;    // [B*N] probability of each drawn code
  Tensor logits;               // host [B*N, C] when asked for
};
using T2iModelFn = std::function<T2iDrawResult(const T2iDrawRequest&)>;

struct T2iParams {
  int64_t timesteps = 15;
  double guidance = 3.5;
  double temperature = 1.0;
  ScheduleSpec schedule;
  int64_t codebook = 8192;
  int64_t image_offset = mmada_tokens::kImageCodeOffset;
  int64_t mask_id = 126336;
  bool bf16 = false;  // round guided logits, probabilities and confidences to bf16 (reference)
  // Bring each step's guided logits back to the host for T2iStep::logits (replay checks); off,
  // they never leave the backend.
  bool keep_logits = false;
  // Fast modes (docs/fast-decoding.md); the defaults are the exact sampler.
  // Recompute the text condition's keys/values every K steps and run only the image part on the
  // others (0: no cache).
  int64_t context_refresh = 0;
  // With context_refresh: keep the committed image codes' keys/values cached as well, so a step
  // between refreshes runs only the image slots masked at the previous step (the codes committed
  // since, with their new ids, and the slots still to draw).
  bool cache_image = false;
  // Run the unconditional branch every K steps and reuse its logits on the others (0, 1: every step).
  int64_t cfg_refresh = 0;
  // Also commit every masked slot whose drawn code has probability >= threshold (0: off); the
  // sampling ends early when no slot is left masked.
  double threshold = 0;
  void validate() const;
};

struct T2iStep {
  int64_t step = 0, total = 0;
  const std::vector<int64_t>* sampled = nullptr;  // [B, N] codes drawn this step
  // [B, N] committed codes, mask_id elsewhere (the reference's form; where the codebook reaches
  // mask_id, `masking` is the one that says which slots are undrawn)
  const std::vector<int64_t>* current = nullptr;
  // Replay/diagnostics: guided logits [B*N, C] (with T2iParams::keep_logits, else null),
  // probabilities of the drawn codes, mask_len,
  // the temperature used, and the remask decision.
  const float* logits = nullptr;
  std::vector<float> selected_probs;
  std::vector<int64_t> mask_len;
  double temperature = 0;
  std::vector<uint8_t> masking;  // [B*N] 1 = undrawn after this step
  const std::vector<int64_t>* model_input = nullptr;  // [B or 2B, L] rows fed to the network
  const std::vector<int64_t>* input_ids = nullptr;    // [B, L] cond rows after this step
};
using T2iStepCallback = std::function<bool(const T2iStep&)>;

struct T2iResult {
  std::vector<int64_t> codes;      // [B, N] last step's draws
  std::vector<int64_t> input_ids;  // [B, L] after the last step
  bool cancelled = false;
  int64_t steps_run = 0;           // network calls made (fewer than timesteps with a threshold)
};

// input_ids / mask: [B, L] cond rows (image slots = M); uncond_ids / uncond_mask: [B, L] or
// empty (no guidance). The image slots are the n_image positions before the last one.
T2iResult generate_image(const T2iModelFn& model, std::vector<int64_t> input_ids,
                         const std::vector<uint8_t>& mask, const std::vector<int64_t>& uncond_ids,
                         const std::vector<uint8_t>& uncond_mask, int64_t B, int64_t L,
                         int64_t n_image, const T2iParams& p, T2iRandom& rng,
                         const T2iStepCallback& on_step = {});

}  // namespace mmada
