// SPEC §3/§4 with a 200 ms window (issue 3, item 6): immediate first event,
// batches in publish order with the published bytes, coalescing in place,
// order flushes, one frame per window under a sustained stream, channel
// filters, the broadcast channel, session recheck (4401), and identical
// batches on two connections of one user.
//
// Imports the shared harness (lib/) unchanged; the helpers below (arrival
// times, pipelined publishing, frame decoding) are local to this file.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { connectUser } from './lib/wsclient.mjs';

const W = 200;
// Client-side tolerance for timing asserts (Node timers, a shared 2-core box).
const JITTER = 60;
const BROADCAST = 'portfolio:broadcast:h9';
const EVENT_TYPES = new Set(['position_update', 'account_update', 'order_update', 'trade_executed']);

// Every text frame after attach, with its arrival time and raw text.
function track(c) {
  const frames = [];
  c.ws.on('message', (d, bin) => {
    if (!bin) frames.push({ at: Date.now(), text: (Buffer.isBuffer(d) ? d : Buffer.concat(d)).toString('utf8') });
  });
  return frames;
}
// Event frames only (bare events and batches), each with its events parsed.
function eventFrames(frames) {
  const out = [];
  for (const f of frames) {
    const m = JSON.parse(f.text);
    if (m.type === 'batch') out.push({ ...f, batch: true, events: m.events });
    else if (EVENT_TYPES.has(m.type)) out.push({ ...f, batch: false, events: [m] });
  }
  return out;
}
async function waitFor(pred, timeout, what) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(5);
  }
}
const waitEventFrames = (frames, n, timeout = 2000) =>
  waitFor(() => eventFrames(frames).length >= n, timeout, `${n} event frames; got ${JSON.stringify(frames.map((f) => f.text)).slice(0, 800)}`);

