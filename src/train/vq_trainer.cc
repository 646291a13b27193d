#include "train/vq_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "train/image_data.h"
#include "train/json_section.h"

namespace fs = std::filesystem;

namespace mmada::train {

// ---------------------------------------------------------------- config

VqTrainConfig VqTrainConfig::from_json_text(const std::string& text, const std::string& where) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    fail(where, ": not valid JSON: ", e.what());
  }
  VqTrainConfig c;
  const Section top(root, where,
                    with_run_keys({"tokenizer", "data", "batch", "loss", "optim", "steps",
                                   "log_every", "eval_every", "grid_images"}));

  const Section t = top.sub("tokenizer", {"ch", "levels", "res_blocks", "bits", "init_seed"});
  c.ch = t.integer("ch", 32, 32, 1024);
  MMADA_CHECK(c.ch % 32 == 0, t.where, ".ch = ", c.ch, " must be a multiple of 32 (GroupNorm has 32 groups)");
  c.levels = t.integer("levels", 3, 1, 8);
  c.res_blocks = t.integer("res_blocks", 1, 0, 8);
  c.bits = t.integer("bits", 10, 1, 30);  // above 16: check_trainable says why not
  c.init_seed = uint64_t(t.integer("init_seed", 1, 0));
  c.vq = MagvitConfig::small(c.ch, c.levels, c.res_blocks, c.bits);
  check_trainable(c.vq, t.where);

  const Section d = top.sub("data", {"train", "eval", "image_size"});
  auto sources = [&](const char* key, const std::string& split) {
    std::vector<VqImageSource> out;
    MMADA_CHECK(d.has(key) && d.j[key].is_array() && !d.j[key].empty(), d.where, ".", key,
                " must be a non-empty array of {\"path\", \"split\", \"limit\"}");
    for (size_t i = 0; i < d.j[key].size(); ++i) {
      const Section s(d.j[key][i], d.where + "." + key + "[" + std::to_string(i) + "]",
                      {"path", "split", "limit"});
      VqImageSource src;
      src.path = s.str("path", "");
      MMADA_CHECK(!src.path.empty(), s.where, ".path (folder of IDX files) is required");
      src.split = s.str("split", split);
      src.limit = s.integer("limit", 0, 0);
      out.push_back(src);
    }
    return out;
  };
  c.train = sources("train", "train");
  c.eval = sources("eval", "t10k");
  c.image_size = d.integer("image_size", 32, 1, 1024);
  MMADA_CHECK(c.image_size % c.vq.downsample_factor() == 0, d.where, ".image_size = ",
              c.image_size, " is not a multiple of the tokenizer's down-sampling factor ",
              c.vq.downsample_factor(), " (levels ", c.levels, ")");

  c.batch = top.integer("batch", 16, 1, 4096);
  const Section l = top.sub("loss", {"recon", "recon_weight", "commitment", "entropy",
                                     "codebook_gamma", "inv_temperature"});
  c.loss.recon = l.str("recon", "l2", {"l1", "l2"}) == "l1" ? ReconLoss::L1 : ReconLoss::L2;
  c.loss.recon_weight = l.num("recon_weight", 1.0, 0, 1e6);
  c.loss.lfq.commitment = l.num("commitment", 0.25, 0, 1e6);
  c.loss.lfq.entropy = l.num("entropy", 0.1, 0, 1e6);
  c.loss.lfq.gamma = l.num("codebook_gamma", 1.0, 0, 1e6);
  c.loss.lfq.inv_temperature = l.num("inv_temperature", 100.0, 0, 1e6, true);

  const Section o = top.sub("optim", {"lr", "warmup_steps", "max_train_steps", "beta1", "beta2",
                                      "eps", "weight_decay", "grad_clip"});
  OptimConfig& oc = c.optim;
  oc.lr = o.num("lr", 5e-4, 0, 10, true);
  oc.warmup_steps = o.integer("warmup_steps", 100, 0);
  oc.beta1 = o.num("beta1", 0.9, 0, 0.999999);
  oc.beta2 = o.num("beta2", 0.99, 0, 0.999999999);
  oc.eps = o.num("eps", 1e-8, 0, 1, true);
  oc.weight_decay = o.num("weight_decay", 0.0, 0, 1);
  oc.grad_clip = o.num("grad_clip", 1.0, 0, 1e9);

  MMADA_CHECK(top.has("steps"), where, ": \"steps\" is required");
  c.steps = top.integer("steps", 0, 1);
  oc.max_train_steps = o.integer("max_train_steps", c.steps, 1);
  MMADA_CHECK(oc.max_train_steps > oc.warmup_steps, o.where,
              ".max_train_steps must exceed warmup_steps");
  c.log_every = top.integer("log_every", 10, 1);
  c.eval_every = top.integer("eval_every", 0, 0);
  c.grid_images = top.integer("grid_images", 16, 0, 256);
  c.run = parse_run_settings(top, "train_vq_log.jsonl");
  MMADA_CHECK(c.run.save_dtype == DType::F32, where,
              ".save_dtype: the tokenizer is saved in float32 only (the engine runs it in f32)");
  return c;
}

