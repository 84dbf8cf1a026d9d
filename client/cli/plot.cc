#include "client/cli/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace quiver::cli {
namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                    "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string TickLabel(double v) {
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e6 && std::fmod(a, 1e5) == 0)
    return absl::StrFormat("%gM", v / 1e6);
  if (a >= 1e4 && std::fmod(a, 100) == 0)
    return absl::StrFormat("%gk", v / 1e3);
  return absl::StrFormat("%g", v);
}

}  // namespace

std::string XmlEscape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::vector<double> LinearTicks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo) || target < 1) return ticks;
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  // Tick i is i * step, computed as i / (1 / step) for fractional steps so
  // that 0.3 comes out as 0.3, not 0.30000000000000004.
  const double inv = step < 1 ? std::round(1 / step) : 0;
  const double eps = 1e-9;
  const int64_t first = static_cast<int64_t>(std::ceil(lo / step - eps));
  const int64_t last = static_cast<int64_t>(std::floor(hi / step + eps));
  for (int64_t i = first; i <= last; ++i) {
    ticks.push_back(inv > 0 ? static_cast<double>(i) / inv
                            : static_cast<double>(i) * step);
  }
  return ticks;
}

std::vector<double> LogTicks(double lo, double hi) {
  std::vector<double> ticks;
  if (!(lo > 0) || !(hi > lo)) return ticks;
  const double decades = std::log10(hi / lo);
  std::vector<double> mults = {1};
  if (decades < 1.2) {
    mults = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  } else if (decades < 3) {
    mults = {1, 2, 5};
  }
  for (int e = static_cast<int>(std::floor(std::log10(lo)));
       e <= static_cast<int>(std::ceil(std::log10(hi))); ++e) {
    const double base = std::pow(10.0, e);
    for (const double m : mults) {
      const double t = m * base;
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push_back(t);
    }
  }
  return ticks;
}

