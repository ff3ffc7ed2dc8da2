// Peers that stop reading for good while their connection is being closed
// (issue 14): every kind of close ends within portfolio_stream_close_timeout,
// the socket is reset, and the user's slot, the stats and the worker's fds
// are back. Before the close deadline such a peer held its slot forever.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { RawWs, handshake } from './lib/raw.mjs';

const BIG = 'x'.repeat(200 * 1024);
const stats = (env) => fetch(`${env.nginx.httpBase}/api/admin/websocket-stats`).then((r) => r.json());

// A connection of `user` whose client has stopped reading, with more queued
// for it than the socket buffers hold (2 MB: a paused socket's receive
// buffer does not grow, nginx's send buffer is 16k here).
async function stuckPeer(env, user, cookie) {
  const ws = await RawWs.connect(env.port, { cookie });
  await ws.waitConnected();
  ws.socket.pause();
  for (let i = 0; i < 10; i++) await env.publish(user, JSON.stringify({ type: 'order_update', i, pad: BIG }));
  await sleep(300);
  return ws;
}

// Polls until a new connection of the user gets 101 (its limit is 1); ms taken.
async function slotFreeAfter(env, cookie, timeoutMs) {
  const t0 = Date.now();
  for (;;) {
    const r = await handshake(env.port, { cookie });
    r.socket.destroy();
    if (r.status === 101) return Date.now() - t0;
    assert.equal(r.status, 429, `unexpected status ${r.status}`);
    if (Date.now() - t0 > timeoutMs) assert.fail(`the user's slot was still taken after ${timeoutMs} ms`);
    await sleep(200);
  }
}

const base = (extra) => ({
  nginx: {
    stats: true,
    listen: 'sndbuf=16k',
    http: ['portfolio_stream_max_connections_per_user 1;'],
    location: ['portfolio_stream_batch_window 0;', 'portfolio_stream_close_timeout 2s;', ...extra],
  },
});

