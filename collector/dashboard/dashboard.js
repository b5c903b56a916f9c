// injector dashboard: GET /v1/alerts (the table) and /v1/history (the collector's last hour),
// POST /v1/ack and /v1/unack. Every value comes from the network, so text goes in with
// textContent and links are built as <a> nodes, never as HTML; the charts are SVG elements
// made with DOM calls (no library: four step charts are less code than a vendored one).
'use strict';

const MAX_SHOWN = 2000; // a phone stays responsive; the filter finds the rest
const LABELS = [
  ['host', 'Host'], ['component', 'Component'], ['severity', 'Severity'],
  ['msg', 'Message'], ['longmsg', 'Details'], ['contact', 'Contact'], ['owner', 'Owner'],
  ['ticket', 'Ticket'], ['flavor', 'Flavor'], ['origin', 'Origin'],
  ['issue_num', 'Issue number'], ['item_num', 'Item number'], ['count', 'Count'],
  ['increment', 'Count adds up on each update'], ['start_time', 'Problem started'],
  ['autoclear', 'Clears itself'], ['ttl', 'Expires unless refreshed within'],
  ['first_seen', 'First seen'], ['last_seen', 'Last refreshed'], ['sender', 'Last sent from'],
  ['seq', 'Sender sequence number'], ['version', 'Change number'],
];
const SVG = 'http://www.w3.org/2000/svg';
// The charts, from /v1/history's series; classes c0..c8 give each line its colour (CSS).
// The outcomes are the keys of series.changes, as the collector lists them: a colour for
// those known here (a clear green, a raise red), the spare colours in turn for any other,
// so a new outcome shows up in the chart and its legend without a change to the page.
const OUTCOME_COLOURS = {raise: 'c2', update: 'c1', clear: 'c4', expire: 'c3', ack: 'c0', unack: 'c5'};
const SPARE_COLOURS = ['c6', 'c7', 'c8'];
function outcomeSeries(s) {
  const changes = s.changes && typeof s.changes === 'object' ? s.changes : {};
  let spare = 0;
  return Object.keys(changes).map((o) => ({label: o, get: (x) => x.changes[o],
    cls: OUTCOME_COLOURS[o] || SPARE_COLOURS[spare++ % SPARE_COLOURS.length]}));
}
const CHARTS = [
  {title: 'Datagrams received', unit: '/s', series: [
    {label: 'datagrams', get: (s) => s.datagrams},
    {label: 'of which duplicates', dash: true, get: (s) => s.duplicates}]}, // dashed: the total shows through
  {title: 'Changes forwarded', unit: '/s', stack: true, series: outcomeSeries},
  {title: 'Dropped, refused, lost', unit: '/s', loss: true, series: [
    {label: 'kernel drops', cls: 'c2', get: (s) => s.kernel_drops},
    {label: 'refused', cls: 'c1', get: (s) => s.refused},
    {label: 'lost', cls: 'c3', get: (s) => s.lost}]},
  {title: 'Broker lag', unit: ' changes', gauge: true, series: [
    {label: 'changes not yet confirmed', get: (s) => s.lag_changes}],
  note: (s) => 'oldest waiting ' + fmt(peak(s.lag_seconds)) + ' s at most'},
];

const $ = (id) => document.getElementById(id);
let data = null;        // last good /v1/alerts document
let fetchedAt = null;   // when it came
let history = null;     // last good /v1/history document; null: none (yet)
let historyGone = false; // the collector has no /v1/history (404): stop asking
let inflight = null;     // the refresh on its way, if any
let timer = null;       // the next auto-refresh
let nextAt = 0;         // when it fires (ms), 0: auto-refresh off
let detailKey = null;   // [host, component] of the alert in the detail view
let detailVersion = null; // the alert's version its fields show
let detailAck = null;   // ackKey() of the ack it shows ('' none); null: the alert has gone
let failedTitle = false;

const store = {
  get(k) { try { return localStorage.getItem(k); } catch (e) { return null; } },
  set(k, v) { try { localStorage.setItem(k, v); } catch (e) { /* private mode: not kept */ } },
};

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

