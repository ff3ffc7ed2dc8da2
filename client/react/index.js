// @portfolio-stream/client/react: React hooks and components over PortfolioStore (../store.js).
// Plain ES module with React.createElement (no JSX, no build step); React >= 18 is a peer
// dependency. Styles: import '@portfolio-stream/client/react/styles.css'.
//
//   <PortfolioStreamProvider loadSnapshot={fetchPortfolio} loginUrl="/login">
//     <ConnectionStatus /> <StalenessWarning /> <StreamNotices /> <FillToasts />
//     <Positions />                      // your component: useRealtimePositions() + AnimatedPnL + LiveBadge
//   </PortfolioStreamProvider>
//
// Hooks: usePortfolioStream (connection, notice, actions), useRealtimePositions,
// useRealtimeOrders, useRealtimeAccount, useNow, useFreshness, useFillToasts.
// Components: ConnectionStatus, AnimatedPnL, LiveBadge, StalenessWarning, plus FillToasts and
// StreamNotices. Class names are `ps-*` (stable; styles.css is only one way to dress them).
import {
  createElement as h, createContext, useContext, useEffect, useId, useMemo, useState, useSyncExternalStore,
} from 'react';
import { PortfolioStore, freshness, formatAge, formatPnl } from '../store.js';

export { PortfolioStore };
export { freshness, formatAge, formatPnl, formatMoney, formatQuantity, fillToastText, indicatorOf } from '../store.js';

const StoreContext = createContext(null);

/** Owns a PortfolioStore (from the props, or the `store` given) for the components below it. */
export function PortfolioStreamProvider({ store, children, ...options }) {
  const [own] = useState(() => (store ? null : new PortfolioStore(options)));
  const s = store || own;
  useEffect(() => {
    s.start();
    return () => s.stop();
  }, [s]);
  return h(StoreContext.Provider, { value: s }, children);
}

function useStore(explicit, who) {
  const ctx = useContext(StoreContext);
  const s = explicit || ctx;
  if (!s) throw new Error(`${who}: use it inside <PortfolioStreamProvider>, or pass a store`);
  return s;
}

function useSelect(store, select) {
  const get = () => select(store.getState());
  return useSyncExternalStore(store.subscribe, get, get);
}

/**
 * The connection, for a status bar: {state, indicator, attempt, nextRetryAt, lastEventAt, userId,
 * notice, snapshot, lastDataAt, store, stream, reconnect(), refresh(), dismissNotice()}.
 * Inside a provider it reads that one; outside, pass options and it makes (and owns) a store.
 */
export function usePortfolioStream(options) {
  const ctx = useContext(StoreContext);
  const [own] = useState(() => (ctx || !options ? null : new PortfolioStore(options)));
  useEffect(() => {
    if (!own) return undefined;
    own.start();
    return () => own.stop();
  }, [own]);
  const store = ctx || own;
  if (!store) throw new Error('usePortfolioStream: use it inside <PortfolioStreamProvider>, or pass options');
  const connection = useSelect(store, (st) => st.connection);
  const notice = useSelect(store, (st) => st.notice);
  const snapshot = useSelect(store, (st) => st.snapshot);
  const lastDataAt = useSelect(store, (st) => st.lastDataAt);
  return useMemo(() => ({
    ...connection,
    connection, notice, snapshot, lastDataAt, store, stream: store.stream,
    reconnect: () => store.reconnect(),
    refresh: () => store.refresh(),
    dismissNotice: () => store.dismissNotice(),
  }), [connection, notice, snapshot, lastDataAt, store]);
}

/** {positions (sorted by symbol), bySymbol}: each position has symbol, quantity, price, pnl, updatedAt, … */
export function useRealtimePositions(store) {
  const s = useStore(store, 'useRealtimePositions');
  const positions = useSelect(s, (st) => st.positions);
  const bySymbol = useSelect(s, (st) => st.bySymbol);
  return useMemo(() => ({ positions, bySymbol }), [positions, bySymbol]);
}

