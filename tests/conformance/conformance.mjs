#!/usr/bin/env node
// RFC 6455 server conformance of the real module in real nginx, mirroring
// Autobahn|Testsuite's server groups 1-7, 9 and 10 over raw sockets, plus
// permessage-deflate (RFC 7692) cases in the spirit of groups 12 and 13
// (compressed client messages under each offer the browsers make).
//
// Our server pushes instead of echoing, so acceptance of a message is seen
// in the reply to it: a `{"type":"ping"}` of any size answers `pong`, a
// `subscribe` answers `subscribed`, a subscribe naming text T answers an
// `unknown_channel` error quoting T (the UTF-8 round trip), a WebSocket ping
// answers a pong with its payload. Every case ends with a sentinel
// `{"type":"ping"}`: all replies before its `pong` are what the case caused.
// Invalid input must close with the SPEC section 6 code (1002, 1003, 1007,
// 1009) and then TCP.
//
//   node tests/conformance/conformance.mjs [--out DIR] [--filter REGEX]
// Writes DIR/index.json (Autobahn style: {agent: {case: {behavior,
// behaviorClose, remoteCloseCode, duration, description}}}) and prints one
// summary line; exit 1 on any FAILED. Env: PS_MODULE, PS_NGINX as for
// tests/integration.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { startEnv, stopEnv, stopAndCheckLog } from '../integration/lib/env.mjs';
import { RawWs } from '../integration/lib/raw.mjs';
import { OP, buildFrame, closePayload } from '../integration/lib/frames.mjs';

const args = process.argv.slice(2);
const argOf = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const OUT_DIR = path.resolve(argOf('--out', process.env.PS_CONFORMANCE_OUT || 'conformance-report'));
const FILTER = argOf('--filter', null) ? new RegExp(argOf('--filter')) : null;
const AGENT = 'ngx_http_portfolio_stream_module';
const BIG = 16 * 1024 * 1024;   // max_message_size of /ws/portfolio (groups 1, 9)
const LIMIT = 64 * 1024;        // SPEC default, on /ws/limit (group 9.9, 10)

// ---------------------------------------------------------------- frames ---
const B = (x) => (Buffer.isBuffer(x) ? x : Buffer.from(x, 'utf8'));
const fr = (opcode, payload = '', o = {}) => buildFrame({ opcode, payload: B(payload), ...o });
const text = (p, o) => fr(OP.TEXT, p, o);
const cont = (p, o) => fr(OP.CONT, p, o);
const ping = (p, o) => fr(OP.PING, p, o);
const pong = (p, o) => fr(OP.PONG, p, o);
const binary = (p, o) => fr(OP.BINARY, p, o);
const closeF = (code, reason = '', o) => fr(OP.CLOSE, code === undefined ? Buffer.alloc(0) : closePayload(code, reason), o);
const closeRaw = (payload, o) => fr(OP.CLOSE, payload, o);

const PING_MSG = '{"type":"ping"}';
const SUB_MSG = '{"type":"subscribe","channels":["positions"]}';
// A JSON message of exactly n bytes and the reply it must get.
function messageOfSize(n) {
  if (n >= SUB_MSG.length) return { buf: Buffer.from(SUB_MSG + ' '.repeat(n - SUB_MSG.length)), reply: { type: 'subscribed' } };
  if (n >= PING_MSG.length) return { buf: Buffer.from(PING_MSG + ' '.repeat(n - PING_MSG.length)), reply: { type: 'pong' } };
  return { buf: Buffer.from(' '.repeat(n)), reply: { type: 'error', code: 'bad_request' } };
}
// subscribe naming `bytes` (raw, possibly invalid UTF-8).
const subNamed = (bytes) => Buffer.concat([B('{"type":"subscribe","channels":["'), B(bytes), B('"]}')]);
// Fragments: split buf into frames of `size` bytes (first TEXT, rest CONT).
function fragments(buf, size, o = {}) {
  const out = [];
  for (let i = 0; i < buf.length || i === 0; i += size) {
    const last = i + size >= buf.length;
    out.push(fr(i === 0 ? OP.TEXT : OP.CONT, buf.subarray(i, i + size), { fin: last, ...o }));
    if (buf.length === 0) break;
  }
  return out;
}

// ----------------------------------------------------------- expectations ---
// Reply matchers: {json: subset} for text replies, {pong: payload} for pong frames.
const J = (json, contains) => ({ json, contains });
const PONG = (payload = '') => ({ pong: B(payload) });
const SUBSCRIBED = J({ type: 'subscribed' });
const APP_PONG = J({ type: 'pong' });
const UNKNOWN = (name) => J({ type: 'error', code: 'unknown_channel' }, name);
const ANY_ERROR = J({ type: 'error' });

function matches(m, f) {
  if (m.pong) return f.opcode === OP.PONG && f.payload.equals(m.pong);
  if (f.opcode !== OP.TEXT) return false;
  let obj;
  try { obj = JSON.parse(f.payload.toString('utf8')); } catch { return false; }
  for (const [k, v] of Object.entries(m.json)) if (obj[k] !== v) return false;
  if (m.contains !== undefined && !(obj.message || '').includes(m.contains)) return false;
  return true;
}
const show = (f) => (f.opcode === OP.TEXT ? f.payload.toString('utf8').slice(0, 100)
  : f.opcode === OP.CLOSE ? `close(${f.code})` : `op${f.opcode}[${f.payload.length}]`);

// ----------------------------------------------------------------- runner ---
let env;
let cookie;

// ext: a Sec-WebSocket-Extensions offer; extExpect: the response header it must get.
async function open(pathname, ext, extExpect) {
  const ws = await RawWs.connect(env.port, { cookie, path: pathname, headers: ext ? [['Sec-WebSocket-Extensions', ext]] : [] });
  if (ext !== undefined && ws.response.headers['sec-websocket-extensions'] !== extExpect) {
    ws.destroy();
    throw new Error(`offer "${ext}" answered "${ws.response.headers['sec-websocket-extensions']}", expected "${extExpect}"`);
  }
  ws.socket.setNoDelay(true);
  await ws.waitConnected(3000);
  ws.base = ws.frames.length;  // frames before this are the connected message
  return ws;
}

// Frames the case caused: after `connected`, without heartbeat pings.
const caused = (ws) => ws.frames.slice(ws.base).filter((f) => f.opcode !== OP.PING);

