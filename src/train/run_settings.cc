#include "train/run_settings.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace mmada::train {

std::set<std::string> with_run_keys(std::set<std::string> section_keys) {
  section_keys.insert({"seed", "output_dir", "save_every", "save_dtype", "resume", "log_file", "device", "compute"});
  return section_keys;
}

RunSettings parse_run_settings(const Section& top, const std::string& default_log) {
  RunSettings r;
  r.seed = uint64_t(top.integer("seed", 10086, 0));
  r.output_dir = top.str("output_dir", "");
  MMADA_CHECK(!r.output_dir.empty(), top.where, ": \"output_dir\" is required");
  r.save_every = top.integer("save_every", 0, 0);
  r.save_dtype = top.str("save_dtype", "f32", {"f32", "bf16"}) == "bf16" ? DType::BF16 : DType::F32;
  r.resume = top.boolean("resume", false);
  r.log_path = top.str("log_file", r.output_dir + "/" + default_log);
  r.cuda = top.str("device", "cpu", {"cpu", "cuda"}) == "cuda";
  const std::string compute = top.str("compute", r.cuda ? "bf16" : "fp32", {"fp32", "bf16"});
  MMADA_CHECK(r.cuda || compute == "fp32", top.where,
              ": \"compute\": \"bf16\" needs \"device\": \"cuda\" (the CPU trainer computes in fp32)");
  r.bf16_compute = compute == "bf16";
  return r;
}

void keep_log_through_step(const std::string& path, int64_t step) {
  std::string kept;
  if (step > 0) {
    std::ifstream in(path);
    if (!in) return;  // no log yet
    for (std::string line; std::getline(in, line);) {
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object()) continue;  // torn or foreign line
      if (!j.contains("step") || (j["step"].is_number_integer() && j["step"].get<int64_t>() <= step))
        kept += line + "\n";
    }
  }
  std::ofstream out(path, std::ios::trunc);
  MMADA_CHECK(out.good(), path, ": cannot write the log");
  out << kept;
}

}  // namespace mmada::train
