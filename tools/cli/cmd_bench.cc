// mmada bench forward|generate|t2i|vq: time the transformer (random weights of any config) and
// MAGVIT-v2 (random weights of the real config), no download. GPU tables give the peak device
// memory mmada allocated (weights included), comparable to torch.cuda.max_memory_allocated().
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <type_traits>

#include "command.h"
#include "core/error.h"
#include "backend/timing_backend.h"
#include "model/cached_network.h"
#include "model/logits_fn.h"
#include "model/quant_recipe.h"
#include "sample/fast_modes.h"
#include "sample/t2i_sampler.h"
#include "model/transformer.h"
#include "vq/magvit.h"
#include "vq/pixels.h"

namespace {

using namespace mmada;

// The real MMaDA-8B shape (spec/model.md §1) and a small one for quick runs.
ModelConfig preset(const std::string& name) {
  ModelConfig c;
  if (name == "8b") {
    c.d_model = 4096, c.n_heads = 32, c.n_kv_heads = 32, c.n_layers = 32, c.mlp_hidden = 12288;
    c.vocab = 134656, c.rope_theta = 500000.0;
  } else if (name == "tiny") {
    c.d_model = 64, c.n_heads = 4, c.n_kv_heads = 4, c.n_layers = 2, c.mlp_hidden = 192;
    c.vocab = 134656, c.rope_theta = 500000.0;
  } else {
    fail("unknown preset '", name, "' (use 8b or tiny, or --config FILE)");
  }
  return c;
}

double peak_rss_gib() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is in KiB
}

