// The per-stage latency figures (Prometheus only): redis (publisher ts to
// read), dispatch (read to queued) and write (queued to the kernel) fill in
// once events flow; the JSON stays SPEC section 5's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser } from './lib/env.mjs';

describe('stage latencies', () => {
  const env = useEnv({ nginx: { stats: true, location: ['portfolio_stream_batch_window 0;'] } });

  it('are reported per stage after events were delivered', async () => {
    const u = uniqueUser('st');
    const c = await env.user(u);
    for (let i = 0; i < 20; i++) await env.publish(u, JSON.stringify({ type: 'order_update', i, ts: Date.now() }));
    await c.waitEvents(20);
    const text = await fetch(`${env.nginx.httpBase}/api/admin/websocket-stats?format=prometheus`).then((r) => r.text());
    const value = (stage, q) => {
      const m = new RegExp(`^portfolio_stream_stage_latency_microseconds\\{stage="${stage}",quantile="${q}"\\} (\\S+)$`, 'm').exec(text);
      assert.ok(m, `no ${stage} ${q} sample`);
      return Number(m[1]);
    };
    for (const stage of ['dispatch', 'write']) {
      assert.ok(value(stage, '1') > 0, `${stage} max`);
      assert.ok(value(stage, '0.5') <= value(stage, '1') * 1.07 + 1, `${stage} p50 <= max`);
      assert.ok(value(stage, '1') < 5e6, `${stage} under 5 s`);
    }
    assert.ok(value('redis', '1') >= 0);
    const json = await fetch(`${env.nginx.httpBase}/api/admin/websocket-stats`).then((r) => r.json());
    assert.deepEqual(Object.keys(json.latencyMs), ['p50', 'p99', 'max']);
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
