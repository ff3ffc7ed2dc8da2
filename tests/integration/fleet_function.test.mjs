// The Redis Functions library redis/portfolio_stream_fleet.lua (SPEC section 9,
// limit_scope fleet) against a real redis-server (>= 7.0), without nginx:
// the limit across edges, idempotent acquire, release (also of unknown ids),
// lease expiry and the sweep of a dead edge, renew and sync after a lapse,
// drop, racing acquires from many connections, bad arguments and wrong key
// types; then the same library in a 3-master Redis Cluster (buckets on every
// shard; the sweep's same-slot keys are allowed there).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { RedisServer } from './lib/redis.mjs';
import { RedisCluster, keySlot } from './lib/cluster.mjs';
import { sleep } from './lib/procs.mjs';
import { FLEET_LUA, fleet, fleetKeys, bucketOf, bucketTag, edgesKey } from './lib/fleet.mjs';

async function rejects(p, re) {
  await assert.rejects(p, (e) => {
    assert.match(e.message, re);
    return true;
  });
}

// A user id in the given bucket (or any bucket but `not`).
function userIn(bucket, prefix = 'u') {
  for (let i = 0; ; i++) if (bucketOf(`${prefix}${i}`) === bucket) return `${prefix}${i}`;
}

describe('portfolio_stream_fleet library (standalone Redis)', () => {
  const redis = new RedisServer();
  let c;
  before(async () => {
    await redis.start();
    c = await redis.client();
    assert.equal(await c.sendCommand(['FUNCTION', 'LOAD', 'REPLACE', FLEET_LUA]), 'portfolio_stream_fleet');
  });
  after(async () => { await redis.destroy(); });

  it('version 1; count and version are no-writes; key names match src/fleet.cpp', async () => {
    assert.equal(await c.sendCommand(['FCALL_RO', 'portfolio_stream_fleet_version', '0']), 1);
    const list = await c.sendCommand(['FUNCTION', 'LIST', 'LIBRARYNAME', 'portfolio_stream_fleet']);
    const fns = list[0][list[0].indexOf('functions') + 1];
    const flags = Object.fromEntries(fns.map((f) => [f[1], f[5]]));
    assert.deepEqual(Object.keys(flags).sort(), ['acquire', 'count', 'drop', 'release', 'renew', 'sync', 'version']
      .map((n) => `portfolio_stream_fleet_${n}`));
    assert.deepEqual(flags.portfolio_stream_fleet_count, ['no-writes']);
    assert.deepEqual(flags.portfolio_stream_fleet_version, ['no-writes']);
    assert.deepEqual(flags.portfolio_stream_fleet_acquire, []);
    // pinned in tests/unit/test_fleet.cpp
    assert.deepEqual(fleetKeys('u123'), { bucket: 34, user: '{psf:34:50}:u:u123', edges: '{psf:34:50}:edges' });
    assert.equal(bucketTag(0), '{psf:0:73}');
    assert.equal(bucketTag(63), '{psf:63:0}');
  });

  it('3 connections on edge A + 2 on edge B: the sixth on either is refused', async () => {
    const u = 'limit-user';
    for (const id of ['a1', 'a2', 'a3']) assert.equal(await fleet.acquire(c, u, 'edgeA', id, 5, 30000), 1);
    for (const id of ['b1', 'b2']) assert.equal(await fleet.acquire(c, u, 'edgeB', id, 5, 30000), 1);
    assert.equal(await fleet.acquire(c, u, 'edgeA', 'a4', 5, 30000), 0);
    assert.equal(await fleet.acquire(c, u, 'edgeB', 'b3', 5, 30000), 0);
    assert.equal(await fleet.acquire(c, u, 'edgeC', 'c1', 5, 30000), 0);
    assert.equal(await fleet.count(c, u), 5);
    // an id already held is not counted twice (a retried acquire)
    assert.equal(await fleet.acquire(c, u, 'edgeA', 'a1', 5, 30000), 1);
    assert.equal(await fleet.count(c, u), 5);
    // another user is not affected; a higher limit lets the sixth in
    assert.equal(await fleet.acquire(c, 'other-user', 'edgeA', 'x1', 5, 30000), 1);
    assert.equal(await fleet.acquire(c, u, 'edgeC', 'c1', 6, 30000), 1);
    assert.equal(await fleet.count(c, u), 6);
    const k = fleetKeys(u);
    assert.deepEqual((await c.hKeys(k.user)).sort(), ['edgeA/a1', 'edgeA/a2', 'edgeA/a3', 'edgeB/b1', 'edgeB/b2', 'edgeC/c1']);
    assert.deepEqual((await c.sMembers(`${bucketTag(k.bucket)}:e:edgeB`)).sort(), [`b1/${k.user}`, `b2/${k.user}`]);
  });

  it('release frees a slot; releasing twice or an unknown id answers 0 and changes nothing', async () => {
    const u = 'release-user';
    for (const id of ['1', '2']) assert.equal(await fleet.acquire(c, u, 'edgeA', id, 2, 30000), 1);
    assert.equal(await fleet.acquire(c, u, 'edgeA', '3', 2, 30000), 0);
    assert.equal(await fleet.release(c, u, 'edgeA', '1'), 1);
    assert.equal(await fleet.release(c, u, 'edgeA', '1'), 0);
    assert.equal(await fleet.release(c, u, 'edgeA', 'never'), 0);
    assert.equal(await fleet.release(c, u, 'edgeZ', '2'), 0);  // same conn id, other edge
    assert.equal(await fleet.release(c, 'nobody-at-all', 'edgeA', '2'), 0);
    assert.equal(await fleet.count(c, u), 1);
    assert.equal(await fleet.acquire(c, u, 'edgeA', '3', 2, 30000), 1);
    assert.equal(await fleet.release(c, u, 'edgeA', '2'), 1);
    assert.equal(await fleet.release(c, u, 'edgeA', '3'), 1);
    const k = fleetKeys(u);
    assert.equal(await c.exists(k.user), 0, 'the user hash goes away with its last connection');
    assert.equal(await c.exists(`${bucketTag(k.bucket)}:e:nobody`), 0);
  });

  it('an edge that stops renewing loses its slots when its lease ends; the next call sweeps it', async () => {
    const u = 'lease-user';
    const k = fleetKeys(u);
    const tag = bucketTag(k.bucket);
    const other = userIn(k.bucket, 'lease-other-'); // same bucket, another user of the dead edge
    assert.equal(await fleet.acquire(c, u, 'dying', 'd1', 2, 400), 1);
    assert.equal(await fleet.acquire(c, u, 'dying', 'd2', 2, 400), 1);
    assert.equal(await fleet.acquire(c, other, 'dying', 'd3', 2, 400), 1);
    assert.equal(await fleet.acquire(c, u, 'alive', 'a1', 2, 30000), 0);
    await sleep(250);
    assert.equal(await fleet.count(c, u), 2, 'still within the lease');
    await sleep(250);
    assert.equal(await fleet.count(c, u), 0, 'lease over');
    // the dead edge's entries are still there until a call in the bucket sweeps them
    assert.equal(await c.sCard(`${tag}:e:dying`), 3);
    assert.equal(await fleet.acquire(c, u, 'alive', 'a1', 2, 30000), 1);
    assert.equal(await fleet.acquire(c, u, 'alive', 'a2', 2, 30000), 1);
    assert.equal(await fleet.acquire(c, u, 'alive', 'a3', 2, 30000), 0);
    assert.deepEqual((await c.hKeys(k.user)).sort(), ['alive/a1', 'alive/a2']);
    assert.equal(await c.exists(k.user.replace(`:u:${u}`, `:u:${other}`)), 0, "the other user's dead entry is gone too");
    assert.equal(await c.exists(`${tag}:e:dying`), 0);
    assert.equal(await c.zScore(k.edges, 'dying'), null);
    assert.ok(Number(await c.zScore(k.edges, 'alive')) > Date.now());
  });

  it('renew keeps an edge alive and answers how many of its connections the bucket holds', async () => {
    const b = 11;
    const users = [userIn(b, 'renew-a'), userIn(b, 'renew-b')];
    assert.equal(await fleet.acquire(c, users[0], 'steady', 's1', 5, 300), 1);
    assert.equal(await fleet.acquire(c, users[1], 'steady', 's2', 5, 300), 1);
    for (let i = 0; i < 8; i++) {
      await sleep(100);
      assert.equal(await fleet.renew(c, b, 'steady', 300), 2);
    }
    assert.equal(await fleet.count(c, users[0]), 1);
    assert.equal(await fleet.count(c, users[1]), 1);
    // renew of an edge with nothing there: 0 (and the lease entry exists now)
    assert.equal(await fleet.renew(c, b, 'empty-edge', 300), 0);
  });

  it('after a lapse another edge sweeps the entries; renew says fewer and sync puts them back', async () => {
    const b = 20;
    const [u1, u2, u3] = [userIn(b, 'lapse-a'), userIn(b, 'lapse-b'), userIn(b, 'lapse-c')];
    for (const [u, id] of [[u1, 'c1'], [u2, 'c2'], [u3, 'c3']]) assert.equal(await fleet.acquire(c, u, 'flaky', id, 5, 200), 1);
    await sleep(300); // flaky lost Redis for longer than its lease
    assert.equal(await fleet.renew(c, b, 'someone-else', 30000), 0); // sweeps flaky
    assert.equal(await c.exists(`${bucketTag(b)}:e:flaky`), 0);
    assert.equal(await fleet.renew(c, b, 'flaky', 30000), 0, 'renew reports the loss');
    assert.equal(await fleet.sync(c, b, 'flaky', 30000, 'replace', [[u1, 'c1'], [u2, 'c2']]), 2);
    assert.equal(await fleet.sync(c, b, 'flaky', 30000, 'add', [[u3, 'c3']]), 3);
    for (const u of [u1, u2, u3]) assert.equal(await fleet.count(c, u), 1);
    assert.equal(await fleet.renew(c, b, 'flaky', 30000), 3);
    // replace drops what the edge no longer has (c3 closed while Redis was away)
    assert.equal(await fleet.sync(c, b, 'flaky', 30000, 'replace', [[u1, 'c1']]), 1);
    assert.equal(await fleet.count(c, u2), 0);
    assert.equal(await fleet.count(c, u3), 0);
    assert.equal(await fleet.sync(c, b, 'flaky', 30000, 'replace', []), 0);
    assert.equal(await fleet.count(c, u1), 0);
  });

  it('drop frees every slot of an edge in a bucket at once', async () => {
    const b = 40;
    const users = [userIn(b, 'drop-a'), userIn(b, 'drop-b')];
    for (let i = 0; i < 3; i++) assert.equal(await fleet.acquire(c, users[0], 'leaving', `x${i}`, 3, 30000), 1);
    assert.equal(await fleet.acquire(c, users[1], 'leaving', 'y', 3, 30000), 1);
    assert.equal(await fleet.acquire(c, users[0], 'staying', 'z', 3, 30000), 0);
    assert.equal(await fleet.drop(c, b, 'leaving'), 4);
    assert.equal(await fleet.acquire(c, users[0], 'staying', 'z', 3, 30000), 1);
    assert.equal(await fleet.count(c, users[1]), 0);
    assert.equal(await c.zScore(edgesKey(b), 'leaving'), null);
    assert.equal(await fleet.drop(c, b, 'leaving'), 0);
  });

  it('100 racing acquires on 100 connections for one user: exactly the limit wins', async () => {
    const u = 'race-user';
    const clients = [];
    try {
      for (let i = 0; i < 100; i++) {
        const cl = createClient({ socket: { host: '127.0.0.1', port: redis.port } });
        cl.on('error', () => {});
        await cl.connect();
        clients.push(cl);
      }
      const results = await Promise.all(clients.map((cl, i) => fleet.acquire(cl, u, `edge${i % 7}`, `r${i}`, 5, 30000)));
      assert.equal(results.filter((r) => r === 1).length, 5);
      assert.equal(results.filter((r) => r === 0).length, 95);
      assert.equal(await fleet.count(c, u), 5);
      assert.equal(await c.hLen(fleetKeys(u).user), 5);
      // and racing releases + acquires keep the count exact
      const winners = results.map((r, i) => (r === 1 ? i : -1)).filter((i) => i >= 0);
      const ops = [];
      for (const i of winners) ops.push(fleet.release(clients[i], u, `edge${i % 7}`, `r${i}`));
      for (let i = 0; i < 100; i++) if (!winners.includes(i)) ops.push(fleet.acquire(clients[i], u, `edge${i % 7}`, `r${i}`, 5, 30000));
      await Promise.all(ops);
      assert.equal(await fleet.count(c, u), 5);
    } finally {
      for (const cl of clients) { try { await cl.disconnect(); } catch { /* closed */ } }
    }
  });

  it('bad arguments: a clear error and nothing written', async () => {
    const k = fleetKeys('bad-user');
    const acq = (...a) => c.sendCommand(['FCALL', 'portfolio_stream_fleet_acquire', '2', k.user, k.edges, ...a.map(String)]);
    await rejects(acq('e', 'c', 0, 1000), /limit must be a positive integer/);
    await rejects(acq('e', 'c', -1, 1000), /limit must be a positive integer/);
    await rejects(acq('e', 'c', 1.5, 1000), /limit must be a positive integer/);
    await rejects(acq('e', 'c', 1000001, 1000), /limit must be at most 1000000/);
    await rejects(acq('e', 'c', 5, 0), /lease_ms must be a positive integer/);
    await rejects(acq('e', 'c', 5, 86400001), /lease_ms must be at most 86400000/);
    await rejects(acq('e', 'c', 5, '1e3'), /lease_ms must be a positive integer/);
    await rejects(acq('e/x', 'c', 5, 1000), /edge must be 1-64 bytes/);
    await rejects(acq('', 'c', 5, 1000), /edge must be 1-64 bytes/);
    await rejects(acq('e', 'c'.repeat(65), 5, 1000), /conn must be 1-64 bytes/);
    await rejects(acq('e', 'c d', 5, 1000), /conn must be 1-64 bytes/);
    await rejects(acq('e', 'c', 5), /usage: FCALL portfolio_stream_fleet_acquire/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_fleet_acquire', '1', k.user, 'e', 'c', '5', '1000']), /takes 2 keys/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_fleet_acquire', '2', 'plain:user', k.edges, 'e', 'c', '5', '1000']),
      /must start with the hash tag of the edges key/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_fleet_acquire', '2', k.user, 'no-tag:edges', 'e', 'c', '5', '1000']),
      /edges key must start with a hash tag/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_fleet_acquire', '2', k.edges, k.edges, 'e', 'c', '5', '1000']),
      /must start with the hash tag/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_fleet_renew', '1', k.edges, 'e']), /usage/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_fleet_sync', '2', k.edges, k.user, 'e', '1000', 'merge', 'c']), /usage/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_fleet_sync', '2', k.edges, k.user, 'e', '1000', 'add']), /usage/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_fleet_sync', '2', k.edges, k.user, 'e', '1000', 'add', 'c/1']), /conn must be/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_fleet_release', '2', k.user, k.edges, 'e']), /usage/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_fleet_drop', '1', k.edges]), /usage/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_fleet_count', '1', k.user]), /usage/);
    const keys = await c.keys(`${bucketTag(k.bucket)}*`);
    assert.deepEqual(keys.filter((x) => x.includes('bad-user') || x.includes(':e:e')), []);
  });

  it('wrong key types: WRONGTYPE naming the key, nothing written', async () => {
    const b = 50;
    const u = userIn(b, 'type-user');
    const k = fleetKeys(u);
    const tag = bucketTag(b);
    await c.set(k.user, 'a string');
    await rejects(fleet.acquire(c, u, 'e1', 'c1', 5, 1000), new RegExp(`^WRONGTYPE fleet key \\${tag}:u:${u} is a string, not a hash`));
    await rejects(fleet.release(c, u, 'e1', 'c1'), /WRONGTYPE/);
    await rejects(fleet.count(c, u), /WRONGTYPE/);
    assert.equal(await c.get(k.user), 'a string');
    await c.del(k.user);
    await c.lPush(k.edges, 'x');
    await rejects(fleet.acquire(c, u, 'e1', 'c1', 5, 1000), /WRONGTYPE fleet key .*:edges is a list, not a zset/);
    await rejects(fleet.renew(c, b, 'e1', 1000), /WRONGTYPE/);
    await rejects(fleet.drop(c, b, 'e1'), /WRONGTYPE/);
    await c.del(k.edges);
    await c.hSet(`${tag}:e:e1`, 'f', 'v');
    await rejects(fleet.acquire(c, u, 'e1', 'c1', 5, 1000), /WRONGTYPE fleet key .*:e:e1 is a hash, not a set/);
    await rejects(fleet.sync(c, b, 'e1', 1000, 'replace', [[u, 'c1']]), /WRONGTYPE/);
    assert.equal(await c.exists(k.user), 0);
    assert.equal(await c.exists(k.edges), 0);
    await c.del(`${tag}:e:e1`);
    // a foreign member in an edge's index is skipped by the sweep, not followed
    await c.sAdd(`${tag}:e:ghost`, ['x/other:key', 'nonsense']);
    await c.zAdd(k.edges, { score: 1, value: 'ghost' });
    assert.equal(await fleet.acquire(c, u, 'e1', 'c1', 5, 1000), 1);
    assert.equal(await c.exists(`${tag}:e:ghost`), 0);
    assert.equal(await c.zScore(k.edges, 'ghost'), null);
  });

  it('Redis is healthy afterwards', async () => {
    assert.equal(await c.ping(), 'PONG');
    assert.doesNotMatch(redis.log(), /Lua|panic|crash|ASSERTION/i);
  });
});

