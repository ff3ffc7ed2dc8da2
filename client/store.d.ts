// Types of store.js: the data a trading screen shows, kept up to date from a PortfolioStream.
import type {
  PortfolioStream, PortfolioStreamOptions, PortfolioEvent, StreamState, StateInfo, Freshness,
} from './portfolio-stream.js';

export { freshnessOf, FRESHNESS } from './portfolio-stream.js';

export interface Position {
  symbol: string;
  quantity: number | null;
  price: number | null;
  avgPrice: number | null;
  marketValue: number | null;
  /** unrealized P&L: data.pnl (or unrealizedPnl), else (price − avgPrice) × quantity */
  pnl: number | null;
  pnlPercent: number | null;
  dayPnl: number | null;
  currency: string;
  /** wall-clock ms of the last update (what the freshness badge ages from) */
  updatedAt: number;
  /** every field published so far, merged */
  data: Record<string, any>;
}

export interface Order {
  id: string;
  symbol: string | null;
  side: string | null;
  status: string | null;
  quantity: number | null;
  filledQuantity: number | null;
  price: number | null;
  type: string | null;
  updatedAt: number;
  data: Record<string, any>;
}

export interface Trade {
  id: string;
  orderId: string | null;
  symbol: string | null;
  side: string | null;
  quantity: number | null;
  price: number | null;
  at: number;
  data: Record<string, any>;
}

export interface Toast {
  id: string;
  /** e.g. "Order Filled: BUY 10 AAPL @ $175.50" */
  text: string;
  side: string | null;
  symbol: string | null;
  orderId: string | null;
  at: number;
}

export type Indicator = 'live' | 'connecting' | 'error';

export interface ConnectionView {
  state: StreamState;
  /** what the connection dot shows: green (live), yellow (connecting), red (error) */
  indicator: Indicator;
  info: StateInfo;
  /** wall-clock ms the state began */
  since: number;
  code: number | null;
  reason: string | null;
  /** reconnecting: which attempt comes next (1 = the first retry) */
  attempt: number;
  /** reconnecting: wall-clock ms of the next attempt */
  nextRetryAt: number | null;
  /** wall-clock ms of the last event */
  lastEventAt: number;
  userId: string | null;
}

export type Notice =
  | { id: number; at: number; kind: 'recovered'; replayed: number }
  | { id: number; at: number; kind: 'reloaded' | 'missed'; reason?: string }
  | { id: number; at: number; kind: 'reload-failed'; reason?: string; error: string | null };

export interface Snapshot {
  positions?: Array<Record<string, any>> | Record<string, Record<string, any>>;
  account?: Record<string, any>;
  orders?: Array<Record<string, any>>;
  trades?: Array<Record<string, any>>;
  /** wall-clock ms the snapshot is of (default: when it arrived) */
  asOf?: number;
}

export interface PortfolioState {
  connection: ConnectionView;
  /** sorted by symbol */
  positions: Position[];
  bySymbol: Record<string, Position>;
  account: Record<string, any> | null;
  accountUpdatedAt: number;
  /** newest change first */
  orders: Order[];
  /** newest first */
  trades: Trade[];
  toasts: Toast[];
  notice: Notice | null;
  snapshot: { status: 'idle' | 'loading' | 'loaded' | 'error'; loadedAt: number; error: string | null };
  /** wall-clock ms of the newest data (event or snapshot); 0 = none yet */
  lastDataAt: number;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): any;
  clearTimeout(id: any): void;
}

export interface PortfolioStoreOptions extends PortfolioStreamOptions {
  /** use this stream (the store then neither connects nor closes it) */
  stream?: PortfolioStream;
  /** the application's REST snapshot; called at start, after a reconnect that lost events, on refresh() */
  loadSnapshot?: () => Promise<Snapshot>;
  /** wall clock (default Date.now) */
  now?: () => number;
  timers?: Timers;
  /** toasts dismiss themselves after this (default 5000; 0 = never) */
  toastMs?: number;
  maxToasts?: number;
  /** notices go after this (default 10000; 0 = never) */
  noticeMs?: number;
  /** the clock's tick (default 500) */
  tickMs?: number;
  /** refused attempts in a row before the indicator turns red (default 2) */
  errorAfterFailures?: number;
  maxOrders?: number;
  maxTrades?: number;
}

export class PortfolioStore {
  constructor(options?: PortfolioStoreOptions);
  readonly stream: PortfolioStream;
  readonly ownsStream: boolean;
  getState(): PortfolioState;
  subscribe(fn: () => void): () => void;
  getNow(): number;
  subscribeClock(fn: () => void): () => void;
  start(): void;
  stop(): void;
  refresh(): Promise<boolean>;
  applySnapshot(snapshot: Snapshot): void;
  applyEvent(ev: PortfolioEvent): void;
  dismissToast(id: string): void;
  dismissNotice(): void;
  reconnect(): void;
}
export default PortfolioStore;

export function formatMoney(v: unknown, currency?: string, locale?: string): string;
export function formatQuantity(v: unknown, locale?: string): string;
export function formatPnl(v: unknown, currency?: string, locale?: string): string;
export function isFill(ev: unknown): boolean;
export function fillToastText(ev: unknown): string | null;
export function indicatorOf(state: StreamState, info?: Partial<StateInfo>, errorAfterFailures?: number): Indicator;
export function freshness(updatedAt: number, now: number, thresholds?: { delayedAfterMs?: number; staleAfterMs?: number }):
  { level: Freshness; ageMs: number; label: 'Live' | 'Delayed' | 'Stale' };
export function formatAge(ms: number): string;
