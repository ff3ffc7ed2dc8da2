// permessage-deflate (RFC 7692, SPEC §2): negotiation, compressed events (one
// compressed frame shared by every deflate connection), compressed client
// messages, and the close codes for bad compressed input.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { connectUser } from './lib/wsclient.mjs';
import { RawWs } from './lib/raw.mjs';
import { buildFrame, OP } from './lib/frames.mjs';

const RSV1 = 4; // frames.mjs: rsv bit 4 = RSV1
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const CHROME = 'permessage-deflate; client_max_window_bits';
const AGREED = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
const STATS = '/api/admin/websocket-stats';

// What a client's compressor sends: raw deflate, sync flush, tail removed.
function deflate(text) {
  const out = zlib.deflateRawSync(Buffer.from(text, 'utf8'), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.deepEqual(out.subarray(out.length - 4), TAIL);
  return out.subarray(0, out.length - 4);
}
function inflate(payload) {
  return zlib.inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}
// The message a server frame carries (inflated when RSV1 is set).
const messageOf = (f) => (f.rsv & RSV1 ? inflate(f.payload) : f.payload);
const frameSize = (f) => f.payload.length + (f.payload.length < 126 ? 2 : f.payload.length <= 0xffff ? 4 : 10);

function getStats(port) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: STATS, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    }).on('error', reject);
  });
}

// Events like the tick workload's (tests/bench/psb.c), about 150 bytes.
const tick = (i) => JSON.stringify({
  type: 'position_update', key: `SYM${i % 20}`,
  data: { symbol: `SYM${i % 20}`, qty: 100 + i, px: 101.23 + i / 100, pnl: -50.5 + i, account: 'ACC-000123' },
  ts: Date.now(),
});