const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Steps: a Buffer (one write), an array of Buffers (one write each), or
// {chop: Buffer, size, delay} (writes of `size` bytes, `delay` ms apart),
// {sleep: ms}.
async function perform(ws, steps) {
  for (const s of steps) {
    if (ws.tcpClosed) return;
    if (Buffer.isBuffer(s)) { ws.send(s); await tick(); }
    else if (Array.isArray(s)) { for (const b of s) { ws.send(b); await tick(); } }
    else if (s.sleep) await sleep(s.sleep);
    else if (s.chop) {
      const size = s.size || 1;
      for (let i = 0; i < s.chop.length && !ws.tcpClosed; i += size) {
        ws.send(s.chop.subarray(i, i + size));
        if (s.delay) await sleep(s.delay); else if ((i / size) % 64 === 0) await tick();
      }
    }
  }
}

// The client's clean close after an accepted case: close 1000 must be echoed
// and TCP closed.
async function cleanClose(ws) {
  ws.send(closeF(1000));
  try {
    await ws.waitClosed(3000);
  } catch {
    return { behaviorClose: 'FAILED', remoteCloseCode: ws.closeFrame()?.code ?? null, why: 'TCP not closed after close 1000' };
  }
  const c = ws.closeFrame();
  if (!c) return { behaviorClose: 'FAILED', remoteCloseCode: null, why: 'no close frame echoed' };
  return { behaviorClose: c.code === 1000 ? 'OK' : 'FAILED', remoteCloseCode: c.code, why: c.code === 1000 ? '' : `echoed ${c.code}` };
}

// accept: the steps are valid; `replies` (in order) come before the sentinel pong.
async function runAccept(ws, c) {
  await perform(ws, c.steps);
  ws.send(text(PING_MSG));
  const want = c.replies.length + 1;
  try {
    await ws.waitUntil(() => caused(ws).length >= want && matches(APP_PONG, caused(ws)[want - 1]), c.timeout || 5000, 'sentinel pong');
  } catch (e) {
    const cf = ws.closeFrame();
    return { behavior: 'FAILED', behaviorClose: cf ? 'OK' : 'FAILED', remoteCloseCode: cf?.code ?? null,
      why: `expected ${c.replies.length} replies then the sentinel pong; got [${caused(ws).map(show).join(' | ')}]${cf ? '' : ` (${e.message.split(';')[0]})`}` };
  }
  const got = caused(ws).slice(0, c.replies.length);
  for (let i = 0; i < c.replies.length; i++) {
    if (!matches(c.replies[i], got[i])) {
      return { behavior: 'FAILED', ...(await cleanClose(ws)), why: `reply ${i}: expected ${JSON.stringify(c.replies[i])}, got ${show(got[i])}` };
    }
  }
  return { behavior: 'OK', ...(await cleanClose(ws)) };
}

// fail: the server must close with `code` (after `replies`), then close TCP.
// failFastAt: index of the step after which the close must already happen
// (Autobahn's fail-fast on invalid UTF-8): OK when it does, NON-STRICT when
// it only comes after the rest.
async function runFail(ws, c) {
  let early = null;
  if (c.failFastAt !== undefined) {
    await perform(ws, c.steps.slice(0, c.failFastAt + 1));
    try { await ws.waitClosed(1000); early = true; } catch { early = false; }
    if (!early) await perform(ws, c.steps.slice(c.failFastAt + 1));
  } else {
    await perform(ws, c.steps);
  }
  // A server that accepted the input would answer the sentinel instead.
  if (!ws.tcpClosed) ws.send(text(PING_MSG));
  try { await ws.waitClosed(c.timeout || 3000); } catch { /* judged below */ }
  const cf = ws.closeFrame();
  const frames = caused(ws).filter((f) => f.opcode !== OP.CLOSE);
  const r = { remoteCloseCode: cf?.code ?? null };
  r.behaviorClose = cf && ws.tcpClosed ? 'OK' : 'FAILED';
  const codeOk = cf && (Array.isArray(c.code) ? c.code.includes(cf.code) : cf.code === c.code);
  const repliesOk = frames.length === c.replies.length && c.replies.every((m, i) => matches(m, frames[i]));
  if (!cf) r.why = `no close frame; frames [${caused(ws).map(show).join(' | ')}]${ws.tcpClosed ? '' : ', TCP still open'}`;
  else if (!codeOk) r.why = `close ${cf.code}, expected ${c.code}`;
  else if (!repliesOk) r.why = `replies before close: expected ${c.replies.length}, got [${frames.map(show).join(' | ')}]`;
  else if (!ws.tcpClosed) r.why = 'TCP not closed after the close frame';
  r.behavior = codeOk && repliesOk ? (early === false ? 'NON-STRICT' : 'OK') : 'FAILED';
  if (early === false && r.behavior === 'NON-STRICT') r.why = 'closed only after the whole message (not fail-fast)';
  return r;
}

// close: the client closes (steps end with its close frame); the server must
// answer `replies`, then echo `code` (null: an empty close) and close TCP,
// and send nothing after its close frame.
async function runClose(ws, c) {
  await perform(ws, c.steps);
  try { await ws.waitClosed(c.timeout || 3000); } catch { /* judged below */ }
  const cf = ws.closeFrame();
  const all = caused(ws);
  const idx = all.findIndex((f) => f.opcode === OP.CLOSE);
  const before = idx < 0 ? all : all.slice(0, idx);
  const after = idx < 0 ? [] : all.slice(idx + 1);
  const r = { remoteCloseCode: cf?.code ?? null, behaviorClose: cf && ws.tcpClosed ? 'OK' : 'FAILED' };
  const codeOk = cf && (Array.isArray(c.code) ? c.code.includes(cf.code) : cf.code === c.code);
  const repliesOk = before.length === c.replies.length && c.replies.every((m, i) => matches(m, before[i]));
  r.behavior = codeOk && repliesOk && after.length === 0 ? 'OK' : 'FAILED';
  if (!cf) r.why = `no close frame; frames [${all.map(show).join(' | ')}]`;
  else if (!codeOk) r.why = `close ${cf.code}, expected ${c.code}`;
  else if (!repliesOk) r.why = `replies before close: [${before.map(show).join(' | ')}]`;
  else if (after.length) r.why = `frames after close: [${after.map(show).join(' | ')}]`;
  else if (!ws.tcpClosed) r.why = 'TCP not closed';
  return r;
}

