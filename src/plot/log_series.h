// The JSONL logs of `mmada train` and `mmada rl` (one JSON object per update) read as numeric
// series over the step, for `mmada plot-log`: panels of chosen keys, moving averages and the
// bucketed text table the RL ablations are reported with.
#pragma once
#include <cstdint>
#include <istream>
#include <map>
#include <string>
#include <vector>

namespace mmada::plot {

// One log, column-wise. Records are ordered by step; NaN marks a key a record lacks (or JSON
// null, which is how nlohmann writes a non-finite double).
struct LogData {
  std::string path;
  std::vector<double> step;  // the "step" key, or the record's 1-based position without it
  std::map<std::string, std::vector<double>> values;  // numeric keys except "step"
  int64_t malformed = 0;     // lines skipped: not JSON, not an object, or a non-numeric "step"
  std::string first_malformed;  // "line N: why" of the first of them
  int64_t superseded = 0;    // records replaced by a later line of the same step (resumed runs)

  size_t records() const { return step.size(); }
  bool has(const std::string& key) const { return values.count(key) != 0; }
  const std::vector<double>& at(const std::string& key) const;  // throws naming the key
};

// Never throws on bad lines: they are counted (blank lines are ignored). A resumed run appends
// steps it already logged; the later line wins, so the curve is the run that produced the
// checkpoint.
LogData parse_log(std::istream& in, const std::string& path);
LogData load_log(const std::string& path);  // throws if the file cannot be read or has no record

// A panel: one or more keys drawn over the step. Key K with siblings P_std (K = P_mean) gets a
// ±std band; with P_min and P_max, a min–max band.
struct PanelSpec {
  std::vector<std::string> keys;
};

// "a,b+c": a comma starts a new panel, '+' puts several keys in one panel. Empty names are
// errors.
std::vector<PanelSpec> parse_panel_keys(const std::string& text);

// Every numeric key of the logs, one panel each, band companions (P_std, P_min, P_max of a
// present P_mean) left out; rewards and losses first, then the RL diagnostics, then the rest
// alphabetically.
std::vector<PanelSpec> default_panels(const std::vector<LogData>& logs);

// Throws for a key no log has, listing the keys that exist.
void check_panel_keys(const std::vector<PanelSpec>& panels, const std::vector<LogData>& logs);

struct Band {
  std::string lo_key, hi_key;  // for ±std both are P_std
  bool is_std = false;
  bool present() const { return !lo_key.empty(); }
};
Band band_for(const LogData& log, const std::string& key);

// Trailing moving average over the last `window` records; NaN stays NaN (a gap), NaN neighbours
// are left out of the mean. window <= 1 returns the input.
std::vector<double> moving_average(const std::vector<double>& v, int window);

// A command-line log argument: "NAME=path" names the log, unless the whole argument is an
// existing file.
struct LogArgument {
  std::string name, path;
};
LogArgument parse_log_argument(const std::string& arg);

// Short names for the logs: an explicit name is kept; otherwise the path components that
// differ between the logs (a/rl_spaced/rl_log.jsonl, a/rl_full/rl_log.jsonl -> rl_spaced,
// rl_full), or the file name without .jsonl for a single log.
std::vector<std::string> log_labels(const std::vector<LogArgument>& logs);

// Markdown table of `key`: one column per log, one row per `bucket` consecutive records (the
// mean of the finite values), then the mean |change| between consecutive records.
std::string bucket_table(const std::vector<LogData>& logs, const std::vector<std::string>& labels,
                         const std::string& key, int bucket);

}  // namespace mmada::plot
