// Hostile-input corpus (issue 6, part 4) against the real module in real
// nginx: each input gets its documented answer, nginx keeps serving a
// regular client throughout, and the worker's RSS returns near its baseline.
//
// Documented answers (also in tests/conformance/README.md):
//   64 KiB of headers / 10,000 cookies with nginx's default
//     large_client_header_buffers (4 8k)       -> 400 from nginx itself
//   the same with buffers big enough (4 256k)   -> the module parses them:
//     101 with the session cookie, 401 without
//   2,000 header lines                          -> 400 from nginx ("too many header lines")
//   duplicate Sec-WebSocket-Key                 -> 400
//   cookie value > 4096 bytes, bad %-escapes,   -> 401
//   right-length signature with wrong bytes     -> 401
//   events: invalid JSON, 100,000-level nesting, over max_event_size,
//     binary garbage                            -> dropped, counted in events.invalid
//   1,000 connections vanishing without close   -> all freed (activeConnections 0)
//   slowloris in the handshake                  -> nginx's client_header_timeout closes it
//   slowloris after the handshake               -> bytes count as liveness; the frame is
//     answered once complete; memory is bounded by max_message_size
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { startEnv, stopEnv, stopAndCheckLog, sleep } from '../integration/lib/env.mjs';
import { freePort } from '../integration/lib/ports.mjs';
import { handshake, RawWs } from '../integration/lib/raw.mjs';
import { buildFrame, OP, newKey } from '../integration/lib/frames.mjs';
import { cookieFor } from '../integration/lib/app.mjs';
import { connectUser } from '../integration/lib/wsclient.mjs';

const SANITIZED = !!process.env.PS_SANITIZE && process.env.PS_SANITIZE !== '0' && process.env.PS_SANITIZE !== 'OFF';
// RSS may grow by this much over the baseline (glibc keeps some freed memory
// in its arenas; a leak of ~1 KiB per connection would show as > 1 MiB per
// 1,000 connections on top of that; we allow one generous step).
const RSS_TOLERANCE_KB = 12 * 1024;

let env;
let bigPort;
let cookie;
let stats;

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}
const worker = () => env.nginx.workerPids()[0];

async function getStats() {
  const r = await fetch(`${env.nginx.httpBase}/api/admin/websocket-stats`);
  assert.equal(r.status, 200);
  return r.json();
}

// A regular user connected for the whole file: it must keep receiving events.
let witness;
async function witnessStillServed(tag) {
  const ev = { type: 'order_update', data: { id: `witness-${tag}` } };
  await env.publish('witness', ev);
  await witness.waitMessage((m) => m.type === 'order_update' && m.data.id === `witness-${tag}`, 5000, `witness event ${tag}`);
  // And a fresh handshake still works.
  const c = await env.user('witness');
  c.terminate();
}

before(async () => {
  bigPort = await freePort();
  env = await startEnv({
    nginx: {
      stats: true,
      http: [
        'portfolio_stream_max_connections 2000;',
        'portfolio_stream_max_event_size 256k;',
        // A second server whose header buffers let 64 KiB of headers and
        // 10,000 cookies reach the module.
        `server { listen 127.0.0.1:${bigPort}; large_client_header_buffers 4 256k;
                  client_header_timeout 3s;
                  location = /ws/portfolio { portfolio_stream on; } }`,
      ],
      server: ['client_header_timeout 3s;', 'portfolio_stream_max_connections_per_user 2000;', 'portfolio_stream_batch_window 0;',
        'portfolio_stream_session_recheck 0;'],
    },
  });
  cookie = (await env.login('hostile')).cookie;
  witness = await env.user('witness');
  await witnessStillServed('start');
});

after(async () => { if (env) await stopEnv(env); });

const hs = (o, port = env.port) => handshake(port, o, { timeout: 10000 });

