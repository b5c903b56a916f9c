// dashboard.test.js - the dashboard page in Debian's chromium, headless, driven with
// playwright-core, as a person on call uses it on a phone (390x844) and at a desk (1280x800).
// Run by tests/integration/dashboard.sh, which starts two injectords (one with a token file,
// one without) and sends the alerts; this script checks what a user sees and does:
//   the token asked for once; alerts grouped by host, most severe first, severity as
//   coloured numbers, markup in data shown as text; the age of every alert visible on a phone;
//   a summary of counts per severity with a legend (tap one: only that severity); the filter's
//   "sev1" exact and "sev<=2" N or worse, the severity menu too, and the status line counting
//   what is shown; the tab title counting the most severe alerts; auto-refresh on by default
//   with a countdown that runs, a faster interval chosen that brings a Del without a tap;
//   the flat "most severe first" view, remembered across a reload; links in details as <a>;
//   acknowledge from the detail view (the ack in /v1/alerts, the row set apart with its
//   author, the title no longer counting it), take it back, the author remembered; someone
//   else's ack or unack while the detail view is open redrawn at the next refresh, and an
//   ack made just before the tap not replaced; the limits checked in UTF-8 bytes; markup
//   in an ack's author and comment shown as text, nothing loaded or run, its lines kept; a
//   control character refused with the collector's words; a
//   collector without a token refusing with its own message; health charts drawn from
//   /v1/history after a burst and a refused datagram; readable badges in light and dark
//   (contrast measured); screenshots (phone light, phone dark, desktop); no console error,
//   no request off the collectors.
// Environment: BROWSER_DIR (node_modules), CHROMIUM, DASHBOARD_URL (the daemon with a
// token), TOKEN, NOTOKEN_URL (the daemon without), INJECTOR_SEND, INJECTOR_BURST, TARGET,
// SHOTS (directory for the screenshots), PROFILE_DIR (a new --user-data-dir).
'use strict';
const path = require('node:path');
const {execFileSync} = require('node:child_process');
const {chromium} = require(path.join(process.env.BROWSER_DIR, 'node_modules', 'playwright-core'));

const url = process.env.DASHBOARD_URL;
const url2 = process.env.NOTOKEN_URL;
const token = process.env.TOKEN;
const shots = process.env.SHOTS;
const problems = [];
let httpErrorsExpected = 0; // 401 before the token is typed, 403 from the tokenless collector,
                            // 400 for control characters
const requests = []; // "METHOD URL" of every request the pages made

function check(ok, what) {
  if (!ok) throw new Error(what);
}

