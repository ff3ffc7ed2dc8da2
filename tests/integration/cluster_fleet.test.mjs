// SPEC section 9: portfolio_stream_limit_scope fleet on a Redis Cluster
// (3 masters + 3 replicas, lib/cluster.mjs). Two edges with
// portfolio_stream_redis_cluster count a user's connections together for
// users whose fleet keys live on each of the three masters; an edge killed
// by SIGKILL frees its places when its lease ends; a master that stops
// answering (SIGSTOP) makes the handshake of a user whose keys it holds 503,
// while users on the other masters still connect.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RedisCluster, keySlot, slotOwner, writeSession } from './lib/cluster.mjs';
import { fleetKeys, handshakeStatus as status, killEdgeHoldingPlaces, upgradeStatus } from './lib/fleet.mjs';
import { Nginx } from './lib/nginx.mjs';
import { terminateAllWs } from './lib/wsclient.mjs';
import { sleep } from './lib/procs.mjs';

let seq = 0;
const uniqueUser = (p) => `${p}${process.pid}x${++seq}`;

const edgeOpts = (cluster) => ({
  redisCluster: `${cluster.seeds} connect_timeout=1s`,
  stats: true,
  http: ['portfolio_stream_limit_scope fleet;', 'portfolio_stream_fleet_lease 3s;',
    'portfolio_stream_max_connections_per_user 5;'],
});

const login = async (cluster, user) => (await writeSession(cluster, user)).cookie;

const ownerIn = slotOwner;

// One user per master: its fleet keys (one bucket, one hash tag) on that master.
function usersPerMaster(shards, prefix) {
  const out = new Map();
  while (out.size < shards.length) {
    const u = uniqueUser(prefix);
    const port = ownerIn(shards, keySlot(fleetKeys(u).user));
    if (!out.has(port)) out.set(port, u);
  }
  return out;
}

describe('fleet limit on a Redis Cluster, two edges', { timeout: 180000 }, () => {
  const cluster = new RedisCluster();
  let a = null;
  let b = null;
  let shards;
  before(async () => {
    await cluster.start();
    shards = await cluster.shards();
    a = new Nginx(edgeOpts(cluster));
    b = new Nginx(edgeOpts(cluster));
    await a.start();
    await b.start();
  });
  after(async () => {
    terminateAllWs();
    for (const n of [a, b]) if (n) await n.destroy().catch(() => {});
    await cluster.destroy();
  });

  it('for a user on each master: 3 on edge A + 2 on edge B, the sixth is 429 on either; a close frees a place', async () => {
    assert.equal(shards.length, 3);
    for (const [port, u] of usersPerMaster(shards, 'cf')) {
      const cookie = await login(cluster, u);
      const onA = [];
      const onB = [];
      for (let i = 0; i < 3; i++) onA.push((await status(a.port, cookie)).c);
      for (let i = 0; i < 2; i++) onB.push((await status(b.port, cookie)).c);
      assert.ok(onA.every(Boolean) && onB.every(Boolean), `five connections open (keys on ${port})`);
      assert.equal((await status(a.port, cookie)).status, 429);
      assert.equal((await status(b.port, cookie)).status, 429);
      // the places are on the master owning the user's fleet keys
      const k = fleetKeys(u);
      assert.equal(await cluster.raw(port, ['HLEN', k.user]), 5);
      onB[0].close();
      await onB[0].closed;
      await sleep(100);
      const again = await status(a.port, cookie);
      assert.equal(again.status, 101, 'a close frees the place fleet-wide');
      for (const c of [...onA, onB[1], again.c]) c.terminate();
    }
    const st = await fetch(`http://127.0.0.1:${a.port}/api/admin/websocket-stats`).then((r) => r.json());
    assert.ok(st.rejected.perUserLimit >= 3, JSON.stringify(st.rejected));
  });

  it('an edge killed by SIGKILL: its places are free once its lease has ended', async () => {
    const u = uniqueUser('ck');
    const cookie = await login(cluster, u);
    const c = new Nginx(edgeOpts(cluster));
    await c.start();
    const ms = await killEdgeHoldingPlaces(c, a.port, cookie);
    assert.ok(ms < 6000, `freed after ${ms} ms (lease 3 s)`);
  });

  it('a master that stops answering: 503 for a user whose keys it holds, the others still connect', async () => {
    const users = usersPerMaster(shards, 'cs');
    const cookies = new Map();
    for (const [port, u] of users) cookies.set(port, await login(cluster, u));
    const stopped = shards[0].port;
    const pid = cluster.node(stopped).child.pid;
    process.kill(pid, 'SIGSTOP');
    try {
      const t0 = Date.now();
      const r = await status(a.port, cookies.get(stopped));
      assert.equal(r.status, 503, 'a fleet call that cannot be answered is 503 (SPEC section 2)');
      assert.ok(Date.now() - t0 < 5000, `answered within the deadline (${Date.now() - t0} ms)`);
      for (const [port, cookie] of cookies) {
        if (port === stopped) continue;
        // Their sessions may live on the stopped master too: only users whose
        // session and fleet keys are both elsewhere must connect. Their
        // upgrade only: once the stopped shard's pub/sub is noticed as lost
        // (within 2 x connect_timeout) every connection of the worker waits
        // for "connected" until it is back (a shard failure degrades all).
        const r2 = await upgradeStatus(b.port, cookie);
        if (r2.status === 101) r2.c.terminate();
        else assert.equal(r2.status, 503);
      }
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // back: the user connects again
    let ok = false;
    for (let i = 0; i < 40 && !ok; i++) {
      const r = await status(a.port, cookies.get(stopped));
      if (r.status === 101) { ok = true; r.c.terminate(); } else await sleep(250);
    }
    assert.ok(ok, 'the user connects once the master answers again');
  });

  it('error.log is clean and both edges stop gracefully', async () => {
    terminateAllWs();
    for (const n of [a, b]) {
      const r = await n.stop(15000);
      assert.deepEqual(n.badLogLines(), []);
      assert.ok(r && !r.killed && r.code === 0, JSON.stringify(r));
    }
    a = null;
    b = null;
  });
});
