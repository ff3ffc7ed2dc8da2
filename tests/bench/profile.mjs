// Benchmark (not a test): where the module's worker spends its time on W2
// (issue 16), next to the bare server (tests/bench/bare.c) on the same load.
//
// W2: 2,000 connections of 1,000 users, RATE events/s (RATE/1000 symbols per
// user at 1 Hz + 0.1 order_update/s per user), batch_window 0, one worker.
//
// live (real speed, RATE events/s for the whole run), consecutive windows:
//   base     WINDOW s untouched: deliveries (clients' count) and worker CPU;
//   turns    `perf trace -e epoll_wait` for WINDOW s: event-loop turn lengths;
//   perf     `perf record -e cpu-clock -F 999 -p <worker>` for PERF s: the top
//            TOP functions by self samples (user and kernel), and by object;
//   trace    `perf trace -s -p <worker>` for WINDOW s: syscalls per delivery
//            (tracepoints, low overhead);
//   strace   `strace -c -p <worker>` for WINDOW s: the same by ptrace (slows the
//            worker: more events per loop turn, so fewer syscalls per delivery).
// callgrind (the hardware counters are not available in this VM: `perf stat -e
//   instructions` says <not supported>): the server under `valgrind
//   --tool=callgrind` (nginx with master_process off), counters zeroed before
//   the 2,000 handshakes and dumped after them, zeroed again and dumped after
//   CG_SECONDS s of W2 at CG_RATE events/s (valgrind runs ~50x slower, so the
//   rate is lower; every event is waited for): instructions per handshake and per
//   delivery, and the top TOP functions by self and by inclusive cost.
//
//   node tests/bench/profile.mjs          # or: tests/bench/run_all.sh profile
//   env: BENCH_P_PARTS (live,callgrind) BENCH_P_SERVERS (ps,bare) BENCH_P_RATE (10000)
//        BENCH_P_WINDOW (5) BENCH_P_PERF (8) BENCH_P_CG_RATE (1000) BENCH_P_CG_SECONDS (10) BENCH_P_TOP (15)
// Results: <build>/bench/profile.json (and perf/callgrind files in <build>/bench/profile/).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { RedisServer } from '../integration/lib/redis.mjs';
import { waitFor } from '../integration/lib/procs.mjs';
import { waitForPort } from '../integration/lib/ports.mjs';
import { loopTurns } from './lib/turns.mjs';
import {
  BenchNginx, Psb, buildPsb, createSessions, procCpuMs, renderConfig, machine, table, writeResults, sleep, spawnTracked,
  stopChild, freePort, MODULE_PATH, NGINX, BUILD, REPO,
} from './lib/bench.mjs';

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? process.env[k] : d);
const PARTS = env('BENCH_P_PARTS', 'live,callgrind').split(',');
const SERVERS = env('BENCH_P_SERVERS', 'ps,bare').split(',');
const RATE = Number(env('BENCH_P_RATE', 10000));
const WINDOW = Number(env('BENCH_P_WINDOW', 5));
const PERF = Number(env('BENCH_P_PERF', 8));
const CG_RATE = Number(env('BENCH_P_CG_RATE', 1000));
const CG_SECONDS = Number(env('BENCH_P_CG_SECONDS', 10));
const TOP = Number(env('BENCH_P_TOP', 15));
const USERS = 1000;
const CONNS = 2000;
const BARE = path.join(BUILD, 'bare');
const OUT = path.join(BUILD, 'bench', 'profile');

function buildBare() {
  const src = path.join(REPO, 'tests/bench/bare.c');
  if (!fs.existsSync(BARE) || fs.statSync(BARE).mtimeMs < fs.statSync(src).mtimeMs) {
    execFileSync('cc', ['-O2', '-Wall', '-o', BARE, src], { stdio: 'inherit' });
  }
}
function procStat() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal: f[7] };
}

