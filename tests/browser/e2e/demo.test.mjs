// The demo page (client/demo) and the reference client (client/portfolio-stream.js) in a real
// Chromium, against the real stack of tests/integration: stock nginx with the module (which
// also serves client/ as static files), redis-server, and the Express app whose express-session
// cookie the browser carries. Covers SPEC §7's client: live state, events into the DOM,
// batches, permessage-deflate negotiated by Chrome, filters, degraded/live on a Redis
// restart, reconnect after a reload (1001), stale (a frozen worker), offline, and
// "session expired" (4401, and refused handshakes) with no further attempts.
//
//   node --test-reporter=spec tests/browser/e2e/demo.test.mjs
// Exits 77 (ctest: skipped) when /usr/bin/chromium (Debian's `chromium`) or playwright-core
// (tests/integration devDependency, `npm ci --prefix tests/integration`) is missing.
// PS_CHROMIUM overrides the browser path; PS_BROWSER_OUT the screenshot directory
// (default: <dir of the module>/browser, i.e. <build>/browser).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const CHROMIUM = process.env.PS_CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) {
  console.log(`SKIP: ${CHROMIUM} not found (Debian: apt-get install chromium)`);
  process.exit(77);
}
let chromium;
try {
  ({ chromium } = createRequire(new URL('../../integration/package.json', import.meta.url))('playwright-core'));
} catch (e) {
  console.log(`SKIP: playwright-core is not installed (npm ci --prefix tests/integration): ${e.message}`);
  process.exit(77);
}

const { describe, it, before, after } = await import('node:test');
const assert = (await import('node:assert/strict')).default;
const { startEnv, stopEnv, stopAndCheckLog, uniqueUser, sleep } = await import('../../integration/lib/env.mjs');
const { registerDir, unregisterDir } = await import('../../integration/lib/procs.mjs');
const { MODULE_PATH } = await import('../../integration/lib/nginx.mjs');

