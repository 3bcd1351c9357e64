// Browser tests of the page's compute workers (run by scripts/test.sh with site.test.mjs):
// the main thread stays free while a queue is scored, a queue can be cancelled, a GPU that is
// lost mid-image hands over to the CPU, the live camera finds the defect of a sample shown to
// a fake camera, and a worker or camera that cannot start gets a clear message.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { serve } from '../../scripts/serve.mjs';
import {
  DIST, PREFIX, ROOT, TIMEOUT, cardResult, close, defect, dropFiles, good, nativeScores, openPage as open,
  peakInMask, threshold, waitReady,
} from './helpers.mjs';

let server;
let origin;
let brokenServer;
let brokenOrigin;
let expected;
const tmp = mkdtempSync(join(tmpdir(), 'rdpp-worker-e2e-'));

before(async () => {
  expected = nativeScores([join(ROOT, defect.image), join(ROOT, good.image)]);
  // The worker's script missing (as with an old browser or a blocking policy) under /noworker/.
  server = await serve(DIST, { prefix: PREFIX });
  origin = `http://127.0.0.1:${server.address().port}`;
  const extra = { '/noworker/rdpp-web-worker_loader.js': { status: 404, type: 'text/plain', body: Buffer.from('gone') } };
  brokenServer = await serve(DIST, { prefix: '/noworker/', extra });
  brokenOrigin = `http://127.0.0.1:${brokenServer.address().port}`;
});

after(() => {
  server?.close();
  brokenServer?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const openPage = (backend, opts) => open(`${origin}${PREFIX}`, backend, opts);

/** `n` copies of the two samples under distinct names, as files on disk (handed to the page
 * as paths, so the test harness builds no files inside the page). */
function queueOf(n) {
  const bytes = [readFileSync(join(ROOT, defect.image)), readFileSync(join(ROOT, good.image))];
  return Array.from({ length: n }, (_, i) => {
    const path = join(tmp, `q_${String(i).padStart(2, '0')}.png`);
    writeFileSync(path, bytes[i % 2]);
    return path;
  });
}

test('the main thread stays free while a 10-image queue is scored (no task over 50 ms)', { timeout: 2 * TIMEOUT }, async () => {
  // One CPU worker, so one of the machine's cores is the page's (the check is about the page's
  // own work, not about sharing cores).
  const { browser, page, url } = await openPage('cpu', { webgpu: false, query: '&workers=1' });
  try {
    await page.addInitScript(() => {
      window.__longTasks = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, ms: e.duration });
      }).observe({ type: 'longtask', buffered: true });
    });
    await page.goto(url(), { waitUntil: 'domcontentloaded' });
    await waitReady(page);
    const t0 = await page.evaluate(() => performance.now());
    await dropFiles(page, queueOf(10));
    await page.waitForSelector('#summary[data-done="10"]', { timeout: TIMEOUT });
    const t1 = await page.evaluate(() => performance.now());
    const tasks = (await page.evaluate(() => window.__longTasks)).filter((t) => t.start >= t0 && t.start <= t1);
    console.log(`# 10 images in ${((t1 - t0) / 1000).toFixed(1)} s; main-thread tasks over 50 ms: ${tasks.length}`);
    assert.deepEqual(tasks, [], 'no long task on the page while the workers score');
    const summary = await page.innerText('#summary');
    assert.match(summary, /10 images · 10 scored · 5 flagged/, summary);
  } finally {
    await browser.close();
  }
});

