// portfolio_stream_heartbeat: ping frames; a peer silent for 2 intervals is closed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { RawWs } from './lib/raw.mjs';
import { OP, buildFrame } from './lib/frames.mjs';

describe('heartbeat 1s', () => {
  const env = useEnv({ nginx: { location: ['portfolio_stream_heartbeat 1s;'] } });

  it('connected reports heartbeatMs 1000', async () => {
    const c = await env.user(uniqueUser());
    assert.equal(c.messages[0].heartbeatMs, 1000);
    c.terminate();
  });

  it('a raw client that never answers is pinged, then closed after ~2 s', async () => {
    const { cookie } = await env.login(uniqueUser());
    const r = await RawWs.connect(env.port, { cookie });
    const t0 = Date.now();
    await r.waitConnected();
    await r.waitFrame((f) => f.opcode === OP.PING, 1800, 'a ping frame within ~1 s');
    await r.waitClosed(4500);
    const elapsed = r.closedAt - t0;
    assert.ok(elapsed >= 1500 && elapsed <= 4000, `closed after ${elapsed} ms, expected ~2000`);
    const pings = r.frames.filter((f) => f.opcode === OP.PING);
    assert.ok(pings.length >= 1, 'pinged at least once');
    assert.ok(pings.every((f) => f.fin && f.payload.length <= 125));
  });

  it('a raw client that answers pings stays open', async () => {
    const { cookie } = await env.login(uniqueUser());
    const r = await RawWs.connect(env.port, { cookie });
    await r.waitConnected();
    let answered = 0;
    const timer = setInterval(() => {
      for (const f of r.frames.filter((x) => x.opcode === OP.PING && !x.answered)) {
        f.answered = true; answered++;
        r.send(buildFrame({ opcode: OP.PONG, payload: f.payload }));
      }
    }, 50);
    try {
      await sleep(4000);
      assert.ok(!r.tcpClosed, `closed although it answered pings: ${r.describe()}`);
      assert.ok(answered >= 3, `only ${answered} pings in 4 s`);
    } finally { clearInterval(timer); r.destroy(); }
  });

  it('a ws client (auto-pong) stays open for 4 s and sees ~1 ping/s', async () => {
    const c = await env.user(uniqueUser());
    await sleep(4000);
    assert.ok(c.isOpen, `closed: ${JSON.stringify(c.closeInfo)}`);
    assert.ok(c.pings.length >= 3 && c.pings.length <= 6, `${c.pings.length} pings in 4 s`);
    c.terminate();
  });

  it('error.log is clean and nginx stops gracefully', async () => {
    await stopAndCheckLog(env);
  });
});
