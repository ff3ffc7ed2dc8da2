// SPEC §2 limits (429, 503 + Retry-After) and SPEC §5 stats.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { connectUser } from './lib/wsclient.mjs';
import { waitFor } from './lib/procs.mjs';

const STATS = '/api/admin/websocket-stats';

describe('limits and stats (2 workers)', () => {
  const env = useEnv({
    nginx: {
      workers: 2,
      listen: 'reuseport',
      stats: true,
      http: ['portfolio_stream_max_connections 6;', 'portfolio_stream_max_connections_per_user 2;', 'portfolio_stream_max_event_size 1k;'],
      location: ['portfolio_stream_batch_window 0;'],
    },
  });
  const stats = async () => {
    const r = await fetch(env.nginx.httpBase + STATS);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') || '', /json/);
    return r.json();
  };

  it('stats: shape of SPEC §5 and limits', async () => {
    const s = await stats();
    for (const k of ['status', 'activeConnections', 'activeUsers', 'batchEfficiency', 'performance', 'events', 'frames', 'connections', 'rejected', 'redis', 'latencyMs', 'limits', 'uptimeSeconds']) {
      assert.ok(k in s, `stats has ${k}: ${JSON.stringify(s)}`);
    }
    assert.equal(s.status, 'healthy');
    assert.deepEqual(s.limits, { maxConnections: 6, maxConnectionsPerUser: 2 });
    assert.equal(s.activeConnections, 0);
    assert.equal(s.redis.connected, true);
    for (const k of ['received', 'delivered', 'coalesced', 'invalid']) assert.equal(typeof s.events[k], 'number');
    for (const k of ['badHandshake', 'forbiddenOrigin', 'unauthorized', 'perUserLimit', 'globalLimit', 'disabled', 'redisUnavailable']) {
      assert.equal(typeof s.rejected[k], 'number', `rejected.${k}`);
    }
    assert.match(s.batchEfficiency, /^\d+(\.\d)?%$/);
  });

  it('429 for a third connection of one user (all workers together)', async () => {
    const u = uniqueUser();
    const { cookie } = await env.login(u);
    const a = await connectUser(env.port, cookie);
    const b = await connectUser(env.port, cookie);
    const before = (await stats()).rejected.perUserLimit;
    const r = await env.handshake({ cookie });
    assert.equal(r.status, 429);
    assert.equal((await stats()).rejected.perUserLimit, before + 1);
    // another user is not limited
    const other = await env.user(uniqueUser());
    other.terminate();
    // closing one frees a slot
    a.terminate();
    await waitFor(async () => (await env.handshake({ cookie }).then((x) => { x.socket.destroy(); return x.status === 101; })), { timeout: 3000, what: 'a free per-user slot' });
    b.terminate();
  });

  it('503 with Retry-After at max_connections; a slot frees on close', async () => {
    await waitFor(async () => (await stats()).activeConnections === 0, { timeout: 3000, what: 'no active connections' });
    const cs = [];
    for (let i = 0; i < 3; i++) {
      const { cookie } = await env.login(uniqueUser());
      cs.push(await connectUser(env.port, cookie), await connectUser(env.port, cookie));
    }
    const s = await stats();
    assert.equal(s.activeConnections, 6);
    assert.equal(s.activeUsers, 3);
    const { cookie } = await env.login(uniqueUser());
    const r = await env.handshake({ cookie });
    assert.equal(r.status, 503);
    assert.ok(r.headers['retry-after'], 'Retry-After header');
    assert.equal((await stats()).rejected.globalLimit >= 1, true);
    cs[0].terminate();
    await waitFor(async () => (await env.handshake({ cookie }).then((x) => { x.socket.destroy(); return x.status === 101; })), { timeout: 3000, what: 'a free global slot' });
    for (const c of cs) c.terminate();
  });

  it('stats count rejections, events and frames', async () => {
    await waitFor(async () => (await stats()).activeConnections === 0, { timeout: 3000, what: 'no active connections' });
    const s0 = await stats();
    await env.handshake({ key: null });
    await env.handshake({ origin: 'https://evil.example' });
    await env.handshake({ cookie: null });
    await env.handshake({ path: '/ws/off' });
    const u = uniqueUser();
    const c = await env.user(u);
    await env.publish(u, '{bad');
    await env.publish(u, { type: 'order_update', ts: Date.now() });
    await c.waitEvents(1, 2000);
    await sleep(300);
    const s1 = await stats();
    assert.equal(s1.rejected.badHandshake - s0.rejected.badHandshake, 1, 'badHandshake');
    assert.equal(s1.rejected.forbiddenOrigin - s0.rejected.forbiddenOrigin, 1, 'forbiddenOrigin');
    assert.equal(s1.rejected.unauthorized - s0.rejected.unauthorized, 1, 'unauthorized');
    assert.equal(s1.rejected.disabled - s0.rejected.disabled, 1, 'disabled');
    assert.equal(s1.events.invalid - s0.events.invalid, 1, 'events.invalid');
    assert.ok(s1.events.received - s0.events.received >= 1, 'events.received');
    assert.ok(s1.events.delivered - s0.events.delivered >= 1, 'events.delivered');
    assert.ok(s1.frames.sent > s0.frames.sent && s1.frames.bytesSent > s0.frames.bytesSent, 'frames');
    assert.equal(s1.activeConnections, 1);
    assert.ok(s1.connections.accepted - s0.connections.accepted >= 1);
    c.terminate();
  });

  it('stats ?format=prometheus is text exposition', async () => {
    const r = await fetch(`${env.nginx.httpBase}${STATS}?format=prometheus`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') || '', /^text\/plain/);
    const body = await r.text();
    assert.match(body, /^# (HELP|TYPE) /m);
    const samples = body.split('\n').filter((l) => l && !l.startsWith('#'));
    assert.ok(samples.length >= 5);
    for (const l of samples) assert.match(l, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)( \d+)?$/, `sample line: ${l}`);
  });

  it('counts are given back on reload (shared zone reused, no leaked slots)', async () => {
    const u = uniqueUser();
    const { cookie } = await env.login(u);
    await connectUser(env.port, cookie);
    await connectUser(env.port, cookie);
    assert.equal((await stats()).activeConnections, 2);
    await env.nginx.reload();
    await waitFor(async () => (await stats()).activeConnections === 0, { timeout: 3000, what: 'activeConnections 0 after reload' });
    const a = await connectUser(env.port, cookie);
    const b = await connectUser(env.port, cookie);
    const s = await stats();
    assert.equal(s.activeConnections, 2);
    assert.equal(s.activeUsers, 1);
    a.terminate(); b.terminate();
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