// Text with its http(s) URLs as links. A trailing full stop or bracket is the sentence's.
function linkify(text) {
  const frag = document.createDocumentFragment();
  const re = /https?:\/\/[^\s<>"'`]+/g;
  let last = 0;
  for (const m of String(text).matchAll(re)) {
    let u = m[0];
    while (/[.,;:!?'")\]}]$/.test(u) && !(u.endsWith(')') && u.includes('('))) u = u.slice(0, -1);
    let ok = false;
    try { ok = ['http:', 'https:'].includes(new URL(u).protocol); } catch (e) { ok = false; }
    if (!ok) continue;
    frag.append(document.createTextNode(String(text).slice(last, m.index)));
    const a = el('a', null, u);
    a.href = u;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    frag.append(a);
    last = m.index + u.length;
  }
  frag.append(document.createTextNode(String(text).slice(last)));
  return frag;
}

function sevClass(s) {
  if (typeof s !== 'number') return 'snone';
  return 's' + Math.min(6, Math.max(1, s));
}

function sevKey(a) {
  return typeof a.severity === 'number' ? a.severity : Number.MAX_SAFE_INTEGER;
}

function sevName(s) {
  return s === undefined || s === null ? '–' : String(s);
}

function clock(d) {
  return d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: '2-digit'});
}

// A time on a chart's axis; seconds too when the chart spans less than ten minutes.
function hm(unix, seconds) {
  const o = {hour: '2-digit', minute: '2-digit'};
  if (seconds) o.second = '2-digit';
  return new Date(unix * 1000).toLocaleTimeString([], o);
}

function agoSeconds(s) {
  if (s < 90) return Math.round(s) + ' s';
  if (s < 5400) return Math.round(s / 60) + ' min';
  if (s < 172800) return Math.round(s / 3600) + ' h';
  return Math.round(s / 86400) + ' d';
}

function ago(iso) {
  const t = Date.parse(iso);
  if (isNaN(t)) return '';
  return agoSeconds(Math.max(0, (Date.now() - t) / 1000));
}

function when(ms) {
  const d = new Date(ms);
  if (isNaN(d)) return String(ms);
  const s = (Date.now() - d) / 1000;
  return d.toLocaleString() + (s >= -1 ? ' (' + agoSeconds(Math.max(0, s)) + ' ago)' : ' (in ' + agoSeconds(-s) + ')');
}

function human(key, v) {
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (key === 'start_time' && typeof v === 'number') return when(v);
  if ((key === 'first_seen' || key === 'last_seen') && typeof v === 'string') return when(Date.parse(v));
  if (key === 'ttl' && typeof v === 'number') return v + ' s' + (v >= 120 ? ' (' + Math.round(v / 60) + ' min)' : '');
  if (key === 'severity' && typeof v === 'number') {
    return v + ' (' + (v <= 2 ? 'critical; ' : v <= 4 ? 'serious; ' : '') + '1 is the most severe)';
  }
  return String(v);
}

function plural(n, one, many) {
  return n + ' ' + (n === 1 ? one : many);
}

// ---- filtering -------------------------------------------------------------------------

// A severity condition: "=N" exactly N, "<=N" N or worse (1 is the most severe), "=none".
function sevPasses(a, cond) {
  if (!cond) return true;
  if (cond === '=none') return typeof a.severity !== 'number';
  const m = /^(=|<=)(\d+)$/.exec(cond);
  if (!m || typeof a.severity !== 'number') return false;
  return m[1] === '=' ? a.severity === Number(m[2]) : a.severity <= Number(m[2]);
}

// The filter box: words must all appear; "sev3" is severity 3 exactly, "sev<=3" 3 or worse.
function parseFilter(text) {
  const words = [];
  const sevs = [];
  for (const w of text.toLowerCase().split(/\s+/).filter(Boolean)) {
    const m = /^sev(<=|=)?(\d+)$/.exec(w);
    if (m) sevs.push((m[1] === '<=' ? '<=' : '=') + m[2]);
    else words.push(w);
  }
  return {words, sevs};
}

function matches(a, f, sel) {
  if (!sevPasses(a, sel) || !f.sevs.every((c) => sevPasses(a, c))) return false;
  if (f.words.length === 0) return true;
  const ack = a.ack ? [a.ack.author, a.ack.comment].join('\n') : '';
  const hay = [a.host, a.component, a.msg, a.longmsg, a.contact, a.owner, a.ticket, ack]
    .join('\n').toLowerCase();
  return f.words.every((w) => hay.includes(w));
}

// ---- the list --------------------------------------------------------------------------

function bySeverity(x, y) {
  return sevKey(x) - sevKey(y) || x.host.localeCompare(y.host) ||
    x.component.localeCompare(y.component);
}

function alertRow(a, withHost) {
  const b = el('button', 'alert' + (a.ack ? ' acked' : ''));
  b.type = 'button';
  const what = el('span', 'what');
  if (withHost) {
    const c = el('div', 'comp');
    c.append(el('span', 'hostname', a.host), document.createTextNode(' / '), el('span', null, a.component));
    what.append(c);
  } else {
    what.append(el('div', 'comp', a.component));
  }
  if (a.msg) what.append(el('div', 'msg', a.msg));
  if (a.ack) what.append(el('div', 'ackmark', '✓ acknowledged by ' + a.ack.author));
  const age = el('span', 'age', a.first_seen ? 'for ' + ago(a.first_seen) : '');
  if (a.first_seen) age.dataset.since = a.first_seen;
  b.append(el('span', 'sev ' + sevClass(a.severity), sevName(a.severity)), what, age);
  b.addEventListener('click', () => showDetail(a));
  return b;
}

function view() {
  return store.get('injector-view') === 'flat' ? 'flat' : 'host';
}

function render() {
  const main = $('alerts');
  main.replaceChildren();
  if (!data) return;
  const f = parseFilter($('filter').value);
  const sel = $('sev').value;
  const shown = data.alerts.filter((a) => matches(a, f, sel));
  const open = shown.filter((a) => !a.ack).sort(bySeverity);
  const acked = shown.filter((a) => a.ack).sort(bySeverity);
  let n = 0;
  if (view() === 'flat') {
    const sec = el('section', 'host flat');
    for (const a of open) {
      if (n++ >= MAX_SHOWN) break;
      sec.append(alertRow(a, true));
    }
    if (open.length) main.append(sec);
  } else {
    const hosts = new Map();
    for (const a of open) {
      if (!hosts.has(a.host)) hosts.set(a.host, []);
      hosts.get(a.host).push(a); // sorted already: the host's worst first
    }
    const groups = [...hosts.entries()].map(([host, list]) => ({host, list, worst: sevKey(list[0])}));
    groups.sort((x, y) => x.worst - y.worst || x.host.localeCompare(y.host));
    for (const g of groups) {
      if (n >= MAX_SHOWN) break;
      const sec = el('section', 'host');
      const h = el('h2');
      h.append(el('span', 'name', g.host), el('small', null, plural(g.list.length, 'alert', 'alerts')));
      sec.append(h);
      for (const a of g.list) {
        if (n++ >= MAX_SHOWN) break;
        sec.append(alertRow(a, false));
      }
      main.append(sec);
    }
  }
  // Acknowledged alerts: someone is on them; apart, below the rest, in both views.
  if (acked.length && n < MAX_SHOWN) {
    const sec = el('section', 'host ackgroup');
    const h = el('h2');
    h.append(el('span', 'name', 'Acknowledged'), el('small', null, plural(acked.length, 'alert', 'alerts')));
    sec.append(h);
    for (const a of acked) {
      if (n++ >= MAX_SHOWN) break;
      sec.append(alertRow(a, true));
    }
    main.append(sec);
  }
  if (shown.length === 0) {
    main.append(el('p', 'empty', data.alerts.length === 0 ? 'No active alerts.' : 'No alert matches the filter.'));
  } else if (shown.length > MAX_SHOWN) {
    main.append(el('p', 'empty', 'Showing the ' + MAX_SHOWN + ' most severe of ' + shown.length +
      '; narrow the filter to see the rest.'));
  }
  renderCounts(sel);
  status(summary(shown));
}

function updateAges() {
  for (const e of document.querySelectorAll('.age[data-since]')) e.textContent = 'for ' + ago(e.dataset.since);
}

// The per-severity counts of the whole table (a tap shows only that severity), the
// severity menu (its counts too), and the tab's title.
function renderCounts(sel) {
  const counts = new Map();
  for (const a of data.alerts) {
    const k = typeof a.severity === 'number' ? a.severity : 'none';
    counts.set(k, (counts.get(k) || 0) + 1);
  }
  const keys = [...counts.keys()].sort((x, y) => (x === 'none') - (y === 'none') || x - y);
  const bar = $('counts');
  bar.replaceChildren();
  for (const k of keys) {
    const cond = '=' + k;
    const b = el('button', 'chip');
    b.type = 'button';
    b.dataset.sev = String(k);
    b.setAttribute('aria-pressed', String(sel === cond));
    b.title = (k === 'none' ? 'no severity' : 'severity ' + k) + ': show only these';
    b.append(el('span', 'sev ' + sevClass(k === 'none' ? undefined : k), k === 'none' ? '–' : k),
      el('span', 'n', counts.get(k)));
    b.addEventListener('click', () => {
      $('sev').value = $('sev').value === cond ? '' : cond;
      render();
    });
    bar.append(b);
  }
  const menu = $('sev');
  const opts = [['', 'All severities']];
  let upTo = 0;
  for (const k of keys) {
    if (k === 'none') {
      opts.push(['=none', 'No severity only (' + counts.get(k) + ')']);
      continue;
    }
    opts.push(['=' + k, 'Severity ' + k + ' only (' + counts.get(k) + ')']);
    upTo += counts.get(k);
    if (k !== keys[0]) opts.push(['<=' + k, k + ' or worse (' + upTo + ')']);
  }
  if (sel && !opts.some(([v]) => v === sel)) {
    opts.push([sel, sel.startsWith('<=') ? sel.slice(2) + ' or worse (0)' : 'Severity ' + sel.slice(1) + ' only (0)']);
  }
  menu.replaceChildren(...opts.map(([v, t]) => {
    const o = el('option', null, t);
    o.value = v;
    return o;
  }));
  menu.value = sel;
  title();
}

function title() {
  let worst = null;
  let n = 0;
  let acked = 0;
  for (const a of data.alerts) {
    if (a.ack) { acked++; continue; }
    const k = sevKey(a);
    if (worst === null || k < worst) { worst = k; n = 0; }
    if (k === worst) n++;
  }
  let t;
  if (worst === null) t = acked ? 'all ' + acked + ' acked · injector' : 'no alerts · injector';
  else if (worst === Number.MAX_SAFE_INTEGER) t = '(' + n + ') · injector';
  else t = '(' + n + ') sev' + worst + ' · injector';
  document.title = (failedTitle ? '⚠ ' : '') + t;
}

function status(text, error) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', !!error);
}

