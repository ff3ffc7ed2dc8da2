// store.js: what a trading screen shows, kept up to date from a PortfolioStream. No framework,
// no dependencies (the React layer, react/index.js, is a thin binding of it; any other UI can
// subscribe() too):
//
//   import { PortfolioStore } from '@portfolio-stream/client/store';
//   const store = new PortfolioStore({ loadSnapshot: () => fetch('/api/portfolio').then((r) => r.json()) });
//   store.subscribe(() => render(store.getState()));   // positions, account, orders, trades, toasts, notice, connection
//   store.start();                                     // connects, loads the snapshot; stop() undoes it
//
// - positions by symbol (`key`, else data.symbol), each with quantity, price, value, P&L and the
//   wall-clock time of its last update (updatedAt: what the freshness badges age from);
// - the account (fields merged), orders by id (newest change first), trades (newest first);
// - fill toasts: an order_update with status "filled" or a trade_executed gives
//   "Order Filled: BUY 10 AAPL @ $175.50" (one toast per order id and text within toastMs);
// - connection: the stream's state plus `indicator` (live | connecting | error, what the
//   connection dot shows), the time of the last event, reconnect attempt and next retry;
// - snapshot: loadSnapshot() at start, after a reconnect or an outage that lost events
//   (SPEC §8 recovered:false, or no resume at all), and on refresh(); events that arrive while it
//   loads are applied again on top of it, so nothing newer is lost;
// - notice: what happened at the last reconnect: {kind: 'recovered', replayed} (SPEC §8 replayed
//   every missed event), 'reloaded' (the snapshot was loaded again), 'missed' (events may be
//   missing and there is no loadSnapshot), 'reload-failed';
// - lastDataAt: the newest data (event or snapshot): the staleness warning ages from it.
// A clock (getNow/subscribeClock) ticks every tickMs so that ages change by themselves.
import { PortfolioStream, freshnessOf, FRESHNESS } from './portfolio-stream.js';

export { freshnessOf, FRESHNESS };

const num = (v) => {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
};
const first = (...vs) => vs.find((v) => v !== undefined && v !== null);

/** "$175.50", "-$1,234.00", "$0.1234" (small prices keep 4 decimals). */
export function formatMoney(v, currency = 'USD', locale = 'en-US') {
  const n = num(v);
  if (n === null) return '–';
  const small = Math.abs(n) > 0 && Math.abs(n) < 1;
  try {
    return new Intl.NumberFormat(locale, { style: 'currency', currency, minimumFractionDigits: 2, maximumFractionDigits: small ? 4 : 2 }).format(n);
  } catch {
    return `${n < 0 ? '-' : ''}$${Math.abs(n).toFixed(2)}`;
  }
}

/** "10", "1,250", "0.5". */
export function formatQuantity(v, locale = 'en-US') {
  const n = num(v);
  return n === null ? '–' : n.toLocaleString(locale, { maximumFractionDigits: 8 });
}

/** A P&L figure with its sign: "+$12.50", "-$3.00", "$0.00". */
export function formatPnl(v, currency = 'USD', locale = 'en-US') {
  const n = num(v);
  if (n === null) return '–';
  return n > 0 ? `+${formatMoney(n, currency, locale)}` : formatMoney(n, currency, locale);
}

/** Is this event a fill a trader wants to be told about? */
export function isFill(ev) {
  if (!ev || typeof ev !== 'object') return false;
  if (ev.type === 'trade_executed') return true;
  const st = ev.type === 'order_update' && ev.data ? String(ev.data.status ?? '').toLowerCase() : '';
  return st === 'filled';
}

/** "Order Filled: BUY 10 AAPL @ $175.50" for a fill (parts that are missing are left out), else null. */
export function fillToastText(ev) {
  if (!isFill(ev)) return null;
  const d = ev.data || {};
  const side = first(d.side, d.action);
  const qty = ev.type === 'order_update'
    ? first(d.filledQuantity, d.filledQty, d.quantity, d.qty)
    : first(d.quantity, d.qty, d.filledQuantity);
  const price = ev.type === 'order_update'
    ? first(d.fillPrice, d.avgFillPrice, d.averagePrice, d.price)
    : first(d.price, d.fillPrice);
  const parts = [];
  if (side !== undefined) parts.push(String(side).toUpperCase());
  if (num(qty) !== null) parts.push(formatQuantity(qty));
  if (d.symbol !== undefined) parts.push(String(d.symbol));
  let text = `Order Filled: ${parts.join(' ')}`.trimEnd();
  if (num(price) !== null) text += ` @ ${formatMoney(price, d.currency || 'USD')}`;
  return text;
}