// A process started by us: its stdout/stderr kept; stopped by pid.
function start(name, cmd, args) {
  const child = spawnTracked(name, cmd, args);
  const p = { child, out: '', err: '' };
  child.stdout.on('data', (d) => { p.out += d; });
  child.stderr.on('data', (d) => { p.err += d; });
  return p;
}
// Runs a tool against a pid for `secs` seconds (SIGINT ends it), returns its stderr/stdout.
async function runFor(name, cmd, args, secs) {
  const p = start(name, cmd, args);
  await sleep(secs * 1000);
  await stopChild(p.child, 'SIGINT', 20000);
  return p;
}

// The server of a run: { port, pid, stop() }. ps: nginx (one worker); under
// callgrind, nginx with master_process off as one process under valgrind.
async function startServer(kind, redisPort, { callgrind } = {}) {
  const vg = callgrind ? ['valgrind', '--tool=callgrind', `--callgrind-out-file=${callgrind}`, '--dump-instr=no'] : null;
  if (kind === 'bare') {
    const port = await freePort();
    const args = ['--port', String(port), '--redis-port', String(redisPort)];
    const p = vg ? start('bare-cg', vg[0], [...vg.slice(1), BARE, ...args]) : start('bare', BARE, args);
    await waitFor(() => /READY/.test(p.out) || p.child.exitCode !== null, { timeout: 60000, what: 'bare READY' });
    await waitForPort(port, 10000);
    return { port, pid: p.child.pid, stop: () => stopChild(p.child, 'SIGTERM', 30000) };
  }
  if (!vg) {
    const n = await new BenchNginx('ps', { redisPort, window: '0ms' }).start();
    return { port: n.port, pid: n.worker, stop: () => n.stop(), stats: () => n.stats() };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psbench-cg-'));
  const port = await freePort();
  const conf = renderConfig(dir, port, 'ps', { redisPort, window: '0ms' }).replace('master_process on;', 'master_process off;');
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const p = start('nginx-cg', vg[0], [...vg.slice(1), NGINX, '-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')]);
  await waitForPort(port, 120000, () => p.child.exitCode !== null);
  return {
    port, pid: p.child.pid,
    stop: async () => { await stopChild(p.child, 'SIGQUIT', 60000); fs.rmSync(dir, { recursive: true, force: true }); },
    stats: async () => (await fetch(`http://127.0.0.1:${port}/api/admin/websocket-stats`)).json(),
  };
}

function clientArgs(kind, ctx, port, out, srcNo) {
  const srcs = [1, 2].map((y) => `127.0.${70 + srcNo}.${y}`).join(',');
  const who = kind === 'bare' ? ['--paths', ctx.barePaths] : ['--cookies', ctx.cookies, '--first-frame'];
  return ['conns', ...who, '--port', String(port), '--n', String(CONNS), '--src', srcs, '--inflight', '256', '--out', out];
}
function pubArgs(rate, seconds, redisPort, out) {
  return ['pub', '--redis', '--port', String(redisPort), '--tus', '--users', String(USERS), '--symbols', String(Math.max(1, Math.round(rate / USERS))),
    '--hz', '1', '--orders', '0.1', '--duration', String(seconds), '--out', out];
}

// perf report: the top functions by self samples, and the share per object.
function perfTop(data) {
  const rep = (sort) => spawnSync('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', sort, '-q', '--percent-limit', '0.2'],
    { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
  const fns = [];
  for (const l of rep('dso,sym').split('\n')) {
    const m = /^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*?)\s*$/.exec(l);
    if (m) fns.push({ pct: Number(m[1]), dso: m[2], kernel: m[3] === 'k', symbol: m[4] });
  }
  const dsos = [];
  for (const l of rep('dso').split('\n')) {
    const m = /^\s*([\d.]+)%\s+(.*?)\s*$/.exec(l);
    if (m) dsos.push({ pct: Number(m[1]), dso: m[2] });
  }
  return { top: fns.slice(0, TOP), byObject: dsos };
}
// `perf trace -s` / `strace -c` summaries: { total, bySyscall: {name: calls} }.
function parsePerfTrace(text) {
  const by = {};
  for (const l of text.split('\n')) {
    const m = /^\s+([a-z_0-9]+)\s+(\d+)\s+(\d+)\s+[\d.]+/.exec(l);
    if (m && m[1] !== 'syscall') by[m[1]] = (by[m[1]] || 0) + Number(m[2]);
  }
  return { total: Object.values(by).reduce((a, b) => a + b, 0), bySyscall: by };
}
function parseStrace(text) {
  const by = {};
  for (const l of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?([a-z_0-9]+)\s*$/.exec(l);
    if (m && m[3] !== 'total') by[m[3]] = Number(m[1]);
  }
  return { total: Object.values(by).reduce((a, b) => a + b, 0), bySyscall: by };
}