function summary(shown) {
  const all = data.alerts.length;
  const hosts = new Set(data.alerts.map((a) => a.host)).size;
  const acked = data.alerts.filter((a) => a.ack).length;
  let s;
  if (shown.length === all) {
    s = plural(all, 'alert', 'alerts') + ' on ' + plural(hosts, 'host', 'hosts');
  } else {
    const sh = new Set(shown.map((a) => a.host)).size;
    s = shown.length + ' of ' + plural(all, 'alert', 'alerts') + ' on ' + sh + ' of ' +
      plural(hosts, 'host', 'hosts') + ' (filtered)';
  }
  if (acked) s += ' · ' + acked + ' acknowledged';
  return s + ' · version ' + data.version;
}

// The line under the status: how old the table is and when the next refresh comes.
function tick() {
  const c = $('clock');
  if (!fetchedAt) {
    c.textContent = '';
    return;
  }
  const age = Math.max(0, Math.round((Date.now() - fetchedAt) / 1000));
  let s = 'Updated ' + clock(fetchedAt) + ' (' + agoSeconds(age) + ' ago)';
  if (nextAt) s += ' · next refresh in ' + Math.max(0, Math.ceil((nextAt - Date.now()) / 1000)) + ' s';
  else s += ' · auto-refresh off';
  c.textContent = s;
}

