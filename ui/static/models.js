// Model registry pages: the models, one model's versions and aliases,
// and one version with its source run, signature and the endpoint that
// serves it.

import {api, h, getJSON, artifactURL, fmtTime, fmtNum, fmtDuration, table, pagedList, byKey, query, ENDPOINT} from './util.js';

// ENDPOINT_TAG is the model-version tag where mlenv serve records the
// base URL of the endpoint serving the version.
const ENDPOINT_TAG = 'mlenv.endpoint';
// REFRESH_MS is how often an endpoint's status is read again.
const REFRESH_MS = 5000;

const modelHref = name => `#/models/${encodeURIComponent(name)}`;
const versionHref = (name, v) => `${modelHref(name)}/versions/${encodeURIComponent(v)}`;
const runLink = id => id ? h('a', {href: `#/runs/${encodeURIComponent(id)}`}, id) : '';
const aliasBadges = as => (as || []).map(a => h('span', {class: 'badge'}, '@' + (a.alias ?? a)));

// modelsPage lists registered models.
export function modelsPage(main) {
  return pagedList(main, 'Registered models', async token => {
    const r = await api('registered-models/search', {max_results: 100, page_token: token});
    return {items: r.registered_models || [], next: r.next_page_token};
  }, models => models.length ? table(['Name', 'Latest versions', 'Aliases', 'Updated', 'Description'], models.map(m => [
    h('a', {href: modelHref(m.name)}, m.name),
    (m.latest_versions || []).map(v => h('a', {href: versionHref(m.name, v.version), class: 'badge'}, `v${v.version}`)),
    aliasBadges(m.aliases), fmtTime(m.last_updated_timestamp), m.description || '']), {id: 'models'}) : h('p', {}, 'No registered models yet.'));
}

// modelPage shows one registered model and its versions.
export async function modelPage(main, params, name) {
  document.title = `${name} · mlenv`;
  const {registered_model: m} = await api('registered-models/get', {name});
  const r = await api('model-versions/search', {filter: `name='${name.replaceAll("'", "\\'")}'`, max_results: 1000});
  const versions = (r.model_versions || []).sort((a, b) => Number(b.version) - Number(a.version));
  main.replaceChildren(h('p', {}, h('a', {href: '#/models'}, 'Models'), ' /'),
    h('h1', {}, m.name), ...(m.description ? [h('p', {}, m.description)] : []),
    h('dl', {class: 'facts'}, h('dt', {}, 'Aliases'), h('dd', {}, (m.aliases || []).length
      ? m.aliases.map(a => h('span', {class: 'badge'}, h('a', {href: versionHref(name, a.version)}, `@${a.alias} → v${a.version}`))) : 'none'),
    h('dt', {}, 'Created'), h('dd', {}, fmtTime(m.creation_timestamp)), h('dt', {}, 'Updated'), h('dd', {}, fmtTime(m.last_updated_timestamp))),
    h('h2', {}, 'Versions'),
    table(['Version', 'Aliases', 'Stage', 'Status', 'Source run', 'Created'], versions.map(v => [
      h('a', {href: versionHref(name, v.version)}, `Version ${v.version}`), aliasBadges(v.aliases), v.current_stage || '',
      v.status || '', runLink(v.run_id), fmtTime(v.creation_timestamp)]), {id: 'versions'}),
    ...await endpoints(name, versions.filter(v => byKey(v.tags).has(ENDPOINT_TAG))));
}

// endpoints returns the Endpoints section of a model page for the
// versions that are served, or nothing when none is.
async function endpoints(name, served) {
  if (!served.length) return [];
  const sections = await Promise.all(served.map(v => endpointSection(name, v.version)));
  return [h('h2', {}, 'Endpoints'), ...served.flatMap((v, i) => [h('h3', {}, `Version ${v.version}`), sections[i]])];
}

