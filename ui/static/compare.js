// The compare page: selected runs side by side, overlaid metric curves,
// parallel coordinates and a param-vs-metric scatter.

import {api, h, byKey, fmtNum, table} from './util.js';
import {chartControls, MetricChart, loadCharts} from './run.js';
import {parallelCoordinates, scatter} from './plots.js';

// comparePage compares the runs listed in ?runs=id,id,...
export async function comparePage(main, params) {
  const ids = (params.get('runs') || '').split(',').filter(Boolean);
  if (!ids.length) throw new Error('no runs to compare: select runs in an experiment\'s table first');
  document.title = `Compare ${ids.length} runs · mlenv`;
  const runs = (await Promise.all(ids.map(id => api('runs/get', {run_id: id})))).map(r => r.run);
  const names = runs.map(r => r.info.run_name || r.info.run_id);
  const data = runs.map(r => ({metrics: byKey(r.data.metrics), params: byKey(r.data.params)}));
  const union = e => [...new Set(data.flatMap(d => [...d[e].keys()]))].sort();
  const metricKeys = union('metrics'), paramKeys = union('params');

  const summary = table(['', ...runs.map((r, i) => h('a', {href: `#/runs/${encodeURIComponent(r.info.run_id)}`}, names[i]))],
    [...paramKeys.map(k => [`param: ${k}`, ...data.map(d => d.params.get(k) ?? '')]),
      ...metricKeys.map(k => [`metric: ${k}`, ...data.map(d => h('td', {class: 'num'}, fmtNum(d.metrics.get(k))))])], {id: 'compare-table'});

  const pick = (label, keys, value, change) => h('label', {}, label, ' ',
    h('select', {onchange: e => change(e.target.value)}, keys.map(k => h('option', {value: k, selected: k === value}, k))));

  let metric = metricKeys[0];
  const chartBox = h('div', {class: 'charts'});
  const controls = chartControls((st, what) => chart && (what === 'axis' ? chart.zoom(null) : chart.restyle()));
  let chart = null;
  const showChart = async () => {
    if (!metric) { chartBox.replaceChildren(h('p', {class: 'muted'}, 'The runs have no metrics.')); return; }
    chart = new MetricChart(metric, runs.map((r, i) => ({id: r.info.run_id, name: names[i], start: r.info.start_time})), controls.st);
    chartBox.replaceChildren(chart.el);
    await loadCharts([chart]);
  };

  // Parallel coordinates over the params that differ, then the metric.
  const varying = paramKeys.filter(k => new Set(data.map(d => d.params.get(k))).size > 1);
  const parBox = h('div');
  const showParallel = () => {
    const dims = (varying.length ? varying : paramKeys).map(k => ({label: k, values: data.map(d => d.params.get(k))}));
    if (metric) dims.push({label: metric, values: data.map(d => d.metrics.get(metric))});
    parBox.replaceChildren(...(dims.length ? [parallelCoordinates(dims, names),
      h('p', {class: 'muted'}, `Lines are coloured by ${dims[dims.length - 1].label}: blue low, red high.`)]
      : [h('p', {class: 'muted'}, 'No params or metrics to plot.')]));
  };

  let xParam = varying[0] || paramKeys[0];
  const scatterBox = h('div');
  const showScatter = () => {
    scatterBox.replaceChildren(xParam && metric
      ? scatter(xParam, data.map(d => d.params.get(xParam)), metric, data.map(d => d.metrics.get(metric)), names)
      : h('p', {class: 'muted'}, 'A scatter needs a param and a metric.'));
  };

  main.replaceChildren(h('h1', {}, `Compare ${runs.length} runs`),
    h('div', {class: 'scroll'}, summary),
    h('h2', {}, 'Metric'), h('div', {class: 'toolbar'}, pick('Metric', metricKeys, metric, k => {
      metric = k; showChart(); showParallel(); showScatter();
    })), controls.el, chartBox,
    h('h2', {}, 'Parallel coordinates'), parBox,
    h('h2', {}, 'Parameter vs metric'), h('div', {class: 'toolbar'}, pick('Parameter', paramKeys, xParam, k => { xParam = k; showScatter(); })),
    scatterBox);
  showParallel();
  showScatter();
  await showChart();
}