VqTrainConfig VqTrainConfig::load(const std::string& path) {
  std::ifstream in(path);
  MMADA_CHECK(in.good(), path, ": cannot read the VQ training config");
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), path);
}

// ---------------------------------------------------------------- data

VqImages load_vq_images(const std::vector<VqImageSource>& sources) {
  VqImages out;
  for (const VqImageSource& s : sources) {
    // Labels are read only so that a mismatched image/label pair is caught; 256 admits any byte.
    const LabelledImages d = load_labelled_idx(s.path, s.split, s.limit, 256);
    if (out.count == 0) out.height = d.height, out.width = d.width;
    MMADA_CHECK(d.height == out.height && d.width == out.width, d.images_file, ": images are ",
                d.height, "x", d.width, ", the earlier sources' ", out.height, "x", out.width);
    out.pixels.insert(out.pixels.end(), d.pixels.begin(), d.pixels.end());
    out.count += d.count;
  }
  MMADA_CHECK(out.count > 0, "VQ training: the image sources hold no images");
  return out;
}

namespace {

LabelledImages as_labelled(const VqImages& im) {
  LabelledImages d;
  d.count = im.count, d.height = im.height, d.width = im.width;
  d.pixels = im.pixels;
  d.labels.assign(size_t(im.count), 0);
  return d;
}

// splitmix64: the batch of step s is a pure function of (seed, s), so a resumed run draws the
// same images as an uninterrupted one.
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Image i centred on a black canvas, grey to RGB, channels-last [size, size, 3] in [-1, 1]
// (grey_to_pixels' layout transposed).
void canvas_nhwc(const VqImages& im, int64_t i, int64_t size, float* out) {
  std::fill(out, out + size * size * 3, -1.0f);
  const int64_t top = (size - im.height) / 2, left = (size - im.width) / 2;
  for (int64_t y = 0; y < im.height; ++y)
    for (int64_t x = 0; x < im.width; ++x) {
      const float v = float(im.pixels[size_t((i * im.height + y) * im.width + x)]) / 127.5f - 1.0f;
      for (int64_t c = 0; c < 3; ++c) out[((top + y) * size + left + x) * 3 + c] = v;
    }
}

double psnr_of(double mse) { return 10.0 * std::log10(1.0 / std::max(mse, 1e-10)); }

uint8_t to_byte(float v) {
  return uint8_t(std::lround(std::clamp((double(v) + 1.0) * 127.5, 0.0, 255.0)));
}

// AdamW over the flat parameter vector (the update of optimizer.h's AdamW, which walks the
// transformer's tensor table instead).
struct FlatAdamW {
  std::vector<float> m, v;
  int64_t steps = 0;
  void step(const OptimConfig& oc, std::vector<float>& p, const std::vector<float>& g, double lr) {
    if (m.empty()) m.assign(p.size(), 0.f), v.assign(p.size(), 0.f);
    ++steps;
    const double bc1 = 1 - std::pow(oc.beta1, double(steps)), bc2 = 1 - std::pow(oc.beta2, double(steps));
    const float b1 = float(oc.beta1), b2 = float(oc.beta2), step_size = float(lr / bc1),
                bc2_sqrt = float(std::sqrt(bc2)), eps = float(oc.eps),
                shrink = float(1.0 - lr * oc.weight_decay);
    const int64_t n = int64_t(p.size());
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      p[size_t(i)] *= shrink;
      m[size_t(i)] = b1 * m[size_t(i)] + (1 - b1) * g[size_t(i)];
      v[size_t(i)] = b2 * v[size_t(i)] + (1 - b2) * g[size_t(i)] * g[size_t(i)];
      p[size_t(i)] -= step_size * m[size_t(i)] / (std::sqrt(v[size_t(i)]) / bc2_sqrt + eps);
    }
  }
};

