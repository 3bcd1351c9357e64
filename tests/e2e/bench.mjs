// Time per image of the default model in headless Chromium (WebGPU and CPU fallback), side by
// side with the native CLI (`rdpp bench`, same architecture and input size) measured in the same
// run on the same machine. Prints a table and the ratios.
//
//   node tests/e2e/bench.mjs [--images 6] [--rdpp path/to/rdpp]
//
// The page's time per image covers preprocessing, the network and the anomaly-map post-processing
// (what a user waits for); the first image after loading is left out (warm-up).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/serve.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const N = Number(opt('--images', '6'));
const target = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/rdpp/target');
const RDPP = opt('--rdpp', process.env.RDPP_BIN ?? join(target, 'debug', 'rdpp'));

const catalog = JSON.parse(readFileSync(join(ROOT, 'models/manifest.json'), 'utf8'));
const model = catalog.models.find((m) => m.id === catalog.default) ?? catalog.models[0];
const manifest = JSON.parse(readFileSync(join(ROOT, 'models', model.bundle, 'manifest.json'), 'utf8'));
const sample = model.samples.find((s) => s.label === 'defect') ?? model.samples[0];
const bytes = readFileSync(join(ROOT, sample.image));

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[s.length >> 1]; };

async function browserRun(server, backend, webgpu) {
  const argv = ['--no-sandbox', '--disable-dev-shm-usage'];
  if (webgpu) argv.push('--enable-unsafe-webgpu');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: argv });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/?backend=${backend}`);
    await page.waitForSelector('#phase[data-phase="ready"]', { timeout: 300_000 });
    const label = await page.innerText('#backend');
    const files = Array.from({ length: N + 1 }, (_, i) => ({ name: `bench_${i}.png`, mimeType: 'image/png', buffer: bytes }));
    await page.setInputFiles('#file-input', files);
    const ms = [];
    for (let i = 0; i <= N; i++) {
      const card = page.locator(`article.card[data-file="bench_${i}.png"][data-status="done"]`);
      await card.waitFor({ timeout: 300_000 });
      const text = await card.innerText();
      if (i > 0) ms.push(Number(/(\d+) ms/.exec(text)[1]));
    }
    return { label, ms: median(ms) };
  } finally {
    await browser.close();
  }
}

const server = await serve(join(ROOT, 'dist'));
const rows = [];
try {
  rows.push(['browser, WebGPU', await browserRun(server, 'webgpu', true)]);
  rows.push(['browser, CPU (wasm)', await browserRun(server, 'cpu', false)]);
} finally {
  server.close();
}
const out = execFileSync(RDPP, ['bench', '--backbone', manifest.backbone, '--input-size', String(manifest.input_size),
  '--batches', '1', '--iters', String(N), '--warmup', '1', '--threads', '2', '--backend', 'flex', '--no-torch'],
  { encoding: 'utf8' });
const native = JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).pop()).ms_per_image;

console.log(`default model: ${manifest.name} (${manifest.backbone}, ${manifest.input_size}×${manifest.input_size}), ` +
  `median of ${N} images after one warm-up`);
console.log(`${'where'.padEnd(24)} ${'ms/image'.padStart(9)}  ${'× native'.padStart(9)}  adapter`);
for (const [name, r] of rows) {
  console.log(`${name.padEnd(24)} ${String(r.ms).padStart(9)}  ${(r.ms / native).toFixed(2).padStart(9)}  ${r.label}`);
}
console.log(`${'native rdpp, flex 2 thr'.padEnd(24)} ${native.toFixed(0).padStart(9)}  ${'1.00'.padStart(9)}`);
console.log(JSON.stringify({ sample: basename(sample.image), native_ms: native, browser: Object.fromEntries(rows) }));
