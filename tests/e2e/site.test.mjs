// End-to-end test of the built demo site (dist/) in headless Chromium, driven by playwright-core
// with Debian's /usr/bin/chromium. Run by scripts/test.sh after `trunk build --release`:
//
//   RDPP_BIN=path/to/rdpp node --test tests/e2e/
//
// The site is served from a sub-path on 127.0.0.1. For the WebGPU backend (SwiftShader, with
// --enable-unsafe-webgpu) and for the CPU fallback (no WebGPU), it drops the default model's
// samples, waits for the heatmaps, and checks: the score equals `rdpp infer` on the same image and
// bundle within 1e-3, the defect's map peaks inside its ground-truth mask, both backends agree,
// a non-image file and broken model URLs give specific errors, and no request leaves the site.
// Last, it runs the README's first command (scripts/site.sh) itself and clicks a bundled defective
// sample on the page it serves.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/serve.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const DIST = resolve(process.env.RDPP_DIST ?? join(ROOT, 'dist'));
const CHROMIUM = process.env.RDPP_CHROMIUM ?? '/usr/bin/chromium';
const PREFIX = '/some/sub/path/';
const TIMEOUT = 240_000;

const catalog = JSON.parse(readFileSync(join(ROOT, 'models/manifest.json'), 'utf8'));
const model = catalog.models.find((m) => m.id === catalog.default) ?? catalog.models[0];
const defect = model.samples.find((s) => s.label === 'defect');
const good = model.samples.find((s) => s.label === 'good');
const bundleDir = join(ROOT, 'models', model.bundle);

let server;
let origin;
const expected = new Map(); // file name -> score from `rdpp infer`
const webScores = {}; // backend -> file -> score

function rdppBin() {
  if (process.env.RDPP_BIN) return process.env.RDPP_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/rdpp/target');
  return join(target, 'debug', 'rdpp');
}

before(async () => {
  assert.ok(existsSync(join(DIST, 'index.html')), `${DIST}/index.html missing: build the site first`);
  assert.ok(defect && good, 'the default model lists a good and a defective sample');
  // The native CLI's scores on the same images and bundle.
  const out = mkdtempSync(join(tmpdir(), 'rdpp-e2e-'));
  try {
    execFileSync(rdppBin(), ['infer', '--model', bundleDir, '--out', out,
      join(ROOT, defect.image), join(ROOT, good.image)], { stdio: ['ignore', 'ignore', 'inherit'] });
    const lines = readFileSync(join(out, 'scores.csv'), 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const [file, score] = line.split(',');
      expected.set(basename(file), Number(score));
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  assert.equal(expected.size, 2, 'rdpp infer scored both samples');

  // Broken bundles served next to the site: a flipped byte (sha mismatch), a JSON that is not a
  // bundle, and a folder that does not exist (404).
  const manifest = readFileSync(join(bundleDir, 'manifest.json'));
  const weightsName = JSON.parse(manifest).weights.file;
  const weights = Buffer.from(readFileSync(join(bundleDir, weightsName)));
  weights[weights.length >> 1] ^= 0xff;
  const extra = {
    '/broken/manifest.json': { type: 'application/json', body: manifest },
    [`/broken/${weightsName}`]: { body: weights },
    '/not-a-bundle/manifest.json': { type: 'application/json', body: Buffer.from('{"hello": "world"}') },
  };
  server = await serve(DIST, { prefix: PREFIX, extra });
  origin = `http://127.0.0.1:${server.address().port}`;
});

after(() => server?.close());

async function openPage(backend, { webgpu }) {
  const args = ['--no-sandbox', '--disable-dev-shm-usage'];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  const page = await browser.newPage();
  const requests = [];
  const problems = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  return { browser, page, requests, problems, url: (q) => `${origin}${PREFIX}?backend=${backend}${q ?? ''}` };
}

async function waitReady(page) {
  await page.waitForSelector('#phase[data-phase="ready"], #phase[data-phase="failed"]', { timeout: TIMEOUT });
  const phase = await page.getAttribute('#phase', 'data-phase');
  const errors = await page.locator('.error').allInnerTexts();
  assert.equal(phase, 'ready', `the default model did not load: ${errors.join(' | ')}`);
}

async function dropFiles(page, files) {
  await page.setInputFiles('#file-input', files);
}

async function cardResult(page, name) {
  const card = page.locator(`article.card[data-file="${name}"]`).last();
  await card.locator('xpath=self::*[@data-status="done" or @data-status="failed"]').waitFor({ timeout: TIMEOUT });
  return {
    status: await card.getAttribute('data-status'),
    score: Number(await card.getAttribute('data-score')),
    backend: await card.getAttribute('data-backend'),
    peak: [Number(await card.getAttribute('data-peak-x')), Number(await card.getAttribute('data-peak-y'))],
    text: await card.innerText(),
  };
}

/** True when the mask (a PNG on the site) is set within `radius` (fraction) of `peak`. */
async function peakInMask(page, maskUrl, peak, radius = 0.06) {
  return page.evaluate(async ({ maskUrl, peak, radius }) => {
    const img = new Image();
    img.src = maskUrl;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    const cx = peak[0] * c.width, cy = peak[1] * c.height, r = radius * c.width;
    for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(c.height, cy + r); y++) {
      for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(c.width, cx + r); x++) {
        if (d[(y * c.width + x) * 4] > 127) return true;
      }
    }
    return false;
  }, { maskUrl, peak, radius });
}

