// The study section of a tuning study's run (what `mlenv tune` records):
// its trials with their state, objective and sampled values, the best
// trial, the parameter importances and a link comparing the trials.

import {api, h, byKey, fmtNum, table} from './util.js';

// Tags `mlenv tune` sets: the study's name (on the study's run and its
// trials), the parent run of a nested run, and the trial's facts.
export const STUDY = 'mlenv.tune.study', PARENT = 'mlflow.parentRunId';
const TRIAL = 'mlenv.tune.trial', STATE = 'mlenv.tune.state', BEST = 'mlenv.tune.best_trial', IMPORTANCE = 'mlenv.tune.importance';

// MAX_COMPARE bounds how many trials, best first, the compare link opens.
const MAX_COMPARE = 50;

// isStudy says whether a run's tags are those of a study's own run (not
// a trial, nor a resumption nested under it).
export const isStudy = tags => tags.has(STUDY) && !tags.has(PARENT);

// trialsOf returns the trials nested under the study's run, by number.
async function trialsOf(info) {
  const runs = [];
  let token = '';
  do {
    const r = await api('runs/search', {experiment_ids: [info.experiment_id], max_results: 1000, page_token: token,
      filter: `tags.\`${PARENT}\` = '${info.run_id}'`}, 'POST');
    runs.push(...(r.runs || []));
    token = r.next_page_token;
  } while (token);
  const trials = runs.map(r => ({run: r, tags: byKey(r.data.tags), params: byKey(r.data.params), metrics: byKey(r.data.metrics)}))
    .filter(t => t.tags.has(TRIAL));
  return trials.sort((a, b) => Number(a.tags.get(TRIAL)) - Number(b.tags.get(TRIAL)));
}

// importances parses the study's importance tag: [{Param, Share}].
function importances(tag) {
  try {
    const list = JSON.parse(tag || '[]');
    return Array.isArray(list) ? list.filter(x => x && typeof x.Param === 'string' && typeof x.Share === 'number') : [];
  } catch {
    return [];
  }
}

// studySection returns the section describing the study whose run is run.
export async function studySection(run) {
  const tags = byKey(run.data.tags), params = byKey(run.data.params);
  const metric = params.get('tune.metric') || '', maximize = params.get('tune.maximize') === 'true';
  let names = [];
  try {
    names = JSON.parse(params.get('tune.space') || '[]').map(p => p.name).filter(Boolean);
  } catch {
    // A space that does not parse is shown without its param columns.
  }
  const trials = await trialsOf(run.info), best = tags.get(BEST);
  const link = t => h('a', {href: `#/runs/${encodeURIComponent(t.run.info.run_id)}`}, t.run.info.run_name || t.run.info.run_id);
  const rows = trials.map(t => [t.tags.get(TRIAL) === best ? `${best} (best)` : t.tags.get(TRIAL), link(t),
    t.tags.get(STATE) || t.run.info.status.toLowerCase(), h('td', {class: 'num'}, fmtNum(t.metrics.get(metric))),
    ...names.map(k => t.params.get(k) ?? '')]);
  const scored = trials.filter(t => typeof t.metrics.get(metric) === 'number')
    .sort((a, b) => (maximize ? -1 : 1) * (a.metrics.get(metric) - b.metrics.get(metric))).slice(0, MAX_COMPARE);
  const shares = importances(tags.get(IMPORTANCE));
  return h('section', {'aria-labelledby': 'h-study'}, h('h2', {id: 'h-study'}, `Study ${tags.get(STUDY)}`),
    h('p', {}, `${trials.length} trials, ${metric} ${maximize ? 'maximized' : 'minimized'}. `,
      scored.length > 1 ? h('a', {href: '#/compare?runs=' + scored.map(t => encodeURIComponent(t.run.info.run_id)).join(','), id: 'compare-trials'},
        `Compare the ${scored.length} best trials`) : null),
    trials.length ? h('div', {class: 'scroll'}, table(['Trial', 'Run', 'State', metric, ...names], rows, {id: 'trials'}))
      : h('p', {class: 'muted'}, 'No trials yet.'),
    shares.length ? [h('h3', {}, 'Parameter importance'), table(['Parameter', 'Share'], shares.map(x => [x.Param,
      h('td', {}, h('meter', {min: 0, max: 1, value: x.Share, 'aria-label': `${x.Param} importance`}), ` ${(100 * x.Share).toFixed(1)}%`)]),
    {id: 'importance'})] : null);
}
