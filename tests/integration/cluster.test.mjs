// SPEC section 9 end to end: `portfolio_stream_redis_cluster` against a real
// Redis Cluster of 3 masters + 3 replicas (lib/cluster.mjs, every node by pid).
//   1. nginx -t: the directive with/without addresses, bad addresses, and
//      together with portfolio_stream_redis (refused, either order).
//   2. sessions whose `sess:` key lives on each master (GET routed, ASK
//      followed during a slot migration), a missing session is 401.
//   3. two edges, 1,000 users whose channels cover all three shards, one
//      WebSocket per user per edge (2,000): one SPUBLISH per user reaches
//      exactly that user's two connections, byte for byte.
//   4. resharding (redis-cli --cluster reshard) while publishing with the
//      history function: every connection degraded -> live, the moved channels
//      resubscribed on their new master, no event lost, duplicated, reordered
//      or delivered to another user; a session in a moved slot (MOVED).
//   5. failover: the master owning some users' channels SIGKILLed by pid while
//      publishing with history (a publish that fails while its slot has no
//      master is retried): connections stay open, every one gets degraded then
//      live, every event arrives exactly once, in order.
// Sessions are written into the cluster in connect-redis' format (the JSON
// express-session stores, user id at `userId`, the default
// portfolio_stream_session_user_field), cookies signed like express-session.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RedisCluster, keySlot, randomSid, slotOwner, writeSession } from './lib/cluster.mjs';
import { Nginx } from './lib/nginx.mjs';
import { cookieFor } from './lib/app.mjs';
import { connectUser, connectWs, terminateAllWs } from './lib/wsclient.mjs';
import { stats } from './lib/faultkit.mjs';
import { sleep, waitFor, isAlive } from './lib/procs.mjs';

const LUA = fs.readFileSync(fileURLToPath(new URL('../../redis/portfolio_stream.lua', import.meta.url)), 'utf8');
const CHANNEL = 'portfolio:user:';
const note = (...a) => console.log('#', ...a);
let seq = 0;
const uniqueUser = (p) => `${p}${process.pid}x${++seq}`;
const statuses = (c) => c.messages.filter((m) => m.type === 'status');
const connectedOf = (c) => c.messages.find((m) => m.type === 'connected');
// Records when each status frame arrived: c.statusAt = [{ t, state }].
function stampStatuses(c) {
  c.statusAt = [];
  c.ws.on('message', (d, bin) => {
    const t = String(d);
    if (!bin && t.startsWith('{"type":"status"')) c.statusAt.push({ t: Date.now(), state: JSON.parse(t).state });
  });
  return c;
}

// Publishers and samplers still running when a test fails: stopped in after().
const background = new Set();
function stopBackground() { for (const stop of background) stop(); background.clear(); }

// Runs fn over items with at most n in flight; resolves with the results in order.
async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }));
  return out;
}

// A sid whose `sess:` key hashes to a slot for which pred(slot) holds.
function sidWhere(pred) {
  for (;;) {
    const sid = randomSid();
    if (pred(keySlot(`sess:${sid}`))) return sid;
  }
}
const ownerIn = slotOwner;
// `count` fresh user ids whose channel slot satisfies pred.
function usersWhere(prefix, count, pred) {
  const out = [];
  while (out.length < count) {
    const u = uniqueUser(prefix);
    if (pred(keySlot(CHANNEL + u))) out.push(u);
  }
  return out;
}

// A backend's publisher: a cached slot map (refreshed after a MOVED or a
// failed connection), one connection per master (the harness' routers),
// MOVED/ASK followed. It does not retry by itself.
class ClusterPublisher {
  constructor(cluster) { this.cluster = cluster; this.map = null; this.refreshing = null; }
  async shards() {
    if (this.map) return this.map;
    if (!this.refreshing) {
      this.refreshing = this.cluster.shards().then((m) => { this.map = m; return m; }).finally(() => { this.refreshing = null; });
    }
    return this.refreshing;
  }
  async send(args, key) {
    let port = ownerIn(await this.shards(), keySlot(key));
    if (port === undefined) { this.map = null; throw new Error(`slot ${keySlot(key)} has no master`); }
    let asking = false;
    for (let i = 0; ; i++) {
      try {
        const c = await this.cluster.router(port);
        if (asking) return (await Promise.all([c.sendCommand(['ASKING']), c.sendCommand(args)]))[1];
        return await c.sendCommand(args);
      } catch (e) {
        const m = /^(MOVED|ASK) (\d+) (.*):(\d+)$/.exec(e.message || '');
        if (!m || i >= 5) {
          if (!/^ERR /.test(e.message || '')) this.map = null; // connection lost, TRYAGAIN, CLUSTERDOWN ...
          throw e;
        }
        if (m[1] === 'MOVED') this.map = null;
        port = Number(m[4]);
        asking = m[1] === 'ASK';
      }
    }
  }
  spublish(channel, msg) { return this.send(['SPUBLISH', channel, msg], channel); }
  fcall(channel, json) { return this.send(['FCALL', 'portfolio_stream_publish', '1', channel, json], channel); }
}

