#include "train/clip_config.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace mmada::train {

namespace {

using nlohmann::json;

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  MMADA_CHECK(in, "clip: cannot open ", p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse(const std::string& text, const std::string& where) {
  try {
    json j = json::parse(text);
    MMADA_CHECK(j.is_object(), where, ": must be a JSON object");
    return j;
  } catch (const json::exception& e) {
    fail(where, ": not valid JSON: ", e.what());
  }
}

int64_t required_int(const json& j, const char* key, const std::string& where, int64_t lo = 1) {
  MMADA_CHECK(j.contains(key), where, ": missing key \"", key, "\"");
  MMADA_CHECK(j[key].is_number_integer(), where, ".", key, " must be an integer, got ", j[key].dump());
  const int64_t v = j[key].get<int64_t>();
  MMADA_CHECK(v >= lo && v <= (int64_t(1) << 24), where, ".", key, " = ", v, " is out of range");
  return v;
}

ClipActivation activation(const json& j, const std::string& where) {
  if (!j.contains("hidden_act")) return ClipActivation::QuickGelu;  // CLIP's default
  MMADA_CHECK(j["hidden_act"].is_string(), where, ".hidden_act must be a string");
  const std::string a = j["hidden_act"].get<std::string>();
  if (a == "quick_gelu") return ClipActivation::QuickGelu;
  if (a == "gelu") return ClipActivation::Gelu;
  if (a == "gelu_new" || a == "gelu_pytorch_tanh") return ClipActivation::GeluTanh;
  if (a == "relu") return ClipActivation::Relu;
  fail(where, ".hidden_act = \"", a, "\" is not supported (quick_gelu, gelu, gelu_new, gelu_pytorch_tanh, relu)");
}

void encoder(const json& j, const std::string& where, ClipEncoderConfig& c) {
  c.hidden = required_int(j, "hidden_size", where);
  c.intermediate = required_int(j, "intermediate_size", where);
  c.layers = required_int(j, "num_hidden_layers", where);
  c.heads = required_int(j, "num_attention_heads", where);
  MMADA_CHECK(c.hidden % c.heads == 0, where, ": hidden_size ", c.hidden, " is not a multiple of num_attention_heads ",
              c.heads);
  c.act = activation(j, where);
  if (j.contains("layer_norm_eps")) {
    MMADA_CHECK(j["layer_norm_eps"].is_number() && j["layer_norm_eps"].get<double>() > 0, where,
                ".layer_norm_eps must be a positive number");
    c.layer_norm_eps = j["layer_norm_eps"].get<double>();
  }
}

const json& section(const json& top, const char* key, const std::string& where) {
  MMADA_CHECK(top.contains(key) && top[key].is_object(), where, ": missing object \"", key, "\"");
  return top[key];
}

// {"shortest_edge": n} / {"height": h, "width": w} / a bare integer (older processor files).
void size_entry(const json& j, const char* key, const std::string& where, int64_t* h, int64_t* w) {
  if (!j.contains(key)) return;
  const json& s = j[key];
  if (s.is_number_integer()) {
    *h = *w = s.get<int64_t>();
  } else if (s.is_object() && s.contains("shortest_edge")) {
    *h = *w = required_int(s, "shortest_edge", where + "." + key);
  } else {
    MMADA_CHECK(s.is_object(), where, ".", key, " must be an integer or an object");
    *h = required_int(s, "height", where + "." + key);
    *w = required_int(s, "width", where + "." + key);
  }
}

}  // namespace

ClipConfig ClipConfig::from_json_text(const std::string& config_json, const std::string& preprocessor_json,
                                      const std::string& where) {
  const std::string cfg_where = where + "/config.json";
  const json top = parse(config_json, cfg_where);
  ClipConfig c;
  const json& t = section(top, "text_config", cfg_where);
  const std::string tw = cfg_where + ": text_config";
  encoder(t, tw, c.text);
  c.text.vocab_size = required_int(t, "vocab_size", tw);
  c.text.max_positions = required_int(t, "max_position_embeddings", tw);
  if (t.contains("eos_token_id")) c.text.eos_token_id = required_int(t, "eos_token_id", tw, 0);

  const json& v = section(top, "vision_config", cfg_where);
  const std::string vw = cfg_where + ": vision_config";
  encoder(v, vw, c.vision);
  c.vision.image_size = required_int(v, "image_size", vw);
  c.vision.patch_size = required_int(v, "patch_size", vw);
  if (v.contains("num_channels")) c.vision.channels = required_int(v, "num_channels", vw);
  MMADA_CHECK(c.vision.image_size % c.vision.patch_size == 0, vw, ": image_size ", c.vision.image_size,
              " is not a multiple of patch_size ", c.vision.patch_size);
  MMADA_CHECK(c.vision.channels == 3, vw, ": num_channels ", c.vision.channels, " (only RGB, 3, is supported)");
  if (top.contains("projection_dim")) c.projection_dim = required_int(top, "projection_dim", cfg_where);

  ClipPreprocessConfig& p = c.preprocess;
  p.shortest_edge = p.crop_height = p.crop_width = c.vision.image_size;
  if (!preprocessor_json.empty()) {
    const std::string pw = where + "/preprocessor_config.json";
    const json j = parse(preprocessor_json, pw);
    auto flag = [&](const char* k, bool& out) {
      if (!j.contains(k)) return;
      MMADA_CHECK(j[k].is_boolean(), pw, ".", k, " must be true or false");
      out = j[k].get<bool>();
    };
    flag("do_resize", p.do_resize);
    flag("do_center_crop", p.do_center_crop);
    flag("do_rescale", p.do_rescale);
    flag("do_normalize", p.do_normalize);
    int64_t short_h = p.shortest_edge, short_w = p.shortest_edge;
    size_entry(j, "size", pw, &short_h, &short_w);
    MMADA_CHECK(short_h == short_w, pw, ": size must be {\"shortest_edge\": n} (CLIP resizes the shortest side)");
    p.shortest_edge = short_h;
    size_entry(j, "crop_size", pw, &p.crop_height, &p.crop_width);
    if (j.contains("resample"))
      MMADA_CHECK(j["resample"] == 3, pw, ".resample = ", j["resample"].dump(), " (only 3, bicubic, is supported)");
    if (j.contains("rescale_factor")) {
      MMADA_CHECK(j["rescale_factor"].is_number(), pw, ".rescale_factor must be a number");
      p.rescale_factor = j["rescale_factor"].get<double>();
    }
    for (const char* k : {"image_mean", "image_std"}) {
      if (!j.contains(k)) continue;
      MMADA_CHECK(j[k].is_array() && j[k].size() == 3, pw, ".", k, " must be 3 numbers");
      auto& dst = std::string(k) == "image_mean" ? p.mean : p.std;
      for (size_t i = 0; i < 3; ++i) {
        MMADA_CHECK(j[k][i].is_number(), pw, ".", k, " must be 3 numbers");
        dst[i] = j[k][i].get<double>();
      }
    }
    for (double s : p.std) MMADA_CHECK(s > 0, pw, ".image_std must be positive");
  }
  // The vision tower sees exactly image_size x image_size pixels.
  MMADA_CHECK(p.do_center_crop && p.crop_height == c.vision.image_size && p.crop_width == c.vision.image_size,
              where, ": the processor's crop (", p.crop_height, "x", p.crop_width,
              ") must equal the vision tower's image_size ", c.vision.image_size);
  MMADA_CHECK(!p.do_resize || p.shortest_edge >= c.vision.image_size, where, ": the processor's shortest_edge ",
              p.shortest_edge, " is smaller than the crop ", c.vision.image_size);
  return c;
}

ClipConfig ClipConfig::load(const std::string& folder) {
  namespace fs = std::filesystem;
  MMADA_CHECK(fs::is_directory(folder), "clip: model folder ", folder, " does not exist");
  const fs::path cfg = fs::path(folder) / "config.json", pre = fs::path(folder) / "preprocessor_config.json";
  MMADA_CHECK(fs::is_regular_file(cfg), "clip: ", folder, " has no config.json");
  return from_json_text(read_text(cfg), fs::is_regular_file(pre) ? read_text(pre) : "", folder);
}

}  // namespace mmada::train
