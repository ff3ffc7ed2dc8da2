// Benchmark (not a test): the seed's headline figures, measured for its own
// workload (issue 16): "< 100 KB/day per user", "~1 frame/s per user",
// "~50 MB worker memory for 100 users".
//
// 1. bytes and frames: the tick workload of ticks.mjs (USERS users, one
//    WebSocket each; SYMBOLS symbols per user ticking HZ times a second;
//    ORDERS order_update per user per second) at the default batch window
//    (250 ms), MINUTES minutes measured in steady state (WARMUP s after the
//    publisher starts). Bytes per user per day = bytes the clients received in
//    the interval (psb, WebSocket frames without the handshake) ÷ users ÷
//    minutes × 1,440; the stats endpoint's frames.bytesSent gives the same from
//    the server side. Frames per second per user: every frame, and event frames
//    only. No permessage-deflate (psb does not offer it).
// 2. memory for SMALL users (default 100): a fresh nginx, one worker; the
//    worker's VmRSS / Private_Dirty / Pss and the master's VmRSS before any
//    connection, with SMALL users connected and idle, and after SMALL_SECONDS s
//    of the same per-user tick workload.
//
//   node tests/bench/seed_figures.mjs     # or: tests/bench/run_all.sh seed_figures
//   env: BENCH_SF_USERS (1000) BENCH_SF_SYMBOLS (20) BENCH_SF_HZ (5) BENCH_SF_ORDERS (0.1)
//        BENCH_SF_MINUTES (1) BENCH_SF_WARMUP (3) BENCH_SF_SMALL (100) BENCH_SF_SMALL_SECONDS (20)
// Results: <build>/bench/seed_figures.json and a table on stdout.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RedisServer } from '../integration/lib/redis.mjs';
import { BenchNginx, Psb, buildPsb, createSessions, procCpuMs, procMem, machine, table, writeResults, sleep, MODULE_PATH } from './lib/bench.mjs';

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? process.env[k] : d);
const USERS = Number(env('BENCH_SF_USERS', 1000));
const SYMBOLS = Number(env('BENCH_SF_SYMBOLS', 20));
const HZ = Number(env('BENCH_SF_HZ', 5));
const ORDERS = Number(env('BENCH_SF_ORDERS', 0.1));
const MINUTES = Number(env('BENCH_SF_MINUTES', 1));
const WARMUP = Number(env('BENCH_SF_WARMUP', 3));
const SMALL = Number(env('BENCH_SF_SMALL', 100));
const SMALL_SECONDS = Number(env('BENCH_SF_SMALL_SECONDS', 20));

function procStat() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal: f[7] };
}

async function traffic(redis, cookies, tmp) {
  const nginx = new BenchNginx('ps', { redisPort: redis.port, window: '250ms', maxConnections: USERS + 100 });
  await nginx.start();
  const cfile = path.join(tmp, 'traffic-clients.json');
  const pfile = path.join(tmp, 'traffic-pub.json');
  const clients = new Psb(['conns', '--cookies', cookies, '--first-frame', '--port', String(nginx.port), '--n', String(USERS),
    '--src', '127.0.60.1,127.0.60.2', '--out', cfile], 'sf-clients').start();
  try {
    const r = await clients.ready(120000);
    if (r.failed) throw new Error(`${r.failed} connections failed`);
    await sleep(1000);
    const duration = WARMUP + MINUTES * 60 + 2;
    const pub = new Psb(['pub', '--redis', '--port', String(redis.port), '--users', String(USERS), '--symbols', String(SYMBOLS),
      '--hz', String(HZ), '--orders', String(ORDERS), '--duration', String(duration), '--out', pfile], 'sf-pub').start();
    await sleep(WARMUP * 1000);
    const st0 = await nginx.stats();
    const cpu0 = procCpuMs(nginx.worker);
    const s0 = procStat();
    const load1 = os.loadavg()[0];
    clients.reset();
    await sleep(MINUTES * 60 * 1000);
    const cl = await clients.dump(cfile);
    const st1 = await nginx.stats();
    const cpu1 = procCpuMs(nginx.worker);
    const s1 = procStat();
    const mem = procMem(nginx.worker);
    await pub.exited((duration + 30) * 1000);
    const pb = JSON.parse(fs.readFileSync(pfile, 'utf8'));
    const min = cl.durationS / 60;
    return {
      users: USERS, symbols: SYMBOLS, hz: HZ, orders: ORDERS, window: 250, measuredSeconds: cl.durationS, publisher: pb,
      clientBytesPerUserPerMin: cl.bytes / USERS / min,
      clientBytesPerUserPerDay: (cl.bytes / USERS / min) * 1440,
      serverBytesPerUserPerDay: ((st1.frames.bytesSent - st0.frames.bytesSent) / USERS / min) * 1440,
      framesPerUserPerS: cl.frames / USERS / cl.durationS,
      eventFramesPerUserPerS: cl.eventFrames / USERS / cl.durationS,
      eventsPerUserPerS: cl.events / USERS / cl.durationS,
      bytesPerEventFrame: cl.bytes / Math.max(1, cl.frames),
      workerCpuPct: (cpu1 - cpu0) / 10 / cl.durationS, workerRssKiB: mem.vmRssKiB,
      stealPct: (100 * (s1.steal - s0.steal)) / Math.max(1, s1.total - s0.total), load1,
      ageMs: cl.ageMs,
    };
  } finally {
    await clients.stop();
    await nginx.stop();
  }
}

