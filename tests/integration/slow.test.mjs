// portfolio_stream_send_limit: a client that stops reading is dropped (1008),
// and does not hold up anyone else.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { RawWs } from './lib/raw.mjs';

describe('slow consumer', () => {
  const env = useEnv({
    nginx: {
      stats: true,
      http: ['portfolio_stream_max_connections_per_user 10;'],
      location: ['portfolio_stream_batch_window 0;', 'portfolio_stream_send_limit 256k;', 'portfolio_stream_heartbeat 60s;'],
    },
  });

  it('a client that does not read is dropped with 1008; a reading one gets everything', async () => {
    const u = uniqueUser();
    const { cookie } = await env.login(u);
    const slow = await RawWs.connect(env.port, { cookie });
    await slow.waitConnected();
    const fast = await env.user(u);
    slow.socket.pause(); // stop reading: kernel buffers fill, then nginx's queue
    const pad = 'x'.repeat(100 * 1024);
    const N = 120; // 12 MB: more than loopback socket buffers plus send_limit
    // Paced by the reading client, so only the paused one can fall behind
    // (on a loaded machine an unpaced burst can outrun even a reading client).
    for (let i = 0; i < N; i++) {
      await env.publish(u, JSON.stringify({ type: 'order_update', i, pad }));
      await fast.waitEvents(i + 1, 15000);
    }
    assert.deepEqual(fast.events().map((e) => e.i), [...Array(N).keys()]);
    await sleep(300);
    const s = await fetch(`${env.nginx.httpBase}/api/admin/websocket-stats`).then((r) => r.json());
    assert.ok(s.connections.slowConsumerDrops >= 1, `slowConsumerDrops ${s.connections.slowConsumerDrops}`);
    slow.socket.resume();
    const { closeFrame } = await slow.waitClosed(10000);
    const got = slow.frames.filter((f) => f.opcode === 1).length;
    assert.ok(got < N + 1, `the slow client got all ${got} frames`);
    if (closeFrame) assert.equal(closeFrame.code, 1008);
    assert.ok(fast.isOpen);
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
