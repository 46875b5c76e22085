// Helpers shared by the pages: REST calls, element building, formatting.

// API is the MLflow REST prefix the pages read, relative to the page so
// the UI also works behind a path prefix.
export const API = 'ajax-api/2.0/mlflow/';
export const ARTIFACTS = 'ajax-api/2.0/mlflow-artifacts/artifacts/';
export const HISTORY = 'ui-api/metric-history';
export const ENDPOINT = 'ui-api/endpoint';

// query encodes params as a query string; arrays repeat their key.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v == null || v === '') continue;
    for (const x of [].concat(v)) q.append(k, x);
  }
  return q.toString();
}

// getJSON fetches url and returns its JSON body, throwing the server's
// error message on failure.
export async function getJSON(url, init) {
  const r = await fetch(url, init);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.message || `${r.status} ${r.statusText} from ${url}`);
  return body;
}

// api calls an MLflow endpoint: GET with a query string, others with a
// JSON body.
export function api(endpoint, params = {}, method = 'GET') {
  if (method === 'GET') return getJSON(API + endpoint + '?' + query(params));
  return getJSON(API + endpoint, {method, headers: {'Content-Type': 'application/json'}, body: JSON.stringify(params)});
}

// artifactURL returns the proxy URL of path under a run's artifact URI,
// or null when the run keeps its artifacts outside this server.
export function artifactURL(artifactURI, path) {
  if (!artifactURI || !artifactURI.startsWith('mlflow-artifacts:')) return null;
  const root = artifactURI.slice('mlflow-artifacts:'.length).replace(/^\/+|\/+$/g, '');
  const parts = (root + (path ? '/' + path : '')).split('/').filter(Boolean);
  return ARTIFACTS + parts.map(encodeURIComponent).join('/');
}

const SVG = 'http://www.w3.org/2000/svg';

function build(el, attrs, kids) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat(Infinity)) {
    if (k != null && k !== false) el.append(k instanceof Node ? k : String(k));
  }
  return el;
}

// h builds an HTML element; attributes named on* become listeners and
// children are nodes or text (never parsed as HTML).
export function h(tag, attrs, ...kids) { return build(document.createElement(tag), attrs, kids); }

// svg builds an SVG element like h.
export function svg(tag, attrs, ...kids) { return build(document.createElementNS(SVG, tag), attrs, kids); }

// fmtTime formats a Unix time in milliseconds as local date and time.
export function fmtTime(ms) {
  if (!ms) return '';
  const d = new Date(Number(ms));
  const p = n => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// fmtDuration formats milliseconds as 1h2m, 3m4s or 5.6s.
export function fmtDuration(ms) {
  if (ms == null || ms < 0) return '';
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + 's';
  if (s < 3600) return `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${Math.round((s % 3600) / 60)}m`;
}

// fmtNum formats a metric value with up to 5 significant digits.
export function fmtNum(v) {
  if (typeof v !== 'number') return v == null ? '' : String(v);
  if (!isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-4)) return v.toExponential(3);
  return String(Number(v.toPrecision(5)));
}

// byKey turns [{key, value}] into a Map.
export function byKey(list) { return new Map((list || []).map(e => [e.key, e.value])); }

// quoteKey quotes a metric, param or tag key for a filter or order_by.
export function quoteKey(entity, key) { return `${entity}.\`${key}\``; }

// table builds a table from headers and rows of cells.
export function table(headers, rows, attrs) {
  return h('table', attrs, h('thead', {}, h('tr', {}, headers.map(x => h('th', {scope: 'col'}, x)))),
    h('tbody', {}, rows.map(r => h('tr', {}, r.map(c => c instanceof Node && c.tagName === 'TD' ? c : h('td', {}, c))))));
}

// palette gives series colours, distinguishable and readable on white.
export const palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

// pager returns Previous/Next buttons over a stack of page tokens; load
// shows the page of the token on top.
export function pager(pages, next, load) {
  const prev = h('button', {type: 'button', disabled: pages.length < 2, onclick: () => { pages.pop(); load(); }}, '← Previous');
  const nextB = h('button', {type: 'button', disabled: !next, onclick: () => { pages.push(next); load(); }}, 'Next →');
  return h('div', {class: 'toolbar'}, prev, h('span', {}, `Page ${pages.length}`), nextB);
}

// pagedList shows a titled list a page at a time: fetchPage(token)
// returns {items, next}, and render(items) draws one page.
export async function pagedList(main, title, fetchPage, render) {
  document.title = `${title} · mlenv`;
  const body = h('div');
  main.replaceChildren(h('h1', {}, title), body);
  const pages = [''];
  const load = async () => {
    const {items, next} = await fetchPage(pages[pages.length - 1]);
    body.replaceChildren(render(items), pager(pages, next, load));
  };
  await load();
}