double clip_flat(std::vector<float>& g, double max_norm) {
  double ss = 0;
  for (float x : g) ss += double(x) * double(x);
  const double norm = std::sqrt(ss);
  if (max_norm > 0 && norm > max_norm) {
    const float coef = float(max_norm / (norm + 1e-6));
    for (float& x : g) x *= coef;
  }
  return norm;
}

Tensor vector_tensor(const std::vector<float>& v) {
  Tensor t = Tensor::empty(DType::F32, {int64_t(v.size())});
  std::copy(v.begin(), v.end(), t.ptr<float>());
  return t;
}

void write_model_folder(const std::string& dir, const VqNet<float>& net, int64_t step) {
  fs::create_directories(dir);
  write_safetensors((fs::path(dir) / "model.safetensors").string(), net.tensors(),
                    {{"format", "pt"},
                     {"mmada", "MAGVIT-v2 architecture tokenizer trained by mmada train-vq"},
                     {"step", std::to_string(step)}});
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  std::ofstream out(cfg_path);
  out << net.config().to_json().dump(2) << "\n";
  MMADA_CHECK(out.good(), cfg_path, ": cannot write");
}

// <output_dir>/checkpoint: the model folder + the Adam moments + the step, written under
// ".tmp" and renamed, so a crash leaves the previous complete checkpoint.
void save_vq_checkpoint(const std::string& dir, const VqNet<float>& net, const FlatAdamW& opt,
                        int64_t step, uint64_t seed) {
  const std::string tmp = dir + ".tmp";
  fs::remove_all(tmp);
  write_model_folder(tmp, net, step);
  write_safetensors((fs::path(tmp) / "optimizer.safetensors").string(),
                    {{"m", vector_tensor(opt.m)}, {"v", vector_tensor(opt.v)}});
  std::ofstream st(fs::path(tmp) / "trainer_state.json");
  st << json{{"step", step}, {"adam_steps", opt.steps}, {"seed", seed}}.dump(2) << "\n";
  st.close();
  MMADA_CHECK(st.good(), tmp, ": cannot write trainer_state.json");
  fs::remove_all(dir);
  fs::rename(tmp, dir);
}

