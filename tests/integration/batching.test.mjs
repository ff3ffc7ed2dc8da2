// SPEC §4 batching/coalescing with a 500 ms window (wide, for stable timing).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';

const W = 500;

describe('batch window 500ms', () => {
  const env = useEnv({ nginx: { location: [`portfolio_stream_batch_window ${W}ms;`] } });

  // Frames after `connected`, with arrival times.
  function track(c) {
    const frames = [];
    c.ws.on('message', (d, bin) => { if (!bin) frames.push({ at: Date.now(), text: d.toString('utf8') }); });
    return frames;
  }
  const waitFrames = async (frames, n, timeout = 3000) => {
    const end = Date.now() + timeout;
    while (frames.length < n) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${n} frames; got ${JSON.stringify(frames)}`);
      await sleep(10);
    }
  };

  it('connected reports batchWindowMs 500', async () => {
    const c = await env.user(uniqueUser());
    assert.equal(c.messages[0].batchWindowMs, W);
  });

  it('a quiet user gets the first event at once, as the published bytes', async () => {
    const u = uniqueUser();
    const c = await env.user(u);
    const frames = track(c);
    const p = '{"type":"position_update","key":"AAPL","data":{"symbol":"AAPL","qty":1}}';
    const t0 = Date.now();
    await env.publish(u, p);
    await waitFrames(frames, 1);
    assert.ok(frames[0].at - t0 < 200, `first event took ${frames[0].at - t0} ms`);
    assert.equal(frames[0].text, p);
  });

  it('a busy user gets one batch per window, coalesced in place', async () => {
    const u = uniqueUser();
    const c = await env.user(u);
    const frames = track(c);
    const first = '{"type":"position_update","key":"A","v":0}';
    const burst = [
      '{"type":"position_update","key":"A","v":1}',
      '{"type":"position_update","data":{"symbol":"B"},"v":1}',
      '{"type":"account_update","v":1}',
      '{"type":"position_update","key":"A","v":2}',
      '{"type":"account_update","v":2}',
      '{"type":"position_update","data":{"symbol":"B"},"v":2}',
      '{"type":"position_update","key":"C","v":1}',
    ];
    await env.publish(u, first);
    await waitFrames(frames, 1);
    for (const p of burst) await env.publish(u, p);
    await waitFrames(frames, 2, 2000);
    await sleep(W + 200);
    assert.equal(frames.length, 2, `one frame for the burst, got ${frames.length}: ${JSON.stringify(frames.map((f) => f.text))}`);
    const gap = frames[1].at - frames[0].at;
    assert.ok(gap >= W - 60 && gap <= W + 250, `batch came ${gap} ms after the first frame (window ${W})`);
    const b = JSON.parse(frames[1].text);
    assert.equal(b.type, 'batch');
    assert.deepEqual(b.events, [
      { type: 'position_update', key: 'A', v: 2 },
      { type: 'position_update', data: { symbol: 'B' }, v: 2 },
      { type: 'account_update', v: 2 },
      { type: 'position_update', key: 'C', v: 1 },
    ]);
    for (const p of [burst[3], burst[4], burst[5], burst[6]]) assert.ok(frames[1].text.includes(p), `batch carries the published bytes of ${p}`);
  });

  it('order and trade events are never coalesced and flush the pending batch at once', async () => {
    const u = uniqueUser();
    const c = await env.user(u);
    const frames = track(c);
    await env.publish(u, '{"type":"position_update","key":"X","v":1}');
    await waitFrames(frames, 1);
    await env.publish(u, '{"type":"position_update","key":"Y","v":1}');
    const t0 = Date.now();
    await env.publish(u, '{"type":"order_update","id":1}');
    await env.publish(u, '{"type":"order_update","id":1}');
    await waitFrames(frames, 2, 1000);
    assert.ok(frames[1].at - t0 < 200, `order flushed after ${frames[1].at - t0} ms`);
    await sleep(W + 200);
    const evs = frames.slice(1).flatMap((f) => { const m = JSON.parse(f.text); return m.type === 'batch' ? m.events : [m]; });
    assert.deepEqual(evs, [
      { type: 'position_update', key: 'Y', v: 1 },
      { type: 'order_update', id: 1 },
      { type: 'order_update', id: 1 },
    ]);
  });

  it('a steady stream gets at most one frame per window and loses nothing unique', async () => {
    const u = uniqueUser();
    const c = await env.user(u);
    const frames = track(c);
    const t0 = Date.now();
    for (let i = 0; i < 30; i++) {
      await env.publish(u, JSON.stringify({ type: 'position_update', key: `K${i}`, i }));
      await sleep(50);
    }
    await sleep(W + 300);
    const dur = Date.now() - t0;
    assert.ok(frames.length <= Math.ceil(dur / W) + 1, `${frames.length} frames in ${dur} ms`);
    for (let i = 1; i < frames.length; i++) {
      assert.ok(frames[i].at - frames[i - 1].at >= W - 60, `frames ${i - 1},${i} only ${frames[i].at - frames[i - 1].at} ms apart`);
    }
    const evs = frames.flatMap((f) => { const m = JSON.parse(f.text); return m.type === 'batch' ? m.events : [m]; });
    assert.deepEqual(evs.map((e) => e.i), [...Array(30).keys()]);
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
