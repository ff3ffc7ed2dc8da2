// Builds the demo and stats pages (client/demo, Vite) into a directory, when it is missing or
// older than the sources. ctest runs it as the browser.build fixture; the e2e tests call
// ensureDemoBuild() too, so that a test run by hand finds a fresh build.
//   node tests/browser/lib/build-demo.mjs <outDir>      exit 77: client/node_modules is missing
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLIENT_DIR = fileURLToPath(new URL('../../../client/', import.meta.url));
const VITE = path.join(CLIENT_DIR, 'node_modules', 'vite', 'bin', 'vite.js');

function newestMtime(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

/** @returns {{ok: true, dir} | {ok: false, skip: boolean, reason}} */
export function ensureDemoBuild(outDir) {
  if (!fs.existsSync(VITE)) return { ok: false, skip: true, reason: `vite is not installed (npm ci --prefix client): ${VITE}` };
  const stamp = path.join(outDir, 'index.html');
  if (fs.existsSync(stamp) && fs.existsSync(path.join(outDir, 'stats.html'))
      && fs.statSync(stamp).mtimeMs >= newestMtime(CLIENT_DIR)) return { ok: true, dir: outDir };
  fs.mkdirSync(outDir, { recursive: true });
  const r = spawnSync(process.execPath, [VITE, 'build', '--outDir', outDir, '--emptyOutDir'], { cwd: CLIENT_DIR, encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) return { ok: false, skip: false, reason: `vite build failed (${r.status}):\n${r.stdout}\n${r.stderr}` };
  fs.chmodSync(outDir, 0o755);
  return { ok: true, dir: outDir };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = path.resolve(process.argv[2] || path.join(CLIENT_DIR, 'dist'));
  const r = ensureDemoBuild(out);
  if (!r.ok) {
    console.log(`${r.skip ? 'SKIP' : 'FAIL'}: ${r.reason}`);
    process.exit(r.skip ? 77 : 1);
  }
  console.log(`demo and stats pages built in ${out}: ${fs.readdirSync(out).join(' ')}`);
}
