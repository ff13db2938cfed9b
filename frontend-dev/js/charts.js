// Charts as inline SVG built with DOM calls (no chart library): one bar per day, the
// largest value and the first and last day labelled, each bar titled with its value.

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

// points: [{ label, value }] oldest first; format: how a value reads ("3 views").
export function barChart(points, { title, format = String } = {}) {
  const width = 640;
  const height = 180;
  const top = 18;
  const bottom = 22;
  const plot = height - top - bottom;
  const largest = Math.max(0, ...points.map((p) => p.value));
  const step = width / Math.max(1, points.length);
  const bars = points.map((point, i) => {
    const h = largest > 0 ? (plot * point.value) / largest : 0;
    return svg("rect", {
      class: "bar", x: (i * step + step * 0.15).toFixed(1), y: (top + plot - h).toFixed(1),
      width: (step * 0.7).toFixed(1), height: h.toFixed(1), "data-value": point.value, "data-label": point.label,
    }, svg("title", {}, `${point.label}: ${format(point.value)}`));
  });
  const first = points[0]?.label ?? "";
  const last = points[points.length - 1]?.label ?? "";
  return svg("svg", {
    class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title}: largest ${format(largest)}`,
  },
  svg("line", { class: "axis", x1: 0, y1: top + plot, x2: width, y2: top + plot }),
  ...bars,
  svg("text", { class: "chart-label", x: 0, y: 12 }, `max ${format(largest)}`),
  svg("text", { class: "chart-label", x: 0, y: height - 6 }, first),
  svg("text", { class: "chart-label", x: width, y: height - 6, "text-anchor": "end" }, last));
}
