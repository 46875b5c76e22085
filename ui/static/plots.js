// SVG plots for comparing runs: parallel coordinates and a scatter plot.

import {svg, fmtNum, palette} from './util.js';

// axis maps the values of one dimension (numbers, or categories when any
// value is not a number) onto [0, 1]. Missing values map to null.
export function axis(label, values) {
  const present = values.filter(v => v != null && v !== '');
  const numeric = present.length > 0 && present.every(v => isFinite(Number(v)));
  if (numeric) {
    const nums = present.map(Number);
    let lo = Math.min(...nums), hi = Math.max(...nums);
    if (lo === hi) { lo -= 1; hi += 1; }
    return {label, numeric, ticks: [lo, hi].map(fmtNum),
      pos: v => (v == null || v === '') ? null : (Number(v) - lo) / (hi - lo)};
  }
  const cats = [...new Set(present.map(String))].sort();
  return {label, numeric, ticks: cats,
    pos: v => (v == null || v === '') ? null : cats.length === 1 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1)};
}

// colorFor maps t in [0, 1] to a blue-to-red scale.
function colorFor(t) {
  if (t == null) return '#999';
  return `hsl(${Math.round(230 - 230 * t)}, 70%, 45%)`;
}

// parallelCoordinates draws one polyline per run across the dimensions
// dims = [{label, values}], coloured by the last dimension; names label
// the runs in each line's tooltip.
export function parallelCoordinates(dims, names) {
  const W = Math.max(480, 150 * dims.length), H = 320, top = 30, bottom = 40, left = 60, right = 60;
  const axes = dims.map(d => axis(d.label, d.values));
  const x = i => left + (dims.length === 1 ? 0 : i * (W - left - right) / (dims.length - 1));
  const y = t => H - bottom - t * (H - top - bottom);
  const root = svg('svg', {class: 'plot parallel', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': `Parallel coordinates of ${names.length} runs over ${dims.map(d => d.label).join(', ')}`});
  const last = axes[axes.length - 1];
  names.forEach((name, r) => {
    const pts = [];
    axes.forEach((a, i) => { const t = a.pos(dims[i].values[r]); if (t != null) pts.push(`${x(i)},${y(t)}`); });
    root.append(svg('polyline', {points: pts.join(' '), fill: 'none', stroke: colorFor(last.pos(dims[dims.length - 1].values[r])),
      'stroke-width': 1.5, 'stroke-opacity': 0.8, 'data-run': name}, svg('title', {}, name)));
  });
  axes.forEach((a, i) => {
    root.append(svg('line', {class: 'axis', x1: x(i), x2: x(i), y1: y(0), y2: y(1)}),
      svg('text', {x: x(i), y: top - 12, 'text-anchor': 'middle'}, a.label));
    const ticks = a.numeric ? [[0, a.ticks[0]], [1, a.ticks[1]]] : a.ticks.map(c => [a.pos(c), c]);
    for (const [t, label] of ticks) root.append(svg('text', {x: x(i) + 4, y: y(t) + 4}, label));
  });
  return root;
}

// scatter draws points (xs[i], ys[i]) labelled names[i].
export function scatter(xLabel, xs, yLabel, ys, names) {
  const W = 520, H = 340, m = {l: 64, r: 16, t: 14, b: 44};
  const ax = axis(xLabel, xs), ay = axis(yLabel, ys);
  // Points keep 4% of the width and height off the axes, so none sits on them.
  const inset = t => 0.04 + 0.92 * t;
  const X = t => m.l + inset(t) * (W - m.l - m.r), Y = t => H - m.b - inset(t) * (H - m.t - m.b);
  const root = svg('svg', {class: 'plot scatter', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': `Scatter of ${yLabel} against ${xLabel} over ${names.length} runs`});
  const x0 = m.l, y0 = H - m.b;
  root.append(svg('line', {class: 'axis', x1: x0, x2: W - m.r, y1: y0, y2: y0}),
    svg('line', {class: 'axis', x1: x0, x2: x0, y1: y0, y2: m.t}),
    svg('text', {x: (X(0) + X(1)) / 2, y: H - 8, 'text-anchor': 'middle'}, xLabel),
    svg('text', {x: 12, y: (Y(0) + Y(1)) / 2, transform: `rotate(-90 12 ${(Y(0) + Y(1)) / 2})`, 'text-anchor': 'middle'}, yLabel));
  const xt = ax.numeric ? [[0, ax.ticks[0]], [1, ax.ticks[1]]] : ax.ticks.map(c => [ax.pos(c), c]);
  for (const [t, l] of xt) root.append(svg('text', {x: X(t), y: y0 + 16, 'text-anchor': 'middle'}, l));
  const yt = ay.numeric ? [[0, ay.ticks[0]], [1, ay.ticks[1]]] : ay.ticks.map(c => [ay.pos(c), c]);
  for (const [t, l] of yt) root.append(svg('text', {x: x0 - 6, y: Y(t) + 4, 'text-anchor': 'end'}, l));
  names.forEach((name, i) => {
    const tx = ax.pos(xs[i]), ty = ay.pos(ys[i]);
    if (tx == null || ty == null) return;
    root.append(svg('circle', {cx: X(tx), cy: Y(ty), r: 4, fill: palette[i % palette.length], 'fill-opacity': 0.8},
      svg('title', {}, `${name}: ${xLabel}=${xs[i]}, ${yLabel}=${fmtNum(Number(ys[i]))}`)));
  });
  return root;
}