// Peak device memory since the last reset, "-" on the CPU.
std::string peak_device_gib(const Backend& be) {
  const size_t peak = be.memory_stats().peak;
  if (peak == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", double(peak) / double(1ull << 30));
  return buf;
}

// Seconds of the fastest of `timed` calls of run(k), after `warmup` untimed ones; k numbers
// every call from 0. before(k) runs ahead of each call, off the clock (profiler and memory-peak
// resets); what run returns is freed after the clock stops. With timed = 0 the result is 1e30.
template <class Run, class Before>
double best_seconds(int64_t warmup, int64_t timed, Run&& run, Before&& before) {
  using Clock = std::chrono::steady_clock;
  double best = 1e30;
  for (int64_t k = 0; k < warmup + timed; ++k) {
    before(k);
    const auto t0 = Clock::now();
    double s;
    if constexpr (std::is_void_v<std::invoke_result_t<Run&, int64_t>>) {
      run(k);
      s = std::chrono::duration<double>(Clock::now() - t0).count();
    } else {
      const auto kept = run(k);
      s = std::chrono::duration<double>(Clock::now() - t0).count();
    }
    if (k >= warmup) best = std::min(best, s);
  }
  return best;
}
template <class Run>
double best_seconds(int64_t warmup, int64_t timed, Run&& run) {
  return best_seconds(warmup, timed, run, [](int64_t) {});
}

struct Opts;
int bench_generate(const Transformer& m, const Opts& o);
int bench_t2i(const Transformer& m, const Opts& o, TimingBackend* timer, std::vector<std::vector<int64_t>>* ref_codes);
int bench_vq(const std::shared_ptr<Backend>& be, const Opts& o);
// What the first weight format benched produced, for the later ones to be compared with.
struct FirstFormat {
  std::vector<std::vector<int64_t>> t2i_codes;      // bench t2i: each mode's last timed run's codes
  std::map<int64_t, std::vector<float>> logits;     // bench forward: logits per length
};
int bench_model(const ModelConfig& c, Precision p, const Opts& o, const BackendOptions& bo, FirstFormat* first);

struct Opts {
  std::string what, preset = "8b", config, precision = "bf16", head = "all", backend = "cpu", quant,
      gpu_weights = "bf16";
  std::vector<int64_t> seqs = {256, 512, 1024};
  int64_t layers = 0, repeat = 1;
  int64_t prompt_len = 64, gen = 256, steps = 256, block = 32, t2i_size = 512;
  double cfg = 3.5;
  bool profile = false, check = false;
  std::string modes = "none";
};

// The official benchmark's text setting (temperature 0, low-confidence, no early stop, so the
// same number of network calls as the reference): seconds per generation and tokens/s, for each
// decoding mode; the fast modes' tokens are compared with the exact mode's (run first).
int bench_generate(const Transformer& m, const Opts& o) {
  const ModelConfig& c = m.config();
  std::vector<int64_t> prompt(static_cast<size_t>(o.prompt_len));
  for (int64_t i = 0; i < o.prompt_len; ++i) prompt[size_t(i)] = (i * 2654435761ll + 17) % 126000;
  TextSamplerParams base;
  base.gen_length = o.gen, base.steps = o.steps, base.block_length = o.block, base.temperature = 0;
  base.mask_id = c.mask_token_id;
  base.bf16_logits = m.precision() == Precision::BF16;
  std::vector<std::string> modes = split_modes(o.modes);
  std::vector<TextSamplerParams> params;
  for (const std::string& spec : modes) params.push_back(text_mode(spec, base));  // fail before timing
  if (modes.front() != "none") {  // the exact tokens the others are compared with
    modes.insert(modes.begin(), "none");
    params.insert(params.begin(), base);
  }
  std::printf("| mode | prompt | gen | steps | block | s/generation | network calls | full forwards | tokens/call | tokens/s | agreement | peak GPU GiB |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::vector<int64_t> exact;
  for (size_t mi = 0; mi < modes.size(); ++mi) {
    const TextSamplerParams& p = params[mi];
    TextSamplerResult res;
    const double best = best_seconds(1, std::max<int64_t>(o.repeat, 1), [&](int64_t) {
      res = generate_text(make_logits_fn(m), prompt, 1, o.prompt_len, nullptr, p, {}, make_pick_fn(m),
                          p.cache != CacheMode::None ? make_cached_network(m) : CachedNetwork{});
    });
    const std::vector<int64_t> answer(res.ids.begin() + o.prompt_len, res.ids.end());
    if (mi == 0) exact = answer;
    const int64_t full = p.cache == CacheMode::None ? res.network_calls : res.cache_refreshes;
    std::printf("| %s | %lld | %lld | %lld | %lld | %.3f | %lld | %lld | %.2f | %.1f | %.4f | %s |\n", modes[mi].c_str(),
                (long long)o.prompt_len, (long long)o.gen, (long long)o.steps, (long long)o.block, best,
                (long long)res.network_calls, (long long)full, double(o.gen) / double(res.network_calls),
                double(o.gen) / best, share_equal(answer, exact), peak_device_gib(m.backend()).c_str());
    std::fflush(stdout);
  }
  return 0;
}

// The official t2i setting: 513 text slots, (size/16)^2 image tokens, CFG rows batched with the
// conditional ones, cosine schedule; sampling only (the MAGVIT-v2 decode is timed apart). Fast
// modes report the share of codes equal to the exact mode's under the same seeds; ref_codes
// holds each mode's last timed codes of the first weight format benched (empty before it), which
// this format's are compared with.
int bench_t2i(const Transformer& m, const Opts& o, TimingBackend* timer, std::vector<std::vector<int64_t>>* ref_codes) {
  const int64_t n = (o.t2i_size / 16) * (o.t2i_size / 16), text_len = 513;
  const std::vector<int64_t> prompt = {468, 3901, 13187, 46998, 40977, 997, 268, 27028, 7339, 13};
  SpecialTokens tk;  // MMaDA's ids: the bench models have MMaDA's vocabulary
  tk.mask = m.config().mask_token_id;
  const T2iRow c = build_t2i_row(prompt, text_len, n, tk);
  const T2iRow u = build_t2i_row({}, text_len, n, tk);
  T2iParams base;
  base.timesteps = o.steps;
  base.guidance = o.cfg;
  base.mask_id = m.config().mask_token_id;
  base.bf16 = m.precision() == Precision::BF16;
  std::vector<std::string> modes = split_modes(o.modes);
  std::vector<T2iParams> params;
  for (const std::string& spec : modes) params.push_back(t2i_mode(spec, base));  // fail before timing
  if (modes.size() > 1 && modes.front() != "none") {  // the exact codes the others are compared with
    modes.insert(modes.begin(), "none");
    params.insert(params.begin(), base);
  }
  const int64_t L = int64_t(c.ids.size()), runs = std::max<int64_t>(o.repeat, 1);
  const bool first_format = ref_codes->empty();
  std::printf("| mode | size | tokens | seq | steps | cfg | s/image | ms/step | steps run | agreement | peak GPU GiB | codes as first weights |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::vector<std::vector<int64_t>> exact;  // per timed seed
  for (size_t mi = 0; mi < modes.size(); ++mi) {
    const T2iParams& p = params[mi];
    double agree = 0;
    int64_t steps_run = 0;
    std::vector<int64_t> codes;
    m.shared_backend()->reset_memory_peak();
    std::optional<SeededT2iRandom> rng;  // run k draws with seed k
    const double best = best_seconds(
        1, runs,
        [&](int64_t k) {
          const T2iResult r = generate_image(make_t2i_fn(m, p.image_offset, p.image_offset + p.codebook), c.ids,
                                             c.mask, o.cfg > 0 ? u.ids : std::vector<int64_t>{},
                                             o.cfg > 0 ? u.mask : std::vector<uint8_t>{}, 1, L, n, p, *rng);
          if (k == 0) return;
          steps_run = r.steps_run;
          codes = r.codes;
          if (mi == 0) exact.push_back(r.codes);
          agree += share_equal(r.codes, exact[size_t(k - 1)]) / double(runs);
        },
        [&](int64_t k) {
          if (timer && k == 1) timer->reset();  // profile the timed runs only
          rng.emplace(static_cast<uint64_t>(k));
        });
    std::string vs_first = "-";
    if (first_format) {
      ref_codes->push_back(codes);
    } else if (mi < ref_codes->size()) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4f", share_equal(codes, (*ref_codes)[mi]));
      vs_first = buf;
    }
    std::printf("| %s | %lld | %lld | %lld | %lld | %.1f | %.3f | %.1f | %lld | %.4f | %s | %s |\n", modes[mi].c_str(),
                (long long)o.t2i_size, (long long)n, (long long)L, (long long)o.steps, o.cfg, best,
                best * 1e3 / double(steps_run), (long long)steps_run, agree, peak_device_gib(m.backend()).c_str(),
                vs_first.c_str());
    std::fflush(stdout);
  }
  if (timer) {
    const double steps = double(runs * o.steps * int64_t(modes.size()));
    for (const auto& [op, st] : timer->stats())
      std::printf("|   %s | %.2f ms/step | %.1f calls/step |\n", op.c_str(), st.seconds * 1e3 / steps,
                  double(st.calls) / steps);
  }
  return 0;
}

// MAGVIT-v2 at its real size (95 M parameters, random weights): decode a (size/16)^2 code grid
// and encode a size^2 image. --check also runs the CPU implementation on the same inputs and
// prints the largest pixel difference (in 1/255 steps of the [0, 255] image) and code agreement.
int bench_vq(const std::shared_ptr<Backend>& be, const Opts& o) {
  const int64_t grid = o.t2i_size / 16, side = grid * 16;
  Magvit vq = Magvit::random(MagvitConfig::real(), 1234);
  vq.use_backend(be);
  Magvit vq_tf32 = vq;  // shares the weights; decodes with TF32 convolutions on a GPU
  vq_tf32.use_backend(be, ConvMath::Tf32);
  Tensor codes = Tensor::empty(DType::I64, {1, grid * grid});
  for (int64_t i = 0; i < grid * grid; ++i) codes.ptr<int64_t>()[i] = (i * 2654435761ll) % 8192;
  // A smooth test picture: encoding random noise would put every latent near zero.
  Tensor pixels = Tensor::empty(DType::F32, {1, 3, side, side});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < side; ++y)
      for (int64_t x = 0; x < side; ++x)
        pixels.ptr<float>()[(c * side + y) * side + x] =
            float(std::sin(0.02 * double(x * (c + 1)) + 0.013 * double(y)) * 0.9);
  std::printf("backend: %s\n| op | size | ms | peak GPU GiB | vs CPU |\n|---|---:|---:|---:|---|\n",
              be->name().c_str());
  // One warm-up (weights uploaded, algorithms chosen), then the memory peak of the timed runs.
  const auto time_best = [&](auto&& f) {
    return best_seconds(
        1, std::max<int64_t>(o.repeat, 1), [&](int64_t) { f(); },
        [&](int64_t k) {
          if (k == 1) be->reset_memory_peak();
        });
  };
  Tensor image, image_tf32, got_codes;
  const double dec = time_best([&] { image = vq.decode(codes, grid, grid); });
  const std::string dec_mem = peak_device_gib(*be);
  const double dec_tf32 =  // the CPU has one kind of arithmetic
      be->native_stream() ? time_best([&] { image_tf32 = vq_tf32.decode(codes, grid, grid); }) : 0.0;
  const std::string dec_tf32_mem = peak_device_gib(*be);
  const double enc = time_best([&] { got_codes = vq.encode(pixels); });
  const std::string enc_mem = peak_device_gib(*be);
  std::string dec_cmp = "-", dec_tf32_cmp = "-", enc_cmp = "-";
  if (o.check && be->native_stream()) {
    const Magvit cpu = Magvit::random(MagvitConfig::real(), 1234);
    const Tensor want = cpu.decode(codes, grid, grid);
    // Largest float difference, and the PNG's view: 8-bit pixels as written (vq/pixels.h).
    const auto compare = [&](const Tensor& got) {
      double worst = 0;
      for (int64_t i = 0; i < want.numel(); ++i)
        worst = std::max(worst, std::abs(double(got.ptr<float>()[i]) - double(want.ptr<float>()[i])));
      const Tensor u8 = image_to_uint8_nhwc(got), want_u8 = image_to_uint8_nhwc(want);
      int64_t off_by[3] = {0, 0, 0};
      for (int64_t i = 0; i < u8.numel(); ++i)
        ++off_by[std::min(2, std::abs(int(u8.ptr<uint8_t>()[i]) - int(want_u8.ptr<uint8_t>()[i])))];
      char buf[160];
      std::snprintf(buf, sizeof buf, "max |dpixel| %.3f/255; 8-bit: %lld equal, %lld off by 1, %lld by more",
                    worst * 127.5, (long long)off_by[0], (long long)off_by[1], (long long)off_by[2]);
      return std::string(buf);
    };
    dec_cmp = compare(image);
    dec_tf32_cmp = compare(image_tf32);
    const Tensor want_codes = cpu.encode(pixels);
    int64_t same = 0;
    for (int64_t i = 0; i < want_codes.numel(); ++i) same += want_codes.ptr<int64_t>()[i] == got_codes.ptr<int64_t>()[i];
    enc_cmp = "codes " + std::to_string(same) + "/" + std::to_string(want_codes.numel()) + " equal";
  }
  std::printf("| decode %lldx%lld codes | %lld | %.2f | %s | %s |\n", (long long)grid, (long long)grid,
              (long long)side, dec * 1e3, dec_mem.c_str(), dec_cmp.c_str());
  if (be->native_stream())
    std::printf("| decode, TF32 convolutions | %lld | %.2f | %s | %s |\n", (long long)side, dec_tf32 * 1e3,
                dec_tf32_mem.c_str(), dec_tf32_cmp.c_str());
  std::printf("| encode | %lld | %.2f | %s | %s |\n", (long long)side, enc * 1e3, enc_mem.c_str(), enc_cmp.c_str());
  return 0;
}

mmada::cli::Command bench_cmd(
    "bench", "Benchmarks without downloads: 'bench forward' times the transformer",
    [](CLI::App& sub) -> mmada::cli::RunFn {
      auto o = std::make_shared<Opts>();
      sub.add_option("what", o->what, "what to time: forward, or generate (text/MMU block diffusion)")
          ->check(CLI::IsMember({"forward", "generate", "t2i", "vq"}))->required();
      sub.add_option("--t2i-size", o->t2i_size, "t2i: image side in pixels (tokens = (size/16)^2)")->capture_default_str();
      sub.add_option("--cfg", o->cfg, "t2i: guidance scale")->capture_default_str();
      sub.add_option("--prompt-len", o->prompt_len, "generate: prompt tokens (MMU: ~1100 with a 512px image)")->capture_default_str();
      sub.add_option("--gen-length", o->gen, "generate: tokens to generate")->capture_default_str();
      sub.add_option("--steps", o->steps, "generate: denoising steps")->capture_default_str();
      sub.add_option("--block-length", o->block, "generate: block length")->capture_default_str();
      sub.add_option("--modes", o->modes,
                     "generate: decoding modes to time, comma-separated: none (exact), prefix, dual, each with "
                     "optional +tX (threshold), +fX (factor), +rK (cache refresh every K steps), e.g. "
                     "none,prefix,dual,dual+t0.9; t2i: none or '+'-joined xK (prompt K/V cache refreshed every K "
                     "steps), i1 (image codes cached too), cK (guidance branch every K steps), tX (threshold), e.g. "
                     "none,c2,x4+i1+c3; fast modes "
                     "report token agreement with none")
          ->capture_default_str();
      sub.add_option("--preset", o->preset, "model shape: 8b (MMaDA-8B) or tiny")->capture_default_str();
      sub.add_option("--config", o->config, "a config.json to take the shape from instead");
      sub.add_option("--precision", o->precision, "bf16 or f32")->check(CLI::IsMember({"bf16", "f32"}))->capture_default_str();
      sub.add_option("--seq", o->seqs, "sequence lengths")->delimiter(',')->capture_default_str();
      sub.add_option("--layers", o->layers, "override the number of layers (0 = config's)");
      sub.add_option("--head", o->head, "LM head rows: all, or none (blocks only)")->check(CLI::IsMember({"all", "none"}))->capture_default_str();
      sub.add_option("--repeat", o->repeat, "forwards per length (the best is reported)")->capture_default_str();
      sub.add_option("--backend", o->backend, "cpu or cuda[:N]")->capture_default_str();
      sub.add_option("--gpu-weights", o->gpu_weights,
                     "weight formats to time, comma-separated, each built from the same random weights: bf16, fp8, "
                     "fp8-all (cuda; t2i compares each one's codes with the first's)")
          ->capture_default_str();
      sub.add_option("--quant", o->quant, "quantize the random weights as made: q8, q4 or q4_0 (docs/quantization.md)")
          ->check(CLI::IsMember({"q8", "q4", "q4_0"}));
      sub.add_flag("--check", o->check, "vq: compare the GPU's pixels and codes with the CPU's");
      sub.add_flag("--profile", o->profile, "time every op (synchronising after each) and print where the time goes");
      return [o] {
        ModelConfig c;
        if (!o->config.empty()) {
          c = ModelConfig::load(o->config);
        } else {
          c = preset(o->preset);
        }
        if (o->layers > 0) c.n_layers = o->layers;
        if (o->what == "vq") return bench_vq(make_backend(o->backend), *o);
        const Precision p = precision_from_name(o->precision);
        std::vector<BackendOptions> formats;
        for (const std::string& name : split_modes(o->gpu_weights)) {  // all checked before anything is built
          formats.push_back({gpu_weights_from_name(name)});
          make_backend(o->backend, formats.back());  // refuses what this backend cannot run
        }
        FirstFormat first;
        for (const BackendOptions& bo : formats) {
          const int rc = bench_model(c, p, *o, bo, &first);
          if (rc) return rc;
        }
        return 0;
      };
    });

// One weight format: the random model on its backend, then what `bench` was asked to time.
int bench_model(const ModelConfig& c, Precision p, const Opts& o_, const BackendOptions& bo, FirstFormat* first) {
  const Opts* o = &o_;
  std::fprintf(stderr, "building random %s%s weights: d=%lld layers=%lld heads=%lld/%lld mlp=%lld vocab=%lld (%.2f B params)\n",
               o->precision.c_str(), o->quant.empty() ? "" : (" -> " + o->quant).c_str(), (long long)c.d_model, (long long)c.n_layers, (long long)c.n_heads,
               (long long)c.n_kv_heads, (long long)c.mlp_hidden, (long long)c.vocab, double(c.param_count()) / 1e9);
  std::shared_ptr<Backend> be = make_backend(o->backend, bo);
  std::shared_ptr<TimingBackend> timer;
  if (o->profile) be = timer = std::make_shared<TimingBackend>(be);
  QuantRecipe recipe;
  if (!o->quant.empty()) recipe = QuantRecipe::from_name(o->quant);
  const Transformer m = Transformer::random(c, p, 1234, be, o->quant.empty() ? nullptr : &recipe);
  std::printf("backend: %s\n", be->name().c_str());
  if (o->what == "generate") return bench_generate(m, *o);
  if (o->what == "t2i") return bench_t2i(m, *o, timer.get(), &first->t2i_codes);
  std::printf("| seq | s/forward | tokens/s | TFLOP/s | peak RSS GiB | peak GPU GiB | top-1 as first weights | logits rel. error |\n"
              "|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  {  // warm-up: plans, kernels and pools are made on first use
    std::vector<int64_t> ids(16, 1);
    ForwardRequest r;
    r.ids = ids.data();
    r.L = 16;
    m.forward(r);
  }
  for (int64_t L : o->seqs) {
    std::vector<int64_t> ids(static_cast<size_t>(L));
    for (int64_t i = 0; i < L; ++i) ids[size_t(i)] = (i * 7919) % c.vocab;
    ForwardRequest r;
    r.ids = ids.data();
    r.L = L;
    if (o->head == "none") r.rows = {0};  // one row: the head cost vanishes
    if (timer) timer->reset();
    be->reset_memory_peak();
    Tensor logits;  // the last run's, kept for the comparison with the first format
    const double best = best_seconds(
        0, o->repeat,
        [&](int64_t) {
          logits = m.forward_device(r);  // logits stay where they were computed
          m.backend().sync();
        },
        [&](int64_t) { logits = Tensor{}; });  // the previous logits are freed off the clock
    const double head_rows = o->head == "all" ? double(L) : 1.0;
    const double flops = c.flops_per_token_blocks(L) * double(L) + 2.0 * double(c.d_model) * double(c.vocab) * head_rows;
    // Against the first format's logits at this length: rows whose argmax agrees, and
    // ‖logits − first‖ / ‖first‖ (on random weights: a measure of the arithmetic, not of quality).
    std::string top1 = "-", rel = "-";
    if (logits.defined() && logits.numel() > 0) {
      std::vector<float> host(static_cast<size_t>(logits.numel()));
      m.backend().download(logits.data, host.data(), host.size() * 4);
      auto [it, is_first] = first->logits.try_emplace(L, std::move(host));  // host kept if not first
      if (!is_first) {
        const std::vector<float>& want = it->second;
        const int64_t V = logits.size(-1), rows = logits.numel() / V;
        int64_t same = 0;
        double num = 0, den = 0;
        for (int64_t i = 0; i < rows; ++i) {
          const float* a = host.data() + i * V;
          const float* b = want.data() + i * V;
          same += std::max_element(a, a + V) - a == std::max_element(b, b + V) - b;
          for (int64_t j = 0; j < V; ++j) num += double(a[j] - b[j]) * double(a[j] - b[j]), den += double(b[j]) * double(b[j]);
        }
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.4f", double(same) / double(rows));
        top1 = buf;
        std::snprintf(buf, sizeof buf, "%.4f", std::sqrt(num / std::max(den, 1e-300)));
        rel = buf;
      }
    }
    std::printf("| %lld | %.3f | %.1f | %.3f | %.2f | %s | %s | %s |\n", (long long)L, best, double(L) / best,
                flops / best / 1e12, peak_rss_gib(), peak_device_gib(*be).c_str(), top1.c_str(), rel.c_str());
    std::fflush(stdout);
    if (timer) {
      for (const auto& [op, st] : timer->stats())
        std::printf("|   %s | %.2f ms/forward | %ld calls |\n", op.c_str(),
                    st.seconds * 1e3 / double(o->repeat), st.calls / long(o->repeat));
    }
  }
  return 0;
}

}  // namespace
