// Close 1001 to every client on reload (SIGHUP) and on quit (SIGQUIT), promptly.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { RawWs } from './lib/raw.mjs';

describe('shutdown: reload and quit', () => {
  // worker_shutdown_timeout 30s: closing "promptly" must not rely on it.
  const env = useEnv({ nginx: { workers: 2, shutdownTimeout: '30s', location: ['portfolio_stream_batch_window 0;'] } });

  async function openMany(n) {
    const users = [uniqueUser(), uniqueUser()];
    const clients = [];
    for (let i = 0; i < n; i++) clients.push(await env.user(users[i % 2]));
    return { users, clients };
  }

  it('SIGHUP: every client gets close 1001 within 3 s; new connections work', async () => {
    const { clients } = await openMany(6);
    const { cookie } = await env.login(uniqueUser());
    const raw = await RawWs.connect(env.port, { cookie });
    await raw.waitConnected();
    const t0 = Date.now();
    const oldWorkers = await env.nginx.reload(undefined, { oldExitMs: 0 });
    const closes = await Promise.all(clients.map((c) => c.waitClose(3000)));
    for (const c of closes) assert.equal(c.code, 1001, `close ${c.code} ${c.reason}`);
    const { closeFrame } = await raw.waitClosed(3000);
    assert.equal(closeFrame && closeFrame.code, 1001, 'raw client got a 1001 close frame');
    assert.ok(Date.now() - t0 < 3500);
    // Old workers exit promptly (not after worker_shutdown_timeout).
    const end = Date.now() + 5000;
    while ([...oldWorkers].some((p) => env.nginx.workerPids().includes(p)) && Date.now() < end) await sleep(100);
    assert.ok(![...oldWorkers].some((p) => env.nginx.workerPids().includes(p)), 'old workers still running 5 s after reload');
    // The new generation serves and delivers.
    const u = uniqueUser();
    const c = await env.user(u);
    await env.publish(u, { type: 'order_update', after: 'reload' });
    const ev = await c.waitEvents(1, 2000);
    assert.equal(ev[0].after, 'reload');
  });

  it('SIGQUIT: every client gets close 1001 and nginx exits promptly and cleanly', async () => {
    const { clients } = await openMany(6);
    const t0 = Date.now();
    const exited = env.nginx.child.exited;
    env.nginx.signal('SIGQUIT');
    const closes = await Promise.all(clients.map((c) => c.waitClose(3000)));
    for (const c of closes) assert.equal(c.code, 1001);
    let t;
    const r = await Promise.race([exited, new Promise((res) => { t = setTimeout(() => res(null), 5000); })]);
    clearTimeout(t);
    assert.ok(r, 'nginx master still running 5 s after SIGQUIT');
    assert.equal(r.code, 0);
    assert.ok(Date.now() - t0 < 5000);
    const bad = env.nginx.badLogLines();
    assert.deepEqual(bad, [], bad.join('\n'));
  });
});