describe('batch window 200ms', () => {
  const env = useEnv({
    nginx: {
      http: [`portfolio_stream_batch_window ${W}ms;`, `portfolio_stream_broadcast_channel ${BROADCAST};`,
        'portfolio_stream_max_connections_per_user 10;'],
      locations: [`location = /ws/recheck { portfolio_stream on; portfolio_stream_session_recheck 1s; }`],
    },
  });
  // Our own publisher connection: several PUBLISH commands issued in one tick
  // are pipelined on it, in order (no round trip between them).
  let pub;
  before(async () => { pub = await env.redis.client(); });
  const publishAll = (channel, msgs) => Promise.all(msgs.map((m) => pub.publish(channel, m)));
  const publishUser = (user, msgs) => publishAll(env.channel(user), msgs);

  it('connected reports batchWindowMs 200 and all four channels', async () => {
    const c = await env.user(uniqueUser());
    assert.equal(c.messages[0].type, 'connected');
    assert.equal(c.messages[0].batchWindowMs, W);
    assert.deepEqual([...c.messages[0].channels].sort(), ['account', 'orders', 'positions', 'trades']);
  });

  it('a quiet user\'s single event arrives at once, bare, as the published bytes', async () => {
    for (let i = 0; i < 5; i++) {
      const u = uniqueUser();
      const c = await env.user(u);
      const frames = track(c);
      const p = `{"type":"position_update", "key":"AAPL","data":{"symbol":"AAPL","qty":${i},"px":189.5}}`;
      const t0 = Date.now();
      await publishUser(u, [p]);
      await waitEventFrames(frames, 1);
      const dt = frames[0].at - t0;
      assert.ok(dt < W / 2, `quiet user's event took ${dt} ms (window ${W})`);
      assert.equal(frames[0].text, p, 'same bytes, not a batch');
    }
  });

  it('several symbols within a window arrive as one batch, in publish order, with the published bytes', async () => {
    const u = uniqueUser();
    const c = await env.user(u);
    const frames = track(c);
    const first = '{"type":"position_update","key":"SPY","px":1}';
    // Odd spacing and key order on purpose: the batch must carry these bytes verbatim.
    const burst = [
      '{"type":"position_update","key":"AAPL","data":{"symbol":"AAPL"},"px":189.25}',
      '{ "type" : "position_update", "data": {"symbol":"MSFT","px":411.1} }',
      '{"type":"position_update","key":"NVDA","px":"1e3","note":"\\u00e9t\\u00e9 ✓"}',
      '{"px":12.5,"type":"position_update","key":"TSLA"}',
    ];
    await publishUser(u, [first]);
    await waitEventFrames(frames, 1);
    const t0 = Date.now();
    await publishUser(u, burst);
    await waitEventFrames(frames, 2, 2000);
    await sleep(W + 100);
    const ef = eventFrames(frames);
    assert.equal(ef.length, 2, `one frame for the burst: ${JSON.stringify(frames.map((f) => f.text))}`);
    assert.equal(ef[0].text, first);
    assert.ok(ef[1].batch, 'a batch');
    assert.equal(ef[1].text, `{"type":"batch","events":[${burst.join(',')}]}`, 'batch = published bytes concatenated in publish order');
    const gap = ef[1].at - ef[0].at;
    assert.ok(gap >= W - JITTER && gap <= W + 150, `batch came ${gap} ms after the first frame (window ${W})`);
    assert.ok(ef[1].at - t0 <= W + 150, `no event waited longer than the window (+margin): ${ef[1].at - t0} ms`);
  });

  it('the same symbol twice in a window arrives once, latest value, in the first one\'s place', async () => {
    const u = uniqueUser();
    const c = await env.user(u);
    const frames = track(c);
    await publishUser(u, ['{"type":"position_update","key":"ZERO","v":0}']);
    await waitEventFrames(frames, 1);
    const a1 = '{"type":"position_update","key":"AAPL","v":1}';
    const m1 = '{"type":"position_update","key":"MSFT","v":1}';
    const a2 = '{"type":"position_update","key":"AAPL","v":2}';
    const g1 = '{"type":"position_update","data":{"symbol":"GOOG"},"v":1}';
    const g2 = '{"type":"position_update","data":{"symbol":"GOOG"},"v":2}';
    const a3 = '{"type":"position_update","key":"AAPL","v":3,"last":true}';
    await publishUser(u, [a1, m1, a2, g1, g2, a3]);
    await waitEventFrames(frames, 2, 2000);
    await sleep(W + 100);
    const ef = eventFrames(frames);
    assert.equal(ef.length, 2, JSON.stringify(frames.map((f) => f.text)));
    assert.equal(ef[1].text, `{"type":"batch","events":[${[a3, m1, g2].join(',')}]}`);
  });

  it('account_update coalesces to the latest, in its first place', async () => {
    const u = uniqueUser();
    const c = await env.user(u);
    const frames = track(c);
    await publishUser(u, ['{"type":"account_update","equity":100}']);
    await waitEventFrames(frames, 1);
    const acc = (n) => `{"type":"account_update","equity":${100 + n},"cash":${n}}`;
    const pos = '{"type":"position_update","key":"IBM","v":1}';
    await publishUser(u, [acc(1), pos, acc(2), acc(3)]);
    await waitEventFrames(frames, 2, 2000);
    await sleep(W + 100);
    const ef = eventFrames(frames);
    assert.equal(ef.length, 2, JSON.stringify(frames.map((f) => f.text)));
    assert.equal(ef[1].text, `{"type":"batch","events":[${acc(3)},${pos}]}`);
  });

  it('an order_update flushes the pending events at once, after them, and is never coalesced', async () => {
    for (const kind of ['order_update', 'trade_executed']) {
      const u = uniqueUser();
      const c = await env.user(u);
      const frames = track(c);
      await publishUser(u, ['{"type":"position_update","key":"X","v":0}']);
      await waitEventFrames(frames, 1);
      const p1 = '{"type":"position_update","key":"X","v":1}';
      const p2 = '{"type":"account_update","v":1}';
      const o1 = `{"type":"${kind}","id":"o-1","status":"filled"}`;
      const o2 = `{"type":"${kind}","id":"o-1","status":"filled"}`; // identical: still both delivered
      await publishUser(u, [p1, p2, o1, o2]);
      await waitEventFrames(frames, 2, 2000);
      const ef0 = eventFrames(frames);
      const early = ef0[1].at - ef0[0].at;
      assert.ok(early < W - 80, `${kind} flush came ${early} ms after the previous frame; the window (${W} ms) must not be waited for`);
      await sleep(W + 100);
      const ef = eventFrames(frames);
      const evTexts = ef.slice(1).flatMap((f) => (f.batch ? JSON.parse(f.text).events.map((e) => JSON.stringify(e)) : [f.text]));
      assert.deepEqual(evTexts.map((t) => JSON.parse(t)), [p1, p2, o1, o2].map((t) => JSON.parse(t)), `${kind}: pending first, then both orders`);
      // p1, p2 and o1 go in one flush frame (o2 then flushes itself, at once).
      assert.equal(ef[1].text, `{"type":"batch","events":[${[p1, p2, o1].join(',')}]}`);
      assert.ok(ef.length <= 3, `${kind}: ${ef.length} frames`);
      for (const f of ef.slice(2)) assert.ok(f.at - ef[0].at < W - 80, `${kind}: the second order also went out at once`);
    }
  });

  it('a sustained stream (50 events/s for 3 s, an order each second) yields at most one frame per window, order flushes aside', async () => {
    const u = uniqueUser();
    const c = await env.user(u);
    const frames = track(c);
    const N = 150;
    const sent = [];
    const t0 = Date.now();
    for (let i = 0; i < N; i++) {
      const isOrder = i % 50 === 25;
      const ev = isOrder
        ? { type: 'order_update', seq: i, id: `o${i}` }
        : { type: 'position_update', key: `S${i % 7}`, seq: i, ts: Date.now() };
      sent.push(ev);
      await publishUser(u, [JSON.stringify(ev)]);
      const next = t0 + (i + 1) * 20;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
    }
    const dur = Date.now() - t0;
    await sleep(W + 150);
    const ef = eventFrames(frames);
    const hasOrder = (f) => f.events.some((e) => e.type === 'order_update');
    const plain = ef.filter((f) => !hasOrder(f));
    const limit = Math.ceil((dur + W) / W) + 1;
    assert.ok(plain.length <= limit, `${plain.length} non-flush frames in ${dur} ms (limit ${limit})`);
    for (let i = 1; i < ef.length; i++) {
      if (hasOrder(ef[i])) continue;
      const gap = ef[i].at - ef[i - 1].at;
      assert.ok(gap >= W - JITTER, `event frames ${i - 1},${i} only ${gap} ms apart (window ${W}): ${ef[i].text.slice(0, 200)}`);
    }
    // Nothing lost but replaced versions: every order once and in order, the last
    // version of every key delivered, each seq at most once, per key increasing.
    const got = ef.flatMap((f) => f.events);
    const seqs = got.map((e) => e.seq);
    assert.equal(new Set(seqs).size, seqs.length, 'no event delivered twice');
    assert.deepEqual(got.filter((e) => e.type === 'order_update').map((e) => e.seq), sent.filter((e) => e.type === 'order_update').map((e) => e.seq));
    const lastOf = new Map();
    for (const e of sent) if (e.key) lastOf.set(e.key, e.seq);
    for (const [k, s] of lastOf) assert.ok(seqs.includes(s), `latest ${k} (seq ${s}) delivered`);
    const perKey = new Map();
    for (const e of got) {
      if (!e.key) continue;
      assert.ok((perKey.get(e.key) ?? -1) < e.seq, `per-key order kept for ${e.key}`);
      perKey.set(e.key, e.seq);
    }
    // Across frames, publish order is kept: every seq of a frame > every seq of earlier frames.
    let maxSoFar = -1;
    for (const f of ef) {
      const s = f.events.map((e) => e.seq);
      assert.ok(Math.min(...s) > maxSoFar, `frame order follows publish order (${s} after ${maxSoFar})`);
      maxSoFar = Math.max(maxSoFar, ...s);
    }
    // And the events were in fact batched (about 10 per plain frame).
    assert.ok(ef.length < N / 4, `${ef.length} frames for ${N} events`);
    // Each frame's oldest event waited at most the window (+ margin).
    for (const f of ef) {
      const ts = f.events.filter((e) => e.ts).map((e) => e.ts);
      if (ts.length) assert.ok(f.at - Math.min(...ts) <= W + 100, `an event waited ${f.at - Math.min(...ts)} ms`);
    }
  });

  it('subscribe/unsubscribe: the filter applies and `subscribed` lists the current channels', async () => {
    const u = uniqueUser();
    const c = await env.user(u);
    const frames = track(c);
    const replies = () => frames.map((f) => JSON.parse(f.text)).filter((m) => m.type === 'subscribed');
    c.send({ type: 'unsubscribe', channels: ['positions', 'account'] });
    await waitFor(() => replies().length >= 1, 2000, 'subscribed reply');
    assert.deepEqual([...replies()[0].channels].sort(), ['orders', 'trades']);
    await publishUser(u, [
      '{"type":"position_update","key":"A","f":1}',
      '{"type":"account_update","f":2}',
      '{"type":"order_update","f":3}',
      '{"type":"trade_executed","f":4}',
      '{"type":"position_update","key":"B","f":5}',
    ]);
    await waitFor(() => eventFrames(frames).flatMap((f) => f.events).length >= 2, 2000, 'order + trade');
    await sleep(W + 100);
    assert.deepEqual(eventFrames(frames).flatMap((f) => f.events).map((e) => e.f), [3, 4], 'positions and account filtered out');

    c.send({ type: 'subscribe', channels: ['positions'] });
    await waitFor(() => replies().length >= 2, 2000, 'second subscribed reply');
    assert.deepEqual([...replies()[1].channels].sort(), ['orders', 'positions', 'trades']);
    await publishUser(u, ['{"type":"account_update","f":6}', '{"type":"position_update","key":"C","f":7}']);
    await waitFor(() => eventFrames(frames).flatMap((f) => f.events).length >= 3, 2000, 'position after subscribe');
    await sleep(W + 100);
    assert.deepEqual(eventFrames(frames).flatMap((f) => f.events).map((e) => e.f), [3, 4, 7]);

    c.send({ type: 'subscribe', channels: ['bogus'] });
    await waitFor(() => frames.some((f) => JSON.parse(f.text).type === 'error'), 2000, 'error reply');
    const err = frames.map((f) => JSON.parse(f.text)).find((m) => m.type === 'error');
    assert.equal(err.code, 'unknown_channel');
    assert.ok(c.isOpen, 'the connection stays after an error');
    c.send({ type: 'unsubscribe', channels: [] });
    await waitFor(() => replies().length >= 3, 2000, 'third subscribed reply');
    assert.deepEqual([...replies()[2].channels].sort(), ['orders', 'positions', 'trades'], 'filter unchanged by the bad request');
  });

  it('broadcast channel events reach every connection of several users, once, with the same bytes', async () => {
    const users = [uniqueUser(), uniqueUser(), uniqueUser()];
    const conns = [];
    for (const u of users) conns.push(await env.user(u));
    conns.push(await env.user(users[0])); // a second connection of the first user
    const tracks = conns.map(track);
    const b1 = '{"type":"position_update","key":"MARKET","status":"open"}';
    const t0 = Date.now();
    await publishAll(BROADCAST, [b1]);
    for (const f of tracks) await waitEventFrames(f, 1);
    for (const f of tracks) {
      assert.equal(f[0].text, b1);
      assert.ok(f[0].at - t0 < W / 2, `a quiet connection gets the broadcast at once (${f[0].at - t0} ms)`);
    }
    // Broadcast and per-user events share the batching: one user gets both, in order.
    const own = '{"type":"position_update","key":"OWN","v":1}';
    const b2 = '{"type":"account_update","broadcast":2}';
    await publishUser(users[1], [own]);
    await publishAll(BROADCAST, [b2]);
    await sleep(W * 2 + 100);
    for (const [i, f] of tracks.entries()) {
      const evs = eventFrames(f).flatMap((x) => x.events).map((e) => JSON.stringify(e));
      const want = (i === 1 ? [b1, own, b2] : [b1, b2]).map((t) => JSON.stringify(JSON.parse(t)));
      assert.deepEqual(evs, want, `connection ${i}`);
    }
  });

  it('deleting the session key closes the connection with 4401 within the recheck interval', async () => {
    const u = uniqueUser();
    const { cookie, sid } = await env.login(u);
    const c = await connectUser(env.port, cookie, { path: '/ws/recheck' });
    const other = await env.user(uniqueUser(), { path: '/ws/recheck' });
    await sleep(300);
    const t0 = Date.now();
    assert.equal(await pub.del(`sess:${sid}`), 1, 'the session existed');
    const info = await c.waitClose(3000);
    const dt = info.at - t0;
    assert.equal(info.code, 4401);
    assert.ok(dt <= 1000 + 400, `closed ${dt} ms after DEL (recheck 1s)`);
    await sleep(1200);
    assert.ok(other.isOpen, 'a connection with a live session stays open across rechecks');
  });

  it('two connections of the same user get identical batches', async () => {
    const u = uniqueUser();
    const { cookie } = await env.login(u);
    const a = await connectUser(env.port, cookie);
    const b = await connectUser(env.port, cookie);
    const fa = track(a);
    const fb = track(b);
    const msgs = [];
    for (let r = 0; r < 4; r++) {
      for (let i = 0; i < 6; i++) msgs.push(`{"type":"position_update","key":"K${i % 4}","r":${r},"i":${i}}`);
      msgs.push(`{"type":"account_update","r":${r}}`);
    }
    msgs.splice(13, 0, '{"type":"order_update","id":"mid"}');
    await publishUser(u, msgs.slice(0, 10));
    await sleep(W / 2);
    await publishUser(u, msgs.slice(10));
    await sleep(W * 2 + 150);
    const ta = eventFrames(fa).map((f) => f.text);
    const tb = eventFrames(fb).map((f) => f.text);
    assert.ok(ta.length >= 2 && ta.some((t) => t.startsWith('{"type":"batch"')), `batches: ${JSON.stringify(ta)}`);
    assert.deepEqual(tb, ta, 'both connections got the same frames');
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
