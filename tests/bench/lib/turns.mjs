// Event-loop turn lengths of a running process, from `perf trace -e epoll_wait`
// (syscall tracepoints; no hardware counters needed): a turn is the time from
// one epoll_wait's return to the next one's entry, i.e. the work done between
// two waits. Used by latency.mjs and profile.mjs (issue 16: long turns amplify
// scheduling noise).
import { spawnTracked, stopChild, sleep } from './bench.mjs';

// Traces `pid` for `secs` seconds; returns { turns, p50, p99, max (ms), busyPct
// (share of the time outside epoll_wait), eventsPerWait } or null when perf
// trace is not usable; atLeast: true when no turn ended within `secs`.
export async function loopTurns(pid, secs) {
  let out = '';
  let child;
  try {
    child = spawnTracked('perf-trace-turns', 'perf', ['trace', '-e', 'epoll_wait', '-p', String(pid)]);
  } catch { return null; }
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  await sleep(secs * 1000);
  await stopChild(child, 'SIGINT', 10000);
  // "   12.345 ( 0.010 ms): nginx/123 epoll_wait(epfd: 8, ..., timeout: 1) = 3"
  const calls = [];
  for (const l of out.split('\n')) {
    const m = /^\s*([\d.]+)\s+\(\s*([\d.]+)\s+ms\):.*epoll_wait\(.*\)\s+=\s+(-?\d+)/.exec(l);
    if (m) calls.push({ t: Number(m[1]), d: Number(m[2]), n: Number(m[3]) });
  }
  // Fewer than two waits in the whole trace: one turn lasted (at least) all of it.
  if (calls.length < 2) return { turns: 0, waits: calls.length, p50: null, p99: null, max: secs * 1000, atLeast: true, busyPct: 100, eventsPerWait: null };
  const turns = [];
  let events = 0;
  for (let i = 0; i + 1 < calls.length; i++) {
    turns.push(Math.max(0, calls[i + 1].t - (calls[i].t + calls[i].d)));
    events += Math.max(0, calls[i].n);
  }
  const span = calls[calls.length - 1].t - calls[0].t;
  const busy = turns.reduce((a, b) => a + b, 0);
  turns.sort((a, b) => a - b);
  const q = (p) => turns[Math.min(turns.length - 1, Math.floor(p * turns.length))];
  return {
    turns: turns.length, p50: q(0.5), p99: q(0.99), max: turns[turns.length - 1],
    busyPct: span > 0 ? (100 * busy) / span : 0, eventsPerWait: events / turns.length,
  };
}
