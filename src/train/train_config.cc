#include "train/train_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"
#include "train/json_section.h"
#include "train/run_settings.h"
#include "train/text_encoder.h"

namespace mmada::train {

std::set<std::string> image_source_keys() {
  return {"path", "vq", "split", "limit", "image_size", "cache_dir", "captions", "caption_groups", "questions", "class_names",
          "augment", "balance_classes", "mmu_code_mask"};
}

ImageSourceSpec parse_image_source(const Section& s) {
  ImageSourceSpec im;
  im.path = s.str("path", "");
  im.vq = s.str("vq", "");
  MMADA_CHECK(!im.path.empty(), s.where, ".path (folder of IDX files) is required");
  MMADA_CHECK(!im.vq.empty(), s.where, ".vq (MAGVIT-v2 folder, e.g. from mmada make-vq) is required");
  im.split = s.str("split", "train");
  im.limit = s.integer("limit", 0, 0);
  im.image_size = s.integer("image_size", 32, 16, 4096);
  im.cache_dir = s.str("cache_dir", "");
  im.balance_classes = s.boolean("balance_classes", false);
  im.mmu_code_mask = s.num("mmu_code_mask", 0.0, 0.0, 0.95);  // 1 would hide every image
  if (s.has("augment")) {
    const Section a = s.sub("augment", {"copies", "shift", "flip_labels"});
    im.augment.copies = a.integer("copies", 1, 1, 64);
    // The 28x28 images sit on the canvas with a border of (image_size - 28) / 2 pixels; a larger
    // shift cuts the image off.
    im.augment.shift = a.integer("shift", 0, 0, 8);
    if (a.has("flip_labels")) {
      const json& l = a.j["flip_labels"];
      MMADA_CHECK(l.is_array(), a.where, ".flip_labels must be an array of labels, got ", l.dump());
      for (const json& e : l) {
        MMADA_CHECK(e.is_number_integer() && e.get<int64_t>() >= 0 && e.get<int64_t>() < 256, a.where,
                    ".flip_labels must hold labels 0..255, got ", e.dump());
        im.augment.flip_labels.push_back(e.get<int64_t>());
      }
    }
    MMADA_CHECK(im.augment.copies > 1 || (im.augment.shift == 0 && im.augment.flip_labels.empty()), a.where,
                ": shift and flip_labels need copies > 1 (copy 0 is the image as it is)");
  }
  auto strings = [&](const char* k, bool need_name) {
    std::vector<std::string> v;
    if (!s.has(k)) return v;
    const json& a = s.j[k];
    MMADA_CHECK(a.is_array() && !a.empty(), s.where, ".", k, " must be a non-empty array of strings");
    for (const json& e : a) {
      MMADA_CHECK(e.is_string() && !e.get<std::string>().empty(), s.where, ".", k,
                  " must hold non-empty strings, got ", e.dump());
      MMADA_CHECK(!need_name || e.get<std::string>().find("{name}") != std::string::npos,
                  s.where, ".", k, ": template ", e.dump(), " has no {name}");
      v.push_back(e.get<std::string>());
    }
    return v;
  };
  im.captions = strings("captions", true);
  im.questions = strings("questions", false);
  im.class_names = strings("class_names", false);
  if (s.has("caption_groups")) {
    const json& a = s.j["caption_groups"];
    MMADA_CHECK(a.is_array(), s.where,
                ".caption_groups must be an array of {\"labels\": [first, last], \"captions\": [...]}");
    for (const json& g : a) {
      const std::string gw = s.where + ".caption_groups[" + std::to_string(im.caption_groups.size()) + "]";
      const Section gs(g, gw, {"labels", "captions"});  // an object with these keys only
      const json& l = g.contains("labels") ? g["labels"] : json();
      MMADA_CHECK(l.is_array() && l.size() == 2 && l[0].is_number_integer() && l[1].is_number_integer() &&
                      l[0].get<int64_t>() >= 0 && l[0].get<int64_t>() <= l[1].get<int64_t>(),
                  gw, ".labels must be [first, last] with 0 <= first <= last, got ", l.dump());
      ImageSourceSpec::CaptionGroup cg;
      cg.first = l[0].get<int64_t>();
      cg.last = l[1].get<int64_t>();
      for (const ImageSourceSpec::CaptionGroup& o : im.caption_groups)
        MMADA_CHECK(cg.last < o.first || cg.first > o.last, gw, ".labels ", l.dump(), " overlap another group's");
      const json& t = g.contains("captions") ? g["captions"] : json();
      MMADA_CHECK(t.is_array() && !t.empty(), gw, ".captions must be a non-empty array of templates");
      for (const json& e : t) {
        MMADA_CHECK(e.is_string() && e.get<std::string>().find("{name}") != std::string::npos, gw,
                    ".captions: template ", e.dump(), " is not a string with {name}");
        cg.templates.push_back(e.get<std::string>());
      }
      im.caption_groups.push_back(std::move(cg));
    }
  }
  return im;
}

TrainConfig TrainConfig::from_json_text(const std::string& text, const std::string& where) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    fail(where, ": not valid JSON: ", e.what());
  }
  TrainConfig c;
  Section top(root, where,
              with_run_keys({"model", "tokenizer", "data", "batch", "loss", "optim", "steps"}));

  const Section m = top.sub("model", {"init_from", "d_model", "n_layers", "n_heads", "n_kv_heads",
                                      "mlp_hidden", "vocab", "rope_theta", "rms_norm_eps",
                                      "init_std", "image_code_init"});
  c.init_from = m.str("init_from", "");
  c.image_code_init_from_bits = m.str("image_code_init", "random", {"random", "lfq_bits"}) == "lfq_bits";
  MMADA_CHECK(!c.image_code_init_from_bits || c.init_from.empty(), where,
              ".model.image_code_init initialises a fresh model; it conflicts with \"init_from\"");
  if (c.init_from.empty()) {
    for (const char* k : {"d_model", "n_layers", "n_heads", "mlp_hidden"})
      MMADA_CHECK(m.has(k), where, ".model: \"", k,
                  "\" is required for a fresh model (or give \"init_from\")");
    c.model.d_model = m.integer("d_model", 0, 1);
    c.model.n_layers = m.integer("n_layers", 0, 1);
    c.model.n_heads = m.integer("n_heads", 0, 1);
    c.model.n_kv_heads = m.integer("n_kv_heads", c.model.n_heads, 1);
    c.model.mlp_hidden = m.integer("mlp_hidden", 0, 1);
    c.model.vocab = m.integer("vocab", 0, 0);
    c.model.rope_theta = m.num("rope_theta", 500000.0, 0, 1e12, true);
    c.model.rms_norm_eps = m.num("rms_norm_eps", 1e-5, 0, 1, true);
    MMADA_CHECK(c.model.d_model % c.model.n_heads == 0 && c.model.head_dim() % 2 == 0, where,
                ".model: d_model must be a multiple of n_heads with an even head size");
    MMADA_CHECK(c.model.n_heads % c.model.n_kv_heads == 0, where,
                ".model: n_heads must be a multiple of n_kv_heads");
  } else {
    for (const char* k : {"d_model", "n_layers", "n_heads", "n_kv_heads", "mlp_hidden", "vocab"})
      MMADA_CHECK(!m.has(k), where, ".model: \"", k,
                  "\" conflicts with \"init_from\" (the shape comes from its config.json)");
  }
  c.init_std = m.num("init_std", 0.02, 0, 10, true);
  c.tokenizer = top.str("tokenizer", default_tokenizer_spec(c.init_from));

  const Section d = top.sub("data", {"lm", "images", "on_malformed"});
  c.on_malformed = d.str("on_malformed", "stop", {"skip", "stop"}) == "skip" ? OnMalformed::Skip
                                                                           : OnMalformed::Stop;
  if (d.has("lm")) {
    MMADA_CHECK(d.j["lm"].is_array() && !d.j["lm"].empty(), where,
                ".data.lm must be a non-empty array of sources");
    for (size_t i = 0; i < d.j["lm"].size(); ++i) {
      const Section s(d.j["lm"][i], where + ".data.lm[" + std::to_string(i) + "]",
                      {"path", "format", "weight", "require_think"});
      SourceSpec spec;
      spec.path = s.str("path", "");
      MMADA_CHECK(!spec.path.empty(), s.where, ".path is required");
      spec.format = s.str("format", "text", {"text", "chat"}) == "chat" ? DataFormat::Chat
                                                                         : DataFormat::Text;
      spec.weight = s.num("weight", 1.0, 0, 1e9, true);
      spec.require_think = s.boolean("require_think", false);
      MMADA_CHECK(!spec.require_think || spec.format == DataFormat::Chat, s.where,
                  ".require_think needs format \"chat\"");
      c.lm_sources.push_back(spec);
    }
  }
  if (d.has("images")) {
    c.images = parse_image_source(d.sub("images", image_source_keys()));
    c.has_images = true;
  }

  const Section b = top.sub("batch", {"rows_t2i", "rows_lm", "rows_mmu", "text_slots",
                                      "image_tokens", "accumulation"});
  c.rows_t2i = b.integer("rows_t2i", 0, 0);
  c.rows_lm = b.integer("rows_lm", c.lm_sources.empty() ? 0 : 1, 0);
  c.rows_mmu = b.integer("rows_mmu", 0, 0);
  c.text_slots = b.integer("text_slots", 128, 2, 1 << 20);
  c.image_tokens = b.integer("image_tokens", 0, 0, 1 << 20);
  c.accumulation = b.integer("accumulation", 1, 1, 1 << 20);
  MMADA_CHECK(c.has_images || !c.image_code_init_from_bits, where,
              ".model.image_code_init \"lfq_bits\" needs data.images (the image codes)");
  MMADA_CHECK(c.has_images || (c.rows_t2i == 0 && c.rows_mmu == 0), where,
              ".batch: rows_t2i and rows_mmu need an image source (data.images)");
  MMADA_CHECK(!c.has_images || c.rows_t2i + c.rows_mmu > 0, where,
              ".data.images is given but batch.rows_t2i and rows_mmu are both 0");
  MMADA_CHECK(c.rows_lm == 0 || !c.lm_sources.empty(), where,
              ".batch.rows_lm = ", c.rows_lm, " needs text sources (data.lm)");
  MMADA_CHECK(c.lm_sources.empty() || c.rows_lm > 0, where,
              ".data.lm is given but batch.rows_lm is 0");
  MMADA_CHECK(c.rows_t2i + c.rows_lm + c.rows_mmu > 0, where,
              ": no data: give data.lm (text) and/or data.images (t2i, mmu)");

  const Section l = top.sub("loss", {"t2i_coeff", "lm_coeff", "mmu_coeff", "mask_eps",
                                     "cond_dropout_prob", "min_masking_rate", "label_smoothing",
                                     "lm_normaliser", "t2i_pad_attention"});
  c.t2i_coeff = l.num("t2i_coeff", 1.0, 0, 1e6);
  c.lm_coeff = l.num("lm_coeff", 1.0, 0, 1e6);
  c.mmu_coeff = l.num("mmu_coeff", 1.0, 0, 1e6);
  c.mask_eps = l.num("mask_eps", 1e-3, 0, 1, true);
  c.cond_dropout_prob = l.num("cond_dropout_prob", 0.1, 0, 1);
  c.min_masking_rate = l.num("min_masking_rate", 0.0, 0, 1);
  c.label_smoothing = l.num("label_smoothing", 0.0, 0, 0.999999);
  c.lm_normaliser = l.str("lm_normaliser", "row_length", {"row_length", "content_length"}) ==
                            "content_length"
                        ? LmNormaliser::ContentLength
                        : LmNormaliser::RowLength;
  const std::string pad = l.str("t2i_pad_attention", "none", {"none", "additive_unit", "hard"});
  c.t2i_pad_attention = pad == "hard" ? AttnMask::Pair
                        : pad == "additive_unit" ? AttnMask::AdditiveUnit
                                                 : AttnMask::None;

  const Section o = top.sub("optim", {"lr", "warmup_steps", "max_train_steps", "beta1", "beta2",
                                      "eps", "weight_decay", "no_decay_norms_embeddings",
                                      "grad_clip"});
  OptimConfig& oc = c.optim;
  oc.lr = o.num("lr", 5e-5, 0, 10, true);
  oc.warmup_steps = o.integer("warmup_steps", 0, 0);
  oc.beta1 = o.num("beta1", 0.9, 0, 0.999999);
  oc.beta2 = o.num("beta2", 0.999, 0, 0.999999999);
  oc.eps = o.num("eps", 1e-8, 0, 1, true);
  oc.weight_decay = o.num("weight_decay", 0.01, 0, 1);
  oc.no_decay_norms_embeddings = o.boolean("no_decay_norms_embeddings", false);
  oc.grad_clip = o.num("grad_clip", 1.0, 0, 1e9);

  c.steps = top.integer("steps", 0, 1);
  MMADA_CHECK(top.has("steps"), where, ": \"steps\" is required");
  oc.max_train_steps = o.integer("max_train_steps", c.steps, 1);
  MMADA_CHECK(oc.max_train_steps > oc.warmup_steps, where,
              ".optim.max_train_steps must exceed warmup_steps");
  c.run = parse_run_settings(top, "train_log.jsonl");
  return c;
}

TrainConfig TrainConfig::load(const std::string& path) {
  std::ifstream in(path);
  MMADA_CHECK(in.good(), path, ": cannot read the training config");
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), path);
}

}  // namespace mmada::train
