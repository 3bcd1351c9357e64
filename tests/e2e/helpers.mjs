// Shared by the browser tests (site.test.mjs, worker.test.mjs): where things are, the native
// CLI's scores, and how to open the page and read its cards.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = resolve(import.meta.dirname, '../..');
export const DIST = resolve(process.env.RDPP_DIST ?? join(ROOT, 'dist'));
export const CHROMIUM = process.env.RDPP_CHROMIUM ?? '/usr/bin/chromium';
export const PREFIX = '/some/sub/path/';
export const TIMEOUT = 240_000;

export const catalog = JSON.parse(readFileSync(join(ROOT, 'models/manifest.json'), 'utf8'));
export const model = catalog.models.find((m) => m.id === catalog.default) ?? catalog.models[0];
export const defect = model.samples.find((s) => s.label === 'defect');
export const good = model.samples.find((s) => s.label === 'good');
export const bundleDir = join(ROOT, 'models', model.bundle);
export const threshold = JSON.parse(readFileSync(join(bundleDir, 'manifest.json'), 'utf8')).calibration.image_threshold;

export function rdppBin() {
  if (process.env.RDPP_BIN) return process.env.RDPP_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/rdpp/target');
  return join(target, 'debug', 'rdpp');
}

/** `rdpp infer` on `files` with the default bundle: file name -> score. */
export function nativeScores(files) {
  const out = mkdtempSync(join(tmpdir(), 'rdpp-e2e-'));
  const scores = new Map();
  try {
    execFileSync(rdppBin(), ['infer', '--model', bundleDir, '--out', out, ...files],
      { stdio: ['ignore', 'ignore', 'inherit'] });
    const lines = readFileSync(join(out, 'scores.csv'), 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const [file, score] = line.split(',');
      scores.set(basename(file), Number(score));
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return scores;
}

/** A fresh headless Chromium on `base` with `?backend=…` (plus `query`). */
export async function openPage(base, backend, { webgpu, args = [], query = '' } = {}) {
  const argv = ['--no-sandbox', '--disable-dev-shm-usage', ...args];
  if (webgpu) argv.push('--enable-unsafe-webgpu');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: argv });
  const page = await browser.newPage();
  const requests = [];
  const problems = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  const url = (q) => `${base}?backend=${backend}${query}${q ?? ''}`;
  return { browser, page, requests, problems, url };
}

export async function waitReady(page) {
  await page.waitForSelector('#phase[data-phase="ready"], #phase[data-phase="failed"]', { timeout: TIMEOUT });
  const phase = await page.getAttribute('#phase', 'data-phase');
  const errors = await page.locator('.error').allInnerTexts();
  assert.equal(phase, 'ready', `the default model did not load: ${errors.join(' | ')}`);
}

export async function dropFiles(page, files) {
  await page.setInputFiles('#file-input', files);
}

/** The last card of `name` once it is done or failed. */
export async function cardResult(page, name) {
  const card = page.locator(`article.card[data-file="${name}"]`).last();
  await card.locator('xpath=self::*[@data-status="done" or @data-status="failed"]').waitFor({ timeout: TIMEOUT });
  return {
    status: await card.getAttribute('data-status'),
    score: Number(await card.getAttribute('data-score')),
    backend: await card.getAttribute('data-backend'),
    verdict: await card.getAttribute('data-verdict'),
    peak: [Number(await card.getAttribute('data-peak-x')), Number(await card.getAttribute('data-peak-y'))],
    text: await card.innerText(),
  };
}

/** True when the mask (a PNG on the site) is set within `radius` (fraction) of `peak`. */
export async function peakInMask(page, maskUrl, peak, radius = 0.06) {
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

export const close = (a, b) => Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(b));
