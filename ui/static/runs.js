// The experiments list and the runs table of one experiment.

import {api, h, fmtTime, fmtDuration, fmtNum, byKey, quoteKey, table, pager, pagedList} from './util.js';

// experimentsPage lists active experiments, newest first.
export function experimentsPage(main) {
  return pagedList(main, 'Experiments', async token => {
    const r = await api('experiments/search', {max_results: 200, page_token: token, order_by: 'creation_time DESC'});
    return {items: r.experiments || [], next: r.next_page_token};
  }, exps => exps.length ? table(['Name', 'ID', 'Created', 'Updated'], exps.map(e => [
    h('a', {href: `#/experiments/${encodeURIComponent(e.experiment_id)}`}, e.name),
    e.experiment_id, fmtTime(e.creation_time), fmtTime(e.last_update_time)]), {id: 'experiments'}) : h('p', {}, 'No experiments yet.'));
}

// Fixed columns of the runs table and the order_by key of each.
const fixed = [['Run', 'attributes.run_name'], ['Status', 'attributes.status'], ['Started', 'attributes.start_time'], ['Duration', null]];

// A column is {entity: 'metrics'|'params'|'tags', key}; in the URL it is
// col=entity:key.
const colID = c => `${c.entity}:${c.key}`;
const parseCol = s => { const i = s.indexOf(':'); return {entity: s.slice(0, i), key: s.slice(i + 1)}; };

// PAGE_SIZE runs are fetched per page; the server pages with tokens, so
// an experiment with 10,000 runs costs one small query per page.
const PAGE_SIZE = 100;

// runsPage shows the runs of one experiment with filter, sort, column
// picker, pagination and selection for comparing.
export async function runsPage(main, params, id) {
  const {experiment} = await api('experiments/get', {experiment_id: id});
  document.title = `${experiment.name} · mlenv`;
  const state = {
    filter: params.get('filter') || '',
    order: params.get('order') || '',
    cols: params.has('col') ? params.getAll('col').map(parseCol) : null,
    pages: [''],
    selected: new Set(),
  };
  const input = h('input', {type: 'search', name: 'filter', value: state.filter, 'aria-label': 'Filter runs',
    placeholder: "metrics.accuracy > 0.9 and params.lr = '0.01'"});
  const status = h('p', {role: 'status', class: 'muted'});
  const picker = h('details', {class: 'picker'}, h('summary', {}, 'Columns'), h('div'));
  const compare = h('button', {type: 'button', disabled: true, onclick: () => {
    location.hash = '#/compare?runs=' + [...state.selected].map(encodeURIComponent).join(',');
  }}, 'Compare selected');
  const body = h('div');
  const form = h('form', {class: 'toolbar', role: 'search', onsubmit: e => {
    e.preventDefault(); state.filter = input.value.trim(); state.pages = ['']; load();
  }}, input, h('button', {type: 'submit'}, 'Filter'), picker, compare);
  main.replaceChildren(
    h('p', {}, h('a', {href: '#/'}, 'Experiments'), ' / '),
    h('h1', {}, experiment.name), h('p', {class: 'muted'}, `Experiment ${experiment.experiment_id} · artifacts at ${experiment.artifact_location || ''}`),
    form, status, body);

  const save = () => {
    const q = new URLSearchParams();
    if (state.filter) q.set('filter', state.filter);
    if (state.order) q.set('order', state.order);
    for (const c of state.cols || []) q.append('col', colID(c));
    const s = q.toString();
    history.replaceState(null, '', `#/experiments/${encodeURIComponent(id)}${s ? '?' + s : ''}`);
  };

  const load = async () => {
    save();
    status.textContent = 'Loading…';
    let r;
    try {
      r = await api('runs/search', {experiment_ids: [id], filter: state.filter, max_results: PAGE_SIZE,
        order_by: state.order ? [state.order] : [], page_token: state.pages[state.pages.length - 1]}, 'POST');
    } catch (err) {
      status.replaceChildren(h('span', {class: 'error', role: 'alert'}, `Search failed: ${err.message}`));
      return;
    }
    const runs = r.runs || [];
    if (!state.cols) state.cols = defaultColumns(runs);
    const from = (state.pages.length - 1) * PAGE_SIZE;
    status.textContent = runs.length ? `Runs ${from + 1}–${from + runs.length}${r.next_page_token ? ' (more on the next pages)' : ''}` : 'No runs match.';
    picker.lastChild.replaceChildren(...columnPicker(runs, state.cols, cols => { state.cols = cols; render(runs, r.next_page_token); save(); }));
    render(runs, r.next_page_token);
  };

  const render = (runs, next) => {
    body.replaceChildren(h('div', {class: 'scroll'}, runsTable(runs, state, sort, select)), pager(state.pages, next, load));
  };
  const sort = key => {
    state.order = state.order === `${key} DESC` ? `${key} ASC` : `${key} DESC`;
    state.pages = [''];
    load();
  };
  const select = (runID, on) => {
    if (on) state.selected.add(runID); else state.selected.delete(runID);
    compare.disabled = state.selected.size < 1;
    compare.textContent = `Compare selected (${state.selected.size})`;
  };
  await load();
}