// ------------------------------------------------------------------ cases ---
const cases = [];
const accept = (id, description, steps, replies, o = {}) => cases.push({ id, description, kind: 'accept', steps, replies, ...o });
const fail = (id, description, steps, code, o = {}) => cases.push({ id, description, kind: 'fail', steps, code, replies: o.replies || [], ...o });
const closing = (id, description, steps, code, o = {}) => cases.push({ id, description, kind: 'close', steps, code, replies: o.replies || [], ...o });

// 1 Framing: text messages of 0 .. 64 KiB and more (1.2 binary: SPEC closes 1003).
[0, 125, 126, 127, 128, 65535, 65536].forEach((n, i) => {
  const m = messageOfSize(n);
  accept(`1.1.${i + 1}`, `text message of ${n} bytes`, [text(m.buf)], [J(m.reply)]);
});
{
  const m = messageOfSize(65536);
  accept('1.1.8', 'text message of 65536 bytes, written in chops of 997 bytes', [{ chop: text(m.buf), size: 997 }], [J(m.reply)]);
  const big = messageOfSize(1024 * 1024);
  accept('1.1.9', 'text message of 1 MiB (16-bit and 64-bit lengths above 64 KiB)', [text(big.buf)], [J(big.reply)]);
  accept('1.1.10', 'short text with a 64-bit length field', [text(SUB_MSG, { len64: true })], [SUBSCRIBED]);
  accept('1.1.11', 'short text with a 16-bit length field', [text(SUB_MSG, { len16: true })], [SUBSCRIBED]);
}
[0, 125, 126, 65536].forEach((n, i) => {
  fail(`1.2.${i + 1}`, `binary message of ${n} bytes: SPEC closes 1003`, [binary(Buffer.alloc(n, 0xfe))], 1003);
});

// 2 Ping/pong.
accept('2.1', 'ping without payload', [ping('')], [PONG('')]);
accept('2.2', 'ping with a small text payload', [ping('Hello, world!')], [PONG('Hello, world!')]);
accept('2.3', 'ping with a small binary payload', [ping(Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]))], [PONG(Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]))]);
accept('2.4', 'ping with 125 bytes of binary payload', [ping(Buffer.alloc(125, 0xfe))], [PONG(Buffer.alloc(125, 0xfe))]);
fail('2.5', 'ping with 126 bytes of payload', [ping(Buffer.alloc(126, 0xfe))], 1002);
accept('2.6', 'ping with 125 bytes, written 1 byte at a time', [{ chop: ping(Buffer.alloc(125, 0xfe)), size: 1, delay: 1 }], [PONG(Buffer.alloc(125, 0xfe))]);
accept('2.7', 'unsolicited pong without payload is ignored', [pong('')], []);
accept('2.8', 'unsolicited pong with payload is ignored', [pong('unsolicited pong payload')], []);
accept('2.9', 'unsolicited pong, then ping', [pong('unsolicited'), ping('ping payload')], [PONG('ping payload')]);
accept('2.10', '10 pings in a row', [Array.from({ length: 10 }, (_, i) => ping(`payload-${i}`))], Array.from({ length: 10 }, (_, i) => PONG(`payload-${i}`)));
accept('2.11', '10 pings in a row, written 1 byte at a time', [{ chop: Buffer.concat(Array.from({ length: 10 }, (_, i) => ping(`payload-${i}`))), size: 1 }], Array.from({ length: 10 }, (_, i) => PONG(`payload-${i}`)));
accept('2.12', 'ping with a zero mask key', [ping('zero mask', { maskKey: Buffer.alloc(4) })], [PONG('zero mask')]);

// 3 Reserved bits.
fail('3.1', 'text with RSV1', [text(SUB_MSG, { rsv: 4 })], 1002);
fail('3.2', 'text, text with RSV2, ping', [text(SUB_MSG), text(SUB_MSG, { rsv: 2 }), ping('')], 1002, { replies: [SUBSCRIBED] });
fail('3.3', 'text, text with RSV3 (RSV1+RSV2), ping, 1 byte at a time', [{ chop: Buffer.concat([text(SUB_MSG), text(SUB_MSG, { rsv: 3 }), ping('')]), size: 1 }], 1002, { replies: [SUBSCRIBED] });
fail('3.4', 'text, text with RSV3, ping, written frame by frame', [[text(SUB_MSG), text(SUB_MSG, { rsv: 1 }), ping('')]], 1002, { replies: [SUBSCRIBED] });
fail('3.5', 'binary with RSV1+RSV3', [binary(Buffer.alloc(8, 1), { rsv: 5 })], [1002, 1003]);
fail('3.6', 'ping with RSV2+RSV3', [ping('x', { rsv: 6 })], 1002);
fail('3.7', 'close with RSV1+RSV2+RSV3', [closeF(1000, '', { rsv: 7 })], 1002);
fail('3.8', 'continuation with RSV1', [text('{"type":', { fin: false }), cont('"ping"}', { rsv: 4 })], 1002);

// 4 Reserved opcodes.
[3, 4, 5, 6, 7].forEach((op, i) => {
  fail(`4.1.${i + 1}`, `non-control opcode ${op}${i % 2 ? ' with payload' : ''} after a text`, [text(SUB_MSG), fr(op, i % 2 ? 'reserved payload' : ''), ping('')], 1002, { replies: [SUBSCRIBED] });
});
[11, 12, 13, 14, 15].forEach((op, i) => {
  fail(`4.2.${i + 1}`, `control opcode ${op}${i % 2 ? ' with payload' : ''} after a text`, [text(SUB_MSG), fr(op, i % 2 ? 'reserved payload' : ''), ping('')], 1002, { replies: [SUBSCRIBED] });
});
fail('4.3.1', 'reserved opcode 5 written 1 byte at a time', [{ chop: Buffer.concat([text(SUB_MSG), fr(5, 'x')]), size: 1 }], 1002, { replies: [SUBSCRIBED] });

