#include "sample/t2i_sampler.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "core/dtype.h"
#include "core/error.h"
#include "backend/cpu/t2i_draw.h"
#include "sample/rng.h"

namespace mmada {

ScheduleSpec schedule_from_name(const std::string& s) {
  if (s == "cosine") return {MaskSchedule::Cosine, 0};
  if (s == "linear") return {MaskSchedule::Linear, 0};
  if (s == "sigmoid") return {MaskSchedule::Sigmoid, 0};
  if (s.rfind("pow", 0) == 0 && s.size() > 3) {
    char* end = nullptr;
    const float p = std::strtof(s.c_str() + 3, &end);
    if (end && *end == 0 && p > 0) return {MaskSchedule::Pow, p};
  }
  fail("unknown mask schedule '", s, "' (use cosine, linear, sigmoid or powN)");
}

int64_t schedule_mask_len(const ScheduleSpec& f, int64_t step, int64_t total, int64_t n) {
  const float t = float(double(step + 1) / double(total));  // a float32 tensor in the reference
  auto sigmoid = [](float x) { return 1.0f / (1.0f + std::exp(-x)); };
  float ratio = 0;
  switch (f.kind) {
    case MaskSchedule::Cosine: ratio = std::cos((t * float(M_PI)) * 0.5f); break;
    case MaskSchedule::Linear: ratio = std::clamp(1.0f - t, 1e-6f, 1.0f); break;
    case MaskSchedule::Pow: ratio = std::clamp(1.0f - std::pow(t, f.power), 1e-6f, 1.0f); break;
    case MaskSchedule::Sigmoid: {
      const float v_start = sigmoid(-3.0f), v_end = sigmoid(3.0f);
      const float out = sigmoid((t * 6.0f + -3.0f) / 1.0f);
      ratio = std::clamp((v_end - out) / (v_end - v_start), 1e-6f, 1.0f);
      break;
    }
  }
  return int64_t(std::floor(float(n) * ratio));
}

T2iRow build_t2i_row(const std::vector<int64_t>& text_ids, int64_t text_len, int64_t n_image,
                     const SpecialTokens& tk) {
  MMADA_CHECK(text_len >= 3, "T2I text part must hold at least 3 tokens, got ", text_len);
  std::vector<int64_t> t = text_ids;
  if (t.empty() || t[0] != tk.bos) t.insert(t.begin(), tk.bos);
  std::vector<int64_t> core = {tk.t2i};
  core.insert(core.end(), t.begin(), t.end());
  core.push_back(tk.eos);
  if (int64_t(core.size()) > text_len) {  // keep <|t2i|>, BOS and the first tokens, end with EOS
    core.resize(size_t(text_len - 1));
    core.push_back(tk.eos);
  }
  const int64_t npad = text_len - int64_t(core.size());
  T2iRow r;
  r.ids.assign(size_t(npad), tk.ipad);
  r.ids.insert(r.ids.end(), core.begin(), core.end());
  r.ids.push_back(tk.soi);
  r.ids.insert(r.ids.end(), size_t(n_image), tk.mask);
  r.ids.push_back(tk.eoi);
  r.mask.assign(r.ids.size(), 1);
  std::fill_n(r.mask.begin(), npad, 0);
  return r;
}

float SeededT2iRandom::gumbel(int64_t step, int64_t row, int64_t slot) {
  const CounterRng rng{seed_};
  const uint64_t stream = (uint64_t(step) << 40) ^ (uint64_t(row) << 24) ^ uint64_t(slot) ^ (1ull << 63);
  const double u = std::max(rng.uniform(stream, 0), 1e-20);
  return float(-std::log(std::max(-std::log(u), 1e-20)));
}

void T2iParams::validate() const {
  MMADA_CHECK(timesteps >= 1, "T2I steps must be >= 1, got ", timesteps);
  MMADA_CHECK(guidance >= 0 && std::isfinite(guidance), "guidance scale must be >= 0, got ", guidance);
  MMADA_CHECK(temperature >= 0 && std::isfinite(temperature), "temperature must be >= 0, got ",
              temperature);
  MMADA_CHECK(codebook >= 2, "codebook size must be >= 2");
  MMADA_CHECK(context_refresh >= 0, "T2I context cache refresh must be >= 0 steps, got ", context_refresh);
  MMADA_CHECK(cfg_refresh >= 0, "T2I guidance refresh must be >= 0 steps, got ", cfg_refresh);
  MMADA_CHECK(cfg_refresh <= 1 || guidance > 0,
              "T2I: reusing the unconditional branch (cfg refresh ", cfg_refresh, ") needs guidance > 0");
  MMADA_CHECK(!cache_image || context_refresh > 0, "T2I: caching the image codes needs a context cache refresh period");
  MMADA_CHECK(!cache_image || !keep_logits, "T2I: the image cache computes logits of masked slots only (no replay logits)");
  MMADA_CHECK(threshold >= 0 && threshold <= 1, "T2I threshold must be in [0, 1], got ", threshold);
}

T2iResult generate_image(const T2iModelFn& model, std::vector<int64_t> ids,
                         const std::vector<uint8_t>& mask, const std::vector<int64_t>& uncond_ids,
                         const std::vector<uint8_t>& uncond_mask, int64_t B, int64_t L,
                         int64_t N, const T2iParams& p, T2iRandom& rng,
                         const T2iStepCallback& on_step) {
  p.validate();
  const int64_t C = p.codebook, O = p.image_offset, M = p.mask_id;
  MMADA_CHECK(int64_t(ids.size()) == B * L && int64_t(mask.size()) == B * L,
              "T2I input ids and mask must be [B, L]");
  MMADA_CHECK(N >= 1 && N + 2 <= L, "T2I: ", N, " image slots do not fit a sequence of ", L);
  const bool cfg = p.guidance > 0 && !uncond_ids.empty();
  if (cfg)
    MMADA_CHECK(int64_t(uncond_ids.size()) == B * L && int64_t(uncond_mask.size()) == B * L,
                "T2I unconditional ids and mask must be [B, L]");
  const int64_t first_slot = L - N - 1, text_len = L - N - 2;
  auto rb = [&](float v) { return p.bf16 ? round_bf16(v) : v; };

  // cur: the reference's code-space state (committed codes, M where masked), which the step
  // callbacks see; `masked` says which slots are undrawn, so a code equal to M (a small
  // tokenizer whose [MASK] id is below the codebook size) is never mistaken for a mask. For
  // MMaDA (M = 126336 > 8192 codes) the two agree exactly.
  std::vector<int64_t> cur(size_t(B * N));
  std::vector<uint8_t> masked(size_t(B * N));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n) {
      const int64_t t = ids[size_t(b * L + first_slot + n)];
      masked[size_t(b * N + n)] = t == M;
      cur[size_t(b * N + n)] = t == M ? M : t - O;
    }
  T2iDrawRequest req;
  req.rows = cfg ? 2 * B : B;
  req.L = L;
  req.cfg = cfg;
  req.guidance = p.guidance;
  req.bf16 = p.bf16;
  req.want_logits = p.keep_logits;
  req.context_cache = p.context_refresh > 0;
  req.cache_image = p.cache_image;
  req.mask_id = M;
  req.keep_uncond = cfg && p.cfg_refresh > 1;
  for (int64_t k = 0; k < req.rows; ++k)
    for (int64_t n = 0; n < N; ++n) req.slots.push_back(k * L + first_slot + n);
  std::vector<uint8_t> both_mask(mask);
  if (cfg) both_mask.insert(both_mask.end(), uncond_mask.begin(), uncond_mask.end());
  req.mask = both_mask.data();

