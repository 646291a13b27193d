// mmada plot-log: the curves of `mmada train` / `mmada rl` JSONL logs as a PNG (one panel per
// key, several logs overlaid), or as a bucketed Markdown table (--table) for reports.
#include <cstdio>

#include "command.h"
#include "core/error.h"
#include "io/image.h"
#include "plot/log_series.h"
#include "plot/render.h"

namespace mmada::cli {
namespace {

struct Opts {
  std::vector<std::string> logs;
  std::string out, keys, size, title;
  int smooth = 1, columns = 0, table = 0;
  bool no_bands = false;
};

int plot_log(const Opts& o) {
  MMADA_CHECK(!o.out.empty() || o.table > 0, "give -o OUT.png (or --table N for a text table)");
  MMADA_CHECK(o.table >= 0, "--table ", o.table, " must be at least 1 (records per row)");
  plot::PlotOptions opt;
  opt.smooth = o.smooth;
  opt.columns = o.columns;
  opt.bands = !o.no_bands;
  opt.title = o.title;
  if (!o.size.empty()) {
    int w = 0, h = 0;
    char tail = 0;
    MMADA_CHECK(std::sscanf(o.size.c_str(), "%dx%d%c", &w, &h, &tail) == 2, "--size \"", o.size,
                "\" must be WIDTHxHEIGHT in pixels per panel, e.g. 440x280");
    opt.panel_width = w;
    opt.panel_height = h;
  }
  plot::check_plot_options(opt);

  std::vector<plot::LogArgument> args;
  std::vector<plot::LogData> logs;
  for (const std::string& a : o.logs) {
    args.push_back(plot::parse_log_argument(a));
    logs.push_back(plot::load_log(args.back().path));
  }
  const std::vector<std::string> labels = plot::log_labels(args);
  const std::vector<plot::PanelSpec> panels =
      o.keys.empty() ? plot::default_panels(logs) : plot::parse_panel_keys(o.keys);
  MMADA_CHECK(!panels.empty(), "the logs have no numeric keys to draw");
  plot::check_panel_keys(panels, logs);
  for (size_t i = 0; i < logs.size(); ++i) {
    const plot::LogData& l = logs[i];
    std::fprintf(stderr, "%s: %zu records, steps %g..%g", labels[i].c_str(), l.records(), l.step.front(),
                 l.step.back());
    if (l.superseded) std::fprintf(stderr, "; %lld records replaced by a later line of the same step (resumed run)",
                                   (long long)l.superseded);
    if (l.malformed) std::fprintf(stderr, "; %lld malformed lines skipped (first: %s)", (long long)l.malformed,
                                  l.first_malformed.c_str());
    std::fprintf(stderr, "\n");
  }

  if (o.table > 0) {
    std::vector<std::string> keys;  // without --keys: the first default key only
    for (const plot::PanelSpec& p : panels) keys.insert(keys.end(), p.keys.begin(), p.keys.end());
    if (o.keys.empty()) keys.resize(1);
    for (const std::string& k : keys)
      std::printf("%s\n\n%s\n", k.c_str(), plot::bucket_table(logs, labels, k, o.table).c_str());
  }
  if (o.out.empty()) return 0;
  const RgbImage img = plot::render_plot(logs, labels, panels, opt);
  PngText text = {{"Software", "mmada plot-log"}};
  for (const std::string& a : o.logs) text.emplace_back("Source", a);
  write_png(o.out, img, text);
  std::fprintf(stderr, "wrote %s (%dx%d, %zu panels)\n", o.out.c_str(), img.width, img.height, panels.size());
  return 0;
}

Command plot_log_cmd(
    "plot-log", "Draw the curves of mmada train / mmada rl JSONL logs as a PNG (several logs overlaid)",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<Opts>();
      sub.add_option("logs", o->logs, "JSONL logs; NAME=path names a log in the legend")->required();
      sub.add_option("-o,--output", o->out, "PNG to write");
      sub.add_option("--keys", o->keys,
                     "panels: comma-separated keys, '+' joins keys in one panel "
                     "(e.g. loss,loss_t2i+loss_lm+loss_mmu,lr); default every numeric key");
      sub.add_option("--smooth", o->smooth, "trailing moving average over N records (raw values drawn faintly)")
          ->capture_default_str();
      sub.add_option("--columns", o->columns, "panels per row (default up to 3)");
      sub.add_option("--size", o->size, "pixels per panel, WIDTHxHEIGHT (default 440x280)");
      sub.add_option("--title", o->title, "title above the panels");
      sub.add_flag("--no-bands", o->no_bands, "no ±std / min..max bands around *_mean keys");
      sub.add_option("--table", o->table,
                     "print a Markdown table of each key (the first default key without --keys): "
                     "means over N consecutive records per log, and the mean step-to-step change");
      return [o] { return plot_log(*o); };
    });

}  // namespace
}  // namespace mmada::cli