// ---- talking to the collector ------------------------------------------------------------

// One request with the page's token; answers {status, doc} (doc: the JSON body or null).
async function call(method, path, body) {
  const headers = {};
  const token = store.get('injector-token');
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, {method, headers, cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body)});
  let doc = null;
  try { doc = await r.json(); } catch (e) { doc = null; }
  if (r.status === 401) $('tokenform').hidden = false;
  return {status: r.status, doc};
}

function why(res) {
  if (res.status === 401) return 'this collector wants a token (see --http-token-file): enter it at the top';
  return 'the collector answered ' + res.status + (res.doc && res.doc.error ? ': ' + res.doc.error : '');
}

// One refresh at a time: a second call while one is on its way gets that one.
function refresh() {
  if (!inflight) inflight = fetchAll().finally(() => { inflight = null; });
  return inflight;
}

// A refresh that starts after now (an ack must be seen in the table that follows it).
async function refreshAfter() {
  if (inflight) await inflight;
  return refresh();
}

async function fetchAll() {
  $('refresh').disabled = true;
  clearTimeout(timer);
  try {
    const res = await call('GET', '/v1/alerts');
    if (res.status !== 200) throw new Error(why(res));
    if (!res.doc || !Array.isArray(res.doc.alerts)) throw new Error('not an alert table');
    data = res.doc;
    fetchedAt = new Date();
    failedTitle = false;
    $('tokenform').hidden = true;
    $('collector').textContent = data.collector ? 'on ' + data.collector : '';
    render();
    detailAfterRefresh();
    await refreshHistory();
  } catch (e) {
    failedTitle = true;
    if (data) title();
    else document.title = '⚠ injector';
    status('Refresh failed at ' + clock(new Date()) + ': ' + e.message +
      (data ? '. Showing the table of ' + clock(fetchedAt) + '.' : ''), true);
  } finally {
    $('refresh').disabled = false;
    schedule();
  }
}

