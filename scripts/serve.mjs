// A static file server for dist/ on 127.0.0.1 (what `bash scripts/site.sh` runs, and what the
// browser tests use). Serves the right MIME types (application/wasm) and nothing outside its root.
//
//   node scripts/serve.mjs DIR [--port 8080] [--prefix /sub/path]
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream', '.md': 'text/markdown; charset=utf-8', '.ico': 'image/x-icon',
};

/** Start serving `dir` under `prefix`; resolves to the server once listening. */
export function serve(dir, { port = 0, prefix = '/', extra = {} } = {}) {
  const root = resolve(dir);
  if (!prefix.endsWith('/')) prefix += '/';
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let path = decodeURIComponent(url.pathname);
    if (extra[path]) {
      const { status = 200, type = 'application/octet-stream', body } = extra[path];
      res.writeHead(status, { 'content-type': type, 'content-length': body.length });
      return res.end(body);
    }
    if (!path.startsWith(prefix)) { res.writeHead(404); return res.end('not found'); }
    path = path.slice(prefix.length);
    if (path === '' || path.endsWith('/')) path += 'index.html';
    const file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) { res.writeHead(403); return res.end('forbidden'); }
    let st;
    try { st = statSync(file); } catch { res.writeHead(404); return res.end('not found'); }
    if (!st.isFile()) { res.writeHead(404); return res.end('not found'); }
    res.writeHead(200, {
      'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': st.size,
      'cache-control': 'no-cache',
    });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const dir = args[0] ?? 'dist';
  const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
  const prefix = opt('--prefix', '/');
  const server = await serve(dir, { port: Number(opt('--port', '8080')), prefix });
  console.log(`serving ${resolve(dir)} at http://127.0.0.1:${server.address().port}${prefix}  (Ctrl-C stops)`);
}