/**
 * What the connection dot shows: 'live' (green, pulsing), 'connecting' (yellow: connecting,
 * reconnecting, a dead link just detected) or 'error' (red: Redis lost at the server, offline,
 * signed out, closed, or `errorAfterFailures` attempts in a row that never got through).
 */
export function indicatorOf(state, info = {}, errorAfterFailures = 2) {
  switch (state) {
    case 'live': return 'live';
    case 'connecting':
    case 'stale': return 'connecting';
    case 'reconnecting': return (info.failures ?? 0) >= errorAfterFailures ? 'error' : 'connecting';
    default: return 'error';
  }
}

function positionFrom(prev, key, data, at) {
  const d = { ...(prev ? prev.data : {}), ...(data || {}) };
  const quantity = num(first(d.quantity, d.qty, d.shares));
  const price = num(first(d.price, d.lastPrice, d.marketPrice, d.last));
  const avgPrice = num(first(d.avgPrice, d.averagePrice, d.avgCost, d.costBasisPerShare));
  let marketValue = num(first(d.marketValue, d.value));
  if (marketValue === null && quantity !== null && price !== null) marketValue = quantity * price;
  let pnl = num(first(d.pnl, d.unrealizedPnl, d.unrealizedPnL, d.unrealized_pnl));
  if (pnl === null && quantity !== null && price !== null && avgPrice !== null) pnl = (price - avgPrice) * quantity;
  let pnlPercent = num(first(d.pnlPercent, d.pnlPct));
  if (pnlPercent === null && pnl !== null && avgPrice && quantity) pnlPercent = (pnl / Math.abs(avgPrice * quantity)) * 100;
  return {
    symbol: String(key), quantity, price, avgPrice, marketValue, pnl, pnlPercent,
    dayPnl: num(first(d.dayPnl, d.dailyPnl, d.dayPnL)), currency: d.currency || 'USD', updatedAt: at, data: d,
  };
}

function orderFrom(prev, id, data, at) {
  const d = { ...(prev ? prev.data : {}), ...(data || {}) };
  return {
    id: String(id), symbol: d.symbol ?? null, side: d.side ?? null, status: d.status ?? null,
    quantity: num(first(d.quantity, d.qty)), filledQuantity: num(first(d.filledQuantity, d.filledQty)),
    price: num(first(d.fillPrice, d.avgFillPrice, d.price, d.limitPrice)), type: d.orderType ?? d.type ?? null,
    updatedAt: at, data: d,
  };
}

function tradeFrom(id, data, at) {
  const d = data || {};
  return {
    id: String(id), orderId: first(d.orderId, d.order_id) ?? null, symbol: d.symbol ?? null, side: d.side ?? null,
    quantity: num(first(d.quantity, d.qty)), price: num(d.price), at, data: d,
  };
}

const bySymbolSorted = (map) => Object.values(map).sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));