test('a queue can be cancelled: waiting images are not scored, running ones finish', { timeout: 2 * TIMEOUT }, async () => {
  const { browser, page, url } = await openPage('cpu', { webgpu: false, query: '&workers=1' });
  try {
    await page.goto(url(), { waitUntil: 'domcontentloaded' });
    await waitReady(page);
    await dropFiles(page, queueOf(8));
    await page.locator('article.card[data-status="running"]').first().waitFor({ timeout: TIMEOUT });
    await page.click('#cancel');
    await page.locator('article.card[data-status="cancelled"]').first().waitFor({ timeout: TIMEOUT });
    // The running image finishes; nothing else starts.
    await page.waitForFunction(() => document.querySelectorAll('article.card[data-status="running"]').length === 0,
      null, { timeout: TIMEOUT });
    await page.waitForTimeout(1500);
    const states = await page.$$eval('article.card', (cs) => cs.map((c) => c.dataset.status));
    const count = (s) => states.filter((x) => x === s).length;
    assert.equal(count('queued') + count('running'), 0, `nothing waits: ${states}`);
    assert.ok(count('cancelled') >= 5, `most were cancelled: ${states}`);
    assert.equal(count('done') + count('cancelled'), 8, `${states}`);
    // The page goes on: a new image is scored.
    await dropFiles(page, [join(ROOT, defect.image)]);
    const r = await cardResult(page, basename(defect.image));
    assert.equal(r.status, 'done', r.text);
    assert.ok(close(r.score, expected.get(basename(defect.image))), `${r.score}`);
  } finally {
    await browser.close();
  }
});

test('a WebGPU device lost mid-image: the work restarts on the CPU, says so, and scores the image', { timeout: 3 * TIMEOUT }, async () => {
  const { browser, page, url } = await openPage('webgpu', { webgpu: true });
  try {
    await page.goto(url(), { waitUntil: 'domcontentloaded' });
    await waitReady(page);
    assert.equal(await page.getAttribute('#backend', 'data-gpu'), 'true');
    const workers = page.workers();
    assert.equal(workers.length, 1, 'one worker on the GPU');
    // The next command encoder destroys its device first (as a driver reset would).
    await workers[0].evaluate(() => {
      const proto = GPUDevice.prototype;
      const original = proto.createCommandEncoder;
      proto.createCommandEncoder = function (...args) {
        proto.createCommandEncoder = original;
        this.destroy();
        return original.apply(this, args);
      };
    });
    const name = basename(defect.image);
    await dropFiles(page, [join(ROOT, defect.image)]);
    await page.locator('.error', { hasText: /Restarted on the CPU/ }).first().waitFor({ timeout: 2 * TIMEOUT });
    const r = await cardResult(page, name);
    assert.equal(r.status, 'done', r.text);
    assert.equal(r.backend, 'cpu');
    assert.ok(close(r.score, expected.get(name)), `page ${r.score}, rdpp infer ${expected.get(name)}`);
    assert.equal(await page.getAttribute('#backend', 'data-gpu'), 'false');
    assert.equal(await page.getAttribute('#fatal', 'data-fatal'), null, 'no internal error');
  } finally {
    await browser.close();
  }
});

/** A Y4M video (4:2:0, full-range BT.601) of `frames` copies of an RGBA image. */
function y4m(rgba, w, h, frames = 2) {
  const Y = Buffer.alloc(w * h);
  const U = Buffer.alloc((w / 2) * (h / 2));
  const V = Buffer.alloc((w / 2) * (h / 2));
  const px = (x, y) => [rgba[(y * w + x) * 4], rgba[(y * w + x) * 4 + 1], rgba[(y * w + x) * 4 + 2]];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const [r, g, b] = px(x, y);
    Y[y * w + x] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  }
  for (let y = 0; y < h; y += 2) for (let x = 0; x < w; x += 2) {
    let [r, g, b] = [0, 0, 0];
    for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
      const p = px(x + dx, y + dy); r += p[0] / 4; g += p[1] / 4; b += p[2] / 4;
    }
    const i = (y / 2) * (w / 2) + x / 2;
    U[i] = Math.max(0, Math.min(255, Math.round(128 - 0.168736 * r - 0.331264 * g + 0.5 * b)));
    V[i] = Math.max(0, Math.min(255, Math.round(128 + 0.5 * r - 0.418688 * g - 0.081312 * b)));
  }
  const parts = [Buffer.from(`YUV4MPEG2 W${w} H${h} F10:1 Ip A1:1 C420jpeg\n`)];
  for (let f = 0; f < frames; f++) parts.push(Buffer.from('FRAME\n'), Y, U, V);
  return Buffer.concat(parts);
}

