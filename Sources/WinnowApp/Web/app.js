'use strict';
// Winnow's local app: summary, image grid, clusters, scatter map, neighbours, keep/remove marks.
// Data comes from the server's /api endpoints; nothing is sent anywhere else. The server filters,
// sorts and pages the samples: the page holds the samples it shows, never the whole dataset.

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf',
  '#bcbd22', '#393b79', '#ad494a', '#637939', '#843c39', '#7b4173', '#3182bd', '#e6550d', '#31a354', '#756bb1',
  '#636363', '#fd8d3c'];
const NONE_COLOUR = '#b8b8b8';
// Shown for images the catalog does not locate.
const NO_PREVIEW = 'data:image/svg+xml,' + encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="90">' +
  '<rect width="120" height="90" fill="#ddd"/><text x="60" y="50" font-size="11" text-anchor="middle" fill="#666">no preview</text></svg>');
const WRONG_LABEL = 'likely_wrong_label';
// The sort options the label scores add (/api/samples sort keys), when some image has the score.
const LABEL_SORTS = [['wrongLabelScore', 'wrong-label score'], ['knnDisagreement', 'neighbour label disagreement'],
  ['mistakenness', 'mistakenness'], ['hardness', 'hardness']];
// Groups a page of the clusters view lists (/api/components).
const CLUSTER_PAGE = 40;
// The most rows /api/samples gives at once (a page of the grid, a group's members fetched whole).
const MAX_LIMIT = 1000;

const state = {
  summary: null, page: 0, pageSize: 120, total: 0, gridRequest: 0,
  clustersTotal: null, clusterShown: 0, selected: null, selectedRow: null, neighbors: [], view: 'summary', map: null,
};
window.winnow = { ready: {}, mapPoint: null, selected: () => state.selected };

function setStatus(text) { document.getElementById('status').textContent = text; }
function showError(error) { console.error(error); setStatus(String(error.message || error)); }

async function api(path, options) {
  const response = await fetch(path, options);
  if (!response.ok) throw new Error(path + ': ' + response.status + ' ' + (await response.text()).trim());
  return response.json();
}

// `params` (name → value; empty values left out) as a query string.
function query(params) {
  return Object.entries(params).filter(([, v]) => v !== '' && v != null)
    .map(([k, v]) => k + '=' + encodeURIComponent(v)).join('&');
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'style') node.style.cssText = value;  // CSSOM: allowed by the page's CSP
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function fmt(value, digits) { return value == null ? '–' : Number(value).toFixed(digits === undefined ? 3 : digits); }

// A sample as /api/samples lists it: { index, filename, issues, label, split, mark, hasPreview, labelScores, … }.
function suggestedOf(sample) { return (sample.labelScores && sample.labelScores.suggestedLabel) || ''; }
function wrongScoreOf(sample) { return sample.labelScores ? sample.labelScores.wrongLabelScore : null; }
function thumbOf(sample) { return sample.hasPreview ? '/thumb/' + sample.index : NO_PREVIEW; }
// Links to the galleries of this work_dir (winnow gallery) among `names`.
function galleryLinks(names) {
  const present = names.filter(name => state.summary.galleries.includes(name));
  return present.length ? el('span', { class: 'gallery-links' }, 'galleries: ', ...present.map(name =>
    el('a', { href: '/files/galleries/' + encodeURIComponent(name) + '.html', class: 'gallery-link', target: '_blank', text: name + ' ' }))) : null;
}

// ---------- loading and routing ----------

async function load() {
  setStatus('loading…');
  state.summary = await api('/api/summary');
  setStatus('');
  fillFilters();
  window.addEventListener('hashchange', route);
  await route();
}

