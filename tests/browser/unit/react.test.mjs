// The React layer (client/react) rendered with react-dom into happy-dom (no browser), over the
// fake socket and clock: what each hook returns and what each component puts in the DOM as the
// stream goes live, degrades, reconnects, is signed out, and as data ages.
//   node --test tests/browser/unit/react.test.mjs      (needs `npm ci --prefix client`)
import { createRequire } from 'node:module';

const requireClient = createRequire(new URL('../../../client/package.json', import.meta.url));
let Window;
try {
  ({ Window } = requireClient('happy-dom'));
  requireClient.resolve('react-dom/client');
} catch (e) {
  console.log(`SKIP: react/react-dom/happy-dom are not installed (npm ci --prefix client): ${e.message}`);
  process.exit(77);
}

const win = new Window({ url: 'http://localhost/', width: 1024, height: 768 });
for (const k of ['window', 'document', 'navigator', 'HTMLElement', 'HTMLIFrameElement', 'Node', 'Element', 'Event',
  'MouseEvent', 'KeyboardEvent', 'FocusEvent', 'AnimationEvent', 'getComputedStyle', 'requestAnimationFrame', 'cancelAnimationFrame']) {
  if (!(k in globalThis) || k === 'navigator') Object.defineProperty(globalThis, k, { value: k === 'window' ? win : win[k], configurable: true, writable: true });
}
globalThis.IS_REACT_ACT_ENVIRONMENT = true;

const { describe, it, beforeEach, afterEach } = await import('node:test');
const assert = (await import('node:assert/strict')).default;
const React = await import(requireClient.resolve('react'));
const { createRoot } = await import(requireClient.resolve('react-dom/client'));
const { act, createElement: h } = React;
const lib = await import('../../../client/react/index.js');
const {
  PortfolioStreamProvider, usePortfolioStream, useRealtimePositions, useRealtimeOrders, useRealtimeAccount,
  ConnectionStatus, AnimatedPnL, LiveBadge, StalenessWarning, FillToasts, StreamNotices, PortfolioStore,
} = lib;
const { FakeClock, FakeWs, FakeWindow, resetSockets, last } = await import('./fakes.mjs');

let container;
let root;
let clock;
beforeEach(() => {
  resetSockets();
  clock = new FakeClock();
  container = document.createElement('div');
  document.body.appendChild(container);
  root = createRoot(container);
});
afterEach(async () => {
  await act(async () => root.unmount());
  container.remove();
});

const streamOpts = (extra = {}) => ({
  url: 'ws://test/ws/portfolio', WebSocket: FakeWs, clock, window: new FakeWindow(), random: () => 0.5,
  onError: () => {}, now: () => clock.wallNow(), ...extra,
});
// a heartbeat longer than any test: the fake server answers no pings, time jumps would look like a dead link
const QUIET = { heartbeatMs: 3_600_000 };
const render = (el) => act(async () => root.render(el));
const $ = (sel) => container.querySelector(sel);
const $$ = (sel) => [...container.querySelectorAll(sel)];
const server = (fn) => act(async () => { fn(last()); });
const advance = (ms) => act(async () => { clock.advance(ms); });

function Positions() {
  const { positions } = useRealtimePositions();
  return h('table', null, h('tbody', null, positions.map((p) => h('tr', { key: p.symbol, 'data-symbol': p.symbol },
    h('td', null, p.symbol), h('td', { className: 'pnl' }, h(AnimatedPnL, { value: p.pnl })),
    h('td', { className: 'fresh' }, h(LiveBadge, { updatedAt: p.updatedAt }))))));
}
function Account() {
  const { account } = useRealtimeAccount();
  return h('output', { id: 'cash' }, account ? String(account.cash) : '-');
}
function Orders() {
  const { orders, trades } = useRealtimeOrders();
  return h('output', { id: 'orders' }, `${orders.map((o) => `${o.id}:${o.status}`).join(',')}|${trades.length}`);
}
function App(props) {
  return h(PortfolioStreamProvider, streamOpts(props),
    h(ConnectionStatus), h(StreamNotices, { loginUrl: '/login?next=/portfolio' }), h(StalenessWarning), h(Positions), h(Account), h(Orders), h(FillToasts));
}
const pos = (symbol, pnl, extra = {}) => ({ type: 'position_update', key: symbol, data: { symbol, pnl, ...extra } });

