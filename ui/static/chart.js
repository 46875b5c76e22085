// A small canvas line chart: several series, log scale, EMA smoothing,
// drag-to-zoom (handed to the page, which fetches that range again from
// the server at full resolution) and a hover read-out.

import {h, fmtNum} from './util.js';

const PAD = {left: 60, right: 14, top: 10, bottom: 30};

// niceTicks returns about n round values covering [lo, hi].
export function niceTicks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

// smooth returns the debiased exponential moving average of ys with
// weight w in [0, 1), as TensorBoard draws it.
export function smooth(ys, w) {
  if (!w) return ys;
  const out = new Array(ys.length);
  let acc = 0, n = 0;
  for (let i = 0; i < ys.length; i++) {
    acc = acc * w + (1 - w) * ys[i];
    n++;
    out[i] = acc / (1 - Math.pow(w, n));
  }
  return out;
}

// LineChart draws series [{name, color, x, y}] into a <figure>.
export class LineChart {
  // title names the chart; onZoom(lo, hi) is called with the x range the
  // user dragged over, and onZoom(null) when the zoom is reset.
  constructor(title, {onZoom, xLabel = 'step', xFormat = fmtNum} = {}) {
    this.title = title;
    this.onZoom = onZoom;
    this.xLabel = xLabel;
    this.xFormat = xFormat;
    this.series = [];
    this.log = false;
    this.smoothing = 0;
    this.readout = h('output', {class: 'muted', 'aria-live': 'off'});
    this.info = h('span', {class: 'muted'});
    this.canvas = h('canvas', {role: 'img', 'aria-label': title, width: 460, height: 260, tabindex: 0});
    this.reset = h('button', {type: 'button', hidden: true, onclick: () => this.zoom(null)}, 'Reset zoom');
    this.legend = h('div', {class: 'legend'});
    this.el = h('figure', {class: 'chart'},
      h('figcaption', {}, h('span', {}, title), this.readout, this.info, this.reset), this.canvas, this.legend);
    this.listen();
  }

  set(series) {
    this.series = series;
    this.legend.replaceChildren(...(series.length > 1 ? series.map(s => {
      const el = h('span', {}, s.name);
      el.style.setProperty('--c', s.color); // through the CSSOM: the page's CSP forbids inline style attributes
      return el;
    }) : []));
    this.draw();
  }

  options({log, smoothing, xLabel, xFormat}) {
    if (log != null) this.log = log;
    if (smoothing != null) this.smoothing = smoothing;
    if (xLabel) this.xLabel = xLabel;
    if (xFormat) this.xFormat = xFormat;
    this.draw();
  }

  zoom(range) {
    this.reset.hidden = !range;
    if (this.onZoom) this.onZoom(range ? range[0] : null, range ? range[1] : null);
  }

  // layout sizes the canvas to its CSS box and returns the plot area.
  layout() {
    const c = this.canvas, r = window.devicePixelRatio || 1;
    const w = Math.max(200, c.clientWidth || 460), hgt = Math.max(120, c.clientHeight || 260);
    if (c.width !== Math.round(w * r)) c.width = Math.round(w * r);
    if (c.height !== Math.round(hgt * r)) c.height = Math.round(hgt * r);
    const ctx = c.getContext('2d');
    ctx.setTransform(r, 0, 0, r, 0, 0);
    return {ctx, w, h: hgt, x0: PAD.left, x1: w - PAD.right, y0: PAD.top, y1: hgt - PAD.bottom};
  }

  // visible returns each series' drawable points: smoothed, and positive
  // only on a log scale.
  visible() {
    return this.series.map(s => {
      const ys = smooth(s.y, this.smoothing), xs = [], raw = [], sm = [];
      for (let i = 0; i < s.x.length; i++) {
        if (this.log && (s.y[i] <= 0 || ys[i] <= 0)) continue;
        xs.push(s.x[i]); raw.push(s.y[i]); sm.push(ys[i]);
      }
      return {color: s.color, xs, raw, sm};
    });
  }

  draw() {
    const L = this.layout(), {ctx} = L;
    ctx.clearRect(0, 0, L.w, L.h);
    const vis = this.visible();
    let xlo = Infinity, xhi = -Infinity, ylo = Infinity, yhi = -Infinity, n = 0;
    for (const s of vis) {
      for (let i = 0; i < s.xs.length; i++) {
        xlo = Math.min(xlo, s.xs[i]); xhi = Math.max(xhi, s.xs[i]);
        ylo = Math.min(ylo, s.raw[i], s.sm[i]); yhi = Math.max(yhi, s.raw[i], s.sm[i]);
      }
      n += s.xs.length;
    }
    this.canvas.dataset.points = n;
    if (!n) {
      ctx.fillStyle = '#5b6672';
      ctx.fillText(this.log ? 'no positive values for a log scale' : 'no points', L.x0 + 10, L.y0 + 20);
      this.canvas.setAttribute('aria-label', `${this.title}: no points`);
      return;
    }
    if (xhi === xlo) { xlo -= 1; xhi += 1; }
    const fy = this.log ? Math.log10 : v => v;
    let flo = fy(ylo), fhi = fy(yhi);
    if (fhi === flo) { flo -= 1; fhi += 1; }
    const pad = (fhi - flo) * 0.04;
    flo -= pad; fhi += pad;
    const X = v => L.x0 + (v - xlo) / (xhi - xlo) * (L.x1 - L.x0);
    const Y = v => L.y1 - (fy(v) - flo) / (fhi - flo) * (L.y1 - L.y0);
    this.scale = {X, xlo, xhi, L};
    this.axes(ctx, L, xlo, xhi, flo, fhi, X);
    ctx.save();
    ctx.beginPath(); ctx.rect(L.x0, L.y0, L.x1 - L.x0, L.y1 - L.y0); ctx.clip();
    for (const s of vis) {
      if (this.smoothing) this.line(ctx, s.xs, s.raw, X, Y, s.color, 0.25);
      this.line(ctx, s.xs, this.smoothing ? s.sm : s.raw, X, Y, s.color, 1);
    }
    ctx.restore();
    this.canvas.setAttribute('aria-label', `${this.title}: line chart of ${n} points, ${this.xLabel} ${this.xFormat(xlo)} to ${this.xFormat(xhi)}, values ${fmtNum(ylo)} to ${fmtNum(yhi)}`);
  }