/** {orders (newest change first), trades (newest first)} */
export function useRealtimeOrders(store) {
  const s = useStore(store, 'useRealtimeOrders');
  const orders = useSelect(s, (st) => st.orders);
  const trades = useSelect(s, (st) => st.trades);
  return useMemo(() => ({ orders, trades }), [orders, trades]);
}

/** {account (fields as published, merged), updatedAt} */
export function useRealtimeAccount(store) {
  const s = useStore(store, 'useRealtimeAccount');
  const account = useSelect(s, (st) => st.account);
  const updatedAt = useSelect(s, (st) => st.accountUpdatedAt);
  return useMemo(() => ({ account, updatedAt }), [account, updatedAt]);
}

/** The store's clock (wall-clock ms), re-rendering every tick. */
export function useNow(store) {
  const s = useStore(store, 'useNow');
  return useSyncExternalStore(s.subscribeClock, s.getNow, s.getNow);
}

/** {level: 'live'|'delayed'|'stale', label, ageMs} of a figure updated at `updatedAt`, changing by itself. */
export function useFreshness(updatedAt, thresholds, store) {
  const now = useNow(store);
  return freshness(updatedAt || 0, now, thresholds);
}

/** {toasts, dismiss(id)} */
export function useFillToasts(store) {
  const s = useStore(store, 'useFillToasts');
  const toasts = useSelect(s, (st) => st.toasts);
  return useMemo(() => ({ toasts, dismiss: (id) => s.dismissToast(id) }), [toasts, s]);
}

const cx = (...xs) => xs.filter(Boolean).join(' ');
const clockTime = (ms) => new Date(ms).toTimeString().slice(0, 8);

// ---- AnimatedPnL ---------------------------------------------------------------------------------

/**
 * A P&L figure: green when positive, red when negative; when the value rises it flashes green and
 * scales up (class ps-pnl--up), when it falls it shakes red (ps-pnl--down). Only the instance
 * whose value changed animates; a new change restarts the animation.
 */
export function AnimatedPnL({ value, format, currency = 'USD', className, ...rest }) {
  const [s, setS] = useState({ value, dir: null, n: 0 });
  let cur = s;
  if (!Object.is(value, s.value)) {
    const a = s.value;
    const dir = typeof value === 'number' && typeof a === 'number' ? (value > a ? 'up' : value < a ? 'down' : null) : null;
    cur = { value, dir, n: dir ? s.n + 1 : s.n, last: dir || s.last };
    setS(cur);  // state derived from a prop change, during render (React's documented pattern)
  }
  const sign = typeof value !== 'number' ? 'none' : value > 0 ? 'positive' : value < 0 ? 'negative' : 'zero';
  const text = format ? format(value) : formatPnl(value, currency);
  const n = cur.n;
  return h('span', {
    ...rest,
    key: n,  // a new element per change: the CSS animation starts again
    className: cx('ps-pnl', `ps-pnl--${sign}`, cur.dir && `ps-pnl--${cur.dir}`, className),
    'data-last-change': cur.last || undefined,
    onAnimationEnd: () => setS((x) => (x.n === n && x.dir ? { ...x, dir: null } : x)),
  }, text);
}

// ---- LiveBadge -------------------------------------------------------------------------------------

/** Live (green) < 5 s, Delayed (yellow) 5–30 s, Stale (red) > 30 s since `updatedAt`; ages by itself. */
export function LiveBadge({ updatedAt, thresholds, className, ...rest }) {
  const f = useFreshness(updatedAt, thresholds);
  if (!updatedAt) return null;
  return h('span', {
    ...rest,
    className: cx('ps-badge', `ps-badge--${f.level}`, className),
    'data-freshness': f.level,
    title: `Updated ${formatAge(f.ageMs)} (${clockTime(updatedAt)})`,
  }, f.label);
}

// ---- ConnectionStatus ------------------------------------------------------------------------------

