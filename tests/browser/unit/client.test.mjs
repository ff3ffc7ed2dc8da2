// Unit tests of client/portfolio-stream.js without a browser: a fake WebSocket and a fake
// clock drive the state machine (connecting/live/degraded/stale/reconnecting/offline/
// unauthorized/closed), the backoff, batch unpacking and filter re-application.
//   node --test tests/browser/unit/client.test.mjs
import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, eventsOf, defaultUrl, CHANNELS } from '../../../client/portfolio-stream.js';

import { FakeWindow, sockets, resetSockets, last, make, sentNoPing } from './fakes.mjs';

beforeEach(() => { resetSockets(); });

// ---- pure functions ------------------------------------------------------------------------------

describe('backoffDelay (full jitter)', () => {
  it('is uniform in [0, min(cap, base·2^n))', () => {
    assert.equal(backoffDelay(0, 250, 30000, () => 0), 0);
    assert.equal(backoffDelay(0, 250, 30000, () => 0.999999), 249);
    assert.equal(backoffDelay(1, 250, 30000, () => 0.5), 250);
    assert.equal(backoffDelay(3, 250, 30000, () => 0.5), 1000);
    assert.equal(backoffDelay(7, 250, 30000, () => 0.999999), 29999); // 32000 capped
    assert.equal(backoffDelay(1000, 250, 30000, () => 0.5), 15000);  // no overflow
  });
  it('with Math.random stays within bounds', () => {
    for (let n = 0; n < 12; n++) {
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(n, 250, 30000);
        assert.ok(d >= 0 && d < Math.min(30000, 250 * 2 ** n), `${n}: ${d}`);
      }
    }
  });
});

describe('eventsOf', () => {
  it('unpacks a batch in order; a bare event is itself; control messages give nothing', () => {
    const a = { type: 'position_update', key: 'A' };
    const b = { type: 'order_update', id: 2 };
    assert.deepEqual(eventsOf({ type: 'batch', events: [a, b] }), [a, b]);
    assert.deepEqual(eventsOf(a), [a]);
    for (const t of ['connected', 'status', 'subscribed', 'pong', 'error']) assert.deepEqual(eventsOf({ type: t }), []);
    assert.deepEqual(eventsOf({ type: 'batch' }), []);
    assert.deepEqual(eventsOf(null), []);
  });
});

describe('defaultUrl', () => {
  it('ws for http, wss for https, same host and port', () => {
    assert.equal(defaultUrl({ protocol: 'http:', host: '127.0.0.1:8080' }), 'ws://127.0.0.1:8080/ws/portfolio');
    assert.equal(defaultUrl({ protocol: 'https:', host: 'app.example.com' }), 'wss://app.example.com/ws/portfolio');
  });
});

// ---- the state machine ----------------------------------------------------------------------------