describe('hostile handshakes', () => {
  it('64 KiB in one header: 400 from nginx (large_client_header_buffers)', async () => {
    const r = await hs({ cookie, headers: [['X-Big', 'a'.repeat(64 * 1024)]] });
    assert.equal(r.status, 400);
  });

  it('64 KiB over 64 headers: 400 from nginx', async () => {
    const headers = Array.from({ length: 64 }, (_, i) => [`X-H${i}`, 'b'.repeat(1024)]);
    const r = await hs({ cookie, headers });
    assert.equal(r.status, 400);
  });

  it('64 KiB of headers with large buffers: the module answers 101', async () => {
    const headers = Array.from({ length: 64 }, (_, i) => [`X-H${i}`, 'b'.repeat(1024)]);
    const r = await hs({ cookie, headers }, bigPort);
    assert.equal(r.status, 101);
    r.socket.destroy();
  });

  it('duplicate Sec-WebSocket-Key: 400', async () => {
    const r = await hs({ cookie, headers: [['Sec-WebSocket-Key', newKey()]] });
    assert.equal(r.status, 400);
    const same = newKey();
    const r2 = await hs({ cookie, key: same, headers: [['Sec-WebSocket-Key', same]] });
    assert.equal(r2.status, 400);
  });

  it('10,000 cookies: 400 from nginx with default buffers', async () => {
    const many = Array.from({ length: 10000 }, (_, i) => `c${i}=v${i}`).join('; ');
    const r = await hs({ cookie: `${many}; ${cookie}` });
    assert.equal(r.status, 400);
  });

  it('10,000 cookies with large buffers: 101 with the session cookie last, 401 without it', async () => {
    const many = Array.from({ length: 10000 }, (_, i) => `c${i}=v${i}`).join('; ');
    const t0 = Date.now();
    const ok = await hs({ cookie: `${many}; ${cookie}` }, bigPort);
    assert.equal(ok.status, 101);
    ok.socket.destroy();
    const no = await hs({ cookie: many }, bigPort);
    assert.equal(no.status, 401);
    // The session cookie among 500 Cookie header lines: 101 (the module
    // stops looking once it has found it). 2,000 header lines: nginx's own
    // limit ("client sent too many header lines") answers 400.
    const lines = (n) => Array.from({ length: n }, (_, i) => ['Cookie', `d${i}=x`]);
    const split = await hs({ headers: [...lines(250), ['Cookie', cookie], ...lines(250)] }, bigPort);
    assert.equal(split.status, 101);
    split.socket.destroy();
    const tooMany = await hs({ cookie, headers: lines(2000) }, bigPort);
    assert.equal(tooMany.status, 400);
    assert.ok(Date.now() - t0 < 5000, 'cookie parsing took too long');
  });

  it('overlong and badly percent-encoded cookie values: 401', async () => {
    const sid = /connect\.sid=([^;]+)/.exec(cookie)[1];
    const bad = [
      `connect.sid=${sid}${'A'.repeat(5000)}`,                  // value > 4096 bytes
      `connect.sid=${'%41'.repeat(2000)}`,                      // 6000 bytes encoded
      `connect.sid=${sid.replace('%3A', '%3')}`,                // truncated escape
      `connect.sid=${sid.replace('%3A', '%ZZ')}`,               // not hex
      `connect.sid=${sid}%`,                                    // '%' at the end
      `connect.sid=${sid}%2`,                                   // half an escape at the end
      'connect.sid=%00%00%00',                                  // NULs
      `connect.sid=${encodeURIComponent('s:\u0000.' + 'A'.repeat(43))}`,
      `connect.sid=${'%E2%82'.repeat(10)}`,                     // broken UTF-8 after decoding
    ];
    for (const c of bad) {
      const r = await hs({ cookie: c });
      assert.equal(r.status, 401, `cookie ${c.slice(0, 60)}... -> ${r.status}`);
    }
  });

  it('a signature of the right length with wrong bytes: 401', async () => {
    const m = /connect\.sid=s%3A([^.]+)\.(.+)$/.exec(cookie);
    const sig = decodeURIComponent(m[2]);
    assert.equal(sig.length, 43);
    const flipped = sig.slice(0, 20) + (sig[20] === 'A' ? 'B' : 'A') + sig.slice(21);
    for (const s of [flipped, 'A'.repeat(43), sig.split('').reverse().join('')]) {
      const r = await hs({ cookie: `connect.sid=${encodeURIComponent(`s:${m[1]}.${s}`)}` });
      assert.equal(r.status, 401);
    }
    // Correctly signed, but no such session: 401 as well.
    const r = await hs({ cookie: cookieFor('no-such-session-id') });
    assert.equal(r.status, 401);
    // And the genuine one still works.
    const good = await hs({ cookie });
    assert.equal(good.status, 101);
    good.socket.destroy();
  });

  it('nginx still serves', async () => { await witnessStillServed('handshakes'); });
});