int64_t load_vq_checkpoint(const std::string& dir, VqNet<float>& net, FlatAdamW& opt,
                           uint64_t seed) {
  const MagvitConfig saved = MagvitConfig::load(dir);
  MMADA_CHECK(saved.to_json() == net.config().to_json(), dir,
              ": the checkpoint's tokenizer config differs from this config's \"tokenizer\"; "
              "start a fresh output_dir or match the config");
  std::map<std::string, Tensor> named;
  const SafeTensorsSet model = SafeTensorsSet::open((fs::path(dir) / "model.safetensors").string());
  for (const std::string& n : model.names()) named[n] = model.get(n);
  net.set_from(named, dir);
  const SafeTensorsSet os = SafeTensorsSet::open((fs::path(dir) / "optimizer.safetensors").string());
  for (auto [key, vec] : {std::pair{"m", &opt.m}, std::pair{"v", &opt.v}}) {
    const Tensor t = os.get(key).to_f32();
    MMADA_CHECK(t.numel() == net.num_parameters(), dir, ": optimizer tensor '", key, "' has ",
                t.numel(), " entries for ", net.num_parameters(), " parameters");
    vec->assign(t.ptr<float>(), t.ptr<float>() + t.numel());
  }
  std::ifstream in(fs::path(dir) / "trainer_state.json");
  json st;
  try {
    st = json::parse(in);
    opt.steps = st.at("adam_steps").get<int64_t>();
    MMADA_CHECK(st.at("seed").get<uint64_t>() == seed, dir, ": the checkpoint was trained with seed ",
                st.at("seed").get<uint64_t>(), ", the config says ", seed);
    return st.at("step").get<int64_t>();
  } catch (const json::exception& e) {
    fail(dir, "/trainer_state.json: ", e.what());
  }
}

}  // namespace

// ---------------------------------------------------------------- evaluation

VqEval evaluate_vq(const Magvit& vq, const VqImages& images, int64_t size, int64_t grid_images) {
  VqEval ev;
  ev.images = images.count;
  ev.codebook = vq.config().codebook_size();
  std::vector<int64_t> hist(static_cast<size_t>(ev.codebook), 0);
  const LabelledImages d = as_labelled(images);
  const int64_t top = (size - images.height) / 2, left = (size - images.width) / 2;
  ev.grid = std::min(grid_images, images.count);
  constexpr int64_t kBatch = 64;
  double psnr_sum = 0, psnr_canvas_sum = 0;
  for (int64_t b = 0; b < images.count; b += kBatch) {
    const int64_t n = std::min(kBatch, images.count - b);
    const Tensor px = grey_to_pixels(d, b, n, size);
    const Tensor codes = vq.encode(px);
    const Tensor rec = vq.decode(codes);
    for (int64_t i = 0; i < codes.numel(); ++i) ++hist[size_t(codes.ptr<int64_t>()[i])];
    for (int64_t i = 0; i < n; ++i) {
      double se = 0, se_canvas = 0;
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < size; ++y)
          for (int64_t x = 0; x < size; ++x) {
            const int64_t at = ((i * 3 + c) * size + y) * size + x;
            // Pixels in [0, 1]; the decode clamped as the PNG writer does.
            const double r = std::clamp((double(rec.ptr<float>()[at]) + 1) / 2, 0.0, 1.0);
            const double o = (double(px.ptr<float>()[at]) + 1) / 2;
            const double e = (r - o) * (r - o);
            se_canvas += e;
            if (y >= top && y < top + images.height && x >= left && x < left + images.width) se += e;
          }
      psnr_sum += psnr_of(se / double(3 * images.height * images.width));
      psnr_canvas_sum += psnr_of(se_canvas / double(3 * size * size));
      if (b + i < ev.grid) {
        const float* po = px.ptr<float>() + i * 3 * size * size;
        const float* pr = rec.ptr<float>() + i * 3 * size * size;
        ev.grid_orig.insert(ev.grid_orig.end(), po, po + 3 * size * size);
        ev.grid_recon.insert(ev.grid_recon.end(), pr, pr + 3 * size * size);
      }
    }
  }
  ev.psnr = psnr_sum / double(images.count);
  ev.psnr_canvas = psnr_canvas_sum / double(images.count);
  int64_t positions = 0;
  for (int64_t h : hist) positions += h;
  for (int64_t h : hist)
    if (h > 0) {
      ++ev.codes_used;
      const double p = double(h) / double(positions);
      ev.code_entropy_bits -= p * std::log2(p);
    }
  return ev;
}

