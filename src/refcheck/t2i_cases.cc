// t2i_generate cases: the MaskGIT sampler replayed with the reference's recorded random draws.
#include <cmath>

#include "core/error.h"
#include "model/logits_fn.h"
#include "refcheck/refcheck.h"
#include "sample/t2i_sampler.h"

using nlohmann::json;

namespace mmada {

std::shared_ptr<Transformer> refcheck_model(const Manifest& m, Precision p, const std::string& backend);

namespace {

// Consumes the recorded categorical draws [S, B, N] and Gumbel noise [S, B, N].
class ReplayT2iRandom : public T2iRandom {
 public:
  ReplayT2iRandom(Tensor draws, Tensor gumbel) : draws_(std::move(draws)), gumbel_(gumbel.to_f32()) {}
  std::vector<int64_t> fixed_draws(int64_t step, int64_t B, int64_t N) override {
    MMADA_CHECK(draws_.dtype == DType::I64 && B <= draws_.size(1) && N <= draws_.size(2),
                "replay draws are not int64 [S, >=", B, ", >=", N, "]");
    std::vector<int64_t> d;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t n = 0; n < N; ++n) d.push_back(draws_.ptr<int64_t>()[index(draws_, step, b, n)]);
    return d;
  }
  uint64_t seed() const override { return 0; }
  float gumbel(int64_t step, int64_t row, int64_t slot) override {
    return gumbel_.ptr<float>()[index(gumbel_, step, row, slot)];
  }

 private:
  static int64_t index(const Tensor& t, int64_t s, int64_t b, int64_t n) {
    MMADA_CHECK(s < t.size(0) && b < t.size(1) && n < t.size(2), "replay draws exhausted at step ", s);
    return (s * t.size(1) + b) * t.size(2) + n;
  }
  Tensor draws_, gumbel_;
};

std::vector<int64_t> as_ids(const Tensor& t) {
  MMADA_CHECK(t.dtype == DType::I64, "expected an int64 tensor");
  return std::vector<int64_t>(t.ptr<int64_t>(), t.ptr<int64_t>() + t.numel());
}
std::vector<uint8_t> as_mask(const Tensor& t) {
  Tensor f = t.to_f32();
  std::vector<uint8_t> m(size_t(f.numel()));
  for (int64_t i = 0; i < f.numel(); ++i) m[size_t(i)] = f.ptr<float>()[i] != 0.0f;
  return m;
}

}  // namespace

