// Benchmark (not a test): nginx worker memory per idle connection.
//
// Three fresh single-worker nginx instances, one after the other, in one run:
//   ps     our module: N idle WebSocket connections on /ws/portfolio (N users,
//          sessions written into Redis; 3 more made by real Express logins first,
//          to prove the path, then closed)
//   plain  the same nginx configuration (module loaded) holding N idle HTTP/1.1
//          keepalive connections after one `GET /plain` each: nginx's own cost
//   nchan  Debian's libnginx-mod-nchan: N idle `nchan_subscriber websocket`
//          subscribers, one channel each
// For each: the worker's VmRSS (/proc/<pid>/status) and Private_Dirty
// (/proc/<pid>/smaps_rollup) before the connections and 3 s after the last one is
// up; delta / N. Clients: tests/bench/psb.c (epoll, C), source addresses spread
// over 127.0.x.1-4 so no phase reuses another's ports.
//
//   node tests/bench/idle_memory.mjs        (BENCH_IDLE_N=10000 by default)
// Results: <build>/bench/idle_memory.json and a table on stdout.
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { RedisServer } from '../integration/lib/redis.mjs';
import { startApp } from '../integration/lib/app.mjs';
import { connectUser, terminateAllWs } from '../integration/lib/wsclient.mjs';
import { BenchNginx, Psb, buildPsb, createSessions, procMem, machine, table, writeResults, sleep, MODULE_PATH } from './lib/bench.mjs';

const N = Number(process.env.BENCH_IDLE_N || 10000);
// Users for ps's N connections (default N: one each). Fewer users give the
// per-connection cost apart from the per-user one (subscription, group).
const USERS = Math.min(N, Number(process.env.BENCH_IDLE_USERS || N));
const SETTLE_MS = 3000;
const srcs = (x) => [1, 2, 3, 4].map((y) => `127.0.${x}.${y}`).join(',');

async function measure(name, nginx, psbArgs, before = async () => {}) {
  await nginx.start();
  await before(nginx);
  await sleep(500);
  const m0 = procMem(nginx.worker);
  const out = path.join(nginx.dir, 'psb.json');
  const psb = new Psb([...psbArgs, '--port', String(nginx.port), '--n', String(N), '--out', out], `psb-${name}`).start();
  let r;
  try {
    r = await psb.ready(180000);
    await sleep(SETTLE_MS);
    const m1 = procMem(nginx.worker);
    const st = await psb.dump(out);
    let stats = null;
    if (name === 'ps') stats = await nginx.stats();
    const psbMem = procMem(psb.child.pid);
    const res = {
      name, n: N, connected: r.ok, failed: r.failed, connectSeconds: r.ms / 1000, stillOpen: st.open,
      before: m0, after: m1,
      rssBytesPerConn: ((m1.vmRssKiB - m0.vmRssKiB) * 1024) / r.ok,
      privateDirtyBytesPerConn: ((m1.privateDirtyKiB - m0.privateDirtyKiB) * 1024) / r.ok,
      clientRssKiB: psbMem.vmRssKiB,
      moduleStats: stats && { activeConnections: stats.activeConnections, activeUsers: stats.activeUsers, subscriptions: stats.redis.subscriptions },
    };
    return res;
  } finally {
    await psb.stop();
    await sleep(300);
    const bad = nginx.badLines();
    await nginx.stop();
    if (bad.length) console.error(`${name}: error.log:\n${bad.slice(0, 10).join('\n')}`);
  }
}

async function main() {
  buildPsb();
  if (!fs.existsSync(MODULE_PATH)) throw new Error(`module not built: ${MODULE_PATH}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'psbench-idle-'));
  const redis = await new RedisServer().start();
  let app;
  const results = [];
  try {
    app = await startApp({ redis });
    const client = await redis.client();
    const cookies = await createSessions(client, N, { uidFmt: (i) => `b${i % USERS}`, file: path.join(tmp, 'cookies.txt') });

    results.push(await measure('ps', new BenchNginx('ps', { redisPort: redis.port, window: '250ms',
      extra: USERS < N ? `portfolio_stream_max_connections_per_user ${Math.ceil(N / USERS)};` : undefined }),
      ['conns', '--cookies', cookies, '--first-frame', '--src', srcs(1)],
      async (nginx) => {
        // Real express-session logins over HTTP, then the WebSocket, then an event.
        for (let i = 0; i < 3; i++) {
          const { cookie } = await app.login(`real${i}`);
          const c = await connectUser(nginx.port, cookie);
          await redis.publish(`portfolio:user:real${i}`, `{"type":"order_update","id":"real${i}"}`);
          await c.waitEvents(1, 3000, 'event after a real login');
        }
        terminateAllWs();
      }));
    results.push(await measure('plain', new BenchNginx('plain', { redisPort: redis.port }),
      ['conns', '--http', '--path', '/plain', '--src', srcs(2)]));
    results.push(await measure('nchan', new BenchNginx('nchan'),
      ['conns', '--path-fmt', '/sub/b%d', '--src', srcs(3)]));
  } finally {
    terminateAllWs();
    if (app) await app.close();
    await redis.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const by = Object.fromEntries(results.map((r) => [r.name, r]));
  const rows = results.map((r) => ({
    peer: r.name, conns: `${r.connected}/${r.n}`, 'open@end': r.stillOpen,
    'RSS before KiB': r.before.vmRssKiB, 'RSS after KiB': r.after.vmRssKiB,
    'RSS B/conn': r.rssBytesPerConn.toFixed(0), 'PrivDirty B/conn': r.privateDirtyBytesPerConn.toFixed(0),
    'RSS ratio ps/x': (by.ps.rssBytesPerConn / r.rssBytesPerConn).toFixed(2),
    'PD ratio ps/x': (by.ps.privateDirtyBytesPerConn / r.privateDirtyBytesPerConn).toFixed(2),
  }));
  const summary = {
    psMinusPlainRssBytesPerConn: by.ps.rssBytesPerConn - by.plain.rssBytesPerConn,
    psMinusPlainPrivateDirtyBytesPerConn: by.ps.privateDirtyBytesPerConn - by.plain.privateDirtyBytesPerConn,
    ratioRssPsToPlain: by.ps.rssBytesPerConn / by.plain.rssBytesPerConn,
    ratioRssPsToNchan: by.ps.rssBytesPerConn / by.nchan.rssBytesPerConn,
    ratioPrivateDirtyPsToPlain: by.ps.privateDirtyBytesPerConn / by.plain.privateDirtyBytesPerConn,
    ratioPrivateDirtyPsToNchan: by.ps.privateDirtyBytesPerConn / by.nchan.privateDirtyBytesPerConn,
  };
  console.log(`\nidle memory per connection, N=${N}, one worker (${new Date().toISOString()})\n`);
  console.log(table(rows, Object.keys(rows[0])));
  console.log(`\nps - plain: ${(summary.psMinusPlainRssBytesPerConn / 1024).toFixed(2)} KiB/conn RSS, ` +
    `${(summary.psMinusPlainPrivateDirtyBytesPerConn / 1024).toFixed(2)} KiB/conn Private_Dirty`);
  const file = writeResults('idle_memory', { machine: machine(), n: N, settleMs: SETTLE_MS, results, summary });
  console.log(`results: ${file}`);
  if (results.some((r) => r.connected < N * 0.99)) { console.error('too many failed connections'); process.exitCode = 1; }
}

main().catch((e) => { console.error(e); process.exitCode = 1; }).finally(() => setTimeout(() => process.exit(), 100).unref());
