#include "vq/feature_check.h"

#include <cmath>
#include <functional>
#include <string>

#include "sample/rng.h"
#include "vq/magvit_blocks.h"

namespace mmada {

namespace {

double rel_error(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = double(a.ptr<float>()[i]) - double(b.ptr<float>()[i]);
    num += d * d;
    den += double(b.ptr<float>()[i]) * double(b.ptr<float>()[i]);
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

std::string dims(const Shape& s) {
  std::string r;
  for (int64_t v : s) r += (r.empty() ? "" : "x") + std::to_string(v);
  return r;
}

}  // namespace

std::vector<OpCheck> check_feature_backend(FeatureBackend& ref, FeatureBackend& test, uint64_t seed,
                                           double conv_tolerance) {
  CounterRng rng{seed};
  uint64_t stream = 0;
  const auto random = [&](Shape shape, float scale, float offset = 0.0f) {
    Tensor t = Tensor::empty(DType::F32, std::move(shape));
    ++stream;
    for (int64_t i = 0; i < t.numel(); ++i)
      t.ptr<float>()[i] = offset + scale * float(rng.uniform(stream, uint64_t(i)) * 2.0 - 1.0);
    return t;
  };
  std::vector<OpCheck> out;
  // Runs `op` with host inputs uploaded to each backend; the result comes back to the host.
  const auto compare = [&](const std::string& name, const std::vector<Tensor>& host, double tol,
                           const std::function<Tensor(FeatureBackend&, const std::vector<Tensor>&)>& op) {
    Tensor res[2];
    FeatureBackend* bs[2] = {&ref, &test};
    for (int k = 0; k < 2; ++k) {
      std::vector<Tensor> dev;
      for (const Tensor& t : host) dev.push_back(bs[k]->upload(t));
      res[k] = bs[k]->download(op(*bs[k], dev));
    }
    out.push_back({name, res[0].shape == res[1].shape ? rel_error(res[1], res[0]) : INFINITY, tol});
  };

  struct ConvCase {
    Shape x;
    int64_t out, kernel, stride, pad_lt, pad_rb;
    bool residual;
  };
  const ConvCase convs[] = {{{2, 9, 11, 32}, 64, 3, 1, 1, 1, true},   // ResnetBlock conv2
                            {{1, 16, 16, 64}, 32, 1, 1, 0, 0, false},  // nin_shortcut / quant_conv
                            {{1, 16, 12, 32}, 32, 3, 2, 0, 1, false},  // Downsample
                            {{1, 8, 8, 13}, 64, 3, 1, 1, 1, false}};   // conv_in from the latent
  for (const ConvCase& c : convs) {
    const int64_t in = c.x[3];
    const float bound = 1.0f / std::sqrt(float(in * c.kernel * c.kernel));
    const Conv2d conv(random({c.out, in, c.kernel, c.kernel}, bound), random({c.out}, 0.1f), c.stride,
                      c.pad_lt, c.pad_rb);
    const Shape y = conv.output_shape(c.x);
    std::vector<Tensor> host = {random(c.x, 1.0f)};
    if (c.residual) host.push_back(random(y, 1.0f));
    compare("vq conv " + std::to_string(c.kernel) + "x" + std::to_string(c.kernel) + " s" +
                std::to_string(c.stride) + " pad " + std::to_string(c.pad_lt) + "/" +
                std::to_string(c.pad_rb) + (c.residual ? " +residual " : " ") + dims(c.x) + " -> " +
                std::to_string(c.out),
            host, conv_tolerance, [&](FeatureBackend& b, const std::vector<Tensor>& d) {
              return b.conv(conv, d[0], c.residual ? &d[1] : nullptr);
            });
  }
  for (bool swish : {true, false}) {
    const Shape x = swish ? Shape{2, 7, 9, 64} : Shape{1, 32, 32, 128};
    const GroupNorm32 norm{random({x[3]}, 0.1f, 1.0f), random({x[3]}, 0.1f)};
    // An offset mean makes the variance formula's cancellation visible.
    compare(std::string("vq group_norm") + (swish ? "+swish " : " ") + dims(x), {random(x, 2.0f, 0.5f)},
            1e-6, [&](FeatureBackend& b, const std::vector<Tensor>& d) {
              return b.group_norm(norm, d[0], swish);
            });
  }
  compare("vq upsample2x 1x5x6x32", {random({1, 5, 6, 32}, 1.0f)}, 0.0,
          [&](FeatureBackend& b, const std::vector<Tensor>& d) { return b.upsample2x(d[0]); });
  compare("vq attention 1x8x8x64", {random({1, 8, 8, 64}, 2.0f), random({1, 8, 8, 64}, 2.0f),
                                    random({1, 8, 8, 64}, 1.0f)},
          1e-5, [&](FeatureBackend& b, const std::vector<Tensor>& d) {
            return b.attention(d[0], d[1], d[2]);
          });
  return out;
}

}  // namespace mmada
