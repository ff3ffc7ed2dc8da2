// Benchmark (not a test): the tick workload of issue 3.
//
// USERS users (one WebSocket each), SYMBOLS symbols per user each ticking HZ
// times a second (position_update, key = symbol, ts = publish time in ms),
// ORDERS order_update per user per second, for DURATION seconds; once for
// each batch window (0, 250 ms, 1000 ms), each in a fresh single-worker nginx
// (fresh stats zone), then once through Debian's nchan (memory store,
// `nchan_publisher websocket` per user, `nchan_subscriber websocket`), which
// delivers every event in its own frame (no coalescing).
//
// Load: tests/bench/psb.c. Publisher: one Redis connection, PUBLISH commands
// pipelined in 10 ms slots (for nchan: one publisher websocket per user,
// frames written in the same slots). Clients: one epoll process reading
// every frame, counting event frames and events and the age of each event on
// receipt (now - ts). Server side: the stats endpoint (batchEfficiency,
// latencyMs = age at write, events, coalesced) and the worker's utime+stime
// from /proc/<pid>/stat. Everything on 127.0.0.1; on a 2-core machine the
// publisher, Redis and the clients compete with the nginx worker for CPU.
//
//   node tests/bench/ticks.mjs
//   env: BENCH_USERS (1000) BENCH_SYMBOLS (20) BENCH_HZ (5) BENCH_ORDERS (0.1)
//        BENCH_DURATION (20) BENCH_WINDOWS (0,250,1000) BENCH_NCHAN (1) BENCH_PEER_HZ (1)
//        BENCH_WARMUP (2)
// Results: <build>/bench/ticks.json (ticks-$BENCH_TAG.json with BENCH_TAG) and a table on stdout.
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { RedisServer } from '../integration/lib/redis.mjs';
import { startApp } from '../integration/lib/app.mjs';
import { connectUser, terminateAllWs } from '../integration/lib/wsclient.mjs';
import { BenchNginx, Psb, buildPsb, createSessions, procCpuMs, machine, table, writeResults, sleep, MODULE_PATH } from './lib/bench.mjs';

const USERS = Number(process.env.BENCH_USERS || 1000);
const SYMBOLS = Number(process.env.BENCH_SYMBOLS || 20);
const HZ = Number(process.env.BENCH_HZ || 5);
const ORDERS = Number(process.env.BENCH_ORDERS || 0.1);
const DURATION = Number(process.env.BENCH_DURATION || 20);
const WINDOWS = (process.env.BENCH_WINDOWS || '0,250,1000').split(',').map(Number);
const WARMUP = Number(process.env.BENCH_WARMUP || 2);
const PEER_HZ = Number(process.env.BENCH_PEER_HZ ?? 1);
const WITH_NCHAN = (process.env.BENCH_NCHAN || '1') !== '0';
let runNo = 0;