function parseHash() {
  const [view, query] = location.hash.replace(/^#/, '').split('?');
  return { view: view || 'summary', params: new URLSearchParams(query || '') };
}

async function route() {
  const { view, params } = parseHash();
  state.view = ['summary', 'grid', 'clusters', 'map'].includes(view) ? view : 'summary';
  document.body.classList.toggle('view-map', state.view === 'map');  // the map keeps room for the detail panel
  for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== 'view-' + state.view;
  for (const link of document.querySelectorAll('header nav a')) link.classList.toggle('active', link.dataset.view === state.view);
  try {
    if (state.view === 'summary') renderSummary();
    if (state.view === 'grid') { if (applyParams(params)) state.page = 0; await loadGrid(); }
    if (state.view === 'clusters') await renderClusters();
    if (state.view === 'map') await showMap(params.get('key'));
    window.winnow.ready[state.view] = true;
  } catch (error) {
    showError(error);
  }
}

// ---------- summary ----------

function table(rows) {
  return el('table', {}, ...rows.map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', { class: 'n' }, v))));
}

function renderSummary() {
  const s = state.summary, root = document.getElementById('view-summary');
  root.replaceChildren();
  const boxes = el('div', { class: 'summary-grid' });
  boxes.append(el('div', { class: 'box', id: 'summary-counts' }, el('h2', { text: 'Dataset' }), table([
    ['work_dir', s.workDirectory], ['decoded images', String(s.images)], ['unusable files', String(s.invalid.length)],
    ['duplicate groups', String(s.components)], ['images in groups', String(s.imagesInComponents)],
  ])));
  const issueRows = s.issueOrder.filter(name => s.issueCounts[name]).map(name =>
    [el('a', { href: '#grid?issue=' + encodeURIComponent(name), text: name }), String(s.issueCounts[name])]);
  boxes.append(el('div', { class: 'box' }, el('h2', { text: 'Issues' }),
    issueRows.length ? table(issueRows) : el('p', { text: 'none found' })));
  const labels = Object.entries(s.labels).sort((a, b) => b[1] - a[1]);
  if (labels.length) boxes.append(el('div', { class: 'box', id: 'summary-labels' },
    el('h2', { text: s.labelSource === 'annotations' ? 'Labels (annotations)' : 'Labels (folders)' }),
    table(labels.map(([name, n]) => [el('a', { href: '#grid?label=' + encodeURIComponent(name), text: name }), String(n)])),
    s.labelSource === 'annotations' ? el('p', {},
      el('a', { href: '#grid?issue=' + WRONG_LABEL + '&sort=wrongLabelScore-desc', id: 'wrong-label-link',
                text: s.likelyWrongLabels + ' likely wrong labels' }), ' (most likely first)') : null,
    s.labelFiles.length ? el('p', {}, 'files: ', ...s.labelFiles.map(name =>
      el('a', { href: '/files/' + encodeURIComponent(name), text: name + ' ' }))) : null,
    galleryLinks(['labels'])));
  const splits = Object.entries(s.splits);
  if (splits.length) boxes.append(el('div', { class: 'box' }, el('h2', { text: 'Splits' }), table(splits.map(([name, n]) =>
    [el('a', { href: '#grid?split=' + encodeURIComponent(name), text: name }), String(n)]))));
  boxes.append(el('div', { class: 'box' }, el('h2', { text: 'Maps and galleries' }),
    s.maps.length ? el('p', {}, 'maps: ', ...s.maps.map(key => el('a', { href: '#map?key=' + encodeURIComponent(key), text: key + ' ' })))
      : el('p', { text: 'no maps yet (winnow visualize WORK_DIR --method umap)' }),
    s.galleries.length ? el('p', {}, galleryLinks(s.galleries))
      : el('p', { text: 'no galleries yet (winnow gallery WORK_DIR --kind duplicates)' })));
  const marks = s.marks;
  boxes.append(el('div', { class: 'box', id: 'summary-marks' }, el('h2', { text: 'Review marks' }),
    table([['keep', String(marks.keep || 0)], ['remove', String(marks.remove || 0)]]),
    el('p', {}, el('a', { href: '/api/marks.csv', text: 'download review_marks.csv' })),
    el('p', {}, 'then: ', el('code', { text: 'winnow clean WORK_DIR --marks WORK_DIR/review_marks.csv' }))));
  if (s.invalid.length) boxes.append(el('div', { class: 'box' }, el('h2', { text: 'Unusable files' }),
    table(s.invalid.slice(0, 50).map(f => [f.filename, f.errorCode + ': ' + f.reason]))));
  root.append(boxes);
  if (s.hasRunSummary) {
    const run = el('div', { class: 'box', id: 'run-summary' }, el('h2', { text: 'Run summary (summary.json)' }));
    root.append(el('p'), run);
    api('/files/summary.json').then(json => {
      const rows = [];
      const walk = (prefix, value) => {
        if (value && typeof value === 'object' && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) walk(prefix ? prefix + '.' + k : k, v);
        else rows.push([prefix, Array.isArray(value) ? JSON.stringify(value) : String(value)]);
      };
      walk('', json);
      run.append(table(rows));
    }).catch(showError);
  }
}

// ---------- grid ----------

function option(value, text) { return el('option', { value, text }); }

// The filter and sort choices the summary lists (issues, labels, splits, clusters, sort keys with values).
function fillFilters() {
  const s = state.summary;
  const issue = document.getElementById('f-issue');
  issue.append(option('', 'any'), option('any', 'any issue'), option('none', 'no issue'),
    ...s.issueOrder.filter(name => s.issueCounts[name]).map(name => option(name, name + ' (' + s.issueCounts[name] + ')')));
  document.getElementById('f-label').append(option('', 'any'), ...Object.keys(s.labels).sort().map(n => option(n, n)));
  const sort = document.getElementById('f-sort');
  for (const [key, text] of LABEL_SORTS) if (s.sortKeys.includes(key)) sort.append(option(key + '-desc', text + ' (highest first)'));
  if (s.labelSource === 'annotations') document.querySelector('#m-colour option[value="wrong"]').hidden = false;
  document.getElementById('f-split').append(option('', 'any'), ...Object.keys(s.splits).sort().map(n => option(n, n)));
  document.getElementById('f-cluster').append(option('', 'any'), ...s.clusters.map(c => option(String(c), 'k-means ' + c)));
  const reload = () => { state.page = 0; loadGrid().catch(showError); };
  for (const id of ['f-issue', 'f-label', 'f-split', 'f-cluster', 'f-mark', 'f-sort', 'f-size']) {
    document.getElementById(id).addEventListener('change', reload);
  }
  for (const id of ['f-component', 'f-text']) document.getElementById(id).addEventListener('input', reload);
  document.getElementById('prev').addEventListener('click', () => {
    if (state.page > 0) { state.page--; loadGrid().catch(showError); }
  });
  document.getElementById('next').addEventListener('click', () => {
    if ((state.page + 1) * state.pageSize < state.total) { state.page++; loadGrid().catch(showError); }
  });
}

// Sets the grid's controls named in the address (#grid?issue=…); returns whether it named any.
function applyParams(params) {
  let named = false;
  for (const [name, id] of [['issue', 'f-issue'], ['label', 'f-label'], ['split', 'f-split'], ['cluster', 'f-cluster'],
    ['component', 'f-component'], ['sort', 'f-sort'], ['mark', 'f-mark'], ['name', 'f-text'], ['size', 'f-size']]) {
    if (params.has(name)) { document.getElementById(id).value = params.get(name); named = true; }
  }
  return named;
}

// The grid's filters and sort as /api/samples parameters; a sort choice is 'KEY' or 'KEY-desc'.
function gridParams() {
  const value = id => document.getElementById(id).value;
  const [sort, order] = value('f-sort').split('-');
  return { issue: value('f-issue'), label: value('f-label'), split: value('f-split'), cluster: value('f-cluster'),
    component: value('f-component').trim(), mark: value('f-mark'), name: value('f-text').trim(), sort, order: order || 'asc' };
}

// Fetches and shows the grid's page for the current filters; an answer overtaken by a later request is dropped.
async function loadGrid() {
  const sizeInput = document.getElementById('f-size'), size = Math.round(Number(sizeInput.value));
  state.pageSize = size >= 1 && size <= MAX_LIMIT ? size : 120;
  sizeInput.value = String(state.pageSize);
  const filters = query(gridParams()), request = ++state.gridRequest;
  const page = await api('/api/samples?' + query({ ...gridParams(), offset: state.page * state.pageSize, limit: state.pageSize }));
  if (request !== state.gridRequest) return;
  state.total = page.total;
  const grid = document.getElementById('grid');
  grid.replaceChildren(...page.rows.map(card));
  window.scrollTo(0, 0);
  document.getElementById('grid-count').textContent = page.total + ' of ' + state.summary.images + ' images';
  const pages = Math.max(1, Math.ceil(page.total / state.pageSize));
  document.getElementById('page').textContent = 'page ' + (state.page + 1) + ' / ' + pages;
  // The galleries that show the chosen issue.
  const issue = document.getElementById('f-issue').value;
  const galleries = { duplicate: ['duplicates', 'components'], near_duplicate: ['duplicates', 'similarity'], outlier: ['outliers'],
    blurry: ['stats_blur'], dark: ['stats_dark'], bright: ['stats_bright'], [WRONG_LABEL]: ['labels'] }[issue] || [];
  document.getElementById('grid-galleries').replaceChildren(galleryLinks(galleries) || '');
  // For tests and scripts: what the grid shows (filters, page, total) and the number of the request it answers.
  Object.assign(grid.dataset, { query: filters, page: String(state.page), total: String(page.total), request: String(request) });
}

function card(sample) {
  const badges = sample.issues.map(name => el('span', { class: 'badge issue', text: name }));
  if (sample.label) badges.push(el('span', { class: 'badge label', text: sample.label }));
  const score = wrongScoreOf(sample);
  if (score != null && (sample.issues.includes(WRONG_LABEL) || suggestedOf(sample) !== sample.label)) {
    badges.push(el('span', { class: 'badge suggested', title: 'wrong-label score ' + fmt(score),
                             text: '→ ' + suggestedOf(sample) + ' ' + fmt(score, 2) }));
  }
  const node = el('div', { class: 'card ' + (sample.mark || ''), dataset: { index: String(sample.index) }, title: sample.filename },
    el('img', { src: thumbOf(sample), loading: 'lazy', alt: sample.filename }),
    el('div', { class: 'name', text: sample.filename.split('/').pop() }),
    el('div', {}, ...badges));
  node.addEventListener('click', () => select(sample.index).catch(showError));
  return node;
}

// Every sample /api/samples gives for `params`, fetched a page at a time.
async function allSamples(params) {
  const samples = [];
  for (let total = Infinity; samples.length < total;) {
    const page = await api('/api/samples?' + query({ ...params, offset: samples.length, limit: MAX_LIMIT }));
    if (!page.rows.length) break;
    samples.push(...page.rows);
    total = page.total;
  }
  return samples;
}

// ---------- clusters ----------

async function renderClusters() {
  if (state.clustersTotal === null) {
    state.clusterShown = 0;
    document.getElementById('clusters').replaceChildren();
    document.getElementById('more-clusters').addEventListener('click', () => moreClusters().catch(showError));
    document.getElementById('cluster-galleries').replaceChildren(galleryLinks(['duplicates', 'components']) || '');
    await moreClusters();
    if (!state.clustersTotal) document.getElementById('clusters').append(el('p', { text: 'No duplicate groups in this work_dir.' }));
  }
}

// Appends the next page of groups (largest first).
async function moreClusters() {
  const root = document.getElementById('clusters');
  const page = await api('/api/components?' + query({ offset: state.clusterShown, limit: CLUSTER_PAGE }));
  for (const group of page.rows) {
    const keepBest = () => {
      // Every member counts, also those beyond the ones listed with the group.
      const members = group.members.length < group.size ? allSamples({ component: group.id }) : Promise.resolve(group.members);
      members.then(members => {
        const best = members.reduce((a, b) => b.width * b.height > a.width * a.height ? b : a);
        return setMarks([best.index], 'keep').then(() => setMarks(members.filter(m => m !== best).map(m => m.index), 'remove'));
      }).catch(showError);
    };
    const shown = group.members.length < group.size ? ' (first ' + group.members.length + ' shown)' : '';
    root.append(el('div', { class: 'cluster', dataset: { component: String(group.id) } },
      el('div', {}, el('b', { text: 'component ' + group.id }), ' — ' + group.size + ' images' + shown + ' ',
        el('button', { type: 'button', onclick: keepBest, text: 'keep best, remove others' }), ' ',
        el('a', { href: '#grid?component=' + group.id, text: 'show in grid' })),
      el('div', { class: 'members' }, ...group.members.map(card))));
  }
  state.clustersTotal = page.total;
  state.clusterShown += page.rows.length;
  document.getElementById('more-clusters').hidden = state.clusterShown >= page.total;
}

// ---------- marks ----------

async function setMarks(indices, mark) {
  if (!indices.length) return;
  await api('/api/marks', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ indices, mark }) });
  for (const index of indices) {
    for (const node of document.querySelectorAll('.card[data-index="' + index + '"]')) {
      node.classList.remove('keep', 'remove');
      if (mark !== 'none') node.classList.add(mark);
    }
  }
  if (state.selectedRow && indices.includes(state.selectedRow.index)) {
    state.selectedRow.mark = mark === 'none' ? undefined : mark;
    showMarkButtons();
  }
  state.summary.marks = (await api('/api/summary')).marks;
  setStatus(indices.length + ' marked ' + mark);
}

