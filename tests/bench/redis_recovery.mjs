// Benchmark (not a test): recovery from a Redis restart with many open
// WebSockets, and the events lost by connections that stay open across it.
//
//   node tests/bench/redis_recovery.mjs
//     BENCH_RR_CONNS=10000  BENCH_RR_USERS=5000  BENCH_RR_WORKERS=1|2 (1)
//     BENCH_RR_ROUNDS=3     BENCH_RR_TRACKED=200 (users whose events are audited)
//     BENCH_RR_HZ=5         (events per second per tracked user)
//     BENCH_RR_DOWN_MS=1000 (how long Redis stays down)
//     BENCH_RR_FAULT=restart | kill   (kill: CLIENT KILL TYPE pubsub instead of a
//                           restart; Redis stays up, so publishers keep publishing
//                           and the events of the gap are accepted with 0 receivers)
//
// One nginx (worker_connections/rlimit raised), one redis-server, N sessions
// written straight into Redis (connect-redis' format), N raw WebSocket
// clients in this process (at most 200 handshakes in flight), all on
// 127.0.0.1. Per round: a publisher sends seq-numbered events to the tracked
// users (PUBLISH replies recorded), Redis is stopped (SIGTERM), every
// connection must get `degraded`, Redis is started again on the same port,
// every connection must get `live`. Reported per round:
//   - Redis up (PING answered) -> `live` on the last connection (and p50/p99),
//   - the events of tracked users per connection: published before Redis
//     stopped (must all arrive), failed at PUBLISH (Redis down), accepted by
//     Redis with 0 receivers (the gap before the resubscribe: lost), published
//     after the connection had `live` (must all arrive), and what arrived.
// Results: $PS_BUILD/bench/redis_recovery.json (PS_BUILD default <repo>/build)
// and a table on stdout. Every process is stopped by pid (integration harness).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { RedisServer } from '../integration/lib/redis.mjs';
import { Nginx, MODULE_PATH } from '../integration/lib/nginx.mjs';
import { cookieFor } from '../integration/lib/app.mjs';
import { FrameParser, OP, newKey, buildFrame } from '../integration/lib/frames.mjs';
import { sleep, waitFor } from '../integration/lib/procs.mjs';
import { publisher, numsubMany, rssKiB, stats } from '../integration/lib/faultkit.mjs';

const env = (k, d) => Number(process.env[k] || d);
const CONNS = env('BENCH_RR_CONNS', 10000);
const USERS = env('BENCH_RR_USERS', 5000);
const WORKERS = env('BENCH_RR_WORKERS', 1);
const ROUNDS = env('BENCH_RR_ROUNDS', 3);
const TRACKED = Math.min(env('BENCH_RR_TRACKED', 200), USERS);
const HZ = env('BENCH_RR_HZ', 5);
const DOWN_MS = env('BENCH_RR_DOWN_MS', 1000);
const INFLIGHT = 200;
const FAULT = process.env.BENCH_RR_FAULT || 'restart';

const here = path.dirname(fileURLToPath(import.meta.url));
const BUILD = path.resolve(process.env.PS_BUILD || path.join(here, '../../build'));

// The harness' config with room for CONNS connections.
class BigNginx extends Nginx {
  writeConfig(opts = this.opts) {
    super.writeConfig(opts);
    const conf = fs.readFileSync(this.confPath, 'utf8')
      .replace('worker_connections 1024;', `worker_connections ${CONNS + 2000}; multi_accept on;`)
      .replace(/listen 127\.0\.0\.1:(\d+) /, 'listen 127.0.0.1:$1 backlog=4096 ');
    fs.writeFileSync(this.confPath, conf);
  }
}