async function checkBackend(backend, webgpu) {
  const { browser, page, requests, problems, url } = await openPage(backend, { webgpu });
  try {
    await page.goto(url(), { waitUntil: 'domcontentloaded' });
    await waitReady(page);
    const gpu = await page.getAttribute('#backend', 'data-gpu');
    assert.equal(gpu, String(webgpu), `backend: ${await page.innerText('#backend')}`);

    // Drop both samples at once (the queue handles them in turn).
    await dropFiles(page, [join(ROOT, defect.image), join(ROOT, good.image)]);
    webScores[backend] = {};
    for (const s of [defect, good]) {
      const name = basename(s.image);
      const r = await cardResult(page, name);
      assert.equal(r.status, 'done', `${name}: ${r.text}`);
      assert.equal(r.backend, webgpu ? 'webgpu' : 'cpu');
      const want = expected.get(name);
      assert.ok(Math.abs(r.score - want) <= 1e-3 * Math.max(1, Math.abs(want)),
        `${name} on ${backend}: page ${r.score}, rdpp infer ${want}`);
      webScores[backend][name] = r.score;
      const ms = Number((/(\d+) ms/.exec(r.text) ?? [])[1]);
      console.log(`# ${backend}: ${name} score ${r.score.toFixed(6)} (rdpp infer ${want.toFixed(6)}), ${ms} ms`);
      if (s === defect) {
        assert.ok(await peakInMask(page, `${origin}${PREFIX}${s.mask}`, r.peak),
          `the defect's hottest point ${r.peak} is outside its mask`);
      }
    }
    const d = await cardResult(page, basename(defect.image));
    const g = await cardResult(page, basename(good.image));
    assert.ok(d.score > g.score, 'the defective sample scores above the good one');

    // A non-image file: a specific error on its card, and the page keeps working.
    await dropFiles(page, { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') });
    const bad = await cardResult(page, 'notes.txt');
    assert.equal(bad.status, 'failed');
    assert.match(bad.text, /notes\.txt/);
    assert.match(bad.text, /not a supported image file/);

    // Verdicts at the calibrated threshold (sensitivity 0.5): both sides, one sample each.
    const threshold = JSON.parse(readFileSync(join(bundleDir, 'manifest.json'), 'utf8')).calibration.image_threshold;
    assert.ok(g.score < threshold && d.score > threshold,
      `the calibrated threshold ${threshold} separates good ${g.score} from defect ${d.score}`);
    const goodCard = page.locator(`article.card[data-file="${basename(good.image)}"]`).last();
    const defectCard = page.locator(`article.card[data-file="${basename(defect.image)}"]`).last();
    assert.equal(await goodCard.getAttribute('data-verdict'), 'good', 'the good sample is called good');
    assert.equal(await defectCard.getAttribute('data-verdict'), 'defect', 'the defective sample is called a defect');

    // The sensitivity slider moves the verdict without running the network again: at 1 the
    // threshold is a quarter of the calibrated one, below the good sample's score.
    assert.ok(g.score > threshold / 4, `good ${g.score} is above the lowered threshold ${threshold / 4}`);
    await page.locator('#sensitivity').fill('1');
    await page.locator(`article.card[data-file="${basename(good.image)}"][data-verdict="defect"]`).last()
      .waitFor({ timeout: TIMEOUT });
    assert.equal(await goodCard.getAttribute('data-status'), 'done');
    assert.equal(Number(await goodCard.getAttribute('data-score')), g.score, 'the score is not recomputed');

    assert.deepEqual(problems, [], 'no CSP violations or page errors');
    const foreign = requests.filter((u) => !u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:'));
    assert.deepEqual(foreign, [], 'every request stays on the site');
  } finally {
    await browser.close();
  }
}

test('WebGPU (SwiftShader): samples score as rdpp infer, defect found in its mask', { timeout: 2 * TIMEOUT },
  () => checkBackend('webgpu', true));

test('CPU fallback (no WebGPU): samples score as rdpp infer, defect found in its mask', { timeout: 2 * TIMEOUT },
  () => checkBackend('auto', false));

test('WebGPU and CPU give the same scores', () => {
  assert.ok(webScores.webgpu && webScores.auto, 'both backend tests ran');
  for (const [name, s] of Object.entries(webScores.webgpu)) {
    const c = webScores.auto[name];
    assert.ok(Math.abs(s - c) <= 1e-3 * Math.max(1, Math.abs(c)), `${name}: WebGPU ${s}, CPU ${c}`);
  }
});

test('broken model URLs give specific errors and the page keeps its model', { timeout: 2 * TIMEOUT }, async () => {
  const { browser, page, url } = await openPage('cpu', { webgpu: false });
  try {
    const cases = [
      ['/broken/', /sha256 mismatch/],
      ['/not-a-bundle/', /not a valid rdpp manifest|not an rdpp bundle/],
      ['/missing/', /404/],
    ];
    await page.goto(url(), { waitUntil: 'domcontentloaded' });
    await waitReady(page);
    for (const [path, message] of cases) {
      await page.fill('#model-url', `${origin}${path}`);
      await page.click('form button[type=submit]');
      await page.locator('.error', { hasText: message }).first().waitFor({ timeout: TIMEOUT });
      assert.equal(await page.getAttribute('#phase', 'data-phase'), 'ready', `${path}: the previous model stays`);
    }
    // A model URL in the page address that is broken: a clear error, no model, no crash.
    await page.goto(url(`&model=${encodeURIComponent(`${origin}/broken/`)}`), { waitUntil: 'domcontentloaded' });
    await page.locator('.error', { hasText: /sha256 mismatch/ }).first().waitFor({ timeout: TIMEOUT });
    assert.equal(await page.getAttribute('#phase', 'data-phase'), 'failed');
    assert.equal(await page.getAttribute('#fatal', 'data-fatal'), null, 'no internal error');
  } finally {
    await browser.close();
  }
});

test("the README's first command serves the demo: a bundled defect lights up inside its mask", { timeout: 4 * TIMEOUT }, async () => {
  // scripts/site.sh as a user runs it (tools present, dist/ up to date), on a free port. It is a
  // process group leader so that stopping it stops the server it execs.
  const site = spawn('bash', [join(ROOT, 'scripts/site.sh')], {
    cwd: ROOT, env: { ...process.env, PORT: '0' }, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const served = new Promise((ok, fail) => {
    site.stdout.on('data', (d) => {
      log += d;
      const m = /serving .* at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(log);
      if (m) ok(m[1]);
    });
    site.stderr.on('data', (d) => { log += d; });
    site.on('exit', (code) => fail(new Error(`scripts/site.sh exited (${code}) before serving:\n${log.slice(-3000)}`)));
  });
  let browser;
  try {
    const base = await served;
    let page;
    ({ browser, page } = await openPage('cpu', { webgpu: false }));
    await page.goto(`${base}?backend=cpu`, { waitUntil: 'domcontentloaded' });
    await waitReady(page);
    await page.locator('button.sample[data-label="defect"]').first().click();
    const r = await cardResult(page, basename(defect.image));
    assert.equal(r.status, 'done', r.text);
    const card = page.locator(`article.card[data-file="${basename(defect.image)}"]`).last();
    assert.equal(await card.getAttribute('data-verdict'), 'defect', 'the defective sample is called a defect');
    const heat = card.locator('canvas.heat');
    assert.ok(await heat.isVisible(), 'the card shows the heatmap');
    assert.ok(await heat.evaluate((c) => c.width > 0 && c.height > 0), 'the heatmap has been drawn');
    assert.ok(await peakInMask(page, `${base}${defect.mask}`, r.peak), `the hottest point ${r.peak} is outside the mask`);
  } finally {
    await browser?.close();
    try { process.kill(-site.pid, 'SIGTERM'); } catch { /* already gone */ }
  }
});