// Records that two images are not copies (a decision every later `winnow run` applies).
async function markNotCopy(a, b, node) {
  const answer = await api('/api/decisions', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                                body: JSON.stringify({ kind: 'not_copy', indices: [a, b] }) });
  node.classList.add('marked-not-copy');
  setStatus(a + ' and ' + b + ': not a copy (decision ' + answer.number + '; applies from the next run, winnow marks lists it)');
}

// ---------- detail and neighbours ----------

function showMarkButtons() {
  const mark = (state.selectedRow && state.selectedRow.mark) || 'none';
  for (const button of document.querySelectorAll('#detail .marks button')) button.classList.toggle('on', button.dataset.mark === mark);
}

// The detail table of a sample.
function details(sample) {
  const rows = [
    ['index', String(sample.index)], ['file', sample.filename], ['size', sample.width + ' × ' + sample.height],
    ['issues', sample.issues.join(', ') || 'none'], ['label', sample.label || '–'], ['split', sample.split || '–'],
    ['uniqueness', fmt(sample.uniqueness)], ['nearest similarity', fmt(sample.nearestSimilarity)],
    ['component', sample.component == null ? '–' : sample.component + ' (' + sample.componentSize + ' images)'],
  ];
  if (state.summary.labelSource === 'annotations') {
    const scores = sample.labelScores || {};
    rows.push(['wrong-label score', fmt(scores.wrongLabelScore)], ['suggested label', suggestedOf(sample) || '–'],
      ['neighbour label disagreement', fmt(scores.knnDisagreement)]);
    if (scores.mistakenness != null) rows.push(['mistakenness', fmt(scores.mistakenness)]);
    if (scores.hardness != null) rows.push(['hardness', fmt(scores.hardness)]);
  }
  return table(rows);
}

