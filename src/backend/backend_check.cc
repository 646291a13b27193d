#include "backend/backend_check.h"

#include <cmath>
#include <cstring>

#include "core/quant.h"
#include "sample/rng.h"

namespace mmada {

namespace {

struct Inputs {
  CounterRng rng;
  uint64_t stream = 0;
  Tensor random(Shape shape, float scale = 1.0f, float offset = 0.0f) {
    Tensor t = Tensor::empty(DType::F32, std::move(shape));
    ++stream;
    for (int64_t i = 0; i < t.numel(); ++i)
      t.ptr<float>()[i] = offset + scale * float(rng.uniform(stream, uint64_t(i)) * 2.0 - 1.0);
    return t;
  }
};

double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// Runs `op` on both backends with the same host inputs and compares one float output.
class Pair {
 public:
  Pair(Backend& ref, Backend& test) : ref_(ref), test_(test) {}
  Tensor up(Backend& b, const Tensor& host) { return b.upload(host); }
  std::vector<float> down(Backend& b, const Tensor& dev) {
    std::vector<float> out(size_t(dev.numel()));
    b.download(dev.data, out.data(), out.size() * 4);
    return out;
  }
  template <typename Op>
  double compare(const std::vector<Tensor>& inputs, const Tensor& out_like, Op op) {
    std::vector<float> res[2];
    Backend* bs[2] = {&ref_, &test_};
    for (int k = 0; k < 2; ++k) {
      std::vector<Tensor> dev;
      for (const Tensor& t : inputs) dev.push_back(bs[k]->upload(t));
      // A fresh copy each time: the CPU backend's upload() returns the tensor itself, and
      // accumulating ops read the pre-filled output.
      Tensor out = bs[k]->upload(out_like.to_f32());
      op(*bs[k], dev, out);
      res[k] = down(*bs[k], out);
    }
    return rel_error(res[1], res[0]);
  }

