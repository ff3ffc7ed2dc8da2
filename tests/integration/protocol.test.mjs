// SPEC §6 close codes for protocol violations, and client messages (SPEC §3/§4).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { RawWs } from './lib/raw.mjs';
import { buildFrame, OP, closePayload } from './lib/frames.mjs';

describe('protocol', () => {
  const env = useEnv({
    nginx: {
      http: ['portfolio_stream_max_connections_per_user 50;', 'portfolio_stream_max_connections 200;'],
      location: ['portfolio_stream_batch_window 0;', 'portfolio_stream_max_message_size 1k;'],
    },
  });
  let cookie;
  const user = uniqueUser();
  const raw = async () => {
    if (!cookie) ({ cookie } = await env.login(user));
    const r = await RawWs.connect(env.port, { cookie });
    await r.waitConnected();
    return r;
  };

  // Sends frames, expects a close frame with `code` and the TCP connection closed by the server.
  async function expectClose(name, frames, code) {
    const r = await raw();
    for (const f of [].concat(frames)) r.send(f);
    const { closeFrame } = await r.waitClosed(3000).catch((e) => { throw new Error(`${name}: ${e.message}`); });
    assert.ok(closeFrame, `${name}: no close frame before TCP close; frames ${r.describe()}`);
    assert.equal(closeFrame.code, code, `${name}: close code`);
    assert.equal(r.parser.errors.length, 0, `${name}: server frames malformed: ${r.parser.errors}`);
  }

  const T = (payload, o = {}) => buildFrame({ opcode: OP.TEXT, payload, ...o });

  it('unmasked client frame -> 1002', async () => {
    await expectClose('unmasked text', T('{"type":"ping"}', { mask: false }), 1002);
  });

  it('RSV bits without a negotiated extension -> 1002', async () => {
    for (const rsv of [4, 2, 1]) await expectClose(`rsv ${rsv}`, T('{"type":"ping"}', { rsv }), 1002);
  });

  it('reserved opcodes -> 1002', async () => {
    for (const opcode of [0x3, 0x7, 0xB, 0xF]) {
      await expectClose(`opcode ${opcode}`, buildFrame({ opcode, payload: 'x' }), 1002);
    }
  });

  it('binary message -> 1003', async () => {
    await expectClose('binary', buildFrame({ opcode: OP.BINARY, payload: Buffer.from([1, 2, 3]) }), 1003);
  });

  it('invalid UTF-8 text -> 1007 (single frame and across fragments)', async () => {
    await expectClose('bad utf8', T(Buffer.from([0x7b, 0xc3, 0x28, 0x7d])), 1007);
    await expectClose('overlong', T(Buffer.from([0xc0, 0xaf])), 1007);
    await expectClose('surrogate', T(Buffer.from([0xed, 0xa0, 0x80])), 1007);
    await expectClose('fragmented bad utf8', [
      T(Buffer.from('{"a":"'), { fin: false }),
      buildFrame({ opcode: OP.CONT, payload: Buffer.from([0xff, 0x22, 0x7d]) }),
    ], 1007);
  });

  it('a valid 4-byte character split across fragments is accepted', async () => {
    const r = await raw();
    const bytes = Buffer.from('{"type":"ping","x":"😀"}', 'utf8');
    const cut = bytes.indexOf(0xf0) + 2;
    r.send(T(bytes.subarray(0, cut), { fin: false }));
    r.send(buildFrame({ opcode: OP.CONT, payload: bytes.subarray(cut) }));
    await r.waitMessage((m) => m.type === 'pong', 2000, 'pong to fragmented ping message');
    assert.ok(!r.tcpClosed);
    r.destroy();
  });

  it('message over max_message_size -> 1009 (single frame and reassembled)', async () => {
    await expectClose('2k frame', T(JSON.stringify({ type: 'ping', pad: 'x'.repeat(2000) })), 1009);
    await expectClose('3 x 500 fragments', [
      T('x'.repeat(500), { fin: false }),
      buildFrame({ opcode: OP.CONT, payload: 'x'.repeat(500), fin: false }),
      buildFrame({ opcode: OP.CONT, payload: 'x'.repeat(500) }),
    ], 1009);
    // A frame header announcing a huge length is refused without waiting for the bytes.
    const head = Buffer.from([0x81, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]);
    await expectClose('4 GiB length', head, 1009);
  });

  it('a message at max_message_size is accepted', async () => {
    const r = await raw();
    const base = JSON.stringify({ type: 'ping', pad: '' });
    r.sendText(JSON.stringify({ type: 'ping', pad: 'z'.repeat(1024 - base.length) }));
    await r.waitMessage((m) => m.type === 'pong', 2000, 'pong to a 1024-byte message');
    r.destroy();
  });

  it('fragmented control frame -> 1002', async () => {
    await expectClose('ping fin=0', buildFrame({ opcode: OP.PING, payload: 'a', fin: false }), 1002);
  });

  it('ping with a 126-byte payload -> 1002', async () => {
    await expectClose('ping 126', buildFrame({ opcode: OP.PING, payload: 'p'.repeat(126) }), 1002);
  });

  it('continuation without a start, and a new message inside a fragmented one -> 1002', async () => {
    await expectClose('lone continuation', buildFrame({ opcode: OP.CONT, payload: 'x' }), 1002);
    await expectClose('text inside fragmented text', [T('{"type":', { fin: false }), T('{"type":"ping"}')], 1002);
  });

  it('malformed close frames -> 1002', async () => {
    await expectClose('1-byte close payload', buildFrame({ opcode: OP.CLOSE, payload: Buffer.from([3]) }), 1002);
    await expectClose('close code 1005', buildFrame({ opcode: OP.CLOSE, payload: closePayload(1005) }), 1002);
    await expectClose('close code 999', buildFrame({ opcode: OP.CLOSE, payload: closePayload(999) }), 1002);
  });

  it('client close 1000 -> server echoes close 1000 and closes TCP', async () => {
    const r = await raw();
    r.send(buildFrame({ opcode: OP.CLOSE, payload: closePayload(1000, 'bye') }));
    const { closeFrame } = await r.waitClosed(3000);
    assert.ok(closeFrame, 'server sent a close frame');
    assert.equal(closeFrame.code, 1000);
    const after = r.frames.slice(r.frames.indexOf(closeFrame) + 1);
    assert.deepEqual(after, [], 'nothing after the close frame');
  });

  it('client close without status -> server closes (empty or 1000)', async () => {
    const r = await raw();
    r.send(buildFrame({ opcode: OP.CLOSE }));
    const { closeFrame } = await r.waitClosed(3000);
    assert.ok(closeFrame);
    assert.ok(closeFrame.code === null || closeFrame.code === 1000, `code ${closeFrame.code}`);
  });

  it('client close 4000 (application code) is echoed', async () => {
    const r = await raw();
    r.send(buildFrame({ opcode: OP.CLOSE, payload: closePayload(4000) }));
    const { closeFrame } = await r.waitClosed(3000);
    assert.ok(closeFrame);
    assert.ok([4000, 1000].includes(closeFrame.code), `code ${closeFrame.code}`);
  });

  it('WebSocket ping frame -> pong frame with the same payload', async () => {
    const r = await raw();
    for (const p of ['', 'abc', 'q'.repeat(125), Buffer.from([0, 0xff, 0x80])]) {
      const payload = Buffer.isBuffer(p) ? p : Buffer.from(p);
      const before = r.frames.length;
      r.send(buildFrame({ opcode: OP.PING, payload }));
      const pong = await r.waitFrame((f) => f.opcode === OP.PONG && r.frames.indexOf(f) >= before, 2000, 'pong');
      assert.ok(pong.payload.equals(payload), `pong payload ${pong.payload.toString('hex')} != ${payload.toString('hex')}`);
      assert.ok(pong.fin);
    }
    // The ws client's ping too.
    const c = await env.user(user);
    const got = new Promise((res) => c.ws.once('pong', res));
    c.ws.ping(Buffer.from('hello'));
    assert.equal((await got).toString(), 'hello');
    r.destroy();
  });

  it('a ping in the middle of a fragmented message is answered, the message too', async () => {
    const r = await raw();
    r.send(T('{"type":', { fin: false }));
    r.send(buildFrame({ opcode: OP.PING, payload: 'mid' }));
    await r.waitFrame((f) => f.opcode === OP.PONG, 2000, 'pong mid-message');
    r.send(buildFrame({ opcode: OP.CONT, payload: '"ping"}' }));
    await r.waitMessage((m) => m.type === 'pong', 2000, 'application pong');
    r.destroy();
  });

  it('frames split into single bytes and coalesced in one write are parsed', async () => {
    const r = await raw();
    r.socket.setNoDelay(true);
    const f = T('{"type":"ping"}');
    for (const b of f) { r.send(Buffer.from([b])); await sleep(3); }
    await r.waitUntil(() => r.messages().filter((m) => m.type === 'pong').length === 1, 2000, 'pong to byte-by-byte frame');
    r.send(Buffer.concat([T('{"type":"ping"}'), buildFrame({ opcode: OP.PING, payload: 'x' }), T('{"type":"ping"}')]));
    await r.waitUntil(() => r.messages().filter((m) => m.type === 'pong').length === 3, 2000, 'pongs to coalesced frames');
    r.destroy();
  });

  it('{"type":"ping"} -> {"type":"pong","serverTime":...}', async () => {
    const c = await env.user(user);
    c.send({ type: 'ping' });
    const m = await c.waitMessage((x) => x.type === 'pong', 2000);
    assert.equal(typeof m.serverTime, 'number');
    assert.ok(Math.abs(m.serverTime - Date.now()) < 5000);
  });

  it('unsubscribe / subscribe filter channels and answer `subscribed`', async () => {
    const u = uniqueUser();
    const c = await env.user(u);
    c.send({ type: 'unsubscribe', channels: ['positions', 'account'] });
    let m = await c.waitMessage((x) => x.type === 'subscribed', 2000);
    assert.deepEqual([...m.channels].sort(), ['orders', 'trades']);
    await env.publish(u, { type: 'position_update', key: 'AAPL', n: 1 });
    await env.publish(u, { type: 'account_update', n: 2 });
    await env.publish(u, { type: 'order_update', n: 3 });
    await c.waitEvents(1, 2000);
    await sleep(200);
    assert.deepEqual(c.events().map((e) => e.n), [3], 'filtered channels are not delivered');
    c.send({ type: 'subscribe', channels: ['positions'] });
    m = await c.waitMessage((x) => x.type === 'subscribed' && x.channels.includes('positions'), 2000);
    assert.deepEqual([...m.channels].sort(), ['orders', 'positions', 'trades']);
    await env.publish(u, { type: 'position_update', key: 'MSFT', n: 4 });
    await c.waitEvents(2, 2000);
    assert.deepEqual(c.events().map((e) => e.n), [3, 4]);
  });

  it('unknown channel -> error unknown_channel; connection stays', async () => {
    const c = await env.user(user);
    c.send({ type: 'subscribe', channels: ['nope'] });
    const m = await c.waitMessage((x) => x.type === 'error', 2000);
    assert.equal(m.code, 'unknown_channel');
    assert.equal(typeof m.message, 'string');
    c.send({ type: 'ping' });
    await c.waitMessage((x) => x.type === 'pong', 2000);
  });

  it('garbage client messages -> error bad_request; connection stays', async () => {
    const c = await env.user(user);
    const bad = ['hello', '{"type":"nope"}', '{}', '[1]', '{"type":"subscribe"}', '{"type":"subscribe","channels":"positions"}', 'null', '{"type":"ping"'];
    for (const b of bad) c.send(b);
    await c.waitUntil((cl) => cl.messages.filter((x) => x.type === 'error').length >= bad.length, 3000, `${bad.length} errors`);
    const errs = c.messages.filter((x) => x.type === 'error');
    assert.ok(errs.every((e) => e.code === 'bad_request' && typeof e.message === 'string'), JSON.stringify(errs));
    c.send({ type: 'ping' });
    await c.waitMessage((x) => x.type === 'pong', 2000);
    assert.ok(c.isOpen);
  });

  it('error.log is clean and nginx stops gracefully', async () => {
    await stopAndCheckLog(env);
  });
});
