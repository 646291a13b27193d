#include "vq/magvit_config.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"

using nlohmann::json;

namespace mmada {

MagvitConfig MagvitConfig::real() {
  MagvitConfig c;
  c.encoder.ch_mult = {1, 2, 2, 4, 4};
  c.encoder.num_res_blocks = {4, 3, 4, 3, 4};
  c.decoder.ch_mult = {1, 1, 2, 2, 4};
  c.decoder.num_res_blocks = {4, 4, 3, 4, 3};
  return c;
}

MagvitConfig MagvitConfig::small(int64_t ch, int64_t levels, int64_t res_blocks, int64_t bits) {
  MMADA_CHECK(levels >= 1 && levels <= 8, "MAGVIT levels ", levels, " must be in 1..8");
  MMADA_CHECK(res_blocks >= 0 && res_blocks <= 8, "MAGVIT res_blocks ", res_blocks, " must be in 0..8");
  MagvitConfig c = real();
  c.codebook_dim = bits;
  for (VqganNetConfig* n : {&c.encoder, &c.decoder}) {
    n->ch = ch;
    n->ch_mult.assign(size_t(levels), 2);
    n->ch_mult[0] = 1;
    n->num_res_blocks.assign(size_t(levels), res_blocks);
    n->z_channels = bits;
  }
  c.validate("small MAGVIT config");
  return c;
}

namespace {

VqganNetConfig net_from_json(const json& j, const std::string& where) {
  VqganNetConfig n;
  try {
    n.ch = j.at("ch").get<int64_t>();
    n.ch_mult = j.at("ch_mult").get<std::vector<int64_t>>();
    n.num_res_blocks = j.at("num_res_blocks").get<std::vector<int64_t>>();
    n.attn_resolutions = j.value("attn_resolutions", std::vector<int64_t>{5});
    n.in_ch = j.value("in_ch", int64_t(3));
    n.out_ch = j.value("out_ch", int64_t(3));
    n.resolution = j.value("resolution", int64_t(256));
    n.z_channels = j.value("z_channels", int64_t(13));
    n.double_z = j.value("double_z", false);
  } catch (const json::exception& e) {
    fail(where, ": bad encoder/decoder arguments (", e.what(), ")");
  }
  return n;
}

void validate_net(const VqganNetConfig& n, const std::string& what) {
  MMADA_CHECK(n.ch > 0 && n.ch % 32 == 0, what, ": ch ", n.ch,
              " must be a positive multiple of 32 (GroupNorm has 32 groups)");
  MMADA_CHECK(!n.ch_mult.empty() && n.ch_mult.size() == n.num_res_blocks.size(), what,
              ": ch_mult and num_res_blocks must be non-empty and of equal length");
  for (int64_t m : n.ch_mult) MMADA_CHECK(m > 0, what, ": ch_mult entries must be positive");
  for (int64_t b : n.num_res_blocks) MMADA_CHECK(b >= 0, what, ": negative num_res_blocks");
  MMADA_CHECK(n.in_ch > 0 && n.out_ch > 0 && n.z_channels > 0, what, ": bad channel counts");
  MMADA_CHECK(!n.double_z, what, ": double_z is not supported");
}

}  // namespace

void MagvitConfig::validate(const std::string& where) const {
  validate_net(encoder, where + " encoder");
  validate_net(decoder, where + " decoder");
  MMADA_CHECK(encoder.num_levels() == decoder.num_levels(), where,
              ": encoder and decoder must have the same number of levels");
  MMADA_CHECK(encoder.z_channels == codebook_dim && decoder.z_channels == codebook_dim, where,
              ": z_channels must equal the quantizer's codebook_dim (", codebook_dim, ")");
  MMADA_CHECK(codebook_dim >= 1 && codebook_dim <= 30, where, ": codebook_dim ", codebook_dim,
              " out of range");
}

MagvitConfig MagvitConfig::from_json(const json& j, const std::string& where) {
  MMADA_CHECK(j.is_object(), where, ": config is not a JSON object");
  if (j.contains("_class_name")) {
    const std::string cls = j["_class_name"].is_string() ? j["_class_name"].get<std::string>() : "";
    MMADA_CHECK(cls == "MAGVITv2" || cls == "MAGViTv2", where, ": _class_name '", cls,
                "' is not a MAGVIT-v2 tokenizer");
  }
  MagvitConfig c = real();
  if (j.contains("encoder") || j.contains("decoder")) {
    MMADA_CHECK(j.contains("encoder") && j.contains("decoder"), where,
                ": config spells out only one of encoder/decoder");
    c.encoder = net_from_json(j["encoder"], where);
    c.decoder = net_from_json(j["decoder"], where);
    if (j.contains("quantizer")) c.codebook_dim = j["quantizer"].value("codebook_dim", int64_t(13));
  }
  c.validate(where);
  return c;
}

nlohmann::json MagvitConfig::to_json() const {
  auto net = [](const VqganNetConfig& n) {
    return json{{"ch", n.ch},           {"ch_mult", n.ch_mult},
                {"num_res_blocks", n.num_res_blocks}, {"attn_resolutions", n.attn_resolutions},
                {"in_ch", n.in_ch},     {"out_ch", n.out_ch},
                {"resolution", n.resolution}, {"z_channels", n.z_channels},
                {"double_z", n.double_z}};
  };
  return json{{"_class_name", "MAGVITv2"},
              {"encoder", net(encoder)},
              {"decoder", net(decoder)},
              {"quantizer", {{"codebook_dim", codebook_dim}}}};
}

MagvitConfig MagvitConfig::load(const std::string& dir) {
  const std::string path = dir + "/config.json";
  if (!std::filesystem::exists(path)) return real();
  std::ifstream in(path);
  MMADA_CHECK(in.good(), path, ": cannot open");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    fail(path, ": not valid JSON (", e.what(), ")");
  }
  return from_json(j, path);
}

}  // namespace mmada
