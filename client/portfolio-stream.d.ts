// Types of portfolio-stream.js, the core client (no dependencies). See client/README.md.

export type Channel = 'positions' | 'orders' | 'account' | 'trades';
export const CHANNELS: readonly Channel[];
export const CHANNEL_OF_TYPE: Readonly<Record<string, Channel>>;

export type StreamState =
  | 'connecting' | 'live' | 'degraded' | 'stale' | 'reconnecting' | 'offline' | 'unauthorized' | 'closed';

export interface StateInfo {
  /** the state before */
  previous: StreamState;
  /** close code that led here (reconnecting, unauthorized) */
  code?: number;
  /** close reason, or why the client decided */
  reason?: string;
  /** reconnecting: the wait before the next attempt */
  delayMs?: number;
  /** reconnecting: the backoff step */
  attempt?: number;
  /** reconnecting: consecutive attempts that never reached `connected` */
  failures?: number;
}

/** An event exactly as the backend published it (SPEC §4); `offset` with history on (SPEC §8). */
export interface PortfolioEvent {
  type: 'position_update' | 'account_update' | 'order_update' | 'trade_executed' | string;
  offset?: string;
  key?: string;
  ts?: number;
  data?: Record<string, any>;
  [field: string]: unknown;
}

export interface EventMeta {
  batch: boolean;
  index: number;
  size: number;
  /** wall-clock ms the frame arrived */
  receivedAt: number;
}

export interface ResumeInfo {
  /** true: nothing was lost; false: reload the snapshot */
  recovered: boolean;
  reason?: 'not-recovered' | 'no-offset' | 'outage';
  /** recovered: how many missed events were replayed */
  replayed?: number;
  done: true;
  since: string | null;
  epoch: string | null;
}

export interface Clock {
  /** monotonic ms (timers, liveness) */
  now(): number;
  /** wall-clock ms since the epoch (times shown, serverNow); absent: now() */
  wallNow?(): number;
  setTimeout(fn: () => void, ms: number): any;
  clearTimeout(id: any): void;
}

export interface ConnectedMessage {
  type: 'connected';
  userId: string;
  channels: Channel[];
  batchWindowMs: number;
  heartbeatMs: number;
  serverTime: number;
  epoch?: string;
  recovered?: boolean;
}

export type ControlMessage =
  | ConnectedMessage
  | { type: 'status'; state: 'degraded' | 'live'; recovered?: boolean }
  | { type: 'subscribed'; channels: Channel[] }
  | { type: 'pong'; serverTime: number }
  | { type: 'error'; code: 'bad_request' | 'unknown_channel' | string; message?: string };

export interface PortfolioStreamOptions {
  /** default: ws(s)://<location.host>/ws/portfolio */
  url?: string;
  /** channels wanted (default: all four); kept across reconnects */
  channels?: Channel[];
  onEvent?: (ev: PortfolioEvent, meta: EventMeta) => void;
  onState?: (state: StreamState, info: StateInfo) => void;
  onMessage?: (msg: ControlMessage) => void;
  onError?: (err: Error) => void;
  onResume?: (info: ResumeInfo) => void;
  autoConnect?: boolean;
  baseDelayMs?: number;
  maxDelayMs?: number;
  resetAfterMs?: number;
  goingAwayMaxDelayMs?: number;
  connectTimeoutMs?: number;
  heartbeatMs?: number;
  handshakeFailures?: number;
  handshakeFailureWindowMs?: number;
  /** asked before concluding `unauthorized` from refused handshakes; true = the session is fine */
  checkSession?: () => Promise<boolean>;
  /** send ?since=&epoch= on reconnects (default true) */
  resume?: boolean;
  /** resume the first connection from here (needs epoch too) */
  since?: string;
  epoch?: string;
  replayQuietMs?: number;
  WebSocket?: typeof WebSocket | (new (url: string) => any);
  clock?: Clock;
  random?: () => number;
  window?: any;
}

export interface StreamStats {
  connects: number;
  reconnects: number;
  events: number;
  batches: number;
  frames: number;
  /** wall-clock ms */
  lastFrameAt: number;
  /** wall-clock ms */
  lastEventAt: number;
  rttMs: number | null;
  clockOffsetMs: number;
  extensions: string;
  lastClose: { code: number; reason: string; wasClean: boolean } | null;
  replayed: number;
}

export interface StreamListeners {
  state: (state: StreamState, info: StateInfo) => void;
  event: (ev: PortfolioEvent, meta: EventMeta) => void;
  message: (msg: ControlMessage) => void;
  resume: (info: ResumeInfo) => void;
  error: (err: Error) => void;
}

export class PortfolioStream {
  constructor(options?: PortfolioStreamOptions);
  readonly url: string;
  state: StreamState;
  server: { userId: string | null; channels: Channel[]; batchWindowMs: number | null; heartbeatMs: number };
  stats: StreamStats;
  /** the highest offset received (SPEC §8) */
  readonly offset: string | null;
  /** the epoch of the user's history (SPEC §8) */
  readonly epoch: string | null;
  readonly channels: Channel[];
  connect(): void;
  reconnect(): void;
  close(): void;
  subscribe(channels: Channel | Channel[]): void;
  unsubscribe(channels: Channel | Channel[]): void;
  serverNow(): number;
  ping(): void;
  connectUrl(): string;
  on<K extends keyof StreamListeners>(type: K, fn: StreamListeners[K]): () => void;
}
export default PortfolioStream;

export function backoffDelay(attempt: number, baseMs: number, capMs: number, random?: () => number): number;
export function eventsOf(msg: unknown): PortfolioEvent[];
export function defaultUrl(loc?: { protocol: string; host: string }): string;
export function parseOffset(offset: unknown): [string, string] | null;
export function compareOffsets(a: string | null | undefined, b: string | null | undefined): number;

export type Freshness = 'live' | 'delayed' | 'stale';
export const FRESHNESS: Readonly<{ delayedAfterMs: number; staleAfterMs: number }>;
export function freshnessOf(ageMs: number, thresholds?: { delayedAfterMs?: number; staleAfterMs?: number }): Freshness;
