// Unit tests of client/store.js: the data a trading screen shows, from stream events (a fake
// socket plays the server, a fake clock the time): positions and P&L, fills as toasts with the
// exact text, the connection indicator, snapshot loads (at start, after a reconnect that lost
// events, on refresh) and the notices, freshness levels by age.
//   node --test tests/browser/unit/store.test.mjs
import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  PortfolioStore, fillToastText, formatMoney, formatPnl, indicatorOf, freshness, formatAge,
} from '../../../client/store.js';
import { FakeClock, FakeWs, FakeWindow, sockets, resetSockets, last } from './fakes.mjs';

beforeEach(() => { resetSockets(); });

function makeStore(opts = {}) {
  const clock = new FakeClock();
  const store = new PortfolioStore({
    url: 'ws://test/ws/portfolio', WebSocket: FakeWs, clock, window: new FakeWindow(), random: () => 0.5,
    onError: () => {}, now: () => clock.wallNow(), ...opts,
  });
  let changes = 0;
  store.subscribe(() => { changes++; });
  store.start();
  return { store, clock, changes: () => changes, st: () => store.getState() };
}
const flush = () => new Promise((r) => setImmediate(r));
const fill = (extra = {}) => ({ type: 'order_update', data: { orderId: 'o1', side: 'buy', quantity: 10, symbol: 'AAPL', price: 175.5, status: 'filled', ...extra } });

describe('formatting', () => {
  it('fill toast text: side, quantity, symbol, price as money', () => {
    assert.equal(fillToastText(fill()), 'Order Filled: BUY 10 AAPL @ $175.50');
    assert.equal(fillToastText({ type: 'trade_executed', data: { side: 'sell', quantity: 1250, symbol: 'MSFT', price: 1234.5 } }),
      'Order Filled: SELL 1,250 MSFT @ $1,234.50');
    assert.equal(fillToastText(fill({ status: 'FILLED', fillPrice: 175.25 })), 'Order Filled: BUY 10 AAPL @ $175.25', 'the fill price wins');
    assert.equal(fillToastText(fill({ filledQuantity: 4 })), 'Order Filled: BUY 4 AAPL @ $175.50');
    assert.equal(fillToastText({ type: 'trade_executed', data: { symbol: 'X', price: 0.1234, quantity: 0.5 } }), 'Order Filled: 0.5 X @ $0.1234');
    assert.equal(fillToastText({ type: 'trade_executed', data: { symbol: 'X' } }), 'Order Filled: X');
    assert.equal(fillToastText(fill({ status: 'new' })), null);
    assert.equal(fillToastText(fill({ status: 'partially_filled' })), null);
    assert.equal(fillToastText({ type: 'position_update', data: {} }), null);
  });
  it('money and P&L', () => {
    assert.equal(formatMoney(175.5), '$175.50');
    assert.equal(formatMoney(-1234), '-$1,234.00');
    assert.equal(formatMoney('12.5'), '$12.50');
    assert.equal(formatMoney(null), '–');
    assert.equal(formatPnl(12.5), '+$12.50');
    assert.equal(formatPnl(-3), '-$3.00');
    assert.equal(formatPnl(0), '$0.00');
  });
  it('freshness levels: Live < 5 s <= Delayed <= 30 s < Stale', () => {
    const at = 1000;
    assert.deepEqual(freshness(at, at + 4000), { level: 'live', ageMs: 4000, label: 'Live' });
    assert.equal(freshness(at, at + 4999).level, 'live');
    assert.equal(freshness(at, at + 5000).level, 'delayed');
    assert.equal(freshness(at, at + 6000).label, 'Delayed');
    assert.equal(freshness(at, at + 30000).level, 'delayed');
    assert.equal(freshness(at, at + 30001).level, 'stale');
    assert.equal(freshness(at, at + 31000).label, 'Stale');
    assert.equal(freshness(at, at - 50).ageMs, 0, 'a clock a little behind is not negative');
    assert.equal(formatAge(65_000), '1 min 5 s ago');
    assert.equal(formatAge(400), 'just now');
  });
  it('indicator colours by state', () => {
    assert.equal(indicatorOf('live'), 'live');
    for (const s of ['connecting', 'stale']) assert.equal(indicatorOf(s), 'connecting');
    assert.equal(indicatorOf('reconnecting', { failures: 0 }), 'connecting');
    assert.equal(indicatorOf('reconnecting', { failures: 1 }), 'connecting');
    assert.equal(indicatorOf('reconnecting', { failures: 2 }), 'error');
    for (const s of ['degraded', 'offline', 'unauthorized', 'closed']) assert.equal(indicatorOf(s), 'error', s);
  });
});

