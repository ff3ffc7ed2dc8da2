// portfolio_stream_send_lowat (default 32k, TCP_NOTSENT_LOWAT): a WebSocket
// socket holds at most that much of our data unsent, so the backlog of a
// client that stops reading waits in the module's queue, where conflation
// replaces superseded updates. Without it the autotuned send buffer (up to
// tcp_wmem's 4 MiB) soaked up megabytes of stale updates first and the
// newest value came after ~10,000 of them (tests/bench/conflation_check.mjs).
// A client that keeps reading still gets every update.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { RawWs } from './lib/raw.mjs';

const N = 20000; // events: position_updates of one key, an order_update every 100th
const BATCH = 500; // pipelined PUBLISHes
const PAD = 'x'.repeat(200);
const STALE_BOUND = 512 * 1024; // bytes a stalled client may get before the newest value
const stats = (env) => fetch(`${env.nginx.httpBase}/api/admin/websocket-stats`).then((r) => r.json());
const isOrder = (j) => j % 100 === 99;
const event = (j) => (isOrder(j)
  ? { type: 'order_update', data: { orderId: `o${j}` }, n: j }
  : { type: 'position_update', key: 'SYM00', data: { n: j, pad: PAD } });
const NEWEST = isOrder(N - 1) ? N - 2 : N - 1; // the last position_update published
const ORDERS = [...Array(N).keys()].filter(isOrder);

// Publishes all N events in order; after each batch, `paced(sent)` (if given)
// is awaited. One pipeline per batch: node-redis does not keep the order of
// many concurrent publish() calls (Promise.all of 500 arrives partly reversed).
async function publishAll(env, u, paced) {
  const pub = await env.redis.client();
  for (let i = 0; i < N; i += BATCH) {
    const m = pub.multi();
    for (let j = i; j < Math.min(N, i + BATCH); j++) m.publish(env.channel(u), JSON.stringify(event(j)));
    await m.execAsPipeline();
    if (paced) await paced(Math.min(N, i + BATCH));
  }
}

const positionN = (m) => (m.type === 'position_update' ? m.data.n : undefined);

describe('send_lowat (default): a client that stops reading', () => {
  const env = useEnv({
    nginx: {
      stats: true,
      location: ['portfolio_stream_batch_window 0;', 'portfolio_stream_heartbeat 60s;'],
    },
  });

  it('gets little stale data before the newest update, and every order', async () => {
    const u = uniqueUser('lw');
    const { cookie } = await env.login(u);
    const slow = await RawWs.connect(env.port, { cookie });
    await slow.waitConnected();
    const before = await stats(env);
    slow.socket.pause(); // for good, until every event has been handled
    await publishAll(env, u);
    // Every event reached the connection (queued, written or conflated).
    const deadline = Date.now() + 15000;
    let s = await stats(env);
    while (s.events.delivered - before.events.delivered < N && Date.now() < deadline) {
      await sleep(100);
      s = await stats(env);
    }
    assert.equal(s.events.delivered - before.events.delivered, N, 'every event handled');
    await sleep(200);
    slow.socket.resume();
    await slow.waitUntil(() => {
      const msgs = slow.messages();
      return msgs.some((m) => positionN(m) === NEWEST) && msgs.filter((m) => m.type === 'order_update').length >= ORDERS.length;
    }, 20000, 'the newest position and every order');
    await sleep(200);

    const texts = slow.frames.filter((f) => f.opcode === 1);
    const msgs = texts.map((f) => JSON.parse(f.payload.toString('utf8')));
    const newestAt = msgs.findIndex((m) => positionN(m) === NEWEST);
    const staleBytes = texts.slice(0, newestAt).reduce((a, f) => a + f.payload.length, 0);
    const positions = msgs.filter((m) => m.type === 'position_update').map(positionN);
    assert.ok(staleBytes < STALE_BOUND,
      `${staleBytes} bytes (${positions.indexOf(NEWEST)} stale position_updates) reached the client before the newest one; bound ${STALE_BOUND}`);
    assert.equal(positions[positions.length - 1], NEWEST, 'the last position seen is the newest');
    assert.deepEqual(positions, [...positions].sort((a, b) => a - b), 'positions only go forward');
    assert.deepEqual(msgs.filter((m) => m.type === 'order_update').map((m) => m.n), ORDERS, 'every order exactly once, in order');
    assert.ok(!slow.tcpClosed, 'not dropped as a slow consumer');
    const after = await stats(env);
    assert.ok(after.events.conflated - before.events.conflated >= N - ORDERS.length - positions.length,
      `events.conflated ${after.events.conflated - before.events.conflated}`);
    assert.equal(after.connections.slowConsumerDrops, before.connections.slowConsumerDrops);
    slow.destroy();
  });

  it('a client that keeps reading gets every update (no conflation)', async () => {
    const u = uniqueUser('lw');
    const { cookie } = await env.login(u);
    const fast = await RawWs.connect(env.port, { cookie });
    await fast.waitConnected();
    const before = await stats(env);
    const count = () => fast.frames.length - 1; // all text frames but `connected` (no pings: heartbeat 60s)
    // Paced by the reader (it keeps up): each batch of 500 (~125 KB, several
    // times the mark) is read before the next is published.
    await publishAll(env, u, (sent) => fast.waitUntil(() => count() >= sent, 15000, `${sent} events`));
    const msgs = fast.messages().slice(1);
    assert.equal(msgs.length, N);
    assert.deepEqual(msgs.map((m) => (m.type === 'order_update' ? m.n : m.data.n)), [...Array(N).keys()], 'every update, in order');
    const after = await stats(env);
    assert.equal(after.events.conflated, before.events.conflated, 'nothing conflated');
    fast.destroy();
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