void write_recon_grid(const std::string& path, const std::vector<VqEval>& evals, int64_t size) {
  constexpr int64_t kCols = 8, kScale = 2;
  const int64_t cell = size * kScale + 2;
  int64_t rows = 0;
  for (const VqEval& e : evals) rows += 2 * ((e.grid + kCols - 1) / kCols);
  MMADA_CHECK(rows > 0, path, ": no images for the reconstruction grid");
  RgbImage img(int(kCols * cell + 2), int(rows * cell + 2));
  std::fill(img.rgb.begin(), img.rgb.end(), uint8_t(96));
  int64_t row0 = 0;
  for (const VqEval& e : evals) {
    for (int64_t k = 0; k < e.grid; ++k)
      for (int64_t which = 0; which < 2; ++which) {
        const float* src = (which == 0 ? e.grid_orig.data() : e.grid_recon.data()) + k * 3 * size * size;
        const int64_t ox = (k % kCols) * cell + 2, oy = (row0 + (k / kCols) * 2 + which) * cell + 2;
        for (int64_t y = 0; y < size * kScale; ++y)
          for (int64_t x = 0; x < size * kScale; ++x)
            for (int64_t c = 0; c < 3; ++c)
              img.row(int(oy + y))[(ox + x) * 3 + c] =
                  to_byte(src[(c * size + y / kScale) * size + x / kScale]);
      }
    row0 += 2 * ((e.grid + kCols - 1) / kCols);
  }
  write_png(path, img, {{"mmada", "pairs of rows: originals, then their reconstructions"}});
}

namespace {
json eval_to_json(const VqEval& e) {
  return json{{"source", e.source},         {"images", e.images},
              {"psnr", e.psnr},             {"psnr_canvas", e.psnr_canvas},
              {"codes_used", e.codes_used}, {"codebook", e.codebook},
              {"code_entropy_bits", e.code_entropy_bits}};
}
}  // namespace

std::vector<VqEval> evaluate_vq_sources(const Magvit& vq, const VqTrainConfig& cfg,
                                        const std::string& out_dir) {
  std::vector<VqEval> out;
  json all = json::array();
  for (const VqImageSource& s : cfg.eval) {
    const VqImages im = load_vq_images({s});
    MMADA_CHECK(cfg.image_size >= im.height && cfg.image_size >= im.width, s.path, ": ",
                im.height, "x", im.width, " images do not fit the ", cfg.image_size, " canvas");
    out.push_back(evaluate_vq(vq, im, cfg.image_size, cfg.grid_images));
    out.back().source = s.path + ":" + s.split;
    all.push_back(eval_to_json(out.back()));
  }
  if (!out_dir.empty()) {
    std::ofstream(fs::path(out_dir) / "eval.json") << all.dump(2) << "\n";
    if (cfg.grid_images > 0) write_recon_grid((fs::path(out_dir) / "recon.png").string(), out, cfg.image_size);
  }
  return out;
}

// ---------------------------------------------------------------- training