// 5 Fragmentation.
{
  const s = Buffer.from(SUB_MSG);
  const two = [text(s.subarray(0, 20), { fin: false }), cont(s.subarray(20))];
  fail('5.1', 'ping in 2 fragments', [ping('frag', { fin: false }), cont('ment')], 1002);
  fail('5.2', 'pong in 2 fragments', [pong('frag', { fin: false }), cont('ment')], 1002);
  accept('5.3', 'text in 2 fragments', [two], [SUBSCRIBED]);
  accept('5.4', 'text in 2 fragments, 1 byte at a time', [{ chop: Buffer.concat(two), size: 1 }], [SUBSCRIBED]);
  accept('5.5', 'text in 2 fragments, 1 byte at a time with 1 ms pauses', [{ chop: Buffer.concat(two), size: 1, delay: 1 }], [SUBSCRIBED]);
  accept('5.6', 'text in 2 fragments, ping in between', [[two[0], ping('in between'), two[1]]], [PONG('in between'), SUBSCRIBED]);
  accept('5.7', 'text in 2 fragments, ping in between, frame by frame with pauses', [two[0], { sleep: 50 }, ping('in between'), { sleep: 50 }, two[1]], [PONG('in between'), SUBSCRIBED]);
  accept('5.8', 'text in 2 fragments, ping in between, 1 byte at a time', [{ chop: Buffer.concat([two[0], ping('in between'), two[1]]), size: 1 }], [PONG('in between'), SUBSCRIBED]);
  fail('5.9', 'orphan continuation (FIN) then a text in 2 fragments', [cont('fragment', { fin: true }), ...two], 1002);
  fail('5.10', 'orphan continuation (FIN), 1 byte at a time', [{ chop: Buffer.concat([cont('fragment'), ...two]), size: 1 }], 1002);
  fail('5.11', 'orphan continuation (FIN), 1 byte at a time with pauses', [{ chop: Buffer.concat([cont('fragment'), ...two]), size: 1, delay: 1 }], 1002);
  fail('5.12', 'orphan continuation (no FIN) then a text in 2 fragments', [cont('fragment', { fin: false }), ...two], 1002);
  fail('5.13', 'orphan continuation (no FIN), 1 byte at a time', [{ chop: Buffer.concat([cont('fragment', { fin: false }), ...two]), size: 1 }], 1002);
  fail('5.14', 'orphan continuation (no FIN), 1 byte at a time with pauses', [{ chop: Buffer.concat([cont('fragment', { fin: false }), ...two]), size: 1, delay: 1 }], 1002);
  fail('5.15', 'text in 2 fragments, then continuation, then text', [...two, cont('fragment3', { fin: false }), text('fragment4')], 1002, { replies: [SUBSCRIBED] });
  fail('5.16', 'twice: orphan continuation (no FIN), text (no FIN), continuation (FIN)', [[cont('1', { fin: false }), text('2', { fin: false }), cont('3')], [cont('1', { fin: false }), text('2', { fin: false }), cont('3')]], 1002);
  fail('5.17', 'twice: orphan continuation (FIN), text (no FIN), continuation (FIN)', [[cont('1'), text('2', { fin: false }), cont('3')]], 1002);
  fail('5.18', 'text (no FIN) then a new text (FIN) inside the fragmented message', [text('{"type":', { fin: false }), text(PING_MSG)], 1002);
  const five = fragments(s, 9);
  accept('5.19', 'text in 5 fragments, pings between them, pauses', [five[0], five[1], ping('p1'), { sleep: 100 }, five[2], five[3], ping('p2'), { sleep: 100 }, five[4]], [PONG('p1'), PONG('p2'), SUBSCRIBED]);
  accept('5.20', 'text in 5 fragments, pings between them, 1 byte at a time', [{ chop: Buffer.concat([five[0], five[1], ping('p1'), five[2], five[3], ping('p2'), five[4]]), size: 1 }], [PONG('p1'), PONG('p2'), SUBSCRIBED]);
  accept('5.21', 'text in 46 fragments of 1 byte', [fragments(s, 1)], [SUBSCRIBED]);
  accept('5.22', 'text with empty fragments in between (and an empty last one)', [[text(s.subarray(0, 10), { fin: false }), cont('', { fin: false }), cont(s.subarray(10), { fin: false }), cont('')]], [SUBSCRIBED]);
  accept('5.23', 'close code-less ping and pong between fragments', [[text(s.subarray(0, 10), { fin: false }), pong('x'), ping(''), cont(s.subarray(10))]], [PONG(''), SUBSCRIBED]);
  fail('5.24', 'binary (no FIN) then continuation: SPEC closes 1003', [binary('ab', { fin: false }), cont('cd')], 1003);
}

