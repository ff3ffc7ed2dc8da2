// SPEC section 8: a second pub/sub outage while the catch-up read of the
// first is still in flight. The connection must stay degraded until the
// worker is subscribed again, then say live once, and every event published
// during either outage must arrive, once, in order. (Found on a Redis
// Cluster reshard, where two resubscribes can follow each other closely; a
// RedisProxy reproduces it with one Redis: the catch-up read is held on the
// command connection while the pub/sub connection is cut a second time.)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { connectUser } from './lib/wsclient.mjs';
import { RedisProxy } from './lib/faultkit.mjs';

const waitStatus = (c, state, timeout) => c.waitMessage((m) => m.type === 'status' && m.state === state, timeout, `status ${state}`);
const statuses = (c) => c.messages.filter((m) => m.type === 'status').map((m) => m.state + (m.recovered === false ? '(not recovered)' : ''));

describe('history: a second outage during the catch-up read', () => {
  let proxy = null;
  const env = useEnv({
    nginx: {
      stats: true,
      redis: '127.0.0.1:1 connect_timeout=5s',
      location: ['portfolio_stream_history on;', 'portfolio_stream_batch_window 0;'],
    },
  });
  before(async () => {
    proxy = await new RedisProxy(env.redis.port).start();
    await env.nginx.reload({ ...env.nginx.opts, redis: `127.0.0.1:${proxy.port} connect_timeout=5s` });
  });
  after(async () => { if (proxy) await proxy.close(); });

  it('stays degraded until subscribed again, then live once; every event of both outages arrives once, in order', async () => {
    const u = uniqueUser('d2');
    const { cookie } = await env.login(u);
    let c = null;
    for (let i = 0; i < 40 && !c; i++) {
      try { c = await connectUser(env.port, cookie); } catch { await sleep(250); } // the reload's new worker
    }
    assert.ok(c, 'connected through the proxy');
    const pub = await env.redis.client();
    const publish = async (i) => String(await pub.sendCommand(['FCALL', 'portfolio_stream_publish', '1', env.channel(u),
      JSON.stringify({ type: 'order_update', data: { orderId: `o${i}`, status: 'filled' }, i })]));
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await publish(i));
    await c.waitEvents(3, 3000);

    // Outage 1: events 3, 4 published with nobody subscribed.
    assert.equal(proxy.cut('sub'), 1);
    await waitStatus(c, 'degraded', 5000);
    for (let i = 3; i < 5; i++) ids.push(await publish(i));
    // Hold the command connection: the catch-up read after the resubscribe waits.
    proxy.hold('cmd');
    const subs = proxy.accepted;
    const t0 = Date.now();
    while (proxy.of('sub').length === 0 || proxy.accepted === subs) {
      assert.ok(Date.now() - t0 < 5000, 'the pub/sub connection came back');
      await sleep(20);
    }
    await sleep(300); // resubscribed; the catch-up read is sent and held
    // Outage 2, during that read, kept up (refused) until the read is done: events 5, 6.
    proxy.refuse('sub');
    assert.equal(proxy.cut('sub'), 1);
    await sleep(50);
    for (let i = 5; i < 7; i++) ids.push(await publish(i));
    proxy.release('cmd');
    await sleep(500); // the read's reply has arrived
    assert.deepEqual(statuses(c), ['degraded'], 'no "live" while the worker is unsubscribed again');
    proxy.allow('sub');
    await waitStatus(c, 'live', 8000);
    for (let i = 7; i < 9; i++) ids.push(await publish(i));
    await c.waitEvents(9, 5000).catch(() => {});
    const got = c.events().map((e) => `${e.i}@${e.offset}`);
    assert.deepEqual(got, ids.map((id, i) => `${i}@${id}`), 'every event once, in order');
    assert.deepEqual(statuses(c), ['degraded', 'live'], 'one degraded, one live, recovered');
    c.terminate();
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