describe('permessage-deflate', () => {
  const env = useEnv({
    nginx: {
      stats: true,
      http: ['portfolio_stream_max_connections_per_user 50;'],
      location: ['portfolio_stream_batch_window 0;', 'portfolio_stream_max_message_size 1k;'],
      locations: ['location = /ws/batched { portfolio_stream on; portfolio_stream_batch_window 300ms; }'],
    },
  });

  const user = uniqueUser();
  let cookie;
  async function raw(extensions, o = {}) {
    if (!cookie) ({ cookie } = await env.login(user));
    const headers = extensions === undefined ? [] : [].concat(extensions).map((v) => ['Sec-WebSocket-Extensions', v]);
    const r = await RawWs.connect(env.port, { cookie, headers, ...o });
    await r.waitConnected();
    return r;
  }

  async function expectClose(r, frames, code, name) {
    for (const f of [].concat(frames)) r.send(f);
    const { closeFrame } = await r.waitClosed(3000).catch((e) => { throw new Error(`${name}: ${e.message}`); });
    assert.ok(closeFrame, `${name}: no close frame; frames ${r.describe()}`);
    assert.equal(closeFrame.code, code, `${name}: close code`);
  }

  it('negotiation: the agreed header when offered, none when not', async () => {
    const ext = async (o) => (await env.handshake({ cookie, ...o })).headers['sec-websocket-extensions'];
    ({ cookie } = await env.login(user));
    const h = (...v) => ({ headers: v.map((x) => ['Sec-WebSocket-Extensions', x]) });
    assert.equal(await ext(h(CHROME)), AGREED, 'Chrome / ws');
    assert.equal(await ext(h('permessage-deflate')), AGREED, 'Firefox');
    assert.equal(await ext(h('permessage-deflate; client_no_context_takeover; server_no_context_takeover')), AGREED);
    // Issue 15: a smaller server window is declined (one compressed frame per event serves
    // only full-window connections); a later offer is taken; 15 is echoed.
    assert.equal(await ext(h('permessage-deflate; server_max_window_bits=15')), `${AGREED}; server_max_window_bits=15`);
    assert.equal(await ext(h('permessage-deflate; server_max_window_bits=9, permessage-deflate')), AGREED);
    assert.equal(await ext(h('permessage-deflate; server_max_window_bits=8, permessage-deflate')), AGREED);
    assert.equal(await ext(h('x-custom', 'permessage-deflate')), AGREED, 'offers across headers');
    assert.equal(await ext({}), undefined, 'not offered');
    for (const bad of ['permessage-deflate; server_max_window_bits=8', 'permessage-deflate; server_max_window_bits=9',
      'permessage-deflate; server_max_window_bits=14; client_max_window_bits', 'permessage-deflate; bogus', 'x-webkit-deflate-frame',
      'permessage-deflate; server_max_window_bits=16', 'permessage-deflate; client_no_context_takeover=1']) {
      const r = await env.handshake({ cookie, ...h(bad) });
      assert.equal(r.status, 101, `${bad}: declined, not a handshake failure`);
      assert.equal(r.headers['sec-websocket-extensions'], undefined, bad);
      r.socket.destroy();
    }
    // The ws client (the suite's default) negotiates it.
    const c = await env.user(user, { perMessageDeflate: true });
    assert.equal(c.ws.extensions, 'permessage-deflate'); // ws reports the name only
    const p = await env.user(user, { perMessageDeflate: false });
    assert.equal(p.ws.extensions, '');
  });

  it('events arrive byte-identical after inflation; one compressed frame shared by all deflate connections', async () => {
    const d1 = await raw(CHROME);
    const d2 = await raw('permessage-deflate');
    const plain = await raw();
    const ws = await env.user(user, { perMessageDeflate: true });
    const events = [
      tick(1),
      JSON.stringify({ type: 'order_update', note: 'caf\u00e9 \u20ac \u{1F4C8} \u4e2d\u6587', pad: 'x'.repeat(150) }),
      '{"type":"trade_executed","id":7}', // small: stays uncompressed
      JSON.stringify({ type: 'account_update', rows: Array.from({ length: 7500 }, (_, i) => ({ i, v: `row ${i} \u00e9` })) }),
    ];
    assert.ok(events[3].length > 200 * 1024, `big event is ${events[3].length} bytes`);
    for (const e of events) await env.publish(user, e);
    const want = events.length + 1; // after `connected`
    for (const r of [d1, d2, plain]) await r.waitUntil((fs) => fs.filter((f) => f.opcode === OP.TEXT).length >= want, 5000, 'events');
    await ws.waitUntil((c) => c.raw.length >= want, 5000, 'events (ws)');

    const texts = (r) => r.frames.filter((f) => f.opcode === OP.TEXT).slice(1);
    for (const [name, r] of [['chrome offer', d1], ['firefox offer', d2], ['no deflate', plain]]) {
      assert.deepEqual(texts(r).map((f) => messageOf(f).toString('utf8')), events, name);
      assert.deepEqual(r.parser.errors, [], name);
    }
    assert.deepEqual(ws.raw.slice(1).map((b) => b.toString('utf8')), events, 'ws client');

    const [f1, f2, f3, f4] = texts(d1);
    assert.ok(f1.rsv & RSV1, 'tick event compressed');
    assert.ok(f2.rsv & RSV1 && f4.rsv & RSV1, 'unicode and big events compressed');
    assert.equal(f3.rsv, 0, 'a message under 100 bytes goes out uncompressed');
    assert.ok(texts(plain).every((f) => f.rsv === 0), 'no RSV1 without the extension');
    // The same compressed bytes for both deflate connections.
    assert.deepEqual(texts(d2).map((f) => f.payload), texts(d1).map((f) => f.payload));
    // The connected frame (our own small JSON) is not compressed.
    assert.equal(d1.frames[0].rsv, 0);
    const sizes = texts(d1).map(frameSize);
    const plainSizes = texts(plain).map(frameSize);
    console.log(`# wire bytes per frame, plain -> deflated: ${plainSizes.map((p, i) => `${p} -> ${sizes[i]}`).join(', ')}`);
    assert.ok(sizes[3] < plainSizes[3] / 4, 'the 200 KB event compresses');
  });

  it('a batch frame is compressed once and inflates to the batch', async () => {
    const u = uniqueUser();
    const { cookie: ck } = await env.login(u);
    const hdr = [['Sec-WebSocket-Extensions', CHROME]];
    const a = await RawWs.connect(env.port, { cookie: ck, headers: hdr, path: '/ws/batched' });
    const b = await RawWs.connect(env.port, { cookie: ck, headers: hdr, path: '/ws/batched' });
    const p = await RawWs.connect(env.port, { cookie: ck, path: '/ws/batched' });
    for (const r of [a, b, p]) await r.waitConnected();
    // The first event goes out bare at once, the next 20 (distinct keys) in one batch.
    const evs = Array.from({ length: 21 }, (_, i) => tick(i));
    for (const e of evs) await env.publish(u, e);
    const done = (fs) => fs.filter((f) => f.opcode === OP.TEXT).length >= 3;
    for (const r of [a, b, p]) await r.waitUntil(done, 5000, 'bare event + batch');
    const texts = (r) => r.frames.filter((f) => f.opcode === OP.TEXT).slice(1);
    const [bare, batch] = texts(a);
    const [, plainBatch] = texts(p);
    assert.ok(bare.rsv & RSV1 && batch.rsv & RSV1, 'both compressed');
    const m = JSON.parse(inflate(batch.payload).toString('utf8'));
    assert.equal(m.type, 'batch');
    assert.deepEqual(m.events.map((e) => JSON.stringify(e)), evs.slice(1));
    assert.deepEqual(inflate(batch.payload), plainBatch.payload, 'same batch bytes as the plain connection');
    assert.deepEqual(texts(b).map((f) => f.payload), texts(a).map((f) => f.payload), 'shared compressed frames');
    console.log(`# batch of 20 tick events: ${frameSize(plainBatch)} B plain, ${frameSize(batch)} B deflated; `
      + `single tick event: ${frameSize(texts(p)[0])} B plain, ${frameSize(bare)} B deflated`);
  });

  it('frames.bytesSent counts the compressed bytes written', async () => {
    const u = uniqueUser();
    const { cookie: ck } = await env.login(u);
    const r = await RawWs.connect(env.port, { cookie: ck, headers: [['Sec-WebSocket-Extensions', CHROME]] });
    await r.waitConnected();
    await sleep(100);
    const before = (await getStats(env.port)).frames.bytesSent;
    const big = JSON.stringify({ type: 'account_update', blob: 'abcdefgh'.repeat(20000) });
    await env.publish(u, big);
    const f = await r.waitFrame((x) => x.opcode === OP.TEXT && x.rsv & RSV1, 3000, 'big event');
    assert.equal(inflate(f.payload).toString('utf8'), big);
    await sleep(100);
    const delta = (await getStats(env.port)).frames.bytesSent - before;
    assert.ok(delta >= frameSize(f) && delta < frameSize(f) + 200 && delta < big.length / 10,
      `bytesSent grew by ${delta}; compressed frame ${frameSize(f)} B, event ${big.length} B`);
  });

  it('a compressed, fragmented subscribe is answered', async () => {
    const r = await raw(CHROME);
    const msg = deflate(JSON.stringify({ type: 'subscribe', channels: ['orders'], pad: ' '.repeat(900) }));
    const third = Math.ceil(msg.length / 3);
    r.send(buildFrame({ opcode: OP.TEXT, rsv: RSV1, fin: false, payload: msg.subarray(0, third) }));
    r.send(buildFrame({ opcode: OP.PING, payload: 'p' }));
    r.send(buildFrame({ opcode: OP.CONT, fin: false, payload: msg.subarray(third, 2 * third) }));
    r.send(buildFrame({ opcode: OP.CONT, payload: msg.subarray(2 * third) }));
    const m = await r.waitMessage((x) => x.type === 'subscribed', 3000);
    assert.ok(m.channels.includes('orders'));
    assert.ok(r.frames.some((f) => f.opcode === OP.PONG), 'ping answered mid-message');
    // An uncompressed message on the same connection is fine too; so is a compressed ping.
    r.sendJson({ type: 'ping' });
    r.send(buildFrame({ opcode: OP.TEXT, rsv: RSV1, payload: deflate('{"type":"ping"}') }));
    await r.waitUntil(() => r.messages().filter((x) => x.type === 'pong').length >= 2, 3000, 'two pongs');
    // The ws client compresses messages of 1 KiB and more.
    const c = await env.user(user, { perMessageDeflate: { threshold: 0 } });
    c.send({ type: 'unsubscribe', channels: ['trades'] });
    await c.waitMessage((x) => x.type === 'subscribed' && !x.channels.includes('trades'), 3000);
  });

  it('over max_message_size once inflated -> 1009', async () => {
    const r = await raw(CHROME);
    const msg = deflate(JSON.stringify({ type: 'ping', pad: ' '.repeat(200000) }));
    assert.ok(msg.length < 1024, `compressed to ${msg.length} bytes, under the 1k limit`);
    await expectClose(r, buildFrame({ opcode: OP.TEXT, rsv: RSV1, payload: msg }), 1009, 'inflates over 1k');
    // Exactly at the limit is fine.
    const ok = await raw(CHROME);
    const exact = '{"type":"ping","p":"' + ' '.repeat(1024 - 22) + '"}';
    assert.equal(exact.length, 1024);
    ok.send(buildFrame({ opcode: OP.TEXT, rsv: RSV1, payload: deflate(exact) }));
    await ok.waitMessage((x) => x.type === 'pong', 3000);
  });

  it('corrupt compressed data or invalid UTF-8 inside -> 1007', async () => {
    await expectClose(await raw(CHROME), buildFrame({ opcode: OP.TEXT, rsv: RSV1, payload: Buffer.from([0xff, 0xff, 0xff, 0x01]) }), 1007, 'bad deflate');
    const trunc = deflate(JSON.stringify({ type: 'ping', x: Array.from({ length: 300 }, (_, i) => i) }));
    await expectClose(await raw(CHROME), buildFrame({ opcode: OP.TEXT, rsv: RSV1, payload: trunc.subarray(0, trunc.length >> 1) }), 1007, 'truncated');
    const badUtf8 = zlib.deflateRawSync(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    await expectClose(await raw(CHROME), buildFrame({ opcode: OP.TEXT, rsv: RSV1, payload: badUtf8.subarray(0, badUtf8.length - 4) }), 1007, 'invalid UTF-8');
  });

  it('RSV1 on a control or continuation frame -> 1002; RSV1 without negotiation -> 1002', async () => {
    await expectClose(await raw(CHROME), buildFrame({ opcode: OP.PING, rsv: RSV1, payload: 'x' }), 1002, 'ping');
    await expectClose(await raw(CHROME), buildFrame({ opcode: OP.CLOSE, rsv: RSV1, payload: Buffer.from([3, 232]) }), 1002, 'close');
    await expectClose(await raw(CHROME), [
      buildFrame({ opcode: OP.TEXT, rsv: RSV1, fin: false, payload: deflate('{"type":"ping"}') }),
      buildFrame({ opcode: OP.CONT, rsv: RSV1, payload: Buffer.alloc(0) }),
    ], 1002, 'continuation');
    await expectClose(await raw(CHROME), buildFrame({ opcode: OP.TEXT, rsv: 2, payload: '{"type":"ping"}' }), 1002, 'RSV2');
    await expectClose(await raw(), buildFrame({ opcode: OP.TEXT, rsv: RSV1, payload: deflate('{"type":"ping"}') }), 1002, 'not negotiated');
  });

  it('error.log is clean and nginx stops gracefully', async () => {
    await stopAndCheckLog(env);
  });
});