// 6 UTF-8 handling.
{
  const hello = 'Hello-µ@ßöäüàá-UTF-8!!';
  const kosme = 'κόσμε';
  accept('6.1.1', 'empty text message', [text('')], [J({ type: 'error', code: 'bad_request' })]);
  accept('6.1.2', 'empty text in 3 empty fragments', [[text('', { fin: false }), cont('', { fin: false }), cont('')]], [J({ type: 'error', code: 'bad_request' })]);
  accept('6.1.3', 'empty fragments around a valid message', [[text('', { fin: false }), cont(SUB_MSG, { fin: false }), cont('')]], [SUBSCRIBED]);
  accept('6.2.1', 'valid UTF-8 in one frame', [text(subNamed(hello))], [UNKNOWN(hello)]);
  accept('6.2.2', 'valid UTF-8 in 2 fragments split on a code point boundary', [fragments(subNamed(hello), 40)], [UNKNOWN(hello)]);
  accept('6.2.3', 'valid UTF-8, 1 byte at a time', [{ chop: text(subNamed(hello)), size: 1 }], [UNKNOWN(hello)]);
  accept('6.2.4', 'valid UTF-8 in fragments of 1 byte (split inside code points)', [fragments(subNamed(kosme), 1)], [UNKNOWN(kosme)]);
  // Every split point of a message made of 2-, 3- and 4-byte sequences.
  const mixed = subNamed('µ€𝄞ü€');
  accept('6.2.5', 'valid UTF-8 split at every byte into 2 fragments (one connection per split)', [], [], { splits: mixed });
  const bad = Buffer.concat([B(kosme), Buffer.from([0xed, 0xa0, 0x80]), B('edited')]);
  fail('6.3.1', 'invalid UTF-8 (surrogate) in one frame', [text(bad)], 1007);
  fail('6.3.2', 'invalid UTF-8 (surrogate), 1 byte at a time', [{ chop: text(bad), size: 1 }], 1007);
  // Fail fast: the close must come before the message is complete.
  const f1 = B(kosme);
  const f2 = Buffer.from([0xf4, 0x90, 0x80, 0x80]);
  const f3 = B('edited');
  fail('6.4.1', 'fail fast: invalid 2nd of 3 fragments, close before the 3rd', [text(f1, { fin: false }), text(f2, { fin: false, opcode: OP.CONT }), cont(f3)], 1007, { failFastAt: 1 });
  fail('6.4.2', 'fail fast: invalid byte 0x90 after 0xF4 across fragments', [text(Buffer.concat([f1, Buffer.from([0xf4])]), { fin: false }), cont(Buffer.from([0x90, 0x80, 0x80]), { fin: false }), cont(f3)], 1007, { failFastAt: 1 });
  fail('6.4.3', 'fail fast inside one frame: invalid bytes arrive, the frame\'s rest does not', [text(Buffer.concat([f1, f2, f3])).subarray(0, 6 + f1.length + 2)], 1007, { failFastAt: 0 });
  fail('6.4.4', 'fail fast inside one frame, 1 byte at a time', [{ chop: text(Buffer.concat([f1, f2, f3])).subarray(0, 6 + f1.length + 2), size: 1, delay: 1 }], 1007, { failFastAt: 0 });
  fail('6.4.5', 'fail fast: JSON ping truncated by an invalid byte, rest never sent', [text(Buffer.concat([B('{"type":"pi'), Buffer.from([0xc0])]), { fin: false })], 1007, { failFastAt: 0 });

  // Markus Kuhn's decoder test vectors (Autobahn 6.5-6.22). Valid ones go in
  // a subscribe and come back quoted; invalid ones are the whole message.
  const valid = [
    ['6.5.1', 'κόσμε', 'Greek word'],
    ['6.6.1', '\u0080', 'first 2-byte sequence U+0080'],
    ['6.6.2', '\u0800', 'first 3-byte sequence U+0800'],
    ['6.6.3', '\u{10000}', 'first 4-byte sequence U+10000'],
    ['6.7.1', '\u007f', 'last 1-byte sequence U+007F'],
    ['6.7.2', '\u07ff', 'last 2-byte sequence U+07FF'],
    ['6.7.3', '\uffff', 'last 3-byte sequence U+FFFF'],
    ['6.7.4', '\u{10ffff}', 'last 4-byte sequence U+10FFFF'],
    ['6.8.1', '\ud7ff', 'U+D7FF (below the surrogates)'],
    ['6.8.2', '\ue000', 'U+E000 (above the surrogates)'],
    ['6.8.3', '\ufffd', 'U+FFFD'],
    ['6.8.4', '\ufffe', 'noncharacter U+FFFE'],
    ['6.8.5', '\u{1fffe}', 'noncharacter U+1FFFE'],
    ['6.8.6', '\u{10fffe}', 'noncharacter U+10FFFE'],
    ['6.8.7', '\ufdd0\ufdef', 'noncharacters U+FDD0, U+FDEF'],
    ['6.8.8', '𝄞😀€£', 'mixed 2/3/4-byte sequences'],
  ];
  for (const [id, s, d] of valid) accept(id, `valid UTF-8: ${d}`, [text(subNamed(s))], [UNKNOWN(s)]);
  accept('6.8.9', 'valid UTF-8: U+0000 as a raw byte (invalid JSON, valid text)', [text(Buffer.from([0x00]))], [ANY_ERROR]);
  const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
  const invalid = [
    ['6.9.1', 'f8 88 80 80 80', '5-byte sequence'],
    ['6.9.2', 'fc 84 80 80 80 80', '6-byte sequence'],
    ['6.9.3', 'f4 90 80 80', 'above U+10FFFF'],
    ['6.9.4', 'f7 bf bf bf', 'U+1FFFFF'],
    ['6.10.1', '80', 'lone continuation 0x80'],
    ['6.10.2', 'bf', 'lone continuation 0xBF'],
    ['6.10.3', '80 bf 80 bf', 'continuation bytes only'],
    ['6.10.4', Array.from({ length: 64 }, (_, i) => (0x80 + i).toString(16)).join(''), 'all 64 continuation bytes'],
    ['6.11.1', 'c0 20 c1 20', 'lonely 2-byte starts followed by space'],
    ['6.11.2', 'e0 20 ef 20', 'lonely 3-byte starts followed by space'],
    ['6.11.3', 'f0 20 f7 20', 'lonely 4-byte starts followed by space'],
    ['6.11.4', 'f8 20 fc 20', 'lonely 5/6-byte starts followed by space'],
    ['6.12.1', 'c2', 'message ends after a 2-byte start'],
    ['6.12.2', 'e0 a0', 'message ends inside a 3-byte sequence'],
    ['6.12.3', 'f0 90 80', 'message ends inside a 4-byte sequence'],
    ['6.12.4', 'df', 'last byte missing (U+07FF)'],
    ['6.12.5', 'ef bf', 'last byte missing (U+FFFF)'],
    ['6.12.6', 'f4 8f bf', 'last byte missing (U+10FFFF)'],
    ['6.12.7', 'c2 e0 a0 f0 90 80', 'concatenated incomplete sequences'],
    ['6.13.1', 'fe', 'impossible byte 0xFE'],
    ['6.13.2', 'ff', 'impossible byte 0xFF'],
    ['6.13.3', 'fe fe ff ff', 'impossible bytes'],
    ['6.14.1', 'c0 af', 'overlong "/" (2 bytes)'],
    ['6.14.2', 'e0 80 af', 'overlong "/" (3 bytes)'],
    ['6.14.3', 'f0 80 80 af', 'overlong "/" (4 bytes)'],
    ['6.14.4', 'c1 bf', 'maximum overlong 2-byte'],
    ['6.14.5', 'e0 9f bf', 'maximum overlong 3-byte'],
    ['6.14.6', 'f0 8f bf bf', 'maximum overlong 4-byte'],
    ['6.14.7', 'c0 80', 'overlong NUL (2 bytes)'],
    ['6.14.8', 'e0 80 80', 'overlong NUL (3 bytes)'],
    ['6.15.1', 'ed a0 80', 'surrogate U+D800'],
    ['6.15.2', 'ed ad bf', 'surrogate U+DB7F'],
    ['6.15.3', 'ed ae 80', 'surrogate U+DB80'],
    ['6.15.4', 'ed af bf', 'surrogate U+DBFF'],
    ['6.15.5', 'ed b0 80', 'surrogate U+DC00'],
    ['6.15.6', 'ed bf bf', 'surrogate U+DFFF'],
    ['6.16.1', 'ed a0 80 ed b0 80', 'paired surrogates U+D800 U+DC00'],
    ['6.16.2', 'ed af bf ed bf bf', 'paired surrogates U+DBFF U+DFFF'],
  ];
  for (const [id, h, d] of invalid) fail(id, `invalid UTF-8: ${d}`, [text(hex(h))], 1007);
  // The same inside valid JSON, 1 byte at a time.
  ['6.9.3', '6.10.1', '6.12.2', '6.14.1', '6.15.1'].forEach((src, i) => {
    const [, h, d] = invalid.find((v) => v[0] === src);
    fail(`6.17.${i + 1}`, `invalid UTF-8 inside a subscribe, 1 byte at a time: ${d}`, [{ chop: text(subNamed(hex(h))), size: 1 }], 1007);
  });
  fail('6.18.1', 'invalid UTF-8 in a fragmented message, valid first fragment answered only after', [[text(subNamed(kosme)), text(B('{"type":"subscribe","channels":["'), { fin: false }), cont(hex('ed a0 80'), { fin: false }), cont('"]}')]], 1007, { replies: [UNKNOWN(kosme)] });
}