describe('hostile events', () => {
  it('invalid JSON, 100,000 levels, over max_event_size and binary garbage are dropped and counted', async () => {
    const c = await env.user('victim');
    const before = await getStats();
    const garbage = Buffer.alloc(4096);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 7) & 0xff;
    const bad = [
      '{"type":"order_update","data":',                                               // truncated
      '{"type":"order_update"} trailing',                                              // trailing garbage
      '['.repeat(100000) + ']'.repeat(100000),                                         // 100,000 levels
      `{"type":"order_update","x":${'{"a":'.repeat(100000)}1${'}'.repeat(100000)}}`,   // 100,000 levels in an event
      '['.repeat(100000),                                                              // unbalanced
      JSON.stringify({ type: 'order_update', pad: 'x'.repeat(300 * 1024) }),           // over max_event_size (256k)
      garbage,                                                                         // binary garbage
      Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x7d]),
      '{"type":"unknown_type"}',
      '"just a string"',
    ];
    for (const b of bad) await env.publish('victim', b);
    const good = { type: 'order_update', data: { id: 'after-garbage' } };
    await env.publish('victim', good);
    const m = await c.waitMessage((x) => x.type === 'order_update', 5000, 'the valid event');
    assert.deepEqual(m, good);
    // Nothing but the connected message and the valid event.
    assert.deepEqual(c.messages.map((x) => x.type), ['connected', 'order_update']);
    const after = await getStats();
    assert.ok(after.events.invalid - before.events.invalid >= bad.length,
      `events.invalid grew by ${after.events.invalid - before.events.invalid}, expected ${bad.length}`);
    c.terminate();
  });

  it('nginx still serves', async () => { await witnessStillServed('events'); });
});

