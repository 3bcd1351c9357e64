// Trunk post-build hook (see Trunk.toml): optimizes the wasm with binaryen's wasm-opt, puts the
// sha256 of Trunk's inline loader script into the Content-Security-Policy, and reports sizes.
// RDPP_WASM_OPT=0 skips wasm-opt (faster local rebuilds); RDPP_WASM_OPT=<level> picks -O<level>.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const staging = process.env.TRUNK_STAGING_DIR;
if (!staging) {
  console.error('site-post-build: TRUNK_STAGING_DIR is not set (run through trunk)');
  process.exit(1);
}

const level = process.env.RDPP_WASM_OPT ?? (process.env.TRUNK_PROFILE === 'release' ? '2' : '0');
const wasmFiles = readdirSync(staging).filter((f) => f.endsWith('.wasm'));
const wasmOpt = join(root, 'node_modules', '.bin', 'wasm-opt');
for (const f of wasmFiles) {
  const path = join(staging, f);
  if (level !== '0') {
    if (!existsSync(wasmOpt)) {
      console.error('site-post-build: wasm-opt missing (run `npm ci`); the wasm is left unoptimized');
    } else {
      // Only the features Chromium enables by default (SIMD included): `--all-features` output
      // fails to instantiate.
      const flags = [`-O${level}`, '--strip-debug', '--enable-bulk-memory', '--enable-nontrapping-float-to-int',
        '--enable-sign-ext', '--enable-mutable-globals', '--enable-simd'];
      // wasm-opt takes minutes: keep its output by the hash of the input and the flags, so an
      // unchanged wasm is optimized once (rebuilds and test runs reuse it).
      const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'rdpp', 'wasm-opt');
      const key = createHash('sha256').update(readFileSync(path)).update(flags.join(' ')).digest('hex');
      const cached = join(cacheDir, `${key}.wasm`);
      if (existsSync(cached)) {
        copyFileSync(cached, path);
      } else {
        const out = path + '.opt';
        execFileSync(wasmOpt, [...flags, path, '-o', out], { stdio: 'inherit' });
        mkdirSync(cacheDir, { recursive: true });
        copyFileSync(out, cached + '.tmp');
        renameSync(cached + '.tmp', cached);
        renameSync(out, path);
      }
    }
  }
  const bytes = readFileSync(path);
  const mb = (n) => (n / 1e6).toFixed(1) + ' MB';
  console.log(`site-post-build: ${f}: ${mb(bytes.length)} (${mb(gzipSync(bytes, { level: 6 }).length)} gzipped)` +
    (level === '0' ? ', wasm-opt skipped' : `, wasm-opt -O${level}`));
}

const indexPath = join(staging, 'index.html');
let html = readFileSync(indexPath, 'utf8');
const hashes = [];
for (const m of html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)) {
  hashes.push(`'sha256-${createHash('sha256').update(m[1], 'utf8').digest('base64')}'`);
}
if (!html.includes('RDPP_SCRIPT_HASHES')) {
  console.error('site-post-build: index.html has no RDPP_SCRIPT_HASHES placeholder in its CSP');
  process.exit(1);
}
html = html.replace('RDPP_SCRIPT_HASHES', hashes.join(' '));
writeFileSync(indexPath, html);
console.log(`site-post-build: CSP allows ${hashes.length} inline script(s) by hash`);
