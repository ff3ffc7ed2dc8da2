// What the fleet-wide per-user limit (SPEC section 9, limit_scope fleet) costs
// Redis: per handshake (acquire), per close (release), and per 10,000 idle
// connections (lease renewals), for the design of redis/portfolio_stream_fleet.lua
// (one lease per edge per bucket, renewed every lease/3 for each of the 64
// buckets the edge holds connections in) against the straightforward one (a
// sorted set per user scored by lease expiry, every connection's score renewed
// every lease/3: one ZADD per user per edge, which a cluster cannot batch
// across slots). A real redis-server on loopback. Columns: client commands
// sent (FCALL/EVALSHA/ZADD), the commands Redis ran for them (INFO
// commandstats, the functions' inner calls included), the CPU time Redis's
// commandstats give the client commands, and Redis's whole process CPU
// (/proc: I/O and parsing included) per second of idling.
//
//   node tests/bench/fleet_cost.mjs
// BENCH_FLEET_N (10000 connections), BENCH_FLEET_EDGES (2: the connections are
// spread over this many edges, each user has one on every edge),
// BENCH_FLEET_LEASE_MS (30000), BENCH_DURATION (30 s of idling per design).
// Results: <PS_BUILD>/bench/fleet_cost.json.
import { RedisServer } from '../integration/lib/redis.mjs';
import { FLEET_LUA, fleet, fleetKeys, edgesKey } from '../integration/lib/fleet.mjs';
import { sleep } from '../integration/lib/procs.mjs';
import { machine, table, writeResults, procCpuMs } from './lib/bench.mjs';

const N = Number(process.env.BENCH_FLEET_N || 10000);
const EDGES = Number(process.env.BENCH_FLEET_EDGES || 2);
const LEASE = Number(process.env.BENCH_FLEET_LEASE_MS || 30000);
const DURATION = Number(process.env.BENCH_DURATION || 30) * 1000;
const INTERVAL = Math.max(1, Math.floor(LEASE / 3));
const LIMIT = 5;

function commandstats(info) {
  const out = {};
  for (const line of info.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) out[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
  }
  return out;
}
async function stats(c) {
  const s = commandstats(await c.sendCommand(['INFO', 'commandstats']));
  let calls = 0;
  let usec = 0;
  for (const [name, v] of Object.entries(s)) {
    if (name === 'info' || name === 'config|resetstat' || name === 'config') continue;
    calls += v.calls;
    usec += v.usec;
  }
  const top = ['fcall', 'fcall_ro', 'evalsha', 'zadd'].reduce((n, k) => n + (s[k] ? s[k].usec : 0), 0);
  return { calls, usec, top, by: s };
}
const memory = async (c) => Number(/used_memory:(\d+)/.exec(await c.sendCommand(['INFO', 'memory']))[1]);
const reset = (c) => c.sendCommand(['CONFIG', 'RESETSTAT']);

// conns[i] = { user, edge, conn }: user u<k> has one connection on each edge
const conns = [];
for (let i = 0; i < N; i++) conns.push({ user: `u${Math.floor(i / EDGES)}`, edge: `edge${i % EDGES}`, conn: (i).toString(16) });
const users = N / EDGES;

async function inChunks(items, fn, size = 1000) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