const LABELS = {
  live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', stale: 'Reconnecting…',
  degraded: 'Degraded', offline: 'Offline', unauthorized: 'Signed out', closed: 'Disconnected',
};
const DETAILS = {
  live: 'Live: updates arrive as they happen',
  connecting: 'Connecting to the live feed',
  reconnecting: 'Reconnecting; showing the last known values',
  stale: 'The connection stopped answering; reconnecting',
  degraded: 'Degraded: the server lost its data feed; showing the last known values',
  offline: 'Offline: showing the last known values',
  unauthorized: 'Signed out: live updates stopped',
  closed: 'Disconnected',
};

/** The connection label of a state (what ConnectionStatus shows next to its dot). */
export function connectionLabel(c) {
  if (c.state === 'reconnecting' && c.indicator === 'error') return 'Connection error';
  return LABELS[c.state] || c.state;
}

/**
 * A dot: green and pulsing when live, yellow when connecting or reconnecting, red on error
 * (cached data shown). Hovering it, or focusing it with the keyboard, shows the state, the time
 * of the last update, the reconnect attempt and when the next retry is.
 */
export function ConnectionStatus({ className, showLabel = true, ...rest }) {
  const c = usePortfolioStream();
  const now = useNow();
  const id = useId();
  const label = connectionLabel(c);
  const detail = c.state === 'reconnecting' && c.indicator === 'error'
    ? 'Cannot reach the server; showing the last known values' : DETAILS[c.state] || c.state;
  const retryIn = c.nextRetryAt ? Math.max(0, c.nextRetryAt - now) : null;
  return h('div', {
    ...rest,
    className: cx('ps-conn', `ps-conn--${c.indicator}`, className),
    'data-state': c.state,
    'data-indicator': c.indicator,
  },
  h('button', { type: 'button', className: 'ps-conn__trigger', 'aria-describedby': id, 'aria-label': `Connection: ${label}` },
    h('span', { className: 'ps-conn__dot', 'aria-hidden': 'true' }),
    showLabel ? h('span', { className: 'ps-conn__label' }, label) : null),
  h('div', { role: 'tooltip', id, className: 'ps-conn__details' },
    h('dl', null,
      h('dt', null, 'State'), h('dd', { 'data-field': 'state' }, detail),
      h('dt', null, 'Last update'), h('dd', { 'data-field': 'last-update' },
        c.lastEventAt ? `${clockTime(c.lastEventAt)} (${formatAge(now - c.lastEventAt)})` : 'none yet'),
      h('dt', null, 'Reconnect attempt'), h('dd', { 'data-field': 'attempt' }, c.attempt ? String(c.attempt) : '–'),
      h('dt', null, 'Next retry'), h('dd', { 'data-field': 'next-retry' },
        retryIn === null ? '–' : retryIn < 1000 ? 'now' : `in ${(retryIn / 1000).toFixed(0)} s`))));
}

// ---- StalenessWarning ------------------------------------------------------------------------------

/**
 * A yellow banner when the newest data is older than thresholdMs (default 60 s), with a Refresh
 * button that reloads the snapshot (onRefresh overrides); it hides itself when fresh data comes.
 */
export function StalenessWarning({ thresholdMs = 60000, onRefresh, className, children, ...rest }) {
  const s = useStore(null, 'StalenessWarning');
  const now = useNow();
  const lastDataAt = useSelect(s, (st) => st.lastDataAt);
  const snap = useSelect(s, (st) => st.snapshot);
  if (!lastDataAt || now - lastDataAt <= thresholdMs) return null;
  const loading = snap.status === 'loading';
  return h('div', { ...rest, className: cx('ps-stale', className), role: 'alert' },
    h('span', { className: 'ps-stale__text' },
      children || `Prices may be out of date: the last update was ${formatAge(now - lastDataAt)}.`),
    h('button', {
      type: 'button', className: 'ps-stale__refresh', disabled: loading,
      onClick: () => (onRefresh ? onRefresh() : s.refresh()),
    }, loading ? 'Refreshing…' : 'Refresh'),
    snap.status === 'error' ? h('span', { className: 'ps-stale__error' }, `Refresh failed: ${snap.error}`) : null);
}

// ---- FillToasts --------------------------------------------------------------------------------------

