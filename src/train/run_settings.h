// The run keys `mmada train` and `mmada rl` configs share at their top level (seed, output_dir,
// save_every, save_dtype, resume, log_file, device, compute): one parser, so both read them alike.
#pragma once
#include <cstdint>
#include <set>
#include <string>

#include "core/dtype.h"
#include "train/json_section.h"

namespace mmada::train {

struct RunSettings {
  uint64_t seed = 10086;
  std::string output_dir;     // required
  int64_t save_every = 0;     // 0 = only at the end
  DType save_dtype = DType::F32;
  bool resume = false;        // continue from <output_dir>/checkpoint if it exists
  std::string log_path;       // JSONL, default <output_dir>/<default log name>
  bool cuda = false;          // "device": "cpu" | "cuda" (train_compute.h)
  // The engine backend (make_backend name) of the run's device, for its own encodes.
  const char* backend() const { return cuda ? "cuda" : "cpu"; }
  bool bf16_compute = false;  // "compute": "bf16" (cuda's default) | "fp32"

  std::string checkpoint_dir() const { return output_dir + "/checkpoint"; }
};

// `section_keys` plus the run keys: the known keys of a config's top level.
std::set<std::string> with_run_keys(std::set<std::string> section_keys);

// Reads the run keys of `top` (the config's top level); `default_log` names the log file
// under output_dir when log_file is absent.
RunSettings parse_run_settings(const Section& top, const std::string& default_log);

// Before a run opens its JSONL log to append: a run resumed at checkpoint step `step` > 0 redoes
// the steps after it, so their records (and a torn last line) are dropped, leaving one record
// per step, the one whose update the weights hold; records without a "step" (a header) stay.
// A fresh run (`step` 0) starts the log anew.
void keep_log_through_step(const std::string& path, int64_t step);

}  // namespace mmada::train
