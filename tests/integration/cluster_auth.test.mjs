// SPEC section 9 with a password: `portfolio_stream_redis_cluster ...
// password=P` against a Redis Cluster whose every node has requirepass (3
// masters, no replicas, lib/cluster.mjs). With the right password the
// module reads the slot map, looks sessions up and SSUBSCRIBEs on every
// master (each connection AUTHs first); with a wrong one the handshake is
// 503, error.log says Redis refused AUTH in Redis' words (not a crash, not
// a silent retry loop), and no worker dies.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { RedisCluster, keySlot, slotOwner, writeSession } from './lib/cluster.mjs';
import { handshakeStatus } from './lib/fleet.mjs';
import { Nginx } from './lib/nginx.mjs';
import { terminateAllWs } from './lib/wsclient.mjs';
import { waitFor } from './lib/procs.mjs';
import { stats } from './lib/faultkit.mjs';

const PASSWORD = `ps-${crypto.randomBytes(6).toString('hex')}`;
let seq = 0;
const uniqueUser = (p) => `${p}${process.pid}x${++seq}`;

const login = async (cluster, user) => (await writeSession(cluster, user)).cookie;

const ownerIn = slotOwner;

describe('Redis Cluster with requirepass', { timeout: 120000 }, () => {
  const cluster = new RedisCluster({ masters: 3, replicas: 0, password: PASSWORD });
  let good = null;
  let bad = null;
  let shards;
  before(async () => {
    await cluster.start();
    shards = await cluster.shards();
    good = new Nginx({ redisCluster: `${cluster.seeds} password=${PASSWORD} connect_timeout=1s`, stats: true });
    bad = new Nginx({ redisCluster: `${cluster.seeds} password=not-${PASSWORD} connect_timeout=1s` });
    await good.start();
    await bad.start();
  });
  after(async () => {
    terminateAllWs();
    for (const n of [good, bad]) if (n) await n.destroy().catch(() => {});
    await cluster.destroy();
  });

  it('the right password: a user on each master connects and gets what is SPUBLISHed to it', async () => {
    // one user whose channel lives on each master, so every shard connection is used
    const users = new Map();
    while (users.size < shards.length) {
      const u = uniqueUser('ca');
      const port = ownerIn(shards, keySlot(`portfolio:user:${u}`));
      if (!users.has(port)) users.set(port, u);
    }
    const clients = [];
    for (const u of users.values()) {
      const r = await handshakeStatus(good.port, await login(cluster, u));
      assert.equal(r.status, 101, `user ${u}`);
      await r.c.waitMessage((m) => m.type === 'connected', 5000, 'connected');
      clients.push([u, r.c]);
    }
    for (const [u] of clients) {
      await cluster.spublish(`portfolio:user:${u}`, JSON.stringify({ type: 'account_update', data: { cash: u.length } }));
    }
    for (const [u, c] of clients) {
      const [ev] = await c.waitEvents(1, 5000, `the event of ${u}`);
      assert.equal(ev.type, 'account_update');
      assert.equal(ev.data.cash, u.length);
    }
    const s = await stats({ nginx: good });
    assert.equal(s.redis.connected, true);
    assert.ok(s.redis.subscriptions >= clients.length, JSON.stringify(s.redis));
    for (const [, c] of clients) c.terminate();
    assert.deepEqual(good.badLogLines(), []);
  });

  it('a wrong password: 503, Redis\' refusal in error.log, workers alive', async () => {
    const cookie = await login(cluster, uniqueUser('cb'));
    const r = await handshakeStatus(bad.port, cookie);
    assert.equal(r.status, 503);
    let line;
    await waitFor(() => {
      line = bad.errorLog().split('\n').find((l) => /Redis AUTH on the \S+ connection to 127\.0\.0\.1:\d+ failed: ".*(WRONGPASS|invalid).*" \(retrying with backoff/i.test(l));
      return line;
    }, { timeout: 5000, what: 'the AUTH refusal in error.log' });
    assert.match(line, /\[error\]/);
    const pids = bad.workerPids();
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal((await handshakeStatus(bad.port, cookie)).status, 503);
    assert.deepEqual(bad.workerPids(), pids, 'a worker was respawned');
    assert.deepEqual(bad.badLogLines(), []);
  });
});