// Opens the detail panel on a sample (fetched, so that its mark is the current one) and lists its neighbours.
async function select(index) {
  state.selected = index;
  const list = document.getElementById('d-neighbors');
  list.dataset.for = '';
  const sample = await api('/api/samples/' + index);
  if (state.selected !== index) return;
  state.selectedRow = sample;
  document.body.classList.add('detail-open');
  const panel = document.getElementById('detail');
  panel.hidden = false;
  panel.dataset.index = String(index);
  document.getElementById('d-image').src = sample.hasPreview ? '/image/' + index : NO_PREVIEW;
  document.getElementById('d-info').replaceChildren(details(sample));
  showMarkButtons();
  for (const node of document.querySelectorAll('.card.selected')) node.classList.remove('selected');
  for (const node of document.querySelectorAll('.card[data-index="' + index + '"]')) node.classList.add('selected');
  list.replaceChildren(el('p', { class: 'hint', text: 'loading…' }));
  const answer = await api('/api/neighbors/' + index + '?k=12');
  if (state.selected !== index) return;
  state.neighbors = answer.neighbors.map(n => n.index);
  document.getElementById('d-source').textContent = '(' + answer.source + ')';
  list.replaceChildren(...(answer.neighbors.length ? answer.neighbors.map(n => neighbor(index, n))
    : [el('p', { class: 'hint', text: 'no neighbours known' })]));
  list.dataset.for = String(index);
  if (state.map) state.map.draw();
}

