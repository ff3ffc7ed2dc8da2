// Benchmark (not a test): latency and CPU per delivery against a bare epoll
// server and nchan, in one invocation (issue 16).
//
// Servers, each fresh per run, one process/worker:
//   ps     this module, one worker, portfolio_stream_batch_window 0 (conflation at
//          its default, on; "ps conflate off" rows turn it off), sessions written
//          into Redis, cookies signed as express-session does;
//   bare   tests/bench/bare.c: accepts any upgrade (user id from ?u=), one Redis
//          connection with a SUBSCRIBE per user (and the broadcast channel), one
//          write() per message per socket;
//   nchan  Debian's nchan (memory store, websocket publisher per user / channel),
//          only where it keeps up (W2 at NCHAN_RATE, broadcast at 10/s).
// Workloads (psb pub --tus: every event carries its publish time in µs):
//   W2 R/s     2,000 connections of 1,000 users (two each); R/1000 symbols per user
//              ticking once a second (twice at 40k/s) plus 0.1 order_update/s per
//              user: every event goes to both sockets of its user.
//   bcast R/s  5,000 connections of 5,000 users, R events/s on one broadcast
//              channel (portfolio_stream_broadcast_channel; bare subscribes it):
//              10/s = 9 symbols at 1 Hz + 1 order/s; 100/s = 20 symbols at 5 Hz
//              + 1 order/s.
// Per run: the server's utime+stime (/proc/<pid>/stat) over the steady interval
// (WARMUP s after the publisher starts to 1 s before it stops) per 100,000
// deliveries (events the clients received in it), and its ratio to bare's in the
// same invocation; publish→receive age p50/p99/max (µs clock, psb fineAgeMs);
// delivered % in the interval (events received / published × sockets per event);
// after the publisher stops and the clients stop receiving (at most DRAIN s),
// orders delivered % (order_updates received / published × sockets); the age of
// the newest value per (connection, symbol) sampled every 100 ms (what a trader
// sees: psb --screen) and its lag beyond one tick period; steal % and other
// processes' CPU from /proc/stat over the interval; load average at the start.
// A run whose steal is above RERUN_STEAL % or where other processes took more than
// RERUN_OTHERS cores is run once more (both rows kept).
//
//   node tests/bench/latency.mjs          # or: tests/bench/run_all.sh latency
//   env: BENCH_L_PARTS (w2,nchan,bcast,overload) BENCH_L_RATES (10000,20000)
//        BENCH_L_OVER_RATES (40000,80000) BENCH_L_OVER_BCAST (100,300) BENCH_L_BCAST (10,100)
//        BENCH_L_NCHAN_RATE (3000) BENCH_L_DURATION (15) BENCH_L_WARMUP (3) BENCH_L_DRAIN (15)
//        BENCH_L_OVER_RCVBUF (65536: the overloaded steps again, ps and conflate off, with
//        clients' SO_RCVBUF fixed at that; 0 = skip) BENCH_L_RERUN_STEAL (10; 0 = never) BENCH_L_RERUN_OTHERS (1.2 cores; 0 = never)
//        BENCH_L_TURNS (3: seconds of `perf trace -e epoll_wait` on the server in the middle
//        of each interval: loop turn p99/max; 0 = off) BENCH_L_SERVERS (ps,bare); a list set to none is empty
// Results: <build>/bench/latency.json (latency-$BENCH_TAG.json) and tables on stdout.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as cp from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { RedisServer } from '../integration/lib/redis.mjs';
import { startApp } from '../integration/lib/app.mjs';
import { connectUser, terminateAllWs } from '../integration/lib/wsclient.mjs';
import { waitFor } from '../integration/lib/procs.mjs';
import { waitForPort } from '../integration/lib/ports.mjs';
import { loopTurns } from './lib/turns.mjs';
import {
  BenchNginx, Psb, buildPsb, createSessions, procCpuMs, machine, table, writeResults, sleep, spawnTracked, stopChild,
  freePort, MODULE_PATH, BUILD, REPO,
} from './lib/bench.mjs';

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? process.env[k] : d);
const PARTS = env('BENCH_L_PARTS', 'w2,nchan,bcast,overload').split(',');
const RATES = env('BENCH_L_RATES', '10000,20000').split(',').filter((x) => x && x !== 'none').map(Number);
const OVER_RATES = env('BENCH_L_OVER_RATES', '40000,80000').split(',').filter((x) => x && x !== 'none').map(Number);
const OVER_BCAST = env('BENCH_L_OVER_BCAST', '100,300').split(',').filter((x) => x && x !== 'none').map(Number);
const BCAST = env('BENCH_L_BCAST', '10,100').split(',').filter((x) => x && x !== 'none').map(Number);
const NCHAN_RATE = Number(env('BENCH_L_NCHAN_RATE', 3000));
const DURATION = Number(env('BENCH_L_DURATION', 15));
const WARMUP = Number(env('BENCH_L_WARMUP', 3));
const DRAIN = Number(env('BENCH_L_DRAIN', 15));
const RERUN_STEAL = Number(env('BENCH_L_RERUN_STEAL', 10));
const OVER_RCVBUF = Number(env('BENCH_L_OVER_RCVBUF', 65536)) || 0;
const TURNS = Number(env('BENCH_L_TURNS', 3));
const RERUN_OTHERS = Number(env('BENCH_L_RERUN_OTHERS', 1.2));
const SERVERS = env('BENCH_L_SERVERS', 'ps,bare').split(',');
const W2_USERS = 1000;
const W2_CONNS = 2000;
const B_CONNS = 5000;
const BCAST_CHANNEL = 'portfolio:broadcast';
const BARE = path.join(BUILD, 'bare');

