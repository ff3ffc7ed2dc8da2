// The Redis Functions library redis/portfolio_stream.lua (SPEC section 8)
// against a real redis-server (>= 7.0), without nginx: publish/read/version,
// offsets, epochs, trimming, TTL, the hash-tag rule, bad input, wrong key
// types, and cluster mode (a one-node Redis Cluster: SPUBLISH, key slots).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { RedisServer } from './lib/redis.mjs';
import { spawnTracked, stopChild, sleep, waitFor, registerDir, unregisterDir } from './lib/procs.mjs';
import { freePort, waitForPort } from './lib/ports.mjs';

const LUA = fs.readFileSync(fileURLToPath(new URL('../../redis/portfolio_stream.lua', import.meta.url)), 'utf8');
const ID = /^(\d+)-(\d+)$/;
const EPOCH = /^[0-9a-z]{1,32}$/;

const cmp = (a, b) => {
  const [, am, as] = ID.exec(a);
  const [, bm, bs] = ID.exec(b);
  const d = BigInt(am) - BigInt(bm) || BigInt(as) - BigInt(bs);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
};

function publish(c, channel, json, ...rest) {
  return c.sendCommand(['FCALL', 'portfolio_stream_publish', '1', channel, json, ...rest.map(String)]);
}
async function read(c, channel, since, count = 100, ttl = 3600) {
  const r = await c.sendCommand(['FCALL', 'portfolio_stream_read', '1', channel, since, String(count), String(ttl)]);
  assert.ok(Array.isArray(r) && r.length >= 3 && (r.length - 3) % 2 === 0, `read reply shape: ${JSON.stringify(r)}`);
  const entries = [];
  for (let i = 3; i < r.length; i += 2) entries.push([r[i], r[i + 1]]);
  return { epoch: r[0], last: r[1], maxDeleted: r[2], entries };
}
async function rejects(p, re) {
  await assert.rejects(p, (e) => {
    assert.match(e.message, re);
    return true;
  });
}
const keysOf = (ch) => [`{${ch}}:history`, `{${ch}}:epoch`];

// A subscriber that keeps every message of one channel as a Buffer.
async function subscriber(server, channel, { shard = false } = {}) {
  const s = await server.client();
  const got = [];
  const fn = (msg) => got.push(msg);
  if (shard) await s.sSubscribe(channel, fn, true);
  else await s.subscribe(channel, fn, true);
  return { got, wait: (n) => waitFor(() => got.length >= n, { timeout: 3000, what: `${n} messages on ${channel}` }) };
}

