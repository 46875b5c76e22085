// Model registry pages: the models, one model's versions and aliases,
// and one version with its source run and signature.

import {api, h, getJSON, artifactURL, fmtTime, table, pagedList} from './util.js';

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
      v.status || '', runLink(v.run_id), fmtTime(v.creation_timestamp)]), {id: 'versions'}));
}

// versionPage shows one model version: its facts, source run and the
// signature read from its model artifact.
export async function versionPage(main, params, name, version) {
  document.title = `${name} v${version} · mlenv`;
  const {model_version: v} = await api('model-versions/get', {name, version});
  const sig = h('div', {id: 'signature'}, await signature(name, version));
  main.replaceChildren(h('p', {}, h('a', {href: '#/models'}, 'Models'), ' / ', h('a', {href: modelHref(name)}, name), ' /'),
    h('h1', {}, `${name} version ${version}`),
    h('dl', {class: 'facts'}, [['Aliases', aliasBadges(v.aliases)], ['Stage', v.current_stage || ''], ['Status', v.status || ''],
      ['Source', v.source || ''], ['Source run', runLink(v.run_id)], ['Created', fmtTime(v.creation_timestamp)],
      ['Description', v.description || '']].map(([k, x]) => [h('dt', {}, k), h('dd', {}, x)])),
    h('h2', {}, 'Signature'), sig);
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
