// portfolio_stream_redis variants: requirepass, ACL user, db=N, unix socket,
// nchan loaded first (hiredis symbol clash), Redis restart (degraded/live).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { NCHAN_PATH } from './lib/nginx.mjs';
import fs from 'node:fs';
import { RawWs } from './lib/raw.mjs';
import { cookieFor } from './lib/app.mjs';

async function roundTrip(env, o = {}) {
  const u = uniqueUser();
  const c = await env.user(u, o);
  assert.equal(c.messages[0].userId, u);
  await env.publish(u, { type: 'order_update', u });
  const ev = await c.waitEvents(1, 2000);
  assert.equal(ev[0].u, u);
  c.terminate();
}

describe('redis with requirepass', () => {
  const env = useEnv({
    redis: { password: 'Pa55-word' },
    nginx: (r) => ({ redis: `127.0.0.1:${r.port} password=Pa55-word connect_timeout=1s` }),
  });
  it('authenticates and delivers', async () => { await roundTrip(env); });
  it('wrong password (after reload) -> 503; right one again -> 101', async () => {
    const good = env.nginx.opts;
    await env.nginx.reload({ ...good, redis: `127.0.0.1:${env.redis.port} password=wrong connect_timeout=1s` });
    const { cookie } = await env.login(uniqueUser());
    const r = await env.handshake({ cookie }, { timeout: 5000 });
    assert.equal(r.status, 503);
    await env.nginx.reload(good);
    await roundTrip(env);
  });
  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('redis ACL user', () => {
  const env = useEnv({
    redis: { password: 'default-pw', user: { name: 'psuser', password: 'ps-pw' } },
    nginx: (r) => ({ redis: `127.0.0.1:${r.port} username=psuser password=ps-pw` }),
  });
  it('AUTH username password, delivers', async () => { await roundTrip(env); });
  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('redis db=2', () => {
  const env = useEnv({
    app: { database: 2 },
    nginx: (r) => ({
      redis: `127.0.0.1:${r.port} db=2`,
      location: ['portfolio_stream_batch_window 0;'],
    }),
  });
  it('session stored in db 2 is found; pub/sub is db-independent', async () => {
    const u = uniqueUser();
    const { sid } = await env.login(u);
    const db0 = await env.redis.client({ database: 0 });
    assert.equal(await db0.get(`sess:${sid}`), null, 'the app wrote to db 2, not db 0');
    const c = await env.user(u);
    await env.publish(u, { type: 'order_update', db: 2 });
    await c.waitEvents(1, 2000);
  });
  it('the same session is unknown with db=0 (reload) -> 401', async () => {
    const good = env.nginx.opts;
    await env.nginx.reload({ ...good, redis: `127.0.0.1:${env.redis.port}` });
    const { cookie } = await env.login(uniqueUser());
    assert.equal((await env.handshake({ cookie })).status, 401);
    await env.nginx.reload(good);
    assert.equal((await env.handshake({ cookie })).status, 101);
  });
  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('redis over a unix socket', () => {
  const env = useEnv({
    redis: { unixSocket: true },
    nginx: (r) => ({ redis: `unix:${r.socketPath}` }),
  });
  it('unix:/path works', async () => {
    assert.ok(fs.existsSync(env.redis.socketPath));
    await roundTrip(env);
  });
  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('nchan loaded before the module (hiredis symbol clash)', { skip: !fs.existsSync(NCHAN_PATH) && 'nchan not installed' }, () => {
  const env = useEnv({ nginx: (r) => ({ nchanFirst: true, redis: `127.0.0.1:${r.port}` }) });
  it('sessions and pub/sub still work', async () => { await roundTrip(env); await roundTrip(env); });
  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('redis restart: degraded, then live', () => {
  const env = useEnv({ nginx: (r) => ({ stats: true, redis: `127.0.0.1:${r.port} connect_timeout=1s`, location: ['portfolio_stream_batch_window 0;'] }) });
  it('connections stay open, see status degraded/live, and get events after the restart', async () => {
    const u = uniqueUser();
    const c = await env.user(u);
    await env.redis.stop();
    const deg = await c.waitMessage((m) => m.type === 'status', 5000, 'status degraded');
    assert.equal(deg.state, 'degraded');
    await sleep(500);
    assert.ok(c.isOpen);
    const stats = await fetch(`${env.nginx.httpBase}/api/admin/websocket-stats`).then((r) => r.json()).catch(() => null);
    if (stats) assert.equal(stats.status, 'degraded', `stats.status while Redis is down: ${JSON.stringify(stats)}`);
    await env.redis.start();
    const live = await c.waitMessage((m) => m.type === 'status' && m.state === 'live', 10000, 'status live');
    assert.ok(live);
    await env.publish(u, { type: 'order_update', after: 'restart' });
    const ev = await c.waitEvents(1, 3000);
    assert.equal(ev[0].after, 'restart');
    const ch = env.channel(u);
    assert.equal(await env.redis.numsub(ch), 1, 'resubscribed once per worker');
  });
  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('redis slow or not there yet', () => {
  const env = useEnv({ nginx: (r) => ({ redis: `127.0.0.1:${r.port} connect_timeout=1s`, location: ['portfolio_stream_batch_window 0;'] }) });

  it('no answer within connect_timeout -> 503; a late reply is not given to the next lookup', async () => {
    const a = await env.login(uniqueUser('a'));
    const bUser = uniqueUser('b');
    const b = await env.login(bUser);
    const warm = await env.handshake({ cookie: a.cookie });
    assert.equal(warm.status, 101);
    warm.socket.destroy();
    const admin = await env.redis.client();
    await admin.sendCommand(['CLIENT', 'PAUSE', '1800', 'ALL']);
    const t0 = Date.now();
    const r = await env.handshake({ cookie: a.cookie }, { timeout: 5000 });
    const took = Date.now() - t0;
    assert.equal(r.status, 503, 'GET unanswered within connect_timeout');
    assert.ok(took >= 800 && took < 1800, `503 after ${took} ms (connect_timeout=1s)`);
    await sleep(1800 - (Date.now() - t0) + 200); // pause over, the late reply for A has arrived
    const rb = await RawWs.connect(env.port, { cookie: b.cookie });
    const m = await rb.waitConnected();
    assert.equal(m.userId, bUser, 'B got its own session, not the stale reply for A');
    rb.destroy();
    const unknown = await env.handshake({ cookie: cookieFor('unknown000000000000000000000000') });
    assert.equal(unknown.status, 401);
  });

  it('Redis down at start: 503; once it is up, handshakes succeed', async () => {
    await env.redis.stop();
    await env.nginx.stop();
    await env.nginx.start();
    const t0 = Date.now();
    const r = await env.handshake({ cookie: cookieFor('somesession000000000000000000000') }, { timeout: 5000 });
    assert.ok(Date.now() - t0 >= 800, 'waited for the Redis connection within connect_timeout before 503');
    assert.equal(r.status, 503);
    await env.redis.start();
    const u = uniqueUser();
    const { cookie } = await env.login(u);
    const end = Date.now() + 8000;
    let st;
    while (Date.now() < end) {
      const x = await env.handshake({ cookie }, { timeout: 5000 });
      st = x.status;
      if (x.socket) x.socket.destroy();
      if (st === 101) break;
      await sleep(200);
    }
    assert.equal(st, 101, 'reconnected to Redis within 8 s');
    const c = await env.user(u);
    await env.publish(u, { type: 'order_update', late: true });
    await c.waitEvents(1, 2000);
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
