// The run page: facts, metric charts, params, tags, artifacts and logs.

import {api, h, getJSON, query, HISTORY, artifactURL, byKey, fmtTime, fmtDuration, fmtNum, table, palette} from './util.js';
import {LineChart} from './chart.js';
import {PARENT, isStudy, studySection} from './study.js';

// fetchHistory reads a server-downsampled metric history; axis is
// 'step' or 'time' and range an optional [lo, hi] on that axis.
export function fetchHistory(runID, key, axis, range, points) {
  return getJSON(HISTORY + '?' + query({run_id: runID, metric_key: key, x_axis: axis, max_points: points,
    min_x: range ? range[0] : null, max_x: range ? range[1] : null}));
}

// xAxes are the x axes a chart can use: the server axis each reads, how
// a server x becomes a display value (t0 is the run's start) and back.
export const xAxes = {
  step: {label: 'step', server: 'step', show: x => x, back: v => v, format: fmtNum},
  relative: {label: 'seconds', server: 'time', show: (x, t0) => (x - t0) / 1000, back: (v, t0) => t0 + v * 1000, format: fmtNum},
  wall: {label: 'time', server: 'time', show: x => x, back: v => v, format: v => fmtTime(v).slice(11)},
};

// chartControls returns the shared controls of a page's charts and calls
// change({axis, log, smoothing}) when one changes.
export function chartControls(change) {
  const st = {axis: 'step', log: false, smoothing: 0};
  const sel = h('select', {'aria-label': 'X axis', onchange: e => { st.axis = e.target.value; change(st, 'axis'); }},
    Object.keys(xAxes).map(k => h('option', {value: k}, {step: 'Step', relative: 'Relative time', wall: 'Wall time'}[k])));
  const log = h('input', {type: 'checkbox', onchange: e => { st.log = e.target.checked; change(st); }});
  const out = h('output', {}, '0');
  const sm = h('input', {type: 'range', min: 0, max: 0.99, step: 0.01, value: 0, 'aria-label': 'Smoothing',
    oninput: e => { st.smoothing = Number(e.target.value); out.value = e.target.value; change(st); }});
  return {st, el: h('div', {class: 'toolbar'}, h('label', {}, 'X axis ', sel), h('label', {}, log, ' Log scale'),
    h('label', {}, 'Smoothing ', sm), out, h('span', {class: 'muted'}, 'Drag over a chart to zoom, double-click to reset; or focus a chart and press + − ← → 0.'))};
}

// MetricChart is one chart of one metric over one or more runs; it
// refetches from the server when the axis or zoom changes.
export class MetricChart {
  constructor(key, runs, controls) {
    this.key = key;
    this.runs = runs; // [{id, name, start}]
    this.controls = controls;
    this.view = null; // zoomed [lo, hi] in display units, or null
    this.chart = new LineChart(key, {onZoom: (lo, hi) => this.zoom(lo, hi)});
    this.el = this.chart.el;
  }

  zoom(lo, hi) {
    this.view = lo == null ? null : [lo, hi];
    return this.load();
  }

  async load() {
    const c = this.controls, ax = xAxes[c.axis];
    const width = Math.max(400, Math.round((this.chart.canvas.clientWidth || 460) * (window.devicePixelRatio || 1)));
    const range = r => this.view && this.view.map(v => ax.back(v, r.start));
    const hs = await Promise.all(this.runs.map(r => fetchHistory(r.id, this.key, ax.server, range(r), Math.min(2 * width, 4000))));
    this.chart.options({log: c.log, smoothing: c.smoothing, xLabel: ax.label, xFormat: ax.format});
    this.chart.set(hs.map((d, i) => ({name: this.runs[i].name, color: palette[i % palette.length],
      x: d.x.map(x => ax.show(x, this.runs[i].start)), y: d.y})));
    const sum = f => hs.reduce((n, d) => n + f(d), 0);
    const total = sum(d => d.total), inRange = sum(d => d.in_range), shown = sum(d => d.x.length);
    Object.assign(this.chart.el.dataset, {total, inRange});
    this.chart.info.textContent = inRange > shown ? `${shown} of ${inRange} points` : `${inRange} points`;
  }

