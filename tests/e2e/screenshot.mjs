// Refreshes docs/screenshot.png (the README's picture) from the current page: the default model
// on the CPU, its samples scored, the summary line and badges showing.
//
//   node tests/e2e/screenshot.mjs        (after `bash scripts/site.sh build`)
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/serve.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const server = await serve(join(ROOT, 'dist'));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, colorScheme: 'light' });
  await page.goto(`http://127.0.0.1:${server.address().port}/?backend=cpu`);
  await page.waitForSelector('#phase[data-phase="ready"]', { timeout: 300_000 });
  for (const label of ['defect', 'defect', 'good']) {
    const buttons = page.locator(`button.sample[data-label="${label}"]`);
    const n = await page.locator('article.card').count();
    await buttons.nth(label === 'defect' ? n : 0).click();
  }
  await page.waitForSelector('#summary[data-done="3"]', { timeout: 300_000 });
  await page.screenshot({ path: join(ROOT, 'docs/screenshot.png'), fullPage: true });
  console.log('wrote docs/screenshot.png');
} finally {
  await browser.close();
  server.close();
}
