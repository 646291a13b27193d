// mmada vq encode / decode: an image through the MAGVIT-v2 tokenizer and back.
// Codes files: text with one line per grid row (codes separated by spaces), or JSON
// {"height": h, "width": w, "codes": [...]} (raster order), chosen by the .json extension.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "command.h"
#include "core/error.h"
#include "io/image.h"
#include "vq/preprocess.h"
#include "vq_flags.h"

namespace mmada::cli {
namespace {

struct CodeGrid {
  int64_t h = 0, w = 0;
  std::vector<int64_t> codes;
};

void write_codes(const std::string& path, const CodeGrid& g) {
  std::ostringstream s;
  if (path.ends_with(".json")) {
    s << nlohmann::json{{"height", g.h}, {"width", g.w}, {"codes", g.codes}}.dump() << "\n";
  } else {
    for (int64_t y = 0; y < g.h; ++y)
      for (int64_t x = 0; x < g.w; ++x) s << g.codes[size_t(y * g.w + x)] << (x + 1 < g.w ? ' ' : '\n');
  }
  if (path == "-") {
    std::fputs(s.str().c_str(), stdout);
    return;
  }
  std::ofstream out(path);
  MMADA_CHECK(out.good(), path, ": cannot open for writing");
  out << s.str();
  MMADA_CHECK(out.good(), path, ": write failed");
}

CodeGrid read_codes(const std::string& path) {
  std::ifstream in(path);
  MMADA_CHECK(in.good(), path, ": cannot read codes file");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  CodeGrid g;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    MMADA_CHECK(!j.is_discarded() && j.is_object() && j.contains("codes") && j["codes"].is_array(), path,
                ": JSON codes file needs {\"height\", \"width\", \"codes\": [...]}");
    for (const auto& v : j["codes"]) {
      MMADA_CHECK(v.is_number_integer(), path, ": codes must be integers");
      g.codes.push_back(v.get<int64_t>());
    }
    g.h = j.value("height", int64_t(0));
    g.w = j.value("width", int64_t(0));
  } else {  // one grid row per line
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream row(line);
      int64_t n = 0;
      std::string tok;
      while (row >> tok) {
        char* end = nullptr;
        const long long v = std::strtoll(tok.c_str(), &end, 10);
        MMADA_CHECK(end && *end == 0, path, ": '", tok, "' is not an integer code");
        g.codes.push_back(v);
        ++n;
      }
      if (n == 0) continue;
      MMADA_CHECK(g.w == 0 || g.w == n || g.h == 0, path, ": rows have different lengths");
      g.w = n;
      ++g.h;
    }
    if (g.h == 1) {  // a single line: a square grid
      const auto side = int64_t(std::llround(std::sqrt(double(g.codes.size()))));
      g.h = g.w = side;
    }
  }
  MMADA_CHECK(!g.codes.empty() && g.h > 0 && g.w > 0 && g.h * g.w == int64_t(g.codes.size()), path,
              ": ", g.codes.size(), " codes do not fill a ", g.h, "x", g.w, " grid");
  return g;
}

struct VqOpts {
  std::string vq, input, output, codes, backend = "cpu";
  int64_t size = 512;
  bool squash = false, exact = false;
};

int run_encode(const VqOpts& o) {
  MMADA_CHECK(!o.input.empty(), "no image: use -i FILE");
  const RgbImage img = load_image(o.input);
  const Magvit vq = load_vq(o.vq, make_backend(o.backend));
  check_image_size(o.size, vq.config().downsample_factor());
  const Tensor codes = vq.encode(preprocess_image(img, int(o.size), o.squash ? ResizeMode::Squash : ResizeMode::CropCenter));
  CodeGrid g;
  g.h = g.w = o.size / vq.config().downsample_factor();
  g.codes.assign(codes.ptr<int64_t>(), codes.ptr<int64_t>() + codes.numel());
  write_codes(o.output.empty() ? "-" : o.output, g);
  return 0;
}

int run_decode(const VqOpts& o) {
  MMADA_CHECK(!o.codes.empty(), "no codes: use --codes FILE");
  MMADA_CHECK(!o.output.empty(), "no output: use -o FILE.png");
  const CodeGrid g = read_codes(o.codes);
  const Magvit vq = load_vq(o.vq, make_backend(o.backend), decode_math(o.exact));
  const int64_t C = vq.config().codebook_size();
  Tensor t = Tensor::empty(DType::I64, {1, g.h * g.w});
  for (size_t i = 0; i < g.codes.size(); ++i) {
    MMADA_CHECK(g.codes[i] >= 0 && g.codes[i] < C, o.codes, ": code ", g.codes[i], " at index ", i,
                " is outside [0, ", C, ")");
    t.ptr<int64_t>()[i] = g.codes[i];
  }
  const std::vector<RgbImage> imgs = pixels_to_images(vq.decode(t, g.h, g.w));
  write_png(o.output, imgs[0], {{"Software", "mmada.cpp vq decode"}});
  return 0;
}

Command vq_cmd("vq", "Image tokenizer: encode an image to MAGVIT-v2 codes or decode codes to an image",
               [](CLI::App& sub) -> RunFn {
                 auto o = std::make_shared<VqOpts>();
                 sub.require_subcommand(1);
                 sub.add_option("--backend", o->backend, "cpu or cuda[:N]")->capture_default_str();
                 CLI::App* enc = sub.add_subcommand("encode", "image -> codes (text, or JSON for *.json)");
                 enc->add_option("--vq", o->vq, "MAGVIT-v2 folder");
                 enc->add_option("-i,--image", o->input, "PNG or JPEG file");
                 enc->add_option("-o,--output", o->output, "codes file (default: stdout)");
                 enc->add_option("--size", o->size, "resolution (multiple of 16)")->capture_default_str();
                 enc->add_flag("--squash", o->squash, "resize without keeping the aspect ratio");
                 CLI::App* dec = sub.add_subcommand("decode", "codes -> PNG");
                 dec->add_option("--vq", o->vq, "MAGVIT-v2 folder");
                 dec->add_option("--codes", o->codes, "codes file written by `vq encode`");
                 dec->add_option("-o,--output", o->output, "output PNG");
                 dec->add_flag("--exact", o->exact, "GPU: float32 convolutions instead of TF32 (slower, pixels equal to the CPU's)");
                 return [o, enc] { return enc->parsed() ? run_encode(*o) : run_decode(*o); };
               });

}  // namespace
}  // namespace mmada::cli