// Per user, one order_update every intervalMs with the history function;
// seq advances only when the FCALL returned an offset (a failed one, e.g.
// while the slot has no master, is retried with the same body for up to
// retryMs). pause() waits until no call is in flight.
function historyPublisher(pub, users, { intervalMs = 25, retryMs = 20000 } = {}) {
  const log = Object.fromEntries(users.map((u) => [u, []])); // { seq, id, body, tries, t0, t1, errors }
  let running = true;
  let paused = false;
  let inflight = 0;
  const errors = [];
  const failures = [];
  const halt = () => { running = false; };
  background.add(halt);
  const loops = users.map(async (u) => {
    let s = 0;
    while (running) {
      if (paused) { await sleep(5); continue; }
      inflight++;
      try {
        const body = JSON.stringify({ type: 'order_update', user: u, seq: s, data: { orderId: `${u}-${s}`, status: 'filled' } });
        const t0 = Date.now();
        let tries = 0;
        const errs = [];
        for (;;) {
          tries++;
          try {
            const id = String(await pub.fcall(CHANNEL + u, body));
            log[u].push({ seq: s, id, body, tries, t0, t1: Date.now(), errors: errs });
            break;
          } catch (e) {
            errs.push(e.message);
            errors.push(e.message);
            if (!running) return; // stopped: this one is not in the log
            if (Date.now() - t0 > retryMs) {
              failures.push(`${u} seq ${s}: no publish within ${Date.now() - t0} ms: ${errs.slice(-3).join(' | ')}`);
              return;
            }
            await sleep(50);
          }
        }
        s++;
      } finally { inflight--; }
      await sleep(intervalMs);
    }
  });
  return {
    log,
    errors,
    count: () => users.reduce((n, u) => n + log[u].length, 0),
    async pause() { paused = true; await waitFor(() => inflight === 0, { timeout: 30000, interval: 5, what: 'publishes in flight' }); },
    resume() { paused = false; },
    async stop() {
      running = false;
      background.delete(halt);
      await Promise.all(loops);
      assert.deepEqual(failures, [], 'every publish went through within its retry time');
      return log;
    },
  };
}

// Every event the publisher got an offset for arrived at c exactly once, in
// publish order, with its offset inserted first and the rest byte for byte;
// nothing else (no other user's event) arrived.
// diag(missing): extra text for the failure message (what the history holds).
async function auditHistory(c, u, entries, diag = async () => '') {
  const evs = c.events();
  const foreign = evs.filter((e) => e.user !== u);
  assert.equal(foreign.length, 0, `${u} got another user's events: ${JSON.stringify(foreign.slice(0, 3))}`);
  const got = evs.map((e) => `${e.seq}@${e.offset}`);
  const want = entries.map((x) => `${x.seq}@${x.id}`);
  if (got.length !== want.length || got.some((g, i) => g !== want[i])) {
    const gotSet = new Set(got);
    const missing = want.filter((w) => !gotSet.has(w));
    const dup = got.filter((g, i) => got.indexOf(g) !== i);
    assert.fail(`${u}: ${got.length} events for ${want.length} published; missing ${missing.length} [${missing.slice(0, 8)}], `
      + `duplicated [${dup.slice(0, 8)}], first difference at ${got.findIndex((g, i) => g !== want[i])}; statuses ${JSON.stringify(statuses(c))}; `
      + await diag(entries.filter((x) => !gotSet.has(`${x.seq}@${x.id}`)), c));
  }
  // byte for byte: {"offset":"<id>", + the published body after its '{'; a
  // replay may come as one batch frame of such events (SPEC section 3).
  const withOffset = (x) => `{"offset":"${x.id}",${x.body.slice(1)}`;
  let k = 0;
  for (const t of c.raw.map(String).filter((x) => x.includes(`"user":"${u}"`))) {
    const n = t.startsWith('{"type":"batch"') ? JSON.parse(t).events.length : 1;
    const want = entries.slice(k, k + n).map(withOffset);
    assert.equal(t, n === 1 && !t.startsWith('{"type":"batch"') ? want[0] : `{"type":"batch","events":[${want.join(',')}]}`, `${u}: frame bytes`);
    k += n;
  }
  assert.equal(k, entries.length);
}

