// Conformance runner for reference manifests in the format of shared/refdata (format 1):
// every case names its kind, inputs, expected tensors ({file, tensor, dtype, shape}) and
// tolerances. Each kind has one runner function; kinds the engine cannot run yet are SKIPped.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/safetensors.h"

namespace mmada {

enum class CaseStatus { Pass, Fail, Skip };

struct CaseResult {
  CaseStatus status = CaseStatus::Pass;
  std::vector<std::string> details;  // one short item per compared tensor
  void skip(const std::string& why) { status = CaseStatus::Skip, details = {why}; }
  // Records a comparison; any failure makes the case fail.
  void check(bool ok, const std::string& detail) {
    details.push_back((ok ? "" : "MISMATCH ") + detail);
    if (!ok) status = CaseStatus::Fail;
  }
};

struct RefcheckOptions {
  std::string precision = "f32";  // forward precision used for the cases: f32 | bf16
  std::string backend = "cpu";    // cpu | cuda[:N]
  std::string filter;             // run only case ids containing this substring
  bool verbose = false;
};

// Access to a manifest and its tensor files (opened lazily, cached).
class Manifest {
 public:
  static Manifest load(const std::string& path);
  const nlohmann::json& json() const { return j_; }
  const std::string& root() const { return root_; }  // folder of the manifest
  // Tensor named by a {file, tensor, dtype, shape} entry, checked against its declared shape.
  Tensor tensor(const nlohmann::json& ref) const;
  std::string path_of(const std::string& rel) const { return root_ + "/" + rel; }

 private:
  nlohmann::json j_;
  std::string root_;
  mutable std::map<std::string, std::shared_ptr<SafeTensorsFile>> files_;
};

struct CaseContext {
  const Manifest& manifest;
  const nlohmann::json& c;  // the case
  const RefcheckOptions& opt;
  bool has_expected(const std::string& k) const { return c["expected"].contains(k); }
  Tensor expected(const std::string& k) const { return manifest.tensor(c["expected"][k]); }
  bool has_input(const std::string& k) const { return c.contains("inputs") && c["inputs"].contains(k); }
  Tensor input(const std::string& k) const { return manifest.tensor(c["inputs"][k]); }
};

// Element-wise |a - e| <= atol + rtol*|e| over float tensors of equal numel; the detail reads
// "name max_abs=.. max_rel=.. (atol .., rtol ..)". `skip_rows` (optional, numel/row_len flags)
// excludes rows that are meaningless (e.g. pad queries in bf16).
bool allclose(const std::string& name, const float* a, const float* e, size_t n, double atol,
              double rtol, std::string* detail);
bool ids_equal(const std::string& name, const int64_t* a, const int64_t* e, size_t n,
               std::string* detail);

// Runners, one per case kind (files under src/refcheck/). Each returns Skip when the
// capability is missing.
CaseResult run_forward_case(const CaseContext& ctx);
CaseResult run_generate_case(const CaseContext& ctx);      // generate and mmu_generate
CaseResult run_t2i_case(const CaseContext& ctx);
CaseResult run_magvit_case(const CaseContext& ctx);        // magvit_encode and magvit_decode

struct RefcheckSummary {
  int passed = 0, failed = 0, skipped = 0;
};

// Runs every case of the manifest, printing one line per case to `out` and the summary line.
RefcheckSummary run_refcheck(const std::string& manifest_path, const RefcheckOptions& opt,
                             std::FILE* out);

}  // namespace mmada