export class PortfolioStore {
  /**
   * @param {object} [options]  everything PortfolioStream takes (url, channels, checkSession, …),
   *   or `stream` (one the application made; the store then neither connects nor closes it), plus
   *   loadSnapshot, now, timers, toastMs, maxToasts, noticeMs, tickMs, errorAfterFailures,
   *   maxOrders, maxTrades (see store.d.ts)
   */
  constructor(options = {}) {
    const {
      stream, loadSnapshot, now, timers, toastMs = 5000, maxToasts = 5, noticeMs = 10000, tickMs = 500,
      errorAfterFailures = 2, maxOrders = 100, maxTrades = 100, ...streamOptions
    } = options;
    this.loadSnapshot = loadSnapshot || null;
    this.now = now || (() => Date.now());
    const t = timers || streamOptions.clock || globalThis;
    this._timers = { set: (f, ms) => t.setTimeout(f, ms), clear: (id) => t.clearTimeout(id) };
    this.opts = { toastMs, maxToasts, noticeMs, tickMs, errorAfterFailures, maxOrders, maxTrades };
    this.ownsStream = !stream;
    this.stream = stream || new PortfolioStream({ ...streamOptions, autoConnect: false });

    this._listeners = new Set();
    this._clockListeners = new Set();
    this._nowValue = this.now();
    this._seq = 0;
    this._started = false;
    this._off = [];
    this._toastTimers = new Map();
    this._noticeTimer = null;
    this._tickTimer = null;
    this._loadSeq = 0;
    this._pending = null;   // events received while a snapshot loads: applied again on top of it

    const s = this.stream;
    this.state = {
      connection: this._connection(s.state, {}, null),
      positions: [],
      bySymbol: {},
      account: null,
      accountUpdatedAt: 0,
      orders: [],
      trades: [],
      toasts: [],
      notice: null,
      snapshot: { status: 'idle', loadedAt: 0, error: null },
      lastDataAt: 0,
    };

    // bound, so that they can be handed to useSyncExternalStore and friends as they are
    this.getState = this.getState.bind(this);
    this.subscribe = this.subscribe.bind(this);
    this.getNow = this.getNow.bind(this);
    this.subscribeClock = this.subscribeClock.bind(this);
  }

  // ---- subscription ---------------------------------------------------------------------------------

  /** The current state; a new object after every change (parts that did not change keep their identity). */
  getState() { return this.state; }

  /** @returns {() => void} unsubscribe */
  subscribe(fn) { this._listeners.add(fn); return () => this._listeners.delete(fn); }

  /** The store's clock (wall-clock ms), refreshed every tickMs while started. */
  getNow() { return this._nowValue; }

  subscribeClock(fn) { this._clockListeners.add(fn); return () => this._clockListeners.delete(fn); }

  // ---- lifecycle -----------------------------------------------------------------------------------

  /** Listens to the stream, connects it (when the store made it), loads the snapshot, starts the clock. */
  start() {
    if (this._started) return;
    this._started = true;
    const s = this.stream;
    this._off = [
      s.on('state', (state, info) => this._onState(state, info)),
      s.on('event', (ev, meta) => this._onEvent(ev, meta)),
      s.on('message', (msg) => this._onMessage(msg)),
      s.on('resume', (r) => this._onResume(r)),
    ];
    this._set({ connection: this._connection(s.state, {}, this.state.connection) });
    this._tick();
    if (this.ownsStream) s.connect();
    if (this.loadSnapshot) this.refresh();
  }

  /** Undoes start(): closes the stream it made, stops the timers. start() may be called again. */
  stop() {
    if (!this._started) return;
    this._started = false;
    this._off.forEach((off) => off());
    this._off = [];
    if (this.ownsStream) this.stream.close();
    if (this._tickTimer !== null) this._timers.clear(this._tickTimer);
    this._tickTimer = null;
    for (const id of this._toastTimers.values()) this._timers.clear(id);
    this._toastTimers.clear();
    if (this._noticeTimer !== null) this._timers.clear(this._noticeTimer);
    this._noticeTimer = null;
    this._loadSeq++;  // a snapshot still loading is not applied
  }

  // ---- actions ---------------------------------------------------------------------------------------

  /**
   * Reloads the snapshot (the Refresh button); without loadSnapshot, reconnects the stream.
   * @returns {Promise<boolean>} whether a snapshot was applied
   */
  async refresh() {
    if (!this.loadSnapshot) { this.stream.reconnect(); return false; }
    const seq = ++this._loadSeq;
    if (!this._pending) this._pending = [];
    this._set({ snapshot: { ...this.state.snapshot, status: 'loading', error: null } });
    let snap;
    try {
      snap = await this.loadSnapshot();
    } catch (e) {
      if (seq !== this._loadSeq) return false;
      this._pending = null;
      this._set({ snapshot: { ...this.state.snapshot, status: 'error', error: String((e && e.message) || e) } });
      return false;
    }
    if (seq !== this._loadSeq) return false;
    this.applySnapshot(snap);
    return true;
  }