describe('connections that vanish', () => {
  it('1,000 connections open and vanish without a close frame; RSS returns near baseline', async () => {
    const pid = worker();
    // Warm up (allocator arenas, hub tables), then take the baseline.
    for (let i = 0; i < 3; i++) {
      const w = await Promise.all(Array.from({ length: 50 }, () => RawWs.connect(env.port, { cookie })));
      for (const s of w) s.destroy();
    }
    await sleep(300);
    const base = rssKb(pid);
    const baseStats = await getStats();

    const WAVE = 100;
    let opened = 0;
    for (let wave = 0; wave < 1000 / WAVE; wave++) {
      const conns = await Promise.all(Array.from({ length: WAVE }, () => RawWs.connect(env.port, { cookie })));
      await Promise.all(conns.map((c) => c.waitConnected(5000)));
      opened += conns.length;
      // Some with a half-sent frame pending in the parser, then FIN or RST.
      conns.forEach((c, i) => {
        if (i % 3 === 0) c.send(buildFrame({ opcode: OP.TEXT, payload: 'x'.repeat(3000) }).subarray(0, 1500));
        if (i % 2) c.socket.resetAndDestroy(); else c.destroy();
      });
    }
    assert.equal(opened, 1000);
    // Also vanishing mid-handshake (request half sent, or sent and gone
    // while the session lookup is in flight).
    await Promise.all(Array.from({ length: 100 }, (_, i) => new Promise((resolve) => {
      const s = net.connect({ port: env.port, host: '127.0.0.1' }, () => {
        s.write(i % 2 ? 'GET /ws/portfolio HTTP/1.1\r\nHost: x\r\nUpgr'
          : `GET /ws/portfolio HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${newKey()}\r\nSec-WebSocket-Version: 13\r\nCookie: ${cookie}\r\n\r\n`);
        setImmediate(() => { s.resetAndDestroy(); resolve(); });
      });
      s.on('error', () => resolve());
    })));

    // Every one of them is freed: the gauge is back (the witness stays).
    const end = Date.now() + 10000;
    let st;
    for (;;) {
      st = await getStats();
      if (st.activeConnections <= baseStats.activeConnections || Date.now() > end) break;
      await sleep(100);
    }
    assert.equal(st.activeConnections, baseStats.activeConnections, 'connections not freed');
    assert.ok(st.connections.closed - baseStats.connections.closed >= 1000);
    await sleep(300);
    const now = rssKb(pid);
    console.log(`worker ${pid} VmRSS: baseline ${base} kB, after 1,000 vanished connections ${now} kB (+${now - base} kB)`);
    if (!SANITIZED) assert.ok(now - base < RSS_TOLERANCE_KB, `RSS grew by ${now - base} kB`);
  });

  it('nginx still serves', async () => { await witnessStillServed('vanish'); });
});

describe('slowloris', () => {
  it('1 byte/s during the handshake is closed by client_header_timeout; after it, the frame is answered once complete', async () => {
    // During the handshake (nginx's client_header_timeout 3s in this config).
    const req = `GET /ws/portfolio HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${newKey()}\r\nSec-WebSocket-Version: 13\r\nCookie: ${cookie}\r\n\r\n`;
    const slowHs = new Promise((resolve) => {
      const s = net.connect({ port: env.port, host: '127.0.0.1' });
      let sent = 0;
      let got = '';
      const t0 = Date.now();
      const timer = setInterval(() => { if (sent < req.length) s.write(req[sent++]); }, 1000);
      s.on('data', (d) => { got += d; });
      s.on('error', () => {});
      s.on('close', () => { clearInterval(timer); resolve({ elapsed: Date.now() - t0, sent, got }); });
      setTimeout(() => { clearInterval(timer); s.destroy(); }, 15000);
    });

    // After the handshake: a ping message at 1 byte/s (21 bytes). The
    // heartbeat is 15 s by default; bytes arriving count as liveness.
    const ws = await RawWs.connect(env.port, { cookie });
    await ws.waitConnected();
    const frame = buildFrame({ opcode: OP.TEXT, payload: '{"type":"ping"}' });
    const slowFrame = (async () => {
      for (let i = 0; i < frame.length; i++) {
        ws.send(frame.subarray(i, i + 1));
        if (i < frame.length - 1) await sleep(1000);
        if (ws.tcpClosed) break;
      }
    })();

    // Meanwhile nginx serves others.
    await sleep(1500);
    await witnessStillServed('during-slowloris');

    const h = await slowHs;
    assert.ok(h.elapsed < 8000, `slow handshake held ${h.elapsed} ms`);
    assert.ok(h.sent < req.length, 'the slow handshake completed?');
    assert.ok(!/^HTTP\/1\.1 101/.test(h.got), 'slow handshake was upgraded');

    await slowFrame;
    const pong = await ws.waitMessage((m) => m.type === 'pong', 5000, 'pong to the slow frame');
    assert.equal(pong.type, 'pong');
    assert.ok(!ws.tcpClosed);
    ws.destroy();
  });

  it('nginx still serves and stops cleanly', async () => {
    await witnessStillServed('end');
    witness.terminate();
    await stopAndCheckLog(env);
  });
});
