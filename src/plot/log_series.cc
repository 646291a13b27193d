#include "plot/log_series.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace mmada::plot {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Keys of the band around K: K = P_mean with P_std, or with P_min and P_max.
std::string mean_prefix(const std::string& key) {
  return ends_with(key, "_mean") ? key.substr(0, key.size() - 5) : std::string();
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

}  // namespace

const std::vector<double>& LogData::at(const std::string& key) const {
  const auto it = values.find(key);
  MMADA_CHECK(it != values.end(), path, ": no key \"", key, "\"");
  return it->second;
}

LogData parse_log(std::istream& in, const std::string& path) {
  LogData log;
  log.path = path;
  struct Record {
    double step;
    std::map<std::string, double> values;
  };
  std::vector<Record> records;
  std::string line;
  int64_t lineno = 0;
  auto malformed = [&](const std::string& why) {
    if (log.malformed++ == 0) log.first_malformed = str_cat("line ", lineno, ": ", why);
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (trim(line).empty()) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception&) {
      malformed("not valid JSON");
      continue;
    }
    if (!j.is_object()) {
      malformed("not a JSON object");
      continue;
    }
    Record r;
    r.step = double(records.size() + 1);
    if (j.contains("step")) {
      if (!j["step"].is_number()) {
        malformed("\"step\" is not a number");
        continue;
      }
      r.step = j["step"].get<double>();
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "step") continue;
      if (it->is_number()) r.values[it.key()] = it->get<double>();
      else if (it->is_null()) r.values[it.key()] = kNaN;  // a non-finite value, as nlohmann writes it
    }
    records.push_back(std::move(r));
  }
  // Order by step; of records with the same step the last line wins (a resumed run).
  std::stable_sort(records.begin(), records.end(),
                   [](const Record& a, const Record& b) { return a.step < b.step; });
  std::vector<Record> kept;
  for (Record& r : records) {
    if (!kept.empty() && kept.back().step == r.step) {
      kept.back() = std::move(r);
      ++log.superseded;
    } else {
      kept.push_back(std::move(r));
    }
  }
  for (const Record& r : kept)
    for (const auto& [k, v] : r.values) log.values.try_emplace(k);
  for (auto& [k, col] : log.values) col.assign(kept.size(), kNaN);
  for (size_t i = 0; i < kept.size(); ++i) {
    log.step.push_back(kept[i].step);
    for (const auto& [k, v] : kept[i].values) log.values[k][i] = v;
  }
  return log;
}

LogData load_log(const std::string& path) {
  MMADA_CHECK(fs::is_regular_file(path), path, ": no such log file");
  std::ifstream in(path);
  MMADA_CHECK(in.good(), path, ": cannot open the log");
  LogData log = parse_log(in, path);
  MMADA_CHECK(log.records() > 0, path, ": no JSON records",
              log.malformed ? str_cat(" (", log.malformed, " malformed lines, first at ", log.first_malformed, ")")
                            : std::string());
  return log;
}

std::vector<PanelSpec> parse_panel_keys(const std::string& text) {
  std::vector<PanelSpec> panels;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    PanelSpec p;
    const std::string part = text.substr(start, comma - start);
    size_t s = 0;
    while (s <= part.size()) {
      const size_t plus = std::min(part.find('+', s), part.size());
      const std::string key = trim(part.substr(s, plus - s));
      MMADA_CHECK(!key.empty(), "--keys \"", text, "\": empty key name");
      p.keys.push_back(key);
      s = plus + 1;
    }
    panels.push_back(std::move(p));
    start = comma + 1;
  }
  return panels;
}

