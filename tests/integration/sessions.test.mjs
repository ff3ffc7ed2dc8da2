// Session variants: passport.user, integer ids, secret rotation, cookie/prefix
// names, channel prefix, periodic recheck (4401).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { startApp, cookieFor } from './lib/app.mjs';
import { connectUser } from './lib/wsclient.mjs';

describe('sessions', () => {
  const env = useEnv({
    app: { secret: 'new secret' },
    nginx: {
      secret: null,
      http: [
        "portfolio_stream_session_secret 'old secret';",
        "portfolio_stream_session_secret 'new secret';",
        'portfolio_stream_batch_window 0;',
      ],
      locations: [
        'location = /ws/passport { portfolio_stream on; portfolio_stream_session_user_field passport.user; }',
        'location = /ws/custom { portfolio_stream on; portfolio_stream_session_cookie sid; portfolio_stream_session_prefix myapp:; portfolio_stream_channel_prefix acct:; }',
        'location = /ws/recheck { portfolio_stream on; portfolio_stream_session_recheck 1s; }',
      ],
    },
  });
  const extraApps = [];
  after(async () => { for (const a of extraApps) await a.close(); });
  const app = async (o) => { const a = await startApp({ redis: env.redis, ...o }); extraApps.push(a); return a; };

  it('secret rotation: a cookie signed by the second secret is accepted', async () => {
    const u = uniqueUser();
    const c = await env.user(u);
    assert.equal(c.messages[0].userId, u);
    await env.publish(u, { type: 'order_update', rot: 1 });
    await c.waitEvents(1, 2000);
  });

  it('secret rotation: a cookie signed by the first secret is accepted too', async () => {
    const old = await app({ secret: 'old secret' });
    const u = uniqueUser();
    const { cookie } = await old.login(u);
    const c = await connectUser(env.port, cookie);
    assert.equal(c.messages[0].userId, u);
  });

  it('a cookie signed by neither secret -> 401', async () => {
    const { sid } = await env.login(uniqueUser());
    const r = await env.handshake({ cookie: cookieFor(sid, 'keyboard cat') });
    assert.equal(r.status, 401);
    const ok = await env.handshake({ cookie: cookieFor(sid, 'new secret') });
    assert.equal(ok.status, 101, 'the helper signs like express-session');
    ok.socket.destroy();
  });

  it('portfolio_stream_session_user_field passport.user', async () => {
    const u = uniqueUser();
    const { cookie } = await env.login(u, { passport: true });
    const c = await connectUser(env.port, cookie, { path: '/ws/passport' });
    assert.equal(c.messages[0].userId, u);
    await env.publish(u, { type: 'trade_executed', via: 'passport' });
    const ev = await c.waitEvents(1, 2000);
    assert.equal(ev[0].via, 'passport');
    // a userId-only session has no passport.user
    const plain = await env.login(uniqueUser());
    assert.equal((await env.handshake({ path: '/ws/passport', cookie: plain.cookie })).status, 401);
    // and a passport session has no userId at the default path
    assert.equal((await env.handshake({ cookie })).status, 401);
  });

  it('an integer user id works (channel portfolio:user:<n>)', async () => {
    const n = 700000 + (process.pid % 100000);
    const { cookie } = await env.login(String(n), { int: true });
    const c = await connectUser(env.port, cookie);
    assert.equal(String(c.messages[0].userId), String(n));
    await env.redis.publish(`portfolio:user:${n}`, JSON.stringify({ type: 'order_update', int: true }));
    const ev = await c.waitEvents(1, 2000);
    assert.equal(ev[0].int, true);
  });

  it('custom cookie name, session prefix and channel prefix', async () => {
    const a = await app({ secret: 'new secret', cookieName: 'sid', prefix: 'myapp:' });
    const u = uniqueUser();
    const { cookie } = await a.login(u);
    assert.match(cookie, /^sid=/);
    const c = await connectUser(env.port, cookie, { path: '/ws/custom' });
    await env.redis.publish(`acct:${u}`, JSON.stringify({ type: 'order_update', custom: 1 }));
    await env.publish(u, { type: 'order_update', custom: 2 }); // default prefix: not for this location
    await c.waitEvents(1, 2000);
    await sleep(200);
    assert.deepEqual(c.events().map((e) => e.custom), [1]);
    // the default location does not read the `sid` cookie
    assert.equal((await env.handshake({ cookie })).status, 401);
  });

  it('session recheck 1s: logout closes with 4401; a live session stays', async () => {
    const u = uniqueUser();
    const s1 = await env.login(u);
    const s2 = await env.login(u);
    const a = await connectUser(env.port, s1.cookie, { path: '/ws/recheck' });
    const b = await connectUser(env.port, s2.cookie, { path: '/ws/recheck' });
    await env.app.logout(s1.cookie);
    const t0 = Date.now();
    const cl = await a.waitClose(3500);
    assert.equal(cl.code, 4401);
    assert.ok(Date.now() - t0 < 3000);
    await sleep(1500);
    assert.ok(b.isOpen, 'the other session is still valid');
  });

  it('error.log is clean and nginx stops gracefully', async () => {
    await stopAndCheckLog(env);
  });
});
