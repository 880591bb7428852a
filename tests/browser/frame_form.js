// Driven by tests/form_frame.rs: a page on an allowed origin frames the mini
// form, fills and submits it; a page on another origin tries to frame it.
// Prints one JSON line of what the browser saw.
const { chromium } = require('playwright-core');

const [allowedPage, refusedPage, form] = process.argv.slice(2);

async function formFrame(page) {
  // The frame that loaded the form, or null.
  for (let i = 0; i < 50; i++) {
    for (const f of page.frames()) {
      if (f !== page.mainFrame() && f.url().includes('/' + form)) {
        if (await f.$('form')) return f;
      }
    }
    await page.waitForTimeout(100);
  }
  return null;
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const out = {};
  try {
    const page = await browser.newPage();
    const cspErrors = [];
    page.on('console', m => { if (m.type() === 'error') cspErrors.push(m.text()); });
    await page.goto(allowedPage);
    const frame = await formFrame(page);
    out.allowed = { framed: frame !== null };
    if (frame) {
      Object.assign(out.allowed, await frame.evaluate(() => ({
        lang: document.documentElement.lang,
        dir: document.documentElement.dir,
        title: document.title,
        submit: document.querySelector('button[type=submit]').textContent,
        labels: [...document.querySelectorAll('label')].map(l => l.textContent.replace(' *', '')),
      })));
      await frame.fill('input[name=name]', 'דנה לוי');
      await frame.fill('input[name=phone]', '052-234-5699');
      await Promise.all([frame.waitForNavigation(), frame.click('button[type=submit]')]);
      out.allowed.after = frame.url();
      out.allowed.thanks = await frame.evaluate(() => document.body.innerText.slice(0, 200));
    }
    out.allowed.consoleErrors = cspErrors;

    const other = await browser.newPage();
    const refusedErrors = [];
    other.on('console', m => refusedErrors.push(m.text()));
    await other.goto(refusedPage);
    await other.waitForTimeout(1500);
    const blocked = await formFrame(other);
    out.refused = {
      framed: blocked !== null,
      frames: other.frames().filter(f => f !== other.mainFrame()).map(f => f.url()),
      console: refusedErrors,
    };
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });
