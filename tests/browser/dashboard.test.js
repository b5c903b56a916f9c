// dashboard.test.js - the dashboard page in Debian's chromium, headless, on a phone-sized
// screen, driven with playwright-core. Run by tests/integration/dashboard.sh, which starts
// injectord and sends the alerts; this script checks what a user sees and does:
//   the alerts are listed, grouped by host, most severe first, severity as coloured numbers;
//   markup in a host name or message shows as text (nothing runs, nothing loads);
//   the filter narrows the list; a row opens every field in words;
//   a Del sent meanwhile removes the alert once Refresh is pressed;
//   a screenshot is saved.
// Environment: BROWSER_DIR (node_modules), CHROMIUM, DASHBOARD_URL, INJECTOR_SEND, TARGET,
// SCREENSHOT, PROFILE_DIR (a new --user-data-dir).
'use strict';
const path = require('node:path');
const {execFileSync} = require('node:child_process');
const {chromium} = require(path.join(process.env.BROWSER_DIR, 'node_modules', 'playwright-core'));

const url = process.env.DASHBOARD_URL;
const problems = [];

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

async function activeCount() {
  const r = await fetch(url + 'v1/alerts');
  return (await r.json()).count;
}

async function hostNames(page) {
  return page.locator('section.host h2 .name').allTextContents();
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
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('dialog', (d) => { problems.push('a dialog opened: ' + d.message()); d.dismiss(); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
  page.on('request', (r) => {
    if (!r.url().startsWith(url)) problems.push('a request left the collector: ' + r.url());
  });
  try {
    await page.goto(url);
    await page.locator('#status', {hasText: 'Updated'}).waitFor();
    const status = await page.locator('#status').textContent();
    check(/4 alerts on 3 hosts/.test(status), 'status line: ' + status);

    // Grouped by host, the host with the most severe alert first; markup is text.
    const hosts = await hostNames(page);
    check(JSON.stringify(hosts) === JSON.stringify(['web2', 'web1', '<script>alert(1)</script>']),
      'hosts in order of severity: ' + JSON.stringify(hosts));
    check(await page.locator('script').count() === 1, 'a <script> element was made from data');
    check(await page.locator('main img, main b').count() === 0, 'markup from data became elements');
    check((await page.locator('.comp', {hasText: '<img src=x onerror=alert(2)>'}).count()) === 1,
      'the component with markup is not shown as text');
    // Severity as colour-coded numbers.
    const web2 = page.locator('section.host', {has: page.locator('.name', {hasText: /^web2$/})});
    check((await web2.locator('.sev').textContent()) === '1', 'web2 severity number');
    check(await web2.locator('.sev.s1').count() === 1, 'severity 1 has its colour class');
    const bg = await web2.locator('.sev').evaluate((e) => getComputedStyle(e).backgroundColor);
    check(bg === 'rgb(127, 0, 0)', 'severity 1 colour: ' + bg);
    // Fits a phone: no sideways scrolling; the Refresh button is a real touch target.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, 'the page scrolls sideways by ' + overflow + ' px on a phone');
    const box = await page.locator('#refresh').boundingBox();
    check(box.height >= 44, 'Refresh button too small to tap: ' + box.height);

    // The filter box.
    await page.locator('#filter').fill('cpu');
    check(JSON.stringify(await hostNames(page)) === '["web1"]', 'filter "cpu"');
    await page.locator('#filter').fill('');
    check((await hostNames(page)).length === 3, 'filter cleared');

    // The detail view: every field in words.
    await web2.locator('button.alert').click();
    await page.locator('#detail').waitFor({state: 'visible'});
    const detail = await page.locator('#fields').innerText();
    for (const want of ['Host', 'web2', 'Component', 'disk', 'Severity', '1 (critical)',
      'Message', 'node down', 'Contact', 'ops@example.edu', 'Clears itself', 'yes',
      'First seen', 'Change number', 'Extra field Rack', 'b7']) {
      check(detail.includes(want), 'detail view lacks "' + want + '": ' + detail);
    }
    check(!/undefined|null|NaN|\[object/.test(detail), 'detail view shows a raw value: ' + detail);
    await page.screenshot({path: process.env.SCREENSHOT.replace(/\.png$/, '-detail.png')});
    await page.locator('#close').click();
    await page.locator('#detail').waitFor({state: 'hidden'});

    // A Del sent now: gone from the page after Refresh (and not before).
    execFileSync(process.env.INJECTOR_SEND, ['--target', process.env.TARGET, '--del',
      '--host', 'web2', '--component', 'disk']);
    await waitFor('the collector to clear web2/disk', async () => (await activeCount()) === 3);
    check((await hostNames(page)).includes('web2'), 'the page changed without a refresh');
    await page.locator('#refresh').click();
    await waitFor('web2 to leave the page', async () => !(await hostNames(page)).includes('web2'));
    const after = await page.locator('#status').textContent();
    check(/3 alerts on 2 hosts/.test(after), 'status after refresh: ' + after);

    await page.screenshot({path: process.env.SCREENSHOT, fullPage: true});
    check(problems.length === 0, problems.join('; '));
    console.log('dashboard: listed 4 alerts, markup shown as text, filter, detail view, ' +
      'Del gone after Refresh; screenshot ' + process.env.SCREENSHOT);
  } catch (e) {
    await page.screenshot({path: process.env.SCREENSHOT, fullPage: true}).catch(() => {});
    console.error('FAIL: ' + e.message + (problems.length ? ' (also: ' + problems.join('; ') + ')' : ''));
    process.exitCode = 1;
  } finally {
    await context.close();
  }
})();