void train_vq(const VqTrainConfig& cfg, const std::function<void(const std::string&)>& progress) {
  const RunSettings& run = cfg.run;
  fs::create_directories(run.output_dir);
  VqNet<float> net(cfg.vq, cfg.init_seed);
  FlatAdamW opt;
  int64_t start = 0;
  const std::string ckpt = run.checkpoint_dir();
  if (run.resume && fs::exists(ckpt)) start = load_vq_checkpoint(ckpt, net, opt, run.seed);
  MMADA_CHECK(start <= cfg.steps, ckpt, ": the checkpoint is at step ", start, ", past steps = ",
              cfg.steps);

  const VqImages train = load_vq_images(cfg.train);
  const int64_t size = cfg.image_size;
  MMADA_CHECK(size >= train.height && size >= train.width,
              "VQ training: image_size ", size, " is smaller than the ", train.height, "x",
              train.width, " images (they are centred on the canvas, never cropped)");

  keep_log_through_step(run.log_path, start);
  std::ofstream log(run.log_path, std::ios::app);
  MMADA_CHECK(log.good(), run.log_path, ": cannot write the log");
  auto log_line = [&](const json& j) {
    log << j.dump() << "\n";
    log.flush();
  };
  if (start == 0)
    log_line({{"config",
               {{"tokenizer", cfg.vq.to_json()}, {"parameters", net.num_parameters()},
                {"train_images", train.count}, {"batch", cfg.batch},
                {"steps", cfg.steps}, {"image_size", size}}}});

  auto run_eval = [&](int64_t step, const std::string& out_dir) {
    json all = json::array();
    for (const VqEval& ev : evaluate_vq_sources(net.engine_model(), cfg, out_dir)) {
      all.push_back(eval_to_json(ev));
      if (progress)
        progress(str_cat("eval step ", step, " ", ev.source, ": psnr ", ev.psnr, " dB, codes used ",
                         ev.codes_used, "/", ev.codebook, ", code entropy ", ev.code_entropy_bits,
                         " bits"));
    }
    log_line({{"step", step}, {"eval", all}});
  };

  std::vector<float> batch(static_cast<size_t>(cfg.batch * size * size * 3));
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t step = start; step < cfg.steps; ++step) {
    for (int64_t r = 0; r < cfg.batch; ++r) {
      const uint64_t h = mix(mix(run.seed ^ 0x5eedull) + uint64_t(step) * 0x100000001b3ull + uint64_t(r));
      canvas_nhwc(train, int64_t(h % uint64_t(train.count)), size, batch.data() + r * size * size * 3);
    }
    std::fill(net.grads().begin(), net.grads().end(), 0.f);
    const VqStepResult res = net.step(batch.data(), cfg.batch, size, cfg.loss, true);
    MMADA_CHECK(std::isfinite(res.loss), "VQ training: the loss is ", res.loss, " at step ",
                step + 1, " (recon ", res.recon, ", commitment ", res.lfq.commitment,
                "); stopped without saving this step; lower optim.lr or raise grad_clip");
    const double gnorm = clip_flat(net.grads(), cfg.optim.grad_clip);
    MMADA_CHECK(std::isfinite(gnorm), "VQ training: the gradient norm is ", gnorm, " at step ",
                step + 1, "; stopped without saving this step");
    const double lr = lr_at(cfg.optim, step);
    opt.step(cfg.optim, net.weights(), net.grads(), lr);
    const int64_t done = step + 1;

    if (done % cfg.log_every == 0 || done == cfg.steps) {
      std::vector<int64_t> codes = res.codes;
      std::sort(codes.begin(), codes.end());
      const int64_t distinct = int64_t(std::unique(codes.begin(), codes.end()) - codes.begin());
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      log_line({{"step", done}, {"loss", res.loss}, {"recon", res.recon},
                {"recon_psnr", psnr_of(res.recon / 4)}, {"commitment", res.lfq.commitment},
                {"sample_entropy", res.lfq.sample_entropy},
                {"codebook_entropy", res.lfq.codebook_entropy}, {"batch_codes_used", distinct},
                {"lr", lr}, {"grad_norm", gnorm}, {"seconds", secs}});
      if (progress) {
        const double rate = double(done - start) * double(cfg.batch) / std::max(secs, 1e-9);
        const double eta = double(cfg.steps - done) * double(cfg.batch) / std::max(rate, 1e-9);
        progress(str_cat("train-vq step ", done, "/", cfg.steps, "  loss ", res.loss, "  recon ",
                         res.recon, "  batch codes ", distinct, "  ", rate, " img/s  eta ",
                         int64_t(eta), " s"));
      }
    }
    if (cfg.eval_every > 0 && done % cfg.eval_every == 0 && done != cfg.steps) run_eval(done, "");
    if ((run.save_every > 0 && done % run.save_every == 0) || done == cfg.steps)
      save_vq_checkpoint(ckpt, net, opt, done, run.seed);
  }

  write_model_folder(run.output_dir, net, cfg.steps);
  run_eval(cfg.steps, run.output_dir);
}

}  // namespace mmada::train