// A neighbour of sample `index` in the detail panel, with its "not a copy" button.
function neighbor(index, n) {
  const notCopy = el('button', { type: 'button', class: 'not-copy', title: 'these two are not copies (applies from the next run)',
                                 text: 'not a copy' });
  const node = el('div', { class: 'neighbor', dataset: { index: String(n.index) }, title: n.filename },
    el('img', { src: thumbOf(n), loading: 'lazy', alt: n.filename }), fmt(n.similarity), notCopy);
  notCopy.addEventListener('click', event => {
    event.stopPropagation();
    markNotCopy(index, n.index, node).catch(showError);
  });
  node.addEventListener('click', () => select(n.index).catch(showError));
  return node;
}

document.getElementById('d-close').addEventListener('click', () => {
  document.getElementById('detail').hidden = true;
  document.body.classList.remove('detail-open');
  state.selected = null;
  state.selectedRow = null;
  state.neighbors = [];
  if (state.map) { state.map.resize(); state.map.draw(); }
});
for (const button of document.querySelectorAll('#detail .marks button')) {
  button.addEventListener('click', () => {
    if (state.selected !== null) setMarks([state.selected], button.dataset.mark).catch(showError);
  });
}

// ---------- scatter map ----------

class ScatterMap {
  constructor(canvas, points) {
    this.canvas = canvas;
    this.points = points;
    this.xs = Float32Array.from(points.x);
    this.ys = Float32Array.from(points.y);
    this.colours = new Uint32Array(points.index.length);
    this.buildGrid();
    this.resetView();
    this.resize();
    this.attach();
  }