// ---- machine-wide CPU (/proc/stat): steal and everyone else's CPU ---------------
function procStat() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal (guest is inside user)
  return { total, idle: f[3] + f[4], steal: f[7] };
}
function cpuOf(pids) {
  let ms = 0;
  for (const p of pids) { try { ms += procCpuMs(p); } catch { /* gone */ } }
  return ms;
}

// Where undelivered bytes wait, at one instant: in Redis's output buffers for
// subscribers (CLIENT LIST omem), in the Redis→server socket (Redis's Send-Q
// plus the server's Recv-Q), in the server→client sockets (the server's Send-Q
// plus the clients' Recv-Q: kernel buffers, out of the module's reach, so not
// conflatable) — against which the module's own queues are what is left.
async function backlog(client, serverPort, redisPort) {
  const out = { publisherToRedis: 0, redisQbuf: 0, redisOmem: 0, redisToServer: 0, serverToClients: 0, serverSendQ: 0, clientsRecvQ: 0 };
  try {
    const list = await client.sendCommand(['CLIENT', 'LIST']);
    for (const l of String(list).split('\n')) {
      const f = Object.fromEntries(l.trim().split(' ').map((kv) => kv.split('=')));
      if (Number(f.sub) > 0 || Number(f.psub) > 0) out.redisOmem += Number(f.omem || 0);
      else out.redisQbuf += Number(f.qbuf || 0);
    }
  } catch { /* leave 0 */ }
  const ss = cp.spawnSync('ss', ['-tnH', 'state', 'established'], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout || '';
  const port = (a) => Number(a.slice(a.lastIndexOf(':') + 1));
  for (const l of ss.split('\n')) {
    const c = l.trim().split(/\s+/);
    if (c.length < 4) continue;
    const [rq, sq, local, peer] = [Number(c[0]), Number(c[1]), port(c[2]), port(c[3])];
    if (local === serverPort) { out.serverSendQ += sq; out.serverToClients += sq; }
    if (peer === serverPort) { out.clientsRecvQ += rq; out.serverToClients += rq; }
    if (local === redisPort) out.redisToServer += sq;
    // The server's pub/sub socket (its Recv-Q) and the publisher's (its Send-Q).
    if (peer === redisPort) { out.redisToServer += rq; out.publisherToRedis += sq; }
  }
  return out;
}

function buildBare() {
  const src = path.join(REPO, 'tests/bench/bare.c');
  const fresh = fs.existsSync(BARE) && fs.statSync(BARE).mtimeMs >= fs.statSync(src).mtimeMs;
  if (!fresh) execFileSync('cc', ['-O2', '-Wall', '-o', BARE, src], { stdio: 'inherit' });
}

// The bare reference server as a tracked child; .worker is its pid.
class BareServer {
  constructor(o) { this.o = o; }
  async start() {
    this.port = await freePort();
    const args = ['--port', String(this.port), '--redis-port', String(this.o.redisPort)];
    if (this.o.broadcast) args.push('--broadcast', this.o.broadcast);
    this.child = spawnTracked('bare', BARE, args);
    this.out = '';
    this.err = '';
    this.child.stdout.on('data', (d) => { this.out += d; });
    this.child.stderr.on('data', (d) => { this.err += d; });
    await waitFor(() => /READY/.test(this.out) || this.child.exitCode !== null, { timeout: 10000, what: 'bare READY' });
    if (this.child.exitCode !== null) throw new Error(`bare exited: ${this.err}`);
    await waitForPort(this.port, 5000);
    this.worker = this.child.pid;
    return this;
  }
  // Its counters (null when it is too backed up to answer within 20 s, or gone).
  async stats() {
    if (!this.child || this.child.exitCode !== null) return null;
    const before = (this.out.match(/STATS/g) || []).length;
    this.child.kill('SIGUSR2');
    try {
      await waitFor(() => (this.out.match(/STATS/g) || []).length > before, { timeout: 20000, interval: 50, what: 'bare STATS' });
    } catch { return null; }
    const lines = this.out.split('\n').filter((l) => l.startsWith('STATS '));
    return JSON.parse(lines[lines.length - 1].slice(6));
  }
  badLines() { return this.err ? [this.err.slice(0, 500)] : []; }
  async stop() { if (this.child) await stopChild(this.child, 'SIGTERM', 5000); this.child = null; }
}

function lines(file, n, f) {
  fs.writeFileSync(file, Array.from({ length: n }, (_, i) => f(i)).join('\n') + '\n');
  return file;
}

// Every run: workload w = { name, kind: 'w2'|'bcast', conns, users, symbols, hz,
// orders, fanout, periodMs }, server kind 'ps'|'psoff'|'bare'|'nchan'.
let runNo = 0;
async function runOnce(w, server, ctx, rcvbuf = 0) {
  runNo++;
  const { redis, tmp } = ctx;
  const bcast = w.kind === 'bcast';
  let srv;
  if (server === 'ps' || server === 'psoff') {
    const extra = [bcast ? `portfolio_stream_broadcast_channel ${BCAST_CHANNEL};` : '',
      server === 'psoff' ? 'portfolio_stream_conflate off;' : ''].filter(Boolean).join('\n    ');
    srv = new BenchNginx('ps', { redisPort: redis.port, window: '0ms', extra: extra || undefined });
  } else if (server === 'bare') {
    srv = new BareServer({ redisPort: redis.port, broadcast: bcast ? BCAST_CHANNEL : undefined });
  } else {
    srv = new BenchNginx('nchan');
  }
  await srv.start();
  const cfile = path.join(tmp, `clients-${runNo}.json`);
  const pfile = path.join(tmp, `pub-${runNo}.json`);
  const srcs = [1, 2, 3, 4].map((y) => `127.0.${(30 + runNo) % 250}.${y}`).join(',');
  let clientArgs;
  if (server === 'ps' || server === 'psoff') clientArgs = ['--cookies', bcast ? ctx.cookiesB : ctx.cookiesW2, '--first-frame'];
  else if (server === 'bare') clientArgs = ['--paths', bcast ? ctx.barePathsB : ctx.barePathsW2];
  else clientArgs = bcast ? ['--path', '/sub/bcast'] : ['--paths', ctx.nchanPathsW2];
  const clients = new Psb(['conns', ...clientArgs, '--port', String(srv.port), '--n', String(w.conns), '--src', srcs,
    '--inflight', '512', '--screen', '100', ...(rcvbuf ? ['--rcvbuf', String(rcvbuf)] : []), '--out', cfile],
  `clients-${server}-${w.name}`).start();
  const load1 = os.loadavg()[0];
  try {
    const r = await clients.ready(120000);
    if (r.failed) throw new Error(`${server} ${w.name}: ${r.failed} client connections failed`);
    await sleep(1000);
    const pubArgs = ['pub', '--tus', '--users', String(bcast ? 1 : w.users), '--uid-fmt', 'b%d', '--symbols', String(w.symbols),
      '--hz', String(w.hz), '--orders', String(w.orders), '--duration', String(DURATION), '--out', pfile];
    if (bcast) pubArgs.push('--channel', server === 'nchan' ? 'bcast' : BCAST_CHANNEL);
    const pub = new Psb(server === 'nchan' ? [...pubArgs, '--nchan', '--port', String(srv.port)]
      : [...pubArgs, '--redis', '--port', String(redis.port)], `pub-${server}-${w.name}`).start();
    await sleep(WARMUP * 1000);
    const pids = () => [srv.worker, redis.child.pid, clients.child.pid, pub.child.pid, process.pid];
    const stats0 = server.startsWith('ps') ? await srv.stats() : null;
    const s0 = procStat();
    const all0 = cpuOf(pids());
    const cpu0 = procCpuMs(srv.worker);
    const rcpu0 = procCpuMs(redis.child.pid);
    const ccpu0 = procCpuMs(clients.child.pid);
    const t0 = Date.now();
    clients.reset();
    // In the middle of the interval: TURNS s of the server's loop turns (perf trace).
    const span = (DURATION - WARMUP - 1) * 1000;
    let turns = null;
    if (TURNS > 0 && span > TURNS * 1000 + 1000) {
      await sleep((span - TURNS * 1000) / 2);
      turns = await loopTurns(srv.worker, TURNS);
      await sleep(Math.max(0, t0 + span - Date.now()));
    } else {
      await sleep(span);
    }
    const cpu1 = procCpuMs(srv.worker);
    const rcpu1 = procCpuMs(redis.child.pid);
    const ccpu1 = procCpuMs(clients.child.pid);
    const all1 = cpuOf(pids());
    const s1 = procStat();
    const secsWall = (Date.now() - t0) / 1000;
    const queued = await backlog(ctx.client, srv.port, redis.port);
    const cl = await clients.dump(cfile);
    const stats1 = server.startsWith('ps') ? await srv.stats() : null;
    await pub.exited((DURATION + 30) * 1000);
    const pb = JSON.parse(fs.readFileSync(pfile, 'utf8'));
    // Drain: until the clients have received nothing for 1 s (at most DRAIN s).
    let last = -1;
    let end;
    const drainStart = Date.now();
    for (;;) {
      end = await clients.dump(cfile);
      if (end.allEvents === last || Date.now() - drainStart > DRAIN * 1000) break;
      last = end.allEvents;
      await sleep(1000);
    }
    const statsEnd = server.startsWith('ps') ? await srv.stats() : null;
    const bareStats = server === 'bare' ? await srv.stats() : null;
    const secs = cl.durationS;
    const jiffies = s1.total - s0.total;
    const busyMs = ((jiffies - (s1.idle - s0.idle) - (s1.steal - s0.steal)) * 10);
    const pubRate = pb.published / pb.seconds;
    const expectedPerS = pubRate * w.fanout;
    const res = {
      workload: w.name, server, run: runNo, load1, rcvbuf, measuredSeconds: secs, publisher: pb,
      publishedPerS: pubRate, deliveredPerS: cl.events / secs,
      deliveredPct: (100 * cl.events) / (expectedPerS * secs),
      allDeliveredPct: (100 * end.allEvents) / (pb.published * w.fanout),
      ordersDeliveredPct: pb.orders ? (100 * end.allOrderEvents) / (pb.orders * w.fanout) : null,
      drainSeconds: (Date.now() - drainStart) / 1000,
      cpuPct: (cpu1 - cpu0) / 10 / secsWall,
      cpuSecPer100k: cl.events ? ((cpu1 - cpu0) / 1000) / (cl.events / 1e5) : null,
      redisCpuPct: (rcpu1 - rcpu0) / 10 / secsWall,
      clientCpuPct: (ccpu1 - ccpu0) / 10 / secsWall,
      stealPct: jiffies ? (100 * (s1.steal - s0.steal)) / jiffies : 0,
      // CPU of every process on the machine that is not this bench's, in cores.
      othersCores: (busyMs - (all1 - all0)) / 1000 / secsWall,
      fineAgeMs: cl.fineAgeMs, ageMs: cl.ageMs,
      screenAgeMs: cl.screenAgeMs, periodMs: w.periodMs,
      screenLagP99Ms: Math.max(0, cl.screenAgeMs.p99 - w.periodMs),
      screenLagMaxMs: Math.max(0, cl.screenAgeMs.max - w.periodMs),
      backlogBytes: queued, loopTurnsMs: turns,
      clients: cl, clientsEnd: end,
    };
    if (stats1) {
      res.stats = {
        received: stats1.events.received - stats0.events.received, delivered: stats1.events.delivered - stats0.events.delivered,
        conflated: statsEnd.events.conflated - stats0.events.conflated, coalesced: statsEnd.events.coalesced - stats0.events.coalesced,
        framesSent: stats1.frames.sent - stats0.frames.sent, slowConsumerDrops: statsEnd.connections.slowConsumerDrops,
        latencyMs: stats1.latencyMs, activeConnections: statsEnd.activeConnections,
      };
    }
    if (bareStats) res.bare = bareStats;
    if (!(cl.events > 0)) throw new Error(`${server} ${w.name}: no events received`);
    const bad = srv.badLines();
    if (bad.length) res.errorLog = bad.slice(0, 10);
    return res;
  } finally {
    await clients.stop();
    await srv.stop();
  }
}

// One run (and its rerun when noisy); a run that fails is reported, not fatal.
async function runSafe(w, server, ctx, rcvbuf) {
  try { return await runOnce(w, server, ctx, rcvbuf); } catch (e) {
    console.error(`  ${server} ${w.name} failed: ${e.message}`);
    return { workload: w.name, server, run: runNo, failed: e.message, stealPct: 0 };
  }
}
async function run(w, server, ctx, results, rcvbuf = 0) {
  console.error(`run: ${server} ${w.name}${rcvbuf ? ` rcvbuf ${rcvbuf}` : ''} (load ${os.loadavg()[0].toFixed(2)})`);
  const r = await runSafe(w, server, ctx, rcvbuf);
  results.push(r);
  console.error(`  ${summary(r)}`);
  const noisy = (RERUN_STEAL && r.stealPct > RERUN_STEAL) || (RERUN_OTHERS && r.othersCores > RERUN_OTHERS);
  if (noisy) {
    console.error(`  noisy (steal ${r.stealPct.toFixed(1)}%, others ${f1(r.othersCores, 2)} cores): once more`);
    const again = await runSafe(w, server, ctx, rcvbuf);
    again.rerun = true;
    results.push(again);
    console.error(`  ${summary(again)}`);
  }
}
const f1 = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '-' : Number(x).toFixed(d));
function summary(r) {
  if (r.failed) return `${r.server} ${r.workload}: FAILED ${r.failed}`;
  return `${r.server} ${r.workload}: ${f1(r.deliveredPerS, 0)} deliveries/s, ${f1(r.cpuSecPer100k, 2)} CPU s/100k, ` +
    `age p50/p99/max ${f1(r.fineAgeMs.p50, 2)}/${f1(r.fineAgeMs.p99, 2)}/${f1(r.fineAgeMs.max, 1)} ms, ` +
    `delivered ${f1(r.deliveredPct)}%, orders ${f1(r.ordersDeliveredPct)}%, steal ${f1(r.stealPct)}%, others ${f1(r.othersCores, 2)} cores`;
}