describe('portfolio_stream library (standalone Redis)', () => {
  const redis = new RedisServer();
  let c;
  before(async () => {
    await redis.start();
    c = await redis.client();
    assert.equal(await c.sendCommand(['FUNCTION', 'LOAD', 'REPLACE', LUA]), 'portfolio_stream');
  });
  after(async () => { await redis.destroy(); });

  it('version 2, no-writes flag; REPLACE loads again', async () => {
    assert.equal(await c.sendCommand(['FCALL', 'portfolio_stream_version', '0']), 2);
    assert.equal(await c.sendCommand(['FCALL_RO', 'portfolio_stream_version', '0']), 2);
    const list = await c.sendCommand(['FUNCTION', 'LIST', 'LIBRARYNAME', 'portfolio_stream']);
    const fns = list[0][list[0].indexOf('functions') + 1];
    const flags = Object.fromEntries(fns.map((f) => [f[1], f[5]]));
    assert.deepEqual(flags.portfolio_stream_version, ['no-writes']);
    assert.deepEqual(flags.portfolio_stream_publish, []);
    assert.deepEqual(flags.portfolio_stream_read, []);
    assert.equal(await c.sendCommand(['FUNCTION', 'LOAD', 'REPLACE', LUA]), 'portfolio_stream');
    await rejects(c.sendCommand(['FUNCTION', 'LOAD', LUA]), /already exists/);
  });

  it('offsets grow; the channel gets the json with "offset" first and the rest byte for byte', async () => {
    const ch = 'portfolio:user:bytes';
    const sub = await subscriber(redis, ch);
    const bodies = [
      '{"type":"order_update","data":{"symbol":"AAPL","qty":10}}',
      '{"type":"trade_executed","note":"caf\u00e9 \u20ac \ud83d\ude80","esc":"a\\"b\\\\c\\u0000","n":1.5e10}',
      '{ "type" : "account_update" ,\n  "data" : { } }',
    ];
    const ids = [];
    for (const b of bodies) ids.push(await publish(c, ch, Buffer.from(b)));
    for (const id of ids) assert.match(id, ID);
    assert.equal(cmp(ids[0], ids[1]), -1);
    assert.equal(cmp(ids[1], ids[2]), -1);
    await sub.wait(3);
    for (let i = 0; i < 3; i++) {
      const want = Buffer.concat([Buffer.from(`{"offset":"${ids[i]}",`), Buffer.from(bodies[i]).subarray(1)]);
      assert.ok(sub.got[i].equals(want), `${sub.got[i]} != ${want}`);
    }
    // the history stores the json as published, without the offset
    const h = await read(c, ch, '0-0');
    assert.deepEqual(h.entries, ids.map((id, i) => [id, bodies[i]]));
    assert.equal(h.last, ids[2]);
    assert.equal(h.maxDeleted, '0-0');
    assert.match(h.epoch, EPOCH);
  });

  it('{} and { } get no comma; leading whitespace is kept', async () => {
    const ch = 'portfolio:user:empty';
    const sub = await subscriber(redis, ch);
    const cases = [
      ['{}', (id) => `{"offset":"${id}"}`],
      ['{ }', (id) => `{"offset":"${id}" }`],
      [' \t\r\n{\r\n}\n', (id) => ` \t\r\n{"offset":"${id}"\r\n}\n`],
      [' {"a" : 1 } ', (id) => ` {"offset":"${id}","a" : 1 } `],
      ['{ "a":1}', (id) => `{"offset":"${id}", "a":1}`],
    ];
    const ids = [];
    for (const [json] of cases) ids.push(await publish(c, ch, json));
    await sub.wait(cases.length);
    cases.forEach(([, want], i) => assert.equal(sub.got[i].toString(), want(ids[i])));
  });

  it('bad payload, maxlen, ttl or arguments: an error reply and nothing written', async () => {
    const ch = 'portfolio:user:bad';
    const sub = await subscriber(redis, ch);
    for (const json of ['', '   ', '[1]', '"x"', '1', 'null', 'x{}', '\u00a0{}']) {
      await rejects(publish(c, ch, json), /^ERR payload must be a JSON object$/);
    }
    for (const json of ['{', '{oops', '{"a":1', '{"a":1}x', '{"a":1}{}', "{'a':1}", '{"a":}']) {
      await rejects(publish(c, ch, json), /^ERR payload is not valid JSON$/);
    }
    for (const m of ['0', '-1', '1.5', '1e3', ' 5', '5 ', '0x10', '', 'abc', '1000000000000000']) {
      await rejects(publish(c, ch, '{}', m), /^ERR maxlen must be a positive integer$/);
    }
    for (const t of ['0', '-5', '2.5', '', 'never', '9999999999999999']) {
      await rejects(publish(c, ch, '{}', '10', t), /^ERR ttl_seconds must be a positive integer$/);
    }
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_publish', '0']), /takes 1 key/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_publish', '2', ch, 'x', '{}']), /takes 1 key/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_publish', '1', ch]), /usage/);
    await rejects(publish(c, ch, '{}', '10', '10', 'extra'), /usage/);
    // read arguments
    for (const since of ['x', '1', '1-', '-1', '1-1-1', ' 1-1', '18446744073709551616-0', '1-99999999999999999999']) {
      await rejects(read(c, ch, since), /^ERR since must be a stream id/);
    }
    await rejects(read(c, ch, '', -1), /^ERR count must be a non-negative integer$/);
    await rejects(read(c, ch, '', 'ten'), /^ERR count must be a non-negative integer$/);
    await rejects(read(c, ch, '', 10, 0), /^ERR ttl_seconds must be a positive integer$/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_read', '1', ch, '']), /usage/);
    await rejects(c.sendCommand(['FCALL', 'portfolio_stream_read', '0', '', '10', '10']), /takes 1 key/);
    for (const k of keysOf(ch)) assert.equal(await c.exists(k), 0, `${k} written by a failed call`);
    await sleep(100);
    assert.equal(sub.got.length, 0, 'nothing published');
  });

  it('keys: {channel}:history and {channel}:epoch with the TTL; maxlen and ttl defaults 1000 and 3600', async () => {
    const ch = 'portfolio:user:keys';
    const id = await publish(c, ch, '{"type":"order_update"}');
    const [hk, ek] = keysOf(ch);
    assert.equal(await c.type(hk), 'stream');
    assert.equal(await c.type(ek), 'string');
    assert.match(await c.get(ek), EPOCH);
    for (const k of [hk, ek]) {
      const ttl = await c.ttl(k);
      assert.ok(ttl > 3590 && ttl <= 3600, `${k} ttl ${ttl}`);
    }
    const e = await c.sendCommand(['XRANGE', hk, '-', '+']);
    assert.deepEqual(e, [[id, ['d', '{"type":"order_update"}']]]);
    await publish(c, ch, '{}', 5, 120);
    for (const k of [hk, ek]) assert.ok((await c.ttl(k)) <= 120, 'ttl refreshed to the last publish');
    // default maxlen 1000
    const ch2 = 'portfolio:user:default-maxlen';
    const p = [];
    for (let i = 0; i < 1005; i++) p.push(publish(c, ch2, `{"i":${i}}`));
    const ids = await Promise.all(p);
    assert.equal(await c.sendCommand(['XLEN', keysOf(ch2)[0]]), 1000);
    assert.equal((await read(c, ch2, '')).maxDeleted, ids[4]);
  });

  it('trimming (maxlen) moves max_deleted to the last trimmed id, also when maxlen shrinks', async () => {
    const ch = 'portfolio:user:trim';
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await publish(c, ch, `{"i":${i}}`, 3));
    const [hk] = keysOf(ch);
    assert.equal(await c.sendCommand(['XLEN', hk]), 3);
    let h = await read(c, ch, ids[1]);
    assert.equal(h.last, ids[4]);
    assert.equal(h.maxDeleted, ids[1], 'max_deleted = the newest entry trimmed');
    assert.deepEqual(h.entries.map((e) => e[0]), ids.slice(2));
    // since older than what is kept: the read still answers, max_deleted tells
    h = await read(c, ch, ids[0]);
    assert.equal(cmp(ids[0], h.maxDeleted), -1);
    // maxlen 10 -> 2 at once
    for (let i = 5; i < 12; i++) ids.push(await publish(c, ch, `{"i":${i}}`, 10));
    assert.equal(await c.sendCommand(['XLEN', hk]), 10);
    ids.push(await publish(c, ch, '{"i":12}', 2));
    assert.equal(await c.sendCommand(['XLEN', hk]), 2);
    h = await read(c, ch, '0-0');
    assert.equal(h.maxDeleted, ids[10]);
    assert.deepEqual(h.entries.map((e) => e[0]), [ids[11], ids[12]]);
    // maxlen 1 keeps only the last
    ids.push(await publish(c, ch, '{"i":13}', 1));
    h = await read(c, ch, '0-0');
    assert.deepEqual(h.entries, [[ids[13], '{"i":13}']]);
    assert.equal(h.maxDeleted, ids[12]);
    // an XDEL by hand moves it too
    ids.push(await publish(c, ch, '{"i":14}', 5));
    await c.sendCommand(['XDEL', hk, ids[14]]);
    assert.equal((await read(c, ch, '')).maxDeleted, ids[14]);
  });

  it('reading a missing history creates a stable epoch that the first publish keeps', async () => {
    const ch = 'portfolio:user:fresh';
    const r1 = await read(c, ch, '', 10, 60);
    assert.match(r1.epoch, EPOCH);
    assert.deepEqual(r1.entries, []);
    assert.equal(r1.maxDeleted, '0-0');
    const [hk, ek] = keysOf(ch);
    for (const k of [hk, ek]) {
      const ttl = await c.ttl(k);
      assert.ok(ttl > 50 && ttl <= 60, `${k} ttl ${ttl}`);
    }
    assert.equal(await c.sendCommand(['XLEN', hk]), 0);
    const r2 = await read(c, ch, '0-0', 10, 60);
    assert.equal(r2.epoch, r1.epoch);
    assert.deepEqual(r2.entries, []);
    assert.equal((await c.ttl(ek)) <= 60, true, 'a read does not extend the TTL');
    const id = await publish(c, ch, '{"first":true}');
    assert.equal(cmp(id, r1.last), 1);
    const r3 = await read(c, ch, '0-0');
    assert.equal(r3.epoch, r1.epoch, 'the first publish keeps the epoch the client got');
    assert.deepEqual(r3.entries, [[id, '{"first":true}']]);
    assert.equal(r3.maxDeleted, '0-0', 'since 0-0 ("nothing received yet") is not too old');
  });

  it('a lost history gets a new epoch: DEL of the stream, DEL of the epoch, expiry', async () => {
    const ch = 'portfolio:user:lost';
    const [hk, ek] = keysOf(ch);
    const seen = new Set();
    await publish(c, ch, '{}');
    let e = (await read(c, ch, '')).epoch;
    seen.add(e);
    await c.del(hk);
    assert.notEqual((await read(c, ch, '')).epoch, e, 'read after DEL of the stream');
    e = (await read(c, ch, '')).epoch;
    seen.add(e);
    await c.del(hk);
    await publish(c, ch, '{}');
    const e2 = (await read(c, ch, '')).epoch;
    assert.ok(!seen.has(e2), 'publish after DEL of the stream');
    seen.add(e2);
    await c.del(ek);
    await publish(c, ch, '{}');
    const e3 = (await read(c, ch, '')).epoch;
    assert.ok(!seen.has(e3), 'publish after DEL of the epoch');
    seen.add(e3);
    await publish(c, ch, '{}', 10, 1);
    await waitFor(async () => (await c.exists([hk, ek])) === 0, { timeout: 4000, what: 'expiry' });
    const idAfter = await publish(c, ch, '{"after":1}');
    const r = await read(c, ch, '0-0');
    assert.ok(!seen.has(r.epoch), 'publish after expiry');
    assert.deepEqual(r.entries, [[idAfter, '{"after":1}']], 'the old entries are gone');
    // many recreations in a row: all different
    const many = new Set();
    for (let i = 0; i < 200; i++) {
      await c.del(hk);
      many.add((await read(c, ch, '')).epoch);
    }
    assert.equal(many.size, 200);
  });

  it('count limits the entries, oldest first; since "" or count 0 gives none', async () => {
    const ch = 'portfolio:user:count';
    const ids = [];
    for (let i = 0; i < 10; i++) ids.push(await publish(c, ch, `{"i":${i}}`));
    let h = await read(c, ch, ids[2], 3);
    assert.deepEqual(h.entries, [[ids[3], '{"i":3}'], [ids[4], '{"i":4}'], [ids[5], '{"i":5}']]);
    assert.equal(h.last, ids[9]);
    h = await read(c, ch, ids[6], 1001);
    assert.deepEqual(h.entries.map((x) => x[0]), ids.slice(7));
    assert.equal((await read(c, ch, ids[9], 5)).entries.length, 0);
    assert.equal((await read(c, ch, '', 5)).entries.length, 0);
    assert.equal((await read(c, ch, '0-0', 0)).entries.length, 0);
    // leading zeros in since are the same id
    const [, ms, seq] = ID.exec(ids[8]);
    assert.deepEqual((await read(c, ch, `000${ms}-0${seq}`)).entries.map((x) => x[0]), [ids[9]]);
  });

  it('since in the future: no entries, last_id below since; the largest id is no error', async () => {
    const ch = 'portfolio:user:future';
    const id = await publish(c, ch, '{}');
    const [, ms] = ID.exec(id);
    const future = `${BigInt(ms) + 1000000n}-0`;
    const h = await read(c, ch, future);
    assert.deepEqual(h.entries, []);
    assert.equal(h.last, id);
    assert.equal(cmp(h.last, future), -1);
    const max = '18446744073709551615-18446744073709551615';
    assert.deepEqual((await read(c, ch, max)).entries, []);
    assert.deepEqual((await read(c, ch, '0000000000000000000-18446744073709551615')).entries.map((e) => e[0]), [id]);
    await rejects(read(c, ch, '018446744073709551615-0'), /since must be/);  // 21 digits
    assert.deepEqual((await read(c, ch, '18446744073709551615-0')).entries, []);
  });

  it('a key of the wrong type: an error reply, nothing changed, Redis keeps working', async () => {
    const ch = 'portfolio:user:wrongtype';
    const [hk, ek] = keysOf(ch);
    await c.set(hk, 'not a stream');
    await rejects(publish(c, ch, '{}'), /^WRONGTYPE history key .* is a string, not a stream$/);
    await rejects(read(c, ch, ''), /^WRONGTYPE/);
    assert.equal(await c.get(hk), 'not a stream');
    assert.equal(await c.exists(ek), 0, 'no epoch made for a broken history');
    await c.del(hk);
    await c.sendCommand(['RPUSH', ek, 'x']);
    await rejects(publish(c, ch, '{}'), /^WRONGTYPE epoch key .* is a list, not a string$/);
    await rejects(read(c, ch, '0-0'), /^WRONGTYPE/);
    assert.equal(await c.exists(hk), 0);
    assert.deepEqual(await c.lRange(ek, 0, -1), ['x']);
    await c.del(ek);
    await c.hSet(hk, 'a', 'b');
    await rejects(publish(c, ch, '{}'), /^WRONGTYPE/);
    await c.del(hk);
    // the same channel works again, and so does Redis
    assert.match(await publish(c, ch, '{}'), ID);
    assert.equal(await c.ping(), 'PONG');
    assert.equal(await c.sendCommand(['FCALL', 'portfolio_stream_version', '0']), 2);
  });

  it('an entry written by someone else without field d reads as ""', async () => {
    const ch = 'portfolio:user:foreign';
    await publish(c, ch, '{}');
    const id = await c.sendCommand(['XADD', keysOf(ch)[0], '*', 'x', 'y']);
    const h = await read(c, ch, '0-0');
    assert.deepEqual(h.entries.at(-1), [id, '']);
  });

  it('hash tags: a channel with a tag keeps it; "x" and "{x}" never share a history', async () => {
    const tagged = 'portfolio:{u42}:orders';
    await publish(c, tagged, '{"t":1}');
    assert.equal(await c.type(`ps:${tagged}:history`), 'stream');
    assert.equal(await c.type(`ps:${tagged}:epoch`), 'string');
    // keys land in the channel's slot
    for (const [ch, hk] of [[tagged, `ps:${tagged}:history`], ['portfolio:user:u42', '{portfolio:user:u42}:history']]) {
      const slot = await c.sendCommand(['CLUSTER', 'KEYSLOT', ch]).catch(() => null);
      if (slot !== null) assert.equal(await c.sendCommand(['CLUSTER', 'KEYSLOT', hk]), slot, ch);
    }
    await publish(c, 'x', '{"who":"x"}');
    await publish(c, '{x}', '{"who":"{x}"}');
    const a = await read(c, 'x', '0-0');
    const b = await read(c, '{x}', '0-0');
    assert.deepEqual(a.entries.map((e) => e[1]), ['{"who":"x"}']);
    assert.deepEqual(b.entries.map((e) => e[1]), ['{"who":"{x}"}']);
    assert.notEqual(a.epoch, b.epoch);
    // '{}' is no tag (empty); "}" without a tag is fine outside a cluster
    await publish(c, 'a{}b', '{}');
    assert.equal(await c.type('{a{}b}:history'), 'stream');
    assert.match(await publish(c, 'we}ird', '{}'), ID);
  });

  it('pipelined publishes: ids strictly increasing in channel order', async () => {
    const ch = 'portfolio:user:burst';
    const sub = await subscriber(redis, ch);
    const p = [];
    for (let i = 0; i < 500; i++) p.push(publish(c, ch, `{"i":${i}}`));
    const ids = await Promise.all(p);
    for (let i = 1; i < ids.length; i++) assert.equal(cmp(ids[i - 1], ids[i]), -1);
    await sub.wait(500);
    sub.got.forEach((m, i) => assert.equal(m.toString(), `{"offset":"${ids[i]}","i":${i}}`));
  });

  it('Redis is healthy afterwards', async () => {
    assert.equal(await c.ping(), 'PONG');
    assert.doesNotMatch(redis.log(), /Lua|panic|crash|ASSERTION/i);
  });
});