std::vector<PanelSpec> default_panels(const std::vector<LogData>& logs) {
  std::set<std::string> keys, companions;
  for (const LogData& l : logs)
    for (const auto& [k, v] : l.values) {
      keys.insert(k);
      const Band b = band_for(l, k);
      if (b.present()) companions.insert({b.lo_key, b.hi_key});
    }
  // What a reader of a training or RL log looks at first.
  static const std::vector<std::string> order = {"reward_mean", "reward", "loss", "kl", "clip_frac",
                                                 "len", "policy", "grad_norm", "lr"};
  auto rank = [&](const std::string& k) {
    for (size_t i = 0; i < order.size(); ++i)
      if (k == order[i] || k.rfind(order[i] + "_", 0) == 0) return i;
    return order.size();
  };
  std::vector<std::string> chosen;
  for (const std::string& k : keys)
    if (!companions.count(k)) chosen.push_back(k);
  std::stable_sort(chosen.begin(), chosen.end(),
                   [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
  std::vector<PanelSpec> panels;
  for (const std::string& k : chosen) panels.push_back({{k}});
  return panels;
}

void check_panel_keys(const std::vector<PanelSpec>& panels, const std::vector<LogData>& logs) {
  for (const PanelSpec& p : panels)
    for (const std::string& k : p.keys) {
      const bool found = std::any_of(logs.begin(), logs.end(), [&](const LogData& l) { return l.has(k); });
      if (found) continue;
      std::set<std::string> all;
      for (const LogData& l : logs)
        for (const auto& [name, v] : l.values) all.insert(name);
      std::string list;
      for (const std::string& a : all) list += (list.empty() ? "" : ", ") + a;
      fail("no log has the key \"", k, "\" (keys: ", list.empty() ? "none" : list, ")");
    }
}

Band band_for(const LogData& log, const std::string& key) {
  Band b;
  const std::string p = mean_prefix(key);
  if (p.empty()) return b;
  if (log.has(p + "_std")) {
    b.lo_key = b.hi_key = p + "_std";
    b.is_std = true;
  } else if (log.has(p + "_min") && log.has(p + "_max")) {
    b.lo_key = p + "_min";
    b.hi_key = p + "_max";
  }
  return b;
}

std::vector<double> moving_average(const std::vector<double>& v, int window) {
  if (window <= 1) return v;
  std::vector<double> out(v.size(), kNaN);
  double sum = 0;  // of the finite values in the window
  int64_t n = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i])) {
      sum += v[i];
      ++n;
    }
    if (i >= size_t(window) && std::isfinite(v[i - size_t(window)])) {
      sum -= v[i - size_t(window)];
      --n;
    }
    if (std::isfinite(v[i])) out[i] = sum / double(n);
  }
  return out;
}

LogArgument parse_log_argument(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0 || fs::exists(arg)) return {"", arg};
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

std::vector<std::string> log_labels(const std::vector<LogArgument>& logs) {
  std::vector<std::vector<std::string>> parts;
  for (const LogArgument& a : logs) {
    std::vector<std::string> c;
    for (const fs::path& e : fs::path(a.path).lexically_normal())
      if (!e.empty() && e != "/") c.push_back(e.string());
    if (c.empty()) c.push_back(a.path);
    if (ends_with(c.back(), ".jsonl") && c.back().size() > 6) c.back().resize(c.back().size() - 6);
    parts.push_back(std::move(c));
  }
  auto all = [&](auto pred) { return std::all_of(parts.begin(), parts.end(), pred); };
  if (parts.size() == 1) {
    parts[0] = {parts[0].back()};
  } else {
    // Drop the components every log shares at the front and at the back.
    while (all([](const auto& c) { return c.size() > 1; }) &&
           all([&](const auto& c) { return c.front() == parts[0].front(); }))
      for (auto& c : parts) c.erase(c.begin());
    while (all([](const auto& c) { return c.size() > 1; }) &&
           all([&](const auto& c) { return c.back() == parts[0].back(); }))
      for (auto& c : parts) c.pop_back();
  }
  std::vector<std::string> labels;
  for (size_t i = 0; i < logs.size(); ++i) {
    std::string s = logs[i].name;
    if (s.empty())
      for (const std::string& c : parts[i]) s += (s.empty() ? "" : "/") + c;
    const auto same = std::count(labels.begin(), labels.end(), s);
    labels.push_back(same ? str_cat(s, " (", same + 1, ")") : s);
  }
  return labels;
}

std::string bucket_table(const std::vector<LogData>& logs, const std::vector<std::string>& labels,
                         const std::string& key, int bucket) {
  MMADA_CHECK(bucket >= 1, "--table ", bucket, ": the bucket must be at least 1 record");
  size_t n = 0;
  for (const LogData& l : logs)
    if (l.has(key)) n = std::max(n, l.records());
  auto fmt = [](double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return std::string(buf);
  };
  std::string out = "| steps |";
  for (const std::string& l : labels) out += " " + l + " |";
  out += "\n|---|";
  for (size_t i = 0; i < logs.size(); ++i) out += "---|";
  out += "\n";
  for (size_t lo = 0; lo < n; lo += size_t(bucket)) {
    const size_t hi = std::min(lo + size_t(bucket), n);
    out += str_cat("| ", lo + 1, "-", hi, " |");
    for (const LogData& l : logs) {
      double sum = 0;
      int64_t k = 0;
      if (l.has(key))
        for (size_t i = lo; i < std::min(hi, l.records()); ++i)
          if (std::isfinite(l.at(key)[i])) {
            sum += l.at(key)[i];
            ++k;
          }
      out += k ? str_cat(" ", fmt(sum / double(k)), " |") : std::string(" |");
    }
    out += "\n";
  }
  out += "| mean abs step change |";
  for (const LogData& l : logs) {
    double sum = 0, prev = kNaN;
    int64_t k = 0;
    if (l.has(key))
      for (double v : l.at(key)) {
        if (!std::isfinite(v)) continue;
        if (std::isfinite(prev)) {
          sum += std::fabs(v - prev);
          ++k;
        }
        prev = v;
      }
    out += l.has(key) ? str_cat(" ", fmt(k ? sum / double(k) : 0.0), " |") : std::string(" |");
  }
  return out + "\n";
}

}  // namespace mmada::plot
