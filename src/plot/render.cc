#include "plot/render.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include "core/error.h"

namespace mmada::plot {

namespace {

struct Rgb {
  double r, g, b;
};
// Matplotlib's "tab10": distinct, and readable on white.
constexpr Rgb kPalette[] = {{0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173},
                            {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294},
                            {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}, {0.737, 0.741, 0.133},
                            {0.090, 0.745, 0.812}};
constexpr int kPaletteSize = int(sizeof kPalette / sizeof kPalette[0]);
// Dash patterns tell the keys of one panel apart when colours tell the logs apart.
const std::vector<std::vector<double>> kDashes = {{}, {6, 3}, {2, 2}, {8, 3, 2, 3}, {1, 3}};

// Panel margins (pixels): room for the title above, y tick labels left, x ticks below.
constexpr double kPadLeft = 66, kPadRight = 16, kPadTop = 30, kPadBottom = 40;
constexpr double kTitleSize = 13, kTickSize = 10.5, kLegendSize = 11;

using CairoPtr = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;
using SurfacePtr = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;

void set_colour(cairo_t* cr, const Rgb& c, double alpha = 1.0) { cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha); }

void font(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

double text_width(cairo_t* cr, const std::string& s) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

// Text with its anchor at (x, y): align 0 left, 0.5 centre, 1 right; y is the baseline.
void text(cairo_t* cr, double x, double y, const std::string& s, double align = 0) {
  cairo_move_to(cr, x - align * text_width(cr, s), y);
  cairo_show_text(cr, s.c_str());
}

std::string tick_label(double v, double step) {
  if (std::fabs(v) < step * 1e-6) v = 0;  // -0.0000 from accumulated rounding
  const int k = int(std::floor(std::log10(step) + 1e-9));
  char buf[64];
  if (k < -4 || std::max(std::fabs(v), step) >= 1e7)
    std::snprintf(buf, sizeof buf, "%.3g", v);
  else
    std::snprintf(buf, sizeof buf, "%.*f", std::max(0, -k), v);
  return buf;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
  // A flat series still gets a visible axis; otherwise 5 % headroom on each side.
  void pad() {
    if (empty()) return;
    const double span = hi - lo;
    const double d = span > 0 ? 0.05 * span : (lo != 0 ? 0.1 * std::fabs(lo) : 1.0);
    lo -= d;
    hi += d;
  }
};

// One drawn curve of a panel: a log's key, smoothed, with its optional band.
struct Curve {
  int log = 0, key = 0;
  const std::vector<double>* x = nullptr;
  std::vector<double> raw, smooth, band_lo, band_hi;
};

struct Frame {
  double x0, y0, w, h;  // plot area
  Range xr, yr;
  double px(double x) const { return x0 + (x - xr.lo) / (xr.hi - xr.lo) * w; }
  double py(double y) const { return y0 + h - (y - yr.lo) / (yr.hi - yr.lo) * h; }
};

// Polyline through the finite points, broken at gaps; a lone point becomes a dot.
void stroke_series(cairo_t* cr, const Frame& f, const std::vector<double>& x, const std::vector<double>& y,
                   double width) {
  size_t i = 0;
  while (i < y.size()) {
    while (i < y.size() && !std::isfinite(y[i])) ++i;
    const size_t start = i;
    while (i < y.size() && std::isfinite(y[i])) ++i;
    if (i == start) break;
    if (i - start == 1) {
      cairo_new_path(cr);
      cairo_arc(cr, f.px(x[start]), f.py(y[start]), width + 1, 0, 2 * M_PI);
      cairo_fill(cr);
      continue;
    }
    cairo_new_path(cr);
    cairo_move_to(cr, f.px(x[start]), f.py(y[start]));
    for (size_t j = start + 1; j < i; ++j) cairo_line_to(cr, f.px(x[j]), f.py(y[j]));
    cairo_set_line_width(cr, width);
    cairo_stroke(cr);
  }
}

// The area between lo and hi over each run of records where both are finite.
void fill_band(cairo_t* cr, const Frame& f, const std::vector<double>& x, const std::vector<double>& lo,
               const std::vector<double>& hi) {
  size_t i = 0;
  auto ok = [&](size_t j) { return std::isfinite(lo[j]) && std::isfinite(hi[j]); };
  while (i < x.size()) {
    while (i < x.size() && !ok(i)) ++i;
    const size_t start = i;
    while (i < x.size() && ok(i)) ++i;
    if (i - start < 2) continue;
    cairo_new_path(cr);
    cairo_move_to(cr, f.px(x[start]), f.py(hi[start]));
    for (size_t j = start + 1; j < i; ++j) cairo_line_to(cr, f.px(x[j]), f.py(hi[j]));
    for (size_t j = i; j-- > start;) cairo_line_to(cr, f.px(x[j]), f.py(lo[j]));
    cairo_close_path(cr);
    cairo_fill(cr);
  }
}

std::string panel_title(const PanelSpec& p, const std::vector<LogData>& logs, bool bands) {
  std::string t;
  for (const std::string& k : p.keys) t += (t.empty() ? "" : " + ") + k;
  if (bands && p.keys.size() == 1) {
    for (const LogData& l : logs) {
      const Band b = band_for(l, p.keys[0]);
      if (!b.present() || !l.has(p.keys[0])) continue;
      t += b.is_std ? "  (band: \xC2\xB1" + b.lo_key + ")" : "  (band: " + b.lo_key + " .. " + b.hi_key + ")";
      break;
    }
  }
  return t;
}

void draw_panel(cairo_t* cr, double px0, double py0, const PlotOptions& opt, const PanelSpec& spec,
                const std::vector<LogData>& logs) {
  const bool many_logs = logs.size() > 1;
  Frame f{px0 + kPadLeft, py0 + kPadTop, opt.panel_width - kPadLeft - kPadRight,
          opt.panel_height - kPadTop - kPadBottom, {}, {}};

  std::vector<Curve> curves;
  for (size_t li = 0; li < logs.size(); ++li)
    for (size_t ki = 0; ki < spec.keys.size(); ++ki) {
      const LogData& l = logs[li];
      if (!l.has(spec.keys[ki])) continue;
      Curve c;
      c.log = int(li);
      c.key = int(ki);
      c.x = &l.step;
      c.raw = l.at(spec.keys[ki]);
      c.smooth = moving_average(c.raw, opt.smooth);
      const Band b = opt.bands ? band_for(l, spec.keys[ki]) : Band{};
      if (b.present()) {
        const std::vector<double> lo = moving_average(l.at(b.lo_key), opt.smooth);
        const std::vector<double> hi = moving_average(l.at(b.hi_key), opt.smooth);
        for (size_t i = 0; i < c.smooth.size(); ++i) {
          c.band_lo.push_back(b.is_std ? c.smooth[i] - lo[i] : lo[i]);
          c.band_hi.push_back(b.is_std ? c.smooth[i] + hi[i] : hi[i]);
        }
      }
      for (size_t i = 0; i < c.raw.size(); ++i) {
        if (!std::isfinite(c.raw[i])) continue;
        f.xr.add((*c.x)[i]);
        f.yr.add(c.raw[i]);
        if (!c.band_lo.empty()) {
          f.yr.add(c.band_lo[i]);
          f.yr.add(c.band_hi[i]);
        }
      }
      curves.push_back(std::move(c));
    }

  // Title.
  // Title, in a smaller font if a long key name would not fit the panel.
  const std::string title = panel_title(spec, logs, opt.bands);
  font(cr, kTitleSize, true);
  const double room = opt.panel_width - 20, tw = text_width(cr, title);
  if (tw > room) font(cr, std::max(7.0, kTitleSize * room / tw), true);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  text(cr, px0 + 10, py0 + kPadTop - 10, title);
  // Frame.
  cairo_set_line_width(cr, 1);
  cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
  cairo_rectangle(cr, std::floor(f.x0) + 0.5, std::floor(f.y0) + 0.5, std::floor(f.w), std::floor(f.h));
  cairo_stroke(cr);
  if (f.yr.empty() || !std::isfinite(f.yr.hi - f.yr.lo) || !std::isfinite(f.xr.hi - f.xr.lo)) {
    font(cr, kLegendSize);
    text(cr, f.x0 + f.w / 2, f.y0 + f.h / 2, f.yr.empty() ? "no finite values" : "values too large to draw", 0.5);
    return;
  }
  if (f.xr.hi == f.xr.lo) {
    f.xr.lo -= 1;
    f.xr.hi += 1;
  }
  f.yr.pad();

  // Grid and tick labels.
  font(cr, kTickSize);
  const std::vector<double> yt = nice_ticks(f.yr.lo, f.yr.hi, std::max(2, int(f.h / 45)));
  const std::vector<double> xt = nice_ticks(f.xr.lo, f.xr.hi, std::max(2, int(f.w / 90)));
  for (size_t i = 0; i < yt.size(); ++i) {
    const double y = std::floor(f.py(yt[i])) + 0.5;
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, f.x0 + 1, y);
    cairo_line_to(cr, f.x0 + f.w, y);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    text(cr, f.x0 - 5, y + kTickSize * 0.35, tick_label(yt[i], yt.size() > 1 ? yt[1] - yt[0] : 1), 1);
  }
  for (size_t i = 0; i < xt.size(); ++i) {
    const double x = std::floor(f.px(xt[i])) + 0.5;
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, x, f.y0 + 1);
    cairo_line_to(cr, x, f.y0 + f.h);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    text(cr, x, f.y0 + f.h + kTickSize + 5, tick_label(xt[i], xt.size() > 1 ? xt[1] - xt[0] : 1), 0.5);
  }
  text(cr, f.x0 + f.w, f.y0 + f.h + 2 * kTickSize + 12, "step", 1);

