// SPEC §8 end to end: the demo page in Chromium against nginx with `portfolio_stream_history on`.
// SKIPPED (exit 77) until the module supports it: when nginx rejects the directive, or when the
// server's `connected` frame carries no `epoch`. It starts running by itself once it does.
// - the page keeps the highest offset it received;
// - nginx stopped, events published meanwhile (through the history function), nginx back: the
//   page reconnects with ?since=<highest offset>&epoch=<epoch>, gets every missed event, and
//   says "Reconnected: recovered N missed events." (no snapshot reload);
// - the history lost (FLUSHALL; the session put back): a new epoch, recovered:false, and the
//   page reloads its snapshot and says so.
// Screenshots: <out>/resume/NN-<state>.png.
//   node --test-reporter=spec tests/browser/e2e/resume.test.mjs
import { requireBrowser, startStack, sleep } from '../lib/stack.mjs';

await requireBrowser();

// Does the module do history? Start the stack with it on; ask a node client for `connected`.
let s;
try {
  s = await startStack({ name: 'resume', nginx: { location: ['portfolio_stream_history on;', 'portfolio_stream_heartbeat 1s;', 'portfolio_stream_batch_window 100ms;'] } });
} catch (e) {
  if (/portfolio_stream_history|unknown directive/i.test(String(e.message))) {
    console.log('SKIP: this build of the module has no portfolio_stream_history (SPEC §8) yet');
    process.exit(77);
  }
  throw e;
}
{
  const c = await s.connectNode();            // resolves once `connected` arrived
  const { epoch } = c.messages.find((m) => m.type === 'connected');
  c.terminate();
  if (typeof epoch !== 'string' || !epoch) {
    await s.stop();
    console.log('SKIP: the connected frame carries no epoch: the server does not support resume (SPEC §8) yet');
    process.exit(77);
  }
}

const { describe, it, after } = await import('node:test');
const assert = (await import('node:assert/strict')).default;

describe('resume after a reconnect (SPEC §8)', () => {
  let page;
  const offset = () => page.evaluate(() => window.demo.stream.offset);
  const epoch = () => page.evaluate(() => window.demo.stream.epoch);
  const position = (symbol, data) => s.publishWithHistory({ type: 'position_update', key: symbol, data: { symbol, ...data } });
  const waitState = (want, timeout = 8000) =>
    page.waitForFunction((w) => document.querySelector('#connection')?.dataset.state === w, want, { timeout });
  const snapshotLoads = () => page.evaluate(() => performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/portfolio')).length);

  after(async () => { await s.stop(); });

  it('keeps the highest offset it received and the epoch of connected', async () => {
    page = await s.openPage('/demo/');
    await waitState('live');
    assert.match(await epoch(), /.+/);
    let last;
    for (const p of [101, 102, 103]) last = await position('AAPL', { quantity: 10, price: p, avgPrice: 100 });
    await page.waitForFunction((o) => window.demo.stream.offset === o, String(last), { timeout: 3000 });
    assert.match(String(last), /^\d+-\d+$/);
  });

  it('nginx down while events are published: back, it resumes with since/epoch and recovers every one', async () => {
    const since = await offset();
    const ep = await epoch();
    const loads = await snapshotLoads();
    const sockets = s.sockets.length;
    await s.env.nginx.stop();
    await page.waitForFunction(() => document.querySelector('#connection').dataset.state !== 'live', null, { timeout: 5000 });
    await position('AAPL', { price: 110 });
    await position('MSFT', { quantity: 5, price: 400, avgPrice: 380 });
    await s.publishWithHistory({ type: 'trade_executed', data: { tradeId: 'R1', side: 'buy', quantity: 5, symbol: 'MSFT', price: 400 } });
    await s.env.nginx.start();
    await waitState('live', 30000);
    const url = new URL(s.sockets.at(-1).url());
    assert.ok(s.sockets.length > sockets);
    assert.equal(url.searchParams.get('since'), since);
    assert.equal(url.searchParams.get('epoch'), ep);
    const notice = page.locator('[data-notice="recovered"]');
    await notice.waitFor({ state: 'visible', timeout: 5000 });
    assert.match(await notice.innerText(), /Reconnected: recovered 3 missed events\./);
    assert.match(await page.locator('#positions tr[data-symbol="AAPL"]').innerText(), /110\.00/);
    await page.waitForSelector('#positions tr[data-symbol="MSFT"]');
    assert.equal(await page.locator('.ps-toast__text').first().innerText(), 'Order Filled: BUY 5 MSFT @ $400.00');
    assert.equal(await snapshotLoads(), loads, 'recovered: no snapshot reload');
    await sleep(900);
    await s.shot('recovered');
  });

  it('history lost (new epoch): not recovered, the snapshot is reloaded and the page says so', async () => {
    const admin = await s.redisClient();
    const session = await admin.get(`sess:${s.sid}`);
    const ep = await epoch();
    await admin.sendCommand(['FLUSHALL']);
    await admin.set(`sess:${s.sid}`, session);
    s.truth.positions.IBM = { symbol: 'IBM', quantity: 1, price: 150 };
    s.writeSnapshot();
    const loads = await snapshotLoads();
    await s.env.nginx.reload(undefined, { oldExitMs: 0 });
    const notice = page.locator('[data-notice="reloaded"]');
    await notice.waitFor({ state: 'visible', timeout: 10000 });
    assert.notEqual(await epoch(), ep);
    assert.ok(await snapshotLoads() > loads, 'the snapshot was loaded again');
    await page.waitForSelector('#positions tr[data-symbol="IBM"]', { timeout: 3000 });
    await s.shot('not-recovered');
  });

  it('no page errors; error.log is clean and nginx stops gracefully', async () => {
    assert.deepEqual(s.unexpectedConsoleErrors(), []);
    await s.stopAndCheckLog();
  });
});