describe('React layer', () => {
  it('hooks follow the stream: positions, account, orders and trades', async () => {
    await render(h(App));
    await server((ws) => ws.connected(QUIET));
    await server((ws) => ws.msg({ type: 'batch', events: [pos('MSFT', 5), pos('AAPL', -2), { type: 'account_update', data: { cash: 42 } }] }));
    await server((ws) => ws.msg({ type: 'order_update', data: { orderId: 'o1', status: 'new' } }));
    await server((ws) => ws.msg({ type: 'trade_executed', data: { symbol: 'AAPL', quantity: 1, price: 2 } }));
    assert.deepEqual($$('tr').map((tr) => tr.dataset.symbol), ['AAPL', 'MSFT']);
    assert.equal($('tr[data-symbol="AAPL"] .ps-pnl').textContent, '-$2.00');
    assert.equal($('tr[data-symbol="MSFT"] .ps-pnl').textContent, '+$5.00');
    assert.ok($('tr[data-symbol="MSFT"] .ps-pnl').classList.contains('ps-pnl--positive'));
    assert.ok($('tr[data-symbol="AAPL"] .ps-pnl').classList.contains('ps-pnl--negative'));
    assert.equal($('#cash').textContent, '42');
    assert.equal($('#orders').textContent, 'o1:new|1');
  });

  it('AnimatedPnL: a rise animates up, a fall down, only on the figure that changed', async () => {
    await render(h(App));
    await server((ws) => ws.connected(QUIET));
    await server((ws) => ws.msg(pos('AAPL', 10)));
    await server((ws) => ws.msg(pos('MSFT', 10)));
    assert.equal($$('.ps-pnl--up, .ps-pnl--down').length, 0, 'a first value does not animate');
    await server((ws) => ws.msg(pos('AAPL', 12.5)));
    const up = $('tr[data-symbol="AAPL"] .ps-pnl');
    assert.ok(up.classList.contains('ps-pnl--up'), up.className);
    assert.equal(up.dataset.lastChange, 'up');
    assert.equal($('tr[data-symbol="MSFT"] .ps-pnl').className, 'ps-pnl ps-pnl--positive', 'the other row is untouched');
    await server((ws) => ws.msg(pos('AAPL', 11)));
    const down = $('tr[data-symbol="AAPL"] .ps-pnl');
    assert.ok(down.classList.contains('ps-pnl--down'));
    assert.notEqual(down, up, 'a new element: the animation restarts');
    await act(async () => { down.dispatchEvent(new win.Event('animationend', { bubbles: true })); });
    const after = $('tr[data-symbol="AAPL"] .ps-pnl');
    assert.ok(!after.classList.contains('ps-pnl--down'), 'class removed when the animation is over');
    assert.equal(after.dataset.lastChange, 'down');
    await server((ws) => ws.msg(pos('AAPL', 11, { price: 3 })));
    assert.ok(!$('tr[data-symbol="AAPL"] .ps-pnl').className.includes('--down'), 'no animation when the P&L did not change');
  });

  it('LiveBadge: Live at 4 s, Delayed at 6 s, Stale at 31 s, by itself', async () => {
    await render(h(App));
    await server((ws) => ws.connected(QUIET));
    await server((ws) => ws.msg(pos('AAPL', 1)));
    const badge = () => $('tr[data-symbol="AAPL"] .ps-badge');
    assert.equal(badge().textContent, 'Live');
    await advance(4000);
    assert.deepEqual([badge().textContent, badge().className], ['Live', 'ps-badge ps-badge--live']);
    await advance(2000);
    assert.deepEqual([badge().textContent, badge().className], ['Delayed', 'ps-badge ps-badge--delayed']);
    await advance(25000);
    assert.deepEqual([badge().textContent, badge().className], ['Stale', 'ps-badge ps-badge--stale']);
    assert.match(badge().title, /^Updated 31 s ago/);
  });

  it('StalenessWarning: past 60 s a banner with Refresh; it reloads the snapshot and hides; fresh data hides it too', async () => {
    let loads = 0;
    await render(h(App, { loadSnapshot: async () => { loads++; return { positions: [{ symbol: 'AAPL', pnl: loads }] }; } }));
    await server((ws) => ws.connected(QUIET));
    assert.equal(loads, 1);
    await advance(60000);
    assert.equal($('.ps-stale'), null, 'not at 60 s');
    await advance(1000);
    const banner = $('.ps-stale');
    assert.ok(banner);
    assert.equal(banner.getAttribute('role'), 'alert');
    assert.match(banner.textContent, /last update was 1 min 1 s ago/);
    await act(async () => { $('.ps-stale__refresh').click(); });
    assert.equal(loads, 2);
    assert.equal($('.ps-stale'), null);
    await advance(61000);
    assert.ok($('.ps-stale'));
    await server((ws) => ws.msg(pos('MSFT', 1)));
    assert.equal($('.ps-stale'), null, 'hidden by fresh data');
  });

  it('FillToasts: the text, a polite live region, stacking, auto-dismiss and the close button', async () => {
    await render(h(App));
    await server((ws) => ws.connected(QUIET));
    const region = $('.ps-toasts');
    assert.equal(region.getAttribute('role'), 'status');
    assert.equal(region.getAttribute('aria-live'), 'polite');
    await server((ws) => ws.msg({ type: 'order_update', data: { orderId: 'o1', side: 'buy', quantity: 10, symbol: 'AAPL', price: 175.5, status: 'filled' } }));
    await advance(1000);
    await server((ws) => ws.msg({ type: 'trade_executed', data: { side: 'sell', quantity: 3, symbol: 'TSLA', price: 250 } }));
    assert.deepEqual($$('.ps-toast__text').map((e) => e.textContent), ['Order Filled: BUY 10 AAPL @ $175.50', 'Order Filled: SELL 3 TSLA @ $250.00']);
    assert.ok($$('.ps-toast')[1].classList.contains('ps-toast--sell'));
    await advance(4000);
    assert.deepEqual($$('.ps-toast__text').map((e) => e.textContent), ['Order Filled: SELL 3 TSLA @ $250.00']);
    await act(async () => { $('.ps-toast__close').click(); });
    assert.equal($$('.ps-toast').length, 0);
    assert.ok($('.ps-toasts'), 'the live region stays in the DOM (screen readers announce additions to it)');
  });

  it('ConnectionStatus: colours by state; details of attempt and next retry', async () => {
    await render(h(App, { baseDelayMs: 4000 }));
    const conn = () => $('.ps-conn');
    const field = (f) => $(`.ps-conn__details [data-field="${f}"]`).textContent;
    assert.equal(conn().dataset.indicator, 'connecting');
    assert.equal($('.ps-conn__label').textContent, 'Connecting…');
    await server((ws) => ws.connected(QUIET));
    assert.deepEqual([conn().dataset.indicator, $('.ps-conn__label').textContent], ['live', 'Live']);
    assert.ok(conn().classList.contains('ps-conn--live'));
    assert.equal(field('last-update'), 'none yet');
    await server((ws) => ws.msg(pos('AAPL', 1)));
    await advance(3000);
    assert.match(field('last-update'), /^\d\d:\d\d:\d\d \(3 s ago\)$/);
    await server((ws) => ws.msg({ type: 'status', state: 'degraded' }));
    assert.deepEqual([conn().dataset.indicator, $('.ps-conn__label').textContent], ['error', 'Degraded']);
    assert.match($('.ps-notice--degraded').textContent, /server lost its connection to the data feed/);
    await server((ws) => ws.msg({ type: 'status', state: 'live' }));
    await server((ws) => ws.serverClose(1006));
    assert.deepEqual([conn().dataset.indicator, $('.ps-conn__label').textContent], ['connecting', 'Reconnecting…']);
    assert.equal(field('attempt'), '1');
    assert.equal(field('next-retry'), 'in 2 s');            // random 0.5 × 4000
    await advance(2000);
    await server((ws) => ws.serverClose(1006));
    await server(() => {});
    await advance(0);
    assert.equal(field('attempt'), '2');
    await advance(4000);
    await server((ws) => ws.serverClose(1006));
    assert.deepEqual([conn().dataset.indicator, $('.ps-conn__label').textContent], ['error', 'Connection error']);
    assert.match($('.ps-notice--error').textContent, /Cannot reach the server\. Showing the last known values; retrying in \d+ s\./);
    const trigger = $('.ps-conn__trigger');
    assert.equal(trigger.tagName, 'BUTTON', 'focusable from the keyboard');
    assert.equal(trigger.getAttribute('aria-describedby'), $('.ps-conn__details').id);
    assert.equal($('.ps-conn__details').getAttribute('role'), 'tooltip');
  });

  it('StreamNotices: signed out with a log-in link; recovered N; reloaded', async () => {
    let loads = 0;
    await render(h(App, { loadSnapshot: async () => { loads++; return {}; } }));
    await server((ws) => ws.connected({ ...QUIET, epoch: 'e', serverTime: 100 }));
    await server((ws) => ws.msg({ offset: '50-0', ...pos('A', 1) }));
    await server((ws) => ws.serverClose(1006));
    await advance(1000);
    await server((ws) => ws.connected({ ...QUIET, epoch: 'e', serverTime: 200, recovered: true }));
    await server((ws) => ws.msg({ offset: '150-0', ...pos('A', 2) }));
    await server((ws) => ws.msg({ offset: '160-0', ...pos('A', 3) }));
    await server((ws) => ws.msg({ offset: '250-0', ...pos('A', 4) }));
    assert.equal($('[data-notice="recovered"]').textContent.replace('×', ''), 'Reconnected: recovered 2 missed events.');
    await server((ws) => ws.serverClose(1006));
    await advance(1000);
    await server((ws) => ws.connected({ ...QUIET, epoch: 'e2', serverTime: 300, recovered: false }));
    assert.equal(loads, 2);
    assert.match($('[data-notice="reloaded"]').textContent, /could not be replayed, so the portfolio was reloaded/);
    await server((ws) => ws.serverClose(4401, 'session expired'));
    const banner = $('.ps-notice--unauthorized');
    assert.equal(banner.getAttribute('role'), 'alert');
    assert.match(banner.textContent, /session has ended/);
    assert.equal(banner.querySelector('a').getAttribute('href'), '/login?next=/portfolio');
    assert.equal(banner.querySelector('a').textContent, 'Log in again');
    assert.equal($('.ps-conn__label').textContent, 'Signed out');
  });

  it('usePortfolioStream(options) without a provider owns a store; unmounting closes the stream', async () => {
    let seen;
    function Bare() {
      const s = usePortfolioStream(streamOpts());
      seen = s;
      return h('span', { id: 'st' }, s.state);
    }
    await render(h(Bare));
    await server((ws) => ws.connected(QUIET));
    assert.equal($('#st').textContent, 'live');
    const stream = seen.stream;
    await act(async () => root.render(h('div')));
    assert.equal(stream.state, 'closed');
  });

  it('a store made by the application can be handed to the provider; hooks outside one throw', async () => {
    const store = new PortfolioStore(streamOpts());
    await render(h(PortfolioStreamProvider, { store }, h(Positions)));
    await server((ws) => ws.connected(QUIET));
    await act(async () => { store.applyEvent(pos('ZZ', 1)); });
    assert.deepEqual($$('tr').map((tr) => tr.dataset.symbol), ['ZZ']);
    const errors = [];
    const origError = console.error;
    console.error = () => {};
    try {
      function Lost() { useRealtimePositions(); return null; }
      const r2 = createRoot(document.createElement('div'), { onUncaughtError: (e) => errors.push(e) });
      try { await act(async () => r2.render(h(Lost))); } catch (e) { errors.push(e); }
      await act(async () => r2.unmount());
    } finally { console.error = origError; }
    assert.match(String(errors[0]), /inside <PortfolioStreamProvider>/);
  });
});