  /** Replaces the data with a snapshot, then applies again the events that came while it loaded. */
  applySnapshot(snap) {
    const at = num(snap && snap.asOf) ?? this.now();
    const s = snap || {};
    const map = {};
    const list = Array.isArray(s.positions) ? s.positions : Object.entries(s.positions || {}).map(([k, v]) => ({ symbol: k, ...v }));
    for (const p of list) {
      const key = first(p.key, p.symbol);
      if (key !== undefined) map[key] = positionFrom(null, key, p, at);
    }
    const orders = (Array.isArray(s.orders) ? s.orders : []).map((o, i) => orderFrom(null, first(o.orderId, o.id, `snap-${i}`), o, at));
    const trades = (Array.isArray(s.trades) ? s.trades : []).map((tr, i) => tradeFrom(first(tr.tradeId, tr.executionId, tr.id, `snap-${i}`), tr, at));
    const pending = this._pending || [];
    this._pending = null;
    this._set({
      positions: bySymbolSorted(map), bySymbol: map,
      account: s.account ? { ...s.account } : null, accountUpdatedAt: s.account ? at : 0,
      orders: orders.slice(0, this.opts.maxOrders), trades: trades.slice(0, this.opts.maxTrades),
      snapshot: { status: 'loaded', loadedAt: at, error: null },
      lastDataAt: Math.max(at, this.state.lastDataAt),
    });
    for (const [ev, when] of pending) this._apply(ev, when, true);
  }

  /** Applies one event as if it came from the stream (for tests and for events from elsewhere). */
  applyEvent(ev) { this._onEvent(ev, null); }

  dismissToast(id) {
    const t = this._toastTimers.get(id);
    if (t !== undefined) { this._timers.clear(t); this._toastTimers.delete(id); }
    if (this.state.toasts.some((x) => x.id === id)) this._set({ toasts: this.state.toasts.filter((x) => x.id !== id) });
  }

  dismissNotice() {
    if (this._noticeTimer !== null) this._timers.clear(this._noticeTimer);
    this._noticeTimer = null;
    if (this.state.notice) this._set({ notice: null });
  }

  reconnect() { this.stream.reconnect(); }

  // ---- from the stream ------------------------------------------------------------------------------

  _connection(state, info, prev) {
    const at = this.now();
    return {
      state,
      indicator: indicatorOf(state, info, this.opts.errorAfterFailures),
      info: { ...info },
      since: at,
      code: info.code ?? null,
      reason: info.reason ?? null,
      attempt: state === 'reconnecting' ? (info.failures ?? 0) + 1 : 0,
      nextRetryAt: state === 'reconnecting' && typeof info.delayMs === 'number' ? at + info.delayMs : null,
      lastEventAt: prev ? prev.lastEventAt : 0,
      userId: this.stream.server.userId,
    };
  }

  _onState(state, info) {
    this._set({ connection: this._connection(state, info, this.state.connection) });
  }

  _onMessage(msg) {
    if (msg && msg.type === 'connected' && this.state.connection.userId !== msg.userId) {
      this._set({ connection: { ...this.state.connection, userId: msg.userId ?? null } });
    }
  }

  _onResume(r) {
    if (r.recovered) return this._notice({ kind: 'recovered', replayed: r.replayed ?? 0 });
    if (!this.loadSnapshot) return this._notice({ kind: 'missed', reason: r.reason });
    this.refresh().then((ok) => {
      if (ok) this._notice({ kind: 'reloaded', reason: r.reason });
      else if (this.state.snapshot.status === 'error') this._notice({ kind: 'reload-failed', reason: r.reason, error: this.state.snapshot.error });
    });
  }

  _onEvent(ev, meta) {
    if (!ev || typeof ev !== 'object') return;
    const at = this.now();
    if (this._pending) this._pending.push([ev, at]);
    this._apply(ev, at, false);
    void meta;
  }