  // Curves, clipped to the plot area: bands, then faint raw values under the smoothed line.
  cairo_save(cr);
  cairo_rectangle(cr, f.x0, f.y0, f.w, f.h);
  cairo_clip(cr);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  auto colour = [&](const Curve& c) { return kPalette[(many_logs ? c.log : c.key) % kPaletteSize]; };
  for (const Curve& c : curves)
    if (!c.band_lo.empty()) {
      set_colour(cr, colour(c), many_logs ? 0.08 : 0.15);  // overlapping bands stay readable
      fill_band(cr, f, *c.x, c.band_lo, c.band_hi);
    }
  for (const Curve& c : curves) {
    const std::vector<double>& dash = kDashes[size_t(many_logs ? c.key : 0) % kDashes.size()];
    cairo_set_dash(cr, dash.data(), int(dash.size()), 0);
    if (opt.smooth > 1) {
      set_colour(cr, colour(c), 0.25);
      stroke_series(cr, f, *c.x, c.raw, 1.0);
    }
    set_colour(cr, colour(c));
    stroke_series(cr, f, *c.x, c.smooth, 1.6);
  }
  cairo_set_dash(cr, nullptr, 0, 0);
  cairo_restore(cr);

  // Legend of the keys when a panel has several (the logs have the figure's legend).
  if (spec.keys.size() > 1) {
    font(cr, kLegendSize);
    double wmax = 0;
    for (const std::string& k : spec.keys) wmax = std::max(wmax, text_width(cr, k));
    const double line_h = kLegendSize + 5, bw = wmax + 40, bh = line_h * double(spec.keys.size()) + 6;
    const double bx = f.x0 + f.w - bw - 6, by = f.y0 + 6;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_fill(cr);
    for (size_t k = 0; k < spec.keys.size(); ++k) {
      const double y = by + 4 + line_h * (double(k) + 0.5);
      if (many_logs) cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
      else set_colour(cr, kPalette[k % kPaletteSize]);
      const std::vector<double>& dash = kDashes[(many_logs ? k : 0) % kDashes.size()];
      cairo_set_dash(cr, dash.data(), int(dash.size()), 0);
      cairo_set_line_width(cr, 2);
      cairo_move_to(cr, bx + 6, y);
      cairo_line_to(cr, bx + 30, y);
      cairo_stroke(cr);
      cairo_set_dash(cr, nullptr, 0, 0);
      cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
      text(cr, bx + 34, y + kLegendSize * 0.35, spec.keys[k]);
    }
  }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  // Multiples of the step (k·step, not accumulated sums, so 0.3 prints as 0.3). A range tiny
  // against its magnitude (1e16 .. 1e16 + 4) cannot be counted in steps: no ticks then.
  const double first = std::ceil(lo / step), last = std::floor(hi / step + 1e-9);
  if (!std::isfinite(first) || !std::isfinite(last) || last - first > 1000) return ticks;
  for (int i = 0; first + i <= last; ++i)
    if (ticks.empty() || (first + i) * step > ticks.back()) ticks.push_back((first + i) * step);
  return ticks;
}

