// SPEC §3/§4: the connected frame, event passthrough, order, isolation, invalid events.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { connectUser } from './lib/wsclient.mjs';

describe('events', () => {
  const env = useEnv({
    nginx: {
      http: ['portfolio_stream_max_event_size 1k;', 'portfolio_stream_max_connections_per_user 10;',
        'portfolio_stream_broadcast_channel portfolio:broadcast;'],
      location: ['portfolio_stream_batch_window 0;'],
      locations: ['location = /ws/defaults { portfolio_stream on; }'],
    },
  });

  it('connected frame: fields per SPEC §3', async () => {
    const user = uniqueUser();
    const c = await env.user(user);
    const m = c.messages[0];
    assert.equal(m.type, 'connected', 'the first frame is connected');
    assert.equal(m.userId, user);
    assert.deepEqual([...m.channels].sort(), ['account', 'orders', 'positions', 'trades']);
    assert.equal(m.batchWindowMs, 0);
    assert.equal(m.heartbeatMs, 15000);
    assert.equal(typeof m.serverTime, 'number');
    assert.ok(Math.abs(m.serverTime - Date.now()) < 5000, `serverTime ${m.serverTime} is ms since epoch`);
    const d = await connectUser(env.port, (await env.login(user)).cookie, { path: '/ws/defaults' });
    assert.equal(d.messages[0].batchWindowMs, 250);
    assert.equal(d.messages[0].heartbeatMs, 15000);
  });

  it('an event published right after `connected` is delivered (repeated 20 times)', async () => {
    for (let i = 0; i < 20; i++) {
      const user = uniqueUser();
      const c = await env.user(user);
      const ev = { type: 'order_update', orderId: `o${i}`, status: 'filled' };
      const n = await env.publish(user, ev);
      assert.ok(n >= 1, `PUBLISH reached ${n} subscribers right after connected (iteration ${i})`);
      const got = await c.waitEvents(1, 2000);
      assert.deepEqual(got[0], ev);
      c.terminate();
    }
  });

  it('a second connection of the same user subscribes too (shared worker subscription)', async () => {
    const user = uniqueUser();
    const a = await env.user(user);
    const b = await env.user(user);
    await env.publish(user, { type: 'trade_executed', id: 1 });
    await a.waitEvents(1, 2000);
    await b.waitEvents(1, 2000);
    a.terminate();
    await sleep(200);
    await env.publish(user, { type: 'trade_executed', id: 2 });
    const ev = await b.waitEvents(2, 2000);
    assert.equal(ev[1].id, 2, 'closing one connection does not unsubscribe the other');
  });

  it('byte-identical passthrough with batch_window 0 (unicode, odd whitespace)', async () => {
    const user = uniqueUser();
    const c = await env.user(user);
    const payloads = [
      '{"type":"position_update","key":"AAPL","data":{"symbol":"AAPL","qty":10,"px":189.5}}',
      '  {\t"type" :\n"order_update",  "note":"€ 日本語 😀 \\u00e9 é",  "n": 1.50e+2 }  \n',
      '{"type":"account_update","data":{"cash":"1\\u00a0000,00 €","nested":{"a":[1,{"b":null}]}},"ts":' + Date.now() + '}',
      '{"type":"trade_executed","id":"t1","emoji":"👩‍💻","rtl":"שלום","zero":"\\u0000"}',
    ];
    for (const p of payloads) await env.publish(user, p);
    await c.waitUntil((cl) => cl.raw.length >= 1 + payloads.length, 3000, 'all passthrough frames');
    const got = c.raw.slice(1);
    for (let i = 0; i < payloads.length; i++) {
      assert.ok(got[i].equals(Buffer.from(payloads[i], 'utf8')),
        `frame ${i}: expected ${JSON.stringify(payloads[i])}, got ${JSON.stringify(got[i].toString('utf8'))}`);
    }
  });

  it('publish order is kept over 200 events (window 0: one frame each)', async () => {
    const user = uniqueUser();
    const c = await env.user(user);
    const types = ['order_update', 'position_update', 'trade_executed', 'account_update'];
    const sent = [];
    for (let i = 0; i < 200; i++) {
      const ev = JSON.stringify({ type: types[i % 4], key: `k${i}`, seq: i });
      sent.push(ev);
      env.publish(user, ev); // pipelined, not awaited one by one
    }
    await c.waitUntil((cl) => cl.raw.length >= 201, 5000, '200 events');
    assert.deepEqual(c.raw.slice(1).map((b) => b.toString('utf8')), sent);
  });

  it('two users never see each other\'s events (several connections each, interleaved)', async () => {
    const users = [uniqueUser('alice'), uniqueUser('bob')];
    const conns = {};
    for (const u of users) conns[u] = [await env.user(u), await env.user(u), await env.user(u)];
    for (let i = 0; i < 60; i++) {
      const u = users[i % 2];
      await env.publish(u, { type: 'order_update', owner: u, seq: i });
    }
    for (const u of users) {
      for (const c of conns[u]) {
        const evs = await c.waitEvents(30, 3000);
        await sleep(100);
        const all = c.events();
        assert.equal(all.length, 30, `${u} got ${all.length} events`);
        assert.ok(all.every((e) => e.owner === u), `${u} got a foreign event: ${JSON.stringify(all.find((e) => e.owner !== u))}`);
        assert.deepEqual(evs.map((e) => e.seq), [...Array(60).keys()].filter((s) => users[s % 2] === u));
      }
    }
    // A prefix of another user's id is another user.
    const short = uniqueUser('c');
    const longer = `${short}0`;
    const a = await env.user(short);
    const b = await env.user(longer);
    await env.publish(longer, { type: 'trade_executed', owner: longer });
    await env.publish(short, { type: 'trade_executed', owner: short });
    await a.waitEvents(1, 2000);
    await b.waitEvents(1, 2000);
    await sleep(200);
    assert.deepEqual(a.events().map((e) => e.owner), [short]);
    assert.deepEqual(b.events().map((e) => e.owner), [longer]);
  });

  it('invalid events are dropped; the next valid one is delivered', async () => {
    const user = uniqueUser();
    const c = await env.user(user);
    const invalid = [
      '{not json',
      '',
      '{"type":"order_update"',
      '{"type":"no_such_type","x":1}',
      '{"x":1}',
      '{"type":42}',
      '[{"type":"order_update"}]',
      '"order_update"',
      '42',
      'null',
      JSON.stringify({ type: 'order_update', pad: 'x'.repeat(2000) }), // over max_event_size 1k
      Buffer.from([0x7b, 0x22, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), // invalid UTF-8
    ];
    for (const p of invalid) await env.publish(user, p);
    const valid = JSON.stringify({ type: 'order_update', orderId: 'after-invalid' });
    await env.publish(user, valid);
    await c.waitUntil((cl) => cl.raw.length >= 2, 3000, 'the valid event');
    await sleep(300);
    const texts = c.raw.slice(1).map((b) => b.toString('utf8'));
    assert.deepEqual(texts, [valid], `only the valid event is forwarded; got ${JSON.stringify(texts).slice(0, 500)}`);
    assert.ok(c.isOpen, 'the connection stays open');
    // An event just under the limit still goes through.
    const big = JSON.stringify({ type: 'order_update', pad: 'y'.repeat(900) });
    assert.ok(Buffer.byteLength(big) <= 1024);
    await env.publish(user, big);
    await c.waitUntil((cl) => cl.raw.length >= 3, 3000, 'the 900-byte event');
    assert.equal(c.raw[2].toString('utf8'), big);
  });

  it('portfolio_stream_broadcast_channel reaches every connection of every user', async () => {
    const a = await env.user(uniqueUser());
    const b = await env.user(uniqueUser());
    const ev = '{"type":"account_update","broadcast":true}';
    await env.redis.publish('portfolio:broadcast', ev);
    for (const c of [a, b]) {
      await c.waitUntil((cl) => cl.raw.length >= 2, 2000, 'the broadcast event');
      assert.equal(c.raw[1].toString('utf8'), ev);
    }
  });

  it('a client offering permessage-deflate (as browsers do) works', async () => {
    const u = uniqueUser();
    const c = await connectUser(env.port, (await env.login(u)).cookie, { perMessageDeflate: true });
    const ev = JSON.stringify({ type: 'order_update', text: 'z'.repeat(500) });
    await env.publish(u, ev);
    await c.waitUntil((cl) => cl.raw.length >= 2, 2000, 'event');
    assert.equal(c.raw[1].toString('utf8'), ev);
    c.send({ type: 'ping' });
    await c.waitMessage((m) => m.type === 'pong', 2000);
  });

  it('error.log is clean and nginx stops gracefully', async () => {
    await stopAndCheckLog(env);
  });
});
