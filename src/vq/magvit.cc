#include "vq/magvit.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/torch_pickle.h"
#include "vq/feature_ops.h"
#include "vq/lfq.h"

namespace fs = std::filesystem;

namespace mmada {

namespace {

std::string checkpoint_file(const std::string& path) {
  if (!fs::is_directory(path)) return path;
  for (const char* name : {"pytorch_model.safetensors", "model.safetensors"})
    if (fs::exists(fs::path(path) / name)) return (fs::path(path) / name).string();
  // The reference loader's fallback: a torch.save zip (read without Python, see torch_pickle.h).
  if (fs::exists(fs::path(path) / "pytorch_model.bin")) return (fs::path(path) / "pytorch_model.bin").string();
  return path;  // SafeTensorsSet picks the single *.safetensors file or explains
}

// Name -> tensor from either checkpoint format.
struct Checkpoint {
  std::map<std::string, Tensor> tensors;
  static Checkpoint open(const std::string& file) {
    Checkpoint c;
    if (file.ends_with(".bin")) {
      for (auto& [name, t] : load_torch_checkpoint(file)) c.tensors[name] = std::move(t);
    } else {
      const SafeTensorsSet st = SafeTensorsSet::open(file);
      for (const std::string& name : st.names()) c.tensors[name] = st.get(name);
    }
    return c;
  }
  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  const Tensor& get(const std::string& name) const { return tensors.at(name); }
};

// Checks the quantize.* buffers against the rule the code derives them from (vq.md §4).
void check_quantizer_buffers(const Checkpoint& st, int64_t bits, const std::string& where) {
  const int64_t size = int64_t(1) << bits;
  for (const char* name : {"quantize.embedding", "quantize.power_vals"})
    MMADA_CHECK(st.has(name), where, ": missing tensor '", name, "'");
  const Tensor& e = st.get("quantize.embedding");
  MMADA_CHECK(e.shape == (Shape{size, bits}), where, ": tensor 'quantize.embedding' has shape ",
              shape_str(e.shape), ", expected ", shape_str({size, bits}));
  const Tensor ef = e.to_f32(), want = lfq_codebook(bits);
  for (int64_t i = 0; i < size * bits; ++i)
    MMADA_CHECK(ef.ptr<float>()[i] == want.ptr<float>()[i], where,
                ": 'quantize.embedding' row ", i / bits, " is not the +-1 bit pattern of its index");
  const Tensor& pv = st.get("quantize.power_vals");
  MMADA_CHECK(pv.shape == (Shape{bits}), where, ": tensor 'quantize.power_vals' has shape ",
              shape_str(pv.shape), ", expected ", shape_str({bits}));
  const Tensor pf = pv.to_f32();
  for (int64_t c = 0; c < bits; ++c)
    MMADA_CHECK(pf.ptr<float>()[c] == float(int64_t(1) << (bits - 1 - c)), where,
                ": 'quantize.power_vals' entry ", c, " is not 2^", bits - 1 - c);
}

// Small deterministic generator (splitmix64) so random weights need no <random> state.
struct SplitMix {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * float(next() >> 40) * 0x1p-24f; }
};

}  // namespace

Magvit Magvit::build(const MagvitConfig& cfg, const WeightFn& get) {
  cfg.validate("MAGVIT config");
  Magvit m;
  m.cfg_ = cfg;
  int64_t count = 0;
  const WeightFn counting = [&](const std::string& name, const Shape& shape) {
    Tensor t = get(name, shape);
    count += t.numel();
    return t;
  };
  m.encoder_ = std::make_shared<VqganEncoder>(VqganEncoder::load(counting, cfg.encoder, "encoder"));
  m.decoder_ = std::make_shared<VqganDecoder>(VqganDecoder::load(counting, cfg.decoder, "decoder"));
  m.num_params_ = count;
  return m;
}

Magvit Magvit::load(const std::string& path) {
  const std::string dir = fs::is_directory(path) ? path : fs::path(path).parent_path().string();
  const MagvitConfig cfg = MagvitConfig::load(dir.empty() ? "." : dir);
  const std::string file = checkpoint_file(path);
  const Checkpoint st = Checkpoint::open(file);
  const std::string where = "MAGVIT checkpoint " + file;
  const WeightFn get = [&](const std::string& name, const Shape& shape) {
    MMADA_CHECK(st.has(name), where, ": missing tensor '", name, "'");
    const Tensor& t = st.get(name);
    MMADA_CHECK(t.shape == shape, where, ": tensor '", name, "' has shape ", shape_str(t.shape),
                ", expected ", shape_str(shape));
    MMADA_CHECK(t.dtype == DType::F32 || t.dtype == DType::BF16 || t.dtype == DType::F16 ||
                    t.dtype == DType::F64,
                where, ": tensor '", name, "' has non-float dtype ", dtype_name(t.dtype));
    return t.dtype == DType::F32 && t.contiguous() ? t : t.to_f32();
  };
  Magvit m = build(cfg, get);
  check_quantizer_buffers(st, cfg.codebook_dim, where);
  return m;
}