  // Data bounds and a uniform grid of point ids for hit-testing (counting sort into cells).
  buildGrid() {
    const { x, y } = this.points, n = x.length;
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      if (x[i] < minX) minX = x[i]; if (x[i] > maxX) maxX = x[i];
      if (y[i] < minY) minY = y[i]; if (y[i] > maxY) maxY = y[i];
    }
    if (!n) { minX = minY = 0; maxX = maxY = 1; }
    const pad = 1e-9;
    this.bounds = { minX, maxX: maxX + pad, minY, maxY: maxY + pad };
    const cells = this.cells = Math.max(1, Math.min(512, Math.ceil(Math.sqrt(n / 4))));
    const cellOf = new Int32Array(n), counts = new Int32Array(cells * cells + 1);
    for (let i = 0; i < n; i++) {
      const cx = Math.min(cells - 1, Math.floor((x[i] - minX) / (this.bounds.maxX - minX) * cells));
      const cy = Math.min(cells - 1, Math.floor((y[i] - minY) / (this.bounds.maxY - minY) * cells));
      cellOf[i] = cy * cells + cx;
      counts[cellOf[i] + 1]++;
    }
    for (let c = 0; c < cells * cells; c++) counts[c + 1] += counts[c];
    this.cellStart = counts;
    this.cellItems = new Int32Array(n);
    const fill = counts.slice(0, cells * cells);
    for (let i = 0; i < n; i++) this.cellItems[fill[cellOf[i]]++] = i;
  }

  resetView() { this.zoom = 1; this.panX = 0; this.panY = 0; }

  resize() {
    const ratio = window.devicePixelRatio || 1, rect = this.canvas.getBoundingClientRect();
    this.canvas.width = Math.max(1, Math.round(rect.width * ratio));
    this.canvas.height = Math.max(1, Math.round(rect.height * ratio));
    this.ratio = ratio;
    const margin = 12 * ratio, b = this.bounds;
    this.baseScale = Math.min((this.canvas.width - 2 * margin) / (b.maxX - b.minX), (this.canvas.height - 2 * margin) / (b.maxY - b.minY));
    this.margin = margin;
  }

  // Data → canvas pixels (y up).
  toPixel(i) {
    const b = this.bounds, s = this.baseScale * this.zoom;
    const cx = this.canvas.width / 2, cy = this.canvas.height / 2;
    const mx = (b.minX + b.maxX) / 2, my = (b.minY + b.maxY) / 2;
    return [cx + (this.points.x[i] - mx) * s + this.panX, cy - (this.points.y[i] - my) * s + this.panY];
  }

  toData(px, py) {
    const b = this.bounds, s = this.baseScale * this.zoom;
    const mx = (b.minX + b.maxX) / 2, my = (b.minY + b.maxY) / 2;
    return [(px - this.canvas.width / 2 - this.panX) / s + mx, -(py - this.canvas.height / 2 - this.panY) / s + my];
  }

  setColours(mode) {
    // The server's groups of the points for this mode (label, issue, split, cluster, wrong): a code per point.
    const group = (this.points.colours || {})[mode] || { names: [], codes: [] }, n = this.xs.length, keys = new Array(n);
    for (let i = 0; i < n; i++) keys[i] = group.codes[i] >= 0 ? group.names[group.codes[i]] : '';
    const counts = new Map();
    for (const key of keys) if (key) counts.set(key, (counts.get(key) || 0) + 1);
    const order = [...counts.keys()].sort((a, b) => counts.get(b) - counts.get(a));
    const colourOf = new Map(order.map((key, i) => [key, i < PALETTE.length ? PALETTE[i] : NONE_COLOUR]));
    const packed = hex => { const v = parseInt(hex.slice(1), 16); return (255 << 24) | ((v & 255) << 16) | (v & 0xff00) | (v >> 16); };
    for (let i = 0; i < n; i++) this.colours[i] = packed(keys[i] ? colourOf.get(keys[i]) : NONE_COLOUR);
    const legend = document.getElementById('m-legend');
    legend.replaceChildren(...order.slice(0, PALETTE.length).map(key =>
      el('span', {}, el('i', { style: 'background:' + colourOf.get(key) }), key + ' (' + counts.get(key) + ')')),
      el('span', {}, el('i', { style: 'background:' + NONE_COLOUR }), mode === 'issue' ? 'no issue / other' : 'none / other'));
  }

  draw() {
    const ctx = this.canvas.getContext('2d'), w = this.canvas.width, h = this.canvas.height;
    if (!this.image || this.image.width !== w || this.image.height !== h) {
      this.image = ctx.createImageData(w, h);
      this.pixels = new Uint32Array(this.image.data.buffer);
    }
    const image = this.image, pixels = this.pixels;
    pixels.fill(0);
    // Inlined toPixel: px = ax + x·s, py = ay − y·s.
    const b = this.bounds, s = this.baseScale * this.zoom;
    const ax = w / 2 + this.panX - (b.minX + b.maxX) / 2 * s, ay = h / 2 + this.panY + (b.minY + b.maxY) / 2 * s;
    const size = Math.max(3, Math.round(3 * this.ratio)), half = size >> 1, n = this.xs.length;
    const xs = this.xs, ys = this.ys, colours = this.colours;
    for (let i = 0; i < n; i++) {
      const x0 = Math.round(ax + xs[i] * s) - half, y0 = Math.round(ay - ys[i] * s) - half;
      if (x0 < 0 || y0 < 0 || x0 + size > w || y0 + size > h) continue;
      const colour = colours[i];
      let offset = y0 * w + x0;
      for (let dy = 0; dy < size; dy++, offset += w) for (let dx = 0; dx < size; dx++) pixels[offset + dx] = colour;
    }
    ctx.putImageData(image, 0, 0);
    const ring = (index, colour, radius) => {
      const i = this.idOf.get(index);
      if (i === undefined) return;
      const [px, py] = this.toPixel(i);
      ctx.beginPath(); ctx.arc(px, py, radius * this.ratio, 0, 2 * Math.PI);
      ctx.strokeStyle = colour; ctx.lineWidth = 2 * this.ratio; ctx.stroke();
    };
    for (const index of state.neighbors) ring(index, '#f90', 5);
    if (state.selected !== null) ring(state.selected, '#000', 8);
  }

  get idOf() {
    if (!this._idOf) this._idOf = new Map(Array.from(this.points.index, (index, i) => [index, i]));
    return this._idOf;
  }

  // Nearest point within `radius` canvas pixels of (px, py), via the grid.
  pick(px, py, radius) {
    const [dx, dy] = this.toData(px, py), b = this.bounds, s = this.baseScale * this.zoom, r = radius / s;
    const cells = this.cells, cw = (b.maxX - b.minX) / cells, ch = (b.maxY - b.minY) / cells;
    const x0 = Math.max(0, Math.floor((dx - r - b.minX) / cw)), x1 = Math.min(cells - 1, Math.floor((dx + r - b.minX) / cw));
    const y0 = Math.max(0, Math.floor((dy - r - b.minY) / ch)), y1 = Math.min(cells - 1, Math.floor((dy + r - b.minY) / ch));
    let best = -1, bestDistance = r * r;
    for (let cy = y0; cy <= y1; cy++) for (let cx = x0; cx <= x1; cx++) {
      const c = cy * cells + cx;
      for (let k = this.cellStart[c]; k < this.cellStart[c + 1]; k++) {
        const i = this.cellItems[k], ex = this.points.x[i] - dx, ey = this.points.y[i] - dy, d = ex * ex + ey * ey;
        if (d <= bestDistance) { bestDistance = d; best = i; }
      }
    }
    return best;
  }

  attach() {
    let drag = null, frame = 0;
    const redraw = () => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; this.draw(); }); };
    const local = event => {
      const rect = this.canvas.getBoundingClientRect();
      return [(event.clientX - rect.left) * this.ratio, (event.clientY - rect.top) * this.ratio];
    };
    this.canvas.addEventListener('mousedown', event => { drag = { x: event.clientX, y: event.clientY, moved: false }; });
    window.addEventListener('mousemove', event => {
      if (!drag) return;
      const mx = event.clientX - drag.x, my = event.clientY - drag.y;
      if (Math.abs(mx) + Math.abs(my) > 3) drag.moved = true;
      if (drag.moved) { this.panX += mx * this.ratio; this.panY += my * this.ratio; drag.x = event.clientX; drag.y = event.clientY; redraw(); }
    });
    window.addEventListener('mouseup', event => {
      if (!drag) return;
      const moved = drag.moved;
      drag = null;
      if (moved || event.target !== this.canvas) return;
      const [px, py] = local(event), i = this.pick(px, py, 8 * this.ratio);
      if (i >= 0) select(this.points.index[i]).catch(showError);
    });
    this.canvas.addEventListener('wheel', event => {
      event.preventDefault();
      const [px, py] = local(event), factor = Math.exp(-event.deltaY * 0.0015);
      const cx = this.canvas.width / 2, cy = this.canvas.height / 2;
      this.panX = (this.panX - (px - cx)) * factor + (px - cx);
      this.panY = (this.panY - (py - cy)) * factor + (py - cy);
      this.zoom *= factor;
      redraw();
    }, { passive: false });
    window.addEventListener('resize', () => { this.resize(); redraw(); });
  }
}

