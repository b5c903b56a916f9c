// injector dashboard: GET /v1/alerts, grouped by host, most severe first. Every value comes
// from the network, so text goes in with textContent only, never as HTML.
'use strict';

const MAX_SHOWN = 2000; // a phone stays responsive; the filter finds the rest
const LABELS = [
  ['host', 'Host'], ['component', 'Component'], ['severity', 'Severity'],
  ['msg', 'Message'], ['longmsg', 'Details'], ['contact', 'Contact'], ['owner', 'Owner'],
  ['ticket', 'Ticket'], ['flavor', 'Flavor'], ['origin', 'Origin'],
  ['issue_num', 'Issue number'], ['item_num', 'Item number'], ['count', 'Count'],
  ['increment', 'Count adds up on each update'], ['start_time', 'Problem started'],
  ['autoclear', 'Clears itself'], ['ttl', 'Expires unless refreshed within'],
  ['first_seen', 'First seen'], ['last_seen', 'Last refreshed'],
  ['seq', 'Sender sequence number'], ['version', 'Change number'],
];

const $ = (id) => document.getElementById(id);
let data = null;      // last good /v1/alerts document
let fetchedAt = null; // when it came
let timer = null;
let busy = false;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function sevClass(s) {
  if (typeof s !== 'number') return 'snone';
  return 's' + Math.min(6, Math.max(1, s));
}

function sevKey(a) {
  return typeof a.severity === 'number' ? a.severity : Number.MAX_SAFE_INTEGER;
}

function clock(d) {
  return d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: '2-digit'});
}

function ago(iso) {
  const t = Date.parse(iso);
  if (isNaN(t)) return '';
  const s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 90) return Math.round(s) + ' s';
  if (s < 5400) return Math.round(s / 60) + ' min';
  if (s < 172800) return Math.round(s / 3600) + ' h';
  return Math.round(s / 86400) + ' d';
}

function when(ms) {
  const d = new Date(ms);
  return isNaN(d) ? String(ms) : d.toLocaleString() + ' (' + ago(d.toISOString()) + ' ago)';
}

function human(key, v) {
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (key === 'start_time' && typeof v === 'number') return when(v);
  if ((key === 'first_seen' || key === 'last_seen') && typeof v === 'string') return when(Date.parse(v));
  if (key === 'ttl' && typeof v === 'number') return v + ' s' + (v >= 120 ? ' (' + Math.round(v / 60) + ' min)' : '');
  if (key === 'severity' && typeof v === 'number') return v + (v <= 2 ? ' (critical)' : v <= 4 ? ' (serious)' : '');
  return String(v);
}

function matches(a, words) {
  if (words.length === 0) return true;
  const hay = [a.host, a.component, a.msg, a.longmsg, a.contact, a.owner, a.ticket,
    a.severity === undefined ? '' : 'sev' + a.severity].join('\n').toLowerCase();
  return words.every((w) => hay.includes(w));
}

function render() {
  const main = $('alerts');
  main.replaceChildren();
  if (!data) return;
  const words = $('filter').value.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = data.alerts.filter((a) => matches(a, words));
  const hosts = new Map();
  for (const a of shown) {
    if (!hosts.has(a.host)) hosts.set(a.host, []);
    hosts.get(a.host).push(a);
  }
  const groups = [...hosts.entries()].map(([host, list]) => {
    list.sort((x, y) => sevKey(x) - sevKey(y) || x.component.localeCompare(y.component));
    return {host, list, worst: sevKey(list[0])};
  });
  groups.sort((x, y) => x.worst - y.worst || x.host.localeCompare(y.host));
  let n = 0;
  for (const g of groups) {
    if (n >= MAX_SHOWN) break;
    const sec = el('section', 'host');
    const h = el('h2');
    h.append(el('span', 'name', g.host), el('small', null, g.list.length + (g.list.length === 1 ? ' alert' : ' alerts')));
    sec.append(h);
    for (const a of g.list) {
      if (n++ >= MAX_SHOWN) break;
      const b = el('button', 'alert');
      b.type = 'button';
      const what = el('span', 'what');
      what.append(el('div', 'comp', a.component));
      if (a.msg) what.append(el('div', 'msg', a.msg));
      b.append(el('span', 'sev ' + sevClass(a.severity), a.severity === undefined ? '–' : a.severity),
        what, el('span', 'age', a.first_seen ? 'for ' + ago(a.first_seen) : ''));
      b.addEventListener('click', () => showDetail(a));
      sec.append(b);
    }
    main.append(sec);
  }
  if (shown.length === 0) {
    main.append(el('p', 'empty', data.alerts.length === 0 ? 'No active alerts.' : 'No alert matches the filter.'));
  } else if (shown.length > MAX_SHOWN) {
    main.append(el('p', 'empty', 'Showing the ' + MAX_SHOWN + ' most severe of ' + shown.length + '; narrow the filter to see the rest.'));
  }
}

