// The demo page (client/demo, built with Vite from the package's React components) and the
// core client in a real Chromium, against the real stack (tests/browser/lib/stack.mjs: stock nginx
// with the module, redis-server, the Express app whose express-session cookie the browser
// carries). The connection itself: live state, events into the DOM, batches, permessage-deflate
// negotiated by Chrome, filters, degraded/live on a Redis restart, reconnect after a reload
// (1001), stale (a frozen worker), offline, and "signed out" (4401, and refused handshakes)
// with no further attempts. What a trader sees of all that is tests/browser/e2e/features.test.mjs.
//
//   node --test-reporter=spec tests/browser/e2e/demo.test.mjs
// Exits 77 (ctest: skipped) when /usr/bin/chromium, playwright-core (`npm ci --prefix
// tests/integration`) or the client's packages (`npm ci --prefix client`) are missing.
// PS_CHROMIUM overrides the browser path; PS_BROWSER_OUT the output directory
// (default: <dir of the module>/browser, i.e. <build>/browser); screenshots in <out>/demo/.
import { requireBrowser, startStack, sleep } from '../lib/stack.mjs';

await requireBrowser();
const { describe, it, before, after } = await import('node:test');
const assert = (await import('node:assert/strict')).default;

describe('demo page in Chromium', () => {
  let s;             // the stack
  let page;
  let user;
  let sid;
  let handshakes;
  let sockets;
  let frames;
  const env = {};
  // the ConnectionStatus component (#connection) carries the stream's state in data-state
  const state = () => page.evaluate(() => document.querySelector('#connection').dataset.state);
  const waitState = (want, timeout = 5000) =>
    page.waitForFunction((w) => document.querySelector('#connection')?.dataset.state === w, want, { timeout });
  const label = () => page.locator('#connection .ps-conn__label').innerText();
  // index into the page's state history, to wait for transitions after a point
  const historyLen = () => page.evaluate(() => window.demo.history.length);
  const waitHistory = (from, pred, timeout = 8000) =>
    page.waitForFunction(([i, p]) => window.demo.history.slice(i).some(([s, info]) => new Function('s', 'info', `return ${p}`)(s, info)),
      [from, pred], { timeout });
  const publish = (ev) => s.publish(ev);
  const stats = () => s.stats();
  const rowText = (sym) => page.locator(`#positions tr[data-symbol="${sym}"]`).innerText();

  before(async () => {
    s = await startStack({ name: 'demo', nginx: { location: ['portfolio_stream_session_recheck 1s;', 'portfolio_stream_heartbeat 1s;', 'portfolio_stream_batch_window 200ms;'] } });
    Object.assign(env, s.env);
    ({ user, sid, handshakes, sockets, frames } = s);
  });
  after(async () => { await s.stop(); });

  it('loads the page with the session cookie and goes live', async () => {
    page = await s.openPage('/demo/');
    await waitState('live');
    assert.equal(await page.locator('#user').innerText(), user);
    assert.equal(await label(), 'Live');
    assert.equal(await page.locator('.ps-notice').count(), 0, 'no "signed out" banner');
    const server = await page.evaluate(() => window.demo.stream.server);
    assert.equal(server.heartbeatMs, 1000);
    assert.equal(server.batchWindowMs, 200);
  });

  it('Chrome negotiated permessage-deflate (the 101 answer)', async () => {
    assert.equal(handshakes.length, 1);
    const h = handshakes[0];
    assert.equal(h.status, 101);
    const ext = Object.entries(h.headers).find(([k]) => k.toLowerCase() === 'sec-websocket-extensions');
    assert.ok(ext, `no Sec-WebSocket-Extensions in ${JSON.stringify(h.headers)}`);
    assert.match(ext[1], /^permessage-deflate/);
    assert.match(await page.evaluate(() => window.demo.stream.stats.extensions), /permessage-deflate/);
  });

  it('published events update the table in place, the account panel and the feeds', async () => {
    await publish({ type: 'position_update', key: 'AAPL', data: { symbol: 'AAPL', quantity: 10, price: 190.5 } });
    await page.waitForSelector('#positions tr[data-symbol="AAPL"]', { timeout: 3000 });
    assert.match(await rowText('AAPL'), /AAPL\s+10\s+190\.50\s+1,905\.00/);
    await publish({ type: 'position_update', key: 'AAPL', data: { symbol: 'AAPL', quantity: 25, price: 191 } });
    await page.waitForFunction(() => /\b25\b/.test(document.querySelector('#positions tr[data-symbol="AAPL"]').innerText), null, { timeout: 3000 });
    assert.equal(await page.locator('#positions tr[data-symbol="AAPL"]').count(), 1, 'updated in place, not appended');
    await publish({ type: 'account_update', data: { cash: 12345.5, equity: 250000 } });
    await publish({ type: 'order_update', data: { orderId: 'ord-1', symbol: 'AAPL', side: 'buy', quantity: 5, status: 'filled' } });
    await publish({ type: 'trade_executed', data: { symbol: 'AAPL', side: 'buy', quantity: 5, price: 191 } });
    await page.waitForFunction(() => document.querySelector('#trades li'), null, { timeout: 3000 });
    assert.equal(await page.locator('#account dd[data-field="cash"]').innerText(), '12,345.50');
    assert.equal(await page.locator('#account dd[data-field="equity"]').innerText(), '250,000.00');
    assert.match(await page.locator('#orders li').first().innerText(), /ord-1.*buy AAPL 5.*filled/s);
    assert.match(await page.locator('#trades li').first().innerText(), /AAPL.*buy 5 @ 191\.00/s);
  });

  it('a batch is unpacked in order: coalesced positions, account, then an order', async () => {
    const batchesBefore = await page.evaluate(() => window.demo.stream.stats.batches);
    // the first goes out at once; the rest wait for the window and go as one batch frame
    await publish({ type: 'position_update', key: 'MSFT', data: { symbol: 'MSFT', quantity: 1, price: 400 } });
    for (const q of [2, 3, 4]) await publish({ type: 'position_update', key: 'MSFT', data: { symbol: 'MSFT', quantity: q, price: 401 } });
    await publish({ type: 'position_update', key: 'NVDA', data: { symbol: 'NVDA', quantity: 7, price: 880.25 } });
    await publish({ type: 'account_update', data: { cash: 999 } });
    await publish({ type: 'order_update', data: { orderId: 'ord-2', symbol: 'MSFT', status: 'new' } });
    await page.waitForFunction(() => [...document.querySelectorAll('#orders li')].some((li) => li.innerText.includes('ord-2')), null, { timeout: 3000 });
    assert.ok(await page.evaluate(() => window.demo.stream.stats.batches) > batchesBefore, 'a batch frame arrived');
    const batch = frames.map((f) => JSON.parse(f)).filter((m) => m.type === 'batch').at(-1);
    assert.ok(batch.events.length >= 3, JSON.stringify(batch));
    assert.deepEqual(batch.events.at(-1).data.orderId, 'ord-2', 'the order flushed the batch, last');
    assert.match(await rowText('MSFT'), /MSFT\s+4\s+401\.00/);
    assert.match(await rowText('NVDA'), /NVDA\s+7\s+880\.25/);
    assert.equal(await page.locator('#account dd[data-field="cash"]').innerText(), '999.00');
    // rows sorted by symbol
    const syms = await page.locator('#positions tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.symbol));
    assert.deepEqual(syms, ['AAPL', 'MSFT', 'NVDA']);
  });

  it('a compressed frame (big event) is decoded; every received event reached the page', async () => {
    const before = (await stats()).frames.bytesSent;
    const notes = 'filled in several venues; '.repeat(200);
    await publish({ type: 'trade_executed', data: { symbol: 'TSLA', side: 'sell', quantity: 3, price: 250, notes } });
    await page.waitForFunction(() => [...document.querySelectorAll('#trades li')].some((li) => li.innerText.includes('TSLA')), null, { timeout: 3000 });
    const delta = (await stats()).frames.bytesSent - before;
    assert.ok(delta > 0 && delta < notes.length / 4, `wire bytes ${delta} for a ${notes.length}-byte event: not compressed?`);
    // Every event in every frame Chrome handed to the page was delivered to onEvent.
    const inFrames = frames.map((f) => JSON.parse(f)).reduce((n, m) =>
      n + (m.type === 'batch' ? m.events.length : ['connected', 'pong', 'subscribed', 'status', 'error'].includes(m.type) ? 0 : 1), 0);
    assert.equal(await page.evaluate(() => window.demo.stream.stats.events), inFrames);
  });

  it('latency and rtt figures are shown; screenshot', async () => {
    await page.waitForFunction(() => /ms/.test(document.querySelector('#latency').innerText) && /ms/.test(document.querySelector('#rtt').innerText), null, { timeout: 3000 });
    assert.match(await page.locator('#latency').innerText(), /^(< 1|\d+(\.\d)?) ms \(p50 (< 1|\d+(\.\d)?) ms\)$/);
    assert.match(await page.locator('#age').innerText(), /^\d+\.\d s ago$/);
    await sleep(900);  // let the P&L animations end
    await s.shot('live', { fullPage: true });
  });

  it('channel checkboxes: unsubscribe trades, subscribe again', async () => {
    await page.locator('#channels input[value="trades"]').uncheck();
    await page.waitForFunction(() => [...document.querySelectorAll('#log li')].some((li) => li.innerText.includes('subscribed: positions, orders, account')), null, { timeout: 3000 });
    const trades = await page.locator('#trades li').count();
    await publish({ type: 'trade_executed', data: { symbol: 'SKIP', quantity: 1, price: 1 } });
    await publish({ type: 'order_update', data: { orderId: 'ord-3', status: 'new' } });
    await page.waitForFunction(() => [...document.querySelectorAll('#orders li')].some((li) => li.innerText.includes('ord-3')), null, { timeout: 3000 });
    assert.equal(await page.locator('#trades li').count(), trades, 'no trade while unsubscribed');
    assert.ok(!frames.some((f) => f.includes('SKIP')), 'the server filtered it');
    await page.locator('#channels input[value="trades"]').check();
    await page.waitForFunction(() => [...document.querySelectorAll('#log li')].some((li) => /subscribed: .*trades/.test(li.innerText)), null, { timeout: 3000 });
    await publish({ type: 'trade_executed', data: { symbol: 'BACK', quantity: 1, price: 1 } });
    await page.waitForFunction(() => [...document.querySelectorAll('#trades li')].some((li) => li.innerText.includes('BACK')), null, { timeout: 3000 });
  });

  it('Redis restart: degraded, then live again, and events flow', async () => {
    const admin = await env.redis.client();
    await admin.sendCommand(['SAVE']);  // the session survives the restart (recheck is 1 s)
    const h = await historyLen();
    await env.redis.stop();
    await waitState('degraded', 8000);
    assert.equal(await label(), 'Degraded');
    await env.redis.start();
    await waitState('live', 10000);
    assert.ok((await page.evaluate((i) => window.demo.history.slice(i).map((x) => x[0]), h)).join() === 'degraded,live',
      'the socket stayed open: no reconnect');
    // the subscription is back: publish until one arrives
    for (let i = 0; i < 30; i++) {
      await publish({ type: 'order_update', data: { orderId: `ord-r${i}`, status: 'new' } });
      if (await page.evaluate(() => [...document.querySelectorAll('#orders li')].some((li) => li.innerText.includes('ord-r')))) break;
      await sleep(100);
    }
    await page.waitForFunction(() => [...document.querySelectorAll('#orders li')].some((li) => li.innerText.includes('ord-r')), null, { timeout: 3000 });
  });

  it('nginx reload: close 1001, reconnects (jittered) within a few seconds, filters re-applied', async () => {
    await page.locator('#channels input[value="account"]').uncheck();
    await page.waitForFunction(() => [...document.querySelectorAll('#log li')].some((li) => li.innerText.includes('subscribed: positions, orders, trades')), null, { timeout: 3000 });
    const h = await historyLen();
    const socketsBefore = sockets.length;
    const t0 = Date.now();
    await env.nginx.reload(undefined, { oldExitMs: 0 });
    await waitHistory(h, "s === 'reconnecting' && info.code === 1001", 5000);
    await waitHistory(h, "s === 'live'", 5000);
    const took = Date.now() - t0;
    assert.ok(took < 4000, `live again after ${took} ms`);
    assert.equal(sockets.length, socketsBefore + 1, 'one new WebSocket');
    assert.equal(await page.evaluate(() => window.demo.stream.stats.reconnects), 1);
    // the filter (no account) was sent again on the new connection
    await page.waitForFunction(() => window.demo.stream.server.channels.join() === 'positions,orders,trades', null, { timeout: 3000 });
    await publish({ type: 'position_update', key: 'AMZN', data: { symbol: 'AMZN', quantity: 3, price: 180 } });
    await page.waitForSelector('#positions tr[data-symbol="AMZN"]', { timeout: 3000 });
    await page.locator('#channels input[value="account"]').check();
  });

  it('stale: a frozen nginx worker (no pong for 2 heartbeats) is detected; reconnects when it thaws', async () => {
    const workers = env.nginx.workerPids();
    assert.equal(workers.length, 1);
    const h = await historyLen();
    const t0 = Date.now();
    process.kill(workers[0], 'SIGSTOP');
    try {
      await waitHistory(h, "s === 'stale'", 6000);
      const took = Date.now() - t0;
      assert.ok(took >= 1500 && took < 5000, `stale after ${took} ms (heartbeat 1 s)`);
      await waitHistory(h, "s === 'reconnecting'", 2000);
    } finally {
      process.kill(workers[0], 'SIGCONT');
    }
    await waitState('live', 15000);
    await publish({ type: 'position_update', key: 'GOOG', data: { symbol: 'GOOG', quantity: 9, price: 170 } });
    await page.waitForSelector('#positions tr[data-symbol="GOOG"]', { timeout: 3000 });
  });

  it('offline: no attempts while the browser is offline, live again when online', async () => {
    const h = await historyLen();
    await s.ctx.setOffline(true);
    await waitState('offline', 3000);
    const n = sockets.length;
    await sleep(1500);
    assert.equal(sockets.length, n, 'no connection attempts while offline');
    await s.ctx.setOffline(false);
    await waitHistory(h, "s === 'live'", 5000);
  });

  it('session deleted: close 4401, "session expired", no more attempts', async () => {
    const admin = await env.redis.client();
    const h = await historyLen();
    assert.equal(await admin.del(`sess:${sid}`), 1);
    await waitState('unauthorized', 5000);
    const info = await page.evaluate((i) => window.demo.history.slice(i).find(([s]) => s === 'unauthorized')[1], h);
    assert.equal(info.code, 4401);
    assert.equal(await label(), 'Signed out');
    assert.ok(await page.locator('.ps-notice--unauthorized a[href="/demo/login"]').isVisible(), 'the "log in again" banner');
    const n = sockets.length;
    await sleep(3000);
    assert.equal(sockets.length, n, 'no reconnect attempts after 4401');
    assert.equal(await state(), 'unauthorized');
    await s.shot('signed-out', { fullPage: true });
  });

  it('a cookie nginx refuses (401, invisible to scripts): gives up as "session expired" after a few tries', async () => {
    await s.ctx.clearCookies();
    const n = sockets.length;
    const t0 = Date.now();
    await page.reload();
    // >= 4 refused attempts over >= 5 s; with full-jitter backoff the attempt that crosses 5 s
    // can come as late as ~30 s (the cap), typically it is 6-12 s
    await waitState('unauthorized', 40000).catch(async (e) => {
      console.log('history:', JSON.stringify(await page.evaluate(() => window.demo.history.map(([s, i, t]) => [s, i.code, i.delayMs, t]))), Date.now());
      throw e;
    });
    const took = Date.now() - t0;
    const tries = sockets.length - n;
    assert.ok(tries >= 4 && tries <= 10, `${tries} attempts`);
    assert.ok(took >= 5000, `gave up after ${took} ms (window 5 s)`);
    const st = await stats();
    assert.ok(st.rejected.unauthorized >= tries, JSON.stringify(st.rejected));
    await sleep(2000);
    assert.equal(sockets.length - n, tries, 'and stopped');
  });

  it('no page errors; error.log is clean and nginx stops gracefully', async () => {
    // the refused handshakes are logged by Chrome as console errors; nothing else may be
    const unexpected = s.unexpectedConsoleErrors();
    assert.deepEqual(unexpected, []);
    // the browser first: a socket it preconnected (no request yet) would hold a worker until
    // worker_shutdown_timeout
    await s.stopAndCheckLog();
  });
});