async function showMap(requested) {
  const select = document.getElementById('m-key'), info = document.getElementById('m-info');
  const maps = state.summary.maps;
  if (!maps.length) {
    info.textContent = 'No maps in this work_dir: run  winnow visualize WORK_DIR --method umap';
    window.winnow.mapPoint = null;
    return;
  }
  if (!select.options.length) {
    select.append(...maps.map(key => option(key, key)));
    select.addEventListener('change', () => { location.hash = '#map?key=' + encodeURIComponent(select.value); });
    document.getElementById('m-colour').addEventListener('change', event => { state.map.setColours(event.target.value); state.map.draw(); });
    document.getElementById('m-reset').addEventListener('click', () => { state.map.resetView(); state.map.draw(); });
    const hasLabels = Object.keys(state.summary.labels).length > 0;
    if (!hasLabels) document.getElementById('m-colour').value = 'issue';
  }
  const key = requested && maps.includes(requested) ? requested : (state.map ? state.map.points.key : maps[0]);
  select.value = key;
  if (!state.map || state.map.points.key !== key) {
    setStatus('loading map ' + key + '…');
    const points = await api('/api/maps/' + encodeURIComponent(key));
    state.map = new ScatterMap(document.getElementById('map'), points);
    setStatus('');
    info.textContent = points.index.length + ' points' + (points.method ? ' (' + points.method + ')' : '') +
      (points.skipped ? ', ' + points.skipped + ' rows skipped' : '') + ' — drag to pan, wheel to zoom, click a point';
  } else {
    state.map.resize();
  }
  state.map.setColours(document.getElementById('m-colour').value);
  state.map.draw();
  // For tests and scripts: where a sample's point is on the page (CSS pixels), or null.
  window.winnow.mapPoint = index => {
    const map = state.map, i = map.idOf.get(index);
    if (i === undefined) return null;
    const [px, py] = map.toPixel(i), rect = map.canvas.getBoundingClientRect();
    return { x: rect.left + px / map.ratio, y: rect.top + py / map.ratio };
  };
}

load().catch(showError);
