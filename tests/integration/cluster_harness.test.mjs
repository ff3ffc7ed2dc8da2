// The Redis Cluster harness itself (tests/integration/lib/cluster.mjs), on
// loopback: 3 masters + 3 replicas created by redis-cli, sharded pub/sub on
// every shard, the history library (redis/portfolio_stream.lua) with the
// channel as its key on every shard, a failover of one master (killed by
// pid), ASK during a slot migration, and a reshard that moves a channel's
// slot with its history. What the module's cluster code relies on is
// asserted here against the real thing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RedisCluster, keySlot, keysPerRange } from './lib/cluster.mjs';
import { waitFor, sleep, isAlive } from './lib/procs.mjs';

const LUA = fs.readFileSync(fileURLToPath(new URL('../../redis/portfolio_stream.lua', import.meta.url)), 'utf8');
const ID = /^\d+-\d+$/;

// The promise rejects with a Redis error whose message matches re.
async function rejectsWith(p, re) {
  await assert.rejects(p, (e) => {
    assert.match(e.message, re);
    return true;
  });
}

describe('Redis Cluster harness (3 masters + 3 replicas)', { timeout: 60000 }, () => {
  const cluster = new RedisCluster();
  let shards;
  // one user channel per master (slot ranges as redis-cli --cluster create splits them)
  const channels = keysPerRange(3, 'portfolio:user:h');

  before(async () => {
    await cluster.start();
    shards = await cluster.shards();
    for (const s of shards) assert.equal(await cluster.raw(s.port, ['FUNCTION', 'LOAD', 'REPLACE', LUA]), 'portfolio_stream');
  });
  after(async () => { await cluster.destroy(); });

  it('creates 3 masters with one replica each; cluster_state:ok on all six', async () => {
    assert.equal(cluster.nodes.length, 6);
    assert.equal(shards.length, 3);
    let covered = 0;
    for (const s of shards) {
      assert.equal(s.replicas.length, 1, JSON.stringify(s));
      for (const [a, b] of s.slots) covered += b - a + 1;
    }
    assert.equal(covered, 16384);
    for (const port of cluster.ports) {
      const info = await cluster.raw(port, ['CLUSTER', 'INFO']);
      assert.match(info, /cluster_state:ok/);
      assert.match(info, /cluster_known_nodes:6/);
      assert.match(info, /cluster_size:3/);
    }
    assert.equal(cluster.seeds.split(' ').length, 6);
    for (const seed of cluster.seeds.split(' ')) assert.match(seed, /^127\.0\.0\.1:\d+$/);
  });

  it("the harness's slot function agrees with CLUSTER KEYSLOT", async () => {
    const keys = ['foo', 'bar', '{user1000}.following', 'foo{}{bar}', 'foo{{bar}}zap', 'a{b', '}{x}', '', 'caf\u00e9',
      ...channels, ...Array.from({ length: 200 }, (_, i) => `portfolio:user:${i}`)];
    for (const k of keys) assert.equal(keySlot(k), await cluster.raw(shards[0].port, ['CLUSTER', 'KEYSLOT', k]), k);
    for (let i = 0; i < 3; i++) assert.equal(await cluster.ownerOf(channels[i]), shards[i].port);
  });

  it('SPUBLISH reaches an SSUBSCRIBE on the owning shard, for a channel in each shard', async () => {
    for (const ch of channels) {
      const sub = await cluster.ssubscribe(ch);
      assert.equal(await cluster.spublish(ch, `hello ${ch}`), 1);
      await waitFor(() => sub.got.length === 1, { timeout: 3000, what: `a message on ${ch}` });
      assert.equal(sub.got[0].toString(), `hello ${ch}`);
    }
    // another shard refuses the channel with MOVED to its owner
    const wrong = shards[1].port;
    const c = await cluster.nodeClient(wrong);
    await rejectsWith(c.sendCommand(['SPUBLISH', channels[0], 'x']), new RegExp(`^MOVED ${keySlot(channels[0])} 127\\.0\\.0\\.1:${shards[0].port}$`));
  });

  it("node-redis's cluster client routes sPublish/sSubscribe too", async () => {
    const cc = await cluster.client();
    const got = [];
    for (const ch of channels) await cc.sSubscribe(ch, (m, c) => got.push(`${c}:${m}`));
    for (const ch of channels) await cc.sPublish(ch, 'via-cluster-client');
    await waitFor(() => got.length === 3, { timeout: 3000, what: 'three sharded messages' });
    assert.deepEqual(got.sort(), channels.map((ch) => `${ch}:via-cluster-client`).sort());
  });

  it('the history function runs on every shard with the channel as its key', async () => {
    for (const ch of channels) {
      const sub = await cluster.ssubscribe(ch);
      const id = await cluster.command(['FCALL', 'portfolio_stream_publish', '1', ch, '{"type":"order_update"}'], ch);
      assert.match(id, ID);
      await waitFor(() => sub.got.length === 1, { timeout: 3000, what: `the published event on ${ch}` });
      assert.equal(sub.got[0].toString(), `{"offset":"${id}","type":"order_update"}`);
      const r = await cluster.command(['FCALL', 'portfolio_stream_read', '1', ch, '0-0', '10', '3600'], ch);
      assert.equal(r.length, 5);
      assert.deepEqual(r.slice(3), [id, '{"type":"order_update"}']);
      // both history keys live on the channel's master
      const owner = await cluster.ownerOf(ch);
      assert.equal(await cluster.raw(owner, ['TYPE', `{${ch}}:history`]), 'stream');
      assert.equal(await cluster.raw(owner, ['TYPE', `{${ch}}:epoch`]), 'string');
    }
  });

  it('ASK during a slot migration: the harness follows it with ASKING', async () => {
    const ch = channels[1];
    const slot = keySlot(`${ch}:ask`);
    const from = await cluster.ownerOfSlot(slot);
    const to = shards.find((s) => s.port !== from).port;
    const ids = Object.fromEntries(shards.map((s) => [s.port, s.id]));
    await cluster.raw(to, ['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', ids[from]]);
    await cluster.raw(from, ['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', ids[to]]);
    try {
      const c = await cluster.nodeClient(from);
      await rejectsWith(c.sendCommand(['GET', `${ch}:ask`]), new RegExp(`^ASK ${slot} 127\\.0\\.0\\.1:${to}$`));
      // a key the source does not have is created on the importing node
      assert.equal(await cluster.command(['SET', `${ch}:ask`, 'v']), 'OK');
      assert.equal(await cluster.command(['GET', `${ch}:ask`]), 'v');
      assert.equal(await cluster.command(['DEL', `${ch}:ask`]), 1);
    } finally {
      await cluster.raw(from, ['CLUSTER', 'SETSLOT', String(slot), 'STABLE']);
      await cluster.raw(to, ['CLUSTER', 'SETSLOT', String(slot), 'STABLE']);
    }
  });

  it('a history being migrated: the importing node answers TRYAGAIN and writes nothing until it arrives', async () => {
    const ch = `portfolio:user:mig${process.pid}`;
    const slot = keySlot(ch);
    const from = await cluster.ownerOfSlot(slot);
    const to = shards.find((s) => s.port !== from).port;
    const ids = Object.fromEntries(shards.map((s) => [s.port, s.id]));
    // a history on the source
    const first = await cluster.command(['FCALL', 'portfolio_stream_publish', '1', ch, '{"n":1}'], ch);
    const epoch = (await cluster.command(['FCALL', 'portfolio_stream_read', '1', ch, '', '0', '3600'], ch))[0];
    await cluster.raw(to, ['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', ids[from]]);
    await cluster.raw(from, ['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', ids[to]]);
    try {
      // the channel is no key: the source answers ASK, so the call runs on the target
      const src = await cluster.nodeClient(from);
      await rejectsWith(src.sendCommand(['FCALL', 'portfolio_stream_publish', '1', ch, '{"n":2}']), /^ASK /);
      const dst = await cluster.nodeClient(to);
      for (const fn of [['portfolio_stream_publish', '{"n":2}'], ['portfolio_stream_read', '', '0', '3600']]) {
        const [r] = await Promise.all([dst.sendCommand(['ASKING']), dst.sendCommand(['FCALL', fn[0], '1', ch, ...fn.slice(1)])])
          .then(([, v]) => [v], (e) => [e]);
        assert.match(String(r && r.message), /^TRYAGAIN/, `${fn[0]} on the importing node before the keys: ${r}`);
      }
      assert.equal(await dst.sendCommand(['CLUSTER', 'COUNTKEYSINSLOT', String(slot)]), 0, 'nothing written on the target');
      // the keys move (as redis-cli --cluster reshard does): now the target serves, same history
      const keys = await src.sendCommand(['CLUSTER', 'GETKEYSINSLOT', String(slot), '100']);
      assert.equal(keys.length, 2);
      assert.equal(await src.sendCommand(['MIGRATE', '127.0.0.1', String(to), '', '0', '5000', 'KEYS', ...keys]), 'OK');
      const [, id2] = await Promise.all([dst.sendCommand(['ASKING']), dst.sendCommand(['FCALL', 'portfolio_stream_publish', '1', ch, '{"n":2}'])]);
      const [, r2] = await Promise.all([dst.sendCommand(['ASKING']), dst.sendCommand(['FCALL', 'portfolio_stream_read', '1', ch, first, '10', '3600'])]);
      assert.equal(r2[0], epoch, 'the same epoch');
      assert.deepEqual(r2.slice(3), [id2, '{"n":2}']);
    } finally {
      for (const port of [to, from]) await cluster.raw(port, ['CLUSTER', 'SETSLOT', String(slot), 'NODE', ids[to]]).catch(() => {});
      await cluster.waitHealthy();
    }
  });

  it('failover: kill a master by pid; its replica takes over, keeps the history library and serves', async () => {
    const victim = shards[1];
    const ch = channels[1];
    const oldSub = await cluster.ssubscribe(ch);
    const before = await cluster.command(['FCALL', 'portfolio_stream_read', '1', ch, '0-0', '10', '3600'], ch);
    const pid = cluster.node(victim.port).child.pid;
    const t0 = Date.now();
    const promoted = await cluster.killMaster(victim.port);
    const took = Date.now() - t0;
    assert.ok(!isAlive(pid), 'the old master is gone');
    assert.equal(promoted, victim.replicas[0]);
    assert.ok(took < 15000, `failover took ${took} ms`);
    assert.equal(await cluster.ownerOf(ch), promoted);
    await waitFor(() => !oldSub.client.isOpen || oldSub.client.isReady === false, { timeout: 3000, what: 'the old subscriber to lose its node' });
    // the replicated history and library are there
    assert.equal(await cluster.raw(promoted, ['FCALL', 'portfolio_stream_version', '0']), 2);
    const after = await cluster.command(['FCALL', 'portfolio_stream_read', '1', ch, '0-0', '10', '3600'], ch);
    assert.equal(after[0], before[0], 'same epoch after the failover (the replica had the keys)');
    assert.deepEqual(after.slice(3), before.slice(3));
    // and it serves: a new subscriber, a new event
    const sub = await cluster.ssubscribe(ch);
    assert.equal(sub.port, promoted);
    const id = await cluster.command(['FCALL', 'portfolio_stream_publish', '1', ch, '{"after":"failover"}'], ch);
    await waitFor(() => sub.got.length === 1, { timeout: 3000, what: 'an event after the failover' });
    assert.equal(sub.got[0].toString(), `{"offset":"${id}","after":"failover"}`);
    // the other shards never stopped (each channel has subscribers from the tests above)
    for (const other of [channels[0], channels[2]]) assert.ok(await cluster.spublish(other, 'still up') >= 2);
    shards = await cluster.shards();
  });

  it('reshard: a moved slot takes its history along; subscribers get a SUNSUBSCRIBE push; MOVED points to the new owner', async () => {
    const src = shards[0];
    const dst = shards[2];
    // a channel in the first 100 slots of src's range (redis-cli moves the lowest first)
    const lo = src.slots[0][0];
    let ch;
    for (let i = 0; ; i++) {
      const s = keySlot(`portfolio:user:r${i}`);
      if (s >= lo && s < lo + 100) { ch = `portfolio:user:r${i}`; break; }
    }
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await cluster.command(['FCALL', 'portfolio_stream_publish', '1', ch, `{"i":${i}}`], ch));
    const before = await cluster.command(['FCALL', 'portfolio_stream_read', '1', ch, '0-0', '10', '3600'], ch);
    const sub = await cluster.ssubscribe(ch);
    assert.equal(sub.port, src.port);
    const t0 = Date.now();
    await cluster.reshard({ from: src.port, to: dst.port, slots: 100 });
    const took = Date.now() - t0;
    assert.equal(await cluster.ownerOf(ch), dst.port, `moved in ${took} ms`);
    await waitFor(() => sub.moved.includes(ch), { timeout: 3000, what: 'a SUNSUBSCRIBE push for the moved channel' });
    const c = await cluster.nodeClient(src.port);
    await rejectsWith(c.sendCommand(['FCALL', 'portfolio_stream_read', '1', ch, '0-0', '10', '3600']),
      new RegExp(`^MOVED ${keySlot(ch)} 127\\.0\\.0\\.1:${dst.port}$`));
    const after = await cluster.command(['FCALL', 'portfolio_stream_read', '1', ch, '0-0', '10', '3600'], ch);
    assert.equal(after[0], before[0], 'same epoch: the keys migrated with the slot');
    assert.deepEqual(after.slice(3), before.slice(3));
    assert.deepEqual(after.slice(3).filter((_, i) => i % 2 === 0), ids);
    // publishing goes on at the new owner
    const sub2 = await cluster.ssubscribe(ch);
    assert.equal(sub2.port, dst.port);
    const id = await cluster.command(['FCALL', 'portfolio_stream_publish', '1', ch, '{"i":3}'], ch);
    await waitFor(() => sub2.got.length === 1, { timeout: 3000, what: 'an event after the reshard' });
    assert.equal(sub2.got[0].toString(), `{"offset":"${id}","i":3}`);
    assert.equal(sub.got.length, 0, 'the old subscriber got nothing after being moved');
  });

  it('destroy stops every node by pid', async () => {
    const pids = cluster.nodes.map((n) => n.child.pid);
    const dirs = cluster.nodes.map((n) => n.dir);
    await cluster.destroy();
    await sleep(50);
    for (const p of pids) assert.ok(!isAlive(p), `pid ${p} still alive`);
    for (const d of dirs) assert.ok(!fs.existsSync(d), `${d} still there`);
  });
});