test('live camera: a fake camera showing the defective sample is called a defect, heat in the mask; Capture keeps it', { timeout: 3 * TIMEOUT }, async () => {
  // Decode the sample in a browser (no image decoder in Node), then write it as a fake camera.
  let video;
  {
    const { browser, page } = await openPage('cpu', { webgpu: false });
    try {
      await page.goto(`${origin}${PREFIX}${defect.image}`);
      const { w, h, data } = await page.evaluate(async () => {
        const img = document.querySelector('img');
        await img.decode();
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d');
        g.drawImage(img, 0, 0);
        return { w: c.width, h: c.height, data: Array.from(g.getImageData(0, 0, c.width, c.height).data) };
      });
      video = join(tmp, 'defect.y4m');
      writeFileSync(video, y4m(data, w, h));
    } finally {
      await browser.close();
    }
  }
  const args = ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`];
  const { browser, page, url } = await openPage('cpu', { webgpu: false, args });
  try {
    await page.goto(url(), { waitUntil: 'domcontentloaded' });
    await waitReady(page);
    await page.click('#camera-start');
    await page.waitForFunction(() => Number(document.querySelector('#camera')?.dataset.frames ?? 0) >= 3, null, { timeout: TIMEOUT });
    const cam = page.locator('#camera');
    const score = Number(await cam.getAttribute('data-score'));
    const peak = [Number(await cam.getAttribute('data-peak-x')), Number(await cam.getAttribute('data-peak-y'))];
    console.log(`# camera: score ${score.toFixed(4)} (threshold ${threshold.toFixed(4)}), ${await cam.getAttribute('data-fps')} frames/s`);
    assert.equal(await cam.getAttribute('data-verdict'), 'defect', `the frame scores ${score}`);
    assert.ok(await peakInMask(page, `${origin}${PREFIX}${defect.mask}`, peak), `the hottest point ${peak} is outside the mask`);
    assert.ok(Number(await cam.getAttribute('data-fps')) > 0, 'the frame rate is shown');
    await page.click('#camera-capture');
    const captured = page.locator('article.card[data-file^="camera_"]').first();
    await captured.waitFor({ timeout: TIMEOUT });
    assert.equal(await captured.getAttribute('data-status'), 'done');
    assert.equal(await captured.getAttribute('data-verdict'), 'defect');
    await page.click('#camera-stop');
    await page.locator('#camera-start').waitFor({ timeout: TIMEOUT });
  } finally {
    await browser.close();
  }
});

test('no camera, no worker, or a page opened as a file: a specific message, and the page keeps working', { timeout: 2 * TIMEOUT }, async () => {
  {
    const { browser, page, url } = await openPage('cpu', { webgpu: false });
    try {
      await page.goto(url(), { waitUntil: 'domcontentloaded' });
      await waitReady(page);
      await page.click('#camera-start');
      await page.locator('.error', { hasText: /no camera was found|camera permission was denied/ }).first().waitFor({ timeout: TIMEOUT });
      await dropFiles(page, [join(ROOT, good.image)]);
      assert.equal((await cardResult(page, basename(good.image))).status, 'done', 'images are still scored');
    } finally {
      await browser.close();
    }
  }
  const { browser, page } = await open(`${brokenOrigin}/noworker/`, 'cpu', { webgpu: false });
  try {
    await page.goto(`${brokenOrigin}/noworker/?backend=cpu`, { waitUntil: 'domcontentloaded' });
    await page.locator('.error', { hasText: /compute worker could not start/ }).first().waitFor({ timeout: TIMEOUT });
    assert.equal(await page.getAttribute('#phase', 'data-phase'), 'failed');
    assert.equal(await page.getAttribute('#fatal', 'data-fatal'), null, 'no internal error');
    // dist/index.html opened from the disk: no WebAssembly loads there; the page says how to serve it.
    await page.goto(`file://${join(DIST, 'index.html')}`);
    await page.locator('#fatal', { hasText: /must be served over http/ }).waitFor({ timeout: TIMEOUT });
  } finally {
    await browser.close();
  }
});