// defaultColumns shows up to 8 metrics and 8 params seen on the page.
function defaultColumns(runs) {
  const k = keysOf(runs);
  return [...k.metrics.slice(0, 8).map(key => ({entity: 'metrics', key})), ...k.params.slice(0, 8).map(key => ({entity: 'params', key}))];
}

// keysOf returns the sorted metric, param and tag keys of runs.
function keysOf(runs) {
  const out = {metrics: new Set(), params: new Set(), tags: new Set()};
  for (const r of runs) for (const e of Object.keys(out)) for (const kv of r.data[e] || []) out[e].add(kv.key);
  return Object.fromEntries(Object.entries(out).map(([e, s]) => [e, [...s].sort()]));
}

// columnPicker returns one fieldset of checkboxes per entity.
function columnPicker(runs, cols, change) {
  const keys = keysOf(runs);
  for (const c of cols) if (!keys[c.entity].includes(c.key)) keys[c.entity].push(c.key);
  const on = new Set(cols.map(colID));
  return ['metrics', 'params', 'tags'].map(e => h('fieldset', {}, h('legend', {}, e),
    keys[e].map(key => h('label', {}, h('input', {type: 'checkbox', checked: on.has(colID({entity: e, key})), onchange: ev => {
      const next = cols.filter(c => colID(c) !== colID({entity: e, key}));
      if (ev.target.checked) next.push({entity: e, key});
      change(next);
    }}), ' ', key))));
}

// runsTable renders one page of runs.
function runsTable(runs, state, sort, select) {
  const th = (label, key) => {
    const sorted = key && state.order.startsWith(key + ' ') ? (state.order.endsWith('ASC') ? 'ascending' : 'descending') : null;
    return h('th', {scope: 'col', 'aria-sort': sorted}, key ? h('button', {type: 'button', class: 'sort', onclick: () => sort(key)}, label) : label);
  };
  const head = h('tr', {}, h('th', {scope: 'col'}, h('span', {class: 'muted'}, '✓')),
    fixed.map(([l, k]) => th(l, k)),
    state.cols.map(c => th(`${c.entity.slice(0, -1)}: ${c.key}`, quoteKey(c.entity, c.key))));
  const rows = runs.map(r => {
    const i = r.info, data = {metrics: byKey(r.data.metrics), params: byKey(r.data.params), tags: byKey(r.data.tags)};
    const name = i.run_name || i.run_id;
    return h('tr', {'data-run-id': i.run_id},
      h('td', {}, h('input', {type: 'checkbox', 'aria-label': `Select ${name}`, checked: state.selected.has(i.run_id),
        onchange: e => select(i.run_id, e.target.checked)})),
      h('td', {}, h('a', {href: `#/runs/${encodeURIComponent(i.run_id)}`}, name)),
      h('td', {}, i.status), h('td', {}, fmtTime(i.start_time)),
      h('td', {class: 'num'}, i.end_time ? fmtDuration(i.end_time - i.start_time) : ''),
      state.cols.map(c => {
        const v = data[c.entity].get(c.key);
        return h('td', {class: c.entity === 'metrics' ? 'num' : null, title: v}, c.entity === 'metrics' ? fmtNum(v) : v);
      }));
  });
  return h('table', {id: 'runs'}, h('thead', {}, head), h('tbody', {}, rows));
}