// 7 Close handling.
{
  closing('7.1.1', 'text, then close', [text(SUB_MSG), closeF(1000)], 1000, { replies: [SUBSCRIBED] });
  closing('7.1.2', 'close twice', [[closeF(1000), closeF(1000)]], 1000);
  closing('7.1.3', 'close, then ping: no pong after close', [[closeF(1000), ping('after close')]], 1000);
  closing('7.1.4', 'close, then text: no reply after close', [[closeF(1000), text(PING_MSG)]], 1000);
  closing('7.1.5', 'text fragment, close, then the last fragment', [[text('{"type":', { fin: false }), closeF(1000), cont('"ping"}')]], 1000);
  closing('7.1.6', '256 KiB message, ping, close', [[text(messageOfSize(256 * 1024).buf), ping('before close'), closeF(1000)]], 1000, { replies: [SUBSCRIBED, PONG('before close')] });
  closing('7.1.7', 'close then garbage bytes', [Buffer.concat([closeF(1000), Buffer.from('not a frame at all \xff\xfe')])], 1000);
  closing('7.3.1', 'close without payload: echoed without a code', [closeF(undefined)], null);
  fail('7.3.2', 'close with a 1-byte payload', [closeRaw(Buffer.from([0x03]))], 1002);
  closing('7.3.3', 'close 1000 without a reason', [closeF(1000)], 1000);
  closing('7.3.4', 'close 1000 with a reason', [closeF(1000, 'Hello World!')], 1000);
  closing('7.3.5', 'close 1000 with a 123-byte reason', [closeF(1000, 'x'.repeat(123))], 1000);
  fail('7.3.6', 'close 1000 with a 124-byte reason (control payload 126)', [closeF(1000, 'x'.repeat(124))], 1002);
  fail('7.5.1', 'close 1000 with an invalid UTF-8 reason', [closeRaw(Buffer.concat([Buffer.from([0x03, 0xe8]), hexOf('cebae1bdb9cf83cebcceb5eda080656469746564')]))], 1007);
  [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4401, 4999].forEach((code, i) => {
    closing(`7.7.${i + 1}`, `valid close code ${code} is echoed`, [closeF(code, 'reason')], code);
  });
  [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].forEach((code, i) => {
    fail(`7.9.${i + 1}`, `invalid close code ${code}`, [closeF(code)], 1002);
  });
  closing('7.13.1', 'close 1000, written 1 byte at a time', [{ chop: closeF(1000, 'bye'), size: 1, delay: 1 }], 1000);
  closing('7.13.2', 'close while a message is half-sent in the same write', [Buffer.concat([text(SUB_MSG), text('{"ty', { fin: false }), closeF(1001)])], 1001, { replies: [SUBSCRIBED] });
}
function hexOf(s) { return Buffer.from(s, 'hex'); }

// 9 Limits and performance (max_message_size: 16 MiB on /ws/portfolio,
// 64 KiB on /ws/limit).
{
  [64 * 1024, 256 * 1024, 1 << 20, 4 << 20, 8 << 20, 16 << 20].forEach((n, i) => {
    const m = messageOfSize(n);
    accept(`9.1.${i + 1}`, `text message of ${n} bytes in one frame`, [text(m.buf)], [J(m.reply)], { timeout: 30000 });
  });
  fail('9.2.1', 'binary message of 64 KiB: SPEC closes 1003', [binary(Buffer.alloc(65536, 0xfe))], 1003);
  const four = messageOfSize(4 << 20);
  [64, 256, 4096, 65536, 1 << 20, 4 << 20].forEach((size, i) => {
    accept(`9.3.${i + 1}`, `4 MiB text message in fragments of ${size} bytes`, [fragments(four.buf, size)], [J(four.reply)], { timeout: 30000 });
  });
  const one = messageOfSize(1 << 20);
  [64, 4096, 131072].forEach((size, i) => {
    accept(`9.5.${i + 1}`, `1 MiB text message written in chops of ${size} bytes`, [{ chop: text(one.buf), size }], [J(one.reply)], { timeout: 30000 });
  });
  accept('9.7.1', '1000 small text messages in a row', [Array.from({ length: 1000 }, () => text(PING_MSG))], Array.from({ length: 1000 }, () => APP_PONG), { timeout: 20000 });
  accept('9.7.2', '1000 small text messages in one write', [Buffer.concat(Array.from({ length: 1000 }, () => text(PING_MSG)))], Array.from({ length: 1000 }, () => APP_PONG), { timeout: 20000 });
  accept('9.8.1', '1000 pings in one write', [Buffer.concat(Array.from({ length: 1000 }, (_, i) => ping(String(i))))], Array.from({ length: 1000 }, (_, i) => PONG(String(i))), { timeout: 20000 });

  const L = '/ws/limit';
  const atLimit = messageOfSize(LIMIT);
  const overLimit = messageOfSize(LIMIT + 1);
  accept('9.9.1', 'message of exactly max_message_size (64 KiB)', [text(atLimit.buf)], [J(atLimit.reply)], { path: L });
  fail('9.9.2', 'message of max_message_size + 1', [text(overLimit.buf)], 1009, { path: L });
  fail('9.9.3', 'fragmented message whose total is max_message_size + 1', [fragments(overLimit.buf, 4096)], 1009, { path: L });
  accept('9.9.4', 'fragmented message of exactly max_message_size', [fragments(atLimit.buf, 4096)], [J(atLimit.reply)], { path: L });
  accept('9.9.5', 'message of max_message_size, 1 byte at a time', [{ chop: text(atLimit.buf), size: 1 }], [J(atLimit.reply)], { path: L, timeout: 20000 });
  fail('9.9.6', 'message of max_message_size + 1, 1 byte at a time', [{ chop: text(overLimit.buf), size: 1 }], 1009, { path: L, timeout: 20000 });
  fail('9.9.7', 'a frame header announcing 2^62 bytes is refused at once', [Buffer.concat([Buffer.from([0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0]), Buffer.alloc(4, 0x11)])], 1009, { path: L, failFastAt: 0 });
  fail('9.9.8', 'a 64-bit length with the most significant bit set', [Buffer.concat([Buffer.from([0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0x10]), Buffer.alloc(4, 0x11)])], 1002, { path: L });
  fail('9.9.9', 'an over-limit fragment after an accepted message', [text(SUB_MSG), text('x'.repeat(40000), { fin: false }), cont('y'.repeat(40000))], 1009, { path: L, replies: [SUBSCRIBED] });
  fail('9.9.10', 'an unmasked client frame', [text(SUB_MSG, { mask: false })], 1002);
}