async function run(kind, window, redis, cookies, tmp, hz = HZ) {
  runNo++;
  const nginx = new BenchNginx(kind, { redisPort: redis.port, window: `${window}ms`, maxConnections: USERS + 100 });
  await nginx.start();
  const cfile = path.join(tmp, `clients-${runNo}.json`);
  const pfile = path.join(tmp, `pub-${runNo}.json`);
  const srcs = [1, 2].map((y) => `127.0.${20 + runNo}.${y}`).join(',');
  const clientArgs = kind === 'nchan'
    ? ['conns', '--path-fmt', '/sub/b%d']
    : ['conns', '--cookies', cookies, '--first-frame'];
  const clients = new Psb([...clientArgs, '--port', String(nginx.port), '--n', String(USERS), '--src', srcs, '--out', cfile],
    `clients-${kind}-${window}`).start();
  try {
    const r = await clients.ready(120000);
    if (r.failed) throw new Error(`${r.failed} client connections failed`);
    await sleep(1000);
    const pubArgs = ['pub', '--users', String(USERS), '--uid-fmt', 'b%d', '--symbols', String(SYMBOLS), '--hz', String(hz),
      '--orders', String(ORDERS), '--duration', String(DURATION), '--out', pfile];
    const pub = new Psb(kind === 'nchan'
      ? [...pubArgs, '--nchan', '--port', String(nginx.port)]
      : [...pubArgs, '--redis', '--port', String(redis.port)], `pub-${kind}-${window}`).start();
    // Steady state only: the measured interval starts WARMUP s after the
    // publisher and ends 1 s before it stops (no start-up or drain frames).
    await sleep(WARMUP * 1000);
    const stats0 = kind === 'ps' ? await nginx.stats() : null;
    const cpu0 = procCpuMs(nginx.worker);
    const rcpu0 = procCpuMs(redis.child.pid);
    clients.reset();
    await sleep((DURATION - WARMUP - 1) * 1000);
    const cpu1 = procCpuMs(nginx.worker);
    const rcpu1 = procCpuMs(redis.child.pid);
    const cl = await clients.dump(cfile);
    const stats1 = kind === 'ps' ? await nginx.stats() : null;
    await pub.exited((DURATION + 30) * 1000);
    await sleep(window + 1000); // the last window drains
    const pb = JSON.parse(fs.readFileSync(pfile, 'utf8'));
    const statsEnd = kind === 'ps' ? await nginx.stats() : null;
    const secs = cl.durationS;
    const cpuMs = cpu1 - cpu0;
    const routed = stats1 ? stats1.events.received - stats0.events.received : pb.ratePerS * secs;
    const res = {
      kind, window, hz, users: USERS, measuredSeconds: secs, publisher: pb, clients: cl,
      framesPerConnPerS: cl.eventFrames / cl.conns / secs,
      framesPerConnPerSWithoutOrderFlushes: (cl.eventFrames - cl.orderFrames) / cl.conns / secs,
      maxFramesOneConnPerS: cl.maxEventFramesOneConn / secs,
      clientEfficiency: 1 - cl.eventFrames / cl.events,
      // Counting every event routed to the connection (coalesced ones too): one
      // connection per user, so routed = events received from Redis.
      routedEfficiency: 1 - cl.eventFrames / routed,
      deliveredPerS: cl.events / secs,
      routedPerS: routed / secs,
      clientAgeMs: cl.ageMs,
      workerCpuMs: cpuMs,
      workerCpuPct: (cpuMs / 10) / secs,
      cpuUsPerDeliveredEvent: (cpuMs * 1000) / cl.events,
      cpuUsPerPublishedEvent: (cpuMs * 1000) / routed,
      redisCpuMs: rcpu1 - rcpu0,
      redisCpuPct: ((rcpu1 - rcpu0) / 10) / secs,
    };
    if (stats1) {
      res.stats = {
        // latencyMs (age at write) as of the end of the measured interval: start-up
        // included, the final drain (up to one window of events published before
        // the publisher stopped) not; latencyMsWithDrain after it.
        batchEfficiency: statsEnd.batchEfficiency, latencyMs: stats1.latencyMs, latencyMsWithDrain: statsEnd.latencyMs,
        received: stats1.events.received - stats0.events.received, delivered: stats1.events.delivered - stats0.events.delivered,
        coalesced: stats1.events.coalesced - stats0.events.coalesced, invalid: stats1.events.invalid - stats0.events.invalid,
        framesSent: stats1.frames.sent - stats0.frames.sent, slowConsumerDrops: stats1.connections.slowConsumerDrops,
        redisReconnects: statsEnd.redis.reconnects, activeConnections: statsEnd.activeConnections,
        whole: { received: statsEnd.events.received, delivered: statsEnd.events.delivered, coalesced: statsEnd.events.coalesced },
      };
    }
    const bad = nginx.badLines();
    if (bad.length) res.errorLog = bad.slice(0, 10);
    return res;
  } finally {
    await clients.stop();
    await nginx.stop();
  }
}

