// Reading one JSON object of a run config: unknown keys, wrong types and out-of-range values
// are errors naming "<file>: <section>.<key>". Shared by train_config and rl_config.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/error.h"

namespace mmada::train {

using nlohmann::json;

// Reads the keys of one JSON object, rejecting unknown ones and wrongly typed values.
struct Section {
  const json& j;
  std::string where;  // "run.json: optim"

  Section(const json& obj, std::string w, std::set<std::string> known) : j(obj), where(std::move(w)) {
    MMADA_CHECK(j.is_object(), where, ": must be a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it)
      MMADA_CHECK(known.count(it.key()), where, ": unknown key \"", it.key(), "\"");
  }
  bool has(const char* k) const { return j.contains(k); }
  double num(const char* k, double dflt, double lo, double hi, bool lo_open = false) const {
    if (!has(k)) return dflt;
    MMADA_CHECK(j[k].is_number(), where, ".", k, " must be a number, got ", j[k].dump());
    const double v = j[k].get<double>();
    MMADA_CHECK((lo_open ? v > lo : v >= lo) && v <= hi, where, ".", k, " = ", v,
                " is out of range (", lo_open ? "(" : "[", lo, ", ", hi, "])");
    return v;
  }
  int64_t integer(const char* k, int64_t dflt, int64_t lo, int64_t hi = INT64_MAX) const {
    if (!has(k)) return dflt;
    MMADA_CHECK(j[k].is_number_integer(), where, ".", k, " must be an integer, got ", j[k].dump());
    const int64_t v = j[k].get<int64_t>();
    MMADA_CHECK(v >= lo && v <= hi, where, ".", k, " = ", v, " must be >= ", lo,
                hi == INT64_MAX ? "" : str_cat(" and <= ", hi));
    return v;
  }
  std::string str(const char* k, const std::string& dflt, std::set<std::string> allowed = {}) const {
    if (!has(k)) return dflt;
    MMADA_CHECK(j[k].is_string(), where, ".", k, " must be a string, got ", j[k].dump());
    const std::string v = j[k].get<std::string>();
    if (!allowed.empty()) {
      std::string list;
      for (const auto& a : allowed) list += " \"" + a + "\"";
      MMADA_CHECK(allowed.count(v), where, ".", k, " = \"", v, "\" is not one of", list);
    }
    return v;
  }
  bool boolean(const char* k, bool dflt) const {
    if (!has(k)) return dflt;
    MMADA_CHECK(j[k].is_boolean(), where, ".", k, " must be true or false, got ", j[k].dump());
    return j[k].get<bool>();
  }
  Section sub(const char* k, std::set<std::string> known) const {
    static const json empty = json::object();
    return Section(has(k) ? j[k] : empty, where + "." + k, std::move(known));
  }
};


}  // namespace mmada::train