describe('PortfolioStore', () => {
  it('positions: in place by symbol, sorted, partial updates merged, P&L from the average price', () => {
    const { st, clock } = makeStore();
    last().connected();
    last().msg({ type: 'position_update', key: 'MSFT', data: { symbol: 'MSFT', quantity: 5, price: 400, pnl: -12 } });
    last().msg({ type: 'batch', events: [
      { type: 'position_update', data: { symbol: 'AAPL', quantity: 10, price: 180, avgPrice: 170 } },
      { type: 'account_update', data: { cash: 1000, equity: 5000 } },
    ] });
    assert.deepEqual(st().positions.map((p) => p.symbol), ['AAPL', 'MSFT']);
    const aapl = st().bySymbol.AAPL;
    assert.equal(aapl.pnl, 100);
    assert.equal(aapl.marketValue, 1800);
    assert.equal(Math.round(aapl.pnlPercent * 100) / 100, 5.88);
    assert.equal(aapl.updatedAt, clock.wallNow());
    const msftBefore = st().bySymbol.MSFT;
    clock.advance(1000);
    last().msg({ type: 'position_update', key: 'AAPL', data: { price: 181 } });
    assert.equal(st().bySymbol.AAPL.pnl, 110, 'quantity and average kept from before');
    assert.equal(st().bySymbol.AAPL.updatedAt, clock.wallNow());
    assert.equal(st().bySymbol.MSFT, msftBefore, 'the other row is the same object (no re-render, no animation)');
    assert.deepEqual(st().account, { cash: 1000, equity: 5000 });
    last().msg({ type: 'account_update', data: { cash: 900 } });
    assert.deepEqual(st().account, { cash: 900, equity: 5000 });
  });

  it('orders by id, newest change first; trades newest first', () => {
    const { st } = makeStore();
    last().connected();
    last().msg({ type: 'order_update', data: { orderId: 'a', status: 'new', symbol: 'AAPL' } });
    last().msg({ type: 'order_update', data: { orderId: 'b', status: 'new' } });
    last().msg({ type: 'order_update', data: { orderId: 'a', status: 'cancelled' } });
    assert.deepEqual(st().orders.map((o) => [o.id, o.status, o.symbol]), [['a', 'cancelled', 'AAPL'], ['b', 'new', null]]);
    last().msg({ type: 'trade_executed', data: { tradeId: 't1', symbol: 'AAPL', quantity: 1, price: 1 } });
    last().msg({ type: 'trade_executed', data: { tradeId: 't2', symbol: 'MSFT', quantity: 1, price: 1 } });
    last().msg({ type: 'trade_executed', data: { tradeId: 't2', symbol: 'MSFT', quantity: 1, price: 1 } });
    assert.deepEqual(st().trades.map((t) => t.id), ['t2', 't1']);
  });

  it('fill toasts stack, dismiss themselves after toastMs, and one fill gives one toast', () => {
    const { st, clock, store } = makeStore({ toastMs: 5000, maxToasts: 3 });
    last().connected();
    last().msg(fill());
    // the same fill as a trade_executed
    last().msg({ type: 'trade_executed', data: { orderId: 'o1', side: 'buy', quantity: 10, symbol: 'AAPL', price: 175.5 } });
    assert.deepEqual(st().toasts.map((t) => t.text), ['Order Filled: BUY 10 AAPL @ $175.50']);
    // an order that said no price, then its trade that does: one toast, with the price
    last().msg({ type: 'order_update', data: { orderId: 'o2', side: 'buy', quantity: 5, symbol: 'IBM', status: 'filled' } });
    assert.equal(st().toasts.at(-1).text, 'Order Filled: BUY 5 IBM');
    last().msg({ type: 'trade_executed', data: { orderId: 'o2', side: 'buy', quantity: 5, symbol: 'IBM', price: 150 } });
    assert.deepEqual(st().toasts.map((t) => t.text), ['Order Filled: BUY 10 AAPL @ $175.50', 'Order Filled: BUY 5 IBM @ $150.00']);
    store.dismissToast(st().toasts[1].id);
    clock.advance(2000);
    last().msg({ type: 'trade_executed', data: { side: 'sell', quantity: 2, symbol: 'TSLA', price: 250 } });
    assert.deepEqual(st().toasts.map((t) => t.text), ['Order Filled: BUY 10 AAPL @ $175.50', 'Order Filled: SELL 2 TSLA @ $250.00']);
    assert.equal(st().toasts[1].side, 'sell');
    clock.advance(3000);
    assert.deepEqual(st().toasts.map((t) => t.symbol), ['TSLA'], 'the first one went after 5 s');
    store.dismissToast(st().toasts[0].id);
    assert.deepEqual(st().toasts, []);
    for (let i = 0; i < 5; i++) last().msg({ type: 'trade_executed', data: { symbol: `S${i}`, quantity: 1, price: 1 } });
    assert.deepEqual(st().toasts.map((t) => t.symbol), ['S2', 'S3', 'S4'], 'at most maxToasts, oldest out');
    last().msg(fill({ status: 'new', orderId: 'o9' }));
    assert.equal(st().toasts.length, 3, 'no toast for an order that is not filled');
  });

  it('connection: indicator, attempt and next retry through a drop and refused attempts', () => {
    const { st, clock } = makeStore({ baseDelayMs: 1000 });
    assert.equal(st().connection.indicator, 'connecting');
    last().connected({ userId: 'u7' });
    assert.equal(st().connection.indicator, 'live');
    assert.equal(st().connection.userId, 'u7');
    last().msg({ type: 'status', state: 'degraded' });
    assert.equal(st().connection.indicator, 'error');
    last().msg({ type: 'status', state: 'live' });
    last().serverClose(1001);
    const c = st().connection;
    assert.equal(c.state, 'reconnecting');
    assert.equal(c.indicator, 'connecting');
    assert.equal(c.attempt, 1);
    assert.equal(c.nextRetryAt, clock.wallNow() + c.info.delayMs);
    clock.advance(c.info.delayMs);
    last().serverClose(1006);                  // refused
    assert.equal(st().connection.indicator, 'connecting');
    clock.advance(st().connection.info.delayMs);
    last().serverClose(1006);                  // refused again: an error now
    assert.equal(st().connection.indicator, 'error');
    assert.equal(st().connection.attempt, 3);
    clock.advance(st().connection.info.delayMs);
    last().connected();
    assert.equal(st().connection.indicator, 'live');
    last().serverClose(4401);
    assert.equal(st().connection.state, 'unauthorized');
    assert.equal(st().connection.indicator, 'error');
  });

  it('snapshot at start; events that arrive while it loads are applied on top of it', async () => {
    let resolve;
    const { st, store } = makeStore({ loadSnapshot: () => new Promise((r) => { resolve = r; }) });
    assert.equal(st().snapshot.status, 'loading');
    last().connected();
    last().msg({ type: 'position_update', key: 'AAPL', data: { symbol: 'AAPL', quantity: 11, price: 181 } });
    last().msg({ type: 'trade_executed', data: { tradeId: 't9', symbol: 'AAPL', side: 'buy', quantity: 1, price: 181 } });
    assert.equal(st().toasts.length, 1);
    resolve({ positions: [{ symbol: 'AAPL', quantity: 10, price: 180, avgPrice: 100 }, { symbol: 'IBM', quantity: 1, price: 150 }],
      account: { cash: 5 }, trades: [{ tradeId: 't9', symbol: 'AAPL' }] });
    await flush();
    assert.equal(st().snapshot.status, 'loaded');
    assert.deepEqual(st().positions.map((p) => [p.symbol, p.quantity, p.price]), [['AAPL', 11, 181], ['IBM', 1, 150]]);
    assert.equal(st().bySymbol.AAPL.pnl, 891, 'the average price from the snapshot, the rest from the newer event');
    assert.deepEqual(st().trades.map((t) => t.id), ['t9'], 'the trade in both is there once');
    assert.equal(st().toasts.length, 1, 'no second toast for the re-applied event');
    assert.deepEqual(st().account, { cash: 5 });
    void store;
  });

  it('a reconnect that lost events reloads the snapshot and says so; a recovered one says how many', async () => {
    let loads = 0;
    const { st, clock } = makeStore({ loadSnapshot: async () => { loads++; return { positions: [{ symbol: 'Z', quantity: loads }] }; }, noticeMs: 8000 });
    await flush();
    assert.equal(loads, 1);
    last().connected({ epoch: 'e1', serverTime: 100 });
    last().msg({ offset: '90-0', type: 'position_update', key: 'Z', data: { quantity: 50 } });
    last().serverClose(1006);
    clock.advance(st().connection.info.delayMs);
    last().connected({ epoch: 'e1', serverTime: 200, recovered: false });
    await flush();
    assert.equal(loads, 2);
    assert.equal(st().notice.kind, 'reloaded');
    assert.equal(st().notice.reason, 'not-recovered');
    assert.equal(st().bySymbol.Z.quantity, 2);
    clock.advance(8000);
    assert.equal(st().notice, null, 'notices go away by themselves');
    // recovered: nothing to reload
    last().msg({ offset: '190-0', type: 'position_update', key: 'Z', data: { quantity: 60 } });
    last().serverClose(1006);
    clock.advance(st().connection.info.delayMs);
    last().connected({ epoch: 'e1', serverTime: 300, recovered: true });
    last().msg({ offset: '250-0', type: 'position_update', key: 'Z', data: { quantity: 61 } });
    last().msg({ offset: '251-0', type: 'position_update', key: 'Z', data: { quantity: 62 } });
    last().msg({ offset: '301-0', type: 'position_update', key: 'Z', data: { quantity: 63 } });
    await flush();
    assert.equal(loads, 2);
    assert.deepEqual([st().notice.kind, st().notice.replayed], ['recovered', 2]);
    assert.equal(st().bySymbol.Z.quantity, 63);
  });

  it('without loadSnapshot: "missed"; a failing load: "reload-failed"; refresh() reconnects or reloads', async () => {
    const a = makeStore();
    last().connected();
    last().serverClose(1006);
    a.clock.advance(a.st().connection.info.delayMs);
    last().connected();
    assert.equal(a.st().notice.kind, 'missed');
    resetSockets();
    let fail = false;
    const b = makeStore({ loadSnapshot: async () => { if (fail) throw new Error('HTTP 502'); return {}; } });
    await flush();
    last().connected();
    fail = true;
    last().msg({ type: 'status', state: 'degraded' });
    last().msg({ type: 'status', state: 'live', recovered: false });
    await flush();
    assert.equal(b.st().notice.kind, 'reload-failed');
    assert.equal(b.st().snapshot.status, 'error');
    assert.equal(b.st().snapshot.error, 'HTTP 502');
    fail = false;
    assert.equal(await b.store.refresh(), true);
    assert.equal(b.st().snapshot.status, 'loaded');
  });

  it('the clock ticks while started; stop() closes the stream it made and its timers', () => {
    const { store, clock } = makeStore({ tickMs: 500 });
    let ticks = 0;
    store.subscribeClock(() => { ticks++; });
    const t0 = store.getNow();
    clock.advance(1000);
    assert.equal(ticks, 2);
    assert.equal(store.getNow(), t0 + 1000);
    last().connected();
    store.stop();
    assert.equal(store.stream.state, 'closed');
    assert.equal(clock.timers.size, 0, 'no timers left');
    clock.advance(5000);
    assert.equal(ticks, 2);
    const n = sockets.length;
    store.start();                             // React StrictMode mounts twice: start() again works
    assert.equal(sockets.length, n + 1);
    assert.equal(store.stream.state, 'reconnecting');
  });

  it('a stream the application made is used as it is: not connected, not closed', () => {
    const clock = new FakeClock();
    const store0 = new PortfolioStore({ url: 'ws://x/', WebSocket: FakeWs, clock, window: new FakeWindow(), onError: () => {} });
    const stream = store0.stream;
    stream.connect();
    const store = new PortfolioStore({ stream, timers: clock, now: () => clock.wallNow() });
    store.start();
    last().connected();
    last().msg({ type: 'position_update', key: 'Q', data: {} });
    assert.ok(store.getState().bySymbol.Q);
    store.stop();
    assert.equal(stream.state, 'live');
  });
});
