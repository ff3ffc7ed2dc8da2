// What a trader sees on the demo page (the package's React components) in Chromium, against the
// real stack (nginx with the module, redis-server, the Express app): asserted as a person would
// see it, by class and computed colour, text, and position on the page.
// - P&L: a green flash + scale when a position's profit rises, a red shake when it falls, on the
//   changed figure only, within 500 ms of the publish;
// - fill toasts: the exact text, stacked, in a polite live region, gone by themselves;
// - connection dot: green and pulsing when live; hover and keyboard focus show the details;
//   red when Redis is stopped (degraded) and green again after its restart; yellow and then red
//   (cannot reach the server, details with attempt and next retry) when nginx stops, green again
//   when it is back, with the snapshot reloaded;
// - freshness badges Live/Delayed/Stale at 4 s, 6 s and 31 s of data age, per row, with the page's
//   clock fixed by the test (Playwright's clock: Date only; timers and performance.now run real);
// - the yellow staleness banner past 60 s, hiding on fresh data, and its Refresh reloading the
//   snapshot; signed out (4401) with a link to log in again, and no more attempts.
// Screenshots of every state: <out>/features/NN-<state>.png.
//   node --test-reporter=spec tests/browser/e2e/features.test.mjs
import { requireBrowser, startStack, styleOf, COLORS, sleep } from '../lib/stack.mjs';

await requireBrowser();
const { describe, it, before, after } = await import('node:test');
const assert = (await import('node:assert/strict')).default;

