// Runner for the magvit_encode / magvit_decode cases: the tiny MAGVIT-v2 named by the
// manifest's top-level "magvit" entry, compared with the tolerances each case states.
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "refcheck/refcheck.h"
#include "vq/magvit.h"
#include "vq/pixels.h"

using nlohmann::json;

namespace mmada {

namespace {

std::shared_ptr<const Magvit> cached_magvit(const std::string& dir, const std::string& backend) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const Magvit>> models;
  std::lock_guard<std::mutex> lock(mu);
  auto& m = models[dir + "#" + backend];
  if (!m) {
    auto vq = std::make_shared<Magvit>(Magvit::load(dir));
    vq->use_backend(make_backend(backend));
    m = vq;
  }
  return m;
}

// {"atol": a, "rtol": r} of tolerance[key].
std::pair<double, double> atol_rtol(const json& c, const std::string& key) {
  MMADA_CHECK(c.contains("tolerance") && c["tolerance"].contains(key) &&
                  c["tolerance"][key].is_object(),
              "case ", c.value("id", "?"), ": no tolerance object for '", key, "'");
  const json& t = c["tolerance"][key];
  return {t.value("atol", 0.0), t.value("rtol", 0.0)};
}

// A max-abs tolerance given as a number, {"atol": a}, or text ending in "<= a".
double max_abs_tolerance(const json& c, const std::string& key) {
  MMADA_CHECK(c.contains("tolerance") && c["tolerance"].contains(key), "case ",
              c.value("id", "?"), ": no tolerance for '", key, "'");
  const json& t = c["tolerance"][key];
  if (t.is_number()) return t.get<double>();
  if (t.is_object() && t.contains("atol")) return t["atol"].get<double>();
  if (t.is_string()) {
    const std::string s = t.get<std::string>();
    const size_t p = s.rfind("<=");
    if (p != std::string::npos) return std::strtod(s.c_str() + p + 2, nullptr);
    if (s.rfind("exact", 0) == 0) return 0.0;
  }
  fail("case ", c.value("id", "?"), ": cannot read tolerance '", key, "': ", t.dump());
}

CaseResult run_encode(const CaseContext& ctx, const Magvit& model) {
  CaseResult r;
  std::string d;
  const Tensor pixels = ctx.input("pixel_values").to_f32();
  Tensor latent;
  const Tensor codes = model.encode(pixels, &latent);
  const Tensor want_z = ctx.expected("encoder_output").to_f32();
  const auto [atol, rtol] = atol_rtol(ctx.c, "encoder_output");
  r.check(latent.shape == want_z.shape, "encoder_output shape " + shape_str(latent.shape));
  if (latent.shape == want_z.shape)
    r.check(allclose("encoder_output", latent.ptr<float>(), want_z.ptr<float>(),
                     size_t(latent.numel()), atol, rtol, &d), d);
  const Tensor want_codes = ctx.expected("codes");
  MMADA_CHECK(want_codes.dtype == DType::I64, "expected codes must be int64");
  r.check(codes.shape == want_codes.shape, "codes shape " + shape_str(codes.shape));
  if (codes.shape == want_codes.shape)
    r.check(ids_equal("codes", codes.ptr<int64_t>(), want_codes.ptr<int64_t>(),
                      size_t(codes.numel()), &d), d);
  return r;
}

CaseResult run_decode(const CaseContext& ctx, const Magvit& model) {
  CaseResult r;
  std::string d;
  const Tensor codes = ctx.input("codes");
  const Tensor want = ctx.expected("image").to_f32();
  MMADA_CHECK(want.dim() == 4, "expected image must be [B, C, H, W]");
  const int64_t f = model.config().downsample_factor();
  const Tensor image = model.decode(codes, want.size(2) / f, want.size(3) / f);
  r.check(image.shape == want.shape, "image shape " + shape_str(image.shape));
  if (image.shape != want.shape) return r;
  const auto [atol, rtol] = atol_rtol(ctx.c, "image");
  r.check(allclose("image", image.ptr<float>(), want.ptr<float>(), size_t(image.numel()), atol,
                   rtol, &d), d);
  if (ctx.has_expected("image_uint8_nhwc")) {
    const Tensor u8 = image_to_uint8_nhwc(image);
    const Tensor want_u8 = ctx.expected("image_uint8_nhwc");
    const double tol = max_abs_tolerance(ctx.c, "image_uint8_nhwc");
    bool ok = u8.shape == want_u8.shape && want_u8.dtype == DType::U8;
    int max_diff = 0;
    size_t exact = 0;
    for (int64_t i = 0; ok && i < u8.numel(); ++i) {
      const int diff = std::abs(int(u8.ptr<uint8_t>()[i]) - int(want_u8.ptr<uint8_t>()[i]));
      max_diff = std::max(max_diff, diff);
      exact += diff == 0;
    }
    ok = ok && max_diff <= tol;
    r.check(ok, "image_uint8_nhwc max_abs=" + std::to_string(max_diff) + " (tol " +
                    std::to_string(int(tol)) + ", " + std::to_string(exact) + "/" +
                    std::to_string(u8.numel()) + " exact)");
  }
  return r;
}

}  // namespace

CaseResult run_magvit_case(const CaseContext& ctx) {
  const json& mj = ctx.manifest.json();
  MMADA_CHECK(mj.contains("magvit") && mj["magvit"].contains("dir"),
              "manifest has no \"magvit\": {\"dir\": ...} entry");
  const auto model = cached_magvit(ctx.manifest.path_of(mj["magvit"]["dir"].get<std::string>()),
                                   ctx.opt.backend);
  const std::string kind = ctx.c.value("kind", "");
  if (kind == "magvit_encode") return run_encode(ctx, *model);
  if (kind == "magvit_decode") return run_decode(ctx, *model);
  fail("run_magvit_case: unknown case kind '", kind, "'");
}

}  // namespace mmada
