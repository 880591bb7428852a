// Manual browser check of the mini form (see README, Tests). Needs Debian's chromium and
// `npm install playwright-core`; the appliance must run on tests/browser/form.toml.
const { chromium } = require('playwright-core');
(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const page = await browser.newPage();
  const errors = [];
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto('http://127.0.0.1:18090/safe');
  await page.screenshot({ path: '/tmp/pw/form.png' });
  // The browser itself refuses to submit without the required fields.
  await page.click('button[type=submit]');
  console.log('still on form after empty submit:', page.url());
  const q = await page.textContent('label[for=fcaptcha]');
  const m = q.match(/What is (\d+) \+ (\d+)\?/);
  await page.fill('input[name=name]', 'Dana Levi');
  await page.fill('input[name=phone]', '050-234-5678');
  await page.fill('textarea[name=message]', 'Call me after 5');
  await page.fill('#fcaptcha', String(Number(m[1]) + Number(m[2])));
  await page.waitForTimeout(2100);
  await page.click('button[type=submit]');
  await page.waitForLoadState();
  console.log('after submit:', page.url(), '|', (await page.textContent('h1')));
  console.log('CSP/console errors:', JSON.stringify(errors));
  await browser.close();
})();
