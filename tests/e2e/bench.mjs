// Time per image of the default model in headless Chromium (WebGPU, and the CPU fallback with
// one worker and with its default pool of one worker per core), side by side with the native
// CLI (`rdpp bench`, same architecture and input size, 2 threads) measured in the same run on
// the same machine. Prints a table and the ratios.
//
//   node tests/e2e/bench.mjs [--images 8] [--rdpp path/to/rdpp]
//
// Two figures per row:
// - latency: one image alone, median of the per-image times the page shows (decode, network,
//   map post-processing in the worker), after the warm-up each worker does at load;
// - batch: wall time from dropping N images to the last result, divided by N (what a user
//   waits per image for a folder). Native: `rdpp bench` at batch 1 and at batch 8.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/serve.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const N = Number(opt('--images', '8'));
const target = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/rdpp/target');
const RDPP = opt('--rdpp', process.env.RDPP_BIN ?? join(target, 'debug', 'rdpp'));

const catalog = JSON.parse(readFileSync(join(ROOT, 'models/manifest.json'), 'utf8'));
const model = catalog.models.find((m) => m.id === catalog.default) ?? catalog.models[0];
const manifest = JSON.parse(readFileSync(join(ROOT, 'models', model.bundle, 'manifest.json'), 'utf8'));
const sample = model.samples.find((s) => s.label === 'defect') ?? model.samples[0];
const bytes = readFileSync(join(ROOT, sample.image));

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[s.length >> 1]; };
const files = (tag, n) => Array.from({ length: n }, (_, i) => ({ name: `${tag}_${i}.png`, mimeType: 'image/png', buffer: bytes }));

async function browserRun(server, query, webgpu) {
  const argv = ['--no-sandbox', '--disable-dev-shm-usage'];
  if (webgpu) argv.push('--enable-unsafe-webgpu');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: argv });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/?${query}`);
    await page.waitForSelector('#phase[data-phase="ready"]', { timeout: 300_000 });
    // Every worker of the pool loaded (each warms up at load).
    const want = webgpu ? 1 : Number(/workers=(\d+)/.exec(query)?.[1] ?? Math.min(availableParallelism(), 8));
    await page.waitForSelector(`#backend[data-workers="${want}"]`, { timeout: 300_000 });
    const label = await page.innerText('#backend');
    // Latency: one image at a time.
    const ms = [];
    for (let i = 0; i < 3; i++) {
      await page.setInputFiles('#file-input', files(`one${i}`, 1));
      const card = page.locator(`article.card[data-file="one${i}_0.png"][data-status="done"]`);
      await card.waitFor({ timeout: 300_000 });
      ms.push(Number(/(\d+) ms/.exec(await card.innerText())[1]));
    }
    // Batch: N at once.
    const t0 = await page.evaluate(() => performance.now());
    await page.setInputFiles('#file-input', files('batch', N));
    await page.waitForSelector(`#summary[data-done="${3 + N}"]`, { timeout: 600_000 });
    const t1 = await page.evaluate(() => performance.now());
    return { label, workers: want, latency: median(ms), batch: (t1 - t0) / N };
  } finally {
    await browser.close();
  }
}

const server = await serve(join(ROOT, 'dist'));
const rows = [];
try {
  rows.push(['browser, WebGPU', await browserRun(server, 'backend=webgpu', true)]);
  rows.push(['browser, CPU, 1 worker', await browserRun(server, 'backend=cpu&workers=1', false)]);
  rows.push(['browser, CPU, pool', await browserRun(server, 'backend=cpu', false)]);
} finally {
  server.close();
}
const out = execFileSync(RDPP, ['bench', '--backbone', manifest.backbone, '--input-size', String(manifest.input_size),
  '--batches', '1,8', '--iters', '5', '--warmup', '1', '--threads', '2', '--backend', 'flex', '--no-torch'],
  { encoding: 'utf8' });
const native = {};
for (const line of out.trim().split('\n').filter((l) => l.startsWith('{'))) {
  const m = JSON.parse(line);
  if (m.impl.startsWith('rdpp')) native[m.batch] = m.ms_per_image;
}

console.log(`default model: ${manifest.name} (${manifest.backbone}, ${manifest.input_size}×${manifest.input_size}); ` +
  `latency: median of 3 single images; batch: ${N} images at once, wall time / ${N}`);
console.log(`${'where'.padEnd(26)} ${'latency ms'.padStart(10)} ${'× native'.padStart(9)} ${'batch ms/img'.padStart(12)} ${'× native'.padStart(9)}  backend`);
for (const [name, r] of rows) {
  console.log(`${name.padEnd(26)} ${r.latency.toFixed(0).padStart(10)} ${(r.latency / native[1]).toFixed(2).padStart(9)} ` +
    `${r.batch.toFixed(0).padStart(12)} ${(r.batch / native[8]).toFixed(2).padStart(9)}  ${r.label}`);
}
console.log(`${'native rdpp, flex, 2 thr'.padEnd(26)} ${native[1].toFixed(0).padStart(10)} ${'1.00'.padStart(9)} ` +
  `${native[8].toFixed(0).padStart(12)} ${'1.00'.padStart(9)}  batch 1 / batch 8`);
console.log(JSON.stringify({ sample: basename(sample.image), cores: availableParallelism(), native, browser: Object.fromEntries(rows) }));