  line(ctx, xs, ys, X, Y, color, alpha) {
    ctx.globalAlpha = alpha;
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    for (let i = 0; i < xs.length; i++) {
      if (i) ctx.lineTo(X(xs[i]), Y(ys[i])); else ctx.moveTo(X(xs[i]), Y(ys[i]));
    }
    if (xs.length === 1) ctx.arc(X(xs[0]), Y(ys[0]), 2, 0, 2 * Math.PI);
    ctx.stroke();
    ctx.globalAlpha = 1;
  }

  axes(ctx, L, xlo, xhi, flo, fhi, X) {
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = '#e3e7eb';
    ctx.fillStyle = '#3b444d';
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    // On a log scale ticks sit on powers of ten when the range spans two.
    const decades = niceTicks(flo, fhi, 5).filter(Number.isInteger);
    for (const t of this.log && decades.length >= 2 ? decades : niceTicks(flo, fhi, 5)) {
      const y = L.y1 - (t - flo) / (fhi - flo) * (L.y1 - L.y0);
      ctx.beginPath(); ctx.moveTo(L.x0, y); ctx.lineTo(L.x1, y); ctx.stroke();
      ctx.fillText(fmtNum(this.log ? Math.pow(10, t) : t), L.x0 - 4, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const t of niceTicks(xlo, xhi, Math.max(2, Math.floor((L.x1 - L.x0) / 90)))) {
      const x = X(t);
      ctx.beginPath(); ctx.moveTo(x, L.y0); ctx.lineTo(x, L.y1); ctx.stroke();
      ctx.fillText(this.xFormat(t), x, L.y1 + 4);
    }
    ctx.strokeStyle = '#8a949e';
    ctx.strokeRect(L.x0, L.y0, L.x1 - L.x0, L.y1 - L.y0);
  }

  // dataX converts a mouse event to an x value of the plot.
  dataX(e) {
    const {xlo, xhi, L} = this.scale, r = this.canvas.getBoundingClientRect();
    const px = Math.min(L.x1, Math.max(L.x0, e.clientX - r.left));
    return {px, v: xlo + (px - L.x0) / (L.x1 - L.x0) * (xhi - xlo)};
  }

  listen() {
    let start = null;
    const c = this.canvas;
    c.addEventListener('mousedown', e => { if (this.scale) start = this.dataX(e); });
    c.addEventListener('mousemove', e => {
      if (!this.scale) return;
      const at = this.dataX(e);
      if (start) {
        this.draw();
        const {L} = this.scale, ctx = L.ctx;
        ctx.fillStyle = 'rgba(11,92,173,0.15)';
        ctx.fillRect(Math.min(start.px, at.px), L.y0, Math.abs(at.px - start.px), L.y1 - L.y0);
      }
      this.readout.value = this.nearest(at.v);
    });
    c.addEventListener('mouseup', e => {
      if (!start) return;
      const end = this.dataX(e), s = start;
      start = null;
      if (Math.abs(end.px - s.px) > 4) this.zoom([Math.min(s.v, end.v), Math.max(s.v, end.v)]);
      else this.draw();
    });
    c.addEventListener('mouseleave', () => { if (start) { start = null; this.draw(); } });
    c.addEventListener('dblclick', () => this.zoom(null));
    c.addEventListener('keydown', e => this.key(e));
  }

  // key zooms from the keyboard: + and - halve and double the x range,
  // the arrows pan by a quarter of it, 0 resets.
  key(e) {
    if (!this.scale) return;
    const {xlo, xhi} = this.scale, w = xhi - xlo;
    const ranges = {'+': [xlo + w / 4, xhi - w / 4], '=': [xlo + w / 4, xhi - w / 4], '-': [xlo - w / 2, xhi + w / 2],
      ArrowLeft: [xlo - w / 4, xhi - w / 4], ArrowRight: [xlo + w / 4, xhi + w / 4], '0': null};
    if (!(e.key in ranges)) return;
    e.preventDefault();
    this.zoom(ranges[e.key]);
  }

  // nearest describes the point of the first series closest to x.
  nearest(x) {
    const s = this.series[0];
    if (!s || !s.x.length) return '';
    let lo = 0, hi = s.x.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s.x[mid] < x) lo = mid + 1; else hi = mid;
    }
    if (lo > 0 && Math.abs(s.x[lo - 1] - x) < Math.abs(s.x[lo] - x)) lo--;
    return `${this.xLabel} ${this.xFormat(s.x[lo])}: ${fmtNum(s.y[lo])}`;
  }
}