function showDetail(a) {
  $('detail-title').textContent = a.host + ' / ' + a.component;
  const dl = $('fields');
  dl.replaceChildren();
  const add = (k, v) => dl.append(el('dt', null, k), el('dd', null, v));
  for (const [key, label] of LABELS) {
    if (a[key] !== undefined && a[key] !== '') add(label, human(key, a[key]));
  }
  for (const [k, v] of Object.entries(a.extra || {})) add('Extra field ' + k, v);
  $('detail').hidden = false;
  $('close').focus();
}

function hideDetail() {
  $('detail').hidden = true;
}

function status(text, error) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', !!error);
}

function summary() {
  const hosts = new Set(data.alerts.map((a) => a.host)).size;
  return 'Updated ' + clock(fetchedAt) + ' · ' + data.count + (data.count === 1 ? ' alert' : ' alerts') +
    ' on ' + hosts + (hosts === 1 ? ' host' : ' hosts') + ' · version ' + data.version;
}

async function refresh() {
  if (busy) return;
  busy = true;
  $('refresh').disabled = true;
  const headers = {};
  const token = localStorage.getItem('injector-token');
  if (token) headers.Authorization = 'Bearer ' + token;
  try {
    const r = await fetch('/v1/alerts', {headers, cache: 'no-store'});
    if (r.status === 401) {
      $('tokenform').hidden = false;
      throw new Error('this collector wants a token (see --http-token-file)');
    }
    if (!r.ok) throw new Error('the collector answered ' + r.status);
    const doc = await r.json();
    if (!Array.isArray(doc.alerts)) throw new Error('not an alert table');
    data = doc;
    fetchedAt = new Date();
    $('tokenform').hidden = true;
    $('collector').textContent = doc.collector ? 'on ' + doc.collector : '';
    status(summary());
    render();
  } catch (e) {
    status('Refresh failed at ' + clock(new Date()) + ': ' + e.message +
      (data ? '. Showing the table of ' + clock(fetchedAt) + '.' : ''), true);
  } finally {
    busy = false;
    $('refresh').disabled = false;
  }
}

function schedule() {
  clearInterval(timer);
  timer = null;
  const on = $('auto').checked;
  localStorage.setItem('injector-auto', on ? $('every').value : '');
  if (on) timer = setInterval(refresh, Number($('every').value) * 1000);
}

document.addEventListener('DOMContentLoaded', () => {
  const saved = localStorage.getItem('injector-auto');
  if (saved) {
    $('auto').checked = true;
    $('every').value = saved;
  }
  $('refresh').addEventListener('click', refresh);
  $('filter').addEventListener('input', render);
  $('auto').addEventListener('change', schedule);
  $('every').addEventListener('change', schedule);
  $('close').addEventListener('click', hideDetail);
  $('detail').addEventListener('click', (e) => { if (e.target === $('detail')) hideDetail(); });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') hideDetail(); });
  $('tokenform').addEventListener('submit', (e) => {
    e.preventDefault();
    localStorage.setItem('injector-token', $('token').value.trim());
    $('token').value = '';
    refresh();
  });
  schedule();
  refresh();
});
