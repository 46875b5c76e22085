// The router: the URL fragment picks a page; each page renders into
// <main> and the body's data-state says loading, ready or error (tests
// and the benchmark wait on it).

import {h} from './util.js';
import {experimentsPage, runsPage} from './runs.js';
import {runPage} from './run.js';
import {comparePage} from './compare.js';
import {modelsPage, modelPage, versionPage} from './models.js';

const routes = [
  [/^\/?$/, experimentsPage],
  [/^\/experiments\/([^/]+)$/, runsPage],
  [/^\/runs\/([^/]+)$/, runPage],
  [/^\/compare$/, comparePage],
  [/^\/models$/, modelsPage],
  [/^\/models\/([^/]+)$/, modelPage],
  [/^\/models\/([^/]+)\/versions\/([^/]+)$/, versionPage],
];

let generation = 0;

async function route() {
  const gen = ++generation;
  const raw = location.hash.replace(/^#/, '');
  const [path, qs] = raw.split('?', 2);
  const main = document.getElementById('main');
  const params = new URLSearchParams(qs || '');
  document.body.dataset.state = 'loading';
  for (const [re, page] of routes) {
    const m = path.match(re);
    if (!m) continue;
    try {
      await page(main, params, ...m.slice(1).map(decodeURIComponent));
      if (gen !== generation) return;
      document.body.dataset.state = 'ready';
      performance.mark('ui-ready');
    } catch (err) {
      if (gen !== generation) return;
      main.replaceChildren(h('h1', {}, 'Something went wrong'), h('p', {class: 'error', role: 'alert'}, err.message));
      document.body.dataset.state = 'error';
    }
    return;
  }
  main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, `No page at ${raw}. `, h('a', {href: '#/'}, 'Experiments')));
  document.body.dataset.state = 'error';
}

window.addEventListener('hashchange', () => { route(); document.getElementById('main').focus(); });
route();