 private:
  Backend& ref_;
  Backend& test_;
};

}  // namespace

std::vector<OpCheck> check_backend(Backend& ref, Backend& test, uint64_t seed) {
  Inputs in{CounterRng{seed}};
  Pair pr(ref, test);
  std::vector<OpCheck> out;
  auto f = [](const Tensor& t) { return t.ptr<float>(); };

  {  // embedding of a bf16 table
    Tensor table = in.random({300, 96}).to_bf16();
    Tensor ids = Tensor::empty(DType::I64, {37});
    for (int64_t i = 0; i < 37; ++i) ids.ptr<int64_t>()[i] = (i * 97 + 5) % 300;
    out.push_back({"embedding bf16 [300x96] n37",
                   pr.compare({table, ids}, Tensor::empty(DType::F32, {37, 96}), [&](Backend& b, auto& d, Tensor& o) {
                     b.embedding(d[0], d[1].template ptr<int64_t>(), 37, f(o));
                   }), 0.0});
  }
  for (int64_t n : {64, 4096}) {
    Tensor x = in.random({19, n}, 3.0f), w = in.random({n}, 0.2f, 1.0f);
    out.push_back({"rmsnorm 19x" + std::to_string(n),
                   pr.compare({x, w}, Tensor::empty(DType::F32, {19, n}), [&](Backend& b, auto& d, Tensor& o) {
                     b.rmsnorm(f(d[0]), f(d[1]), f(o), 19, n, 1e-5f);
                   }), 1e-6});
  }
  for (DType wt : {DType::F32, DType::BF16}) {
    for (bool acc : {false, true}) {
      const int64_t M = 45, K = 256, N = 384;
      Tensor x = in.random({M, K}), W = in.random({N, K}, 0.06f);
      if (wt == DType::BF16) W = W.to_bf16();
      Tensor y0 = in.random({M, N});
      const std::string name = std::string("linear ") + (wt == DType::BF16 ? "bf16" : "f32") +
                               (acc ? " accumulate" : "") + " 45x256 -> 384";
      // float32 GEMMs differ only in summation order (cuBLAS may use TF32 never: 32F compute).
      out.push_back({name, pr.compare({x, W}, y0, [&](Backend& b, auto& d, Tensor& o) {
                       b.linear(f(d[0]), M, K, d[1], 0, N, f(o), N, acc);
                     }), 1e-5});
    }
    const int64_t M = 7, K = 128, N = 1000;
    Tensor x = in.random({M, K}), W = in.random({N, K}, 0.1f);
    if (wt == DType::BF16) W = W.to_bf16();
    out.push_back({std::string("linear rows [100,612) ") + (wt == DType::BF16 ? "bf16" : "f32"),
                   pr.compare({x, W}, Tensor::empty(DType::F32, {M, 512}), [&](Backend& b, auto& d, Tensor& o) {
                     b.linear(f(d[0]), M, K, d[1], 100, 612, f(o), 512, false);
                   }), 1e-5});
  }
  {
    Tensor x = in.random({2 * 50, 4 * 64});
    out.push_back({"rope B2 L50 H4 d64", pr.compare({}, x, [&](Backend& b, auto&, Tensor& o) {
                     b.rope(f(o), 2, 50, 4, 64, 500000.0, nullptr, 0);
                   }), 1e-6});
  }
  {  // explicit positions (padding dropped): out of order, repeated, beyond L
    Tensor x = in.random({2 * 50, 4 * 64});
    Tensor pos = Tensor::empty(DType::I64, {2 * 50});
    for (int64_t i = 0; i < 100; ++i) pos.ptr<int64_t>()[i] = (i * 37) % 1500;
    out.push_back({"rope positions B2 L50 H4 d64", pr.compare({pos}, x, [&](Backend& b, auto& d, Tensor& o) {
                     b.rope(f(o), 2, 50, 4, 64, 500000.0, d[0].template ptr<int64_t>(), 1500);
                   }), 1e-6});
  }
  {
    Tensor gu = in.random({13, 2 * 96}, 4.0f);
    out.push_back({"silu_gate 13x96", pr.compare({gu}, Tensor::empty(DType::F32, {13, 96}), [&](Backend& b, auto& d, Tensor& o) {
                     b.silu_gate(f(d[0]), 13, 96, f(o));
                   }), 1e-6});
    Tensor src = in.random({11, 50});
    out.push_back({"copy_cols 11x[7,30) of 50", pr.compare({src}, Tensor::empty(DType::F32, {11, 23}), [&](Backend& b, auto& d, Tensor& o) {
                     b.copy_cols(f(d[0]), 11, 50, 7, 23, f(o));
                   }), 0.0});
  }
  {
    Tensor x = in.random({30, 40});
    Tensor rows = Tensor::empty(DType::I64, {5});
    const int64_t r[5] = {29, 0, 7, 7, 13};
    std::memcpy(rows.data, r, sizeof r);
    out.push_back({"gather_rows 5 of 30", pr.compare({x, rows}, Tensor::empty(DType::F32, {5, 40}),
                                                     [&](Backend& b, auto& d, Tensor& o) {
                                                       b.gather_rows(f(d[0]), d[1].template ptr<int64_t>(), 5, 40, f(o));
                                                     }), 0.0});
  }
  struct AttnCase {
    int64_t B, L, H, KV, d;
    int mask;  // 0 none, 1 pair with left padding, 2 hf-causal with padding
    bool bf16;
    int64_t q0 = 0, Lq = 0;  // query span (Lq 0 = the whole row); spans are the KV-cached steps
  };
  const AttnCase cases[] = {{1, 77, 4, 4, 64, 0, false},         {2, 77, 4, 2, 64, 1, false},
                            {2, 33, 2, 2, 16, 2, false},         {1, 200, 4, 4, 128, 0, true},
                            {2, 150, 4, 1, 64, 1, true},         {2, 70, 2, 2, 16, 2, true},
                            {1, 1100, 2, 2, 128, 1, true},       {2, 77, 4, 2, 64, 1, false, 30, 20},
                            {2, 70, 2, 2, 16, 2, false, 5, 40},  {2, 150, 4, 1, 64, 1, true, 70, 32},
                            {1, 200, 4, 4, 128, 0, true, 100, 100}, {1, 1100, 2, 2, 128, 1, true, 1000, 100}};
  for (const AttnCase& c : cases) {
    const int64_t Lq = c.Lq ? c.Lq : c.L;
    Tensor q = in.random({c.B * Lq, c.H * c.d}, 2.0f), k = in.random({c.B * c.L, c.KV * c.d}, 2.0f),
           v = in.random({c.B * c.L, c.KV * c.d});
    Tensor mask = Tensor::empty(DType::U8, {c.B * c.L});
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t i = 0; i < c.L; ++i) mask.ptr<uint8_t>()[b * c.L + i] = i >= (b == 0 ? 0 : c.L / 3);
    const char* mname[] = {"none", "pair", "causal"};
    std::string name = std::string("attention ") + (c.bf16 ? "bf16" : "f32") + " " + mname[c.mask] +
                       " B" + std::to_string(c.B) + " L" + std::to_string(c.L) + " H" +
                       std::to_string(c.H) + "/" + std::to_string(c.KV) + " d" + std::to_string(c.d);
    if (c.Lq) name += " span " + std::to_string(c.q0) + "+" + std::to_string(c.Lq);
    // bf16 operands on both sides; the two kernels round P at different points: 1e-2.
    out.push_back({name, pr.compare({q, k, v, mask}, Tensor::empty(DType::F32, {c.B * Lq, c.H * c.d}),
                                    [&](Backend& b, auto& d, Tensor& o) {
                                      b.attention(f(d[0]), f(d[1]), f(d[2]), f(o), c.B, c.L, c.q0, Lq, c.H,
                                                  c.KV, c.d, c.mask ? d[3].template ptr<uint8_t>() : nullptr,
                                                  c.mask == 2 ? cpu::MaskMode::HfCausal : cpu::MaskMode::Pair, c.bf16);
                                    }),
                   c.bf16 ? 1e-2 : 1e-5});
  }
  for (double t : {0.0, 1.0}) {  // the sampler's choice: tokens must agree exactly
    const int64_t R = 6, V = 5000;
    Tensor l = in.random({R, V}, 8.0f);
    std::vector<uint64_t> streams = {3, 1, 4, 1, 5, 9};
    std::vector<int64_t> tok[2] = {std::vector<int64_t>(R), std::vector<int64_t>(R)};
    std::vector<double> prob[2] = {std::vector<double>(R), std::vector<double>(R)};
    Backend* bs[2] = {&ref, &test};
    for (int k = 0; k < 2; ++k) {
      Tensor d = bs[k]->upload(l);
      bs[k]->pick_tokens(d.ptr<float>(), R, V, t, 77, streams.data(), true, tok[k].data(), prob[k].data());
    }
    std::vector<float> a, b;
    for (int64_t r = 0; r < R; ++r) {
      a.push_back(float(prob[1][size_t(r)]) + (tok[0][size_t(r)] != tok[1][size_t(r)] ? 1.0f : 0.0f));
      b.push_back(float(prob[0][size_t(r)]));
    }
    out.push_back({std::string("pick_tokens t=") + (t == 0 ? "0" : "1") + " 6x5000 (token mismatch adds 1)",
                   rel_error(a, b), 1e-6});
  }
  for (int mode = 0; mode < 4; ++mode) {  // the T2I draw: codes must agree exactly
    const bool bf16 = mode & 1, fixed = mode & 2;
    const int64_t R = 64, C = 8192;
    Tensor cond = in.random({R, C}, 8.0f), uncond = in.random({R, C}, 8.0f);
    std::vector<uint64_t> streams(static_cast<size_t>(R));
    std::vector<int64_t> fixed_codes(static_cast<size_t>(R));
    for (int64_t r = 0; r < R; ++r) streams[size_t(r)] = uint64_t(r * 7 + 1), fixed_codes[size_t(r)] = (r * 977) % C;
    std::vector<int64_t> codes[2] = {std::vector<int64_t>(R), std::vector<int64_t>(R)};
    std::vector<float> probs[2] = {std::vector<float>(R), std::vector<float>(R)}, guided[2];
    Backend* bs[2] = {&ref, &test};
    for (int k = 0; k < 2; ++k) {
      Tensor c = bs[k]->upload(cond), u = bs[k]->upload(uncond), g = bs[k]->alloc(DType::F32, {R, C});
      bs[k]->t2i_draw(c.ptr<float>(), u.ptr<float>(), R, C, 3.5, bf16, fixed ? fixed_codes.data() : nullptr, 42,
                      streams.data(), g.ptr<float>(), codes[k].data(), probs[k].data());
      guided[k].resize(size_t(R * C));
      bs[k]->download(g.data, guided[k].data(), guided[k].size() * 4);
    }
    std::vector<float> a, b;
    for (int64_t r = 0; r < R; ++r) {
      a.push_back(probs[1][size_t(r)] + (codes[0][size_t(r)] != codes[1][size_t(r)] ? 1.0f : 0.0f));
      b.push_back(probs[0][size_t(r)]);
    }
    const std::string name = std::string("t2i_draw ") + (bf16 ? "bf16 " : "f32 ") + (fixed ? "fixed" : "seeded") +
                             " cfg 64x8192";
    // Same single-rounded operations on both sides (cpu/t2i_draw.h): equal up to the order of
    // the double sum of exps, ~1e-16; 1e-6 leaves room for one float ulp.
    out.push_back({name + " (code mismatch adds 1)", rel_error(a, b), 1e-6});
    out.push_back({name + " guided logits", rel_error(guided[1], guided[0]), 0.0});
  }
  return out;
}

