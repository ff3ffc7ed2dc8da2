// The admin stats page (client/demo/stats.html) in Chromium against the real stack: what
// /api/admin/websocket-stats says, as a person reads it: connections and users against the
// limits, events per second with a chart that grows, batch efficiency, latency, rejections by
// reason (a handshake from a foreign Origin shows up), Redis state through a Redis stop and
// restart, and what the page does when the stats location cannot be reached.
// Screenshots: <out>/stats/NN-<state>.png.
//   node --test-reporter=spec tests/browser/e2e/stats.test.mjs
import { requireBrowser, startStack, styleOf, sleep } from '../lib/stack.mjs';

await requireBrowser();
const { describe, it, before, after } = await import('node:test');
const assert = (await import('node:assert/strict')).default;

describe('admin stats page', () => {
  let s;
  let page;
  const text = (sel) => page.locator(sel).innerText();
  const waitText = (sel, re, timeout = 5000) =>
    page.waitForFunction(([q, src]) => new RegExp(src).test(document.querySelector(q)?.textContent ?? ''), [sel, re.source], { timeout });

  before(async () => {
    s = await startStack({ name: 'stats', nginx: { location: ['portfolio_stream_batch_window 200ms;'] } });
    page = await s.openPage('/demo/stats.html?interval=500');
  });
  after(async () => { await s.stop(); });

  it('healthy, with connections and users against the limits', async () => {
    await waitText('#status', /^healthy$/);
    assert.equal((await styleOf(page, '#status', ['background-color']))['background-color'], 'rgb(34, 197, 94)');
    await s.connectNode();
    await s.connectNode();
    await s.connectNode('other-user');
    await waitText('#connections', /^3$/);
    await waitText('#users', /^2$/);
    assert.match(await page.locator('.tile', { has: page.locator('#connections') }).innerText(), /of 100 max/);
    assert.equal(await text('#redis-state'), 'connected');
  });

  it('events per second: rates, a chart that grows, batch efficiency and latency', async () => {
    // ~40 events/s for 3 s to the user with two connections; bursts coalesce
    const end = Date.now() + 3000;
    let n = 0;
    while (Date.now() < end) {
      for (let i = 0; i < 4; i++) await s.publish({ type: 'position_update', key: 'AAPL', data: { symbol: 'AAPL', price: 100 + (n++ % 7) } });
      await sleep(100);
    }
    await waitText('#rate-received', /^(?!0\.00$)\d/);
    const received = Number(await text('#rate-received'));
    const delivered = Number(await text('#rate-delivered'));
    assert.ok(received > 5 && received < 200, `received ${received}/s`);
    assert.ok(delivered >= received, `delivered ${delivered}/s to two connections`);
    const points = Number(await page.locator('polyline[data-series="received"]').getAttribute('data-points'));
    assert.ok(points >= 4, `${points} points on the chart`);
    const box = await page.locator('svg.chart').boundingBox();
    assert.ok(box.width > 500 && box.height > 100, JSON.stringify(box));
    assert.match(await text('#batch-efficiency'), /^\d+(\.\d)?%$/);
    assert.match(await text('#latency-p50'), /^\d+(\.\d)? ms$/);
    assert.match(await text('#latency-p99'), /^\d+(\.\d)? ms$/);
    assert.match(await text('#total-received'), /^\d{2,}$/);
    await s.shot('rates');
  });

  it('rejections by reason: a handshake from a foreign Origin is counted', async () => {
    const r = await s.handshake({ origin: 'http://evil.example' });
    assert.equal(r.status, 403);
    const row = '#rejected tr[data-reason="forbiddenOrigin"]';
    await waitText(`${row} .count`, /^1$/);
    assert.equal(await page.locator(row).getAttribute('class'), 'nonzero');
    assert.match(await text(row), /forbidden Origin \(403\)/);
    assert.equal(await text('#rejected tr[data-reason="unauthorized"] .count'), '0');
    await s.shot('rejections');
  });

  it('Redis stopped: degraded and disconnected; restarted: healthy again', async () => {
    await s.env.redis.stop();
    await waitText('#status', /^degraded$/, 8000);
    await waitText('#redis-state', /^disconnected$/);
    assert.equal((await styleOf(page, '#status', ['background-color']))['background-color'], 'rgb(234, 179, 8)');
    await s.shot('redis-down');
    await s.env.redis.start();
    await waitText('#status', /^healthy$/, 10000);
    await waitText('#redis-state', /^connected$/);
    assert.ok(Number(await text('#redis-reconnects')) >= 1);
  });

  it('stats location unreachable: says so, keeps the last values; back when nginx is', async () => {
    await s.env.nginx.stop();
    await waitText('#status', /^unreachable$/, 5000);
    assert.match(await text('.banner-error'), /Stats unavailable: .*Showing the last values\./);
    assert.match(await text('#total-received'), /^\d{2,}$/);
    await s.shot('unreachable');
    await s.env.nginx.start();
    await waitText('#status', /^healthy$/, 5000);
    assert.equal(await page.locator('.banner-error').count(), 0);
  });

  it('no page errors; error.log is clean and nginx stops gracefully', async () => {
    assert.deepEqual(s.unexpectedConsoleErrors(), []);
    await s.stopAndCheckLog();
  });
});