std::string RenderSvgPlot(const std::vector<PlotSeries>& series,
                          const PlotOptions& o) {
  const double left = 90, right = 190, top = 56, bottom = 70;
  const double W = o.width, H = o.height;
  const double px0 = left, px1 = W - right, py0 = top, py1 = H - bottom;

  auto drawable = [&](const PlotPoint& p) {
    return std::isfinite(p.x) && std::isfinite(p.y) && (!o.log_y || p.y > 0);
  };
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin;
  double ymin = xmin, ymax = -xmin;
  for (const PlotSeries& s : series) {
    for (const PlotPoint& p : s.points) {
      if (!drawable(p)) continue;
      xmin = std::min(xmin, p.x);
      xmax = std::max(xmax, p.x);
      ymin = std::min(ymin, p.y);
      ymax = std::max(ymax, p.y);
    }
  }
  const bool empty = !std::isfinite(xmin);
  if (o.x_min < o.x_max) {
    xmin = o.x_min;
    xmax = o.x_max;
  } else if (empty) {
    xmin = 0;
    xmax = 1;
  } else {
    const double pad = xmax > xmin ? 0.05 * (xmax - xmin) : 0.5;
    xmin -= pad;
    xmax += pad;
  }
  if (empty) {
    ymin = o.log_y ? 1 : 0;
    ymax = o.log_y ? 10 : 1;
  } else if (o.log_y) {
    ymin /= 1.3;
    ymax *= 1.3;
  } else {
    const double pad = ymax > ymin ? 0.08 * (ymax - ymin) : 0.5;
    ymin = std::max(0.0, ymin - pad);
    ymax += pad;
  }
  auto sx = [&](double x) {
    return px0 + (x - xmin) / (xmax - xmin) * (px1 - px0);
  };
  auto sy = [&](double y) {
    const double f = o.log_y ? std::log(y / ymin) / std::log(ymax / ymin)
                             : (y - ymin) / (ymax - ymin);
    return py1 - f * (py1 - py0);
  };

  std::string svg = absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      o.width, o.height, o.width, o.height);
  absl::StrAppend(
      &svg, absl::StrFormat("<text x=\"%.1f\" y=\"30\" font-size=\"18\" "
                            "font-weight=\"bold\" text-anchor=\"middle\">%s"
                            "</text>\n",
                            (px0 + px1) / 2, XmlEscape(o.title)));
  // Grid and ticks.
  absl::StrAppend(&svg, "<g font-size=\"12\" fill=\"#333\">\n");
  for (const double t : LinearTicks(xmin, xmax, 8)) {
    const double x = sx(t);
    absl::StrAppend(
        &svg,
        absl::StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                        "stroke=\"#e3e3e3\"/>\n"
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                        "stroke=\"black\"/>\n"
                        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s"
                        "</text>\n",
                        x, py0, x, py1, x, py1, x, py1 + 5, x, py1 + 20,
                        TickLabel(t)));
  }
  const std::vector<double> yt =
      o.log_y ? LogTicks(ymin, ymax) : LinearTicks(ymin, ymax, 6);
  for (const double t : yt) {
    const double y = sy(t);
    absl::StrAppend(
        &svg,
        absl::StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                        "stroke=\"#e3e3e3\"/>\n"
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                        "stroke=\"black\"/>\n"
                        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s"
                        "</text>\n",
                        px0, y, px1, y, px0 - 5, y, px0, y, px0 - 8, y + 4,
                        TickLabel(t)));
  }
  absl::StrAppend(&svg, "</g>\n");
  // Axes and their labels.
  absl::StrAppend(
      &svg, absl::StrFormat(
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                "fill=\"none\" stroke=\"black\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" "
                "text-anchor=\"middle\">%s</text>\n"
                "<text x=\"0\" y=\"0\" font-size=\"14\" text-anchor=\"middle\" "
                "transform=\"translate(%.1f %.1f) rotate(-90)\">%s</text>\n",
                px0, py0, px1 - px0, py1 - py0, (px0 + px1) / 2, H - 22,
                XmlEscape(o.x_label), 24.0, (py0 + py1) / 2,
                XmlEscape(o.y_label + (o.log_y ? " (log scale)" : ""))));
  // Series.
  for (size_t i = 0; i < series.size(); ++i) {
    const char* color = kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))];
    std::string points;
    std::string marks;
    for (const PlotPoint& p : series[i].points) {
      if (!drawable(p)) continue;
      const double x = sx(p.x), y = sy(p.y);
      absl::StrAppend(&points, points.empty() ? "" : " ",
                      absl::StrFormat("%.1f,%.1f", x, y));
      absl::StrAppend(&marks,
                      absl::StrFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" "
                                      "fill=\"%s\"/>\n",
                                      x, y, color));
      if (!p.label.empty()) {
        absl::StrAppend(
            &marks, absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\" "
                                    "font-size=\"11\" fill=\"%s\">%s</text>\n",
                                    x + 6, y - 7, color, XmlEscape(p.label)));
      }
    }
    absl::StrAppend(&svg, "<g class=\"series\">\n");
    if (!points.empty()) {
      absl::StrAppend(&svg,
                      absl::StrFormat("<polyline points=\"%s\" fill=\"none\" "
                                      "stroke=\"%s\" stroke-width=\"2\"/>\n",
                                      points, color));
    }
    absl::StrAppend(&svg, marks, "</g>\n");
    // Legend entry.
    const double ly = py0 + 10 + 22 * static_cast<double>(i);
    absl::StrAppend(
        &svg, absl::StrFormat(
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                  "stroke=\"%s\" stroke-width=\"2\"/>\n"
                  "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n"
                  "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text>\n",
                  px1 + 14, ly, px1 + 40, ly, color, px1 + 27, ly, color,
                  px1 + 48, ly + 4, XmlEscape(series[i].name)));
  }
  if (!o.legend_note.empty()) {
    absl::StrAppend(
        &svg, absl::StrFormat(
                  "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" "
                  "fill=\"#555\">%s</text>\n",
                  px1 + 14, py0 + 14 + 22 * static_cast<double>(series.size()),
                  XmlEscape(o.legend_note)));
  }
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

}  // namespace quiver::cli
