// Draws the run's curves from /api/curves as SVG lines and redraws every few seconds while training goes on.
"use strict";
const svg = "http://www.w3.org/2000/svg";

function draw(chart, series) {
  const w = 800, h = 300, left = 60, bottom = 30, top = 10, right = 10;
  chart.replaceChildren();
  const points = series.flatMap(s => s.points);
  if (points.length === 0) return;
  const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-9);
  const sx = x => left + (x - x0) / (x1 - x0) * (w - left - right);
  const sy = y => h - bottom - (y - y0) / (y1 - y0) * (h - bottom - top);
  for (const [value, y] of [[y0, sy(y0)], [y1, sy(y1)]]) {
    const label = document.createElementNS(svg, "text");
    label.setAttribute("x", 4); label.setAttribute("y", y + 4); label.setAttribute("font-size", 11);
    label.textContent = value.toPrecision(4);
    chart.append(label);
  }
  for (const [value, x, anchor] of [[x0, sx(x0), "start"], [x1, sx(x1), "end"]]) {
    const label = document.createElementNS(svg, "text");
    label.setAttribute("x", x); label.setAttribute("y", h - 8); label.setAttribute("font-size", 11); label.setAttribute("text-anchor", anchor);
    label.textContent = "step " + value;
    chart.append(label);
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    const line = document.createElementNS(svg, "polyline");
    line.setAttribute("points", s.points.map(p => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" "));
    line.setAttribute("fill", "none"); line.setAttribute("stroke", s.color); line.setAttribute("stroke-width", 2);
    line.dataset.series = s.name;
    line.dataset.count = s.points.length;
    chart.append(line);
    for (const p of s.points) {
      const dot = document.createElementNS(svg, "circle");
      dot.setAttribute("cx", sx(p[0]).toFixed(1)); dot.setAttribute("cy", sy(p[1]).toFixed(1)); dot.setAttribute("r", 3);
      dot.setAttribute("fill", s.color);
      chart.append(dot);
    }
  }
}

async function refresh() {
  const status = document.getElementById("curves-status");
  try {
    const c = await (await fetch("/api/curves")).json();
    status.textContent = c.source ? `${c.source}: ${c.loss.length} logged steps, ${c.val_loss.length} validations (refreshes every 5 s).`
      : "This checkpoint's run folder has no metrics.jsonl.";
    draw(document.getElementById("loss-chart"), [
      { name: "loss", color: "#1d3557", points: c.loss },
      { name: "val_loss", color: "#e63946", points: c.val_loss }]);
    draw(document.getElementById("scale-chart"), [{ name: "logit_scale", color: "#2a9d8f", points: c.logit_scale }]);
  } catch (e) { status.textContent = "The server did not answer: " + e.message; }
}
refresh();
setInterval(refresh, 5000);