async function live(kind, ctx) {
  const srv = await startServer(kind, ctx.redis.port);
  const cfile = path.join(ctx.tmp, `live-${kind}.json`);
  const clients = new Psb(clientArgs(kind, ctx, srv.port, cfile, kind === 'bare' ? 1 : 0), `live-${kind}`).start();
  const res = { server: kind, rate: RATE, windows: {} };
  let pub;
  try {
    const r = await clients.ready(120000);
    if (r.failed) throw new Error(`${kind}: ${r.failed} connections failed`);
    await sleep(1000);
    const total = 3 + WINDOW + WINDOW + PERF + WINDOW + WINDOW + 6;
    pub = new Psb(pubArgs(RATE, total, ctx.redis.port, path.join(ctx.tmp, `live-pub-${kind}.json`)), `live-pub-${kind}`).start();
    await sleep(3000);
    // One window: clients reset, the tool (or nothing) for secs, clients dumped.
    const window = async (name, secs, tool) => {
      clients.reset();
      const cpu0 = procCpuMs(srv.pid);
      const s0 = procStat();
      const t0 = Date.now();
      const out = tool ? await tool(secs) : await sleep(secs * 1000);
      const wall = (Date.now() - t0) / 1000;
      const cpu1 = procCpuMs(srv.pid);
      const s1 = procStat();
      const cl = await clients.dump(cfile);
      const w = {
        seconds: wall, deliveries: cl.events, deliveriesPerS: cl.events / cl.durationS, cpuPct: (cpu1 - cpu0) / 10 / wall,
        cpuUsPerDelivery: ((cpu1 - cpu0) * 1000) / Math.max(1, cl.events), fineAgeMs: cl.fineAgeMs,
        stealPct: (100 * (s1.steal - s0.steal)) / Math.max(1, s1.total - s0.total), load1: os.loadavg()[0],
      };
      res.windows[name] = w;
      return { w, out };
    };
    await window('base', WINDOW);
    const tw = await window('turns', WINDOW, (secs) => loopTurns(srv.pid, secs));
    res.loopTurnsMs = tw.out;
    fs.mkdirSync(OUT, { recursive: true });
    const data = path.join(OUT, `perf-${kind}.data`);
    await window('perf', PERF, (secs) => runFor('perf-record', 'perf', ['record', '-e', 'cpu-clock', '-F', '999', '-p', String(srv.pid), '-o', data], secs));
    res.perf = perfTop(data);
    const t = await window('trace', WINDOW, (secs) => runFor('perf-trace', 'perf', ['trace', '-s', '-p', String(srv.pid)], secs));
    res.perfTrace = parsePerfTrace(t.out.err + t.out.out);
    res.perfTrace.perDelivery = res.perfTrace.total / Math.max(1, t.w.deliveries);
    const sfile = path.join(OUT, `strace-${kind}.txt`);
    const s = await window('strace', WINDOW, (secs) => runFor('strace', 'strace', ['-c', '-p', String(srv.pid), '-o', sfile], secs));
    res.strace = parseStrace(fs.existsSync(sfile) ? fs.readFileSync(sfile, 'utf8') : '');
    res.strace.perDelivery = res.strace.total / Math.max(1, s.w.deliveries);
    return res;
  } finally {
    if (pub) await pub.stop();
    await clients.stop();
    await srv.stop();
  }
}