async function memory(redis, cookies, tmp) {
  const nginx = new BenchNginx('ps', { redisPort: redis.port, window: '250ms' });
  await nginx.start();
  const master = nginx.child.pid;
  const cfile = path.join(tmp, 'mem-clients.json');
  await sleep(500);
  const before = { worker: procMem(nginx.worker), master: procMem(master) };
  const clients = new Psb(['conns', '--cookies', cookies, '--first-frame', '--port', String(nginx.port), '--n', String(SMALL),
    '--src', '127.0.61.1', '--out', cfile], 'sf-mem').start();
  try {
    const r = await clients.ready(60000);
    if (r.failed) throw new Error(`${r.failed} connections failed`);
    await sleep(2000);
    const idle = { worker: procMem(nginx.worker), master: procMem(master) };
    const pfile = path.join(tmp, 'mem-pub.json');
    const pub = new Psb(['pub', '--redis', '--port', String(redis.port), '--users', String(SMALL), '--symbols', String(SYMBOLS),
      '--hz', String(HZ), '--orders', String(ORDERS), '--duration', String(SMALL_SECONDS), '--out', pfile], 'sf-mem-pub').start();
    await sleep((SMALL_SECONDS - 1) * 1000);
    const busy = { worker: procMem(nginx.worker), master: procMem(master) };
    await pub.exited(60000);
    const cl = await clients.dump(cfile);
    return { users: SMALL, before, idle, busy, eventsReceived: cl.allEvents, load1: os.loadavg()[0] };
  } finally {
    await clients.stop();
    await nginx.stop();
  }
}

async function main() {
  buildPsb();
  if (!fs.existsSync(MODULE_PATH)) throw new Error(`module not built: ${MODULE_PATH}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'psbench-seed-'));
  const redis = await new RedisServer().start();
  let t;
  let m;
  try {
    const client = await redis.client();
    await client.configSet('client-output-buffer-limit', 'pubsub 268435456 67108864 60');
    const cookies = await createSessions(client, USERS, { file: path.join(tmp, 'cookies.txt') });
    console.error(`traffic: ${USERS} users x ${SYMBOLS} symbols x ${HZ}/s + ${ORDERS} orders/s, window 250 ms, ${MINUTES} min`);
    t = await traffic(redis, cookies, tmp);
    console.error(`memory: ${SMALL} users`);
    m = await memory(redis, cookies, tmp);
  } finally {
    await redis.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const mib = (k) => (k / 1024).toFixed(1);
  const rows = [
    { figure: 'bytes per user per day', seed: '< 100 KB', measured: `${(t.clientBytesPerUserPerDay / 1e6).toFixed(0)} MB (clients), ${(t.serverBytesPerUserPerDay / 1e6).toFixed(0)} MB (stats bytesSent)` },
    { figure: 'bytes per user per minute', seed: '< 70 B', measured: `${(t.clientBytesPerUserPerMin / 1e3).toFixed(0)} kB` },
    { figure: 'frames per second per user', seed: '~1', measured: `${t.framesPerUserPerS.toFixed(2)} (event frames ${t.eventFramesPerUserPerS.toFixed(2)}, ${t.eventsPerUserPerS.toFixed(1)} events/s)` },
    { figure: `worker memory, ${m.users} users`, seed: '~50 MB', measured: `VmRSS ${mib(m.idle.worker.vmRssKiB)} MiB idle, ${mib(m.busy.worker.vmRssKiB)} MiB under ticks (${mib(m.before.worker.vmRssKiB)} before any connection); Private_Dirty ${mib(m.busy.worker.privateDirtyKiB)} MiB; master ${mib(m.busy.master.vmRssKiB)} MiB` },
  ];
  console.log(`\nthe seed's figures, measured (${new Date().toISOString()}); steal ${t.stealPct.toFixed(1)}%, load ${t.load1.toFixed(2)}\n`);
  console.log(table(rows, ['figure', 'seed', 'measured']));
  const file = writeResults('seed_figures', { machine: machine(), traffic: t, memory: m });
  console.log(`results: ${file}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; }).finally(() => setTimeout(() => process.exit(), 100).unref());
