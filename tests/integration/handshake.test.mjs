// SPEC §2: the handshake answers, in their order.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser } from './lib/env.mjs';
import { acceptFor } from './lib/frames.mjs';
import { cookieFor } from './lib/app.mjs';
import crypto from 'node:crypto';

describe('handshake (SPEC §2)', () => {
  const env = useEnv({
    nginx: {
      locations: [
        'location = /ws/origins { portfolio_stream on; portfolio_stream_allowed_origins https://app.example; }',
        'location = /ws/anyorigin { portfolio_stream on; portfolio_stream_allowed_origins *; }',
      ],
    },
  });
  let cookie;
  const hs = (o, x) => env.handshake({ cookie, ...o }, x);

  it('logs in through the Express app (connect.sid from Set-Cookie)', async () => {
    ({ cookie } = await env.login(uniqueUser()));
    assert.match(cookie, /^connect\.sid=s%3A[^.]+\..+$/);
  });

  it('101 with the RFC 6455 Sec-WebSocket-Accept', async () => {
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const r = await hs({ key });
    assert.equal(r.status, 101, r.body);
    assert.equal(r.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    assert.equal(r.headers['sec-websocket-accept'], acceptFor(key));
    assert.match(r.headers.upgrade || '', /^websocket$/i);
    assert.match(r.headers.connection || '', /upgrade/i);
    r.socket.destroy();
  });

  it('101 for header spellings real browsers send', async () => {
    for (const o of [
      { connection: 'keep-alive, Upgrade' }, // Firefox
      { upgrade: 'WebSocket' },
      { connection: 'upgrade' },
      { cookie: 'theme=dark; x=1; PLACEHOLDER; lang=en' },
    ]) {
      if (o.cookie) o.cookie = o.cookie.replace('PLACEHOLDER', cookie);
      const r = await hs(o);
      assert.equal(r.status, 101, `${JSON.stringify(o)} -> ${r.status} ${r.body}`);
      r.socket.destroy();
    }
  });

  it('503 when the location says portfolio_stream off (checked first)', async () => {
    let r = await hs({ path: '/ws/off' });
    assert.equal(r.status, 503);
    r = await hs({ path: '/ws/off', method: 'POST', key: null, version: '8', origin: 'https://evil.example', cookie: null });
    assert.equal(r.status, 503, 'feature off is checked before everything else');
  });

  it('400 for requests that are not a valid RFC 6455 upgrade', async () => {
    const cases = {
      'POST': { method: 'POST', body: '' },
      'PUT': { method: 'PUT', body: '' },
      'missing Upgrade': { upgrade: null },
      'Upgrade: h2c': { upgrade: 'h2c' },
      'missing Connection': { connection: null },
      'Connection: keep-alive only': { connection: 'keep-alive' },
      'missing Sec-WebSocket-Key': { key: null },
      'short key (8 bytes)': { key: crypto.randomBytes(8).toString('base64') },
      'long key (20 bytes)': { key: crypto.randomBytes(20).toString('base64') },
      'key not base64': { key: '!!!!!!!!!!!!!!!!!!!!!!==' },
      'empty key': { key: '' },
      'duplicate key': { headers: [['Sec-WebSocket-Key', crypto.randomBytes(16).toString('base64')]] },
    };
    for (const [name, o] of Object.entries(cases)) {
      const r = await hs(o);
      assert.equal(r.status, 400, `${name}: expected 400, got ${r.status}`);
    }
  });

  it('400 comes before 426, 403 and 401', async () => {
    const r = await hs({ key: null, version: '8', origin: 'https://evil.example', cookie: null });
    assert.equal(r.status, 400);
  });

  it('426 with Sec-WebSocket-Version: 13 for version 8', async () => {
    const r = await hs({ version: '8' });
    assert.equal(r.status, 426);
    assert.equal(r.headers['sec-websocket-version'], '13');
    const r2 = await hs({ version: '14' });
    assert.equal(r2.status, 426);
  });

  it('426 comes before 403 and 401', async () => {
    const r = await hs({ version: '8', origin: 'https://evil.example', cookie: null });
    assert.equal(r.status, 426);
  });

  it('403 for a foreign Origin and for Origin: null (default same-host rule)', async () => {
    for (const origin of ['https://evil.example', 'null', 'http://127.0.0.2', `http://127.0.0.1.evil.example:${env.port}`]) {
      const r = await hs({ origin });
      assert.equal(r.status, 403, `Origin ${origin}: got ${r.status}`);
    }
  });

  it('same-host Origin is allowed by default', async () => {
    let r = await hs({ host: 'app.example', origin: 'https://app.example' });
    assert.equal(r.status, 101, r.body);
    r.socket.destroy();
    r = await hs({ origin: `http://127.0.0.1:${env.port}` });
    assert.equal(r.status, 101, r.body);
    r.socket.destroy();
  });

  it('no Origin header (not a browser) is allowed', async () => {
    const r = await hs({ origin: undefined });
    assert.equal(r.status, 101);
    r.socket.destroy();
  });

  it('403 comes before 401', async () => {
    const r = await hs({ origin: 'https://evil.example', cookie: null });
    assert.equal(r.status, 403);
  });

  it('portfolio_stream_allowed_origins https://app.example', async () => {
    let r = await hs({ path: '/ws/origins', origin: 'https://app.example' });
    assert.equal(r.status, 101, r.body);
    r.socket.destroy();
    r = await hs({ path: '/ws/origins', origin: 'https://evil.example' });
    assert.equal(r.status, 403);
    r = await hs({ path: '/ws/origins', origin: 'http://app.example' });
    assert.equal(r.status, 403, 'scheme is part of the origin');
    r = await hs({ path: '/ws/origins', origin: 'null' });
    assert.equal(r.status, 403);
  });

  it('portfolio_stream_allowed_origins * allows any origin', async () => {
    const r = await hs({ path: '/ws/anyorigin', origin: 'https://evil.example' });
    assert.equal(r.status, 101, r.body);
    r.socket.destroy();
  });

  it('401 without a cookie, or with another cookie only', async () => {
    assert.equal((await hs({ cookie: null })).status, 401);
    assert.equal((await hs({ cookie: 'theme=dark' })).status, 401);
  });

  it('401 for a badly signed cookie', async () => {
    const value = decodeURIComponent(cookie.slice('connect.sid='.length));
    const [sidPart, sig] = [value.slice(0, value.lastIndexOf('.')), value.slice(value.lastIndexOf('.') + 1)];
    const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    for (const v of [`${sidPart}.${flipped}`, sidPart, value.slice(2) /* no s: */, `${sidPart}.`, 's:', cookieFor(sidPart.slice(2), 'wrong secret').split('=')[1]]) {
      const c = `connect.sid=${v.includes('%') ? v : encodeURIComponent(v)}`;
      const r = await hs({ cookie: c });
      assert.equal(r.status, 401, `cookie ${c}: got ${r.status}`);
    }
  });

  it('401 for a well-signed cookie of an unknown session', async () => {
    const r = await hs({ cookie: cookieFor('nosuchsession0000000000000000000') });
    assert.equal(r.status, 401);
  });

  it('401 for a session without userId', async () => {
    const { cookie: c } = await env.app.visit();
    const r = await hs({ cookie: c });
    assert.equal(r.status, 401);
  });

  it('401 after logout (session destroyed)', async () => {
    const { cookie: c } = await env.login(uniqueUser());
    let r = await hs({ cookie: c });
    assert.equal(r.status, 101);
    r.socket.destroy();
    await env.app.logout(c);
    r = await hs({ cookie: c });
    assert.equal(r.status, 401);
  });

  it('plain HTTP GET of the endpoint (no upgrade) is 400, not a crash', async () => {
    const res = await fetch(`${env.nginx.httpBase}/ws/portfolio`);
    assert.equal(res.status, 400);
    const plain = await fetch(`${env.nginx.httpBase}/plain`);
    assert.equal(plain.status, 200);
  });

  it('503 when Redis is down, answered within connect_timeout', async () => {
    await env.redis.stop();
    const t0 = Date.now();
    const r = await hs({}, { timeout: 5000 });
    assert.equal(r.status, 503);
    assert.ok(Date.now() - t0 < 3000, `503 took ${Date.now() - t0} ms (connect_timeout=1s)`);
    await env.redis.start();
  });

  it('stops cleanly with a clean error.log', async () => {
    await stopAndCheckLog(env);
  });
});