const redis = new RedisServer();
const results = { machine: machine(), settings: { N, EDGES, LEASE, DURATION, INTERVAL, redis: '' }, rows: [] };
try {
  await redis.start();
  const c = await redis.client();
  results.settings.redis = /redis_version:(\S+)/.exec(await c.sendCommand(['INFO', 'server']))[1];
  await c.sendCommand(['FUNCTION', 'LOAD', 'REPLACE', FLEET_LUA]);

  // Redis's floor: idling with nothing to renew
  const f0 = procCpuMs(redis.child.pid);
  const tf = Date.now();
  await sleep(Math.min(DURATION, 10000));
  const floorCpu = ((procCpuMs(redis.child.pid) - f0) * 1000) / (Date.now() - tf);

  // --- this design ---------------------------------------------------------------
  const mem0 = await memory(c);
  await reset(c);
  let t0 = Date.now();
  const got = await inChunks(conns, (x) => fleet.acquire(c, x.user, x.edge, x.conn, LIMIT, LEASE));
  const acquireMs = Date.now() - t0;
  if (got.some((r) => r !== 1)) throw new Error('an acquire was refused');
  const acq = await stats(c);
  const mem1 = await memory(c);
  // per edge: the connections held in each bucket, renewed every INTERVAL
  const books = [];
  for (let e = 0; e < EDGES; e++) {
    const held = new Map();
    for (const x of conns) if (x.edge === `edge${e}`) held.set(fleetKeys(x.user).bucket, (held.get(fleetKeys(x.user).bucket) || 0) + 1);
    books.push({ edge: `edge${e}`, held, last: new Map([...held.keys()].map((b) => [b, t0])) });
  }
  await reset(c);
  let mismatches = 0;
  let sent = 0;
  let cpu0 = procCpuMs(redis.child.pid);
  t0 = Date.now();
  while (Date.now() - t0 < DURATION) {
    const now = Date.now();
    const calls = [];
    for (const book of books) {
      for (const [b, n] of book.held) {
        if (now - book.last.get(b) < INTERVAL) continue;
        book.last.set(b, now);
        sent++;
        calls.push(fleet.renew(c, b, book.edge, LEASE).then((r) => { if (r !== n) mismatches++; }));
      }
    }
    await Promise.all(calls);
    await sleep(200);
  }
  const idleMs = Date.now() - t0;
  const idleCpu = ((procCpuMs(redis.child.pid) - cpu0) * 1000) / idleMs;
  const idle = await stats(c);
  // everything is still counted
  let counted = 0;
  for (let u = 0; u < users; u += Math.max(1, Math.floor(users / 200))) counted += await fleet.count(c, `u${u}`);
  const sampled = Math.ceil(users / Math.max(1, Math.floor(users / 200)));
  await reset(c);
  t0 = Date.now();
  await inChunks(conns, (x) => fleet.release(c, x.user, x.edge, x.conn));
  const releaseMs = Date.now() - t0;
  const rel = await stats(c);
  const mem2 = await memory(c);
  results.rows.push({
    design: 'lease per edge per bucket (portfolio_stream_fleet)',
    acquire_us: +(acq.top / N).toFixed(1), acquire_redis_cmds: +(acq.calls / N).toFixed(1), acquire_wall_ms: acquireMs,
    release_us: +(rel.top / N).toFixed(1), release_redis_cmds: +(rel.calls / N).toFixed(1), release_wall_ms: releaseMs,
    idle_cmds_per_s: +((sent * 1000) / idleMs).toFixed(2),
    idle_redis_cmds_per_s: +((idle.calls * 1000) / idleMs).toFixed(1),
    idle_cmd_us_per_s: +((idle.top * 1000) / idleMs).toFixed(0),
    idle_redis_cpu_ms_per_s: +idleCpu.toFixed(2),
    bytes_per_conn: Math.round((mem1 - mem0) / N), left_after_release: mem2 - mem0,
    renew_mismatches: mismatches, counted_sample: `${counted}/${sampled * EDGES}`,
  });

  // --- the straightforward design: a zset per user, renewed per connection ---------
  await c.sendCommand(['FLUSHALL']);
  const zkey = (u) => `{ps:z:${u}}`;
  const byUserEdge = new Map();
  for (const x of conns) {
    const k = `${x.user} ${x.edge}`;
    if (!byUserEdge.has(k)) byUserEdge.set(k, { user: x.user, edge: x.edge, ids: [] });
    byUserEdge.get(k).ids.push(`${x.edge}/${x.conn}`);
  }
  const ACQ = `local now = redis.call('TIME'); now = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1]) return 1`;
  const sha = await c.sendCommand(['SCRIPT', 'LOAD', ACQ]);
  const zmem0 = await memory(c);
  await reset(c);
  t0 = Date.now();
  await inChunks(conns, (x) => c.sendCommand(['EVALSHA', sha, '1', zkey(x.user), `${x.edge}/${x.conn}`, String(LIMIT), String(LEASE)]));
  const zAcquireMs = Date.now() - t0;
  const zacq = await stats(c);
  const zmem1 = await memory(c);
  await reset(c);
  let zsent = 0;
  cpu0 = procCpuMs(redis.child.pid);
  t0 = Date.now();
  let last = 0;
  const groups = [...byUserEdge.values()];
  while (Date.now() - t0 < DURATION) {
    if (Date.now() - last >= INTERVAL) {
      last = Date.now();
      const exp = String(last + LEASE);
      zsent += groups.length;
      await inChunks(groups, (g) => c.sendCommand(['ZADD', zkey(g.user), 'XX', ...g.ids.flatMap((id) => [exp, id])]));
    }
    await sleep(200);
  }
  const zIdleMs = Date.now() - t0;
  const zIdleCpu = ((procCpuMs(redis.child.pid) - cpu0) * 1000) / zIdleMs;
  const zidle = await stats(c);
  results.rows.push({
    design: 'zset per user, renewed per connection',
    acquire_us: +(zacq.top / N).toFixed(1), acquire_redis_cmds: +(zacq.calls / N).toFixed(1), acquire_wall_ms: zAcquireMs,
    release_us: '', release_redis_cmds: '', release_wall_ms: '',
    idle_cmds_per_s: +((zsent * 1000) / zIdleMs).toFixed(2),
    idle_redis_cmds_per_s: +((zidle.calls * 1000) / zIdleMs).toFixed(1),
    idle_cmd_us_per_s: +((zidle.top * 1000) / zIdleMs).toFixed(0),
    idle_redis_cpu_ms_per_s: +zIdleCpu.toFixed(2),
    bytes_per_conn: Math.round((zmem1 - zmem0) / N), left_after_release: '', renew_mismatches: '', counted_sample: '',
  });
  results.settings.redis_floor_cpu_ms_per_s = +floorCpu.toFixed(2);
  results.settings.buckets_held_per_edge = books.map((b) => b.held.size);
  results.settings.expected_renewals_per_s = +((books.reduce((n, b) => n + b.held.size, 0) * 1000) / INTERVAL).toFixed(2);
  results.settings.expected_zset_renewals_per_s = +((groups.length * 1000) / INTERVAL).toFixed(2);
} finally {
  await redis.destroy();
}

console.log(`fleet limit, ${N} connections on ${EDGES} edges (${users} users), lease ${LEASE} ms, renew every ${INTERVAL} ms, Redis ${results.settings.redis}`);
console.log(table(results.rows, ['design', 'acquire_us', 'acquire_redis_cmds', 'release_us', 'idle_cmds_per_s', 'idle_redis_cmds_per_s',
  'idle_cmd_us_per_s', 'idle_redis_cpu_ms_per_s', 'bytes_per_conn', 'renew_mismatches', 'counted_sample']));
console.log(`Redis process CPU with nothing to do: ${results.settings.redis_floor_cpu_ms_per_s} ms/s`);
console.log(`expected renewals/s: ${results.settings.expected_renewals_per_s} (buckets held per edge: ${results.settings.buckets_held_per_edge.join(', ')}); zset design: ${results.settings.expected_zset_renewals_per_s}`);
console.log(`wrote ${writeResults('fleet_cost', results)}`);