async function waitFor(what, fn, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function get(p) {
  const r = await fetch(url + p, {headers: {Authorization: 'Bearer ' + token}});
  check(r.ok, 'GET ' + p + ': ' + r.status);
  return r.json();
}

// An ack or unack by someone else, through the API (as injector-ctl or curl would).
async function post(p, body) {
  const r = await fetch(url + p, {method: 'POST', body: JSON.stringify(body),
    headers: {Authorization: 'Bearer ' + token, 'Content-Type': 'application/json'}});
  const text = await r.text();
  check(r.ok, 'POST ' + p + ' ' + JSON.stringify(body) + ': ' + r.status + ' ' + text);
  return JSON.parse(text);
}

async function findAlert(host, component) {
  return (await get('v1/alerts')).alerts.find((a) => a.host === host && a.component === component);
}

function send(...args) {
  execFileSync(process.env.INJECTOR_SEND, ['--target', process.env.TARGET, ...args]);
}

async function hostNames(page) {
  return page.locator('main section.host:not(.ackgroup) h2 .name').allTextContents();
}

async function rows(page) {
  return page.locator('main section.host:not(.ackgroup) .comp').allTextContents();
}

async function statusText(page) {
  return page.locator('#status').textContent();
}

// Contrast ratio (WCAG) of two "rgb(r, g, b)" colours.
function contrast(a, b) {
  const lum = (c) => {
    const [r, g, bl] = c.match(/[\d.]+/g).slice(0, 3).map((v) => {
      const s = Number(v) / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

// Every severity badge of the summary: its text readable on it, and severity 1 the one that
// stands out most from the page.
async function badgesReadable(page, scheme) {
  const got = await page.evaluate(() => {
    const bg = getComputedStyle(document.body).backgroundColor;
    return [...document.querySelectorAll('#counts .chip')].map((c) => {
      const s = getComputedStyle(c.querySelector('.sev'));
      return {sev: c.dataset.sev, fg: s.color, bg: s.backgroundColor, page: bg};
    });
  });
  check(got.length >= 4, scheme + ': summary badges: ' + JSON.stringify(got));
  let best = null;
  for (const b of got) {
    const text = contrast(b.fg, b.bg);
    check(text >= 4.5, scheme + ': severity ' + b.sev + ' badge text contrast ' + text.toFixed(2));
    b.page = contrast(b.bg, b.page);
    if (!best || b.page > best.page) best = b;
  }
  check(best.sev === '1', scheme + ': severity ' + best.sev + ' stands out more than 1: ' +
    JSON.stringify(got));
}

// Someone else acknowledges, then takes it back, while this page shows the alert's detail
// view with its form half filled: each auto-refresh (every 5 s here) redraws the ack box and
// says what happened, and keeps what was typed. Then an ack that comes between the last
// refresh and the tap on Acknowledge: the page looks again before it sends, and shows that
// ack instead of quietly replacing it.
async function ackChangedUnderTheDetailView(page) {
  const web3 = page.locator('main button.alert', {hasText: 'swapping'});
  await web3.click();
  await page.locator('#ackform').waitFor({state: 'visible'});
  await page.locator('#ack-comment').fill('half typed');
  await post('v1/ack', {host: 'web3', component: 'memory', author: 'bob', comment: 'swap: on it'});
  await page.locator('#unack').waitFor({state: 'visible', timeout: 12000});
  check(await page.locator('#ackform').isHidden(), 'the form stays up under bob\'s ack');
  check(/Acknowledged by bob/.test(await page.locator('#ackbox').innerText()), 'bob\'s ack is not shown: ' +
    await page.locator('#ackbox').innerText());
  check(/bob acknowledged this alert meanwhile/.test(await page.locator('#ack-result').textContent()),
    'the page does not say bob acknowledged meanwhile: ' + await page.locator('#ack-result').textContent());
  const version = String((await findAlert('web3', 'memory')).version);
  const fields = await page.locator('#fields').innerText();
  check(new RegExp('Change number\\s+' + version + '\\b').test(fields), 'the fields are not those of version ' +
    version + ': ' + fields);
  await page.screenshot({path: path.join(shots, 'phone-detail-meanwhile.png')});
  await post('v1/unack', {host: 'web3', component: 'memory', author: 'bob'});
  await page.locator('#ackform').waitFor({state: 'visible', timeout: 12000});
  check(await page.locator('#unack').count() === 0, 'a Take back button for an ack that has gone');
  check(/has gone meanwhile/.test(await page.locator('#ack-result').textContent()),
    'the page does not say the ack went: ' + await page.locator('#ack-result').textContent());
  check(await page.locator('#ack-comment').inputValue() === 'half typed', 'what was typed was lost');
  // Cleared while the view is open, then raised again: the view says so, then follows it
  // back (the form again, not "no longer active" until it is closed).
  send('--del', '--host', 'web3', '--component', 'memory');
  await page.locator('#ack-result', {hasText: 'no longer active'}).waitFor({timeout: 12000});
  check(await page.locator('#ackform').isHidden(), 'an ack form for an alert that has gone');
  send('--host', 'web3', '--component', 'memory', '--severity', '2', 'swapping');
  await page.locator('#ack-result', {hasText: 'active again'}).waitFor({timeout: 12000});
  await page.locator('#ackform').waitFor({state: 'visible'});
  await page.locator('#close').click();

  await page.locator('#auto').uncheck(); // no refresh of its own between the ack and the tap
  await web3.click();
  await page.locator('#ack-comment').fill('mine now');
  await post('v1/ack', {host: 'web3', component: 'memory', author: 'carol', comment: 'on it since 9'});
  await page.locator('#ack-submit').click();
  await page.locator('#unack').waitFor({state: 'visible'});
  check(/carol acknowledged this alert meanwhile/.test(await page.locator('#ack-result').textContent()),
    'no word of carol\'s ack: ' + await page.locator('#ack-result').textContent());
  const a = await findAlert('web3', 'memory');
  check(a.ack && a.ack.author === 'carol', 'carol\'s ack was replaced: ' + JSON.stringify(a.ack));
  await post('v1/unack', {host: 'web3', component: 'memory', author: 'carol'});
  await page.locator('#close').click();
  await page.locator('#auto').check();
  await page.locator('#refresh').click();
  await page.locator('section.ackgroup button.alert', {hasText: 'swapping'}).waitFor({state: 'detached'});
}

// The collector counts author and comment in UTF-8 bytes (255, 1024), the form's maxlength
// in UTF-16 units: 200 "é" and 600 "€" fit the form and not the collector. The page says
// so, and sends nothing.
async function ackLimitsInBytes(page) {
  await page.locator('main button.alert', {hasText: 'swapping'}).click();
  const posts = () => requests.filter((r) => r.startsWith('POST ')).length;
  const before = posts();
  await page.locator('#ack-author').fill('é'.repeat(200));
  await page.locator('#ack-comment').fill('ok');
  await page.locator('#ack-submit').click();
  await page.locator('#ack-result.error').waitFor();
  let said = await page.locator('#ack-result').textContent();
  check(/your name is 400 bytes .* at most 255/.test(said), 'the name\'s length in bytes: ' + said);
  await page.locator('#ack-author').fill('alice');
  await page.locator('#ack-comment').fill('€'.repeat(600));
  await page.locator('#ack-submit').click();
  await waitFor('the comment\'s length', async () => /comment is 1800 bytes/.test(
    await page.locator('#ack-result').textContent()));
  said = await page.locator('#ack-result').textContent();
  check(/at most 1024\. Shorten it by 776 bytes/.test(said), 'the comment\'s limit: ' + said);
  check(posts() === before, 'a comment too long was sent: ' + requests.slice(-3).join(', '));
  check(!(await findAlert('web3', 'memory')).ack, 'acknowledged with a comment too long');
  await page.locator('#close').click();
}

// Markup in an ack's author and comment (typed in the form, or sent by anyone with the
// token) is shown as text: no element is made of it, nothing loads or runs; the comment's
// lines stay lines (innerText keeps its line break only if the CSS does, pre-wrap).
async function ackMarkupIsText(page) {
  const author = '<b>mallory</b>';
  const comment = '<img src=x onerror=alert(3)>\n<b>line two</b>\t<script>alert(4)</script>';
  await page.locator('main button.alert', {hasText: 'swapping'}).click();
  await page.locator('#ack-author').fill(author);
  await page.locator('#ack-comment').fill(comment);
  await page.locator('#ack-submit').click();
  await page.locator('#ack-result', {hasText: 'Acknowledged.'}).waitFor();
  const a = await findAlert('web3', 'memory');
  check(a.ack && a.ack.author === author && a.ack.comment === comment, 'the ack as sent: ' + JSON.stringify(a.ack));
  check(await page.locator('#detail img, #detail b, #detail script').count() === 0,
    'markup in the ack became elements in the detail view');
  const by = await page.locator('#ackbox .acked-by strong').textContent();
  check(by === '✓ Acknowledged by ' + author, 'the author as shown: ' + by);
  const shown = await page.locator('#ackbox .ack-comment').innerText();
  check(shown === comment, 'the comment as shown (its two lines, as text): ' + JSON.stringify(shown));
  await page.screenshot({path: path.join(shots, 'phone-detail-markup.png')});
  await page.locator('#close').click();
  const mark = await page.locator('section.ackgroup button.alert', {hasText: 'swapping'}).locator('.ackmark').textContent();
  check(mark === '✓ acknowledged by ' + author, 'the author by the row: ' + mark);
  check(await page.locator('main img, main b, main script').count() === 0, 'markup in the ack became elements');
  check(!requests.some((r) => /\/x$/.test(r)), 'the markup loaded an image: ' + requests.filter((r) => /\/x$/.test(r)));
  await post('v1/unack', {host: 'web3', component: 'memory'});
}

// A control character pasted into the comment (an escape sequence, a bell) is refused by
// the collector, and the page shows its words; nothing is acknowledged.
async function ackControlCharacters(page) {
  await page.locator('main button.alert', {hasText: 'swapping'}).click();
  await page.locator('#ack-author').fill('alice');
  await page.locator('#ack-comment').fill('on it \u001b[2J\u0007');
  httpErrorsExpected = 1;
  await page.locator('#ack-submit').click();
  await page.locator('#ack-result.error').waitFor();
  httpErrorsExpected = 0;
  const said = await page.locator('#ack-result').textContent();
  check(/^Not acknowledged: the collector answered 400: .*'comment'.*control characters/.test(said),
    'the refusal of a control character: ' + said);
  check(!(await findAlert('web3', 'memory')).ack, 'acknowledged with a control character');
  await page.locator('#close').click();
}

// The legend of "Changes forwarded": [{label, colour of its swatch}].
async function changeKeys(charts) {
  return charts.filter({hasText: 'Changes forwarded'}).locator('.keys li').evaluateAll((lis) =>
    lis.map((li) => ({label: li.firstChild.nextSibling.textContent.trim(),
      colour: getComputedStyle(li.querySelector('.swatch')).backgroundColor})));
}

// The outcomes charted are those the collector lists in series.changes, in its order, each
// in a colour of its own; one this page has never heard of (a later collector's, made here
// by adding it to the real answer) is charted and named too, in a spare colour.
async function changesFollowTheCollector(page, charts) {
  const outcomes = Object.keys((await get('v1/history')).series.changes);
  const shown = async () => (await changeKeys(charts)).map((k) => k.label);
  check(JSON.stringify(await shown()) === JSON.stringify(outcomes),
    'outcomes charted ' + JSON.stringify(await shown()) + ', the collector has ' + JSON.stringify(outcomes));
  await page.route('**/v1/history', async (route) => {
    const r = await route.fetch();
    const h = await r.json();
    h.series.changes.escalate = h.t.map((t, i) => (i === h.t.length - 1 ? 2 : 0));
    await route.fulfill({response: r, json: h});
  });
  await page.locator('#refresh').click();
  await waitFor('the new outcome in the legend', async () => (await shown()).includes('escalate'));
  const keys = await changeKeys(charts);
  check(JSON.stringify(keys.map((k) => k.label)) === JSON.stringify([...outcomes, 'escalate']),
    'outcomes with a new one: ' + JSON.stringify(keys));
  const colours = keys.map((k) => k.colour);
  check(colours.every((c) => c !== 'rgba(0, 0, 0, 0)') && new Set(colours).size === colours.length,
    'each outcome needs a colour of its own: ' + JSON.stringify(keys));
  // Each outcome that happened is a band of its colour with a height of its own (stacked:
  // with lines, the test's ack, unack and clear at 1/s each covered one another).
  const chart = charts.filter({hasText: 'Changes forwarded'});
  const bands = await chart.locator('svg path.band').evaluateAll((ps) =>
    ps.map((p) => ({fill: getComputedStyle(p).fill, height: p.getBBox().height})));
  const legend = await chart.locator('.keys').innerText();
  for (const k of keys) {
    if (new RegExp('\\b' + k.label + ' max 0/s').test(legend)) continue;
    check(bands.some((b) => b.fill === k.colour && b.height >= 1), 'no band for ' + k.label + ': ' +
      JSON.stringify(bands) + ' ' + legend);
  }
  check(/escalate max 2\/s/.test(await chart.locator('.keys').innerText()), 'its legend: ' +
    await chart.locator('.keys').innerText());
  await page.unroute('**/v1/history');
  await page.locator('#refresh').click();
  await waitFor('the real outcomes again', async () => !(await shown()).includes('escalate'));
}

async function noSidewaysScroll(page, where) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, 'the page scrolls sideways by ' + overflow + ' px ' + where);
}

(async () => {
  const context = await chromium.launchPersistentContext(process.env.PROFILE_DIR, {
    executablePath: process.env.CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-quic'],
    viewport: {width: 390, height: 844}, // a phone
    deviceScaleFactor: 2,
    hasTouch: true,
    colorScheme: 'light',
  });
  const page = context.pages()[0] || await context.newPage();
  const watch = (p) => {
    p.on('dialog', (d) => { problems.push('a dialog opened: ' + d.message()); d.dismiss(); });
    p.on('pageerror', (e) => problems.push('page error: ' + e.message));
    p.on('console', (m) => {
      if (m.type() !== 'error') return;
      // Chromium logs every 4xx answer as an error; those the test provokes are expected.
      if (/status of 40[013]/.test(m.text()) && httpErrorsExpected > 0) return;
      problems.push('console error: ' + m.text());
    });
    p.on('request', (r) => {
      requests.push(r.method() + ' ' + r.url());
      if (!r.url().startsWith(url) && !r.url().startsWith(url2)) problems.push('a request left the collector: ' + r.url());
    });
  };
  watch(page);
  try {
    // The token, asked once, kept by the browser.
    httpErrorsExpected = 1;
    await page.goto(url);
    await page.locator('#tokenform').waitFor({state: 'visible'});
    check(/token/.test(await statusText(page)), 'no word of the token: ' + await statusText(page));
    await page.locator('#token').fill(token);
    await page.locator('#tokenform button').click();
    await page.locator('#clock', {hasText: 'Updated'}).waitFor();
    httpErrorsExpected = 0;
    const status = await statusText(page);
    check(/^6 alerts on 5 hosts/.test(status), 'status line: ' + status);

    // Auto-refresh is on by default, every 30 s, and the countdown runs.
    check(await page.locator('#auto').isChecked(), 'auto-refresh is off on a first visit');
    check(await page.locator('#every').inputValue() === '30', 'auto-refresh is not every 30 s');
    const clock0 = await page.locator('#clock').textContent();
    const left = /next refresh in (\d+) s/.exec(clock0);
    check(left && left[1] <= 30 && left[1] >= 20, 'no countdown from 30 s: ' + clock0);
    await waitFor('the countdown to move', async () =>
      (await page.locator('#clock').textContent()) !== clock0, 3000);
    check(/Updated .*\(\d+ s ago\)/.test(await page.locator('#clock').textContent()), 'no "N s ago"');

    // The tab title counts the most severe alerts.
    check(await page.title() === '(1) sev1 · injector', 'title: ' + await page.title());

    // Summary: counts per severity, a legend; tapping one shows only it.
    const chips = await page.locator('#counts .chip').evaluateAll((cs) =>
      cs.map((c) => c.dataset.sev + ':' + c.querySelector('.n').textContent));
    check(JSON.stringify(chips) === '["1:1","2:2","3:1","5:1","10:1"]', 'summary: ' + JSON.stringify(chips));
    check(await page.locator('.legend', {hasText: '1 is the most severe'}).isVisible(), 'no legend');
    await page.locator('#counts .chip[data-sev="10"]').click();
    check(JSON.stringify(await hostNames(page)) === '["db1"]', 'tap on 10: ' + JSON.stringify(await hostNames(page)));
    check(/^1 of 6 alerts on 1 of 5 hosts/.test(await statusText(page)), 'status filtered: ' + await statusText(page));
    check(await page.locator('#counts .chip[data-sev="10"]').getAttribute('aria-pressed') === 'true', 'chip not pressed');
    await page.locator('#counts .chip[data-sev="10"]').click();
    check((await hostNames(page)).length === 5, 'a second tap does not show all again');

    // Grouped by host, the host with the most severe alert first; markup is text.
    const hosts = await hostNames(page);
    check(JSON.stringify(hosts) === JSON.stringify(['web2', 'web1', 'web3', '<script>alert(1)</script>', 'db1']),
      'hosts in order of severity: ' + JSON.stringify(hosts));
    check(await page.locator('script').count() === 1, 'a <script> element was made from data');
    check(await page.locator('main img, main b').count() === 0, 'markup from data became elements');
    check((await page.locator('.comp', {hasText: '<img src=x onerror=alert(2)>'}).count()) === 1,
      'the component with markup is not shown as text');
    const web2 = page.locator('section.host', {has: page.locator('.name', {hasText: /^web2$/})});
    check((await web2.locator('.sev').textContent()) === '1', 'web2 severity number');
    const bg = await web2.locator('.sev').evaluate((e) => getComputedStyle(e).backgroundColor);
    check(bg === 'rgb(127, 0, 0)', 'severity 1 colour: ' + bg);
    await badgesReadable(page, 'light');

    // A phone: the age of every alert visible, no sideways scrolling, big Refresh button.
    const ages = page.locator('main .age');
    check(await ages.count() === 6, 'ages: ' + await ages.count());
    for (const a of await ages.all()) {
      check(await a.isVisible(), 'an age is hidden on a phone');
      const box = await a.boundingBox();
      check(box.x + box.width <= 390, 'an age is off the screen: ' + JSON.stringify(box));
      check(/^for \d+ (s|min)$/.test(await a.textContent()), 'age text: ' + await a.textContent());
    }
    await noSidewaysScroll(page, 'on a phone');
    check((await page.locator('#refresh').boundingBox()).height >= 44, 'Refresh button too small to tap');
    for (const b of await page.locator('#counts .chip, #view-flat, #sev').all()) {
      check((await b.boundingBox()).height >= 44, 'too small to tap: ' + await b.textContent());
    }

    // The filter: words; sev1 is severity 1 only (not 10); sev<=2 is 2 or worse.
    await page.locator('#filter').fill('cpu');
    check(JSON.stringify(await hostNames(page)) === '["web1"]', 'filter "cpu"');
    await page.locator('#filter').fill('sev1');
    check(JSON.stringify(await rows(page)) === '["disk"]', 'sev1 shows ' + JSON.stringify(await rows(page)));
    check(/^1 of 6 alerts/.test(await statusText(page)), 'sev1 status: ' + await statusText(page));
    await page.locator('#filter').fill('sev<=2');
    check(JSON.stringify(await hostNames(page)) === '["web2","web1","web3"]', 'sev<=2: ' + JSON.stringify(await hostNames(page)));
    check(/^3 of 6 alerts on 3 of 5 hosts/.test(await statusText(page)), 'sev<=2 status: ' + await statusText(page));
    await page.locator('#filter').fill('');
    await page.locator('#sev').selectOption('=1');
    check(JSON.stringify(await hostNames(page)) === '["web2"]', 'menu: severity 1 only');
    await page.locator('#sev').selectOption('<=3');
    check(JSON.stringify(await hostNames(page)) === '["web2","web1","web3","<script>alert(1)</script>"]',
      'menu: 3 or worse: ' + JSON.stringify(await hostNames(page)));
    check(!(await rows(page)).includes('cpu'), 'menu: 3 or worse shows severity 5');
    await page.locator('#sev').selectOption('');
    check((await hostNames(page)).length === 5, 'severity menu reset');

    // The flat view: most severe first across hosts (by host, web1's 5 came before a 3),
    // remembered across a reload.
    await page.locator('#view-flat').click();
    const flat = await rows(page);
    check(JSON.stringify(flat) === JSON.stringify(['web2 / disk', 'web1 / disk', 'web3 / memory',
      '<script>alert(1)</script> / <img src=x onerror=alert(2)>', 'web1 / cpu', 'db1 / backup']),
    'flat view order: ' + JSON.stringify(flat));
    await page.reload();
    await page.locator('#clock', {hasText: 'Updated'}).waitFor();
    check(await page.locator('#view-flat').getAttribute('aria-pressed') === 'true', 'flat view forgotten');
    check((await rows(page))[4] === 'web1 / cpu', 'flat view after reload');
    await page.locator('#view-host').click();
    check((await hostNames(page))[1] === 'web1', 'back to by host');

    // The detail view: every field in words; a URL in a text is a link.
    await web2.locator('button.alert').click();
    await page.locator('#detail').waitFor({state: 'visible'});
    const detail = await page.locator('#fields').innerText();
    for (const want of ['Host', 'web2', 'Component', 'disk', 'Severity', '1 (critical; 1 is the most severe)',
      'Message', 'node down', 'Contact', 'ops@example.edu', 'Clears itself', 'yes',
      'First seen', 'Change number', 'Extra field Rack', 'b7']) {
      check(detail.includes(want), 'detail view lacks "' + want + '": ' + detail);
    }
    check(!/undefined|null|NaN|\[object/.test(detail), 'detail view shows a raw value: ' + detail);
    const link = page.locator('#fields a');
    check(await link.count() === 1, 'links in the detail: ' + await link.count());
    check(await link.getAttribute('href') === 'https://wiki.example.edu/disk?x=1&y=2', 'link href: ' + await link.getAttribute('href'));
    check(await link.textContent() === 'https://wiki.example.edu/disk?x=1&y=2', 'link text');
    check(await link.getAttribute('rel') === 'noopener noreferrer', 'link rel: ' + await link.getAttribute('rel'));
    check(await link.isVisible(), 'the link is not visible');

    // Acknowledge from the page: the form, then the ack on the page and in /v1/alerts. On a
    // phone the form is below the fields, out of sight; a button at the top leads to it.
    const onScreen = (sel) => page.locator(sel).evaluate((e) => {
      const r = e.getBoundingClientRect();
      return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
    });
    check(!(await onScreen('#ack-author')), 'the form is on the first screen: the button to it is not tested');
    check(await onScreen('#ackbox .jump'), 'no way to the form on the first screen of the detail view');
    await page.screenshot({path: path.join(shots, 'phone-detail-open.png')});
    await page.locator('#ackbox .jump').click();
    await waitFor('the form to come into sight', () => onScreen('#ack-author'));
    check(await page.locator('#ack-author').evaluate((e) => e === document.activeElement), 'the name is not focused');
    await page.locator('#ack-author').fill('alice');
    await page.locator('#ack-comment').fill('disk ordered, https://tickets.example.edu/42');
    await page.locator('#ack-expire').selectOption('4h');
    await page.screenshot({path: path.join(shots, 'phone-ack-form.png')});
    await page.locator('#ack-submit').click();
    await page.locator('#ack-result', {hasText: 'Acknowledged.'}).waitFor();
    check(/Acknowledged by alice/.test(await page.locator('#ackbox').innerText()), 'the detail view lacks the ack');
    check(await page.locator('#ackbox a[href="https://tickets.example.edu/42"]').count() === 1, 'the comment\'s link');
    let a = await findAlert('web2', 'disk');
    check(a.ack && a.ack.author === 'alice' && a.ack.comment === 'disk ordered, https://tickets.example.edu/42' &&
      a.ack.expires, '/v1/alerts: ' + JSON.stringify(a.ack));
    await page.screenshot({path: path.join(shots, 'phone-detail.png')});
    await page.locator('#close').click();
    const acked = page.locator('section.ackgroup');
    await acked.waitFor();
    check(/alice/.test(await acked.locator('.ackmark').textContent()), 'no author by the acked row');
    check(!(await hostNames(page)).includes('web2'), 'the acked alert is still among the others');
    const op = await acked.locator('.comp').evaluate((e) => getComputedStyle(e).opacity);
    check(Number(op) < 1, 'the acked row is not dimmed');
    check(await page.title() === '(2) sev2 · injector', 'title after the ack: ' + await page.title());
    check(/1 acknowledged/.test(await statusText(page)), 'status: ' + await statusText(page));

    // Take it back, then acknowledge again: the author is remembered.
    await acked.locator('button.alert').click();
    await page.locator('#unack').click();
    await page.locator('#ack-result', {hasText: 'Taken back.'}).waitFor();
    a = await findAlert('web2', 'disk');
    check(!a.ack, 'still acked in /v1/alerts: ' + JSON.stringify(a));
    check(await page.locator('#ackform').isVisible(), 'no form after taking it back');
    check(await page.locator('#ack-author').inputValue() === 'alice', 'the author was not remembered');
    await page.locator('#ack-comment').fill('on it');
    await page.locator('#ack-submit').click();
    await page.locator('#ack-result', {hasText: 'Acknowledged.'}).waitFor();
    a = await findAlert('web2', 'disk');
    check(a.ack && a.ack.author === 'alice' && !a.ack.expires, 'second ack: ' + JSON.stringify(a.ack));
    await page.locator('#close').click();

    // A faster auto-refresh (the interval menu): a Del sent now leaves without a tap.
    await page.locator('#every').selectOption('5');
    check(/next refresh in [1-5] s/.test(await page.locator('#clock').textContent()), 'countdown after 5 s chosen');
    send('--del', '--host', 'web1', '--component', 'cpu');
    await waitFor('the collector to clear web1/cpu', async () => !(await findAlert('web1', 'cpu')));
    await waitFor('web1/cpu to leave the page by itself', async () =>
      !(await page.locator('main .comp').allTextContents()).includes('cpu'), 12000);

    await ackChangedUnderTheDetailView(page);
    await ackLimitsInBytes(page);
    await ackControlCharacters(page);
    await ackMarkupIsText(page);

    // Health: a burst and a refused datagram, seen in the charts of /v1/history.
    execFileSync(process.env.INJECTOR_BURST, ['--target', process.env.TARGET, '--count', '3000',
      '--hosts', '1', '--no-stats']);
    execFileSync(process.env.INJECTOR_SEND, ['--raw', '--target', process.env.TARGET], {input: 'not xml\n'});
    await waitFor('a history point with the burst and the refusal', async () => {
      const h = await get('v1/history');
      return Math.max(...h.series.datagrams) > 0 && Math.max(...h.series.refused) > 0;
    }, 15000);
    await page.locator('#every').selectOption('30');
    await page.locator('#refresh').click();
    await page.locator('#health-line', {hasText: 'dropped, refused or lost'}).waitFor();
    check(await page.locator('#health-title').textContent() === 'Collector health, last 6 min',
      'the charts\' span at a 1 s step: ' + await page.locator('#health-title').textContent());
    check(!(await page.locator('#health').evaluate((d) => d.open)), 'health open on a phone by default');
    await page.locator('#health summary').click();
    const charts = page.locator('#charts figure.chart');
    await charts.first().waitFor();
    check(await charts.count() === 4, 'charts: ' + await charts.count());
    for (const c of await charts.all()) {
      check(await c.locator('svg path.line, svg path.band').count() >= 1, 'a chart without a line');
      check(await c.locator('svg text').count() >= 3, 'a chart without its labels');
      check(await c.locator('.keys li').count() >= 1, 'a chart without a legend');
    }
    const dg = charts.filter({hasText: 'Datagrams received'});
    const maxLabel = await dg.locator('svg text').first().textContent();
    check(/^max [\d.]+k?\/s$/.test(maxLabel), 'datagrams max label: ' + maxLabel);
    // The burst: drawn from the baseline up to the top line (the chart's max).
    const span = await dg.locator('svg').evaluate((g) => {
      const area = g.querySelector('path.area').getBBox();
      const y = (sel) => Number(g.querySelector(sel).getAttribute('y1'));
      return {area: area.height, axis: y('line.axis') - y('line.grid')};
    });
    check(span.area >= span.axis - 1, 'the burst does not reach the top: ' + JSON.stringify(span));
    const loss = charts.filter({hasText: 'Dropped, refused, lost'});
    check(await loss.locator('circle.dot').count() >= 1, 'the refused datagram has no mark');
    check(/refused \d+ in all/.test(await loss.locator('.keys').innerText()), 'loss legend: ' +
      await loss.locator('.keys').innerText());
    const hl = await page.locator('#health-line').textContent();
    check(/\d+ dropped, refused or lost/.test(hl), 'health line: ' + hl);
    // 3,000 datagrams within at most three 1 s steps: at least 1,000/s at the peak.
    const pk = /peak ([\d.]+)(k?) datagrams\/s/.exec(hl);
    check(pk && Number(pk[1]) * (pk[2] ? 1000 : 1) >= 1000, 'the burst\'s peak: ' + hl);
    await changesFollowTheCollector(page, charts);
    await noSidewaysScroll(page, 'on a phone with the charts');


    await page.screenshot({path: path.join(shots, 'phone-light.png'), fullPage: true});
    await page.emulateMedia({colorScheme: 'dark'});
    await badgesReadable(page, 'dark');
    await page.screenshot({path: path.join(shots, 'phone-dark.png'), fullPage: true});
    await page.emulateMedia({colorScheme: 'light'});

    // At a desk: the charts side by side, the page as wide as the window.
    await page.setViewportSize({width: 1280, height: 800});
    await waitFor('the charts to be redrawn two a row', async () => {
      const b = await charts.evaluateAll((fs) => fs.map((f) => f.getBoundingClientRect().top));
      return b.length === 4 && b[0] === b[1];
    });
    await noSidewaysScroll(page, 'at 1280x800');
    check(await page.locator('main .age').first().isVisible(), 'age hidden at a desk');
    await page.screenshot({path: path.join(shots, 'desktop.png'), fullPage: true});

    // A collector without a token file refuses acks, and the page says the collector's words.
    const page2 = await context.newPage();
    watch(page2);
    await page2.setViewportSize({width: 390, height: 844});
    await page2.goto(url2);
    await page2.locator('#clock', {hasText: 'Updated'}).waitFor();
    await page2.locator('main button.alert').first().click();
    await page2.locator('#ack-author').fill('bob');
    await page2.locator('#ack-comment').fill('looking');
    httpErrorsExpected = 1;
    await page2.locator('#ack-submit').click();
    await page2.locator('#ack-result.error').waitFor();
    const refusal = await page2.locator('#ack-result').textContent();
    check(/acknowledgements need a token: start injectord with --http-token-file/.test(refusal),
      'the refusal does not say why: ' + refusal);
    httpErrorsExpected = 0;
    await page2.close();

    check(problems.length === 0, problems.join('; '));
    console.log('dashboard: token, summary and legend, exact and N-or-worse filters, title count, ' +
      'countdown and auto-refresh, flat view, links, ack and take back, refusal without a token, ' +
      'health charts, badge contrast light and dark; screenshots in ' + shots);
  } catch (e) {
    await page.screenshot({path: path.join(shots, 'failed.png'), fullPage: true}).catch(() => {});
    console.error('FAIL: ' + e.message + (problems.length ? ' (also: ' + problems.join('; ') + ')' : ''));
    process.exitCode = 1;
  } finally {
    await context.close();
  }
})();
