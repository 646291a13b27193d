#include "train/image_classifier.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "sample/rng.h"
#include "train/image_data.h"
#include "train/optimizer.h"
#include "train/train_ops.h"
#include "vq/lfq.h"

namespace mmada::train {

namespace fs = std::filesystem;
using nlohmann::json;

int64_t ClassifierSpec::bits() const { return lfq_bits_for(codebook); }

int64_t ClassifierSpec::features() const {
  return (input == ClassifierInput::Pixels ? image_size * image_size : per_image * bits()) + 1;
}

namespace {

void check_spec(const ClassifierSpec& s, const std::string& where) {
  MMADA_CHECK(s.class_names.size() >= 2, where, ": needs at least 2 classes, has ", s.class_names.size());
  MMADA_CHECK(s.hidden >= 1 && s.hidden <= 65536, where, ": hidden size ", s.hidden, " out of range");
  if (s.input == ClassifierInput::Pixels)
    MMADA_CHECK(s.image_size >= 1 && s.image_size <= 1024, where, ": image_size ", s.image_size, " out of range");
  else
    MMADA_CHECK(s.per_image >= 1 && s.per_image <= (1 << 20) && s.codebook >= 2 && s.codebook <= (1 << 24),
                where, ": per_image ", s.per_image, " / codebook ", s.codebook, " out of range");
}

// Forward of n rows with the activations the backward needs.
struct Forward {
  std::vector<float> g, u, h, logits;
};

Forward forward(const ClassifierSpec& s, const std::vector<float>& wg, const std::vector<float>& wu,
                const std::vector<float>& wo, const std::vector<float>& x, int64_t n) {
  const int64_t F = s.features(), H = s.hidden, C = int64_t(s.class_names.size());
  MMADA_CHECK(int64_t(x.size()) == n * F, "classifier: ", x.size(), " features for ", n, " rows of ", F);
  Forward f;
  f.g.resize(size_t(n * H));
  f.u.resize(size_t(n * H));
  f.h.resize(size_t(n * H));
  f.logits.resize(size_t(n * C));
  linear_forward<float>(x.data(), wg.data(), f.g.data(), n, F, H);
  linear_forward<float>(x.data(), wu.data(), f.u.data(), n, F, H);
  silu_mul_forward<float>(f.g.data(), f.u.data(), f.h.data(), n * H);
  linear_forward<float>(f.h.data(), wo.data(), f.logits.data(), n, H, C);
  return f;
}

}  // namespace

ImageClassifier::ImageClassifier(ClassifierSpec spec, uint64_t seed) : spec_(std::move(spec)) {
  check_spec(spec_, "classifier");
  const int64_t F = spec_.features(), H = spec_.hidden, C = classes();
  const CounterRng rng{seed};
  // Uniform with the std of 1/sqrt(fan-in) (sqrt(3) scales U[-1, 1] to unit variance).
  auto init = [&](std::vector<float>& w, int64_t n, int64_t fan_in, uint64_t stream) {
    w.resize(size_t(n));
    const double a = std::sqrt(3.0 / double(fan_in));
    for (int64_t i = 0; i < n; ++i) w[size_t(i)] = float(a * (2 * rng.uniform(stream, uint64_t(i)) - 1));
  };
  init(w_gate_, H * F, F, 1);
  init(w_up_, H * F, F, 2);
  init(w_out_, C * H, H, 3);
}

void ImageClassifier::features_of_codes(const int32_t* codes, float* out) const {
  MMADA_CHECK(spec_.input == ClassifierInput::Codes, "classifier: a pixel classifier was given codes");
  const int64_t bits = spec_.bits();
  for (int64_t j = 0; j < spec_.per_image; ++j) {
    MMADA_CHECK(codes[j] >= 0 && codes[j] < spec_.codebook, "classifier: code ", codes[j],
                " at position ", j, " is outside the codebook of ", spec_.codebook);
    for (int64_t k = 0; k < bits; ++k) out[j * bits + k] = (codes[j] >> k) & 1 ? 1.0f : -1.0f;
  }
  out[spec_.per_image * bits] = 1.0f;
}

void ImageClassifier::features_of_pixels(const float* grey, float* out) const {
  MMADA_CHECK(spec_.input == ClassifierInput::Pixels, "classifier: a codes classifier was given pixels");
  const int64_t n = spec_.image_size * spec_.image_size;
  for (int64_t i = 0; i < n; ++i) out[i] = std::clamp(grey[i], -1.0f, 1.0f);
  out[n] = 1.0f;
}

std::vector<double> ImageClassifier::probabilities(const std::vector<float>& x, int64_t n) const {
  const Forward f = forward(spec_, w_gate_, w_up_, w_out_, x, n);
  const int64_t C = classes();
  std::vector<double> p(size_t(n * C));
  for (int64_t r = 0; r < n; ++r) {
    const float* l = f.logits.data() + r * C;
    const float mx = *std::max_element(l, l + C);
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += std::exp(double(l[c] - mx));
    for (int64_t c = 0; c < C; ++c) p[size_t(r * C + c)] = std::exp(double(l[c] - mx)) / sum;
  }
  return p;
}

double ImageClassifier::loss_and_grads(const std::vector<float>& x, const std::vector<int64_t>& labels,
                                       std::vector<float>& g_gate, std::vector<float>& g_up,
                                       std::vector<float>& g_out) const {
  const int64_t n = int64_t(labels.size()), F = spec_.features(), H = spec_.hidden, C = classes();
  const Forward f = forward(spec_, w_gate_, w_up_, w_out_, x, n);
  std::vector<float> dlogits(size_t(n * C));
  const std::vector<double> weight(size_t(n), 1.0 / double(n));  // mean over the batch
  const double loss = cross_entropy<float>(f.logits.data(), labels.data(), weight.data(), n, C, 0.0,
                                           dlogits.data(), nullptr);
  g_gate.assign(size_t(H * F), 0.0f);
  g_up.assign(size_t(H * F), 0.0f);
  g_out.assign(size_t(C * H), 0.0f);
  std::vector<float> dh(size_t(n * H), 0.0f), dg(size_t(n * H), 0.0f), du(size_t(n * H), 0.0f),
      dx(size_t(n * F), 0.0f);
  linear_backward<float>(dlogits.data(), f.h.data(), w_out_.data(), dh.data(), g_out.data(), n, H, C);
  silu_mul_backward<float>(dh.data(), f.g.data(), f.u.data(), dg.data(), du.data(), n * H);
  linear_backward<float>(dg.data(), x.data(), w_gate_.data(), dx.data(), g_gate.data(), n, F, H);
  linear_backward<float>(du.data(), x.data(), w_up_.data(), dx.data(), g_up.data(), n, F, H);
  return loss;
}

void ImageClassifier::save(const std::string& dir) const {
  fs::create_directories(dir);
  const int64_t F = spec_.features(), H = spec_.hidden, C = classes();
  auto tensor = [](const std::vector<float>& v, Shape shape) {
    Tensor t = Tensor::empty(DType::F32, std::move(shape));
    std::copy(v.begin(), v.end(), t.ptr<float>());
    return t;
  };
  write_safetensors((fs::path(dir) / "model.safetensors").string(),
                    {{"w_gate", tensor(w_gate_, {H, F})}, {"w_up", tensor(w_up_, {H, F})},
                     {"w_out", tensor(w_out_, {C, H})}});
  json j = {{"format", "mmada-image-classifier"},
            {"version", 1},
            {"architecture", "swiglu-mlp: h = silu(x W_gate^T) * (x W_up^T), logits = h W_out^T; x ends in a constant 1"},
            {"input", spec_.input == ClassifierInput::Pixels ? "pixels" : "codes"},
            {"hidden", H},
            {"features", F},
            {"class_names", spec_.class_names}};
  if (spec_.input == ClassifierInput::Pixels) {
    j["image_size"] = spec_.image_size;
  } else {
    j["per_image"] = spec_.per_image;
    j["codebook"] = spec_.codebook;
    j["vq_fingerprint"] = spec_.vq_fingerprint;
  }
  if (spec_.heldout_accuracy >= 0) {
    j["heldout_accuracy"] = spec_.heldout_accuracy;
    j["heldout_count"] = spec_.heldout_count;
  }
  std::ofstream out(fs::path(dir) / "classifier.json");
  out << j.dump(2) << "\n";
  MMADA_CHECK(out.good(), dir, "/classifier.json: cannot write");
}

ImageClassifier ImageClassifier::load(const std::string& dir) {
  const fs::path jp = fs::path(dir) / "classifier.json", wp = fs::path(dir) / "model.safetensors";
  MMADA_CHECK(fs::is_regular_file(jp) && fs::is_regular_file(wp), dir,
              ": not a classifier folder (needs classifier.json and model.safetensors, as "
              "`mmada train-classifier` writes)");
  json j;
  try {
    std::ifstream in(jp);
    j = json::parse(in);
  } catch (const json::exception& e) {
    fail(jp.string(), ": not valid JSON: ", e.what());
  }
  const std::string where = jp.string();
  ClassifierSpec s;
  try {
    MMADA_CHECK(j.value("format", "") == "mmada-image-classifier", where,
                ": \"format\" is not \"mmada-image-classifier\"");
    const std::string in = j.at("input").get<std::string>();
    MMADA_CHECK(in == "pixels" || in == "codes", where, ": input \"", in, "\" is not pixels or codes");
    s.input = in == "pixels" ? ClassifierInput::Pixels : ClassifierInput::Codes;
    s.hidden = j.at("hidden").get<int64_t>();
    s.class_names = j.at("class_names").get<std::vector<std::string>>();
    if (s.input == ClassifierInput::Pixels) {
      s.image_size = j.at("image_size").get<int64_t>();
    } else {
      s.per_image = j.at("per_image").get<int64_t>();
      s.codebook = j.at("codebook").get<int64_t>();
      s.vq_fingerprint = j.at("vq_fingerprint").get<std::string>();
    }
    s.heldout_accuracy = j.value("heldout_accuracy", -1.0);
    s.heldout_count = j.value("heldout_count", int64_t(0));
  } catch (const json::exception& e) {
    fail(where, ": missing or mistyped key: ", e.what());
  }
  check_spec(s, where);
  ImageClassifier c;
  c.spec_ = s;
  const int64_t F = s.features(), H = s.hidden, C = int64_t(s.class_names.size());
  const auto st = SafeTensorsFile::open(wp.string());
  auto take = [&](const char* name, const Shape& shape, std::vector<float>& w) {
    MMADA_CHECK(st->has(name), wp.string(), ": no tensor ", name);
    const Tensor& t = st->get(name);
    MMADA_CHECK(t.dtype == DType::F32 && t.shape == shape, wp.string(), ": ", name, " has shape ",
                shape_str(t.shape), " (", dtype_name(t.dtype), "), expected ", shape_str(shape),
                " float32 from classifier.json");
    w.assign(t.ptr<float>(), t.ptr<float>() + t.numel());
  };
  take("w_gate", {H, F}, c.w_gate_);
  take("w_up", {H, F}, c.w_up_);
  take("w_out", {C, H}, c.w_out_);
  return c;
}

// --- mmada train-classifier ---

namespace {

// Feature rows of every image of a split.
std::vector<float> split_features(const ImageClassifier& clf, const ClassifierTrainOptions& o,
                                  const std::string& split, int64_t limit, std::vector<uint8_t>& labels) {
  const ClassifierSpec& s = clf.spec();
  const int64_t F = s.features();
  std::vector<float> x;
  if (s.input == ClassifierInput::Codes) {
    ImageSourceSpec src;
    src.path = o.data;
    src.vq = o.vq;
    src.limit = limit;
    src.image_size = o.image_size;
    src.cache_dir = o.cache_dir;
    src.class_names = o.class_names;
    const ImageCodes codes = tokenize_images(src, split);
    MMADA_CHECK(codes.per_image == s.per_image && codes.codebook == s.codebook, "classifier: the ", split,
                " codes have ", codes.per_image, " positions of codebook ", codes.codebook, ", the training codes ",
                s.per_image, " of ", s.codebook);
    x.resize(size_t(codes.count * F));
    for (int64_t i = 0; i < codes.count; ++i)
      clf.features_of_codes(&codes.codes[size_t(i * codes.per_image)], &x[size_t(i * F)]);
    labels = codes.labels;
  } else {
    const LabelledImages d = load_labelled_idx(o.data, split, limit, clf.classes());
    const int64_t S = s.image_size;
    x.resize(size_t(d.count * F));
    for (int64_t b = 0; b < d.count; b += 256) {
      const int64_t n = std::min<int64_t>(256, d.count - b);
      const Tensor px = grey_to_pixels(d, b, n, S);  // [n, 3, S, S], channel 0 is the grey
      for (int64_t i = 0; i < n; ++i)
        clf.features_of_pixels(px.ptr<float>() + i * 3 * S * S, &x[size_t((b + i) * F)]);
    }
    labels = d.labels;
  }
  return x;
}

}  // namespace

ClassifierTrainResult train_classifier(const ClassifierTrainOptions& o, void (*progress)(int64_t, double)) {
  MMADA_CHECK(!o.data.empty(), "train-classifier: --data (IDX folder) is required");
  MMADA_CHECK(!o.output.empty(), "train-classifier: --output folder is required");
  MMADA_CHECK(o.input == ClassifierInput::Pixels || !o.vq.empty(),
              "train-classifier: input \"codes\" needs --vq (the MAGVIT-v2 folder the RL run uses)");
  MMADA_CHECK(o.steps >= 1 && o.batch >= 1 && o.hidden >= 1 && o.lr > 0,
              "train-classifier: steps, batch, hidden and lr must be positive");
  const auto t0 = std::chrono::steady_clock::now();
  ClassifierSpec spec;
  spec.input = o.input;
  spec.hidden = o.hidden;
  spec.class_names = o.class_names.empty() ? fashion_mnist_classes() : o.class_names;
  if (o.input == ClassifierInput::Pixels) {
    spec.image_size = o.image_size;
  } else {
    // The codes' shape comes from the tokenizer: encode the first image to learn it.
    ImageSourceSpec probe;
    probe.path = o.data;
    probe.vq = o.vq;
    probe.limit = o.train_limit;
    probe.image_size = o.image_size;
    probe.cache_dir = o.cache_dir;
    probe.class_names = o.class_names;
    const ImageCodes c = tokenize_images(probe, "train");
    spec.per_image = c.per_image;
    spec.codebook = c.codebook;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)vq_identity(o.vq));
    spec.vq_fingerprint = hex;
  }
  ImageClassifier clf(spec, o.seed);
  std::vector<uint8_t> ytr, yte;
  const std::vector<float> xtr = split_features(clf, o, "train", o.train_limit, ytr);
  const std::vector<float> xte = split_features(clf, o, "t10k", o.test_limit, yte);
  const int64_t F = spec.features(), ntr = int64_t(ytr.size());
  MMADA_CHECK(ntr > 0, o.data, ": no training images");

  OptimConfig oc;
  oc.weight_decay = o.weight_decay;
  std::vector<float> mg(clf.w_gate().size()), vg(mg.size()), mu(clf.w_up().size()), vu(mu.size()),
      mo(clf.w_out().size()), vo(mo.size()), gg, gu, go;
  const CounterRng rng{o.seed};
  ClassifierTrainResult res;
  std::vector<float> xb(size_t(o.batch * F));
  std::vector<int64_t> yb(size_t(o.batch));
  for (int64_t step = 1; step <= o.steps; ++step) {
    for (int64_t b = 0; b < o.batch; ++b) {
      const int64_t i = std::min<int64_t>(ntr - 1, int64_t(rng.uniform(0xC1A55, uint64_t(step * o.batch + b)) * double(ntr)));
      std::copy_n(&xtr[size_t(i * F)], F, &xb[size_t(b * F)]);
      yb[size_t(b)] = ytr[size_t(i)];
    }
    const double loss = clf.loss_and_grads(xb, yb, gg, gu, go);
    MMADA_CHECK(std::isfinite(loss), "train-classifier: non-finite loss at step ", step);
    // Cosine decay to 0 over the run, no warm-up (a small MLP on a fixed data set).
    const double lr = o.lr * 0.5 * (1 + std::cos(M_PI * double(step - 1) / double(o.steps)));
    adamw_update(clf.w_gate().data(), gg.data(), mg.data(), vg.data(), int64_t(gg.size()), oc, step, lr);
    adamw_update(clf.w_up().data(), gu.data(), mu.data(), vu.data(), int64_t(gu.size()), oc, step, lr);
    adamw_update(clf.w_out().data(), go.data(), mo.data(), vo.data(), int64_t(go.size()), oc, step, lr);
    res.final_loss = loss;
    if (progress && (step % 100 == 0 || step == o.steps)) progress(step, loss);
  }
  res.train_count = ntr;
  res.test_count = int64_t(yte.size());
  const std::vector<double> p = clf.probabilities(xte, res.test_count);
  const int64_t C = clf.classes();
  for (int64_t i = 0; i < res.test_count; ++i) {
    const double* r = &p[size_t(i * C)];
    res.test_correct += int64_t(std::max_element(r, r + C) - r) == int64_t(yte[size_t(i)]);
  }
  clf.set_heldout(res.test_count ? double(res.test_correct) / double(res.test_count) : 0.0, res.test_count);
  clf.save(o.output);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace mmada::train