namespace {
// torch-default-like init, norms perturbed around 1/0 (see Magvit::random).
WeightFn random_weight_fn(SplitMix& rng) {
  return [&rng](const std::string& name, const Shape& shape) {
    Tensor t = Tensor::empty(DType::F32, shape);
    float* p = t.ptr<float>();
    const int64_t n = t.numel();
    const bool is_norm = name.find("norm") != std::string::npos;
    if (is_norm) {  // GroupNorm affine: weight ~ 1 + U(-.1, .1), bias ~ U(-.1, .1)
      const float base = name.ends_with(".weight") ? 1.f : 0.f;
      for (int64_t i = 0; i < n; ++i) p[i] = base + rng.uniform(-0.1f, 0.1f);
    } else {  // conv weight [O, I, kh, kw] and bias [O]: U(-1/sqrt(fan_in), +), as torch
      const int64_t fan_in = shape.size() == 4 ? shape[1] * shape[2] * shape[3] : 0;
      const float bound = fan_in ? 1.f / std::sqrt(float(fan_in)) : 0.05f;
      for (int64_t i = 0; i < n; ++i) p[i] = rng.uniform(-bound, bound);
    }
    return t;
  };
}
}  // namespace

Magvit Magvit::random(const MagvitConfig& cfg, uint64_t seed) {
  SplitMix rng{seed};
  return build(cfg, random_weight_fn(rng));
}

std::vector<std::pair<std::string, Tensor>> Magvit::random_tensors(const MagvitConfig& cfg,
                                                                   uint64_t seed) {
  SplitMix rng{seed};
  const WeightFn draw = random_weight_fn(rng);
  std::vector<std::pair<std::string, Tensor>> out;
  build(cfg, [&](const std::string& name, const Shape& shape) {
    out.emplace_back(name, draw(name, shape));
    return out.back().second;
  });
  // The quantizer's buffers, derived from the bit count exactly as load() checks them.
  const int64_t bits = cfg.codebook_dim;
  out.emplace_back("quantize.embedding", lfq_codebook(bits));
  Tensor pv = Tensor::empty(DType::I64, {bits});
  for (int64_t c = 0; c < bits; ++c) pv.ptr<int64_t>()[c] = int64_t(1) << (bits - 1 - c);
  out.emplace_back("quantize.power_vals", pv);
  return out;
}

int64_t Magvit::write_random(const std::string& dir, const MagvitConfig& cfg, uint64_t seed) {
  cfg.validate("random MAGVIT config");
  const auto tensors = random_tensors(cfg, seed);
  int64_t params = 0;
  for (const auto& [name, t] : tensors)
    if (!name.starts_with("quantize.")) params += t.numel();
  fs::create_directories(dir);
  write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors,
                    {{"format", "pt"},
                     {"mmada", "random-weight MAGVIT-v2 architecture, NOT a trained tokenizer"},
                     {"seed", std::to_string(seed)}});
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  std::ofstream out(cfg_path);
  out << cfg.to_json().dump(2) << "\n";
  MMADA_CHECK(out.good(), cfg_path, ": cannot write");
  return params;
}

void Magvit::use_backend(const std::shared_ptr<Backend>& be, ConvMath decode_math) {
  enc_fb_ = feature_backend_for(be, ConvMath::Exact);
  dec_fb_ = decode_math == ConvMath::Exact ? enc_fb_ : feature_backend_for(be, decode_math);
}

Tensor Magvit::encode_latent(const Tensor& pixels) const {
  const int64_t f = cfg_.downsample_factor();
  MMADA_CHECK(pixels.dim() == 4 && pixels.dtype == DType::F32 && pixels.contiguous(),
              "MAGVIT encode: pixels must be float32 contiguous [B, C, H, W], got ",
              shape_str(pixels.shape));
  MMADA_CHECK(pixels.size(0) > 0 && pixels.size(1) == cfg_.encoder.in_ch, "MAGVIT encode: pixels ",
              shape_str(pixels.shape), " must have ", cfg_.encoder.in_ch, " channels");
  MMADA_CHECK(pixels.size(2) > 0 && pixels.size(3) > 0 && pixels.size(2) % f == 0 &&
                  pixels.size(3) % f == 0,
              "MAGVIT encode: image size ", pixels.size(2), "x", pixels.size(3),
              " is not a multiple of ", f);
  return nhwc_to_nchw(enc_fb_->download((*encoder_)(*enc_fb_, enc_fb_->upload(nchw_to_nhwc(pixels)))));
}

Tensor Magvit::encode(const Tensor& pixels, Tensor* latent) const {
  Tensor z = encode_latent(pixels);
  Tensor codes = lfq_encode(z);
  if (latent) *latent = std::move(z);
  return codes;
}

Tensor Magvit::decode(const Tensor& codes, int64_t h, int64_t w) const {
  MMADA_CHECK(codes.dim() == 2 && codes.size(0) > 0, "MAGVIT decode: codes must be [B, h*w], got ",
              shape_str(codes.shape));
  const Tensor z = nchw_to_nhwc(lfq_decode(codes, cfg_.codebook_dim, h, w));
  return nhwc_to_nchw(dec_fb_->download((*decoder_)(*dec_fb_, dec_fb_->upload(z))));
}

Tensor Magvit::decode(const Tensor& codes) const {
  MMADA_CHECK(codes.dim() == 2, "MAGVIT decode: codes must be [B, N], got ",
              shape_str(codes.shape));
  const int64_t n = codes.size(1);
  int64_t side = int64_t(std::llround(std::sqrt(double(n))));
  MMADA_CHECK(side * side == n, "MAGVIT decode: ", n,
              " codes per image are not a square grid; pass the grid shape");
  return decode(codes, side, side);
}

}  // namespace mmada
