// Benchmark (not a test): many connections on one and on two workers, opened as
// fast as the clients can (issue 16, "Memory and scale").
//
// Per plan (workers × connections), in a fresh nginx: one user per connection
// (the worst case: each one also a Redis subscription), sessions written into
// Redis as connect-redis stores them and the cookies signed as express-session
// does, so every handshake is a real session lookup (the module pipelines its
// GETs). CLIENTS psb processes start at once, each with its own cookies and
// source addresses 127.0.x.1-4 (no port exhaustion), at most INFLIGHT
// handshakes in flight each, and count a connection when its `connected` frame
// came. Figures: handshakes/s (connections ÷ wall time from the first connect to
// the last `connected`), the worker CPU per handshake, the workers' RSS and
// Private_Dirty before and 3 s after (delta ÷ connections), the stats endpoint's
// activeConnections and subscriptions, and a check that events still arrive
// (one order_update to each of SAMPLE random users). Steal % and load beside it.
//
// The process fd limit bounds a worker: with a hard RLIMIT_NOFILE below 25,100
// (here 20,000, and no CAP_SYS_RESOURCE to raise it) 20,000 connections on one
// worker and 50,000 on two cannot be opened; the default plans then take the
// most that fit (hard − 100 on one worker, 2 × (hard − 1,000) on two, reuseport
// leaving room for an uneven split) and say so.
//
//   node tests/bench/scale.mjs          # or: tests/bench/run_all.sh scale
//   env: BENCH_S_PLANS ("1x20000,2x50000", capped by the fd limit) BENCH_S_INFLIGHT (1000)
//        BENCH_S_PER_CLIENT (10000 connections per psb) BENCH_S_SAMPLE (200) BENCH_S_WINDOW (250ms)
// Results: <build>/bench/scale.json and a table on stdout.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RedisServer } from '../integration/lib/redis.mjs';
import { BenchNginx, Psb, buildPsb, createSessions, procCpuMs, procMem, machine, table, writeResults, sleep, MODULE_PATH } from './lib/bench.mjs';

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? process.env[k] : d);
const hardNofile = (() => {
  const m = /Max open files\s+\d+\s+(\d+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : 1024;
})();
const PLANS = env('BENCH_S_PLANS', '1x20000,2x50000').split(',').map((p) => {
  const [w, n] = p.split('x').map(Number);
  const cap = w === 1 ? hardNofile - 100 : w * (hardNofile - 1000);
  return { workers: w, wanted: n, conns: Math.min(n, cap) };
});
const INFLIGHT = Number(env('BENCH_S_INFLIGHT', 1000));
const PER_CLIENT = Number(env('BENCH_S_PER_CLIENT', 10000));
const SAMPLE = Number(env('BENCH_S_SAMPLE', 200));
const WINDOW = env('BENCH_S_WINDOW', '250ms');

function procStat() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal: f[7] };
}
const sum = (a) => a.reduce((x, y) => x + y, 0);