void check_plot_options(const PlotOptions& opt) {
  MMADA_CHECK(opt.panel_width >= 200 && opt.panel_width <= 4000 && opt.panel_height >= 150 &&
                  opt.panel_height <= 4000,
              "panel size ", opt.panel_width, "x", opt.panel_height,
              " is out of range (200..4000 x 150..4000 pixels)");
  MMADA_CHECK(opt.columns >= 0 && opt.columns <= 64, "--columns ", opt.columns, " is out of range (1..64)");
  MMADA_CHECK(opt.smooth >= 1, "--smooth ", opt.smooth, " must be at least 1 (records per moving average)");
}

RgbImage render_plot(const std::vector<LogData>& logs, const std::vector<std::string>& labels,
                     const std::vector<PanelSpec>& panels, const PlotOptions& opt) {
  MMADA_CHECK(!logs.empty() && labels.size() == logs.size(), "plot: no logs to draw");
  MMADA_CHECK(!panels.empty(), "plot: no panels to draw");
  check_plot_options(opt);
  const int cols = opt.columns > 0 ? std::min<int>(opt.columns, int(panels.size()))
                                   : std::min<int>(3, int(panels.size()));
  const int rows = int((panels.size() + size_t(cols) - 1) / size_t(cols));
  const int width = cols * opt.panel_width;

  // The header: title, then the logs' colours, wrapped to the width. Measured on a scratch
  // surface since the final height depends on it.
  struct Entry {
    double x, y;
    size_t log;
  };
  std::vector<Entry> legend;
  double header = 8;
  {
    SurfacePtr scratch(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1), cairo_surface_destroy);
    CairoPtr cr(cairo_create(scratch.get()), cairo_destroy);
    double y = 0;
    if (!opt.title.empty()) y += kTitleSize + 14;
    if (logs.size() > 1) {
      font(cr.get(), kLegendSize);
      double x = 12;
      y += kLegendSize + 10;
      for (size_t i = 0; i < logs.size(); ++i) {
        const double w = 30 + text_width(cr.get(), labels[i]) + 18;
        if (x + w > width - 12 && x > 12) {
          x = 12;
          y += kLegendSize + 8;
        }
        legend.push_back({x, y, i});
        x += w;
      }
    }
    header = std::max(header, y + 8);
  }
  const int height = int(header) + rows * opt.panel_height;
  MMADA_CHECK(int64_t(width) * height <= kMaxImagePixels, "the plot would be ", width, "x", height,
              " pixels: too large (choose fewer keys or a smaller --size)");

  SurfacePtr surface(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height), cairo_surface_destroy);
  MMADA_CHECK(cairo_surface_status(surface.get()) == CAIRO_STATUS_SUCCESS, "cairo: ",
              cairo_status_to_string(cairo_surface_status(surface.get())));
  CairoPtr cr(cairo_create(surface.get()), cairo_destroy);
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  if (!opt.title.empty()) {
    cairo_set_source_rgb(cr.get(), 0, 0, 0);
    font(cr.get(), kTitleSize + 1, true);
    text(cr.get(), 12, kTitleSize + 8, opt.title);
  }
  font(cr.get(), kLegendSize);
  for (const Entry& e : legend) {
    set_colour(cr.get(), kPalette[e.log % kPaletteSize]);
    cairo_set_line_width(cr.get(), 3);
    cairo_move_to(cr.get(), e.x, e.y - kLegendSize * 0.35);
    cairo_line_to(cr.get(), e.x + 24, e.y - kLegendSize * 0.35);
    cairo_stroke(cr.get());
    cairo_set_source_rgb(cr.get(), 0.1, 0.1, 0.1);
    text(cr.get(), e.x + 30, e.y, labels[e.log]);
  }
  for (size_t p = 0; p < panels.size(); ++p)
    draw_panel(cr.get(), double(int(p) % cols * opt.panel_width),
               header + double(int(p) / cols * opt.panel_height), opt, panels[p], logs);
  MMADA_CHECK(cairo_status(cr.get()) == CAIRO_STATUS_SUCCESS, "cairo: ",
              cairo_status_to_string(cairo_status(cr.get())));

  // Cairo's ARGB32 is premultiplied native-endian words; the background is opaque, so the
  // colour bytes are the pixel.
  cairo_surface_flush(surface.get());
  const unsigned char* data = cairo_image_surface_get_data(surface.get());
  const int stride = cairo_image_surface_get_stride(surface.get());
  RgbImage img(width, height);
  for (int y = 0; y < height; ++y) {
    uint8_t* out = img.row(y);
    for (int x = 0; x < width; ++x) {
      uint32_t px;
      std::memcpy(&px, data + size_t(y) * size_t(stride) + size_t(x) * 4, 4);
      out[3 * x] = uint8_t(px >> 16);
      out[3 * x + 1] = uint8_t(px >> 8);
      out[3 * x + 2] = uint8_t(px);
    }
  }
  return img;
}

}  // namespace mmada::plot
