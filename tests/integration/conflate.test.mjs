// Conflation under backpressure (portfolio_stream_conflate, default on): a
// client that cannot keep up gets each symbol's latest position, every order
// exactly once and in order, and is not dropped; with conflation off the same
// burst ends in a slow-consumer close.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { RawWs } from './lib/raw.mjs';

const SYMBOLS = ['AAPL', 'MSFT', 'IBM', 'TSLA', 'NVDA'];
const PAD = 'p'.repeat(2048);
const stats = (env) => fetch(`${env.nginx.httpBase}/api/admin/websocket-stats`).then((r) => r.json());

// 2,000 ticks of 2 KB (4 MB, twice the send limit) with an order every 40.
async function burst(env, u) {
  const last = {};
  const orders = [];
  for (let i = 0; i < 2000; i++) {
    const sym = SYMBOLS[i % SYMBOLS.length];
    last[sym] = i;
    await env.publish(u, JSON.stringify({ type: 'position_update', key: sym, i, pad: PAD }));
    if (i % 40 === 0) {
      orders.push(i);
      await env.publish(u, JSON.stringify({ type: 'order_update', data: { orderId: `o${i}` }, i }));
    }
  }
  return { last, orders };
}

const config = (conflate) => ({
  nginx: {
    stats: true,
    listen: 'sndbuf=16k',
    location: ['portfolio_stream_batch_window 0;', 'portfolio_stream_send_limit 2m;', 'portfolio_stream_heartbeat 60s;',
      `portfolio_stream_conflate ${conflate};`],
  },
});

describe('conflation on: a client that lags', () => {
  const env = useEnv(config('on'));

  it('gets the latest value per symbol and every order once, in order', async () => {
    const u = uniqueUser('cf');
    const { cookie } = await env.login(u);
    const slow = await RawWs.connect(env.port, { cookie });
    await slow.waitConnected();
    const before = await stats(env);
    const [worker] = env.nginx.workerPids();
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${worker}/status`, 'utf8'))[1]);
    const rss0 = rss();
    slow.socket.pause();
    const { last, orders } = await burst(env, u);
    await sleep(300);
    const rssPeak = rss();
    slow.socket.resume();
    // Caught up: the latest of every symbol arrives.
    await slow.waitUntil(() => {
      const got = {};
      for (const m of slow.messages()) if (m.type === 'position_update') got[m.key] = m.i;
      return SYMBOLS.every((s) => got[s] === last[s]);
    }, 10000, 'the latest value of every symbol');
    await sleep(200);
    const msgs = slow.messages();
    const gotOrders = msgs.filter((m) => m.type === 'order_update').map((m) => m.i);
    assert.deepEqual(gotOrders, orders, 'every order exactly once, in order');
    const positions = msgs.filter((m) => m.type === 'position_update');
    assert.ok(positions.length < 2000, `conflated: ${positions.length} of 2000 ticks written`);
    // Per symbol the values only go forward.
    for (const s of SYMBOLS) {
      const seq = positions.filter((m) => m.key === s).map((m) => m.i);
      assert.deepEqual(seq, [...seq].sort((a, b) => a - b), `${s} in order`);
    }
    assert.ok(!slow.tcpClosed, 'not dropped as a slow consumer');
    const after = await stats(env);
    assert.ok(after.events.conflated > before.events.conflated, 'events.conflated counted');
    assert.equal(after.connections.slowConsumerDrops, before.connections.slowConsumerDrops);
    // Under ASan freed memory sits in its quarantine: RSS says nothing there.
    if (!process.env.PS_SANITIZE) assert.ok(rssPeak - rss0 < 8 * 1024, `queue bounded: RSS +${rssPeak - rss0} KB`);
    slow.destroy();
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('conflation off: the same client', () => {
  const env = useEnv(config('off'));

  it('is dropped as a slow consumer (1008)', async () => {
    const u = uniqueUser('cf');
    const { cookie } = await env.login(u);
    const slow = await RawWs.connect(env.port, { cookie });
    await slow.waitConnected();
    slow.socket.pause();
    await burst(env, u);
    await sleep(300);
    const s = await stats(env);
    assert.ok(s.connections.slowConsumerDrops >= 1);
    assert.equal(s.events.conflated, 0);
    slow.destroy();
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