let planNo = 0;
async function runPlan(plan, redis, client, tmp) {
  planNo++;
  const { workers, conns } = plan;
  const nClients = Math.ceil(conns / PER_CLIENT);
  const files = [];
  for (let k = 0; k < nClients; k++) {
    const n = Math.min(PER_CLIENT, conns - k * PER_CLIENT);
    const base = k * PER_CLIENT;
    files.push({ n, cookies: await createSessions(client, n, { uidFmt: (j) => `p${planNo}u${base + j}`, file: path.join(tmp, `cookies-${planNo}-${k}.txt`) }) });
  }
  const nginx = new BenchNginx('ps', {
    redisPort: redis.port, window: WINDOW, workers, reuseport: workers > 1, maxConnections: conns + 1000,
    // nginx closes reusable (not yet upgraded) connections once fewer than 1/16 of
    // worker_connections are free: keep that much headroom above the fd limit.
    workerConnections: Math.max(hardNofile, Math.ceil((conns / workers) * 17 / 16) + 200), rlimitNofile: hardNofile,
  });
  await nginx.start();
  const clients = [];
  try {
    await sleep(500);
    const mem0 = nginx.workers.map(procMem);
    const cpu0 = sum(nginx.workers.map(procCpuMs));
    const s0 = procStat();
    const load1 = os.loadavg()[0];
    const t0 = Date.now();
    files.forEach((f, k) => {
      const srcs = [1, 2, 3, 4].map((y) => `127.0.${(100 + planNo * 10 + k) % 250}.${y}`).join(',');
      clients.push(new Psb(['conns', '--port', String(nginx.port), '--n', String(f.n), '--cookies', f.cookies, '--first-frame',
        '--inflight', String(INFLIGHT), '--src', srcs, '--out', path.join(tmp, `scale-${planNo}-${k}.json`)], `scale-${workers}w-${k}`).start());
    });
    const ready = await Promise.all(clients.map((c) => c.ready(300000)));
    const wallMs = Date.now() - t0;
    const cpu1 = sum(nginx.workers.map(procCpuMs));
    const s1 = procStat();
    const ok = sum(ready.map((r) => r.ok));
    const failed = sum(ready.map((r) => r.failed));
    await sleep(3000);
    const mem1 = nginx.workers.map(procMem);
    const fds = nginx.workers.map((w) => fs.readdirSync(`/proc/${w}/fd`).length);
    const stats = await nginx.stats();
    // Events still arrive: one order_update to each of SAMPLE random connections' users.
    const t = Date.now();
    for (let i = 0; i < SAMPLE; i++) {
      const j = Math.floor(Math.random() * conns);
      await redis.publish(`portfolio:user:p${planNo}u${j}`, JSON.stringify({ type: 'order_update', orderId: `s${i}`, ts: t }));
    }
    await sleep(2000);
    const dumps = await Promise.all(clients.map((c, k) => c.dump(path.join(tmp, `scale-${planNo}-${k}.json`))));
    const got = sum(dumps.map((d) => d.allEvents));
    const open = sum(dumps.map((d) => d.open));
    const rssDelta = sum(mem1.map((m) => m.vmRssKiB)) - sum(mem0.map((m) => m.vmRssKiB));
    const pdDelta = sum(mem1.map((m) => m.privateDirtyKiB)) - sum(mem0.map((m) => m.privateDirtyKiB));
    const res = {
      workers, wanted: plan.wanted, conns, ok, failed, open, clients: nClients, inflightPerClient: INFLIGHT,
      wallSeconds: wallMs / 1000, handshakesPerS: ok / (wallMs / 1000),
      clientReadyMs: ready.map((r) => r.ms),
      workerCpuMsDuringConnect: cpu1 - cpu0, cpuUsPerHandshake: ((cpu1 - cpu0) * 1000) / ok,
      stealPct: (100 * (s1.steal - s0.steal)) / Math.max(1, s1.total - s0.total), load1,
      rssBefore: mem0, rssAfter: mem1, rssBytesPerConn: (rssDelta * 1024) / ok, privateDirtyBytesPerConn: (pdDelta * 1024) / ok,
      workerFds: fds, activeConnections: stats.activeConnections, activeUsers: stats.activeUsers,
      subscriptions: stats.redis && stats.redis.subscriptions, sampleSent: SAMPLE, sampleReceived: got,
      rejected: stats.rejected,
    };
    const bad = nginx.badLines();
    if (bad.length) res.errorLog = bad.slice(0, 10);
    return res;
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    await nginx.stop();
  }
}

async function main() {
  buildPsb();
  if (!fs.existsSync(MODULE_PATH)) throw new Error(`module not built: ${MODULE_PATH}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'psbench-scale-'));
  const redis = await new RedisServer().start();
  const results = [];
  try {
    const client = await redis.client();
    for (const plan of PLANS) {
      console.error(`plan: ${plan.conns} connections on ${plan.workers} worker(s)${plan.conns < plan.wanted ? ` (${plan.wanted} wanted; RLIMIT_NOFILE hard limit ${hardNofile})` : ''}`);
      const r = await runPlan(plan, redis, client, tmp);
      results.push(r);
      console.error(`  ${r.ok} up in ${r.wallSeconds.toFixed(2)} s = ${r.handshakesPerS.toFixed(0)}/s, ${r.rssBytesPerConn.toFixed(0)} B/conn RSS`);
    }
  } finally {
    await redis.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const rows = results.map((r) => ({
    workers: r.workers, 'conns (wanted)': `${r.ok}/${r.conns} (${r.wanted})`, failed: r.failed, 'open@end': r.open,
    'connect s': r.wallSeconds.toFixed(2), 'handshakes/s': r.handshakesPerS.toFixed(0), 'worker CPU us/handshake': r.cpuUsPerHandshake.toFixed(0),
    'RSS B/conn': r.rssBytesPerConn.toFixed(0), 'PrivDirty B/conn': r.privateDirtyBytesPerConn.toFixed(0),
    'RSS after MiB': (sum(r.rssAfter.map((m) => m.vmRssKiB)) / 1024).toFixed(1),
    active: r.activeConnections, subs: r.subscriptions, 'sample events': `${r.sampleReceived}/${r.sampleSent}`,
    'steal %': r.stealPct.toFixed(1), load: r.load1.toFixed(2),
  }));
  console.log(`\nscale (${new Date().toISOString()}), RLIMIT_NOFILE hard ${hardNofile}, ${INFLIGHT} in flight per client\n`);
  console.log(table(rows, Object.keys(rows[0])));
  const file = writeResults('scale', { machine: machine(), hardNofile, plans: PLANS, results });
  console.log(`results: ${file}`);
  if (results.some((r) => r.failed > r.conns * 0.01)) process.exitCode = 1;
}

main().catch((e) => { console.error(e); process.exitCode = 1; }).finally(() => setTimeout(() => process.exit(), 100).unref());
