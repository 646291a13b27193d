// mmada showcase: the README's first run on the default model (models/mmada-demo, trained by the
// project, docs/demo-model.md): a reasoning answer to a held-out word problem, the description of
// an example image, and a drawn image written to a PNG, each timed. Prompts are the forms the
// model was trained on (docs/data.md): the chat template with the `<think>…</think>N` answer,
// the first mmu question and the first caption template of mmada train's image data.
#include <omp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "io/image.h"
#include "model/logits_fn.h"
#include "pipeline/image_settings.h"
#include "pipeline/text_model.h"
#include "sample/t2i_sampler.h"
#include "text_flags.h"
#include "train/image_data.h"
#include "vq/preprocess.h"
#include "vq_flags.h"

namespace mmada::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A problem of make-word-problems.py's held-out split (its CRC rule: never in any training file).
constexpr const char* kProblem =
    "Sam has 13 apples. He gets 43 more, then gives 44 to a friend. How many apples does Sam have now?";
// The form of the SFT data (make-word-problems.py --cot columns: each +/- step digit by digit).
constexpr const char* kSolution =
    "<think>13 + 43: 3 + 3 = 6, 1 + 4 + 0 = 5, so 56. 56 - 44: 6 - 4 = 2, 5 - 4 - 0 = 1, so 12.</think>12";
constexpr const char* kProblemAnswer = "12";

struct ShowcaseOpts {
  TextFlags f;  // -m, --tokenizer, --backend, --precision
  std::string vq, problem = kProblem, image, draw = "Sneaker", out = "showcase";
  int64_t gen_length = 96, steps = 96, block_length = 96;  // the reasoning answer's sampler: as the evaluation
  uint64_t seed = 0;
};