describe('a peer that never reads during a heartbeat close', () => {
  const env = useEnv(base(['portfolio_stream_send_limit 16m;', 'portfolio_stream_heartbeat 1s;']));

  it('is finalized within 2 heartbeats + close_timeout, and its slot is free', async () => {
    const u = uniqueUser('hb');
    const { cookie } = await env.login(u);
    const before = await stats(env);
    await stuckPeer(env, u, cookie);
    const r = await handshake(env.port, { cookie });
    r.socket.destroy();
    assert.equal(r.status, 429, 'the stuck connection holds the only slot');
    const ms = await slotFreeAfter(env, cookie, 8000);
    assert.ok(ms < 8000, `freed after ${ms} ms`);
    const after = await stats(env);
    assert.equal(after.connections.closed - before.connections.closed >= 1, true);
    assert.match(env.nginx.errorLog(), /peer silent for/);
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('a peer that never reads during a 4401', () => {
  const env = useEnv(base(['portfolio_stream_send_limit 16m;', 'portfolio_stream_heartbeat 60s;', 'portfolio_stream_session_recheck 1s;']));

  it('is finalized within recheck + close_timeout, and its slot is free', async () => {
    const u = uniqueUser('rv');
    const { cookie, sid } = await env.login(u);
    await stuckPeer(env, u, cookie);
    const c = await env.redis.client();
    await c.del(`sess:${sid}`);
    const t0 = Date.now();
    // The session is gone: a new handshake is 401 now, so watch the stats.
    for (;;) {
      const s = await stats(env);
      if (s.activeConnections === 0) break;
      assert.ok(Date.now() - t0 < 7000, `still ${s.activeConnections} active after ${Date.now() - t0} ms`);
      await sleep(200);
    }
    assert.match(env.nginx.errorLog(), /session ended, closing with 4401/);
    // The user may connect again with a new session at once.
    const again = await env.login(u);
    const ws = await RawWs.connect(env.port, { cookie: again.cookie });
    await ws.waitConnected();
    ws.destroy();
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('a slow consumer that never reads again', () => {
  const env = useEnv(base(['portfolio_stream_send_limit 1m;', 'portfolio_stream_heartbeat 60s;']));

  it('is dropped (1008) and finalized within close_timeout', async () => {
    const u = uniqueUser('sc');
    const { cookie } = await env.login(u);
    const before = await stats(env);
    await stuckPeer(env, u, cookie);
    const ms = await slotFreeAfter(env, cookie, 5000);
    assert.ok(ms < 5000, `freed after ${ms} ms`);
    const after = await stats(env);
    assert.ok(after.connections.slowConsumerDrops > before.connections.slowConsumerDrops);
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('a peer that never reads during a reload (1001)', () => {
  const env = useEnv(base(['portfolio_stream_send_limit 16m;', 'portfolio_stream_heartbeat 60s;']));

  it('lets the old worker exit within close_timeout, not worker_shutdown_timeout', async () => {
    const u = uniqueUser('rl');
    const { cookie } = await env.login(u);
    await stuckPeer(env, u, cookie);
    const t0 = Date.now();
    const old = await env.nginx.reload(undefined, { oldExitMs: 9000 });
    const ms = Date.now() - t0;
    assert.deepEqual(old.stillRunning, [], 'the old worker is still running');
    assert.ok(ms < 6000, `old worker took ${ms} ms to exit (close_timeout 2s, worker_shutdown_timeout 10s)`);
    await slotFreeAfter(env, cookie, 3000);
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('1,000 connections whose peers never read, closed by heartbeat', () => {
  const env = useEnv({
    nginx: {
      stats: true,
      listen: 'sndbuf=16k',
      main: ['worker_rlimit_nofile 4096;'],
      http: ['portfolio_stream_max_connections 1000;', 'portfolio_stream_max_connections_per_user 250;'],
      location: ['portfolio_stream_batch_window 0;', 'portfolio_stream_close_timeout 1s;',
        'portfolio_stream_heartbeat 1s;', 'portfolio_stream_send_limit 16m;'],
    },
  });

  const fds = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
  const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

  it('releases every slot, fd and buffer, round after round', async () => {
    const [worker] = env.nginx.workerPids();
    const u = uniqueUser('many');
    const { cookie } = await env.login(u);
    // Warm-up round so one-time allocations are not counted as growth.
    const fd0 = fds(worker);
    let rss0 = 0;
    const ROUNDS = 4;
    const PER = 250;
    let closedBefore = (await stats(env)).connections.closed;
    for (let round = 0; round < ROUNDS; round++) {
      const peers = await Promise.all(Array.from({ length: PER }, () => RawWs.connect(env.port, { cookie })));
      await Promise.all(peers.map((p) => p.waitConnected(10000)));
      for (const p of peers) p.socket.pause();
      for (let i = 0; i < 4; i++) await env.publish(u, JSON.stringify({ type: 'order_update', round, i, pad: BIG }));
      const t0 = Date.now();
      for (;;) {
        const s = await stats(env);
        if (s.activeConnections === 0) {
          assert.equal(s.connections.closed - closedBefore, PER, 'every connection counted closed once');
          closedBefore = s.connections.closed;
          break;
        }
        assert.ok(Date.now() - t0 < 10000, `round ${round}: ${s.activeConnections} still active`);
        await sleep(250);
      }
      for (const p of peers) p.destroy();
      await sleep(200);
      if (round === 0) rss0 = rssKb(worker);
    }
    const s = await stats(env);
    assert.equal(s.activeUsers, 0);
    assert.equal(s.activeConnections, 0);
    assert.ok(fds(worker) <= fd0 + 2, `worker fds ${fd0} -> ${fds(worker)}`);
    // Under ASan freed memory sits in its quarantine: RSS says nothing there.
    if (!process.env.PS_SANITIZE) assert.ok(rssKb(worker) < rss0 + 16 * 1024, `worker RSS ${rss0} -> ${rssKb(worker)} KB`);
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('a client message trickled byte by byte', () => {
  const env = useEnv(base(['portfolio_stream_heartbeat 60s;', 'portfolio_stream_message_timeout 2s;']));

  it('is closed with 1008 once portfolio_stream_message_timeout has passed', async () => {
    const u = uniqueUser('tr');
    const { cookie } = await env.login(u);
    const ws = await RawWs.connect(env.port, { cookie });
    await ws.waitConnected();
    const { buildFrame, OP } = await import('./lib/frames.mjs');
    const frame = buildFrame({ opcode: OP.TEXT, payload: JSON.stringify({ type: 'ping', pad: 'y'.repeat(40) }) });
    const t0 = Date.now();
    for (let i = 0; i < frame.length && !ws.tcpClosed; i++) {
      ws.send(frame.subarray(i, i + 1));
      await sleep(100);
    }
    const { closeFrame } = await ws.waitClosed(3000);
    const ms = Date.now() - t0;
    assert.equal(closeFrame && closeFrame.code, 1008);
    assert.ok(ms >= 1900 && ms < 4000, `closed after ${ms} ms`);
    assert.equal(ws.messages().filter((m) => m.type === 'pong').length, 0);
    await slotFreeAfter(env, cookie, 2000);
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