CaseResult run_t2i_case(const CaseContext& ctx) {
  CaseResult res;
  if (!ctx.c.contains("random_draws") || !ctx.c["random_draws"].contains("draws") ||
      !ctx.c["random_draws"].contains("gumbel")) {
    res.skip("no recorded random draws to replay");
    return res;
  }
  const json& s = ctx.c["settings"];
  T2iParams p;
  p.timesteps = s.at("timesteps");
  p.guidance = s.value("guidance_scale", 0.0);
  p.temperature = s.value("temperature", 1.0);
  p.schedule = schedule_from_name(s.value("schedule", std::string("cosine")));
  p.codebook = s.value("codebook_size", int64_t(8192));
  p.image_offset = s.value("text_tokenizer_len", mmada_tokens::kImageCodeOffset);
  p.mask_id = s.value("mask_token_id", int64_t(126336));
  const Precision prec = precision_from_name(ctx.opt.precision);
  p.bf16 = prec == Precision::BF16;
  p.keep_logits = true;  // every step's guided logits are compared below
  const int64_t N = s.at("seq_len");
  auto model = refcheck_model(ctx.manifest, prec, ctx.opt.backend);

  Tensor in = ctx.input("input_ids");
  const int64_t B = in.size(0), L = in.size(1);
  std::vector<int64_t> uncond;
  std::vector<uint8_t> umask;
  if (ctx.has_input("uncond_input_ids")) {
    uncond = as_ids(ctx.input("uncond_input_ids"));
    umask = as_mask(ctx.input("uncond_attention_mask"));
  }
  ReplayT2iRandom rng(ctx.manifest.tensor(ctx.c["random_draws"]["draws"]),
                      ctx.manifest.tensor(ctx.c["random_draws"]["gumbel"]));

  const json& tol = ctx.c["tolerance"];
  const double la = tol["logits_*"]["atol"], lr = tol["logits_*"]["rtol"];
  const double pa = tol["selected_probs"]["atol"], pr = tol["selected_probs"]["rtol"];
  const int64_t C = p.codebook;
  // Per-step comparisons, accumulated as worst case over steps.
  double worst_logit = 0, worst_prob = 0;
  bool logits_ok = true, probs_ok = true, ids_ok = true, temp_ok = true, len_ok = true, inputs_ok = true;
  std::string first_bad;
  auto note = [&](bool ok, const std::string& what, int64_t step) {
    if (!ok && first_bad.empty()) first_bad = what + " at step " + std::to_string(step);
    return ok;
  };
  Tensor lse = ctx.expected("logits_lse").to_f32(), lmax = ctx.expected("logits_max").to_f32();
  Tensor probe = ctx.expected("logits_probe").to_f32();
  Tensor probe_cols = ctx.expected("logits_probe_cols");
  Tensor sel = ctx.expected("selected_probs").to_f32(), masking = ctx.expected("masking");
  Tensor mlen = ctx.expected("mask_len"), temps = ctx.expected("temperature_used").to_f32();
  Tensor after = ctx.expected("input_ids_after_step"), smi = ctx.expected("step_model_inputs");
  Tensor step0 = ctx.has_expected("step0_logits_first_positions")
                     ? ctx.expected("step0_logits_first_positions").to_f32() : Tensor();

  auto on_step = [&](const T2iStep& st) {
    const int64_t si = st.step - 1;
    const int64_t rows_in = int64_t(st.model_input->size()) / L;
    inputs_ok &= note(std::equal(st.model_input->begin(), st.model_input->end(),
                                 smi.ptr<int64_t>() + si * smi.size(1) * L) && rows_in == smi.size(1),
                      "step_model_inputs", si);
    std::vector<float> a, e, pa_, pe;
    for (int64_t r = 0; r < B * N; ++r) {
      const float* l = st.logits + r * C;
      float mx = -INFINITY;
      for (int64_t j = 0; j < C; ++j) mx = std::max(mx, l[j]);
      double sum = 0;
      for (int64_t j = 0; j < C; ++j) sum += std::exp(double(l[j]) - mx);
      a.push_back(float(mx + std::log(sum)));
      e.push_back(lse.ptr<float>()[si * B * N + r]);
      a.push_back(mx);
      e.push_back(lmax.ptr<float>()[si * B * N + r]);
      for (int64_t k = 0; k < probe_cols.numel(); ++k) {
        a.push_back(l[probe_cols.ptr<int64_t>()[k]]);
        e.push_back(probe.ptr<float>()[(si * B * N + r) * probe_cols.numel() + k]);
      }
      pa_.push_back(st.selected_probs[size_t(r)]);
      pe.push_back(sel.ptr<float>()[si * B * N + r]);
    }
    if (si == 0 && step0.defined())
      for (int64_t b = 0; b < B; ++b)
        for (int64_t q = 0; q < step0.size(1); ++q)
          for (int64_t j = 0; j < C; ++j) {
            a.push_back(st.logits[(b * N + q) * C + j]);
            e.push_back(step0.ptr<float>()[(b * step0.size(1) + q) * C + j]);
          }
    for (size_t i = 0; i < a.size(); ++i) {
      const double d = std::fabs(double(a[i]) - e[i]);
      worst_logit = std::max(worst_logit, d);
      logits_ok &= note(d <= la + lr * std::fabs(e[i]), "logits", si);
    }
    for (size_t i = 0; i < pa_.size(); ++i) {
      const double d = std::fabs(double(pa_[i]) - pe[i]);
      if (pe[i] < 1e30f) worst_prob = std::max(worst_prob, d);
      probs_ok &= note(pe[i] >= 1e30f ? pa_[i] >= 1e30f : d <= pa + pr * std::fabs(pe[i]),
                       "selected_probs", si);
    }
    temp_ok &= note(std::fabs(st.temperature - temps.ptr<float>()[si]) <= 1e-6 * std::max(1.0, st.temperature),
                    "temperature_used", si);
    inputs_ok &= note(std::equal(st.input_ids->begin(), st.input_ids->end(), after.ptr<int64_t>() + si * B * L),
                      "input_ids_after_step", si);
    for (int64_t b = 0; b < B; ++b)
      len_ok &= note(st.mask_len[size_t(b)] == mlen.ptr<int64_t>()[si * B + b], "mask_len", si);
    for (int64_t r = 0; r < B * N; ++r)
      ids_ok &= note((masking.ptr<uint8_t>()[si * B * N + r] != 0) == (st.masking[size_t(r)] != 0),
                     "masking", si);
    return true;
  };
  T2iResult r = generate_image(make_t2i_fn(*model, p.image_offset, p.image_offset + C),
                               as_ids(in), as_mask(ctx.input("attention_mask")), uncond, umask, B,
                               L, N, p, rng, on_step);
  std::string d;
  Tensor want = ctx.expected("sampled_ids");
  res.check(ids_equal("sampled_ids", r.codes.data(), want.ptr<int64_t>(), r.codes.size(), &d), d);
  Tensor fin = ctx.expected("final_input_ids");
  res.check(ids_equal("final_input_ids", r.input_ids.data(), fin.ptr<int64_t>(), r.input_ids.size(), &d), d);
  char buf[200];
  std::snprintf(buf, sizeof buf, "logits max_abs=%.3g (atol %g, rtol %g)", worst_logit, la, lr);
  res.check(logits_ok, buf);
  std::snprintf(buf, sizeof buf, "selected_probs max_abs=%.3g (atol %g, rtol %g)", worst_prob, pa, pr);
  res.check(probs_ok, buf);
  res.check(inputs_ok && ids_ok && temp_ok && len_ok,
            first_bad.empty() ? "per-step model inputs, input_ids_after_step, mask_len, temperature_used, masking equal" : "first mismatch: " + first_bad);
  return res;
}

}  // namespace mmada