async function refreshHistory() {
  if (historyGone) return;
  let res;
  try {
    res = await call('GET', '/v1/history');
  } catch (e) {
    res = {status: 0, doc: null};
  }
  if (res.status === 404) {
    historyGone = true; // an older collector: no charts rather than an error every refresh
    $('health').hidden = true;
    return;
  }
  $('health').hidden = false;
  if (res.status !== 200 || !res.doc || !Array.isArray(res.doc.t) || !res.doc.series) {
    $('health-line').textContent = res.status ? '(' + why(res) + ')' : '(the collector did not answer)';
    return;
  }
  history = res.doc;
  drawCharts();
}

// Auto-refresh: on unless the person turned it off (remembered), 30 s unless chosen.
function schedule() {
  clearTimeout(timer);
  timer = null;
  nextAt = 0;
  if ($('auto').checked) {
    const ms = Number($('every').value) * 1000;
    nextAt = Date.now() + ms;
    timer = setTimeout(refresh, ms);
  }
  tick();
}

function autoChanged() {
  store.set('injector-auto', $('auto').checked ? $('every').value : '');
  schedule();
}

// ---- the detail view and acknowledgements ----------------------------------------------------

function showDetail(a) {
  detailKey = [a.host, a.component];
  $('detail-title').textContent = a.host + ' / ' + a.component;
  $('ack-result').textContent = '';
  $('ack-result').classList.remove('error');
  showFields(a);
  $('ack-author').value = store.get('injector-author') || '';
  $('ack-comment').value = '';
  $('ack-expire').value = '';
  showAck(a);
  $('detail').hidden = false;
  $('close').focus();
}

function showFields(a) {
  detailVersion = a.version;
  const dl = $('fields');
  dl.replaceChildren();
  const add = (k, v) => {
    const dd = el('dd');
    dd.append(linkify(v));
    dl.append(el('dt', null, k), dd);
  };
  for (const [key, label] of LABELS) {
    if (a[key] !== undefined && a[key] !== null && a[key] !== '') add(label, human(key, a[key]));
  }
  for (const [k, v] of Object.entries(a.extra || {})) add('Extra field ' + k, v);
}

// The ack as the detail view shows it, to see whether a refresh brought another one.
function ackKey(a) {
  return a && a.ack ? JSON.stringify([a.ack.author, a.ack.comment, a.ack.at, a.ack.expires]) : '';
}

// The ack box: who acknowledged, or the form. The form's fields are filled by showDetail,
// not here: a redraw for someone else's ack must not throw away what this person typed.
function showAck(a) {
  const box = $('ackbox');
  box.replaceChildren();
  const form = $('ackform');
  detailAck = a ? ackKey(a) : null;
  if (!a) {
    form.hidden = true;
    return;
  }
  if (a.ack) {
    form.hidden = true;
    const p = el('p', 'acked-by');
    p.append(el('strong', null, '✓ Acknowledged by ' + a.ack.author),
      document.createTextNode(a.ack.at ? ', ' + when(Date.parse(a.ack.at)) : ''));
    const c = el('p', 'ack-comment');
    c.append(linkify(a.ack.comment || ''));
    box.append(p, c);
    if (a.ack.expires) box.append(el('p', 'hint', 'Until ' + when(Date.parse(a.ack.expires))));
    const b = el('button', 'unack', 'Take back');
    b.type = 'button';
    b.id = 'unack';
    b.addEventListener('click', () => act('unack', {host: a.host, component: a.component,
      author: store.get('injector-author') || undefined}));
    box.append(b);
  } else {
    form.hidden = false;
    // The form comes after the fields (read first); on a phone that is screens away.
    const b = el('button', 'jump', 'Acknowledge…');
    b.type = 'button';
    b.addEventListener('click', () => {
      form.scrollIntoView({block: 'start'});
      ($('ack-author').value ? $('ack-comment') : $('ack-author')).focus({preventScroll: true});
    });
    box.append(b);
  }
}

function findAlert(key) {
  if (!data || !key) return null;
  return data.alerts.find((a) => a.host === key[0] && a.component === key[1]) || null;
}

