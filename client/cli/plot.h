// A small hand-written SVG line plot (used by `quiver bench --plot` for
// recall-vs-QPS curves). No dependencies; the output is a standalone SVG 1.1
// document with axes, ticks, grid, axis labels, a title, one polyline with
// point markers and point labels per series, and a legend.
//
//   PlotSeries s{"rerank 0", {{0.52, 9000, "1"}, {0.81, 5200, "4"}}};
//   PlotOptions o;
//   o.title = "recall vs QPS"; o.x_label = "recall@10"; o.y_label = "QPS";
//   std::string svg = RenderSvgPlot({s}, o);
//
// Thread safety: pure functions.
#ifndef QUIVER_CLIENT_CLI_PLOT_H_
#define QUIVER_CLIENT_CLI_PLOT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace quiver::cli {

struct PlotPoint {
  double x = 0;
  double y = 0;
  std::string label;  // drawn next to the marker; may be empty
};

struct PlotSeries {
  std::string name;               // legend entry
  std::vector<PlotPoint> points;  // joined in this order
};

struct PlotOptions {
  std::string title;
  // A note printed under the legend (e.g. what the point labels mean).
  std::string legend_note;
  std::string x_label;
  std::string y_label;
  bool log_y = false;  // logarithmic y axis (all y must be > 0)
  // Fixed x range when x_min < x_max; otherwise from the data.
  double x_min = 0;
  double x_max = 0;
  int width = 860;
  int height = 540;
};

// Renders the plot. Non-finite points (and y <= 0 on a log axis) are
// skipped; with no drawable point the axes show [0, 1].
std::string RenderSvgPlot(const std::vector<PlotSeries>& series,
                          const PlotOptions& options);

// Tick positions for a linear axis over [lo, hi]: "nice" steps (1, 2, 5 x
// 10^k), about `target` of them, all within [lo, hi].
std::vector<double> LinearTicks(double lo, double hi, int target);
// Tick positions for a log axis over [lo, hi] (lo > 0): powers of ten, plus
// 2x and 5x when the range spans fewer than three decades, or every integer
// multiple (1x..9x) under 1.2 decades.
std::vector<double> LogTicks(double lo, double hi);

// Escapes &, <, >, " for SVG text and attributes.
std::string XmlEscape(absl::string_view s);

}  // namespace quiver::cli

#endif  // QUIVER_CLIENT_CLI_PLOT_H_
