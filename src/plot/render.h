// Drawing log curves into an RGB image with Cairo: a grid of panels (one per PanelSpec) with
// axes, tick labels, grid lines and legends; several logs overlaid in each panel.
#pragma once
#include <string>
#include <vector>

#include "io/image.h"
#include "plot/log_series.h"

namespace mmada::plot {

struct PlotOptions {
  int smooth = 1;          // trailing moving average over this many records (1: raw only)
  int columns = 0;         // panels per row; 0: up to 3
  int panel_width = 440, panel_height = 280;  // pixels per panel
  bool bands = true;       // ±std and min–max bands where the log has them
  std::string title;       // above the panels (optional)
};

// Throws for options out of range (panel sizes, columns, smoothing).
void check_plot_options(const PlotOptions& opt);

// Throws for options out of range (panel sizes, columns, the image over kMaxImagePixels).
RgbImage render_plot(const std::vector<LogData>& logs, const std::vector<std::string>& labels,
                     const std::vector<PanelSpec>& panels, const PlotOptions& opt);

// "Nice" axis ticks (1, 2 or 5 times a power of ten) covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

}  // namespace mmada::plot