  /** silent: re-applied over a snapshot (no toasts: they were shown when the events came). */
  _apply(ev, at, silent) {
    const d = ev.data && typeof ev.data === 'object' ? ev.data : {};
    const patch = { lastDataAt: Math.max(at, this.state.lastDataAt) };
    if (!silent) patch.connection = { ...this.state.connection, lastEventAt: at };
    switch (ev.type) {
      case 'position_update': {
        const key = first(ev.key, d.symbol);
        if (key === undefined) break;
        const map = { ...this.state.bySymbol, [key]: positionFrom(this.state.bySymbol[key], key, d, at) };
        patch.bySymbol = map;
        patch.positions = bySymbolSorted(map);
        break;
      }
      case 'account_update':
        patch.account = { ...(this.state.account || {}), ...d };
        patch.accountUpdatedAt = at;
        break;
      case 'order_update': {
        const id = first(d.orderId, d.id, ev.key, ev.offset) ?? `o${++this._seq}`;
        const prev = this.state.orders.find((o) => o.id === String(id));
        const o = orderFrom(prev, id, d, at);
        patch.orders = [o, ...this.state.orders.filter((x) => x !== prev)].slice(0, this.opts.maxOrders);
        break;
      }
      case 'trade_executed': {
        const id = first(d.tradeId, d.executionId, d.id, ev.offset) ?? `t${++this._seq}`;
        if (this.state.trades.some((x) => x.id === String(id))) break;  // the same trade again (replayed over a snapshot)
        patch.trades = [tradeFrom(id, d, at), ...this.state.trades].slice(0, this.opts.maxTrades);
        break;
      }
      default:
        break;
    }
    this._set(patch);
    if (!silent) this._toastFor(ev, at);
  }

  _toastFor(ev, at) {
    const text = fillToastText(ev);
    if (!text) return;
    const d = ev.data || {};
    const orderId = first(d.orderId, d.order_id, ev.type === 'order_update' ? d.id : undefined) ?? null;
    // an order_update "filled" and the trade_executed of the same order: one toast (the one
    // that says more: with the price)
    const same = orderId !== null ? this.state.toasts.find((t) => t.orderId === String(orderId)) : null;
    if (same) {
      if (!same.text.includes(' @ ') && text.includes(' @ ')) {
        this._set({ toasts: this.state.toasts.map((t) => (t === same ? { ...t, text } : t)) });
      }
      return;
    }
    const id = `toast-${++this._seq}`;
    const toast = { id, text, side: d.side ? String(d.side).toLowerCase() : null, symbol: d.symbol ?? null, orderId: orderId === null ? null : String(orderId), at };
    let toasts = [...this.state.toasts, toast];
    while (toasts.length > this.opts.maxToasts) {
      const gone = toasts.shift();
      const tm = this._toastTimers.get(gone.id);
      if (tm !== undefined) { this._timers.clear(tm); this._toastTimers.delete(gone.id); }
    }
    this._set({ toasts });
    if (this.opts.toastMs > 0) this._toastTimers.set(id, this._timers.set(() => this.dismissToast(id), this.opts.toastMs));
  }

  _notice(n) {
    if (this._noticeTimer !== null) this._timers.clear(this._noticeTimer);
    this._noticeTimer = null;
    this._set({ notice: { id: ++this._seq, at: this.now(), ...n } });
    if (this.opts.noticeMs > 0) this._noticeTimer = this._timers.set(() => { this._noticeTimer = null; this._set({ notice: null }); }, this.opts.noticeMs);
  }

  _tick() {
    if (!this._started) return;
    const v = this.now();
    if (v !== this._nowValue) {
      this._nowValue = v;
      for (const fn of this._clockListeners) { try { fn(); } catch { /* a listener's problem */ } }
    }
    this._tickTimer = this._timers.set(() => this._tick(), this.opts.tickMs);
  }

  _set(patch) {
    this.state = { ...this.state, ...patch };
    for (const fn of this._listeners) { try { fn(); } catch { /* a listener's problem */ } }
  }
}

/**
 * The freshness of a figure updated at `updatedAt`, at time `now`:
 * {level: 'live'|'delayed'|'stale', ageMs, label: 'Live'|'Delayed'|'Stale'}.
 */
export function freshness(updatedAt, now, thresholds = FRESHNESS) {
  const ageMs = Math.max(0, now - updatedAt);
  const level = freshnessOf(ageMs, thresholds);
  return { level, ageMs, label: level === 'live' ? 'Live' : level === 'delayed' ? 'Delayed' : 'Stale' };
}

/** "just now", "12 s ago", "3 min 5 s ago", "2 h 4 min ago". */
export function formatAge(ms) {
  const s = Math.floor(Math.max(0, ms) / 1000);
  if (s < 1) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s ago`;
  return `${Math.floor(m / 60)} h ${m % 60} min ago`;
}

export default PortfolioStore;