// 10 Misc: auto-fragmentation.
{
  const m = messageOfSize(LIMIT);
  accept('10.1.1', '64 KiB message auto-fragmented into 1300-byte frames', [fragments(m.buf, 1300)], [J(m.reply)], { path: '/ws/limit' });
  accept('10.1.2', '64 KiB message auto-fragmented into 1300-byte frames, written in 1000-byte chops', [{ chop: Buffer.concat(fragments(m.buf, 1300)), size: 1000 }], [J(m.reply)], { path: '/ws/limit' });
}

// 12/13 permessage-deflate: client messages compressed (raw DEFLATE, sync
// flush, 00 00 ff ff removed, RSV1 on the first frame), under each offer.
{
  const AGREED = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
  const CHROME = 'permessage-deflate; client_max_window_bits';
  const D = { ext: CHROME, extExpect: AGREED };
  const deflated = (buf, windowBits = 15) => {
    const out = zlib.deflateRawSync(B(buf), { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return out.subarray(0, out.length - 4);
  };
  const ztext = (buf, o = {}) => text(deflated(buf, o.windowBits), { rsv: 4, ...o });
  // A subscribe naming a pseudo-random ASCII channel of n bytes: the error
  // quoting it proves the round trip (and it compresses only moderately).
  const named = (n) => {
    let x = 12345, name = '';
    while (name.length < n) { x = (x * 1103515245 + 12345) & 0x7fffffff; name += String.fromCharCode(97 + (x >> 16) % 26); }
    return { buf: subNamed(name), reply: UNKNOWN(name.slice(0, 40)) };
  };
  [0, 16, 64, 256, 1024, 4096, 16384, 65536, 1024 * 1024].forEach((n, i) => {
    const m = messageOfSize(n);
    accept(`12.1.${i + 1}`, `compressed text message of ${n} bytes`, [ztext(m.buf)], [J(m.reply)], D);
  });
  [64, 1024, 16384, 131072].forEach((n, i) => {
    const m = named(n);
    accept(`12.2.${i + 1}`, `compressed subscribe naming ${n} random letters (round trip)`, [ztext(m.buf)], [m.reply], D);
  });
  {
    const m = named(20000);
    const z = deflated(m.buf);
    const frags = (size) => {
      const out = [];
      for (let i = 0; i < z.length; i += size) out.push(fr(i === 0 ? OP.TEXT : OP.CONT, z.subarray(i, i + size), { fin: i + size >= z.length, rsv: i === 0 ? 4 : 0 }));
      return out;
    };
    accept('12.3.1', 'compressed message in 1300-byte fragments', [frags(1300)], [m.reply], D);
    accept('12.3.2', 'compressed message in 97-byte fragments, a ping before each', [frags(97).flatMap((f, i) => [ping(String(i)), f])],
      [...frags(97).map((_, i) => PONG(String(i))), m.reply], D);
    accept('12.3.3', 'compressed message written 1 byte at a time', [{ chop: ztext(m.buf), size: 1 }], [m.reply], { ...D, timeout: 20000 });
    accept('12.4.1', 'compressed and uncompressed messages interleaved', [[ztext(SUB_MSG), text(PING_MSG), ztext(PING_MSG), text(SUB_MSG)]],
      [SUBSCRIBED, APP_PONG, APP_PONG, SUBSCRIBED], D);
    accept('12.4.2', '200 compressed messages in one write (no context carried over)', [Buffer.concat(Array.from({ length: 200 }, () => ztext(PING_MSG)))],
      Array.from({ length: 200 }, () => APP_PONG), { ...D, timeout: 10000 });
  }
  // 13: the offers clients make; each must be answered and then work.
  const offers = [
    ['permessage-deflate', AGREED],
    [CHROME, AGREED],
    ['permessage-deflate; client_no_context_takeover', AGREED],
    ['permessage-deflate; server_no_context_takeover', AGREED],
    ['permessage-deflate; client_max_window_bits=9', AGREED],
    ['permessage-deflate; server_max_window_bits=9, permessage-deflate', AGREED],  // a smaller window is declined (issue 15)
    ['permessage-deflate; server_max_window_bits=15; client_max_window_bits=15', `${AGREED}; server_max_window_bits=15`],
    ['permessage-deflate; server_max_window_bits=8, permessage-deflate; client_max_window_bits', AGREED],
  ];
  offers.forEach(([ext, extExpect], i) => {
    const m = named(4096);
    accept(`13.${i + 1}.1`, `offer "${ext}": compressed messages (window 9 and 15)`, [[ztext(m.buf, { windowBits: 9 }), ztext(m.buf)]], [m.reply, m.reply], { ext, extExpect });
  });
  accept('13.9.1', 'offer "permessage-deflate; server_max_window_bits=8" is declined: no extension, plain text works',
    [text(SUB_MSG)], [SUBSCRIBED], { ext: 'permessage-deflate; server_max_window_bits=8', extExpect: undefined });
  fail('13.9.2', 'declined offer: RSV1 stays a protocol error', [ztext(SUB_MSG)], 1002, { ext: 'permessage-deflate; server_max_window_bits=8', extExpect: undefined });
  accept('13.10.1', 'offer "permessage-deflate; server_max_window_bits=9" is declined (issue 15): no extension, plain text works',
    [text(SUB_MSG)], [SUBSCRIBED], { ext: 'permessage-deflate; server_max_window_bits=9', extExpect: undefined });
  // Failures with the extension on.
  fail('12.5.1', 'compressed message over max_message_size once inflated', [ztext(messageOfSize(LIMIT + 1).buf)], 1009, { ...D, path: '/ws/limit' });
  accept('12.5.2', 'compressed message of exactly max_message_size', [ztext(messageOfSize(LIMIT).buf)], [J(messageOfSize(LIMIT).reply)], { ...D, path: '/ws/limit' });
  fail('12.5.3', 'a deflate bomb (16 MiB of spaces) on a 64 KiB limit', [ztext(Buffer.alloc(16 * 1024 * 1024, 0x20))], 1009, { ...D, path: '/ws/limit' });
  fail('12.5.4', 'invalid DEFLATE data', [text(Buffer.from([0xff, 0xfe, 0xfd, 0xfc]), { rsv: 4 })], 1007, D);
  fail('12.5.5', 'DEFLATE data cut short', [text(deflated(named(5000).buf).subarray(0, 1000), { rsv: 4 })], 1007, D);
  fail('12.5.6', 'valid DEFLATE of invalid UTF-8', [ztext(subNamed(Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80])))], 1007, D);
  fail('12.5.7', 'RSV1 on a continuation frame', [[text(deflated(SUB_MSG).subarray(0, 4), { rsv: 4, fin: false }), cont(deflated(SUB_MSG).subarray(4), { rsv: 4 })]], 1002, D);
  fail('12.5.8', 'RSV1 on a ping', [ping('x', { rsv: 4 })], 1002, D);
  fail('12.5.9', 'RSV1 on a close', [closeF(1000, '', { rsv: 4 })], 1002, D);
  fail('12.5.10', 'RSV2 with the extension on', [text(SUB_MSG, { rsv: 2 })], 1002, D);
  fail('12.5.11', 'compressed binary: SPEC closes 1003', [binary(deflated('abc'), { rsv: 4 })], 1003, D);
}