describe('what a trader sees', () => {
  let s;
  let page;
  let T0;   // the page's wall clock at load (fixed: only the test moves it)

  const indicator = () => page.evaluate(() => document.querySelector('#connection').dataset.indicator);
  const waitIndicator = (want, timeout = 8000) =>
    page.waitForFunction((w) => document.querySelector('#connection')?.dataset.indicator === w, want, { timeout });
  const waitState = (want, timeout = 8000) =>
    page.waitForFunction((w) => document.querySelector('#connection')?.dataset.state === w, want, { timeout });
  const label = () => page.locator('#connection .ps-conn__label').innerText();
  const dot = () => styleOf(page, '#connection .ps-conn__dot', ['background-color', 'animation-name']);
  const badge = (sym) => page.locator(`#positions tr[data-symbol="${sym}"] .ps-badge`);
  const badgeStyle = (sym) => styleOf(page, `#positions tr[data-symbol="${sym}"] .ps-badge`, ['background-color']);
  const pnlSel = (sym) => `#positions tr[data-symbol="${sym}"] .ps-pnl`;
  // ages shown in the badges' titles change only when the store's clock ticks: wait for the tick
  const waitAge = (sym, age) => page.waitForFunction(([sel, a]) => {
    const b = document.querySelector(sel);
    return b && b.title.startsWith(`Updated ${a} ago`);
  }, [`#positions tr[data-symbol="${sym}"] .ps-badge`, age], { timeout: 3000 });
  const position = (symbol, data) => s.publish({ type: 'position_update', key: symbol, data: { symbol, ...data } });

  before(async () => {
    s = await startStack({
      name: 'features',
      nginx: { location: ['portfolio_stream_heartbeat 1s;', 'portfolio_stream_batch_window 100ms;', 'portfolio_stream_session_recheck 1s;'] },
    });
    T0 = Math.floor(Date.now() / 1000) * 1000;
    page = await s.openPage('/demo/', { fixedTime: T0 });
  });
  after(async () => { await s.stop(); });

  it('live: the dot is green and pulses', async () => {
    await waitIndicator('live');
    const d = await dot();
    assert.equal(d['background-color'], COLORS.green);
    assert.equal(d['animation-name'], 'ps-pulse');
    assert.equal(await label(), 'Live');
    await position('AAPL', { quantity: 10, price: 180, avgPrice: 170 });     // P&L +100
    await position('MSFT', { quantity: 5, price: 400, avgPrice: 410 });      // P&L -50
    await page.waitForSelector('#positions tr[data-symbol="MSFT"] .ps-pnl');
    await s.shot('live');
  });

  it('hover, and keyboard focus, show the state, last update, reconnect attempt and next retry', async () => {
    const details = page.locator('#connection .ps-conn__details');
    assert.ok(await details.isHidden(), 'hidden until asked for');
    await page.locator('#connection .ps-conn__trigger').hover();
    await details.waitFor({ state: 'visible', timeout: 2000 });
    const text = await details.innerText();
    assert.match(text, /State\s+Live: updates arrive as they happen/);
    assert.match(text, /Last update\s+\d\d:\d\d:\d\d \((just now|\d+ s ago)\)/);
    assert.match(text, /Reconnect attempt\s+–/);
    assert.match(text, /Next retry\s+–/);
    await sleep(200);   // its fade-in
    await s.shot('details-hover');
    await page.mouse.move(5, 840);
    await details.waitFor({ state: 'hidden', timeout: 2000 });
    // keyboard: Tab from the link before it lands on the indicator
    await page.locator('header a.link').focus();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.className), 'ps-conn__trigger');
    await details.waitFor({ state: 'visible', timeout: 2000 });
    assert.equal(await page.locator('#connection .ps-conn__trigger').getAttribute('aria-describedby'), await details.getAttribute('id'));
    await sleep(200);
    await s.shot('details-focus');
    await page.keyboard.press('Tab');
    await details.waitFor({ state: 'hidden', timeout: 2000 });
  });

  it('P&L up: green flash and scale on that figure only, within 500 ms of the publish', async () => {
    await sleep(900);   // nothing animating
    assert.equal(await page.locator('.ps-pnl--up, .ps-pnl--down').count(), 0);
    const t0 = Date.now();
    await position('AAPL', { price: 182 });                                  // P&L +120
    await page.waitForSelector(`${pnlSel('AAPL')}.ps-pnl--up`, { timeout: 2000 });
    const took = Date.now() - t0;
    const st = await styleOf(page, pnlSel('AAPL'), ['animation-name', 'transform', 'background-color', 'color']);
    await s.shot('pnl-up');
    assert.ok(took < 500, `animated ${took} ms after the publish`);
    assert.equal(st['animation-name'], 'ps-pnl-up');
    const scale = Number(/^matrix\(([-\d.]+)/.exec(st.transform)?.[1]);
    assert.ok(scale > 1.02, `scaled up: ${st.transform}`);
    const bg = /rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)/.exec(st['background-color']);
    assert.ok(bg && Number(bg[2]) > Number(bg[1]) && Number(bg[2]) > Number(bg[3]) && Number(bg[4] ?? 1) > 0.05, `green flash: ${st['background-color']}`);
    assert.equal(st.color, 'rgb(34, 197, 94)', 'a positive figure is green');
    assert.equal(await page.locator(pnlSel('AAPL')).innerText(), '+$120.00');
    assert.equal(await page.locator(pnlSel('MSFT')).getAttribute('class'), 'ps-pnl ps-pnl--negative', 'the other figure did not move');
    await page.waitForFunction((sel) => !document.querySelector(sel).classList.contains('ps-pnl--up'), pnlSel('AAPL'), { timeout: 3000 });
  });

  it('P&L down: a red shake, within 500 ms of the publish', async () => {
    const t0 = Date.now();
    await position('AAPL', { price: 168 });                                  // P&L -20
    await page.waitForSelector(`${pnlSel('AAPL')}.ps-pnl--down`, { timeout: 2000 });
    const took = Date.now() - t0;
    // sample the figure while it moves: it goes left and right
    const xs = await page.evaluate(async (sel) => {
      const out = [];
      for (let i = 0; i < 20; i++) {
        const t = getComputedStyle(document.querySelector(sel)).transform;
        const m = /^matrix\(1, 0, 0, 1, ([-\d.]+), 0\)$/.exec(t);
        out.push(m ? Number(m[1]) : 0);
        await new Promise((r) => requestAnimationFrame(r));
      }
      return out;
    }, pnlSel('AAPL'));
    const st = await styleOf(page, pnlSel('AAPL'), ['animation-name', 'color']);
    assert.ok(took < 500, `animated ${took} ms after the publish`);
    assert.equal(st['animation-name'], 'ps-pnl-down');
    assert.ok(Math.min(...xs) < -0.5 && Math.max(...xs) > 0.5, `shakes both ways: ${xs.join(' ')}`);
    assert.equal(st.color, 'rgb(248, 113, 113)', 'a negative figure is red');
    assert.equal(await page.locator(pnlSel('AAPL')).innerText(), '-$20.00');
    assert.equal(await page.locator(pnlSel('MSFT')).getAttribute('class'), 'ps-pnl ps-pnl--negative');
    await position('AAPL', { price: 166 });
    await page.waitForSelector(`${pnlSel('AAPL')}.ps-pnl--down`, { timeout: 2000 });
    await sleep(60);
    await s.shot('pnl-down');
  });

  it('fill toasts: "Order Filled: BUY 10 AAPL @ $175.50", stacked, announced politely, gone by themselves', async () => {
    const region = page.locator('.ps-toasts');
    assert.equal(await region.getAttribute('role'), 'status');
    assert.equal(await region.getAttribute('aria-live'), 'polite');
    await s.publish({ type: 'order_update', data: { orderId: 'A1', side: 'buy', quantity: 10, symbol: 'AAPL', price: 175.5, status: 'new' } });
    await s.publish({ type: 'order_update', data: { orderId: 'A1', side: 'buy', quantity: 10, symbol: 'AAPL', price: 175.5, status: 'filled' } });
    await page.waitForSelector('.ps-toast', { timeout: 2000 });
    assert.deepEqual(await page.locator('.ps-toast__text').allInnerTexts(), ['Order Filled: BUY 10 AAPL @ $175.50']);
    // the trade of the same order: still one toast
    await s.publish({ type: 'trade_executed', data: { tradeId: 'T1', orderId: 'A1', side: 'buy', quantity: 10, symbol: 'AAPL', price: 175.5 } });
    await s.publish({ type: 'trade_executed', data: { tradeId: 'T2', orderId: 'B7', side: 'sell', quantity: 1250, symbol: 'TSLA', price: 1234.5 } });
    await page.waitForFunction(() => document.querySelectorAll('.ps-toast').length === 2, null, { timeout: 2000 });
    assert.deepEqual(await page.locator('.ps-toast__text').allInnerTexts(),
      ['Order Filled: BUY 10 AAPL @ $175.50', 'Order Filled: SELL 1,250 TSLA @ $1,234.50']);
    const [a, b] = await page.locator('.ps-toast').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().toJSON()));
    assert.ok(b.top >= a.bottom, 'stacked one under the other');
    assert.ok(a.right > 1000, 'at the right of the screen');
    await sleep(300);   // their slide-in
    await s.shot('toasts');
    await page.waitForFunction(() => document.querySelectorAll('.ps-toast').length === 0, null, { timeout: 8000 });
    assert.equal(await region.count(), 1, 'the live region stays');
  });

  it('freshness badges: Live at 4 s, Delayed at 6 s, Stale at 31 s of data age, each row by itself', async () => {
    // every update so far came at T0 on the page's clock
    await position('NVDA', { quantity: 2, price: 900, avgPrice: 850 });
    await page.waitForSelector('#positions tr[data-symbol="NVDA"] .ps-badge');
    await s.setTime(T0 + 4000);
    await waitAge('NVDA', '4 s');
    for (const sym of ['AAPL', 'MSFT', 'NVDA']) {
      assert.equal(await badge(sym).innerText(), 'LIVE');   // text-transform: uppercase of "Live"
      assert.equal(await badge(sym).getAttribute('class'), 'ps-badge ps-badge--live');
      assert.equal((await badgeStyle(sym))['background-color'], COLORS.green);
    }
    await s.shot('badges-4s');
    await s.setTime(T0 + 6000);
    await waitAge('NVDA', '6 s');
    for (const sym of ['AAPL', 'MSFT', 'NVDA']) {
      assert.equal(await badge(sym).innerText(), 'DELAYED');
      assert.equal(await badge(sym).getAttribute('class'), 'ps-badge ps-badge--delayed');
      assert.equal((await badgeStyle(sym))['background-color'], COLORS.yellow);
    }
    await s.shot('badges-6s');
    await s.setTime(T0 + 31000);
    await waitAge('NVDA', '31 s');
    for (const sym of ['AAPL', 'MSFT', 'NVDA']) {
      assert.equal(await badge(sym).innerText(), 'STALE');
      assert.equal(await badge(sym).getAttribute('class'), 'ps-badge ps-badge--stale');
      assert.equal((await badgeStyle(sym))['background-color'], COLORS.red);
    }
    await s.shot('badges-31s');
    // one row updated now: only that one is Live again
    await position('AAPL', { price: 185 });
    await page.waitForFunction(() => document.querySelector('#positions tr[data-symbol="AAPL"] .ps-badge').textContent === 'Live', null, { timeout: 2000 });
    assert.equal((await badgeStyle('AAPL'))['background-color'], COLORS.green);
    assert.equal(await badge('MSFT').innerText(), 'STALE');
    assert.equal(await badge('NVDA').innerText(), 'STALE');
    await sleep(900);
    await s.shot('badges-one-fresh');
  });

  it('staleness banner: yellow past 60 s of the newest data, hidden by fresh data', async () => {
    const newest = T0 + 31000;           // the AAPL update just before
    await s.setTime(newest + 60000);
    await waitAge('AAPL', '1 min 0 s');
    assert.equal(await page.locator('.ps-stale').count(), 0, 'not at 60 s');
    await s.setTime(newest + 61000);
    const banner = page.locator('.ps-stale');
    await banner.waitFor({ state: 'visible', timeout: 3000 });
    assert.equal(await banner.getAttribute('role'), 'alert');
    assert.match(await banner.innerText(), /Prices may be out of date: the last update was 1 min 1 s ago\.\s*Refresh/);
    assert.equal((await styleOf(page, '.ps-stale', ['background-color']))['background-color'], COLORS.bannerYellow);
    const box = await banner.boundingBox();
    assert.ok(box.y < 200 && box.width > 1000, `a banner across the top: ${JSON.stringify(box)}`);
    await s.shot('stale-banner');
    await position('MSFT', { price: 401 });
    await banner.waitFor({ state: 'hidden', timeout: 3000 });
    assert.equal(await badge('MSFT').innerText(), 'LIVE');
  });

  it('Refresh on the banner reloads the snapshot (data the page had missed appears) and hides it', async () => {
    await s.setTime(T0 + 31000 + 61000 + 61000);
    const banner = page.locator('.ps-stale');
    await banner.waitFor({ state: 'visible', timeout: 3000 });
    // the backend knows of a position the page never heard of (an event it missed)
    s.truth.positions.IBM = { symbol: 'IBM', quantity: 3, price: 150, avgPrice: 140 };
    s.writeSnapshot();
    await page.locator('.ps-stale__refresh').click();
    await banner.waitFor({ state: 'hidden', timeout: 3000 });
    await page.waitForSelector('#positions tr[data-symbol="IBM"]', { timeout: 3000 });
    assert.match(await page.locator('#positions tr[data-symbol="IBM"]').innerText(), /IBM\s+3\s+150\.00\s+450\.00\s+\+\$30\.00/);
    assert.equal(await badge('IBM').innerText(), 'LIVE');
    await sleep(900);
    await s.shot('refreshed');
  });

  it('Redis stopped: the dot turns red, "degraded" banner, cached data stays; restarted: green again', async () => {
    const admin = await s.redisClient();
    await admin.sendCommand(['SAVE']);   // the session survives the restart (recheck is 1 s)
    await s.env.redis.stop();
    await waitState('degraded', 8000);
    assert.equal(await indicator(), 'error');
    assert.equal((await dot())['background-color'], COLORS.red);
    assert.equal(await label(), 'Degraded');
    assert.match(await page.locator('.ps-notice--degraded').innerText(), /Live updates are paused: the server lost its connection to the data feed/);
    assert.equal(await page.locator('#positions tr[data-symbol="AAPL"]').count(), 1, 'the last known values stay on screen');
    await s.shot('degraded');
    await s.env.redis.start();
    await waitIndicator('live', 10000);
    const d = await dot();
    assert.equal(d['background-color'], COLORS.green);
    assert.equal(d['animation-name'], 'ps-pulse');
    assert.equal(await page.locator('.ps-notice--degraded').count(), 0);
    await s.shot('redis-restarted');
  });

  it('nginx stopped: yellow while reconnecting, then red with attempt and next retry; back to green, snapshot reloaded', async () => {
    // every colour the dot takes, read in the page at the moment it changes
    await page.evaluate(() => {
      window.__dots = [];
      const el = document.querySelector('#connection');
      const note = () => window.__dots.push([el.dataset.indicator, getComputedStyle(el.querySelector('.ps-conn__dot')).backgroundColor]);
      new MutationObserver(note).observe(el, { attributes: true, attributeFilter: ['data-indicator'] });
    });
    const sockets = s.sockets.length;
    await s.env.nginx.stop();
    await waitIndicator('error', 15000);
    const dots = await page.evaluate(() => window.__dots);
    assert.deepEqual(dots[0], ['connecting', COLORS.yellow], `yellow first: ${JSON.stringify(dots)}`);
    assert.deepEqual(dots.at(-1), ['error', COLORS.red]);
    assert.equal(await label(), 'Connection error');
    assert.match(await page.locator('.ps-notice--error').innerText(), /Cannot reach the server\. Showing the last known values; retrying/);
    assert.equal(await page.locator('#positions tr[data-symbol="AAPL"]').count(), 1, 'cached data shown');
    await page.locator('#connection .ps-conn__trigger').hover();
    const details = page.locator('#connection .ps-conn__details');
    await details.waitFor({ state: 'visible', timeout: 2000 });
    const text = await details.innerText();
    assert.match(text, /State\s+Cannot reach the server; showing the last known values/);
    assert.match(text, /Reconnect attempt\s+([3-9]|\d\d)/);
    assert.match(text, /Next retry\s+(now|in \d+ s)/);
    await sleep(200);
    await s.shot('nginx-stopped');
    await page.mouse.move(5, 840);
    await s.env.nginx.start();
    await waitIndicator('live', 30000);
    assert.ok(s.sockets.length > sockets + 1, 'it kept trying');
    assert.deepEqual((await page.evaluate(() => window.__dots)).at(-1), ['live', COLORS.green]);
    const notice = page.locator('[data-notice="reloaded"]');
    await notice.waitFor({ state: 'visible', timeout: 5000 });
    assert.match(await notice.innerText(), /Reconnected: updates sent meanwhile could not be replayed, so the portfolio was reloaded\./);
    await page.waitForSelector('#positions tr[data-symbol="IBM"]', { timeout: 3000 });
    await s.shot('nginx-back-reloaded');
  });

  it('signed out (4401): red, a banner with a link to log in again, no more attempts', async () => {
    const admin = await s.redisClient();
    assert.equal(await admin.del(`sess:${s.sid}`), 1);
    await waitState('unauthorized', 6000);
    assert.equal((await dot())['background-color'], COLORS.red);
    assert.equal(await label(), 'Signed out');
    const banner = page.locator('.ps-notice--unauthorized');
    assert.equal(await banner.getAttribute('role'), 'alert');
    assert.match(await banner.innerText(), /Your session has ended: live updates have stopped\.\s*Log in again/);
    const link = banner.locator('a');
    assert.equal(await link.getAttribute('href'), '/demo/login');
    await s.shot('signed-out');
    const n = s.sockets.length;
    await sleep(2500);
    assert.equal(s.sockets.length, n, 'no reconnect attempts after 4401');
    await link.click();
    await page.waitForURL('**/demo/login', { timeout: 3000 });
    assert.match(await page.locator('body').innerText(), /the log-in page/);
  });

  it('no page errors; error.log is clean and nginx stops gracefully', async () => {
    assert.deepEqual(s.unexpectedConsoleErrors(), []);
    await s.stopAndCheckLog();
  });
});