// After a refresh with the detail view open: when the alert has gone, say so; when it
// changed, redraw its fields; when its ack changed under the view (someone else
// acknowledged or took it back), redraw the ack box and say who, so nobody replaces
// another's ack unknowingly. A half-typed comment stays in any case.
function detailAfterRefresh() {
  if ($('detail').hidden || !detailKey) return;
  const a = findAlert(detailKey);
  if (!a) {
    if (detailAck === null) return; // said already
    $('ackform').hidden = true;
    $('ackbox').replaceChildren();
    detailAck = null;
    ackResult('This alert is no longer active (cleared or expired).', false);
    return;
  }
  if (detailAck === null) { // it had gone, and is raised again: the view follows it
    showFields(a);
    showAck(a);
    ackResult('This alert is active again.', false);
    return;
  }
  if (a.version !== detailVersion) showFields(a); // the fields as they are now
  if (ackKey(a) === detailAck) return;
  showAck(a);
  ackResult(a.ack ? a.ack.author + ' acknowledged this alert meanwhile.'
    : 'The acknowledgement has gone meanwhile: taken back, expired, or the alert got worse.', false);
}

function ackResult(text, error) {
  const r = $('ack-result');
  r.textContent = text;
  r.classList.toggle('error', !!error);
  r.scrollIntoView({block: 'nearest'});
}