// ------------------------------------------------------------------- main ---
async function runCase(c) {
  if (c.splits) return runSplits(c);
  const ws = await open(c.path || '/ws/portfolio', c.ext, c.extExpect);
  try {
    if (c.kind === 'accept') return await runAccept(ws, c);
    if (c.kind === 'fail') return await runFail(ws, c);
    return await runClose(ws, c);
  } finally {
    ws.destroy();
  }
}

// 6.2.5: one connection per split point of `c.splits` into 2 fragments.
async function runSplits(c) {
  const buf = c.splits;
  const name = buf.subarray(Buffer.byteLength('{"type":"subscribe","channels":["'), buf.length - 3).toString('utf8');
  for (let k = 1; k < buf.length; k++) {
    const ws = await open('/ws/portfolio');
    try {
      const r = await runAccept(ws, { steps: [[text(buf.subarray(0, k), { fin: false }), cont(buf.subarray(k))]], replies: [UNKNOWN(name)] });
      if (r.behavior !== 'OK' || r.behaviorClose !== 'OK') return { ...r, why: `split at ${k}: ${r.why}` };
    } finally {
      ws.destroy();
    }
  }
  return { behavior: 'OK', behaviorClose: 'OK', remoteCloseCode: 1000 };
}

async function main() {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const selected = FILTER ? cases.filter((c) => FILTER.test(c.id)) : cases;
  const results = {};
  const counts = { OK: 0, 'NON-STRICT': 0, FAILED: 0 };
  let exit = 0;
  env = await startEnv({
    nginx: {
      http: ['portfolio_stream_max_connections 1000;'],
      server: ['portfolio_stream_max_connections_per_user 1000;', 'portfolio_stream_heartbeat 120s;', 'portfolio_stream_session_recheck 0;'],
      location: [`portfolio_stream_max_message_size ${BIG};`],
      locations: [`location = /ws/limit { portfolio_stream on; portfolio_stream_max_message_size ${LIMIT}; }`],
    },
  });
  try {
    cookie = (await env.login('conformance')).cookie;
    const t0 = Date.now();
    for (const c of selected) {
      const start = Date.now();
      let r;
      try {
        r = await runCase(c);
      } catch (e) {
        r = { behavior: 'FAILED', behaviorClose: 'FAILED', remoteCloseCode: null, why: `exception: ${e.message}` };
      }
      results[c.id] = {
        behavior: r.behavior,
        behaviorClose: r.behaviorClose,
        remoteCloseCode: r.remoteCloseCode,
        duration: Date.now() - start,
        description: c.description,
        expected: c.kind === 'accept' ? 'replies, then a clean close 1000' : `close ${Array.isArray(c.code) ? c.code.join('|') : c.code}`,
        ...(r.why ? { detail: r.why } : {}),
      };
      // A FAILED close handshake fails the case too.
      const verdict = r.behavior === 'OK' && r.behaviorClose !== 'OK' ? 'FAILED' : r.behavior;
      results[c.id].behavior = verdict;
      counts[verdict] = (counts[verdict] || 0) + 1;
      if (verdict === 'FAILED') console.error(`FAILED ${c.id} (${c.description}): ${r.why || ''}`);
      else if (verdict !== 'OK') console.error(`${verdict} ${c.id} (${c.description}): ${r.why || ''}`);
    }
    // nginx kept serving and stops cleanly (no alert/crash in error.log).
    await stopAndCheckLog(env);
    const index = { [AGENT]: results };
    fs.writeFileSync(path.join(OUT_DIR, 'index.json'), JSON.stringify(index, null, 2) + '\n');
    const total = selected.length;
    const line = `conformance: ${total} cases: ${counts.OK} OK, ${counts['NON-STRICT']} NON-STRICT, ${counts.FAILED} FAILED in ${((Date.now() - t0) / 1000).toFixed(1)} s (${path.join(OUT_DIR, 'index.json')})`;
    fs.writeFileSync(path.join(OUT_DIR, 'summary.txt'), line + '\n');
    console.log(line);
    if (counts.FAILED) exit = 1;
  } catch (e) {
    console.error(`conformance: aborted: ${e.stack || e.message}`);
    exit = 1;
  } finally {
    await stopEnv(env).catch(() => {});
  }
  process.exit(exit);
}

main();
