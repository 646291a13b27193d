// generate / mmu_generate cases: the block diffusion sampler, token for token, step by step.
#include "core/error.h"
#include "model/logits_fn.h"
#include "refcheck/refcheck.h"

using nlohmann::json;

namespace mmada {

std::shared_ptr<Transformer> refcheck_model(const Manifest& m, Precision p, const std::string& backend);

CaseResult run_generate_case(const CaseContext& ctx) {
  CaseResult res;
  const json& s = ctx.c["settings"];
  TextSamplerParams p;
  p.steps = s.at("steps");
  p.gen_length = s.at("gen_length");
  p.block_length = s.at("block_length");
  p.temperature = s.value("temperature", 0.0);
  p.cfg_scale = s.value("cfg_scale", 0.0);
  p.remasking = remasking_from_name(s.value("remasking", std::string("low_confidence")));
  p.mask_id = s.value("mask_id", int64_t(126336));
  if (p.temperature > 0 || p.remasking == Remasking::Random) {
    res.skip("random sampling (temperature > 0 or random remasking) draws from PyTorch's RNG, "
             "which is not reproduced; no replay draws in this case");
    return res;
  }
  const Precision prec = precision_from_name(ctx.opt.precision);
  p.bf16_logits = prec == Precision::BF16;
  auto model = refcheck_model(ctx.manifest, prec, ctx.opt.backend);

  Tensor prompt = ctx.input("prompt");
  MMADA_CHECK(prompt.dtype == DType::I64 && prompt.dim() == 2, "prompt must be int64 [B, P]");
  const int64_t B = prompt.size(0), P = prompt.size(1);
  std::vector<int64_t> ids(prompt.ptr<int64_t>(), prompt.ptr<int64_t>() + B * P);
  std::vector<uint8_t> mask;
  if (ctx.has_input("attention_mask")) {
    Tensor am = ctx.input("attention_mask").to_f32();
    for (int64_t i = 0; i < am.numel(); ++i) mask.push_back(am.ptr<float>()[i] != 0.0f);
  }

  Tensor step_inputs;
  const bool have_steps = ctx.has_expected("step_inputs");
  if (have_steps) step_inputs = ctx.expected("step_inputs");
  int64_t first_bad_step = -1;
  std::vector<int64_t> prev;  // canvas fed to the network at the next step
  const int64_t L = P + p.gen_length;
  prev.assign(size_t(B * L), p.mask_id);
  for (int64_t b = 0; b < B; ++b) std::copy_n(ids.begin() + b * P, P, prev.begin() + b * L);
  Tensor ntt;
  if (ctx.has_expected("num_transfer_tokens")) ntt = ctx.expected("num_transfer_tokens");
  int64_t ntt_bad = 0;
  auto on_step = [&](const TextStep& st) {
    const int64_t si = st.step - 1;
    if (have_steps && si < step_inputs.size(0) && first_bad_step < 0) {
      const int64_t* want = step_inputs.ptr<int64_t>() + si * B * L;
      if (!std::equal(prev.begin(), prev.end(), want)) first_bad_step = si;
    }
    if (ntt.defined() && si < ntt.size(0))
      for (int64_t b = 0; b < B; ++b) ntt_bad += st.transferred[size_t(b)] != ntt.ptr<int64_t>()[si * B + b];
    prev = *st.canvas;
    return true;
  };
  const TextSamplerResult r =
      generate_text(make_logits_fn(*model), ids, B, P, mask.empty() ? nullptr : &mask, p, on_step);

  Tensor want = ctx.expected("output_ids");
  MMADA_CHECK(want.numel() == int64_t(r.ids.size()), "output_ids: expected ", shape_str(want.shape),
              ", engine produced ", r.ids.size(), " ids");
  std::string d;
  res.check(ids_equal("output_ids", r.ids.data(), want.ptr<int64_t>(), r.ids.size(), &d), d);
  if (have_steps)
    res.check(first_bad_step < 0, first_bad_step < 0
                                      ? "step_inputs all " + std::to_string(step_inputs.size(0)) + " steps equal"
                                      : "step_inputs first differ at step " + std::to_string(first_bad_step));
  if (ntt.defined())
    res.check(ntt_bad == 0, "num_transfer_tokens " + std::string(ntt_bad ? "differ" : "equal"));
  return res;
}

}  // namespace mmada