// A one-node Redis Cluster owning every slot.
class ClusterNode {
  async start() {
    this.port = await freePort();
    // The bus port defaults to port + 10000, inside the kernel's ephemeral
    // range, where a test's own client socket may hold it: pick it too.
    do this.busPort = await freePort(); while (this.busPort === this.port);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-redis-cluster-'));
    registerDir(this.dir);
    const logfile = path.join(this.dir, 'redis.log');
    this.child = spawnTracked(`redis-cluster:${this.port}`, 'redis-server', ['--port', String(this.port),
      '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'no',
      '--protected-mode', 'no', '--cluster-enabled', 'yes', '--cluster-config-file', path.join(this.dir, 'nodes.conf'),
      '--cluster-port', String(this.busPort), '--logfile', logfile]);
    this.child.stdout.resume();
    this.child.stderr.resume();
    try {
      await waitForPort(this.port, 10000, () => this.child.exitCode !== null);
    } catch (e) {
      let log = '';
      try { log = fs.readFileSync(logfile, 'utf8').slice(-2000); } catch { /* no log yet */ }
      throw new Error(`${e.message}; redis.log: ${log}`);
    }
    this.clients = [];
    const c = await this.client();
    await c.sendCommand(['CLUSTER', 'ADDSLOTSRANGE', '0', '16383']);
    await waitFor(async () => /cluster_state:ok/.test(await c.sendCommand(['CLUSTER', 'INFO'])),
      { timeout: 10000, what: 'cluster_state:ok' });
    return c;
  }
  async client() {
    const c = createClient({ socket: { host: '127.0.0.1', port: this.port } });
    c.on('error', () => {});
    await c.connect();
    this.clients.push(c);
    return c;
  }
  async destroy() {
    for (const c of this.clients || []) { try { await c.disconnect(); } catch { /* closed */ } }
    if (this.child) await stopChild(this.child, 'SIGTERM', 5000);
    if (this.dir) { fs.rmSync(this.dir, { recursive: true, force: true }); unregisterDir(this.dir); }
  }
}