// For a failure message: the user's history now (epoch, length, whether the
// missing offsets are in it) and when the missing events were published.
function historyDiag(pub, u, marks) {
  return async (missing, c) => {
    const ch = CHANNEL + u;
    let h;
    try { h = await pub.send(['FCALL', 'portfolio_stream_read', '1', ch, '0-0', '100000', '3600'], ch); } catch (e) { return `history read failed: ${e.message}`; }
    const ids = new Set(h.slice(3).filter((_, i) => i % 2 === 0));
    const rel = (t) => Object.entries(marks).map(([k, v]) => `${k}${t - v >= 0 ? '+' : ''}${t - v}ms`).join(' ');
    return `history: epoch ${h[0]} (connected epoch ${connectedOf(c).epoch}), ${ids.size} entries, `
      + `${missing.filter((x) => ids.has(x.id)).length} of the ${missing.length} missing are in it; `
      + `missing published at ${missing.length ? `${rel(missing[0].t0)} .. ${rel(missing[missing.length - 1].t0)}` : '-'}; `
      + `channel owner now ${await pub.cluster.ownerOf(ch)}; statuses at ${(c.statusAt || []).map((x) => `${x.state} ${rel(x.t)}`).join(', ')}`;
  };
}

// degraded then live (at least once each, live last), recovered not false.
function assertDegradedThenLive(c, what) {
  const st = statuses(c);
  const deg = st.findIndex((m) => m.state === 'degraded');
  assert.ok(deg >= 0, `${what}: no degraded status: ${JSON.stringify(st)}`);
  assert.ok(st.slice(deg + 1).some((m) => m.state === 'live'), `${what}: no live after degraded: ${JSON.stringify(st)}`);
  assert.equal(st[st.length - 1].state, 'live', `${what}: the last status is not live: ${JSON.stringify(st)}`);
  for (const m of st) assert.notEqual(m.recovered, false, `${what}: live with recovered:false: ${JSON.stringify(st)}`);
}

// Until every user's connection has had a `live` status; on timeout, says
// which did not and what they got.
async function waitAllLive(users, clients, timeout) {
  try {
    await waitFor(() => users.every((u) => statuses(clients[u]).some((m) => m.state === 'live')), { timeout, what: 'live' });
  } catch {
    const notLive = users.filter((u) => !statuses(clients[u]).some((m) => m.state === 'live'));
    assert.fail(`${notLive.length} of ${users.length} connections had no live status within ${timeout} ms: `
      + notLive.slice(0, 5).map((u) => `${u} (open ${clients[u].isOpen}) ${JSON.stringify(statuses(clients[u]))}`).join('; '));
  }
}

// PUBSUB SHARDNUMSUB on one node: { channel: subscribers on that node }.
async function shardNumsub(cluster, port, channels) {
  const r = await cluster.raw(port, ['PUBSUB', 'SHARDNUMSUB', ...channels]);
  const out = {};
  for (let i = 0; i < r.length; i += 2) out[String(r[i])] = Number(r[i + 1]);
  return out;
}

// Samples the stats endpoint every intervalMs until stop(): [{ t, status, connected, subscriptions }].
function statsSampler(nginx, intervalMs = 50) {
  const samples = [];
  let running = true;
  const done = (async () => {
    while (running) {
      try {
        const s = await stats({ nginx });
        samples.push({ t: Date.now(), status: s.status, connected: s.redis.connected, subscriptions: s.redis.subscriptions });
      } catch (e) { samples.push({ t: Date.now(), error: e.message }); }
      await sleep(intervalMs);
    }
  })();
  const halt = () => { running = false; };
  background.add(halt);
  return { samples, stop: async () => { running = false; background.delete(halt); await done; return samples; } };
}

// Slots left MIGRATING/IMPORTING on some node (CLUSTER NODES shows [slot->-id] / [slot-<-id]).
async function openSlots(cluster) {
  const out = [];
  for (const n of cluster.liveNodes()) {
    const text = String(await cluster.raw(n.port, ['CLUSTER', 'NODES']));
    for (const m of text.matchAll(/\[(\d+)-([<>])-([0-9a-f]+)\]/g)) out.push(`${n.port}: slot ${m[1]} ${m[2] === '>' ? 'migrating' : 'importing'}`);
  }
  return out;
}

// The edge's options: the cluster's seeds instead of portfolio_stream_redis.
const edgeOpts = (cluster, extra = {}) => ({
  redisCluster: `${cluster.seeds} connect_timeout=1s`,
  stats: true,
  workerConnections: 4096,
  http: ['portfolio_stream_max_connections 5000;', 'portfolio_stream_max_connections_per_user 10;', ...(extra.http || [])],
  location: ['portfolio_stream_batch_window 0;', ...(extra.location || [])],
});

async function stopEdge(nginx) {
  terminateAllWs();
  const r = await nginx.stop(15000);
  const bad = nginx.badLogLines();
  assert.deepEqual(bad, [], `error.log has alert/emerg/crash lines:\n${bad.join('\n')}`);
  assert.ok(r && !r.killed, 'nginx needed SIGKILL to stop');
  assert.equal(r.code, 0, `nginx exited with ${JSON.stringify(r)}`);
}