describe('portfolio_stream_fleet library (3-master Redis Cluster)', () => {
  const cluster = new RedisCluster();
  let shards;
  before(async () => {
    await cluster.start();
    shards = await cluster.shards();
    for (const s of shards) {
      assert.equal(await cluster.raw(s.port, ['FUNCTION', 'LOAD', 'REPLACE', FLEET_LUA]), 'portfolio_stream_fleet');
    }
  });
  after(async () => { await cluster.destroy(); });

  it('the 64 buckets spread evenly over the 3 masters', async () => {
    const per = new Map();
    for (let b = 0; b < 64; b++) {
      const port = await cluster.ownerOf(edgesKey(b));
      per.set(port, (per.get(port) || 0) + 1);
      assert.equal(keySlot(edgesKey(b)) >> 8, b);
    }
    assert.equal(per.size, 3);
    for (const n of per.values()) assert.ok(n >= 21 && n <= 22, JSON.stringify([...per]));
  });

  it('acquire/limit/expiry/sweep work on every shard (same-slot keys the sweep touches are allowed)', async () => {
    const run = (args, key) => cluster.command(args, key);
    for (const s of shards) {
      // a bucket owned by this shard
      let b = 0;
      while (!s.slots.some(([x, y]) => (b * 256) >= x && (b * 256) <= y)) b++;
      const [u1, u2] = [userIn(b, `cl${s.port}a`), userIn(b, `cl${s.port}b`)];
      const k1 = fleetKeys(u1);
      const k2 = fleetKeys(u2);
      const acq = (k, edge, conn, limit, lease) => run(['FCALL', 'portfolio_stream_fleet_acquire', '2', k.user, k.edges, edge, conn, String(limit), String(lease)], k.user);
      assert.equal(await acq(k1, 'dead', 'd1', 2, 300), 1);
      assert.equal(await acq(k2, 'dead', 'd2', 2, 300), 1);
      assert.equal(await acq(k1, 'live', 'l1', 2, 30000), 1);
      assert.equal(await acq(k1, 'live', 'l2', 2, 30000), 0);
      await sleep(400);
      // the renew sweeps 'dead': it deletes entries in u2's hash, a key the call did not name
      assert.equal(await run(['FCALL', 'portfolio_stream_fleet_renew', '1', k1.edges, 'live', '30000'], k1.edges), 1);
      assert.equal(await run(['EXISTS', k2.user], k2.user), 0);
      assert.equal(await acq(k1, 'live', 'l2', 2, 30000), 1);
      assert.equal(await run(['FCALL_RO', 'portfolio_stream_fleet_count', '2', k1.user, k1.edges], k1.user), 2);
    }
  });

  it('keys of two buckets in one call are refused by the cluster (CROSSSLOT), nothing written', async () => {
    const [a, b] = [fleetKeys(userIn(0, 'x')), fleetKeys(userIn(63, 'y'))];
    await assert.rejects(cluster.command(['FCALL', 'portfolio_stream_fleet_acquire', '2', a.user, b.edges, 'e', 'c', '5', '1000'], a.user),
      /CROSSSLOT|hash tag/);
  });
});
