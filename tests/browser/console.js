// Drives the operator console (/admin/) in Debian's chromium for
// tests/console.rs: node console.js BASE TOKEN SHOTS_DIR. Prints what it
// saw as one JSON object; the Rust test asserts on it and on the store.
const { chromium } = require('playwright-core');

const [base, token, shots] = process.argv.slice(2);
const seen = { steps: [], errors: [], dialogs: [], probes: [], requests: [] };
let phase = 'start';

// Payloads that run script or fetch a probe only if rendered as markup.
const XSS_PARAM = '<img src="/admin/xss-probe-param" onerror="window.__xss=1">';
const XSS_DEFAULT = '"><script>window.__xss=2</script><img src="/admin/xss-probe-default">';
const XSS_NAME = '<img src="/admin/xss-probe-lead" onerror="window.__xss=3">';

async function post(path) {
  const r = await fetch(base + path);
  return r.json();
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') seen.errors.push({ phase, text: m.text() }); });
  page.on('pageerror', (e) => seen.errors.push({ phase, text: 'page error: ' + e.message }));
  page.on('dialog', async (d) => { seen.dialogs.push(d.message()); await d.dismiss(); });
  page.on('request', (r) => {
    const url = r.url();
    if (url.includes('xss-probe')) seen.probes.push(url);
    if (!url.startsWith(base)) seen.probes.push('off-origin: ' + url);
    seen.requests.push({ url, auth: r.headers().authorization || '' });
  });
  const shot = async (name) => {
    if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  };
  const step = (name, data) => seen.steps.push(Object.assign({ name }, data || {}));
  const dashboardCount = async (form) => {
    await page.waitForSelector(`#per-profile tr[data-form="${form}"]`);
    return (await page.textContent(`#per-profile tr[data-form="${form}"] td.total`)).trim();
  };

  // Sign in: a wrong token first, then the right one.
  phase = 'wrong-token';
  await page.goto(base + '/admin/');
  await page.waitForSelector('#token');
  step('signin-page', { url: page.url(), type: await page.getAttribute('#token', 'type') });
  await page.fill('#token', 'not-the-token');
  await page.click('button[type=submit]');
  await page.waitForSelector('#signin-status .message');
  step('wrong-token', { message: await page.textContent('#signin-status'), stored: await page.evaluate(() => sessionStorage.length) });
  await shot('signin');

  phase = 'main';
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('#per-profile');
  step('signed-in', { url: page.url(), stored: await page.evaluate(() => Object.values(sessionStorage)) });

  // A profile with two field rows, made in the UI; first with a mistake.
  await page.goto(base + '/admin/#/config/profiles/new');
  await page.waitForSelector('#f-number');
  await page.fill('#f-number', '41');
  await page.fill('#f-form_name', 'console_form');
  await page.fill('#f-parameter1', XSS_PARAM);
  await page.click('#add-row');
  await page.click('#add-row');
  const row = (n, col) => `#field-rows tr[data-row="${n}"] [data-col="${col}"]`;
  await page.fill(row(1, 'external'), 'Phone');
  await page.selectOption(row(1, 'table'), 'clients');
  await page.fill(row(1, 'field'), 'phone1');
  await page.check(row(1, 'mandatory'));
  await page.fill(row(2, 'external'), 'Name');
  await page.selectOption(row(2, 'table'), 'clients');
  await page.fill(row(2, 'field'), 'no_such_field');
  await page.fill(row(2, 'default'), XSS_DEFAULT);
  phase = 'validation';
  await page.click('#save');
  await page.waitForSelector('#field-rows .field-error');
  step('validation', {
    rowInvalid: await page.getAttribute('#field-rows tr[data-row="2"]', 'class'),
    fieldInvalid: await page.getAttribute(row(2, 'field'), 'class'),
    otherRowInvalid: await page.getAttribute('#field-rows tr[data-row="1"]', 'class'),
    message: await page.textContent('#field-rows tr[data-row="2"] .field-error'),
    errorsInRow1: await page.locator('#field-rows tr[data-row="1"] .field-error').count(),
  });
  await shot('profile-validation');
  phase = 'main';
  await page.fill(row(2, 'field'), 'full_name');
  await page.click('#save');
  await page.waitForSelector('#config-list tr[data-id="41"]');
  step('created', { flash: await page.textContent('main .message') });
  await shot('profiles');

  // The dashboard before and after a post to the new profile.
  await page.goto(base + '/admin/#/dashboard');
  const before = await dashboardCount('console_form');
  const answer = await post('/console_form?Phone=052-234-5641&Name=Console%20Dana');
  await page.waitForFunction((form) => {
    const td = document.querySelector(`#per-profile tr[data-form="${form}"] td.total`);
    return td && td.textContent.trim() === '1';
  }, 'console_form', { timeout: 15000 });
  step('dashboard', {
    before, after: await dashboardCount('console_form'), answer,
    code000: (await page.textContent('#per-profile tr[data-form="console_form"] td[data-code="000"]')).trim(),
    bars: await page.locator('.chart rect').count(),
  });

  // Search by phone in another format than the one posted.
  await page.goto(base + '/admin/#/records/clients');
  await page.waitForSelector('#search');
  await page.fill('#search', '+972 (52) 234 5641');
  await page.press('#search', 'Enter');
  await page.waitForSelector('table.records tbody tr');
  const found = await page.$$eval('table.records tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-id')));
  step('search', { found, url: page.url(), text: await page.textContent('table.records tbody') });
  await shot('clients');

  // The client's page: its fields and the raw post that made it.
  await page.click(`table.records tbody tr[data-id="${found[0]}"] a`);
  await page.waitForSelector('#client-posts table');
  step('client-page', { posts: await page.textContent('#client-posts') });
  await shot('client');

  // What a sender posted and the profile's settings render as text.
  const xssLead = await post('/console_form?Phone=052-234-5642&Name=' + encodeURIComponent(XSS_NAME));
  await page.goto(base + '/admin/#/records/clients');
  await page.waitForSelector(`table.records tbody tr[data-id="${xssLead.RecordId}"]`);
  const leadCell = await page.textContent(`table.records tbody tr[data-id="${xssLead.RecordId}"]`);
  await page.goto(base + '/admin/#/config/profiles/edit/41');
  await page.waitForSelector(row(2, 'default'));
  step('xss', {
    leadCellHasPayload: leadCell.includes(XSS_NAME),
    param: await page.inputValue('#f-parameter1'),
    rowDefault: await page.inputValue(row(2, 'default')),
    flag: await page.evaluate(() => window.__xss === undefined ? null : window.__xss),
    images: await page.locator('main img').count(),
    scripts: await page.locator('main script').count(),
  });
  await shot('profile-edit');

  // Another configuration page end to end: a branch created, edited, deleted.
  await page.goto(base + '/admin/#/config/branches/new');
  await page.waitForSelector('#f-id');
  await page.fill('#f-id', 'A9');
  await page.fill('#f-name', 'North');
  await page.fill('#f-timezone', 'Asia/Jerusalem');
  await page.click('#save');
  await page.waitForSelector('#config-list tr[data-id="A9"]');
  await page.click('#config-list tr[data-id="A9"] a');
  await page.waitForSelector('#f-name');
  await page.fill('#f-name', 'North & <b>Galilee</b>');
  await page.click('#save');
  await page.waitForSelector('#config-list tr[data-id="A9"]');
  const edited = await page.textContent('#config-list tr[data-id="A9"]');
  await shot('branches');
  await page.click('#config-list tr[data-id="A9"] button:has-text("Delete")');
  await page.click('#config-list tr[data-id="A9"] button:has-text("Confirm delete")');
  await page.waitForSelector('#config-list tr[data-id="A9"]', { state: 'detached' });
  step('branch', { edited, bold: await page.locator('main b').count() });

  // A buyer and its key, shown once.
  await page.goto(base + '/admin/#/config/buyers/new');
  await page.waitForSelector('#f-id');
  await page.fill('#f-id', '7');
  await page.fill('#f-name', 'Console Buyer');
  await page.click('#save');
  await page.waitForSelector('#config-list tr[data-id="7"]');
  await page.click('#config-list tr[data-id="7"] button:has-text("New key")');
  await page.waitForSelector('#buyer-key');
  step('buyer-key', { key: (await page.textContent('#buyer-key')).trim() });
  await shot('buyers');

  // Paging, newest first: 60 more posts make two pages of the usage log.
  for (let i = 0; i < 60; i++) await post(`/console_form?Phone=0547300${String(i).padStart(3, '0')}&Name=Page%20${i}`);
  await page.goto(base + '/admin/#/records/usage_log');
  await page.waitForSelector('table.records tbody tr');
  await page.waitForFunction(() => document.querySelectorAll('table.records tbody tr').length === 50);
  const pageIds = async () => page.$$eval('table.records tbody tr', (trs) => trs.map((tr) => Number(tr.getAttribute('data-id'))));
  const firstPage = await pageIds();
  await page.click('#older');
  await page.waitForFunction((top) => {
    const tr = document.querySelector('table.records tbody tr');
    return tr && Number(tr.getAttribute('data-id')) < top;
  }, firstPage[firstPage.length - 1] + 1);
  step('paging', { first: firstPage, second: await pageIds() });

  // The other record pages answer.
  for (const name of ['leads', 'bad_leads', 'tickets', 'usage_log', 'automation_log', 'outbox', 'deliveries']) {
    await page.goto(base + '/admin/#/records/' + name);
    await page.waitForSelector('table.records, #none');
    step('records-' + name, { rows: await page.locator('table.records tbody tr').count() });
    await shot('records-' + name);
  }
  for (const name of ['users', 'rules', 'feedback_reasons', 'campaigns', 'extensions', 'dnc']) {
    await page.goto(base + '/admin/#/config/' + name);
    await page.waitForSelector('#config-list');
    step('config-' + name, { rows: await page.locator('#config-list tbody tr').count() });
    await shot('config-' + name);
  }

  // Live tail: a post made now shows up.
  await page.goto(base + '/admin/#/tail');
  await page.waitForSelector('#tail');
  const tailed = await post('/console_form?Phone=052-234-5643&Name=Tail%20Marker');
  await page.waitForFunction(() => document.querySelector('#tail tbody') && document.querySelector('#tail tbody').textContent.includes('Tail%20Marker'), null, { timeout: 15000 });
  step('tail', { answer: tailed, first: await page.textContent('#tail tbody tr') });
  await shot('tail');

  // The dashboard after the whole run, for the README.
  await page.goto(base + '/admin/#/dashboard');
  await page.waitForSelector('#per-profile tr[data-form="console_form"]');
  await shot('dashboard');

  // Sign out forgets the token.
  await page.click('#signout');
  await page.waitForSelector('#token');
  step('signed-out', { stored: await page.evaluate(() => sessionStorage.length), url: page.url() });

  await browser.close();
  console.log(JSON.stringify(seen));
})().catch((e) => {
  console.error('console.js failed in phase ' + phase + ': ' + e.stack);
  console.log(JSON.stringify(seen));
  process.exit(1);
});