  restyle() { this.chart.options({log: this.controls.log, smoothing: this.controls.smoothing}); }
}

// loadCharts loads charts a few at a time so a run with many metrics
// shows its first charts quickly.
export async function loadCharts(charts) {
  const queue = [...charts];
  await Promise.all([0, 1, 2, 3].map(async () => { while (queue.length) await queue.shift().load(); }));
}

// runPage shows one run.
export async function runPage(main, params, id) {
  const {run} = await api('runs/get', {run_id: id});
  const i = run.info, name = i.run_name || i.run_id;
  document.title = `${name} · mlenv`;
  const tags = byKey(run.data.tags);
  const keys = (run.data.metrics || []).map(m => m.key).sort();
  const controls = chartControls((st, what) => charts.forEach(c => what === 'axis' ? c.zoom(null) : c.restyle()));
  const runs = [{id: i.run_id, name, start: i.start_time}];
  const charts = keys.map(k => new MetricChart(k, runs, controls.st));
  const kv = list => (list || []).slice().sort((a, b) => a.key.localeCompare(b.key)).map(p => [p.key, h('code', {}, p.value)]);
  const logs = h('div'), artifacts = h('ul', {class: 'tree', id: 'artifacts'});
  const crumb = h('span', {}, i.experiment_id), study = h('div');
  main.replaceChildren(
    h('p', {}, h('a', {href: '#/'}, 'Experiments'), ' / ', crumb, ' /'),
    h('h1', {}, name),
    runFacts(run), study,
    h('section', {'aria-labelledby': 'h-metrics'}, h('h2', {id: 'h-metrics'}, `Metrics (${keys.length})`),
      keys.length ? [controls.el, h('div', {class: 'charts'}, charts.map(c => c.el))] : h('p', {class: 'muted'}, 'No metrics.')),
    h('section', {'aria-labelledby': 'h-params'}, h('h2', {id: 'h-params'}, 'Parameters'),
      table(['Name', 'Value'], kv(run.data.params), {id: 'params'})),
    h('section', {'aria-labelledby': 'h-tags'}, h('h2', {id: 'h-tags'}, 'Tags'), table(['Name', 'Value'], kv(run.data.tags), {id: 'tags'})),
    h('section', {'aria-labelledby': 'h-artifacts'}, h('h2', {id: 'h-artifacts'}, 'Artifacts'), artifacts),
    h('section', {'aria-labelledby': 'h-logs'}, h('h2', {id: 'h-logs'}, 'Logs'), logs));
  // The charts load while the experiment is read, a study's trials
  // found and the artifacts listed.
  const drawn = loadCharts(charts);
  drawn.catch(() => {}); // awaited below
  if (isStudy(tags)) study.replaceWith(await studySection(run));
  const exp = await api('experiments/get', {experiment_id: i.experiment_id}).then(r => r.experiment, () => null);
  if (exp) crumb.replaceChildren(h('a', {href: `#/experiments/${encodeURIComponent(exp.experiment_id)}`}, exp.name));
  artifacts.append(...await artifactTree(i, '', logs));
  if (!logs.firstChild) logs.append(h('p', {class: 'muted'}, 'No log artifacts (files named *.log or under logs/).'));
  await drawn;
  if (i.status === 'RUNNING') follow(main, i, charts, logs);
}