  double tau = p.temperature;
  T2iResult res;
  std::vector<int64_t> samp(size_t(B * N));
  for (int64_t s = 0; s < p.timesteps; ++s) {
    std::vector<int64_t> input(ids);
    if (cfg) {
      // uncond row = its own text part + the CURRENT conditional image part
      input.resize(size_t(2 * B * L));
      for (int64_t b = 0; b < B; ++b)
        for (int64_t i = 0; i < L; ++i)
          input[size_t((B + b) * L + i)] = i < text_len ? uncond_ids[size_t(b * L + i)] : ids[size_t(b * L + i)];
    }
    req.ids = &input;
    req.reuse_context = p.context_refresh > 0 && s % p.context_refresh != 0;
    req.reuse_uncond = req.keep_uncond && s % p.cfg_refresh != 0;
    req.fixed = rng.fixed_draws(s, B, N);
    if (!req.fixed.empty()) {
      MMADA_CHECK(int64_t(req.fixed.size()) == B * N, "T2I: ", req.fixed.size(), " fixed draws for ", B * N, " slots");
      for (int64_t d : req.fixed) MMADA_CHECK(d >= 0 && d < C, "T2I: drawn code ", d, " outside the codebook");
      req.streams.clear();
    } else {
      req.seed = rng.seed();
      req.streams.resize(size_t(B * N));
      for (int64_t b = 0; b < B; ++b)
        for (int64_t n = 0; n < N; ++n) req.streams[size_t(b * N + n)] = t2i::draw_stream(s, b, n);
    }
    const T2iDrawResult drawn = model(req);
    ++res.steps_run;
    MMADA_CHECK(int64_t(drawn.codes.size()) == B * N && int64_t(drawn.probs.size()) == B * N,
                "T2I: the draw returned ", drawn.codes.size(), " codes for ", B * N, " slots");
    MMADA_CHECK(!p.keep_logits || (drawn.logits.dim() == 2 && drawn.logits.size(0) == B * N && drawn.logits.size(1) == C),
                "T2I: the model returned logits of shape ", shape_str(drawn.logits.shape), ", expected [", B * N, ", ", C, "]");
    for (int64_t r = 0; r < B * N; ++r) {
      const int64_t d = drawn.codes[size_t(r)];
      MMADA_CHECK(d >= 0 && d < C, "T2I: drawn code ", d, " outside the codebook");
      samp[size_t(r)] = masked[size_t(r)] ? d : cur[size_t(r)];
    }
    const float big = p.bf16 ? 3.3895314e38f : FLT_MAX;
    T2iStep st;
    st.step = s + 1;
    st.total = p.timesteps;
    st.selected_probs.resize(size_t(B * N));
    st.masking.resize(size_t(B * N));
    st.mask_len.resize(size_t(B));
    tau = tau * (1.0 - double(s + 1) / double(p.timesteps));  // compounds, as the reference
    const int64_t K = schedule_mask_len(p.schedule, s, p.timesteps, N);
    int64_t left = 0;  // slots still masked after this step
    for (int64_t b = 0; b < B; ++b) {
      int64_t unknown = 0;
      for (int64_t n = 0; n < N; ++n) unknown += masked[size_t(b * N + n)];
      const int64_t kb = std::max<int64_t>(1, std::min(unknown - 1, K));
      st.mask_len[size_t(b)] = kb;
      std::vector<float> conf(static_cast<size_t>(N));
      for (int64_t n = 0; n < N; ++n) {
        const int64_t r = b * N + n;
        const float sel = masked[size_t(r)] ? drawn.probs[size_t(r)] : big;
        st.selected_probs[size_t(n + b * N)] = sel;
        const float noise = rb(float(tau) * rb(rng.gumbel(s, b, n)));
        conf[size_t(n)] = rb(rb(std::log(std::max(sel, 1e-20f))) + noise);
      }
      std::vector<float> sorted(conf);
      std::sort(sorted.begin(), sorted.end());
      const float cut = sorted[size_t(std::min(kb, N - 1))];
      for (int64_t n = 0; n < N; ++n) {
        const int64_t r = b * N + n;
        const bool sure = p.threshold > 0 && masked[size_t(r)] && drawn.probs[size_t(r)] >= p.threshold;
        const bool remask = conf[size_t(n)] < cut && !sure;
        left += remask;
        st.masking[size_t(r)] = remask;
        ids[size_t(b * L + first_slot + n)] = remask ? M : samp[size_t(r)] + O;
        cur[size_t(r)] = remask ? M : samp[size_t(r)];
        masked[size_t(r)] = remask;
      }
    }
    if (on_step) {
      st.sampled = &samp;
      st.current = &cur;
      st.logits = p.keep_logits ? drawn.logits.ptr<float>() : nullptr;
      st.temperature = tau;
      st.model_input = &input;
      st.input_ids = &ids;
      if (!on_step(st)) {
        res.cancelled = true;
        break;
      }
    }
    if (p.threshold > 0 && left == 0) break;  // every slot committed: the draws are final
  }
  res.codes = samp;
  res.input_ids = ids;
  return res;
}

}  // namespace mmada
