// Image data for the t2i / mmu tasks: IDX loading, captions and questions, the code cache,
// a mixed t2i + lm + mmu training run, the evaluation's plumbing, and config errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

#include "core/error.h"
#include "train/eval_images.h"
#include "train/image_data.h"
#include "train/trainer.h"
#include "vq/magvit.h"
#include "test_util.h"

namespace mmada::train {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("mmada_image_data_test_" + name + "_" +
                                                  std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

using test::write_idx;


ImageSourceSpec spec_for(const fs::path& dir) {
  ImageSourceSpec s;
  s.path = dir.string();
  s.vq = (dir / "vq").string();
  s.cache_dir = (dir / "cache").string();
  if (!fs::exists(dir / "vq" / "model.safetensors"))
    Magvit::write_random(s.vq, MagvitConfig::small(32, 3, 0, 6), 7);
  return s;
}

TEST(ImageData, LoadsIdxAndRejectsMismatchedFiles) {
  const fs::path dir = temp_dir("load");
  test::write_bar_images(dir, "train", 12);
  const LabelledImages d = load_labelled_idx(dir.string(), "train", 5, 10);
  EXPECT_EQ(d.count, 5);
  EXPECT_EQ(d.height, 28);
  EXPECT_EQ(d.labels[3], 3);
  const Tensor px = grey_to_pixels(d, 1, 2, 32);
  EXPECT_EQ(px.shape, (Shape{2, 3, 32, 32}));
  EXPECT_EQ(px.ptr<float>()[0], -1.0f);                          // padding border is black
  EXPECT_EQ(px.ptr<float>()[(2 + 2 * 1 + 2) * 32 + 2 + 4], 1.0f);  // image 1's bar, offset by 2
  // Labels that disagree in count with the images, or exceed the class names.
  write_idx(dir / "bad-images-idx3-ubyte", {3, 28, 28}, std::vector<uint8_t>(3 * 784));
  write_idx(dir / "bad-labels-idx1-ubyte", {4}, {0, 1, 2, 3});
  EXPECT_THROW(load_labelled_idx(dir.string(), "bad", 0, 10), Error);
  write_idx(dir / "bad-labels-idx1-ubyte", {3}, {0, 1, 12});
  EXPECT_THROW(load_labelled_idx(dir.string(), "bad", 0, 10), Error);
  EXPECT_THROW(load_labelled_idx(dir.string(), "nosuch", 0, 10), Error);
  fs::remove_all(dir);
}

TEST(ImageData, CaptionsQuestionsAndAnswerMatching) {
  EXPECT_EQ(fill_template("draw a {name}, a {name}", "Bag"), "draw a Bag, a Bag");
  EXPECT_EQ(fashion_mnist_classes().size(), 10u);
  EXPECT_EQ(fashion_mnist_classes()[9], "Ankle boot");
  const auto& n = fashion_mnist_classes();
  EXPECT_EQ(class_named_in("T-shirt/top", n), 0);  // not "Shirt"
  EXPECT_EQ(class_named_in("a shirt", n), 6);
  EXPECT_EQ(class_named_in("ankle boot", n), 9);
  EXPECT_EQ(class_named_in("nothing", n), -1);
  EXPECT_EQ(nearest_class_name(" Sneker", n), 7);
  EXPECT_EQ(nearest_class_name("trouser", n), 1);
  EXPECT_EQ(nearest_class_name("Ankle bot", n), 9);
  EXPECT_EQ(mmu_text("What is this?", "Bag"),
            mmu_prompt_text("What is this?") + "Bag<|eot_id|>");

  const fs::path dir = temp_dir("rows");
  test::write_bar_images(dir, "train", 10);
  const ImageSourceSpec spec = spec_for(dir);
  const ByteEncoder enc;
  const ImageTaskData data(tokenize_images(spec), spec, enc);
  const RowTokens& tk = enc.tokens();
  const CounterRng rng{3};
  const int64_t T = 64, N = data.image_tokens();
  EXPECT_EQ(N, 64);  // 32x32 at x4 down-sampling
  for (int64_t r = 0; r < 20; ++r) {
    const CleanRow t = data.t2i(rng, 0, r, T, 0.0, tk);
    ASSERT_EQ(int64_t(t.ids.size()), T + N + 3);
    // The caption names the class whose codes follow.
    std::vector<int64_t> text(t.ids.begin(), t.ids.begin() + T + 1), img(t.ids.begin() + T + 2, t.ids.end() - 1);
    const std::string cap = enc.decode(text);
    const int64_t cls = class_named_in(cap, data.class_names());
    ASSERT_GE(cls, 0) << cap;
    bool found = false;
    for (size_t i = 0; i < size_t(data.codes().count); ++i)
      found |= data.codes().labels[i] == cls && data.image_ids(i) == img;
    EXPECT_TRUE(found) << cap;
    for (int64_t id : img) EXPECT_GE(id, enc.image_code_offset());

    const CleanRow m = data.mmu(rng, 0, r, T, tk);
    ASSERT_EQ(int64_t(m.ids.size()), T + N + 3);
    EXPECT_EQ(m.ids[0], tk.mmu);
    // The answer (after the prompt) is the class name of the row's image.
    std::vector<int64_t> ans(m.ids.begin() + m.prompt_len, m.ids.end());
    const std::vector<int64_t> mimg(m.ids.begin() + 2, m.ids.begin() + 2 + N);
    const int64_t said = class_named_in(enc.decode(ans), data.class_names());
    for (size_t i = 0; i < size_t(data.codes().count); ++i)
      if (data.image_ids(i) == mimg) {
        EXPECT_EQ(said, data.codes().labels[i]);
      }
    // The prompt (never masked) ends with the assistant header (the newline is answer, §3.4).
    const std::string prompt = enc.decode(std::vector<int64_t>(m.ids.begin() + N + 3, m.ids.begin() + m.prompt_len));
    EXPECT_TRUE(prompt.ends_with("assistant<|end_header_id|>")) << prompt;
  }
  // Cond dropout 1: the caption is gone (<|t2i|> BOS EOS only).
  const CleanRow dropped = data.t2i(rng, 1, 0, T, 1.0, tk);
  EXPECT_EQ(dropped.ids[size_t(T - 2)], tk.t2i);
  fs::remove_all(dir);
}

// Two image sources in one label space (Fashion-MNIST 0-9, digits 10-19, docs/data.md): a
// caption group gives labels 5..9 of this set their own templates.
TEST(ImageData, CaptionGroupsGiveTheirLabelsOwnTemplates) {
  const fs::path dir = temp_dir("groups");
  test::write_bar_images(dir, "train", 10);
  ImageSourceSpec spec = spec_for(dir);
  spec.class_names = {"c0", "c1", "c2", "c3", "c4", "digit 5", "digit 6", "digit 7", "digit 8", "digit 9"};
  spec.captions = {"a photo of a {name}"};
  spec.caption_groups = {{5, 9, {"draw the {name}", "the {name}, handwritten"}}};
  EXPECT_EQ(caption_templates(spec, 4), spec.captions);
  EXPECT_EQ(caption_templates(spec, 7), spec.caption_groups[0].templates);
  const ByteEncoder enc;
  const ImageTaskData data(tokenize_images(spec), spec, enc);
  const CounterRng rng{5};
  std::set<std::string> seen;
  for (int64_t r = 0; r < 40; ++r) {
    const CleanRow t = data.t2i(rng, 0, r, 32, 0.0, enc.tokens());
    std::vector<int64_t> text;  // the caption's bytes, without [iPAD] <|t2i|> BOS … EOS
    std::copy_if(t.ids.begin(), t.ids.begin() + 33, std::back_inserter(text), [](int64_t id) { return id < 256; });
    const std::string cap = enc.decode(text);
    const int64_t cls = class_named_in(cap, data.class_names());
    ASSERT_GE(cls, 0) << cap;
    EXPECT_EQ(cap.starts_with("a photo of a "), cls < 5) << cap;
    seen.insert(cap.substr(0, cap.find(' ')));
  }
  EXPECT_EQ(seen, (std::set<std::string>{"a", "draw", "the"}));  // every template was drawn
  spec.caption_groups[0].last = 10;  // beyond the ten class names
  EXPECT_THROW(ImageTaskData(tokenize_images(spec), spec, enc), Error);
  fs::remove_all(dir);
}

TEST(ImageData, CodeCacheHitAndKeyedMiss) {
  const fs::path dir = temp_dir("cache");
  test::write_bar_images(dir, "train", 10);
  ImageSourceSpec spec = spec_for(dir);
  const ImageCodes first = tokenize_images(spec);
  EXPECT_FALSE(first.from_cache);
  ASSERT_TRUE(fs::exists(first.cache_file));
  const ImageCodes second = tokenize_images(spec);
  EXPECT_TRUE(second.from_cache);
  EXPECT_EQ(second.codes, first.codes);
  EXPECT_EQ(second.labels, first.labels);
  EXPECT_EQ(second.codebook, 64);
  // The folder's weights are exactly Magvit::random's, so the codes match a fresh encode.
  const Magvit ref = Magvit::random(MagvitConfig::small(32, 3, 0, 6), 7);
  const LabelledImages d = load_labelled_idx(spec.path, "train", 0, 10);
  const Tensor codes = ref.encode(grey_to_pixels(d, 0, 10, 32));
  for (int64_t i = 0; i < codes.numel(); ++i) ASSERT_EQ(codes.ptr<int64_t>()[i], first.codes[size_t(i)]);
  // A copy of the data folder elsewhere hits the same cache (the key is the content).
  const fs::path copy = dir / "copy";
  fs::create_directories(copy);
  for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"})
    fs::copy_file(fs::path(spec.path) / f, copy / f);
  ImageSourceSpec moved = spec;
  moved.path = copy.string();
  const ImageCodes third = tokenize_images(moved);
  EXPECT_TRUE(third.from_cache);
  EXPECT_EQ(third.cache_file, first.cache_file);
  EXPECT_EQ(third.codes, first.codes);
  // Another label (same pixels) misses it.
  {
    std::fstream lab(copy / "train-labels-idx1-ubyte", std::ios::in | std::ios::out | std::ios::binary);
    lab.seekp(8);  // IDX header: magic, count; then one byte per label
    const char other = char((first.labels[0] + 1) % 10);
    lab.write(&other, 1);
  }
  EXPECT_FALSE(tokenize_images(moved).from_cache);
  // Another count or another tokenizer misses the cache.
  spec.limit = 4;
  const ImageCodes fewer = tokenize_images(spec);
  EXPECT_FALSE(fewer.from_cache);
  EXPECT_EQ(fewer.count, 4);
  spec.limit = 0;
  Magvit::write_random(spec.vq, MagvitConfig::small(32, 3, 0, 6), 8);
  EXPECT_FALSE(tokenize_images(spec).from_cache);
  fs::remove_all(dir);
}

std::string mixed_config(const fs::path& dir, const std::string& batch) {
  std::ofstream(dir / "chat.jsonl")
      << "{\"messages\":[{\"role\":\"user\",\"content\":\"2+3\"},{\"role\":\"assistant\",\"content\":\"<think>2+3=5</think>5\"}]}\n";
  return R"({"model": {"d_model": 32, "n_layers": 1, "n_heads": 2, "mlp_hidden": 64},
  "data": {"lm": [{"path": ")" + (dir / "chat.jsonl").string() + R"(", "format": "chat"}],
           "images": {"path": ")" + dir.string() + R"(", "vq": ")" + (dir / "vq").string() +
         R"(", "cache_dir": ")" + (dir / "cache").string() + R"("}},
  "batch": )" + batch + R"(,
  "optim": {"lr": 0.01, "warmup_steps": 1},
  "steps": 3, "seed": 5, "output_dir": ")" + (dir / "out").string() + "\"}";
}

TEST(ImageData, MixedT2iLmMmuTrainingHasFinitePerTaskLosses) {
  const fs::path dir = temp_dir("mixed");
  test::write_bar_images(dir, "train", 20);
  test::write_bar_images(dir, "t10k", 10);
  spec_for(dir);
  Trainer t(TrainConfig::from_json_text(
      mixed_config(dir, R"({"rows_t2i": 2, "rows_lm": 1, "rows_mmu": 2, "text_slots": 64})"), "run.json"));
  EXPECT_EQ(t.config().image_tokens, 64);
  EXPECT_EQ(t.model_config().vocab, ByteEncoder::kVocab + 64);
  std::vector<StepRecord> recs;
  t.run([&](const StepRecord& r) { recs.push_back(r); });
  ASSERT_EQ(recs.size(), 3u);
  for (const StepRecord& r : recs)
    for (int k = 0; k < kNumTasks; ++k) {
      EXPECT_TRUE(std::isfinite(r.task_loss[k]));
      EXPECT_GT(r.task_loss[k], 0.0) << task_name(Task(k));
    }
  // The evaluation runs end to end on the checkpoint (numbers are meaningless after 3 steps).
  ImageEvalOptions o;
  o.describe_images = 3;
  o.t2i_per_class = 1;
  o.t2i_timesteps = 2;
  const ImageEvalResult e = eval_images(t.checkpoint_dir(), t.config(), t.encoder(), *t.image_data(), o);
  EXPECT_EQ(e.describe_total, 3);
  // The confusion counts add up to the totals: all answers, the correct ones on the diagonal,
  // and the answers naming no class in the last column.
  ASSERT_EQ(e.describe_named.size(), size_t(e.classes * (e.classes + 1)));
  int64_t named = 0, correct = 0, none_counted = 0;
  for (int64_t v : e.describe_named) named += v;
  for (int64_t c = 0; c < e.classes; ++c) {
    correct += e.describe_named[size_t(c * (e.classes + 1) + c)];
    none_counted += e.describe_named[size_t(c * (e.classes + 1) + e.classes)];
  }
  EXPECT_EQ(named, e.describe_total);
  EXPECT_EQ(correct, e.describe_correct);
  const std::vector<std::string>& names = t.image_data()->class_names();
  int64_t none = 0;
  for (const std::string& a : e.describe_answers) none += class_named_in(a, names) < 0;
  EXPECT_EQ(none_counted, none);
  EXPECT_EQ(e.t2i_total, 10);
  EXPECT_EQ(e.real_total, 3);
  // The synthetic classes are separable by their codes: the calibration classifier gets them.
  EXPECT_EQ(e.real_correct, 3);
  fs::remove_all(dir);
}

// model.image_code_init "lfq_bits" reaches the fresh model: its image-code rows are what
// init_image_codes_from_bits gives, its text rows the random ones.
TEST(ImageData, FreshModelTakesImageCodeRowsFromBits) {
  const fs::path dir = temp_dir("bits");
  test::write_bar_images(dir, "train", 10);
  spec_for(dir);
  const std::string batch = R"({"rows_t2i": 1, "rows_lm": 1, "rows_mmu": 1, "text_slots": 64})";
  const std::string cfg =
      test::replaced(mixed_config(dir, batch), "\"d_model\": 32", "\"d_model\": 32, \"image_code_init\": \"lfq_bits\"");
  Trainer bits(TrainConfig::from_json_text(cfg, "run.json"));
  Trainer plain(TrainConfig::from_json_text(mixed_config(dir, batch), "run.json"));
  const Tensor& w = bits.params().wte;
  Tensor expect = plain.params().wte.to_f32();  // an owned copy
  const int64_t off = bits.encoder().image_code_offset(), K = bits.image_data()->codes().codebook;
  init_image_codes_from_bits(expect, off, K, bits.config().init_std, bits.config().run.seed);
  ASSERT_EQ(w.shape, expect.shape);
  for (int64_t i = 0; i < w.numel(); ++i) ASSERT_EQ(w.ptr<float>()[i], expect.ptr<float>()[i]) << i;
  EXPECT_NE(w.ptr<float>()[off * 32], plain.params().wte.ptr<float>()[off * 32]);
  fs::remove_all(dir);
}

TEST(ImageData, ConfigErrors) {
  const fs::path dir = temp_dir("config");
  auto err = [&](const std::string& text) {
    try {
      Trainer t(TrainConfig::from_json_text(text, "run.json"));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string ok = mixed_config(dir, R"({"rows_t2i": 1, "rows_lm": 1, "text_slots": 64})");
  auto edit = [&](const std::string& from, const std::string& to) { return test::replaced(ok, from, to); };
  EXPECT_NE(err(edit("\"vq\"", "\"vq_dir\"")).find("unknown key \"vq_dir\""), std::string::npos);
  EXPECT_NE(err(edit("\"cache_dir\"", "\"captions\": [\"a photo\"], \"cache_dir\"")).find("has no {name}"),
            std::string::npos);
  EXPECT_NE(err(edit("\"rows_t2i\": 1", "\"rows_t2i\": 0")).find("rows_t2i and rows_mmu are both 0"),
            std::string::npos);
  EXPECT_NE(err(edit("\"rows_lm\": 1", "\"rows_lm\": 0")).find("rows_lm is 0"), std::string::npos);
  // Data problems surface when the trainer loads it: missing files, too few text slots.
  EXPECT_NE(err(ok).find("no train-images-idx3-ubyte"), std::string::npos);
  test::write_bar_images(dir, "train", 10);
  spec_for(dir);
  EXPECT_NE(err(edit("\"text_slots\": 64", "\"text_slots\": 20")).find("too small"), std::string::npos);
  EXPECT_NE(err(edit("\"text_slots\": 64", "\"text_slots\": 64, \"image_tokens\": 16")).find("codes per"),
            std::string::npos);
  auto group = [&](const std::string& g) { return err(edit("\"cache_dir\"", "\"caption_groups\": " + g + ", \"cache_dir\"")); };
  EXPECT_NE(group(R"([{"labels": [3, 1], "captions": ["x {name}"]}])").find("0 <= first <= last"), std::string::npos);
  EXPECT_NE(group(R"([{"labels": [0, 4], "captions": ["x"]}])").find("is not a string with {name}"), std::string::npos);
  EXPECT_NE(group(R"([{"labels": [0, 4], "captions": ["x {name}"]}, {"labels": [4, 5], "captions": ["y {name}"]}])")
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(group(R"([{"labels": [0, 1], "captions": ["x {name}"], "names": []}])").find("unknown key \"names\""),
            std::string::npos);
  auto augment = [&](const std::string& a) { return err(edit("\"cache_dir\"", "\"augment\": " + a + ", \"cache_dir\"")); };
  EXPECT_NE(augment(R"({"copies": 0})").find("copies = 0 must be >= 1"), std::string::npos);
  EXPECT_NE(augment(R"({"shift": 2})").find("need copies > 1"), std::string::npos);
  EXPECT_NE(augment(R"({"copies": 2, "flip_labels": [2, "3"]})").find("flip_labels must hold labels"), std::string::npos);
  EXPECT_NE(augment(R"({"copies": 2, "rotate": 5})").find("unknown key \"rotate\""), std::string::npos);
  EXPECT_NE(err(edit("\"cache_dir\"", "\"balance_classes\": 1, \"cache_dir\"")).find("must be true or false"),
            std::string::npos);
  EXPECT_NE(err(edit("\"d_model\": 32", "\"d_model\": 32, \"image_code_init\": \"bits\"")).find("is not one of"),
            std::string::npos);
  EXPECT_NE(err(edit("\"cache_dir\"", "\"mmu_code_mask\": 1.0, \"cache_dir\"")).find("mmu_code_mask = 1 is out of range"),
            std::string::npos);
  fs::remove_all(dir);
}

// The image-code rows from LFQ bits: flipping one bit moves a row by the same vector whatever
// the other bits, the complement code is the negated row; other rows are untouched.
TEST(ImageData, ImageCodeEmbeddingFromLfqBits) {
  Tensor wte = Tensor::empty(DType::F32, {20 + 64, 16});
  std::fill(wte.ptr<float>(), wte.ptr<float>() + wte.numel(), 7.0f);
  init_image_codes_from_bits(wte, 20, 64, 0.02, 3);
  auto row = [&](int64_t c, int64_t d) { return wte.ptr<float>()[(20 + c) * 16 + d]; };
  double norm2 = 0;
  for (int64_t d = 0; d < 16; ++d) {
    EXPECT_EQ(wte.ptr<float>()[19 * 16 + d], 7.0f);  // the text rows stay
    EXPECT_NEAR(row(0, d) - row(1, d), row(6, d) - row(7, d), 1e-7);    // bit 0 flipped
    EXPECT_NEAR(row(8, d) - row(40, d), row(1, d) - row(33, d), 1e-7);  // bit 5 flipped
    EXPECT_NEAR(row(13, d), -row(63 - 13, d), 1e-7);                    // complement
    for (int64_t c = 0; c < 64; ++c) norm2 += double(row(c, d)) * row(c, d);
  }
  EXPECT_NEAR(std::sqrt(norm2 / (64 * 16)), 0.02, 0.008);  // about the random rows' scale
  EXPECT_THROW(init_image_codes_from_bits(wte, 30, 64, 0.02, 3), Error);
}

TEST(ImageData, PlacementShiftsAndMirrors) {
  const fs::path dir = temp_dir("place");
  test::write_bar_images(dir, "train", 3);
  std::vector<uint8_t> px(28 * 28, 0);  // one lit pixel at row 5, column 3
  px[5 * 28 + 3] = 255;
  test::write_idx(dir / "one-images-idx3-ubyte", {1, 28, 28}, px);
  test::write_idx(dir / "one-labels-idx1-ubyte", {1}, {0});
  const LabelledImages d = load_labelled_idx(dir.string(), "one", 0, 10);
  auto lit = [&](const Placement& pl) {  // the canvas pixels the image's one lit pixel lands on
    const Tensor t = grey_to_pixels(d, 0, 32, {pl});
    std::vector<int64_t> at;
    for (int64_t k = 0; k < 32 * 32; ++k)
      if (t.ptr<float>()[k] > 0) at.push_back(k);
    return at;
  };
  EXPECT_EQ(lit({}), (std::vector<int64_t>{(2 + 5) * 32 + 2 + 3}));          // centred: 2-pixel border
  EXPECT_EQ(lit({1, -2, false}), (std::vector<int64_t>{(0 + 5) * 32 + 3 + 3}));  // right 1, up 2
  EXPECT_EQ(lit({0, 0, true}), (std::vector<int64_t>{(2 + 5) * 32 + 2 + 24}));   // mirrored: column 27 - 3
  EXPECT_EQ(lit({-6, 0, false}), std::vector<int64_t>{});                        // pushed off the canvas
  // The seeded placements: copy 0 as it is; offsets within [-shift, shift], all of them used;
  // flips only for the labels asked, about half of them.
  ImageSourceSpec::Augment aug;
  aug.copies = 4;
  aug.shift = 2;
  aug.flip_labels = {1};
  std::set<int64_t> offsets;
  int flips[2] = {0, 0};
  for (int64_t i = 0; i < 400; ++i) {
    const uint8_t label = uint8_t(i % 2);
    const Placement p0 = augment_placement(aug, 0, i, label);
    EXPECT_TRUE(p0.dx == 0 && p0.dy == 0 && !p0.flip);
    const Placement p = augment_placement(aug, 1 + i % 3, i, label);
    ASSERT_TRUE(std::abs(p.dx) <= 2 && std::abs(p.dy) <= 2) << p.dx << " " << p.dy;
    offsets.insert(p.dx);
    offsets.insert(p.dy);
    flips[label] += p.flip;
  }
  EXPECT_EQ(offsets, (std::set<int64_t>{-2, -1, 0, 1, 2}));
  EXPECT_EQ(flips[0], 0);
  EXPECT_GT(flips[1], 70);  // of 200, p = 1/2
  EXPECT_LT(flips[1], 130);
  fs::remove_all(dir);
}

// Augmented copies follow the originals in the codes (and in the cache key); balanced draws
// give every class the same share however many images it has.
TEST(ImageData, AugmentedCopiesAndBalancedDraws) {
  const fs::path dir = temp_dir("augment");
  test::write_bar_images(dir, "train", 12);  // labels 0..9, 0, 1: classes 0 and 1 twice
  ImageSourceSpec spec = spec_for(dir);
  const ImageCodes plain = tokenize_images(spec);
  spec.augment.copies = 3;
  spec.augment.shift = 2;
  spec.augment.flip_labels = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const ImageCodes aug = tokenize_images(spec);
  EXPECT_FALSE(aug.from_cache);  // another key than the plain codes'
  EXPECT_NE(aug.cache_file, plain.cache_file);
  ASSERT_EQ(aug.count, 36);
  const size_t per = size_t(aug.per_image);
  EXPECT_TRUE(std::equal(plain.codes.begin(), plain.codes.end(), aug.codes.begin()));  // copy 0
  const Magvit vq = Magvit::load(spec.vq);
  const LabelledImages d = load_labelled_idx(spec.path, "train", 0, 10);
  bool differs = false;
  for (int64_t c = 1; c < 3; ++c) {
    std::vector<Placement> place;
    for (int64_t i = 0; i < 12; ++i) place.push_back(augment_placement(spec.augment, c, i, d.labels[size_t(i)]));
    const Tensor codes = vq.encode(grey_to_pixels(d, 0, 32, place));
    for (size_t k = 0; k < 12 * per; ++k) {
      ASSERT_EQ(codes.ptr<int64_t>()[k], aug.codes[size_t(c) * 12 * per + k]);
      differs |= aug.codes[size_t(c) * 12 * per + k] != plain.codes[k];
    }
    for (size_t i = 0; i < 12; ++i) EXPECT_EQ(aug.labels[size_t(c) * 12 + i], plain.labels[i]);
  }
  EXPECT_TRUE(differs);
  EXPECT_TRUE(tokenize_images(spec).from_cache);

  const ByteEncoder enc;
  const ImageTaskData uniform(plain, spec, enc);
  spec.balance_classes = true;
  const ImageTaskData balanced(plain, spec, enc);
  std::vector<int> by_uniform(10), by_balanced(10);
  for (int k = 0; k < 1200; ++k) {
    const double u = (k + 0.5) / 1200;
    ++by_uniform[plain.labels[uniform.draw_image(u)]];
    ++by_balanced[plain.labels[balanced.draw_image(u)]];
  }
  EXPECT_EQ(by_uniform[0], 200);  // 2 of 12 images
  EXPECT_EQ(by_uniform[5], 100);
  EXPECT_EQ(by_balanced, std::vector<int>(10, 120));
  // With augmented codes: describe rows may draw any copy, t2i rows the originals only; both
  // stay balanced.
  const ImageTaskData augmented(aug, spec, enc);
  std::vector<int> any(10), orig(10);
  size_t beyond = 0;
  for (int k = 0; k < 1200; ++k) {
    const double u = (k + 0.5) / 1200;
    const size_t a = augmented.draw_image(u), o = augmented.draw_image(u, true);
    ASSERT_LT(o, 12u);
    beyond += a >= 12;
    ++any[aug.labels[a]];
    ++orig[aug.labels[o]];
  }
  EXPECT_GT(beyond, 600u);  // two thirds of the images are copies
  EXPECT_EQ(any, std::vector<int>(10, 120));
  EXPECT_EQ(orig, std::vector<int>(10, 120));
  const CounterRng rng{9};
  for (int64_t r = 0; r < 30; ++r) {
    const CleanRow t = augmented.t2i(rng, 0, r, 64, 0.0, enc.tokens());
    const std::vector<int64_t> img(t.ids.begin() + 64 + 2, t.ids.end() - 1);
    bool original = false;
    for (size_t i = 0; i < 12; ++i) original |= augmented.image_ids(i) == img;
    EXPECT_TRUE(original) << "row " << r;
  }
  fs::remove_all(dir);
}

// data.images.mmu_code_mask: an mmu row is the unmasked row with about that share of its image
// codes replaced by [MASK] (the same draws otherwise: image, question, answer); t2i rows untouched.
TEST(ImageData, MmuCodeMaskHidesThatShareOfTheCodes) {
  const fs::path dir = temp_dir("codemask");
  test::write_bar_images(dir, "train", 12);
  ImageSourceSpec spec = spec_for(dir);
  const ImageCodes codes = tokenize_images(spec);
  const ByteEncoder enc;
  const RowTokens& tk = enc.tokens();
  const ImageTaskData plain(codes, spec, enc);
  spec.mmu_code_mask = 0.25;
  const ImageTaskData masked(codes, spec, enc);
  const CounterRng rng{4};
  const int64_t N = codes.per_image;
  int64_t hidden = 0, total = 0;
  for (int64_t ms = 0; ms < 4; ++ms)
    for (int64_t r = 0; r < 50; ++r) {
      const CleanRow a = plain.mmu(rng, ms, r, 64, tk), b = masked.mmu(rng, ms, r, 64, tk);
      ASSERT_EQ(a.ids.size(), b.ids.size());
      EXPECT_EQ(a.prompt_len, b.prompt_len);
      for (size_t i = 0; i < a.ids.size(); ++i) {
        const bool code = i >= 2 && i < size_t(2 + N);  // <|mmu|> <|soi|> codes <|eoi|> text
        if (code && b.ids[i] == tk.mask) {
          ++hidden;
        } else {
          ASSERT_EQ(a.ids[i], b.ids[i]) << "position " << i;
        }
        total += code;
      }
      EXPECT_EQ(plain.t2i(rng, ms, r, 64, 0.0, tk).ids, masked.t2i(rng, ms, r, 64, 0.0, tk).ids);
    }
  // 200 rows of N codes: the share within 4 standard deviations of 0.25
  const double share = double(hidden) / double(total), sd = std::sqrt(0.25 * 0.75 / double(total));
  EXPECT_NEAR(share, 0.25, 4 * sd) << hidden << " of " << total;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mmada::train