// runFacts lays out a run's facts; a job's run (see mlenv jobs) adds
// the job's state and restarts from its tags.
function runFacts(run) {
  const i = run.info, tags = byKey(run.data.tags), parent = tags.get(PARENT);
  const facts = [['Run ID', i.run_id], ['Status', i.status], ['Started', fmtTime(i.start_time)],
    ['Duration', i.end_time ? fmtDuration(i.end_time - i.start_time) : 'running'], ['User', i.user_id || ''], ['Artifacts', i.artifact_uri || ''],
    ['Parent run', parent && h('a', {href: `#/runs/${encodeURIComponent(parent)}`, id: 'parent-run'}, parent)],
    ['Job state', tags.get('mlenv.job.state')], ['Restarts', tags.get('mlenv.job.restarts')]];
  return h('dl', {class: 'facts', id: 'run-facts'}, facts.filter(([, v]) => v).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// REFRESH_MS is how often the charts of a running run are brought up to
// date; the server appends only the new points to its cached series.
export const REFRESH_MS = 5000;

// follow reloads the facts, charts and logs of run info every
// REFRESH_MS while they are on the page and the run is running; the
// logs grow as a job's supervisor uploads them.
function follow(main, info, charts, logs) {
  const tick = async () => {
    if (!logs.isConnected) return;
    try {
      await loadCharts(charts);
      const {run} = await api('runs/get', {run_id: info.run_id});
      const fresh = h('div');
      await artifactTree(info, '', fresh);
      if (!logs.isConnected) return;
      document.getElementById('run-facts').replaceWith(runFacts(run));
      if (fresh.firstChild) logs.replaceChildren(...fresh.childNodes);
      if (run.info.status !== 'RUNNING') return;
    } catch (err) {
      main.prepend(h('p', {class: 'error', role: 'alert'}, `Live update stopped: ${err.message}`));
      return;
    }
    setTimeout(tick, REFRESH_MS);
  };
  setTimeout(tick, REFRESH_MS);
}

// isLog says whether an artifact path is one of the run's logs.
const isLog = p => /\.log$/.test(p) || /(^|\/)logs\/[^/]+$/.test(p);

// artifactTree lists the artifacts under path as list items; folders
// expand on demand and log files are shown in logs.
async function artifactTree(info, path, logs) {
  let files;
  try {
    files = (await api('artifacts/list', {run_id: info.run_id, path})).files || [];
  } catch (err) {
    return [h('li', {class: 'error'}, `Cannot list artifacts: ${err.message}`)];
  }
  if (!files.length && !path) return [h('li', {class: 'muted'}, 'No artifacts.')];
  const items = [];
  for (const f of files.sort((a, b) => (b.is_dir - a.is_dir) || a.path.localeCompare(b.path))) {
    const base = f.path.split('/').pop();
    if (f.is_dir) {
      const sub = h('ul', {class: 'tree', hidden: true});
      const btn = h('button', {type: 'button', 'aria-expanded': 'false', onclick: async () => {
        const open = btn.getAttribute('aria-expanded') === 'true';
        btn.setAttribute('aria-expanded', String(!open));
        btn.textContent = `${open ? '▸' : '▾'} ${base}/`;
        sub.hidden = open;
        if (!open && !sub.firstChild) sub.append(...await artifactTree(info, f.path, logs));
      }}, `▸ ${base}/`);
      items.push(h('li', {}, btn, sub));
      // Logs are shown at once, so their folder is opened up front.
      if (f.path === 'logs') {
        sub.append(...await artifactTree(info, f.path, logs));
        btn.click();
      }
      continue;
    }
    const url = artifactURL(info.artifact_uri, f.path);
    items.push(h('li', {}, url ? h('a', {href: url, download: base}, base) : base, ' ',
      h('span', {class: 'muted'}, f.file_size != null ? `${f.file_size} B` : '')));
    if (url && isLog(f.path)) logs.append(await logView(f.path, url));
  }
  return items;
}

// MAX_LOG_BYTES bounds how much of a log the page shows (its tail).
const MAX_LOG_BYTES = 256 << 10;

async function logView(path, url) {
  const r = await fetch(url);
  let text = r.ok ? await r.text() : `cannot read ${path}: ${r.status}`;
  if (text.length > MAX_LOG_BYTES) text = '… (showing the last 256 KiB; download for the rest)\n' + text.slice(-MAX_LOG_BYTES);
  return h('div', {}, h('h3', {}, path, ' ', h('a', {href: url, download: path.split('/').pop()}, 'download')),
    h('pre', {class: 'log', tabindex: 0, 'aria-label': `log ${path}`}, text));
}
