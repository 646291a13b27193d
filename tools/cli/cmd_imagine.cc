// mmada imagine: text-to-image. Prompt -> T2I rows (prompting.md §5.3) -> MaskGIT sampling
// with classifier-free guidance (sampling.md §4) -> MAGVIT-v2 decode -> PNG.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "io/image.h"
#include "model/logits_fn.h"
#include "pipeline/image_settings.h"
#include "pipeline/text_model.h"
#include "progress.h"
#include "sample/t2i_sampler.h"
#include "text_flags.h"
#include "vq/preprocess.h"
#include "vq_flags.h"

namespace mmada::cli {
namespace {

struct ImagineOpts {
  TextFlags f;  // only -m / --tokenizer / --precision are exposed
  std::string vq, prompt, out = "output.png", schedule = "cosine";
  int64_t steps = 15, text_len = 0, size = 0;  // 0: the model's (image_settings.h)
  double cfg = 3.5, temperature = 1.0, threshold = 0;
  int64_t context_cache = 0, cfg_refresh = 0;
  uint64_t seed = 0;
  int batch = 1, preview_every = 0;
  bool stats = false, vq_exact = false, cache_image = false;
};

// Decodes codes [B, N] on a grid x grid layout; slots still masked (code >= codebook) are
// decoded as code 0 and then painted mid-grey so the preview shows what is still unknown.
std::vector<RgbImage> decode_codes(const Magvit& vq, const std::vector<int64_t>& codes, int64_t B,
                                   int64_t grid) {
  const int64_t N = grid * grid, C = vq.config().codebook_size();
  const int64_t f = vq.config().downsample_factor();
  Tensor t = Tensor::empty(DType::I64, {B, N});
  for (int64_t i = 0; i < B * N; ++i) {
    const int64_t c = codes[size_t(i)];
    t.ptr<int64_t>()[i] = c >= 0 && c < C ? c : 0;
  }
  std::vector<RgbImage> imgs = pixels_to_images(vq.decode(t, grid, grid));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n) {
      const int64_t c = codes[size_t(b * N + n)];
      if (c >= 0 && c < C) continue;
      const int64_t y0 = (n / grid) * f, x0 = (n % grid) * f;
      for (int64_t y = y0; y < y0 + f; ++y)
        std::fill_n(imgs[size_t(b)].row(int(y)) + x0 * 3, f * 3, uint8_t(128));
    }
  return imgs;
}

std::string settings_text(const ImagineOpts& o, int64_t seed) {
  std::ostringstream s;
  s << o.prompt << "\nSteps: " << o.steps << ", CFG scale: " << o.cfg << ", Temperature: " << o.temperature
    << ", Schedule: " << o.schedule << ", Seed: " << seed << ", Size: " << o.size << "x" << o.size
    << ", Text length: " << o.text_len;
  if (o.context_cache > 0) s << ", Context cache: " << o.context_cache << (o.cache_image ? " (with image codes)" : "");
  if (o.cfg_refresh > 1) s << ", CFG refresh: " << o.cfg_refresh;
  if (o.threshold > 0) s << ", Threshold: " << o.threshold;
  s << ", Model: " << o.f.model_dir() << ", VQ: " << o.vq;
  return s.str();
}

void write_images(const std::vector<RgbImage>& imgs, const ImagineOpts& o, int step) {
  const PngText text = {{"parameters", settings_text(o, int64_t(o.seed))},
                        {"prompt", o.prompt},
                        {"Software", "mmada.cpp"}};
  for (size_t b = 0; b < imgs.size(); ++b) {
    const std::string path = output_path(o.out, int(b), int(imgs.size()), step);
    write_png(path, imgs[b], text);
    if (step < 0) std::printf("%s\n", path.c_str());
  }
}

int run_imagine(ImagineOpts& o) {
  MMADA_CHECK(!o.prompt.empty(), "no prompt: use -p TEXT");
  MMADA_CHECK(o.batch >= 1 && o.batch <= 64, "--batch must be 1..64, got ", o.batch);
  MMADA_CHECK(o.preview_every >= 0, "--preview-every must be >= 0");
  if (o.size != 0) check_image_size(o.size, 16);
  MMADA_CHECK(o.text_len >= 0, "--text-len must be >= 0 (0 = the model's), got ", o.text_len);
  T2iParams p;
  p.timesteps = o.steps;
  p.guidance = o.cfg;
  p.temperature = o.temperature;
  p.schedule = schedule_from_name(o.schedule);
  p.context_refresh = o.context_cache;
  p.cfg_refresh = o.cfg_refresh;
  p.threshold = o.threshold;
  p.cache_image = o.cache_image;
  p.validate();  // before loading anything

  TextModel tm = TextModel::load(o.f.model_dir(), o.f.tokenizer_dir(), precision_from_name(o.f.precision),
                                 o.f.backend, o.f.backend_options());
  o.vq = model_vq_dir(o.vq, o.f.model_dir());
  const Magvit vq = load_vq(o.vq, tm.model->shared_backend(), decode_math(o.vq_exact));
  const ModelConfig& mc = tm.model->config();
  const ImageSettings model_image = ImageSettings::for_model(mc, vq.config().downsample_factor());
  if (o.size == 0) o.size = model_image.side;
  if (o.text_len == 0) o.text_len = model_image.t2i_text_len;
  check_image_size(o.size, vq.config().downsample_factor());
  tm.tokens.codebook_size = vq.config().codebook_size();
  tm.tokens.check_image_codes_fit();
  p.codebook = tm.tokens.codebook_size;
  p.image_offset = tm.tokens.image_code_offset;
  p.mask_id = tm.tokens.mask;
  p.bf16 = tm.model->precision() == Precision::BF16;
  p.validate();

  const int64_t grid = o.size / vq.config().downsample_factor(), N = grid * grid, B = o.batch;
  ImageSettings rows = model_image;
  rows.t2i_text_len = o.text_len;
  const T2iBatch batch = build_t2i_batch(tm.tokenizer->encode(o.prompt), rows, N, B, p.guidance > 0, tm.tokens);
  const int64_t L = batch.row_length;
  MMADA_CHECK(L <= mc.max_sequence_length, "text part ", o.text_len, " + ", N + 2,
              " image positions = ", L, " exceeds the model's max sequence length ", mc.max_sequence_length);

  SeededT2iRandom rng(o.seed);
  ProgressBar bar("imagining");
  const auto t0 = std::chrono::steady_clock::now();
  int64_t committed = 0;
  const T2iStepCallback on_step = [&](const T2iStep& st) {
    committed = 0;
    for (uint8_t m : st.masking) committed += !m;
    bar.update(long(st.step), long(st.total), long(committed), "tok");
    if (o.preview_every > 0 && st.step % o.preview_every == 0 && st.step < st.total)
      write_images(decode_codes(vq, *st.current, B, grid), o, int(st.step));
    return true;
  };
  const T2iResult r = generate_image(make_t2i_fn(*tm.model, p.image_offset, p.image_offset + p.codebook),
                                     batch.ids, batch.mask, batch.uncond_ids, batch.uncond_mask, B, L, N, p, rng,
                                     on_step);
  bar.finish();
  const auto t1 = std::chrono::steady_clock::now();
  write_images(decode_codes(vq, r.codes, B, grid), o, -1);
  if (o.stats) {
    const auto t2 = std::chrono::steady_clock::now();
    std::fprintf(stderr, "%lld image(s) of %lldx%lld, %lld of %lld steps: sampling %.2f s, decoding %.2f s\n",
                 (long long)B, (long long)o.size, (long long)o.size, (long long)r.steps_run, (long long)o.steps,
                 std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count());
  }
  return 0;
}

Command imagine_cmd("imagine", "Text to image: sample MAGVIT-v2 codes and write PNGs", [](CLI::App& sub) -> RunFn {
  auto o = std::make_shared<ImagineOpts>();
  o->f.precision = "bf16";
  sub.add_option("-m,--model", o->f.model, "model folder (config.json + safetensors); default: the embedded model");
  sub.add_option("--tokenizer", o->f.tokenizer, "tokenizer folder if the model folder has none");
  sub.add_option("--precision", o->f.precision, "bf16 or f32")->check(CLI::IsMember({"bf16", "f32"}))->capture_default_str();
  sub.add_option("--backend", o->f.backend, "cpu or cuda[:N] (the transformer and MAGVIT-v2)")->capture_default_str();
  sub.add_option("--gpu-weights", o->f.gpu_weights, "bf16 (exact), fp8 (E4M3 layer matrices and activations, Hopper/Ada) or fp8-all (the LM head too); cuda only")->capture_default_str();
  sub.add_option("--vq", o->vq, "MAGVIT-v2 folder (e.g. showlab/magvitv2); default: the model folder's vq/");
  sub.add_flag("--vq-exact", o->vq_exact, "GPU: decode with float32 convolutions instead of TF32 (7x slower, pixels equal to the CPU's)");
  sub.add_option("-p,--prompt", o->prompt, "what to draw");
  sub.add_option("-o,--output", o->out, "output PNG (out-0.png, out-1.png, ... with --batch)")->capture_default_str();
  sub.add_option("--steps", o->steps, "sampling steps")->capture_default_str();
  sub.add_option("--cfg", o->cfg, "classifier-free guidance scale (0 = off)")->capture_default_str();
  sub.add_option("--temperature", o->temperature, "remasking noise temperature")->capture_default_str();
  sub.add_option("--context-cache", o->context_cache,
                 "fast: recompute the prompt's keys/values every K steps, run only the image part in between (0 = off)")
      ->capture_default_str();
  sub.add_flag("--cache-image", o->cache_image,
               "fast, with --context-cache: keep committed image codes' keys/values too; steps run only the codes that changed");
  sub.add_option("--cfg-refresh", o->cfg_refresh,
                 "fast: run the unconditional (guidance) branch every K steps, reuse its logits in between (0, 1 = every step)")
      ->capture_default_str();
  sub.add_option("--threshold", o->threshold,
                 "fast: also commit every masked code drawn with probability >= T; stops early when all are drawn (0 = off)")
      ->capture_default_str();
  sub.add_option("--schedule", o->schedule, "mask schedule: cosine, linear, sigmoid, pow2, ...")->capture_default_str();
  sub.add_option("--seed", o->seed, "random seed")->capture_default_str();
  sub.add_option("--size", o->size, "image side in pixels (multiple of 16; 0 = the model's, 512 for MMaDA)")->capture_default_str();
  sub.add_option("--batch", o->batch, "images to generate for the prompt")->capture_default_str();
  sub.add_option("--text-len", o->text_len, "length of the text part of the T2I rows (0 = the model's, 513 for the released models)")->capture_default_str();
  sub.add_option("--preview-every", o->preview_every, "also write out.stepNN.png every K steps (0 = never)")->capture_default_str();
  sub.add_flag("--stats", o->stats, "print timings (stderr)");
  return [o] { return run_imagine(*o); };
});

}  // namespace
}  // namespace mmada::cli
