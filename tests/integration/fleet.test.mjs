// SPEC section 9, the fleet-wide per-user limit: two nginx edges sharing one
// Redis with portfolio_stream_limit_scope fleet count a user's connections
// together; a closed connection frees its place at once; an edge killed by
// SIGKILL frees its places when its lease ends; a Redis that cannot answer
// the fleet call gets 503.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { Nginx } from './lib/nginx.mjs';
import { handshakeStatus as status, killEdgeHoldingPlaces } from './lib/fleet.mjs';

const fleetOpts = (redis) => ({
  stats: true,
  redis: `127.0.0.1:${redis.port} connect_timeout=1s`,
  http: ['portfolio_stream_limit_scope fleet;', 'portfolio_stream_fleet_lease 3s;',
    'portfolio_stream_max_connections_per_user 5;'],
});

describe('fleet limit across two edges', () => {
  const env = useEnv({ nginx: fleetOpts });
  let b = null;
  before(async () => {
    b = new Nginx(fleetOpts(env.redis));
    await b.start();
  });
  after(async () => { if (b) await b.destroy(); });

  it('3 on edge A + 2 on edge B: the sixth is 429 on either; a close frees a place', async () => {
    const u = uniqueUser('fl');
    const { cookie } = await env.login(u);
    const onA = [];
    const onB = [];
    for (let i = 0; i < 3; i++) onA.push((await status(env.port, cookie)).c);
    for (let i = 0; i < 2; i++) onB.push((await status(b.port, cookie)).c);
    assert.ok(onA.every(Boolean) && onB.every(Boolean), 'five connections open');
    assert.equal((await status(env.port, cookie)).status, 429);
    assert.equal((await status(b.port, cookie)).status, 429);
    // Another user is not affected.
    const other = await env.login(uniqueUser('fl'));
    const o = await status(b.port, other.cookie);
    assert.equal(o.status, 101);
    o.c.terminate();
    // A close frees the place fleet-wide at once.
    onB[0].close();
    await onB[0].closed;
    await sleep(100);
    const again = await status(env.port, cookie);
    assert.equal(again.status, 101);
    const stats = await fetch(`${env.nginx.httpBase}/api/admin/websocket-stats`).then((r) => r.json());
    assert.ok(stats.rejected.perUserLimit >= 1);
    for (const c of [...onA, onB[1], again.c]) c.terminate();
  });

  it('renewals keep a live edge\'s places past the lease (no Redis call per connection)', async () => {
    const u = uniqueUser('fl');
    const { cookie } = await env.login(u);
    const held = [];
    for (let i = 0; i < 5; i++) held.push((await status(env.port, cookie)).c);
    assert.ok(held.every(Boolean));
    await sleep(7000); // more than two leases of 3 s
    assert.equal((await status(b.port, cookie)).status, 429, 'the places lapsed');
    assert.ok(held.every((c) => c.isOpen));
    for (const c of held) c.terminate();
  });

  it('an edge killed by SIGKILL: its places are free once its lease has ended', async () => {
    const u = uniqueUser('fl');
    const { cookie } = await env.login(u);
    const c = new Nginx(fleetOpts(env.redis));
    await c.start();
    const ms = await killEdgeHoldingPlaces(c, env.port, cookie);
    assert.ok(ms < 6000, `freed after ${ms} ms (lease 3 s)`);
  });

  it('the fleet library gone from Redis: 503, then it is loaded again', async () => {
    const u = uniqueUser('fl');
    const { cookie } = await env.login(u);
    const r = await env.redis.client();
    await r.sendCommand(['FUNCTION', 'DELETE', 'portfolio_stream_fleet']);
    const first = await status(env.port, cookie);
    assert.equal(first.status, 503);
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      await sleep(100);
      const s = await status(env.port, cookie);
      if (s.status === 101) { ok = true; s.c.terminate(); }
    }
    assert.ok(ok, 'the module loaded the library again');
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