std::vector<OpCheck> check_linear_weights(Backend& ref, Backend& test, uint64_t seed, const std::string& tag,
                                          double tolerance) {
  Inputs in{CounterRng{seed}};
  Pair pr(ref, test);
  std::vector<OpCheck> out;
  auto f = [](const Tensor& t) { return t.ptr<float>(); };
  struct Case {
    int64_t M, K, N, n0, n1, ldy;
    bool acc;
  };
  // Whole weights with and without accumulation, the model's K, a row slice (the LM head's
  // image columns), and an output stride the FP8 kernels cannot take (the bf16 fallback).
  const Case cases[] = {{45, 256, 384, 0, 384, 384, false}, {45, 256, 384, 0, 384, 384, true},
                        {64, 4096, 512, 0, 512, 512, false}, {7, 128, 1000, 100, 612, 512, false},
                        {7, 128, 1000, 100, 611, 511, false}};
  for (const Case& c : cases) {
    Tensor x = in.random({c.M, c.K}), W = in.random({c.N, c.K}, 1.0f / std::sqrt(float(c.K)));
    Tensor y0 = in.random({c.M, c.ldy});
    std::string name = "linear " + tag + " " + std::to_string(c.M) + "x" + std::to_string(c.K) + " -> " +
                       std::to_string(c.N);
    if (c.n1 - c.n0 != c.N) name += " rows [" + std::to_string(c.n0) + "," + std::to_string(c.n1) + ")";
    if (c.ldy != c.n1 - c.n0) name += " ldy " + std::to_string(c.ldy);
    if (c.acc) name += " accumulate";
    // The reference is the float32 linear on the float32 weight; the test backend holds the
    // weight in its own form (linear_weight), made on the device from the same float32 values.
    out.push_back({name, pr.compare({x, W}, y0, [&](Backend& b, auto& d, Tensor& o) {
                     const Tensor w = b.linear_weight(d[1], /*lm_head=*/false);
                     b.linear(f(d[0]), c.M, c.K, w, c.n0, c.n1, f(o), c.ldy, c.acc);
                   }), tolerance});
  }
  return out;
}

