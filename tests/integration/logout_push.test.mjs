// The logout push path (portfolio_stream_control_channel): the app publishes
// {"type":"logout","userId"|"sid":...} and the matching connections close
// with 4401 at once, not at their next session re-read (60 s by default).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';

const CONTROL = 'portfolio_stream:control';

describe('logout pushed on the control channel', () => {
  const env = useEnv({
    nginx: {
      workers: 2,
      http: [`portfolio_stream_control_channel ${CONTROL};`, 'portfolio_stream_max_connections_per_user 10;'],
      location: ['portfolio_stream_session_recheck 0;'],
    },
  });

  it('by user: every connection of that user closes with 4401 within 100 ms; others stay', async () => {
    const u = uniqueUser('lo');
    const other = uniqueUser('lo');
    const a = await env.user(u);
    const b = await env.user(u);
    const c = await env.user(other);
    const t0 = Date.now();
    await env.redis.publish(CONTROL, JSON.stringify({ type: 'logout', userId: u }));
    const [ia, ib] = await Promise.all([a.waitClose(2000), b.waitClose(2000)]);
    assert.equal(ia.code, 4401);
    assert.equal(ib.code, 4401);
    const ms = Math.max(ia.at, ib.at) - t0;
    assert.ok(ms < 100, `closed after ${ms} ms`);
    await sleep(100);
    assert.ok(c.isOpen, "another user's connection stays");
    await env.publish(other, JSON.stringify({ type: 'order_update', i: 1 }));
    await c.waitEvents(1);
  });

  it('by session: only that session\'s connections close', async () => {
    const u = uniqueUser('lo');
    const s1 = await env.login(u);
    const s2 = await env.login(u);
    const { connectUser } = await import('./lib/wsclient.mjs');
    const a = await connectUser(env.port, s1.cookie);
    const b = await connectUser(env.port, s2.cookie);
    await env.redis.publish(CONTROL, JSON.stringify({ type: 'logout', sid: s1.sid }));
    const ia = await a.waitClose(2000);
    assert.equal(ia.code, 4401);
    await sleep(150);
    assert.ok(b.isOpen, 'the other session stays');
  });

  it('a malformed control message is counted and ignored', async () => {
    const u = uniqueUser('lo');
    const a = await env.user(u);
    await env.redis.publish(CONTROL, '{"type":"logout"}');
    await env.redis.publish(CONTROL, 'not json');
    await sleep(200);
    assert.ok(a.isOpen);
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