const CLIENT_DIR = fileURLToPath(new URL('../../../client', import.meta.url));
const OUT_DIR = process.env.PS_BROWSER_OUT || path.join(path.dirname(MODULE_PATH), 'browser');
const STATS = '/api/admin/websocket-stats';
const CHROME_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('demo page in Chromium', () => {
  const env = {};
  let ctx;           // persistent browser context (its own fresh --user-data-dir)
  let profile;       // that dir
  let page;
  let user;
  let sid;
  const handshakes = [];   // CDP Network.webSocketHandshakeResponseReceived
  const sockets = [];      // playwright WebSocket objects the page opened
  const frames = [];       // payloads of frames the page received (inflated by Chrome)
  const consoleErrors = [];

  const state = () => page.evaluate(() => document.querySelector('#state').dataset.state || 'connecting');
  const waitState = (s, timeout = 5000) =>
    page.waitForFunction((want) => document.querySelector('#state').dataset.state === want, s, { timeout });
  // index into the page's state history, to wait for transitions after a point
  const historyLen = () => page.evaluate(() => window.demo.history.length);
  const waitHistory = (from, pred, timeout = 8000) =>
    page.waitForFunction(([i, p]) => window.demo.history.slice(i).some(([s, info]) => new Function('s', 'info', `return ${p}`)(s, info)),
      [from, pred], { timeout });
  const publish = (ev) => env.publish(user, { ts: Date.now(), ...ev });
  const stats = async () => (await fetch(`${env.nginx.httpBase}${STATS}`)).json();
  const rowText = (sym) => page.locator(`#positions tr[data-symbol="${sym}"]`).innerText();

  before(async () => {
    Object.assign(env, await startEnv({
      nginx: {
        stats: true,
        location: ['portfolio_stream_session_recheck 1s;', 'portfolio_stream_heartbeat 1s;', 'portfolio_stream_batch_window 200ms;'],
        locations: [
          `location / {
            root ${CLIENT_DIR};
            types { text/html html; text/css css; text/javascript js; }
            default_type application/octet-stream;
          }`,
        ],
      },
    }));
    user = uniqueUser('web');
    const login = await env.login(user);
    sid = login.sid;
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-chromium-'));
    registerDir(profile);
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: CHROME_ARGS, viewport: { width: 1280, height: 820 }, timeout: 30000,
    });
    // The express-session cookie, as the app's login response set it, for the nginx origin.
    const [name, value] = login.cookie.split(/=(.*)/s);
    await ctx.addCookies([{ name, value, url: env.nginx.httpBase, httpOnly: true, sameSite: 'Lax' }]);
    page = ctx.pages()[0] || (await ctx.newPage());
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    page.on('websocket', (ws) => {
      sockets.push(ws);
      ws.on('framereceived', (f) => frames.push(String(f.payload)));
    });
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => handshakes.push(e.response));
  });

  after(async () => {
    if (ctx) await ctx.close().catch(() => {});
    if (profile) { fs.rmSync(profile, { recursive: true, force: true }); unregisterDir(profile); }
    await stopEnv(env);
  });

  it('loads the page with the session cookie and goes live', async () => {
    await page.goto(`${env.nginx.httpBase}/demo/`);
    await waitState('live');
    assert.equal(await page.locator('#user').innerText(), user);
    assert.equal(await page.locator('#state').innerText(), 'LIVE'); // text-transform: uppercase
    assert.ok(await page.locator('#banner').isHidden(), 'no "session expired" banner');
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
    fs.mkdirSync(OUT_DIR, { recursive: true });
    await sleep(900);  // let the update highlight fade
    await page.screenshot({ path: path.join(OUT_DIR, 'demo.png'), fullPage: true });
    console.log(`screenshot: ${path.join(OUT_DIR, 'demo.png')}`);
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
    assert.equal(await page.locator('#state').innerText(), 'DEGRADED');
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
    await ctx.setOffline(true);
    await waitState('offline', 3000);
    const n = sockets.length;
    await sleep(1500);
    assert.equal(sockets.length, n, 'no connection attempts while offline');
    await ctx.setOffline(false);
    await waitHistory(h, "s === 'live'", 5000);
  });

  it('session deleted: close 4401, "session expired", no more attempts', async () => {
    const admin = await env.redis.client();
    const h = await historyLen();
    assert.equal(await admin.del(`sess:${sid}`), 1);
    await waitState('unauthorized', 5000);
    const info = await page.evaluate((i) => window.demo.history.slice(i).find(([s]) => s === 'unauthorized')[1], h);
    assert.equal(info.code, 4401);
    assert.equal(await page.locator('#state').innerText(), 'SESSION EXPIRED');
    assert.ok(await page.locator('#banner').isVisible(), 'the "log in again" banner');
    const n = sockets.length;
    await sleep(3000);
    assert.equal(sockets.length, n, 'no reconnect attempts after 4401');
    assert.equal(await state(), 'unauthorized');
    await page.screenshot({ path: path.join(OUT_DIR, 'demo-expired.png'), fullPage: true });
  });

  it('a cookie nginx refuses (401, invisible to scripts): gives up as "session expired" after a few tries', async () => {
    await ctx.clearCookies();
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
    const s = await stats();
    assert.ok(s.rejected.unauthorized >= tries, JSON.stringify(s.rejected));
    await sleep(2000);
    assert.equal(sockets.length - n, tries, 'and stopped');
  });

  it('no page errors; error.log is clean and nginx stops gracefully', async () => {
    // the refused handshakes are logged by Chrome as console errors; nothing else may be
    const unexpected = consoleErrors.filter((e) => !/WebSocket connection to .* failed/.test(e));
    assert.deepEqual(unexpected, []);
    // the browser first: a socket it preconnected (no request yet) would hold a worker until
    // worker_shutdown_timeout
    await ctx.close();
    ctx = null;
    await stopAndCheckLog(env);
  });
});
