// Child-process bookkeeping: every process a test starts is registered here
// and stopped by pid. The exit hook is a last resort (a test that timed out
// or threw before its after() hook ran): it SIGKILLs what is still alive.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const live = new Map(); // pid -> { child, name }

// The watchdog outlives this process only to clean up after it (see watchdog.cjs).
let watchdog = null;
function tell(line) {
  if (!watchdog) {
    watchdog = spawn(process.execPath, [fileURLToPath(new URL('./watchdog.cjs', import.meta.url))],
      { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    watchdog.unref();
    watchdog.stdin.on('error', () => {});
    watchdog.stdin.unref?.();
    if (watchdog.stdin._handle && watchdog.stdin._handle.unref) watchdog.stdin._handle.unref();
  }
  watchdog.stdin.write(line + '\n');
}
// Temp dirs to remove if this process dies before its after() hooks run.
export const registerDir = (d) => tell(`dir ${d}`);
export const unregisterDir = (d) => tell(`undir ${d}`);

export function spawnTracked(name, cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (!child.pid) throw new Error(`${name}: spawn ${cmd} failed`);
  live.set(child.pid, { child, name });
  tell(`pid ${child.pid}`);
  child.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child.pid);
      tell(`unpid ${child.pid}`);
      resolve({ code, signal });
    });
  });
  child.once('error', () => live.delete(child.pid));
  return child;
}

export function isAlive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

// Children of a pid (e.g. nginx workers of a master), from /proc.
export function childPids(ppid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may contain spaces, so split after ')'
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === ppid) out.push(Number(d));
    } catch { /* raced with exit */ }
  }
  return out;
}

// Stop a tracked child by pid: signal, wait up to timeoutMs, then SIGKILL it
// (and, first, the children it leaves behind, e.g. nginx workers).
export async function stopChild(child, signal = 'SIGTERM', timeoutMs = 10000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return child && (await child.exited);
  const kids = childPids(child.pid);
  try { process.kill(child.pid, signal); } catch { /* gone */ }
  let timer;
  const res = await Promise.race([
    child.exited,
    new Promise((r) => { timer = setTimeout(() => r(null), timeoutMs); }),
  ]);
  clearTimeout(timer);
  if (res) return res;
  for (const k of [...kids, ...childPids(child.pid)]) {
    try { process.kill(k, 'SIGKILL'); } catch { /* gone */ }
  }
  try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  return { ...(await child.exited), killed: true };
}

process.on('exit', () => {
  for (const [pid] of live) {
    for (const k of childPids(pid)) { try { process.kill(k, 'SIGKILL'); } catch { /* */ } }
    try { process.kill(pid, 'SIGKILL'); } catch { /* */ }
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => process.exit(128 + (sig === 'SIGINT' ? 2 : 15)));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(pred, { timeout = 5000, interval = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}