/** Stacked fill toasts ("Order Filled: BUY 10 AAPL @ $175.50"), in a polite live region. */
export function FillToasts({ className, ...rest }) {
  const { toasts, dismiss } = useFillToasts();
  return h('div', {
    ...rest, className: cx('ps-toasts', className), role: 'status', 'aria-live': 'polite', 'aria-label': 'Order fills',
  }, toasts.map((t) => h('div', { key: t.id, className: cx('ps-toast', t.side && `ps-toast--${t.side}`), 'data-toast-id': t.id },
    h('span', { className: 'ps-toast__text' }, t.text),
    h('button', { type: 'button', className: 'ps-toast__close', 'aria-label': 'Dismiss', onClick: () => dismiss(t.id) }, '×'))));
}

// ---- StreamNotices -----------------------------------------------------------------------------------

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function noticeText(n) {
  switch (n.kind) {
    case 'recovered':
      return n.replayed ? `Reconnected: recovered ${plural(n.replayed, 'missed event', 'missed events')}.` : 'Reconnected: no events were missed.';
    case 'reloaded':
      return n.reason === 'outage'
        ? 'The server lost its data feed for a while; the portfolio was reloaded.'
        : 'Reconnected: updates sent meanwhile could not be replayed, so the portfolio was reloaded.';
    case 'missed': return 'Reconnected: updates sent while disconnected may be missing.';
    case 'reload-failed': return `Reconnected, but reloading the portfolio failed${n.error ? ` (${n.error})` : ''}.`;
    default: return '';
  }
}

/**
 * What the trader must know about the feed: degraded (Redis lost, connection open), signed out
 * (4401: a link to log in again), offline, cannot reach the server, and after a reconnect
 * "recovered N missed events" / "reloaded".
 */
export function StreamNotices({ loginUrl = '/login', loginLabel = 'Log in again', className, ...rest }) {
  const c = usePortfolioStream();
  const now = useNow();
  const banners = [];
  if (c.state === 'degraded') {
    banners.push(h('div', { key: 'degraded', className: 'ps-notice ps-notice--degraded', role: 'status' },
      'Live updates are paused: the server lost its connection to the data feed. Showing the last known values; updates resume by themselves.'));
  } else if (c.state === 'unauthorized') {
    banners.push(h('div', { key: 'unauthorized', className: 'ps-notice ps-notice--unauthorized', role: 'alert' },
      h('span', null, 'Your session has ended: live updates have stopped. '),
      h('a', { href: loginUrl, className: 'ps-notice__login' }, loginLabel)));
  } else if (c.state === 'offline') {
    banners.push(h('div', { key: 'offline', className: 'ps-notice ps-notice--error', role: 'status' },
      'You are offline. Showing the last known values; reconnecting when the network is back.'));
  } else if (c.state === 'reconnecting' && c.indicator === 'error') {
    const s = c.nextRetryAt ? Math.max(0, Math.ceil((c.nextRetryAt - now) / 1000)) : null;
    banners.push(h('div', { key: 'error', className: 'ps-notice ps-notice--error', role: 'status' },
      `Cannot reach the server. Showing the last known values${s ? `; retrying in ${s} s` : '; retrying'}.`));
  }
  if (c.notice) {
    const kind = c.notice.kind === 'recovered' ? 'recovered' : c.notice.kind === 'reload-failed' ? 'error' : 'reloaded';
    banners.push(h('div', { key: `n${c.notice.id}`, className: `ps-notice ps-notice--${kind}`, role: 'status', 'data-notice': c.notice.kind },
      h('span', null, noticeText(c.notice)),
      c.notice.kind === 'reload-failed'
        ? h('button', { type: 'button', className: 'ps-notice__action', onClick: () => c.refresh() }, 'Retry') : null,
      h('button', { type: 'button', className: 'ps-notice__close', 'aria-label': 'Dismiss', onClick: () => c.dismissNotice() }, '×')));
  }
  return h('div', { ...rest, className: cx('ps-notices', className) }, banners);
}