async function main() {
  buildPsb();
  if (!fs.existsSync(MODULE_PATH)) throw new Error(`module not built: ${MODULE_PATH}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'psbench-ticks-'));
  const redis = await new RedisServer().start();
  const results = [];
  let app;
  try {
    const client = await redis.client();
    // At window 0 nginx may fall behind for a moment; do not let Redis's default
    // pub/sub output limit (32 MB hard) cut the subscriber off mid-run.
    await client.configSet('client-output-buffer-limit', 'pubsub 268435456 67108864 60');
    const cookies = await createSessions(client, USERS, { file: path.join(tmp, 'cookies.txt') });
    // One real express-session login, to prove the cookies path in this setup too.
    app = await startApp({ redis });
    {
      const probe = new BenchNginx('ps', { redisPort: redis.port, window: '250ms' });
      await probe.start();
      try {
        const c = await connectUser(probe.port, (await app.login('real0')).cookie);
        await redis.publish('portfolio:user:real0', '{"type":"order_update","id":"probe"}');
        await c.waitEvents(1, 3000, 'probe event');
      } finally { terminateAllWs(); await probe.stop(); }
    }
    for (const w of WINDOWS) {
      console.error(`run: portfolio_stream window ${w} ms, ${USERS} users, ${DURATION} s`);
      results.push(await run('ps', w, redis, cookies, tmp));
    }
    if (WITH_NCHAN) {
      console.error(`run: nchan, ${USERS} users, ${DURATION} s`);
      results.push(await run('nchan', 0, redis, cookies, tmp));
      // The full tick rate saturates a 2-core box at window 0 and for nchan
      // (queues grow, CPU per event then measures an overloaded system): the
      // same comparison again at PEER_HZ ticks per symbol, where both keep up.
      if (PEER_HZ && PEER_HZ !== HZ) {
        console.error(`run: portfolio_stream window 0 and nchan at ${PEER_HZ}/s per symbol`);
        results.push(await run('ps', 0, redis, cookies, tmp, PEER_HZ));
        results.push(await run('nchan', 0, redis, cookies, tmp, PEER_HZ));
      }
    }
  } finally {
    terminateAllWs();
    if (app) await app.close();
    await redis.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const nchanAt = (hz) => results.find((r) => r.kind === 'nchan' && r.hz === hz);
  const rows = results.map((r) => ({
    run: (r.kind === 'nchan' ? 'nchan' : `ps ${r.window}ms`) + (r.hz !== HZ ? ` @${r.hz}Hz` : ''),
    'published/s': r.routedPerS.toFixed(0),
    'delivered/s': r.deliveredPerS.toFixed(0),
    'frames/conn/s': r.framesPerConnPerS.toFixed(2),
    'w/o order flushes': r.framesPerConnPerSWithoutOrderFlushes.toFixed(2),
    'max 1 conn': r.maxFramesOneConnPerS.toFixed(2),
    'eff (stats)': r.stats ? r.stats.batchEfficiency : '-',
    'eff (client)': `${(r.clientEfficiency * 100).toFixed(1)}%`,
    'eff (routed)': r.stats ? `${(r.routedEfficiency * 100).toFixed(1)}%` : '-',
    'write age p99/max ms': r.stats ? `${r.stats.latencyMs.p99}/${r.stats.latencyMs.max}` : '-',
    'recv age p50/p99/max ms': `${r.clientAgeMs.p50}/${r.clientAgeMs.p99}/${r.clientAgeMs.max.toFixed(0)}`,
    'worker CPU %': r.workerCpuPct.toFixed(0),
    'CPU us/delivered': r.cpuUsPerDeliveredEvent.toFixed(2),
    'CPU us/published': r.cpuUsPerPublishedEvent.toFixed(2),
    'vs nchan (per delivered)': nchanAt(r.hz) ? (r.cpuUsPerDeliveredEvent / nchanAt(r.hz).cpuUsPerDeliveredEvent).toFixed(2) : '-',
    'vs nchan (per published)': nchanAt(r.hz) ? (r.cpuUsPerPublishedEvent / nchanAt(r.hz).cpuUsPerPublishedEvent).toFixed(2) : '-',
    'redis CPU %': r.redisCpuPct.toFixed(0),
  }));
  console.log(`\nmeasured over ${WARMUP} s .. ${DURATION - 1} s of each run (steady state); write age = stats latencyMs from the start of the run to the end of the measured interval`);
  console.log(`\ntick workload: ${USERS} users x ${SYMBOLS} symbols x ${HZ}/s + ${ORDERS} orders/s/user, ${DURATION} s per run (${new Date().toISOString()})\n`);
  console.log(table(rows, Object.keys(rows[0])));
  const t = results.find((r) => r.kind === 'ps' && r.window === 250 && r.hz === HZ);
  if (t) {
    const checks = [
      ['frames/conn/s <= 4', t.framesPerConnPerS <= 4],
      ['frames/conn/s <= 4, order flushes aside', t.framesPerConnPerSWithoutOrderFlushes <= 4],
      ['batch efficiency > 95% (stats and client: frames / delivered events)', parseFloat(t.stats.batchEfficiency) > 95 && t.clientEfficiency > 0.95],
      ['batch efficiency > 95% (frames / routed events, coalesced ones included)', t.routedEfficiency > 0.95],
      ['no event older than 270 ms at write (stats latencyMs.max, drain included)', t.stats.latencyMsWithDrain.max <= 270],
    ];
    console.log('\ntargets at 250 ms:');
    for (const [what, ok] of checks) console.log(`  ${ok ? 'MET ' : 'MISS'}  ${what}`);
  }
  const file = writeResults('ticks', { machine: machine(), params: { USERS, SYMBOLS, HZ, ORDERS, DURATION, WINDOWS, WARMUP, PEER_HZ }, results });
  console.log(`results: ${file}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; }).finally(() => setTimeout(() => process.exit(), 100).unref());
