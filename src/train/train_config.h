// `mmada train --config run.json`: the run's settings, parsed and validated (unknown keys and
// impossible values are errors naming the key). docs/train-config.md documents every key.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "model/config.h"
#include "train/image_data.h"
#include "train/json_section.h"
#include "train/jsonl_data.h"
#include "train/objectives.h"
#include "train/optimizer.h"
#include "train/run_settings.h"
#include "train/train_ops.h"

namespace mmada::train {

// data.images of a run config (train and rl): the keys and their parser.
std::set<std::string> image_source_keys();
ImageSourceSpec parse_image_source(const Section& s);

struct TrainConfig {
  // Model: either a Hugging Face folder to start from, or a fresh random model of this shape.
  std::string init_from;
  ModelConfig model;            // shape of a fresh model (vocab 0 = the tokenizer's)
  double init_std = 0.02;
  // model.image_code_init "lfq_bits": a fresh model's image-code embedding rows start from the
  // codes' LFQ bits (init_image_codes_from_bits) instead of independent draws ("random").
  bool image_code_init_from_bits = false;
  std::string tokenizer = "byte";  // "byte" (toy ByteEncoder) or a tokenizer folder

  // Data.
  std::vector<SourceSpec> lm_sources;
  bool has_images = false;      // data.images given: t2i and mmu rows come from it
  ImageSourceSpec images;
  OnMalformed on_malformed = OnMalformed::Stop;

  // Batch: rows per micro-step and task; row length L = text_slots + image_tokens + 3
  // (image_tokens 0 with data.images = the tokenizer's codes per image, set by the Trainer).
  int64_t rows_t2i = 0, rows_lm = 1, rows_mmu = 0;
  int64_t text_slots = 128, image_tokens = 0, accumulation = 1;

  // Loss (training.md §4).
  double t2i_coeff = 1.0, lm_coeff = 1.0, mmu_coeff = 1.0;
  double mask_eps = 1e-3, cond_dropout_prob = 0.1, min_masking_rate = 0.0;
  double label_smoothing = 0.0;
  LmNormaliser lm_normaliser = LmNormaliser::RowLength;
  AttnMask t2i_pad_attention = AttnMask::None;

  OptimConfig optim;

  // Run.
  int64_t steps = 0;         // optimiser updates in this run (total, counting a resumed part)
  RunSettings run;           // seed, output_dir, checkpoints, log (default train_log.jsonl)

  int64_t row_length() const { return text_slots + image_tokens + 3; }

  static TrainConfig from_json_text(const std::string& text, const std::string& where);
  static TrainConfig load(const std::string& path);
};

}  // namespace mmada::train