// The history library on every master: the module loads it (SPEC section 8);
// the test loads it where it is missing so that later cases do not depend on that.
async function libraryOnMasters(cluster) {
  const out = {};
  for (const s of await cluster.shards()) {
    const l = await cluster.raw(s.port, ['FUNCTION', 'LIST', 'LIBRARYNAME', 'portfolio_stream']);
    out[s.port] = l.some((lib) => lib[lib.indexOf('library_name') + 1] === 'portfolio_stream');
  }
  return out;
}
async function ensureLibrary(cluster) {
  for (const [port, has] of Object.entries(await libraryOnMasters(cluster))) {
    if (!has) await cluster.raw(Number(port), ['FUNCTION', 'LOAD', 'REPLACE', LUA]);
  }
}

describe('portfolio_stream_redis_cluster (3 masters + 3 replicas)', { timeout: 540000 }, () => {
  let cluster = new RedisCluster();
  before(async () => { await cluster.start(); });
  after(async () => { stopBackground(); terminateAllWs(); await cluster.destroy(); });
  // A case that failed half way (e.g. an aborted reshard) must not break the next one.
  async function cleanCluster() {
    const dirty = await openSlots(cluster).catch((e) => [e.message]);
    if (!dirty.length && cluster.liveNodes().length === cluster.nodes.length) return;
    note(`a new cluster for the next case (the old one has open slots or dead nodes: ${dirty.slice(0, 3).join('; ')})`);
    await cluster.destroy();
    cluster = new RedisCluster();
    await cluster.start();
  }

  describe('nginx -t', () => {
    const n = new Nginx();
    after(() => n.destroy());
    const t = (o) => n.test({ redis: null, ...o });

    it('accepts the seeds with password, username and connect_timeout', async () => {
      const r = await t({ redisCluster: `${cluster.seeds} password=pw username=u connect_timeout=500ms` });
      assert.ok(r.ok, r.output);
      const one = await t({ redisCluster: cluster.seeds.split(' ')[0] });
      assert.ok(one.ok, one.output);
    });

    it('refuses it together with portfolio_stream_redis, in either order, naming both', async () => {
      for (const o of [
        { redis: '127.0.0.1:6379', redisCluster: cluster.seeds },
        { http: [`portfolio_stream_redis_cluster ${cluster.seeds};`, 'portfolio_stream_redis 127.0.0.1:6379;'] },
      ]) {
        const r = await t(o);
        assert.ok(!r.ok, `nginx -t accepted both:\n${r.output}`);
        const emerg = r.output.split('\n').find((l) => /\[emerg\]/.test(l)) || '';
        assert.match(emerg, /portfolio_stream_redis_cluster/, r.output);
        assert.match(emerg, /"portfolio_stream_redis"|portfolio_stream_redis[^_]/, r.output);
        assert.match(emerg, /combined|together|both|one of|instead/i, r.output);
        assert.doesNotMatch(r.output, /signal|core dumped/);
      }
    });

    for (const [name, line, re] of [
      ['no address', 'portfolio_stream_redis_cluster;', /invalid number of arguments|needs at least one/],
      ['options only', 'portfolio_stream_redis_cluster connect_timeout=1s;', /seed|address/i],
      ['a port out of range', 'portfolio_stream_redis_cluster 127.0.0.1:70000;', /port|address/i],
      ['a port that is not a number', 'portfolio_stream_redis_cluster 127.0.0.1:abc;', /port|address/i],
      ['a unix socket (cluster nodes are TCP)', 'portfolio_stream_redis_cluster unix:/tmp/redis.sock;', /unix|address/i],
      ['one bad seed among good ones', 'portfolio_stream_redis_cluster 127.0.0.1:7000 127.0.0.1:;', /port|address/i],
      ['an unknown option', 'portfolio_stream_redis_cluster 127.0.0.1:7000 bogus=1;', /unknown|bogus|option|invalid/i],
      ['db= (a cluster has only db 0)', 'portfolio_stream_redis_cluster 127.0.0.1:7000 db=1;', /db/i],
      ['a bad connect_timeout', 'portfolio_stream_redis_cluster 127.0.0.1:7000 connect_timeout=soon;', /connect_timeout|invalid/i],
      ['in a server block', null, /not allowed|directive is not allowed/],
      ['twice', 'portfolio_stream_redis_cluster 127.0.0.1:7000;\nportfolio_stream_redis_cluster 127.0.0.1:7001;', /duplicate/],
    ]) {
      it(`refuses: ${name}`, async () => {
        const o = line === null ? { server: ['portfolio_stream_redis_cluster 127.0.0.1:7000;'] } : { http: [line] };
        const r = await t(o);
        assert.ok(!r.ok, `nginx -t accepted it:\n${r.output}`);
        const emerg = r.output.split('\n').find((l) => /\[emerg\]/.test(l)) || '';
        assert.match(emerg, /portfolio_stream_redis_cluster/, r.output);
        assert.match(emerg, re, r.output);
        assert.doesNotMatch(r.output, /signal|core dumped/);
      });
    }
  });

  describe('sessions on every shard', () => {
    let edge;
    before(async () => { edge = new Nginx(edgeOpts(cluster)); await edge.start(); });
    after(async () => { if (edge) await edge.destroy(); });

    it('a session whose key lives on each of the three masters is found (GET routed); a missing one is 401', async () => {
      const shards = await cluster.shards();
      assert.equal(shards.length, 3);
      for (const s of shards) {
        const u = uniqueUser('ss');
        const sid = sidWhere((slot) => ownerIn(shards, slot) === s.port);
        const { cookie, key } = await writeSession(cluster, u, sid);
        assert.equal(await cluster.ownerOf(key), s.port);
        assert.equal(await cluster.raw(s.port, ['EXISTS', key]), 1, `the session is on master ${s.port}`);
        const c = await connectUser(edge.port, cookie);
        assert.equal(connectedOf(c).userId, u, `session on ${s.port}`);
        // and its events arrive (SSUBSCRIBE on the channel's shard)
        const body = JSON.stringify({ type: 'account_update', user: u, data: { cash: 1 } });
        assert.equal(await cluster.spublish(CHANNEL + u, body), 1);
        await c.waitEvents(1, 3000);
        assert.equal(String(c.raw[c.raw.length - 1]), body);
        c.terminate();
        // a signed cookie whose session is not there (on the same master): 401
        const missing = sidWhere((slot) => ownerIn(shards, slot) === s.port);
        await assert.rejects(connectWs(edge.port, { cookie: cookieFor(missing) }), (e) => e.status === 401);
      }
      const st = await stats({ nginx: edge });
      assert.ok(st.rejected.unauthorized >= 3, JSON.stringify(st.rejected));
      assert.equal(st.redis.connected, true);
      assert.equal(st.status, 'healthy');
    });

    it('ASK: a session already migrated to the importing node during a slot migration is found', async () => {
      const shards = await cluster.shards();
      const from = shards[0];
      const to = shards[1];
      const sid = sidWhere((slot) => ownerIn(shards, slot) === from.port);
      const key = `sess:${sid}`;
      const slot = keySlot(key);
      const u = uniqueUser('ask');
      await cluster.raw(to.port, ['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.id]);
      await cluster.raw(from.port, ['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.id]);
      try {
        // the key does not exist on the source, so the harness follows ASK and creates it on the target
        await writeSession(cluster, u, sid);
        // (EXISTS on the source would answer ASK itself)
        assert.ok(!(await cluster.raw(from.port, ['CLUSTER', 'GETKEYSINSLOT', String(slot), '1000'])).includes(key), 'not on the source');
        assert.ok((await cluster.raw(to.port, ['CLUSTER', 'GETKEYSINSLOT', String(slot), '1000'])).includes(key), 'on the target');
        const c = await connectUser(edge.port, cookieFor(sid));
        assert.equal(connectedOf(c).userId, u);
        c.terminate();
        // a key in the migrating slot that is on neither node: 401, not 503
        const gone = sidWhere((s) => s === slot);
        await assert.rejects(connectWs(edge.port, { cookie: cookieFor(gone) }), (e) => e.status === 401);
        assert.equal(await cluster.command(['DEL', key]), 1);
      } finally {
        await cluster.raw(from.port, ['CLUSTER', 'SETSLOT', String(slot), 'STABLE']);
        await cluster.raw(to.port, ['CLUSTER', 'SETSLOT', String(slot), 'STABLE']);
      }
    });

    it('error.log is clean and nginx stops gracefully', async () => { await stopEdge(edge); });
  });

  describe('two edges, 1,000 users on all three shards', () => {
    // 1,000 users x 2 edges = 2,000 WebSockets: measured fine on 2 cores
    // (connected at 50 in flight), so the full figure of issue 11 is used.
    const USERS = 1000;
    let a;
    let b;
    let pub;
    before(async () => {
      a = new Nginx(edgeOpts(cluster));
      b = new Nginx(edgeOpts(cluster));
      await a.start();
      await b.start();
      pub = new ClusterPublisher(cluster);
    });
    after(async () => {
      terminateAllWs();
      for (const e of [a, b]) if (e) await e.destroy();
    });

    it('every user\'s event reaches exactly that user\'s connection on each edge, nobody else\'s', async () => {
      const shards = await cluster.shards();
      const users = Array.from({ length: USERS }, () => uniqueUser('fan'));
      const perMaster = Object.fromEntries(shards.map((s) => [s.port, 0]));
      for (const u of users) perMaster[await ownerIn(shards, keySlot(CHANNEL + u))]++;
      note(`channels per master: ${JSON.stringify(perMaster)}`);
      for (const s of shards) assert.ok(perMaster[s.port] > 0, `master ${s.port} owns no user's channel: ${JSON.stringify(perMaster)}`);
      // spot check the harness' slot math against the cluster
      for (const u of users.slice(0, 10)) assert.equal(await cluster.ownerOf(CHANNEL + u), ownerIn(shards, keySlot(CHANNEL + u)));

      const t0 = Date.now();
      const sessions = await pool(users, 16, (u) => writeSession(cluster, u));
      const t1 = Date.now();
      const conns = await pool(users.map((u, i) => [u, i]), 50, async ([u, i]) => {
        const ca = await connectUser(a.port, sessions[i].cookie, { connectedTimeout: 10000, timeout: 10000 });
        const cb = await connectUser(b.port, sessions[i].cookie, { connectedTimeout: 10000, timeout: 10000 });
        assert.equal(connectedOf(ca).userId, u);
        assert.equal(connectedOf(cb).userId, u);
        return [ca, cb];
      });
      const t2 = Date.now();
      note(`${USERS} sessions written in ${t1 - t0} ms, ${2 * USERS} WebSockets connected in ${t2 - t1} ms`);

      for (const e of [a, b]) {
        const st = await stats({ nginx: e });
        assert.equal(st.activeConnections, USERS);
        assert.equal(st.activeUsers, USERS);
        assert.equal(st.redis.connected, true, 'every shard\'s pub/sub connection up');
        assert.equal(st.status, 'healthy');
        assert.equal(st.redis.subscriptions, USERS, 'one channel per user');
      }
      // each edge's worker subscribed each channel on its own master
      for (const s of shards) {
        const mine = users.filter((u) => ownerIn(shards, keySlot(CHANNEL + u)) === s.port).slice(0, 200).map((u) => CHANNEL + u);
        const n = await shardNumsub(cluster, s.port, mine);
        assert.ok(mine.every((ch) => n[ch] === 2), `SHARDNUMSUB on ${s.port}: ${JSON.stringify(Object.entries(n).filter(([, v]) => v !== 2).slice(0, 5))}`);
      }
      const before = await Promise.all([a, b].map((e) => stats({ nginx: e })));

      const bodies = users.map((u, i) => JSON.stringify({ type: 'order_update', user: u, data: { orderId: `o${i}`, status: 'filled', note: `for ${u}` } }));
      const receivers = await pool(users.map((u, i) => i), 16, (i) => pub.spublish(CHANNEL + users[i], bodies[i]));
      const wrong = receivers.map((n, i) => [users[i], n]).filter(([, n]) => n !== 2);
      assert.deepEqual(wrong.slice(0, 10), [], 'SPUBLISH reached one subscriber per edge (the two workers)');
      await waitFor(() => conns.every(([ca, cb]) => ca.events().length >= 1 && cb.events().length >= 1),
        { timeout: 20000, interval: 100, what: 'one event on each of the 2,000 connections' });
      const t3 = Date.now();
      await sleep(500); // anything extra would show up now
      note(`${USERS} SPUBLISH delivered to ${2 * USERS} connections in ${t3 - t2} ms`);
      conns.forEach(([ca, cb], i) => {
        for (const [c, edge] of [[ca, 'A'], [cb, 'B']]) {
          const texts = c.raw.map(String).filter((x) => !x.startsWith('{"type":"connected"'));
          assert.deepEqual(texts, [bodies[i]], `${users[i]} on edge ${edge}`);
        }
      });
      const afterStats = await Promise.all([a, b].map((e) => stats({ nginx: e })));
      for (let k = 0; k < 2; k++) {
        assert.equal(afterStats[k].events.received - before[k].events.received, USERS, `edge ${k}: events received`);
        assert.equal(afterStats[k].events.delivered - before[k].events.delivered, USERS, `edge ${k}: events delivered`);
      }
      terminateAllWs();
    });

    it('error.log is clean and both edges stop gracefully', async () => {
      await stopEdge(a);
      await stopEdge(b);
    });
  });

  describe('resharding while publishing with history', () => {
    let edge;
    let pub;
    let movedRange = null; // the slots the reshard moved
    before(async () => {
      edge = new Nginx(edgeOpts(cluster, { location: ['portfolio_stream_history on;'] }));
      await edge.start();
      pub = new ClusterPublisher(cluster);
    });
    after(async () => { stopBackground(); terminateAllWs(); if (edge) await edge.destroy(); });

    it('the module has the history library on every master', async () => {
      // a connection makes sure the worker has talked to the cluster
      const u = uniqueUser('lib');
      const c = await connectUser(edge.port, (await writeSession(cluster, u)).cookie);
      let seen;
      try {
        await waitFor(async () => { seen = await libraryOnMasters(cluster); return Object.values(seen).every(Boolean); },
          { timeout: 5000, what: 'portfolio_stream on every master' });
      } finally {
        c.terminate();
        await ensureLibrary(cluster);
      }
    });

    it('a slot range moves to another master: no event lost or misdelivered; moved channels resubscribed on the new owner', async () => {
      await ensureLibrary(cluster);
      const shards = await cluster.shards();
      const src = shards[0];
      const dst = shards[2];
      const MOVE = 200;
      // redis-cli --cluster reshard takes the source's lowest slots first
      const lo = src.slots[0][0];
      movedRange = (slot) => slot >= lo && slot < lo + MOVE;
      const moving = usersWhere('rsm', 8, movedRange);
      const staying = [
        ...usersWhere('rss', 3, (slot) => ownerIn(shards, slot) === src.port && !movedRange(slot)),
        ...usersWhere('rs1', 3, (slot) => ownerIn(shards, slot) === shards[1].port),
        ...usersWhere('rs2', 3, (slot) => ownerIn(shards, slot) === dst.port),
      ];
      const users = [...moving, ...staying];
      const clients = {};
      for (const u of users) {
        const c = stampStatuses(await connectUser(edge.port, (await writeSession(cluster, u)).cookie));
        assert.match(connectedOf(c).epoch || '', /^[0-9a-z]{1,32}$/, 'history on: the connected frame has an epoch');
        clients[u] = c;
      }
      const p = historyPublisher(pub, users, { intervalMs: 20 });
      await waitFor(() => users.every((u) => clients[u].events().length >= 3), { timeout: 10000, what: 'events before the reshard' });
      const t0 = Date.now();
      // A publish during a slot's migration can abort the reshard ("Target key
      // exists"): see the failure message below. It is a finding, not noise.
      try {
        await cluster.reshard({ from: src.port, to: dst.port, slots: MOVE });
      } catch (e) {
        await p.stop().catch(() => {});
        const busy = /Target key exists/.test(e.message);
        assert.fail(`redis-cli --cluster reshard failed${busy ? ' with "Target key exists"' : ''} while publishing with the history function`
          + (busy ? ': a publish was ASK-redirected to the importing node while the channel\'s history was still on the source (FCALL\'s '
            + 'only key is the channel name, which never exists as a key, so a MIGRATING source always answers ASK), the target created '
            + 'a second history and MIGRATE refused to overwrite it. ' : '. ')
          + `Open slots now: ${JSON.stringify(await openSlots(cluster))}\n${e.message.split('\n').filter((l) => /\*\*\*|ERR|Moving slot \d+ .*\.\./.test(l)).slice(-6).join('\n')}`);
      }
      const tDone = Date.now();
      const took = tDone - t0;
      for (const u of moving) assert.equal(await cluster.ownerOf(CHANNEL + u), dst.port, `${u}'s channel moved`);
      for (const u of staying) assert.equal(await cluster.ownerOf(CHANNEL + u), ownerIn(shards, keySlot(CHANNEL + u)));
      // the worker was told (SUNSUBSCRIBE push) and resubscribed at the new owner
      await waitAllLive(users, clients, 15000);
      const liveAt = Date.now();
      await sleep(1000);
      await p.stop();
      note(`reshard of ${MOVE} slots took ${took} ms, all live ${liveAt - t0} ms after it started; ${p.count()} events published, ${p.errors.length} publish errors retried ${JSON.stringify([...new Set(p.errors)].slice(0, 3))}`);
      // every event, once, in order, to its user only
      await waitFor(() => users.every((u) => clients[u].events().length >= p.log[u].length),
        { timeout: 10000, what: 'every published event' }).catch(() => {});
      await sleep(300);
      for (const u of users) {
        assert.ok(clients[u].isOpen, `${u}'s connection stayed open`);
        assertDegradedThenLive(clients[u], u);
        await auditHistory(clients[u], u, p.log[u], historyDiag(pub, u, { reshardStart: t0, reshardEnd: tDone, allLive: liveAt }));
        assert.ok(p.log[u].some((x) => x.t0 > liveAt), `${u}: events published after live`);
      }
      const movedChans = moving.map((u) => CHANNEL + u);
      assert.deepEqual(Object.values(await shardNumsub(cluster, dst.port, movedChans)), movedChans.map(() => 1), 'subscribed on the new owner');
      assert.deepEqual(Object.values(await shardNumsub(cluster, src.port, movedChans)), movedChans.map(() => 0), 'not on the old one');
      const st = await stats({ nginx: edge });
      assert.equal(st.redis.connected, true);
      assert.equal(st.status, 'healthy');
      assert.equal(st.redis.subscriptions, users.length);
      for (const u of users) clients[u].terminate();
    });

    it('a session whose key is in a moved slot is found (MOVED followed)', async () => {
      // a sess: key in a slot the reshard above moved (the worker's map may be
      // stale: MOVED, or already refreshed by the SUNSUBSCRIBE push)
      assert.ok(movedRange, 'the reshard ran');
      const u = uniqueUser('mv');
      const sid = sidWhere(movedRange);
      const { cookie } = await writeSession(cluster, u, sid);
      const c = await connectUser(edge.port, cookie);
      assert.equal(connectedOf(c).userId, u);
      c.terminate();
    });

    it('error.log is clean and nginx stops gracefully', async () => { await stopEdge(edge); });
  });

  describe('failover of a master while publishing with history', () => {
    let edge;
    let pub;
    before(async () => {
      await cleanCluster();
      edge = new Nginx(edgeOpts(cluster, { location: ['portfolio_stream_history on;'] }));
      await edge.start();
      pub = new ClusterPublisher(cluster);
    });
    after(async () => { stopBackground(); terminateAllWs(); if (edge) await edge.destroy(); });

    it('connections stay open, all get degraded then live; every event arrives exactly once, in order', async () => {
      await ensureLibrary(cluster);
      await cluster.waitReplicasOnline();
      const shards = await cluster.shards();
      const victim = shards.find((s) => s.replicas.length > 0 && s !== shards[0]) || shards.find((s) => s.replicas.length > 0);
      assert.ok(victim, `a master with a replica: ${JSON.stringify(shards)}`);
      const others = shards.filter((s) => s !== victim);
      const onVictim = usersWhere('fov', 6, (slot) => ownerIn(shards, slot) === victim.port);
      const elsewhere = others.flatMap((s, i) => usersWhere(`fo${i}`, 4, (slot) => ownerIn(shards, slot) === s.port));
      const users = [...onVictim, ...elsewhere];
      const clients = {};
      for (const u of users) clients[u] = stampStatuses(await connectUser(edge.port, (await writeSession(cluster, u)).cookie));
      const p = historyPublisher(pub, users, { intervalMs: 25 });
      await waitFor(() => users.every((u) => clients[u].events().length >= 3), { timeout: 10000, what: 'events before the failover' });

      // No publish in flight to the victim when it dies, and its replica has
      // every acknowledged one (Redis replication is asynchronous: an event
      // acknowledged just before a SIGKILL could be lost by Redis itself).
      await p.pause();
      assert.ok(await (await cluster.router(victim.port)).sendCommand(['WAIT', '1', '2000']) >= 1, 'the replica acknowledged');
      const sampler = statsSampler(edge, 50);
      const pid = cluster.node(victim.port).child.pid;
      const tKill = Date.now();
      const killing = cluster.killMaster(victim.port);
      await waitFor(() => !isAlive(pid), { timeout: 5000, interval: 5, what: 'the master to die' });
      p.resume(); // these publishes fail until the replica takes over, and are retried
      const promoted = await killing;
      const tPromoted = Date.now();
      await waitAllLive(users, clients, 20000);
      const tLive = Date.now();
      await sleep(1000);
      await p.stop();
      const samples = await sampler.stop();
      note(`failover: ${victim.port} -> ${promoted} in ${tPromoted - tKill} ms; all live ${tLive - tKill} ms after the kill;`,
        `${p.count()} events published, ${p.errors.length} publish attempts failed and were retried`);

      await waitFor(() => users.every((u) => clients[u].events().length >= p.log[u].length),
        { timeout: 10000, what: 'every published event' }).catch(() => {});
      await sleep(300);
      const retried = onVictim.reduce((n, u) => n + p.log[u].filter((x) => x.tries > 1).length, 0);
      assert.ok(retried > 0, 'some publishes to the victim\'s slots failed while they had no master (published during the failover)');
      for (const u of users) {
        assert.ok(clients[u].isOpen, `${u}'s connection stayed open: ${JSON.stringify(clients[u].closeInfo)}`);
        assertDegradedThenLive(clients[u], u);
        await auditHistory(clients[u], u, p.log[u], historyDiag(pub, u, { kill: tKill, promoted: tPromoted, allLive: tLive }));
        assert.ok(p.log[u].some((x) => x.t0 > tLive), `${u}: events published after live`);
      }
      // the stats saw it
      const bad = samples.filter((s) => s.status === 'degraded' && s.connected === false);
      assert.ok(bad.length > 0, `stats never said degraded / redis.connected false: ${JSON.stringify(samples.slice(0, 40))}`);
      const st = await stats({ nginx: edge });
      assert.equal(st.redis.connected, true);
      assert.equal(st.status, 'healthy');
      assert.equal(st.redis.subscriptions, users.length);
      assert.ok(st.redis.reconnects >= 1, JSON.stringify(st.redis));
      // resubscribed on the promoted replica
      const vch = onVictim.map((u) => CHANNEL + u);
      assert.deepEqual(Object.values(await shardNumsub(cluster, promoted, vch)), vch.map(() => 1), 'subscribed on the promoted replica');
      for (const u of users) clients[u].terminate();
    });

    it('error.log is clean and nginx stops gracefully', async () => { await stopEdge(edge); });
  });
});