// versionPage shows one model version: its facts, source run and the
// signature read from its model artifact.
export async function versionPage(main, params, name, version) {
  document.title = `${name} v${version} · mlenv`;
  const {model_version: v} = await api('model-versions/get', {name, version});
  const [sig, endpoint] = await Promise.all([signature(name, version),
    byKey(v.tags).has(ENDPOINT_TAG) ? endpointSection(name, version) : h('p', {class: 'muted'}, 'No mlenv serve has recorded serving this version.')]);
  main.replaceChildren(h('p', {}, h('a', {href: '#/models'}, 'Models'), ' / ', h('a', {href: modelHref(name)}, name), ' /'),
    h('h1', {}, `${name} version ${version}`),
    h('dl', {class: 'facts'}, [['Aliases', aliasBadges(v.aliases)], ['Stage', v.current_stage || ''], ['Status', v.status || ''],
      ['Source', v.source || ''], ['Source run', runLink(v.run_id)], ['Created', fmtTime(v.creation_timestamp)],
      ['Description', v.description || '']].map(([k, x]) => [h('dt', {}, k), h('dd', {}, x)])),
    h('h2', {}, 'Endpoint'), endpoint, h('h2', {}, 'Signature'), h('div', {id: 'signature'}, sig));
}

// endpointSection reads the health and traffic of the endpoint serving
// a version and shows them, reading them again every REFRESH_MS while
// the section is on the page.
async function endpointSection(name, version) {
  const box = h('div', {class: 'endpoint', 'data-version': version, 'aria-live': 'polite'});
  const load = async () => {
    try {
      box.replaceChildren(endpointFacts(await getJSON(ENDPOINT + '?' + query({name, version}))));
    } catch (err) {
      box.replaceChildren(h('p', {class: 'error'}, `Cannot read the endpoint: ${err.message}`));
    }
  };
  await load();
  const timer = setInterval(() => box.isConnected ? load() : clearInterval(timer), REFRESH_MS);
  return box;
}

// endpointFacts lays out an endpoint status (see ui.EndpointStatus).
function endpointFacts(s) {
  const ms = x => `${fmtNum(x * 1000)} ms`;
  const span = s.rate_window_seconds ? ` over the last ${fmtDuration(s.rate_window_seconds * 1000)}` : '';
  const state = s.ready ? h('span', {class: 'badge ok'}, 'ready')
    : h('span', {class: 'badge bad'}, 'not ready');
  return h('dl', {class: 'facts'}, [['URL', s.url], ['State', [state, s.problem ? ' ' + s.problem : '']],
    ['Requests', `${s.requests} (${fmtNum(s.request_rate)} req/s${span})`], ['Errors', String(s.errors)],
    ['Latency', s.requests ? `p50 ${ms(s.latency_p50_seconds)}, p99 ${ms(s.latency_p99_seconds)}` : 'no requests yet']]
    .map(([k, x]) => [h('dt', {}, k), h('dd', {}, x)]));
}

// signature reads the version's model.json (mlenv) or MLmodel (MLflow)
// through the artifact proxy and renders its inputs and output.
async function signature(name, version) {
  let uri;
  try {
    uri = (await api('model-versions/get-download-uri', {name, version})).artifact_uri;
  } catch (err) {
    return h('p', {class: 'error'}, `Cannot resolve the model's location: ${err.message}`);
  }
  const base = artifactURL(uri, '');
  if (!base) return h('p', {class: 'muted'}, `The model is stored at ${uri}, outside this server.`);
  try {
    const meta = await getJSON(base + '/model.json');
    const s = meta.signature || {};
    return [h('p', {}, `Architecture ${meta.arch || '?'}; written by mlenv ${meta.mlenv_version || '?'}.`),
      table(['Input column', 'Type'], (s.inputs || []).map(c => [c.name, c.type]), {id: 'signature-inputs'}),
      h('p', {}, `Output: ${s.output ? `${s.output.kind}, width ${s.output.width}` : 'not recorded'}`)];
  } catch {
    const r = await fetch(base + '/MLmodel');
    if (!r.ok) return h('p', {class: 'muted'}, 'No model.json or MLmodel file in the model artifact.');
    const text = await r.text();
    const at = text.indexOf('signature:');
    return h('pre', {}, at >= 0 ? text.slice(at) : 'MLmodel has no signature.');
  }
}
