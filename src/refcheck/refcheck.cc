#include "refcheck/refcheck.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"

using nlohmann::json;

namespace mmada {

Manifest Manifest::load(const std::string& path) {
  Manifest m;
  std::ifstream in(path);
  MMADA_CHECK(in.good(), path, ": cannot open manifest");
  try {
    m.j_ = json::parse(in);
  } catch (const json::exception& e) {
    fail(path, ": manifest is not valid JSON (", e.what(), ")");
  }
  MMADA_CHECK(m.j_.is_object() && m.j_.contains("cases") && m.j_["cases"].is_array(), path,
              ": manifest has no \"cases\" array");
  MMADA_CHECK(m.j_.value("format", 0) == 1, path, ": unsupported manifest format ",
              m.j_.value("format", 0), " (this runner reads format 1)");
  m.root_ = std::filesystem::absolute(path).parent_path().string();
  return m;
}

Tensor Manifest::tensor(const nlohmann::json& ref) const {
  MMADA_CHECK(ref.is_object() && ref.contains("file") && ref.contains("tensor"),
              "manifest tensor reference must have \"file\" and \"tensor\": ", ref.dump());
  const std::string file = ref["file"].get<std::string>();
  auto it = files_.find(file);
  if (it == files_.end()) it = files_.emplace(file, SafeTensorsFile::open(path_of(file))).first;
  const Tensor& t = it->second->get(ref["tensor"].get<std::string>());
  if (ref.contains("shape")) {
    Shape want = ref["shape"].get<Shape>();
    MMADA_CHECK(want == t.shape, file, ": tensor '", ref["tensor"].get<std::string>(),
                "' has shape ", shape_str(t.shape), ", manifest says ", shape_str(want));
  }
  return t;
}

bool allclose(const std::string& name, const float* a, const float* e, size_t n, double atol,
              double rtol, std::string* detail) {
  double max_abs = 0, max_rel = 0;
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(double(a[i]) - double(e[i]));
    const double rel = d / std::max(std::fabs(double(e[i])), 1e-30);
    if (!(d <= atol + rtol * std::fabs(double(e[i])))) ++bad;  // NaN counts as bad
    if (std::isnan(d) || d > max_abs) max_abs = std::isnan(d) ? INFINITY : d;
    if (rel > max_rel && std::fabs(e[i]) > atol) max_rel = rel;
  }
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s max_abs=%.3g max_rel=%.3g (atol %g, rtol %g)%s", name.c_str(),
                max_abs, max_rel, atol, rtol, bad ? (" " + std::to_string(bad) + " bad").c_str() : "");
  *detail = buf;
  return bad == 0;
}

bool ids_equal(const std::string& name, const int64_t* a, const int64_t* e, size_t n,
               std::string* detail) {
  size_t diff = 0, first = n;
  for (size_t i = 0; i < n; ++i)
    if (a[i] != e[i]) {
      if (first == n) first = i;
      ++diff;
    }
  *detail = name + (diff ? " " + std::to_string(diff) + "/" + std::to_string(n) +
                               " differ (first at " + std::to_string(first) + ": got " +
                               std::to_string(a[first]) + ", want " + std::to_string(e[first]) + ")"
                         : " exact (" + std::to_string(n) + " ids)");
  return diff == 0;
}

RefcheckSummary run_refcheck(const std::string& manifest_path, const RefcheckOptions& opt,
                             std::FILE* out) {
  const Manifest m = Manifest::load(manifest_path);
  RefcheckSummary sum;
  for (const json& c : m.json()["cases"]) {
    const std::string id = c.value("id", std::string("?"));
    if (!opt.filter.empty() && id.find(opt.filter) == std::string::npos) continue;
    const std::string kind = c.value("kind", std::string("?"));
    CaseContext ctx{m, c, opt};
    CaseResult r;
    try {
      if (kind == "forward") r = run_forward_case(ctx);
      else if (kind == "generate" || kind == "mmu_generate") r = run_generate_case(ctx);
      else if (kind == "t2i_generate") r = run_t2i_case(ctx);
      else if (kind == "magvit_encode" || kind == "magvit_decode") r = run_magvit_case(ctx);
      else r.skip("unknown case kind '" + kind + "'");
    } catch (const std::exception& e) {
      r.status = CaseStatus::Fail;
      r.details = {std::string("error: ") + e.what()};
    }
    const char* tag = r.status == CaseStatus::Pass ? "PASS" : r.status == CaseStatus::Fail ? "FAIL" : "SKIP";
    std::string detail;
    for (size_t i = 0; i < r.details.size(); ++i) detail += (i ? "; " : "") + r.details[i];
    std::fprintf(out, "%s %s %s\n", tag, id.c_str(), detail.c_str());
    std::fflush(out);
    (r.status == CaseStatus::Pass ? sum.passed : r.status == CaseStatus::Fail ? sum.failed : sum.skipped)++;
  }
  std::fprintf(out, "%d passed, %d failed, %d skipped\n", sum.passed, sum.failed, sum.skipped);
  return sum;
}

}  // namespace mmada