describe('portfolio_stream library (Redis Cluster mode)', () => {
  const node = new ClusterNode();
  let c;
  before(async () => {
    c = await node.start();
    assert.equal(await c.sendCommand(['FUNCTION', 'LOAD', 'REPLACE', LUA]), 'portfolio_stream');
  });
  after(async () => { await node.destroy(); });

  it('publishes with SPUBLISH (shard channel), not PUBLISH', async () => {
    const ch = 'portfolio:user:c1';
    const shard = await subscriber(node, ch, { shard: true });
    const plain = await subscriber(node, ch);
    const id = await publish(c, ch, '{"type":"order_update"}');
    await shard.wait(1);
    assert.equal(shard.got[0].toString(), `{"offset":"${id}","type":"order_update"}`);
    await sleep(150);
    assert.equal(plain.got.length, 0, 'a SUBSCRIBE client gets nothing in cluster mode');
    const h = await read(c, ch, '0-0');
    assert.deepEqual(h.entries, [[id, '{"type":"order_update"}']]);
  });

  it('history keys share the channel slot (plain and tagged channels)', async () => {
    for (const ch of ['portfolio:user:c2', 'portfolio:{c3}:orders', '{x}', 'x', 'a{b', '}{x}']) {
      await publish(c, ch, '{}');
      const tagged = /\{[^}]+\}/.test(ch) && ch.indexOf('}', ch.indexOf('{') + 1) > ch.indexOf('{') + 1;
      const hk = tagged ? `ps:${ch}:history` : `{${ch}}:history`;
      const ek = tagged ? `ps:${ch}:epoch` : `{${ch}}:epoch`;
      assert.equal(await c.type(hk), 'stream', ch);
      const slot = await c.sendCommand(['CLUSTER', 'KEYSLOT', ch]);
      assert.equal(await c.sendCommand(['CLUSTER', 'KEYSLOT', hk]), slot, ch);
      assert.equal(await c.sendCommand(['CLUSTER', 'KEYSLOT', ek]), slot, ch);
    }
  });

  it('a "}" without a hash tag cannot share the slot: a clear error, nothing written', async () => {
    await rejects(publish(c, 'we}ird', '{}'), /has a "}" but no hash tag/);
    await rejects(read(c, 'x{}y}', ''), /has a "}" but no hash tag/);
    await rejects(publish(c, 'a{}b{c}', '{}'), /has a "}" but no hash tag/);
    for (const k of ['{we}ird}:history', '{we}ird}:epoch', '{x{}y}}:epoch']) assert.equal(await c.exists(k), 0);
    assert.equal(await c.ping(), 'PONG');
  });
});