// A raw WebSocket client: handshake, frames, pongs; records statuses and the
// seq of tracked events with their arrival index.
class Conn {
  constructor(i, user, cookie, port) { Object.assign(this, { i, user, cookie, port }); this.reset(); }
  reset() { this.degradedAt = 0; this.liveAt = 0; this.seqs = []; this.order = []; this.statuses = 0; }
  open() {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port: this.port, host: '127.0.0.1' });
      this.s = s;
      let head = Buffer.alloc(0);
      let upgraded = false;
      const parser = new FrameParser();
      const t = setTimeout(() => { s.destroy(); reject(new Error('handshake timeout')); }, 30000);
      s.setNoDelay(true);
      s.on('error', (e) => { clearTimeout(t); if (!this.connectedAt) reject(e); });
      s.on('close', () => { this.closed = Date.now(); clearTimeout(t); if (!this.connectedAt) reject(new Error(`closed in handshake: ${head.toString('latin1').slice(0, 80)}`)); });
      s.on('connect', () => s.write(`GET /ws/portfolio HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${newKey()}\r\nSec-WebSocket-Version: 13\r\nCookie: ${this.cookie}\r\n\r\n`));
      const frames = (buf) => {
        for (const f of parser.push(buf)) {
          if (f.opcode === OP.PING) { s.write(buildFrame({ opcode: OP.PONG, payload: f.payload })); continue; }
          if (f.opcode !== OP.TEXT) continue;
          const m = JSON.parse(f.payload.toString('utf8'));
          if (m.type === 'connected') { this.connectedAt = Date.now(); clearTimeout(t); resolve(this); }
          else if (m.type === 'status') {
            this.statuses++;
            if (m.state === 'degraded' && !this.degradedAt) { this.degradedAt = Date.now(); this.order.push('D'); }
            if (m.state === 'live' && !this.liveAt) { this.liveAt = Date.now(); this.order.push('L'); }
          } else if (m.type === 'batch') { for (const e of m.events) this.ev(e); }
          else this.ev(m);
        }
      };
      s.on('data', (d) => {
        if (upgraded) return frames(d);
        head = Buffer.concat([head, d]);
        const i = head.indexOf('\r\n\r\n');
        if (i < 0) return;
        if (!/^HTTP\/1\.1 101/.test(head.toString('latin1'))) { s.destroy(); reject(new Error(head.toString('latin1').split('\r\n')[0])); return; }
        upgraded = true;
        frames(head.subarray(i + 4));
      });
    });
  }
  ev(e) {
    if (e.user !== this.user) { this.foreign = (this.foreign || 0) + 1; return; }
    this.seqs.push(e.seq);
    this.order.push(e.seq);
  }
}

const pct = (a, p) => { if (!a.length) return NaN; const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };

async function main() {
  if (!fs.existsSync(MODULE_PATH)) throw new Error(`module not built: ${MODULE_PATH} (set PS_MODULE)`);
  const redis = await new RedisServer().start();
  const nginx = new BigNginx({
    workers: WORKERS, stats: true, logLevel: 'notice',
    listen: WORKERS > 1 ? 'reuseport' : '',
    redis: `127.0.0.1:${redis.port} connect_timeout=5s`,
    main: [`worker_rlimit_nofile ${CONNS + 4000};`],
    http: [`portfolio_stream_max_connections ${CONNS + 100};`, 'portfolio_stream_max_connections_per_user 5;', 'portfolio_stream_zone 16m;'],
    location: ['portfolio_stream_batch_window 0;', 'portfolio_stream_heartbeat 60s;', 'portfolio_stream_session_recheck 0;'],
  });
  const conns = [];
  let pub;
  const result = { machine: { cpu: os.cpus()[0].model, cores: os.cpus().length, node: process.version, date: new Date().toISOString() },
    params: { CONNS, USERS, WORKERS, ROUNDS, TRACKED, HZ, DOWN_MS, FAULT }, rounds: [] };
  try {
    await nginx.start();
    const admin = await redis.client();
    // Sessions as connect-redis writes them.
    const cookies = [];
    for (let i = 0; i < USERS; i += 1000) {
      const ops = [];
      for (let j = i; j < Math.min(USERS, i + 1000); j++) {
        const sid = `rr${process.pid}x${j}x${Math.random().toString(36).slice(2, 10)}`;
        ops.push(admin.set(`sess:${sid}`, JSON.stringify({ cookie: { originalMaxAge: null, expires: null, httpOnly: true, path: '/' }, userId: `r${j}` }), { EX: 86400 }));
        cookies.push(cookieFor(sid));
      }
      await Promise.all(ops);
    }
    for (let i = 0; i < CONNS; i++) conns.push(new Conn(i, `r${i % USERS}`, cookies[i % USERS], nginx.port));
    const t0 = Date.now();
    let next = 0;
    const failures = [];
    await Promise.all(Array.from({ length: INFLIGHT }, async () => {
      while (next < conns.length) { const c = conns[next++]; await c.open().catch((e) => failures.push(e.message)); }
    }));
    if (failures.length) throw new Error(`${failures.length} connections failed: ${failures.slice(0, 3).join('; ')}`);
    result.connectMs = Date.now() - t0;
    console.log(`${CONNS} connections of ${USERS} users up in ${result.connectMs} ms (${WORKERS} worker(s))`);
    const workers = nginx.workerPids();
    result.workerRssKiB = workers.map(rssKiB);
    const st0 = await stats({ nginx });
    if (st0.redis.subscriptions !== USERS * 1 && WORKERS === 1) throw new Error(`subscriptions ${st0.redis.subscriptions}`);

    pub = await publisher(redis.port);
    const tracked = Array.from({ length: TRACKED }, (_, i) => `r${i}`);
    const byUser = new Map(tracked.map((u) => [u, conns.filter((c) => c.user === u)]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const c of conns) c.reset();
      const log = [];
      const seq = Object.fromEntries(tracked.map((u) => [u, 0]));
      let running = true;
      const period = 1000 / HZ;
      const pubLoop = (async () => {
        while (running) {
          const tick = Date.now();
          await Promise.all(tracked.map(async (u) => {
            const s = seq[u]++;
            const a = Date.now();
            const r = await pub.publish(`portfolio:user:${u}`, JSON.stringify({ type: 'order_update', user: u, seq: s, ts: a }));
            log.push({ u, s, t0: a, t1: Date.now(), ...r });
          }));
          const w = period - (Date.now() - tick);
          if (w > 0) await sleep(w);
        }
      })();
      await sleep(1000);
      const tStop = Date.now();
      let tSpawn;
      let tUp;
      if (FAULT === 'kill') {
        await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
        tSpawn = tUp = tStop;
      } else {
        await redis.stop();
      }
      await waitFor(() => conns.every((c) => c.degradedAt), { timeout: 20000, interval: 20, what: 'degraded on every connection' });
      const degradedAll = Math.max(...conns.map((c) => c.degradedAt)) - tStop;
      if (FAULT !== 'kill') {
        await sleep(Math.max(0, DOWN_MS - (Date.now() - tStop)));
        tSpawn = Date.now();
        await redis.start();
        tUp = Date.now();
      }
      await waitFor(() => conns.every((c) => c.liveAt), { timeout: 60000, interval: 10, what: 'live on every connection' });
      const lives = conns.map((c) => c.liveAt - tUp);
      await sleep(1500);
      running = false;
      await pubLoop;
      await sleep(500);
      // Audit the tracked users' connections.
      const tally = { before: 0, beforeLost: 0, failed: 0, zero: 0, zeroArrived: 0, gapOther: 0, gapOtherLost: 0, after: 0, afterLost: 0, foreign: 0, unordered: 0 };
      for (const u of tracked) {
        const mine = log.filter((x) => x.u === u);
        for (const c of byUser.get(u)) {
          const got = new Set(c.seqs);
          tally.foreign += c.foreign || 0;
          for (let k = 1; k < c.seqs.length; k++) if (!(c.seqs[k] > c.seqs[k - 1])) tally.unordered++;
          for (const x of mine) {
            if (x.t1 < tStop) { tally.before++; if (!got.has(x.s)) tally.beforeLost++; }
            else if (x.t0 > c.liveAt) { tally.after++; if (!got.has(x.s)) tally.afterLost++; }
            else if (x.err) tally.failed++;
            else if (x.n === 0) { tally.zero++; if (got.has(x.s)) tally.zeroArrived++; }
            else { tally.gapOther++; if (!got.has(x.s)) tally.gapOtherLost++; }
          }
        }
      }
      const st = await stats({ nginx });
      const sample = await numsubMany(admin, tracked.slice(0, 50).map((u) => `portfolio:user:${u}`));
      const r = {
        round, degradedAllMs: degradedAll, redisStartMs: tUp - tSpawn,
        liveMs: { first: Math.min(...lives), p50: pct(lives, 50), p99: pct(lives, 99), max: Math.max(...lives) },
        statusesPerConn: Math.max(...conns.map((c) => c.statuses)),
        subscriptions: st.redis.subscriptions, numsubSampleMin: Math.min(...Object.values(sample)),
        events: tally,
      };
      result.rounds.push(r);
      console.log(`round ${round}: degraded on all ${degradedAll} ms after the stop; Redis up (PING) ${r.redisStartMs} ms after spawn; ` +
        `live: first ${r.liveMs.first} ms, p50 ${r.liveMs.p50} ms, p99 ${r.liveMs.p99} ms, all ${r.liveMs.max} ms after ${FAULT === 'kill' ? 'the kill' : 'Redis answered'}; ` +
        `subscriptions ${st.redis.subscriptions}; tracked-connection events: ${JSON.stringify(tally)}`);
      if (tally.beforeLost || tally.afterLost || tally.foreign || tally.unordered || tally.zeroArrived) console.log('  !! unexpected loss/foreign/order');
      await sleep(1000);
    }
    result.workerRssAfterKiB = workers.map(rssKiB);
    result.badLogLines = nginx.badLogLines([/\[crit\]/]);
  } finally {
    for (const c of conns) c.s && c.s.destroy();
    if (pub) await pub.close();
    await nginx.destroy();
    await redis.destroy();
  }
  fs.mkdirSync(path.join(BUILD, 'bench'), { recursive: true });
  const file = path.join(BUILD, 'bench', `redis_recovery_${FAULT}_w${WORKERS}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.log(`results: ${file}`);
  if (result.badLogLines.length) console.log(`error.log: ${result.badLogLines.slice(0, 5).join('\n')}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