std::vector<OpCheck> check_quantized_weights(Backend& ref, Backend& test, uint64_t seed, double small_tolerance,
                                             double large_tolerance) {
  Inputs in{CounterRng{seed}};
  std::vector<OpCheck> out;
  auto f = [](const Tensor& t) { return t.ptr<float>(); };
  // The reference runs on the dequantised float32 weight, so only the test backend's own
  // arithmetic is measured, not the quantisation error. Inputs go to each backend separately:
  // the two hold different weights.
  auto run = [&](Backend& b, const Tensor& x, const Tensor& w, const Tensor& y0, auto op) {
    const Tensor dx = b.upload(x), dw = b.upload(w), dy = b.upload(y0.to_f32());
    op(b, dx, dw, dy);
    std::vector<float> r(size_t(dy.numel()));
    b.download(dy.data, r.data(), r.size() * 4);
    return r;
  };
  struct Case {
    int64_t M, K, N, n0, n1, ldy;
    bool acc;
  };
  // Few rows (the fused weight-only kernels), many rows (dequantised tile + GEMM), a row slice
  // with an odd output stride, accumulation.
  const Case cases[] = {{1, 256, 96, 0, 96, 96, false},     {3, 512, 64, 0, 64, 64, true},
                        {8, 4096, 256, 0, 256, 256, false}, {13, 256, 300, 37, 290, 259, false},
                        {45, 256, 384, 0, 384, 384, true},  {64, 4096, 512, 0, 512, 512, false}};
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    for (const Case& c : cases) {
      const Tensor wf = in.random({c.N, c.K}, 1.0f / std::sqrt(float(c.K)));
      const Tensor wq = quantize_tensor(wf, t);
      Tensor wd = Tensor::empty(DType::F32, {c.N, c.K});
      dequantize(t, wq.data, wd.ptr<float>(), wd.numel());
      const Tensor x = in.random({c.M, c.K}), y0 = in.random({c.M, c.ldy});
      auto op = [&](Backend& b, const Tensor& dx, const Tensor& dw, const Tensor& dy) {
        b.linear(f(dx), c.M, c.K, dw, c.n0, c.n1, f(dy), c.ldy, c.acc);
      };
      const std::vector<float> a = run(ref, x, wd, y0, op), b = run(test, x, wq, y0, op);
      std::string name = "linear " + std::string(dtype_name(t)) + " " + std::to_string(c.M) + "x" +
                         std::to_string(c.K) + " -> " + std::to_string(c.N);
      if (c.n1 - c.n0 != c.N) name += " rows [" + std::to_string(c.n0) + "," + std::to_string(c.n1) + ")";
      if (c.acc) name += " accumulate";
      out.push_back({name, rel_error(b, a), c.M <= 16 ? small_tolerance : large_tolerance});
    }
    // Embedding rows decoded from the blocks: the same float operations as the CPU's dequantize.
    const Tensor table = quantize_tensor(in.random({50, 256}), t);
    Tensor tf = Tensor::empty(DType::F32, {50, 256});
    dequantize(t, table.data, tf.ptr<float>(), tf.numel());
    const std::vector<int64_t> ids = {3, 0, 49, 3, 17};
    const int64_t n = int64_t(ids.size());
    auto emb = [&](Backend& b, const Tensor& tab) {
      const Tensor dt = b.upload(tab);
      const Tensor di = b.upload(Tensor::view(DType::I64, {n}, ids.data(), nullptr));
      Tensor o = b.alloc(DType::F32, {n, 256});
      b.embedding(dt, di.ptr<int64_t>(), n, o.ptr<float>());
      std::vector<float> r(size_t(o.numel()));
      b.download(o.data, r.data(), r.size() * 4);
      return r;
    };
    out.push_back({"embedding " + std::string(dtype_name(t)) + " 50x256", rel_error(emb(test, table), emb(ref, tf)), 0.0});
  }
  return out;
}

}  // namespace mmada