std::string trimmed(const std::string& s, size_t from = 0) {
  size_t b = from, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// The answer after </think> (the model's final number), or "" when the format is not there.
std::string final_answer(const std::string& text) {
  const size_t k = text.rfind("</think>");
  return k == std::string::npos ? "" : trimmed(text, k + 8);
}

// The example PNGs of the model folder, sorted by name (none: empty).
std::vector<std::string> examples(const std::string& model_dir) {
  std::error_code ec;
  std::vector<std::string> pngs;
  for (const auto& e : fs::directory_iterator(fs::path(model_dir) / "examples", ec))
    if (e.is_regular_file() && e.path().extension() == ".png") pngs.push_back(e.path().string());
  std::sort(pngs.begin(), pngs.end());
  return pngs;
}

// Nearest-neighbour enlargement, so a 32x32 result can be looked at.
RgbImage enlarge(const RgbImage& src, int factor) {
  RgbImage out(src.width * factor, src.height * factor);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      for (int c = 0; c < 3; ++c) out.row(y)[x * 3 + c] = src.row(y / factor)[(x / factor) * 3 + c];
  return out;
}

int run_showcase(ShowcaseOpts& o) {
  const auto t_all = Clock::now();
  const std::string model_dir = o.f.model_dir();
  const std::string vq_dir = model_vq_dir(o.vq, model_dir);
  MMADA_CHECK(!vq_dir.empty(), model_dir, " has no vq/ folder (its image tokenizer): pass --vq DIR, or -m a model "
              "folder that carries one such as models/mmada-demo");
  const std::vector<std::string> images = o.image.empty() ? examples(model_dir) : std::vector<std::string>{o.image};
  MMADA_CHECK(!images.empty(), model_dir, " has no examples/*.png to describe: pass -i IMAGE");
  MMADA_CHECK(!o.draw.empty(), "--draw needs a class name, e.g. Sneaker");
  TextSamplerParams reasoning;  // greedy, early stop; checked before anything loads
  reasoning.gen_length = o.gen_length;
  reasoning.steps = o.steps;
  reasoning.block_length = o.block_length;
  reasoning.temperature = 0;
  reasoning.early_stop = true;
  reasoning.validate();
  std::vector<RgbImage> photos;  // a bad file fails before the model loads
  for (const std::string& path : images) photos.push_back(load_image(path));

  TextModel tm = TextModel::load(model_dir, o.f.tokenizer_dir(), precision_from_name(o.f.precision), o.f.backend,
                                 o.f.backend_options());
  const Magvit vq = load_vq(vq_dir, tm.model->shared_backend());
  tm.tokens.codebook_size = vq.config().codebook_size();
  tm.tokens.check_image_codes_fit();
  const ImageSettings image = ImageSettings::for_model(tm.model->config(), vq.config().downsample_factor());
  // Timings depend on the threads: OpenMP's default (every core) unless OMP_NUM_THREADS is set.
  std::printf("mmada showcase: %s (%.1f M parameters), image tokenizer %s, loaded in %.2f s, %d threads\n\n",
              model_dir.c_str(), double(tm.model->config().param_count()) / 1e6, vq_dir.c_str(), seconds_since(t_all),
              omp_get_max_threads());

  // 1. Reasoning. Greedy, one token per step over one 96-token block by default: the setting of
  // the per-stage evaluation (docs/demo-model.md); the column-form answers need up to ~70 tokens.
  {
    const auto t0 = Clock::now();
    ChatRequest req;
    req.messages.push_back({"user", o.problem});
    req.sampler = reasoning;
    const ChatReply r = complete_chat(tm, req);
    std::printf("1. Reasoning (a held-out two-step word problem)\n   Q: %s\n   A: %s\n", o.problem.c_str(),
                r.text.c_str());
    if (o.problem == kProblem) {
      const std::string got = final_answer(r.text);
      const char* verdict = trimmed(r.text) == kSolution        ? "correct, steps and answer"
                            : got == kProblemAnswer    ? "right answer, other steps"
                            : got.empty()              ? "wrong: no <think>...</think>N answer"
                                                       : "wrong answer";
      std::printf("   expected %s: %s", kSolution, verdict);
    }
    std::printf("   (%.2f s)\n\n", seconds_since(t0));
  }

  // 2. Image understanding, with the question mmu rows were trained on: every example (or -i).
  {
    const auto t0 = Clock::now();
    const std::string question = train::default_questions().front();
    std::printf("2. Describe (Q: %s)\n", question.c_str());
    for (size_t k = 0; k < images.size(); ++k) {
      const Tensor codes = vq.encode(preprocess_image(photos[k], int(image.side), image.fit));
      ChatRequest req;
      req.messages.push_back({"user", question});
      req.image_codes.assign(codes.ptr<int64_t>(), codes.ptr<int64_t>() + codes.numel());
      req.sampler.gen_length = 16;  // a model without a recorded row length
      req.sampler.steps = 16;
      req.sampler.block_length = 16;
      req.fill_row = image.row_length;  // the answer slots of the trained mmu row
      req.sampler.temperature = 0;
      req.sampler.early_stop = true;
      req.sampler.validate();
      const ChatReply r = complete_chat(tm, req);
      std::printf("   %s (%dx%d): %s\n", images[k].c_str(), photos[k].width, photos[k].height, r.text.c_str());
    }
    std::printf("   (%.2f s)\n\n", seconds_since(t0));
  }

  // 3. Text to image: MaskGIT over the model's code grid, 12 steps with guidance.
  {
    const auto t0 = Clock::now();
    const std::string prompt = train::fill_template(train::default_caption_templates().front(), o.draw);
    const int64_t f = vq.config().downsample_factor(), grid = image.side / f, N = grid * grid;
    T2iParams p;
    p.timesteps = 12;
    p.guidance = 2.0;
    p.codebook = tm.tokens.codebook_size;
    p.image_offset = tm.tokens.image_code_offset;
    p.mask_id = tm.tokens.mask;
    p.bf16 = tm.model->precision() == Precision::BF16;
    p.validate();
    const T2iBatch batch = build_t2i_batch(tm.tokenizer->encode(prompt), image, N, 1, p.guidance > 0, tm.tokens);
    MMADA_CHECK(batch.row_length <= tm.model->config().max_sequence_length, "a ", image.side, "-pixel image needs ",
                batch.row_length, " positions, more than the model's ", tm.model->config().max_sequence_length);
    SeededT2iRandom rng(o.seed);
    const T2iResult r = generate_image(make_t2i_fn(*tm.model, p.image_offset, p.image_offset + p.codebook), batch.ids,
                                       batch.mask, batch.uncond_ids, batch.uncond_mask, 1, batch.row_length, N, p, rng);
    Tensor t = Tensor::empty(DType::I64, {1, N});
    std::copy(r.codes.begin(), r.codes.end(), t.ptr<int64_t>());
    const RgbImage drawn = pixels_to_images(vq.decode(t, grid, grid)).front();
    fs::create_directories(o.out);
    std::string name = o.draw;
    for (char& c : name)
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '-';
    const std::string path = (fs::path(o.out) / (name + ".png")).string();
    const std::string big = (fs::path(o.out) / (name + "-x8.png")).string();
    const PngText text = {{"prompt", prompt}, {"Software", "mmada.cpp showcase"}};
    write_png(path, drawn, text);
    write_png(big, enlarge(drawn, 8), text);
    std::printf("3. Draw \"%s\" -> %s (%lldx%lld), %s (x8 for viewing)\n   (%.2f s)\n\n", prompt.c_str(), path.c_str(),
                (long long)image.side, (long long)image.side, big.c_str(), seconds_since(t0));
  }
  std::printf("total %.2f s\n", seconds_since(t_all));
  return 0;
}

Command showcase_cmd("showcase", "Reason, describe an image and draw one on the default model (models/mmada-demo)",
                     [](CLI::App& sub) -> RunFn {
                       auto o = std::make_shared<ShowcaseOpts>();
                       sub.add_option("-m,--model", o->f.model, "model folder; default: the embedded model");
                       sub.add_option("--tokenizer", o->f.tokenizer, "tokenizer folder if the model folder has none");
                       sub.add_option("--vq", o->vq, "image tokenizer folder; default: the model folder's vq/");
                       sub.add_option("--backend", o->f.backend, "cpu or cuda[:N]")->capture_default_str();
                       sub.add_option("--precision", o->f.precision, "bf16 or f32")
                           ->check(CLI::IsMember({"bf16", "f32"}))->capture_default_str();
                       sub.add_option("--problem", o->problem, "the word problem (default: a held-out one)");
                       sub.add_option("--gen-length", o->gen_length, "reasoning: tokens to generate")->capture_default_str();
                       sub.add_option("--steps", o->steps, "reasoning: denoising steps")->capture_default_str();
                       sub.add_option("--block-length", o->block_length, "reasoning: block size")->capture_default_str();
                       sub.add_option("-i,--image", o->image, "image to describe; default: the model's first examples/*.png");
                       sub.add_option("--draw", o->draw, "class to draw (\"a photo of a {name}\")")->capture_default_str();
                       sub.add_option("-o,--output", o->out, "folder for the drawn PNGs")->capture_default_str();
                       sub.add_option("--seed", o->seed, "seed of the drawing")->capture_default_str();
                       return [o] { return run_showcase(*o); };
                     });

}  // namespace
}  // namespace mmada::cli
