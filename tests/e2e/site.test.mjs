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
// The network runs in compute workers (one on WebGPU, one per core on the CPU).
// Last, it runs the README's first command (scripts/site.sh) itself and clicks a bundled defective
// sample on the page it serves.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { serve } from '../../scripts/serve.mjs';
import {
  DIST, PREFIX, ROOT, TIMEOUT, bundleDir, cardResult, defect, dropFiles, good, nativeScores, openPage as open,
  peakInMask, waitReady,
} from './helpers.mjs';

let server;
let origin;
let expected; // file name -> score from `rdpp infer`
const webScores = {}; // backend -> file -> score

before(async () => {
  assert.ok(existsSync(join(DIST, 'index.html')), `${DIST}/index.html missing: build the site first`);
  assert.ok(defect && good, 'the default model lists a good and a defective sample');
  expected = nativeScores([join(ROOT, defect.image), join(ROOT, good.image)]);
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

const openPage = (backend, opts) => open(`${origin}${PREFIX}`, backend, opts);

async function checkBackend(backend, webgpu) {
  const { browser, page, requests, problems, url } = await openPage(backend, { webgpu });
  try {
    await page.goto(url(), { waitUntil: 'domcontentloaded' });
    await waitReady(page);
    const gpu = await page.getAttribute('#backend', 'data-gpu');
    assert.equal(gpu, String(webgpu), `backend: ${await page.innerText('#backend')}`);
    // One worker on the GPU; on the CPU one per core (each scores other images of the queue).
    const workers = webgpu ? 1 : Math.min(availableParallelism(), 8);
    await page.waitForSelector(`#backend[data-workers="${workers}"]`, { timeout: TIMEOUT });

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