async function act(what, body) {
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  const buttons = document.querySelectorAll('#ack-submit, #unack');
  buttons.forEach((b) => { b.disabled = true; });
  try {
    if (what === 'ack') {
      // The table as it is now: if someone acknowledged meanwhile, the refresh redraws the
      // box with their ack and says so, and this one is not sent over it.
      await refreshAfter();
      const now = findAlert(detailKey);
      if (!now || now.ack) return;
    }
    const res = await call('POST', '/v1/' + what, body);
    if (res.status !== 200) {
      // 404, 409: the alert or its ack changed under the view; show it as it is now first.
      if (res.status === 404 || res.status === 409) await refreshAfter();
      ackResult((what === 'ack' ? 'Not acknowledged: ' : 'Not taken back: ') + why(res), true);
      return;
    }
    // Our own change: the refresh that follows must not report it as someone else's.
    if (res.doc && res.doc.alert) detailAck = ackKey(res.doc.alert);
    await refreshAfter();
    const a = findAlert(detailKey) || (res.doc && res.doc.alert) || null;
    if (a) showDetail(a);
    ackResult(what === 'ack' ? 'Acknowledged.' : 'Taken back.', false);
  } catch (e) {
    ackResult('The collector did not answer: ' + e.message, true);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

// The collector counts the limits in UTF-8 bytes, the textarea's maxlength in UTF-16 units
// (an "é" is one unit and two bytes): the bytes are checked here, before anything is sent.
const ACK_LIMITS = [['ack-author', 'Your name', 255], ['ack-comment', 'The comment', 1024]];

function tooLong(fields) {
  for (const [id, name, max] of ACK_LIMITS) {
    const n = new TextEncoder().encode(fields[id]).length;
    if (n > max) {
      return 'Not sent: ' + name.toLowerCase() + ' is ' + n + ' bytes long in UTF-8; the collector takes at most ' +
        max + '. Shorten it by ' + (n - max) + ' bytes (a letter such as é takes 2 bytes, € 3, an emoji 4).';
    }
  }
  return null;
}

function submitAck(e) {
  e.preventDefault();
  const a = findAlert(detailKey);
  if (!a) return;
  const author = $('ack-author').value.trim();
  const comment = $('ack-comment').value.trim();
  const long = tooLong({'ack-author': author, 'ack-comment': comment});
  if (long) {
    ackResult(long, true);
    return;
  }
  store.set('injector-author', author);
  const body = {host: a.host, component: a.component, author, comment};
  if ($('ack-expire').value) body.expire = $('ack-expire').value;
  act('ack', body);
}

function hideDetail() {
  $('detail').hidden = true;
  detailKey = null;
  detailAck = null;
}

// ---- the health charts ----------------------------------------------------------------

function num(v) {
  return typeof v === 'number' && isFinite(v) ? v : 0;
}

function peak(list) {
  return Array.isArray(list) ? list.reduce((m, v) => Math.max(m, num(v)), 0) : 0;
}

function fmt(v) {
  if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + 'M';
  if (v >= 1e4) return (v / 1e3).toFixed(v >= 1e5 ? 0 : 1) + 'k';
  return String(Math.round(v * 10) / 10);
}

// One step chart: each point is the rate over the 10 s step it ends, drawn flat across the
// step, so a burst shows as a block as wide as it lasted. Loss points are also dotted: a
// small count next to a large one must not vanish into the baseline.
function chart(spec, h, width) {
  const H = 112;
  const top = 16;
  const bottom = H - 18;
  const step = num(h.step_seconds) || 10;
  const t = h.t.map(num);
  const list = typeof spec.series === 'function' ? spec.series(h.series) : spec.series;
  const series = list.map((s, i) => ({...s, cls: s.cls || 'c' + i, v: (s.get(h.series) || []).map(num)}));
  // Stacked: each series a band on top of those before it, so equal rates (an ack and a
  // raise in the same step) do not hide one another; the top of the stack is the total.
  const total = t.map(() => 0);
  if (spec.stack) {
    for (const s of series) {
      s.base = total.slice();
      s.v.forEach((v, i) => { if (i < total.length) total[i] += v; });
    }
  }
  const max = spec.stack ? peak(total) : Math.max(0, ...series.map((s) => peak(s.v)));
  const t0 = t[0] - step;
  const t1 = t[t.length - 1];
  const x = (tt) => Math.round(((tt - t0) / (t1 - t0)) * (width - 2)) + 1;
  const y = (v) => (max > 0 ? bottom - (v / max) * (bottom - top) : bottom);
  const fig = el('figure', 'chart' + (spec.loss ? ' loss' : ''));
  const cap = el('figcaption', null, spec.title);
  fig.append(cap);
  const g = svg('svg', {width, height: H, viewBox: `0 0 ${width} ${H}`, role: 'img',
    'aria-label': spec.title + ', highest ' + fmt(max) + spec.unit});
  g.append(svg('line', {class: 'axis', x1: 0, x2: width, y1: bottom + 0.5, y2: bottom + 0.5}),
    svg('line', {class: 'grid', x1: 0, x2: width, y1: top + 0.5, y2: top + 0.5}));
  const maxLabel = svg('text', {class: 'label', x: 2, y: top - 4});
  maxLabel.textContent = max > 0 ? 'max ' + fmt(max) + spec.unit : 'all 0' + spec.unit;
  g.append(maxLabel);
  for (const [tt, anchor] of [[t0, 'start'], [t0 + (t1 - t0) / 2, 'middle'], [t1, 'end']]) {
    const lab = svg('text', {class: 'label', x: anchor === 'start' ? 1 : anchor === 'end' ? width - 1 : width / 2,
      y: H - 4, 'text-anchor': anchor});
    lab.textContent = hm(tt, t1 - t0 < 600);
    g.append(lab);
  }
  for (const s of series) {
    // A series that is 0 throughout is left out (its legend says so): drawn, it would paint
    // the baseline in its colour over the others' zeros, the last one drawn seeming the one.
    if (!s.v.length || series.length > 1 && peak(s.v) === 0) continue;
    const upper = spec.stack ? t.map((tt, i) => s.base[i] + (s.v[i] || 0)) : s.v;
    let d = `M${x(t0)},${y(upper[0])}`;
    for (let i = 0; i < t.length; i++) {
      d += `H${x(t[i])}`;
      if (i + 1 < t.length) d += `V${y(upper[i + 1])}`;
    }
    if (spec.stack) { // back along the band's base, step by step, to where it began
      for (let i = t.length - 1; i >= 0; i--) d += `V${y(s.base[i])}H${x(i ? t[i - 1] : t0)}`;
      g.append(svg('path', {class: 'band ' + s.cls, d: d + 'Z'}));
      continue;
    }
    if (series.length === 1 || list.length === 2 && s === series[0]) {
      g.append(svg('path', {class: 'area ' + s.cls, d: d + `V${bottom}H${x(t0)}Z`}));
    }
    g.append(svg('path', {class: 'line ' + s.cls + (s.dash ? ' dash' : ''), d}));
    if (spec.loss) {
      s.v.forEach((v, i) => {
        if (v > 0) g.append(svg('circle', {class: 'dot ' + s.cls, r: 3.5, cy: y(v),
          cx: (x(t[i] - step) + x(t[i])) / 2}));
      });
    }
  }
  fig.append(g);
  const legend = el('ul', 'keys');
  for (const s of series) {
    const li = el('li');
    li.append(el('span', 'swatch ' + s.cls), document.createTextNode(s.label + ' '));
    if (spec.loss) {
      const total = Math.round(s.v.reduce((a, v) => a + v, 0) * step);
      li.append(el('b', total ? 'bad' : null, total ? total + ' in all' : 'none'));
    } else if (spec.gauge) {
      li.append(el('b', null, 'now ' + fmt(s.v[s.v.length - 1] || 0) + ', max ' + fmt(peak(s.v))));
    } else {
      li.append(el('b', null, 'max ' + fmt(peak(s.v)) + spec.unit));
    }
    legend.append(li);
  }
  fig.append(legend);
  if (!series.length) fig.append(el('p', 'hint', 'This collector\'s /v1/history has no such series.'));
  if (spec.note) fig.append(el('p', 'hint', spec.note(h.series)));
  return fig;
}

function drawCharts() {
  const box = $('charts');
  const h = history;
  if (!h) return;
  const line = $('health-line');
  // The collector keeps 360 steps: an hour at its default 10 s step.
  const span = (num(h.step_seconds) || 10) * 360;
  $('health-title').textContent = 'Collector health, last ' + (span === 3600 ? 'hour' : agoSeconds(span));
  if (!h.t.length) {
    box.replaceChildren(el('p', 'hint', 'No point yet: the collector samples its counters every ' +
      (h.step_seconds || 10) + ' s.'));
    line.textContent = '(no point yet)';
    return;
  }
  const s = h.series;
  const lost = ['kernel_drops', 'refused', 'lost'].reduce(
    (sum, k) => sum + (Array.isArray(s[k]) ? s[k].reduce((a, v) => a + num(v), 0) : 0), 0) * (h.step_seconds || 10);
  line.replaceChildren(document.createTextNode('peak ' + fmt(peak(s.datagrams)) + ' datagrams/s · '),
    el('span', lost > 0 ? 'bad' : null, lost > 0 ? Math.round(lost) + ' dropped, refused or lost'
      : 'nothing dropped, refused or lost'));
  if (!$('health').open) return; // drawn when opened: a closed box has no width to draw in
  // As wide as a cell of the grid the CSS lays out (one column on a phone, two on a desk).
  const cs = getComputedStyle(box);
  const cols = cs.gridTemplateColumns.split(' ').filter(Boolean).length || 1;
  const inner = box.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const width = Math.max(160, Math.floor((inner - (parseFloat(cs.columnGap) || 0) * (cols - 1)) / cols));
  box.replaceChildren(...CHARTS.map((spec) => chart(spec, h, width)));
}

// ---- start ------------------------------------------------------------------------------

function setView(v) {
  store.set('injector-view', v);
  $('view-host').setAttribute('aria-pressed', String(v === 'host'));
  $('view-flat').setAttribute('aria-pressed', String(v === 'flat'));
  render();
}

document.addEventListener('DOMContentLoaded', () => {
  const saved = store.get('injector-auto');
  if (saved !== null) { // '' is off; absent: on, every 30 s
    $('auto').checked = saved !== '';
    if (saved) $('every').value = saved;
  }
  const health = store.get('injector-health');
  $('health').open = health ? health === 'open' : window.matchMedia('(min-width: 60rem)').matches;
  $('health').addEventListener('toggle', () => {
    store.set('injector-health', $('health').open ? 'open' : 'closed');
    drawCharts();
  });
  let resizing = false;
  window.addEventListener('resize', () => {
    if (resizing) return;
    resizing = true;
    requestAnimationFrame(() => { resizing = false; drawCharts(); });
  });
  $('view-host').setAttribute('aria-pressed', String(view() === 'host'));
  $('view-flat').setAttribute('aria-pressed', String(view() === 'flat'));
  $('view-host').addEventListener('click', () => setView('host'));
  $('view-flat').addEventListener('click', () => setView('flat'));
  $('refresh').addEventListener('click', refresh);
  $('filter').addEventListener('input', render);
  $('sev').addEventListener('change', render);
  $('auto').addEventListener('change', autoChanged);
  $('every').addEventListener('change', autoChanged);
  $('close').addEventListener('click', hideDetail);
  $('detail').addEventListener('click', (e) => { if (e.target === $('detail')) hideDetail(); });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') hideDetail(); });
  $('ackform').addEventListener('submit', submitAck);
  $('tokenform').addEventListener('submit', (e) => {
    e.preventDefault();
    store.set('injector-token', $('token').value.trim());
    $('token').value = '';
    refresh();
  });
  let ticks = 0;
  setInterval(() => {
    tick();
    if (++ticks % 10 === 0) updateAges();
  }, 1000);
  refresh();
});