function w2(rate) {
  const hz = rate > 20000 ? rate / 20000 : 1;
  const symbols = Math.round(rate / W2_USERS / hz);
  return { name: `W2 ${rate / 1000}k/s`, kind: 'w2', conns: W2_CONNS, users: W2_USERS, symbols, hz, orders: 0.1, fanout: W2_CONNS / W2_USERS, periodMs: 1000 / hz };
}
function bc(rate) {
  const o = rate >= 100 ? { symbols: 20, hz: rate / 20 } : { symbols: rate - 1, hz: 1 };
  return { name: `bcast ${rate}/s`, kind: 'bcast', conns: B_CONNS, users: B_CONNS, ...o, orders: 1, fanout: B_CONNS, periodMs: 1000 / o.hz };
}

async function main() {
  buildPsb();
  buildBare();
  if (!fs.existsSync(MODULE_PATH)) throw new Error(`module not built: ${MODULE_PATH}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'psbench-latency-'));
  const redis = await new RedisServer().start();
  const results = [];
  let app;
  try {
    const client = await redis.client();
    await client.configSet('client-output-buffer-limit', 'pubsub 268435456 67108864 60');
    const ctx = {
      redis, tmp, client,
      cookiesW2: await createSessions(client, W2_USERS, { file: path.join(tmp, 'cookies-w2.txt') }),
      cookiesB: await createSessions(client, B_CONNS, { file: path.join(tmp, 'cookies-b.txt') }),
      barePathsW2: lines(path.join(tmp, 'bare-w2.txt'), W2_USERS, (i) => `/ws?u=b${i}`),
      barePathsB: lines(path.join(tmp, 'bare-b.txt'), B_CONNS, (i) => `/ws?u=b${i}`),
      nchanPathsW2: lines(path.join(tmp, 'nchan-w2.txt'), W2_USERS, (i) => `/sub/b${i}`),
    };
    // One real express-session login, to prove the cookie path in this setup.
    app = await startApp({ redis });
    {
      const probe = new BenchNginx('ps', { redisPort: redis.port, window: '0ms' });
      await probe.start();
      try {
        const c = await connectUser(probe.port, (await app.login('real0')).cookie);
        await redis.publish('portfolio:user:real0', '{"type":"order_update","id":"probe"}');
        await c.waitEvents(1, 3000, 'probe event');
      } finally { terminateAllWs(); await probe.stop(); }
    }
    if (PARTS.includes('w2')) for (const rate of RATES) for (const s of SERVERS) await run(w2(rate), s, ctx, results);
    if (PARTS.includes('nchan')) for (const s of [...SERVERS, 'nchan']) await run(w2(NCHAN_RATE), s, ctx, results);
    if (PARTS.includes('bcast')) {
      for (const rate of BCAST) {
        for (const s of SERVERS) await run(bc(rate), s, ctx, results);
        if (rate <= 10) await run(bc(rate), 'nchan', ctx, results);
      }
    }
    if (PARTS.includes('overload')) {
      // Then the same with clients whose receive window is fixed (OVER_RCVBUF):
      // a loopback client autotunes it to megabytes, so a backlog sits in kernel
      // buffers where nothing can conflate it.
      for (const rate of OVER_RATES) {
        for (const s of ['ps', 'psoff', 'bare']) await run(w2(rate), s, ctx, results);
        if (OVER_RCVBUF) for (const s of ['ps', 'psoff']) await run(w2(rate), s, ctx, results, OVER_RCVBUF);
      }
      for (const rate of OVER_BCAST) {
        const done = PARTS.includes('bcast') && BCAST.includes(rate);
        for (const s of done ? ['psoff'] : ['ps', 'psoff', 'bare']) await run(bc(rate), s, ctx, results);
        if (OVER_RCVBUF) for (const s of ['ps', 'psoff']) await run(bc(rate), s, ctx, results, OVER_RCVBUF);
      }
    }
  } finally {
    terminateAllWs();
    if (app) await app.close();
    await redis.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  // Ratios to the bare server's run of the same workload (its first run).
  const bareOf = (w) => results.find((r) => r.server === 'bare' && r.workload === w && !r.failed && !r.rcvbuf);
  const rows = results.map((r) => {
    if (r.failed) return { workload: r.workload, server: r.server, 'pub/s': `FAILED: ${r.failed.slice(0, 80)}` };
    const b = bareOf(r.workload);
    return {
      workload: r.workload,
      server: (r.server === 'psoff' ? 'ps conflate off' : r.server) + (r.rcvbuf ? ` rcvbuf ${r.rcvbuf / 1024}K` : '') + (r.rerun ? ' (rerun)' : ''),
      'pub/s': f1(r.publishedPerS, 0), 'deliv/s': f1(r.deliveredPerS, 0), 'deliv %': f1(r.deliveredPct),
      'CPU %': f1(r.cpuPct, 0), 'CPU s/100k': f1(r.cpuSecPer100k, 2),
      'x bare': b && b.cpuSecPer100k ? f1(r.cpuSecPer100k / b.cpuSecPer100k, 2) : '-',
      'age p50/p99/max ms': `${f1(r.fineAgeMs.p50, 2)}/${f1(r.fineAgeMs.p99, 2)}/${f1(r.fineAgeMs.max, 0)}`,
      'screen p50/p99 ms': `${r.screenAgeMs.p50}/${r.screenAgeMs.p99}`,
      'lag p99 ms': f1(r.screenLagP99Ms, 0),
      'turn p99/max ms': !r.loopTurnsMs ? '-' : r.loopTurnsMs.atLeast ? `>${r.loopTurnsMs.max}` : `${f1(r.loopTurnsMs.p99, 2)}/${f1(r.loopTurnsMs.max, 1)}`,
      'orders %': f1(r.ordersDeliveredPct, 2), conflated: r.stats ? r.stats.conflated : '-',
      closes: r.clientsEnd.closes,
      'backlog MB pub->redis/redis/sock->srv/srv->clients': [r.backlogBytes.publisherToRedis + r.backlogBytes.redisQbuf, r.backlogBytes.redisOmem, r.backlogBytes.redisToServer, r.backlogBytes.serverToClients].map((b) => (b / 1e6).toFixed(1)).join('/'),
      'steal %': f1(r.stealPct), 'others cores': f1(r.othersCores, 2), load: f1(r.load1, 2),
      'psb CPU %': f1(r.clientCpuPct, 0), 'redis CPU %': f1(r.redisCpuPct, 0),
    };
  });
  console.log(`\nlatency and CPU per delivery (${new Date().toISOString()}), ${DURATION} s per run, measured ${WARMUP}..${DURATION - 1} s\n`);
  console.log(table(rows, Object.keys(rows.find((r) => r.load !== undefined) || rows[0])));
  const file = writeResults('latency', {
    machine: machine(), params: { RATES, OVER_RATES, OVER_BCAST, BCAST, RERUN_OTHERS, NCHAN_RATE, DURATION, WARMUP, DRAIN, RERUN_STEAL, SERVERS }, results,
  });
  console.log(`results: ${file}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; }).finally(() => setTimeout(() => process.exit(), 100).unref());