// callgrind_annotate: program total and the top functions (self, inclusive).
function annotate(file) {
  const run = (incl) => spawnSync('callgrind_annotate', [`--inclusive=${incl ? 'yes' : 'no'}`, '--threshold=100', '--auto=no', file],
    { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
  const parse = (text) => {
    let total = 0;
    const fns = [];
    for (const l of text.split('\n')) {
      const t = /^\s*([\d,]+)\s+(?:\([\d.]+%\)\s+)?PROGRAM TOTALS/.exec(l);
      if (t) total = Number(t[1].replace(/,/g, ''));
      const m = /^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(\S.*?)\s*$/.exec(l);
      if (m && !/PROGRAM TOTALS|\(below main\)|__libc_start_main|ld-linux/.test(l)) fns.push({ ir: Number(m[1].replace(/,/g, '')), pct: Number(m[2]), fn: m[3] });
    }
    return { total, fns };
  };
  // Frames on the stack when the counters were zeroed show the whole part as
  // their own cost in a dump: leave out any "self" entry equal to the total.
  const self = parse(run(false));
  self.fns = self.fns.filter((f) => f.ir < self.total);
  const incl = parse(run(true));
  return { total: self.total, self: self.fns.slice(0, TOP), inclusive: incl.fns.slice(0, TOP + 5) };
}
async function callgrind(kind, ctx) {
  fs.mkdirSync(OUT, { recursive: true });
  const base = path.join(OUT, `callgrind-${kind}.out`);
  for (const f of fs.readdirSync(OUT)) if (f.startsWith(`callgrind-${kind}.out`)) fs.rmSync(path.join(OUT, f));
  const srv = await startServer(kind, ctx.redis.port, { callgrind: base });
  const ctl = (flag) => execFileSync('callgrind_control', [flag, String(srv.pid)], { encoding: 'utf8', timeout: 120000 });
  const dumps = () => fs.readdirSync(OUT).filter((f) => f.startsWith(`callgrind-${kind}.out.`)).sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  const cfile = path.join(ctx.tmp, `cg-${kind}.json`);
  const res = { server: kind, rate: CG_RATE, seconds: CG_SECONDS };
  let clients;
  try {
    await sleep(1000);
    ctl('-z');
    clients = new Psb(clientArgs(kind, ctx, srv.port, cfile, kind === 'bare' ? 3 : 2), `cg-${kind}`).start();
    const r = await clients.ready(600000);
    if (r.failed) throw new Error(`${kind} under callgrind: ${r.failed} connections failed`);
    await sleep(2000);
    ctl('-d');
    res.handshakes = r.ok;
    res.handshakeMs = r.ms;
    const d1 = dumps();
    res.handshake = annotate(path.join(OUT, d1[d1.length - 1]));
    res.irPerHandshake = res.handshake.total / r.ok;
    ctl('-z');
    clients.reset();
    const pfile = path.join(ctx.tmp, `cg-pub-${kind}.json`);
    const pub = new Psb(pubArgs(CG_RATE, CG_SECONDS, ctx.redis.port, pfile), `cg-pub-${kind}`).start();
    await pub.exited((CG_SECONDS + 60) * 1000);
    const pb = JSON.parse(fs.readFileSync(pfile, 'utf8'));
    const want = pb.published * (CONNS / USERS);
    const t0 = Date.now();
    let cl;
    for (;;) {  // every event, or 5 minutes
      cl = await clients.dump(cfile);
      if (cl.events >= want || Date.now() - t0 > 300000) break;
      await sleep(1000);
    }
    ctl('-d');
    const d2 = dumps();
    res.published = pb.published;
    res.deliveries = cl.events;
    res.expected = want;
    res.drainSeconds = (Date.now() - t0) / 1000;
    res.events = annotate(path.join(OUT, d2[d2.length - 1]));
    res.irPerDelivery = res.events.total / Math.max(1, cl.events);
    return res;
  } finally {
    if (clients) await clients.stop();
    await srv.stop();
  }
}

async function main() {
  buildPsb();
  buildBare();
  if (!fs.existsSync(MODULE_PATH)) throw new Error(`module not built: ${MODULE_PATH}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'psbench-profile-'));
  const redis = await new RedisServer().start();
  const out = { live: [], callgrind: [] };
  try {
    const client = await redis.client();
    await client.configSet('client-output-buffer-limit', 'pubsub 268435456 67108864 60');
    const ctx = { redis, tmp, cookies: await createSessions(client, USERS, { file: path.join(tmp, 'cookies.txt') }) };
    ctx.barePaths = path.join(tmp, 'bare-paths.txt');
    fs.writeFileSync(ctx.barePaths, Array.from({ length: USERS }, (_, i) => `/ws?u=b${i}`).join('\n') + '\n');
    if (PARTS.includes('live')) {
      for (const k of SERVERS) { console.error(`live: ${k}, W2 ${RATE}/s (load ${os.loadavg()[0].toFixed(2)})`); out.live.push(await live(k, ctx)); }
    }
    if (PARTS.includes('callgrind')) {
      for (const k of SERVERS) { console.error(`callgrind: ${k}, W2 ${CG_RATE}/s for ${CG_SECONDS} s`); out.callgrind.push(await callgrind(k, ctx)); }
    }
  } finally {
    await redis.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  for (const l of out.live) {
    const b = l.windows.base;
    console.log(`\n${l.server} live, W2 ${RATE}/s: ${b.deliveriesPerS.toFixed(0)} deliveries/s, CPU ${b.cpuPct.toFixed(0)}%, ` +
      `${b.cpuUsPerDelivery.toFixed(2)} us/delivery, steal ${b.stealPct.toFixed(1)}%, load ${b.load1.toFixed(2)}`);
    if (l.loopTurnsMs && !l.loopTurnsMs.atLeast) console.log(`  loop turns: ${l.loopTurnsMs.turns} in ${WINDOW} s, p50 ${l.loopTurnsMs.p50.toFixed(3)} / p99 ${l.loopTurnsMs.p99.toFixed(2)} / max ${l.loopTurnsMs.max.toFixed(1)} ms, busy ${l.loopTurnsMs.busyPct.toFixed(0)}%, ${l.loopTurnsMs.eventsPerWait.toFixed(1)} fds per wait`);
    console.log(`  syscalls per delivery: perf trace ${l.perfTrace.perDelivery.toFixed(3)} (${l.windows.trace.deliveries} deliveries), ` +
      `strace ${l.strace.perDelivery.toFixed(3)} (${l.windows.strace.deliveries} deliveries, CPU ${l.windows.strace.cpuPct.toFixed(0)}%)`);
    const sc = Object.entries(l.perfTrace.bySyscall).sort((a, c) => c[1] - a[1]).slice(0, 8);
    console.log(`  perf trace: ${sc.map(([n, c]) => `${n} ${(c / l.windows.trace.deliveries).toFixed(3)}`).join(', ')} per delivery`);
    console.log(`  perf top ${TOP} (self, cpu-clock):`);
    console.log(table(l.perf.top.map((f) => ({ '%': f.pct.toFixed(2), object: f.dso, function: f.symbol.slice(0, 110) })), ['%', 'object', 'function']));
    console.log(`  by object: ${l.perf.byObject.slice(0, 8).map((d) => `${d.dso} ${d.pct}%`).join(', ')}`);
  }
  for (const c of out.callgrind) {
    console.log(`\n${c.server} callgrind: ${(c.irPerHandshake / 1e3).toFixed(0)}k instructions per handshake (${c.handshakes}), ` +
      `${c.irPerDelivery.toFixed(0)} instructions per delivery (${c.deliveries}/${c.expected} deliveries at ${CG_RATE}/s)`);
    console.log(table(c.events.self.map((f) => ({ Ir: f.ir, '%': f.pct, 'Ir/delivery': (f.ir / c.deliveries).toFixed(0), function: f.fn.slice(0, 110) })), ['Ir', '%', 'Ir/delivery', 'function']));
  }
  const file = writeResults('profile', { machine: machine(), params: { RATE, WINDOW, PERF, CG_RATE, CG_SECONDS }, ...out });
  console.log(`results: ${file}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; }).finally(() => setTimeout(() => process.exit(), 100).unref());