describe('PortfolioStream', () => {
  it('connecting -> live on the connected frame; remembers the server parameters', () => {
    const { s, names } = make();
    assert.equal(s.state, 'connecting');
    assert.equal(sockets.length, 1);
    last().open();
    assert.equal(s.state, 'connecting', 'the 101 alone is not live: the subscription is');
    last().msg({ type: 'connected', userId: 'u9', channels: [...CHANNELS], batchWindowMs: 200, heartbeatMs: 5000, serverTime: 123 });
    assert.equal(s.state, 'live');
    assert.deepEqual(s.server, { userId: 'u9', channels: [...CHANNELS], batchWindowMs: 200, heartbeatMs: 5000 });
    assert.match(s.stats.extensions, /permessage-deflate/);
    assert.deepEqual(names(), ['live']);
  });

  it('delivers bare events and batches in order, with batch metadata', () => {
    const { s, events } = make();
    last().connected();
    last().msg({ type: 'position_update', key: 'AAPL', n: 1 });
    last().msg({ type: 'batch', events: [{ type: 'position_update', key: 'MSFT', n: 2 }, { type: 'account_update', n: 3 }, { type: 'order_update', n: 4 }] });
    last().msg({ type: 'subscribed', channels: [...CHANNELS] });
    last().msg('not json');
    assert.deepEqual(events.map(([e]) => e.n), [1, 2, 3, 4]);
    assert.deepEqual(events.map(([, m]) => [m.batch, m.index, m.size]), [[false, 0, 1], [true, 0, 3], [true, 1, 3], [true, 2, 3]]);
    assert.equal(s.stats.events, 4);
    assert.equal(s.stats.batches, 1);
  });

  it('status degraded / live', () => {
    const { s, names } = make();
    last().connected();
    last().msg({ type: 'status', state: 'degraded' });
    assert.equal(s.state, 'degraded');
    last().msg({ type: 'status', state: 'live' });
    assert.equal(s.state, 'live');
    assert.deepEqual(names(), ['live', 'degraded', 'live']);
  });

  it('subscribe/unsubscribe are sent when connected and re-applied after a reconnect', () => {
    const { s, clock, states } = make();
    const retry = () => clock.advance(states.at(-1)[1].delayMs);
    s.unsubscribe(['trades', 'orders']);   // before connected: only remembered
    assert.deepEqual(s.channels, ['positions', 'account']);
    last().connected();
    assert.deepEqual(last().sent, [{ type: 'unsubscribe', channels: ['orders', 'trades'] }, { type: 'ping' }]);
    s.subscribe('orders');
    assert.deepEqual(last().sent.at(-1), { type: 'subscribe', channels: ['orders'] });
    s.subscribe('orders');                  // no-op
    assert.equal(last().sent.length, 3);
    // events of an unwanted channel still in flight are dropped on the client
    const { events } = { events: [] };
    s.onEvent = (e) => events.push(e.type);
    last().msg({ type: 'trade_executed' });
    last().msg({ type: 'order_update' });
    assert.deepEqual(events, ['order_update']);
    // reconnect: a new connection gets all four again; the client sends its filter
    last().serverClose(1006);
    retry();
    assert.equal(sockets.length, 2);
    last().connected();
    assert.deepEqual(sentNoPing(last()), [{ type: 'unsubscribe', channels: ['trades'] }]);
    // a server that already has a subset: subscribe for the missing ones
    last().serverClose(1006);
    retry();
    last().connected({ channels: ['positions'] });
    assert.deepEqual(sentNoPing(last()), [{ type: 'subscribe', channels: ['account', 'orders'] }]);
  });

  it('application ping every heartbeat; pong gives the RTT and the clock offset', () => {
    const { s, clock } = make();
    last().connected({ heartbeatMs: 1000 });
    assert.deepEqual(last().sent, [{ type: 'ping' }], 'a first ping at once');
    clock.advance(1000);
    assert.deepEqual(last().sent, [{ type: 'ping' }, { type: 'ping' }], 'then one every heartbeat');
    clock.advance(30);
    last().msg({ type: 'pong', serverTime: clock.wallNow() + 500 - 15 });  // the offset is of the wall clock
    assert.equal(s.stats.rttMs, 30);
    assert.equal(s.stats.clockOffsetMs, 500);
    assert.equal(s.serverNow(), clock.wallNow() + 500);
    // a slower exchange does not replace the offset from a quicker one
    clock.advance(970);
    clock.advance(200);
    last().msg({ type: 'pong', serverTime: clock.wallNow() + 9999 });
    assert.equal(s.stats.rttMs, 200);
    assert.equal(s.stats.clockOffsetMs, 500);
  });

  it('stale: no frame for > 2 heartbeats with a ping unanswered -> drops the socket and reconnects', () => {
    const { s, clock, names } = make();
    last().connected({ heartbeatMs: 1000 });
    const first = last();
    clock.advance(1900);
    assert.equal(s.state, 'live');
    first.msg({ type: 'pong', serverTime: 0 });   // answered at +1.9 s: fresh again
    clock.advance(1900);                          // ping at +2 s unanswered, last frame 1.9 s old
    assert.equal(s.state, 'live');
    clock.advance(400);                           // last frame > 2 s old, ping > 1 s unanswered
    assert.ok(names().includes('stale'), names().join());
    assert.equal(s.state, 'reconnecting');
    assert.equal(first.closedWith.code, 4000, 'the client closed the dead socket');
    assert.equal(first.onmessage, null, 'and stopped listening to it');
    clock.advance(1000);
    assert.equal(sockets.length, 2);
    last().connected();
    assert.equal(s.state, 'live');
    assert.equal(s.stats.reconnects, 1);
  });

  it('stale is not declared when the tab throttled the ping timer', () => {
    const { s, clock } = make();
    last().connected({ heartbeatMs: 1000 });
    last().msg({ type: 'pong', serverTime: 0 });  // the first ping's answer
    // Simulate a throttled tab: nothing runs for 60 s, then the timers fire late.
    const saved = clock.timers;
    clock.timers = new Map();
    clock.t += 60000;
    clock.timers = saved;
    for (const tm of clock.timers.values()) tm.at = Math.max(tm.at, clock.t);
    clock.advance(0);
    assert.equal(s.state, 'live', 'the late ping just went out; it is not unanswered yet');
    clock.advance(50);
    last().msg({ type: 'pong', serverTime: 0 });
    clock.advance(5000);
    assert.ok(['live', 'reconnecting'].includes(s.state));
  });

  it('liveness runs on the monotonic clock: a jump of the wall clock neither fakes nor hides a dead link', () => {
    const { s, clock } = make();
    last().connected({ heartbeatMs: 1000 });
    clock.wall += 3_600_000;                       // the system clock jumps an hour ahead
    clock.advance(500);
    assert.equal(s.state, 'live');
    last().msg({ type: 'pong', serverTime: 0 });
    assert.equal(s.stats.lastFrameAt, clock.wallNow(), 'times shown to people are wall-clock');
    clock.wall -= 7_200_000;                       // and back two hours
    clock.advance(3000);                           // no frame for 3 s with a ping unanswered
    assert.equal(s.state, 'reconnecting');
  });

  it('backoff: exponential with full jitter, reset after a connection stayed live', () => {
    const { s, clock, states, setRandom } = make({ baseDelayMs: 250, maxDelayMs: 30000, resetAfterMs: 10000, handshakeFailures: 1000 });
    setRandom(0.999);
    const delays = [];
    for (let i = 0; i < 9; i++) {
      last().serverClose(1006);
      const st = states.at(-1);
      assert.equal(st[0], 'reconnecting');
      delays.push(st[1].delayMs);
      clock.advance(st[1].delayMs);
    }
    assert.deepEqual(delays, [249, 499, 999, 1998, 3996, 7992, 15984, 29970, 29970]);
    // a connection that stays live 10 s resets the backoff
    last().connected();
    for (let i = 0; i < 10; i++) { clock.advance(1000); last().msg({ type: 'pong' }); }
    last().serverClose(1006);
    assert.equal(states.at(-1)[1].delayMs, 249);
    // one that dies quickly does not
    clock.advance(249);
    last().connected();
    last().serverClose(1011);
    assert.equal(states.at(-1)[1].delayMs, 499);
    assert.equal(s.state, 'reconnecting');
  });

  it('1001 (nginx reload): reconnect soon, jittered within goingAwayMaxDelayMs, even after long backoff', () => {
    const { clock, states, setRandom } = make({ goingAwayMaxDelayMs: 1500, handshakeFailures: 1000 });
    setRandom(0.999);
    for (let i = 0; i < 6; i++) { last().serverClose(1006); clock.advance(states.at(-1)[1].delayMs); }
    last().connected();
    setRandom(0.4);
    last().serverClose(1001, 'going away');
    assert.equal(states.at(-1)[0], 'reconnecting');
    assert.equal(states.at(-1)[1].delayMs, 600);
    assert.equal(states.at(-1)[1].code, 1001);
    const n = sockets.length;
    clock.advance(599);
    assert.equal(sockets.length, n);
    clock.advance(1);
    assert.equal(sockets.length, n + 1);
  });

  it('1008 (slow consumer): reconnects with backoff, one step further', () => {
    const { clock, states, setRandom } = make();
    setRandom(0.999);
    last().connected();
    for (let i = 0; i < 20; i++) { clock.advance(1000); last().msg({ type: 'pong' }); }
    last().serverClose(1008, 'slow consumer');
    assert.equal(states.at(-1)[0], 'reconnecting');
    assert.equal(states.at(-1)[1].delayMs, 499, 'no reset to the first step for a slow consumer');
  });

  it('4401: unauthorized, no more attempts; connect() starts again', () => {
    const { s, clock } = make();
    last().connected();
    last().serverClose(4401, 'session expired');
    assert.equal(s.state, 'unauthorized');
    clock.advance(120000);
    assert.equal(sockets.length, 1);
    assert.equal(clock.timers.size, 0, 'no timers left');
    s.connect();
    assert.equal(sockets.length, 2);
    last().connected();
    assert.equal(s.state, 'live');
  });

  it('handshake refused again and again (browsers hide the 401): unauthorized after N tries over the window', () => {
    const { s, clock, names, states, setRandom } = make({ handshakeFailures: 4, handshakeFailureWindowMs: 5000 });
    setRandom(0.999);
    let n = 0;
    while (s.state !== 'unauthorized' && n < 50) {
      last().serverClose(1006);
      n++;
      if (s.state === 'reconnecting') clock.advance(states.at(-1)[1].delayMs);
    }
    // failures 2..6 come 249, 499, 999, 1998, 3996 ms apart: the 6th is the first >= 5 s after the 1st
    assert.equal(n, 6);
    assert.equal(s.state, 'unauthorized');
    assert.ok(n >= 4, `gave up after ${n}`);
    assert.ok(!names().includes('live'));
    const k = sockets.length;
    clock.advance(120000);
    assert.equal(sockets.length, k);
  });

  it('a refused handshake streak shorter than the window (nginx restart) keeps retrying', () => {
    const { s, clock, states, setRandom } = make({ handshakeFailures: 4, handshakeFailureWindowMs: 5000 });
    setRandom(0.1);
    for (let i = 0; i < 6; i++) { last().serverClose(1006); clock.advance(states.at(-1)[1].delayMs); }
    assert.notEqual(s.state, 'unauthorized');
    last().connected();
    assert.equal(s.state, 'live');
  });

  it('checkSession vetoes the unauthorized conclusion (the refusals were 503s)', async () => {
    let asked = 0;
    const { s, clock, states } = make({ handshakeFailures: 2, handshakeFailureWindowMs: 0, checkSession: async () => { asked++; return true; } });
    last().serverClose(1006);
    clock.advance(states.at(-1)[1].delayMs);
    last().serverClose(1006);
    await new Promise((r) => setImmediate(r));
    assert.equal(asked, 1);
    assert.equal(s.state, 'reconnecting');
  });

  it('offline: drops the socket, no attempts; online: reconnects promptly', () => {
    const { s, clock, win } = make();
    last().connected();
    const first = last();
    win.navigator.onLine = false;
    win.fire('offline');
    assert.equal(s.state, 'offline');
    assert.ok(first.closedWith);
    clock.advance(60000);
    assert.equal(sockets.length, 1);
    win.navigator.onLine = true;
    win.fire('online');
    assert.equal(s.state, 'reconnecting');
    clock.advance(500);
    assert.equal(sockets.length, 2);
    last().connected();
    assert.equal(s.state, 'live');
  });

  it('starting offline waits for online', () => {
    const win = new FakeWindow();
    win.navigator.onLine = false;
    const { s } = make({ window: win });
    assert.equal(s.state, 'offline');
    assert.equal(sockets.length, 0);
  });

  it('connect timeout: a 101 without a connected frame is abandoned', () => {
    const { s, clock } = make({ connectTimeoutMs: 3000 });
    last().open();
    clock.advance(3000);
    assert.equal(s.state, 'reconnecting');
    assert.equal(sockets[0].closedWith.code, 4000);
  });

  it('close(): closed for good, the socket closed with 1000, no timers, no listeners', () => {
    const { s, clock, win } = make();
    last().connected();
    s.close();
    assert.equal(s.state, 'closed');
    assert.deepEqual(sockets[0].closedWith, { code: 1000, reason: 'client closed' });
    assert.equal(clock.timers.size, 0);
    assert.equal(win.handlers.online.size, 0);
    win.fire('online');
    clock.advance(60000);
    assert.equal(sockets.length, 1);
  });

  it('an exception in onEvent does not break the stream', () => {
    const errors = [];
    const got = [];
    const { s } = make({ onEvent: (e) => { got.push(e.n); if (e.n === 1) throw new Error('ui bug'); }, onError: (e) => errors.push(e) });
    last().connected();
    last().msg({ type: 'batch', events: [{ type: 'order_update', n: 1 }, { type: 'order_update', n: 2 }] });
    assert.deepEqual(got, [1, 2]);
    assert.equal(errors.length, 1);
    assert.equal(s.state, 'live');
  });
});
