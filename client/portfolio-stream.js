// portfolio-stream.js: the core browser client of ngx_http_portfolio_stream_module
// (SPEC §3, §4, §6, §7, §8). One dependency-free ES module, no build step
// (`@portfolio-stream/client`; the store and the React layer build on it):
//
//   import { PortfolioStream } from '@portfolio-stream/client';
//   const stream = new PortfolioStream({
//     onEvent: (ev) => render(ev),              // every event, batches unpacked in order
//     onState: (state, info) => badge(state),   // connecting|live|degraded|stale|reconnecting|offline|unauthorized|closed
//     onResume: (r) => { if (!r.recovered) reloadSnapshot(); },  // after a reconnect / an outage (SPEC §8)
//   });
//   stream.unsubscribe(['trades']);             // filters; re-applied after every reconnect
//   stream.close();                             // for good
//
// Freshness states (what a trading UI should show):
//   connecting    first connection attempt
//   live          the server's `connected` frame arrived; events flow
//   degraded      the server lost Redis pub/sub ({"type":"status","state":"degraded"}):
//                 the socket is fine but no events arrive until it says `live` again
//   stale         nothing (no event, no pong) for > 2 heartbeats while the socket claims to be
//                 open: the data on screen may be old; the client drops the socket and reconnects
//   reconnecting  waiting for / attempting the next connection (exponential backoff, full jitter)
//   offline       the browser says it is offline; reconnects as soon as it is online again
//   unauthorized  session expired or revoked (close 4401, or the handshake was refused again
//                 and again: browsers hide the HTTP 401); no more attempts until reconnect()
//   closed        close() was called
//
// Reconnect policy by close code (SPEC §6):
//   4401          session expired: stop, state `unauthorized`
//   1001          nginx reload/stop: reconnect soon, after a random 0..goingAwayMaxDelayMs
//                 (so thousands of clients do not hit the new workers in the same millisecond)
//   1008          slow consumer: reconnect with backoff, one step further than before
//   anything else exponential backoff with full jitter: random(0, min(maxDelayMs, baseDelayMs·2^n)),
//                 n reset once a connection stayed live for resetAfterMs
//
// Resume (SPEC §8, servers with `portfolio_stream_history on`): the client keeps the highest
// `offset` it received (offsets are Redis stream ids "<ms>-<seq>", compared numerically part by
// part) and the `epoch` of the `connected` frame, and reconnects with `?since=<offset>&epoch=<epoch>`
// when it has both. After every reconnect (and after a `live` status frame with
// "recovered":false) it calls onResume:
//   {recovered: true,  replayed: N, done: true}   every missed event was replayed (N of them,
//                                                 counted as described at _replayEvent)
//   {recovered: false, reason}                    events may be missing: reload the snapshot.
//      reason: 'not-recovered' (the server said so: history expired, epoch changed, too many),
//              'no-offset' (nothing to resume from: history off, or no event with an offset yet),
//              'outage' (a Redis outage the server could not cover)
// A first connection without since/epoch options gets no onResume: load the snapshot then.
//
// Clocks: timers and liveness run on a monotonic clock (performance.now), wall-clock times
// (stats.lastEventAt, serverNow()) on Date.now, so a jump of the system clock (or a test that
// sets the page's Date) neither fakes nor hides a dead connection.
//
// Works over ws: and wss:; by default the URL is derived from the page's location.

/** The four client channels of SPEC §4 and the event types that belong to them. */
export const CHANNELS = Object.freeze(['positions', 'orders', 'account', 'trades']);
/** @type {Readonly<Record<string, string>>} */
export const CHANNEL_OF_TYPE = Object.freeze({
  position_update: 'positions',
  order_update: 'orders',
  account_update: 'account',
  trade_executed: 'trades',
});

/**
 * @typedef {'connecting'|'live'|'degraded'|'stale'|'reconnecting'|'offline'|'unauthorized'|'closed'} StreamState
 *
 * @typedef {object} StateInfo
 * @property {StreamState} previous   the state before
 * @property {number} [code]          close code that led here (reconnecting, unauthorized)
 * @property {string} [reason]        close reason, or why the client decided
 * @property {number} [delayMs]       reconnecting: the wait before the next attempt
 * @property {number} [attempt]       reconnecting: consecutive failed attempts so far
 *
 * @typedef {object} PortfolioEvent   an event exactly as the backend published it (SPEC §4)
 * @property {string} type
 * @property {number} [ts]            ms since the epoch, set by the publisher
 *
 * @typedef {object} EventMeta
 * @property {boolean} batch          it came in a {"type":"batch"} frame
 * @property {number} index           its index in that frame (0 for a single event)
 * @property {number} size            events in that frame
 * @property {number} receivedAt      wall-clock time (ms) the frame arrived
 *
 * @typedef {object} ResumeInfo
 * @property {boolean} recovered      true: nothing was lost; false: reload the snapshot
 * @property {string} [reason]        recovered false: 'not-recovered' | 'no-offset' | 'outage'
 * @property {number} [replayed]      recovered true: missed events replayed
 * @property {boolean} done           always true when onResume is called
 * @property {string|null} since      the offset the client resumed from
 * @property {string|null} epoch      the epoch now in force
 *
 * @typedef {object} Clock            injectable for tests
 * @property {() => number} now       monotonic ms (default performance.now)
 * @property {() => number} [wallNow] wall-clock ms since the epoch (default Date.now; absent: now)
 * @property {(fn: () => void, ms: number) => any} setTimeout
 * @property {(id: any) => void} clearTimeout
 *
 * @typedef {object} PortfolioStreamOptions
 * @property {string} [url]                 default: ws(s)://<location.host>/ws/portfolio
 * @property {string[]} [channels]          channels wanted (default: all four); kept across reconnects
 * @property {(ev: PortfolioEvent, meta: EventMeta) => void} [onEvent]
 * @property {(state: StreamState, info: StateInfo) => void} [onState]
 * @property {(msg: any) => void} [onMessage]   every control message (connected, subscribed, pong, status, error)
 * @property {(err: Error) => void} [onError]   unparseable frames, exceptions thrown by callbacks
 * @property {(r: ResumeInfo) => void} [onResume]  after a reconnect or an outage (SPEC §8)
 * @property {boolean} [resume=true]        send ?since=&epoch= on reconnects
 * @property {string} [since]               an offset to resume from on the first connection…
 * @property {string} [epoch]               …and its epoch (both needed)
 * @property {number} [replayQuietMs=1000]  a replay is over after this long without a replayed event
 * @property {boolean} [autoConnect=true]   connect in the constructor
 * @property {number} [baseDelayMs=250]     backoff base
 * @property {number} [maxDelayMs=30000]    backoff cap
 * @property {number} [resetAfterMs=10000]  a connection live this long resets the backoff
 * @property {number} [goingAwayMaxDelayMs=1500]  reconnect window after close 1001
 * @property {number} [connectTimeoutMs=10000]    handshake + `connected` frame must arrive within this
 * @property {number} [heartbeatMs=15000]   until the server's `connected` frame says otherwise
 * @property {number} [handshakeFailures=4] this many consecutive attempts that never got `connected`…
 * @property {number} [handshakeFailureWindowMs=5000] …over at least this long ⇒ `unauthorized`
 * @property {() => Promise<boolean>} [checkSession]  optional: asked before concluding `unauthorized`
 *           from refused handshakes (e.g. fetch('/api/me')); true = the session is fine (the refusals
 *           were 503/429), keep reconnecting with backoff
 * @property {typeof WebSocket} [WebSocket] the WebSocket constructor (default: globalThis.WebSocket)
 * @property {Clock} [clock]                default: performance.now (Date.now) / Date.now / setTimeout / clearTimeout
 * @property {() => number} [random]        default: Math.random
 * @property {any} [window]                 source of online/offline/visibilitychange events and
 *                                          navigator.onLine (default: globalThis when it has them)
 */

/**
 * Full-jitter exponential backoff (AWS architecture blog, "Exponential Backoff And Jitter").
 * @param {number} attempt   failed attempts so far (0 = first retry)
 * @param {number} baseMs
 * @param {number} capMs
 * @param {() => number} [random]
 * @returns {number} ms to wait, uniformly in [0, min(capMs, baseMs·2^attempt))
 */
export function backoffDelay(attempt, baseMs, capMs, random = Math.random) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * The events of one server frame, in order: a batch is unpacked, a bare event is itself,
 * control messages give [].
 * @param {any} msg  a parsed frame
 * @returns {PortfolioEvent[]}
 */
export function eventsOf(msg) {
  if (!msg || typeof msg !== 'object') return [];
  if (msg.type === 'batch') return Array.isArray(msg.events) ? msg.events : [];
  if (CONTROL_TYPES.has(msg.type)) return [];
  return [msg];
}
const CONTROL_TYPES = new Set(['connected', 'status', 'subscribed', 'pong', 'error']);

/**
 * Splits a SPEC §8 offset (a Redis stream id "<ms>-<seq>") into its two decimal parts.
 * @param {unknown} offset
 * @returns {[string, string] | null} the parts without leading zeros, or null when malformed
 */
export function parseOffset(offset) {
  if (typeof offset !== 'string') return null;
  const m = /^(\d{1,20})-(\d{1,20})$/.exec(offset);
  if (!m) return null;
  const strip = (s) => s.replace(/^0+(?=\d)/, '');
  return [strip(m[1]), strip(m[2])];
}

/**
 * Orders two offsets numerically, part by part ("9-1" < "10-0" and "5-9" < "5-10", which a
 * string comparison gets wrong). Malformed offsets sort before every valid one.
 * @param {string|null|undefined} a
 * @param {string|null|undefined} b
 * @returns {number} < 0, 0 or > 0
 */
export function compareOffsets(a, b) {
  const pa = parseOffset(a);
  const pb = parseOffset(b);
  if (!pa || !pb) return (pa ? 1 : 0) - (pb ? 1 : 0);
  for (let i = 0; i < 2; i++) {
    if (pa[i].length !== pb[i].length) return pa[i].length - pb[i].length;
    if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  }
  return 0;
}

/** Freshness thresholds of a figure on screen (ms of age): Live < 5 s ≤ Delayed ≤ 30 s < Stale. */
export const FRESHNESS = Object.freeze({ delayedAfterMs: 5000, staleAfterMs: 30000 });

/**
 * @param {number} ageMs  how old the figure is
 * @param {{delayedAfterMs?: number, staleAfterMs?: number}} [t]
 * @returns {'live'|'delayed'|'stale'}
 */
export function freshnessOf(ageMs, t = FRESHNESS) {
  const delayed = t.delayedAfterMs ?? FRESHNESS.delayedAfterMs;
  const stale = t.staleAfterMs ?? FRESHNESS.staleAfterMs;
  if (ageMs > stale) return 'stale';
  if (ageMs >= delayed) return 'delayed';
  return 'live';
}

/** The default endpoint of the page's origin. */
export function defaultUrl(loc = globalThis.location) {
  if (!loc) throw new Error('PortfolioStream: no url and no location to derive it from');
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws/portfolio`;
}

const OPEN = 1;

/** Timers on the monotonic clock when there is one; wall-clock time from Date. */
function defaultClock() {
  const perf = globalThis.performance;
  const mono = perf && typeof perf.now === 'function' ? () => perf.now() : () => Date.now();
  return {
    now: mono,
    wallNow: () => Date.now(),
    setTimeout: (f, ms) => setTimeout(f, ms),
    clearTimeout: (t) => clearTimeout(t),
  };
}

export class PortfolioStream {
  /** @param {PortfolioStreamOptions} [options] */
  constructor(options = {}) {
    const o = options;
    this.url = o.url || defaultUrl();
    this.opts = {
      baseDelayMs: o.baseDelayMs ?? 250,
      maxDelayMs: o.maxDelayMs ?? 30000,
      resetAfterMs: o.resetAfterMs ?? 10000,
      goingAwayMaxDelayMs: o.goingAwayMaxDelayMs ?? 1500,
      connectTimeoutMs: o.connectTimeoutMs ?? 10000,
      handshakeFailures: o.handshakeFailures ?? 4,
      handshakeFailureWindowMs: o.handshakeFailureWindowMs ?? 5000,
      resume: o.resume !== false,
      replayQuietMs: o.replayQuietMs ?? 1000,
    };
    this.onEvent = o.onEvent || (() => {});
    this.onState = o.onState || (() => {});
    this.onMessage = o.onMessage || (() => {});
    this.onError = o.onError || ((e) => { if (globalThis.console) console.error('PortfolioStream:', e); });
    this.onResume = o.onResume || (() => {});
    this.checkSession = o.checkSession || null;
    this.WS = o.WebSocket || globalThis.WebSocket;
    this.clock = o.clock || defaultClock();
    this._wall = this.clock.wallNow ? () => this.clock.wallNow() : () => this.clock.now();
    this.random = o.random || Math.random;
    const w = o.window !== undefined ? o.window : globalThis;
    this.win = w && typeof w.addEventListener === 'function' ? w : null;

    /** @type {Set<string>} channels the application wants */
    this.wanted = new Set(o.channels || CHANNELS);
    /** @type {StreamState} */
    this.state = 'connecting';
    /** Server parameters from the last `connected` frame. */
    this.server = { userId: null, channels: [], batchWindowMs: null, heartbeatMs: o.heartbeatMs ?? 15000 };
    /** Figures for the UI. */
    this.stats = {
      connects: 0,          // `connected` frames seen
      reconnects: 0,        // connections after the first
      events: 0,            // events delivered to onEvent
      batches: 0,           // batch frames
      frames: 0,            // frames of any kind
      lastFrameAt: 0,       // wall-clock ms
      lastEventAt: 0,       // wall-clock ms
      rttMs: null,          // last application ping → pong
      clockOffsetMs: 0,     // serverTime − local time, from connected/pong
      extensions: '',       // negotiated WebSocket extensions (permessage-deflate)
      lastClose: null,      // {code, reason, wasClean}
      replayed: 0,          // events replayed on resumes, in all
    };
    /** SPEC §8: the highest offset received and the epoch of the user's history. */
    this._offset = parseOffset(o.since) ? o.since : null;
    this._epoch = typeof o.epoch === 'string' && o.epoch ? o.epoch : null;
    this._sentSince = null;       // the since of the current connection attempt
    this._replay = null;          // {serverTime, count} while a replay is arriving
    this._lastFrameTick = 0;      // monotonic time of the last frame (liveness)

    this._ws = null;
    this._attempt = 0;            // consecutive failures, drives the backoff
    this._handshakeFails = 0;     // consecutive attempts that never got `connected`
    this._firstFailAt = 0;
    this._timers = {};            // name -> timer id
    this._pingSentAt = 0;         // outstanding application ping (0 = none)
    this._liveSince = 0;
    this._gotConnected = false;
    this._everConnected = false;
    this._stopped = false;        // close() or unauthorized
    this._checking = false;

    this._onOnline = () => this._handleOnline();
    this._onOffline = () => this._handleOffline();
    this._onVisible = () => {
      const doc = this.win && this.win.document;
      if (doc && doc.visibilityState === 'visible' && this._gotConnected) this._ping();
    };
    this._degraded = false;
    this._listening = false;
    this._minRtt = Infinity;
    /** @type {Record<string, Set<Function>>} extra listeners added with on() */
    this._listeners = { state: new Set(), event: new Set(), message: new Set(), resume: new Set(), error: new Set() };
    if (o.autoConnect !== false) this.connect();
  }

  // ---- public API ---------------------------------------------------------------------------

  /** (Re)starts connecting; also the way out of `unauthorized` after a new login. */
  connect() {
    this._listen(true);
    this._stopped = false;
    this._attempt = 0;
    this._handshakeFails = 0;
    this._clearTimer('retry');
    this._drop();
    this._open();
  }

  /** Like connect(): drop the current socket (if any) and connect at once. */
  reconnect() { this.connect(); }

  /** Closes for good: no more reconnects, listeners removed. */
  close() {
    this._stopped = true;
    this._clearAllTimers();
    this._drop(1000, 'client closed');
    this._listen(false);
    this._setState('closed', {});
  }

  /** Adds channels to the filter (sent now if connected, and after every reconnect). */
  subscribe(channels) {
    const add = [].concat(channels).filter((c) => !this.wanted.has(c));
    add.forEach((c) => this.wanted.add(c));
    if (add.length) this._send({ type: 'subscribe', channels: add });
  }

  /** Removes channels from the filter (sent now if connected, and after every reconnect). */
  unsubscribe(channels) {
    const del = [].concat(channels).filter((c) => this.wanted.has(c));
    del.forEach((c) => this.wanted.delete(c));
    if (del.length) this._send({ type: 'unsubscribe', channels: del });
  }

  /** @returns {string[]} the channels the application wants */
  get channels() { return [...this.wanted]; }

  /** The server's clock now (estimated from connected/pong serverTime and the RTT). */
  serverNow() { return this._wall() + this.stats.clockOffsetMs; }

  /** Sends an application ping now (the pong updates stats.rttMs). */
  ping() { this._ping(); }

  /** The highest offset received (SPEC §8), or null. */
  get offset() { return this._offset; }

  /** The epoch of the user's history from the last `connected` frame (SPEC §8), or null. */
  get epoch() { return this._epoch; }

  /** The URL the next connection attempt uses: with ?since=&epoch= when both are known. */
  connectUrl() {
    if (!this.opts.resume || !this._offset || !this._epoch) return this.url;
    const sep = this.url.includes('?') ? '&' : '?';
    return `${this.url}${sep}since=${encodeURIComponent(this._offset)}&epoch=${encodeURIComponent(this._epoch)}`;
  }

  /**
   * Adds a listener besides the constructor's callbacks (several parts of an app can watch one
   * stream). type: 'state' (state, info) | 'event' (ev, meta) | 'message' (msg) |
   * 'resume' (info) | 'error' (err).
   * @returns {() => void} removes it
   */
  on(type, fn) {
    const set = this._listeners[type];
    if (!set) throw new Error(`PortfolioStream.on: unknown type ${type}`);
    set.add(fn);
    return () => set.delete(fn);
  }

  // ---- connection lifecycle ---------------------------------------------------------------------

  _open() {
    if (this._stopped) return;
    if (this._isOffline()) { this._setState('offline', {}); return; }
    // (a scheduled retry has announced `reconnecting` already, with its delay)
    if (this.state !== 'reconnecting') this._setState(this._everConnected ? 'reconnecting' : 'connecting', { attempt: this._attempt });
    let ws;
    const url = this.connectUrl();
    this._sentSince = url === this.url ? null : this._offset;
    try {
      ws = new this.WS(url);
    } catch (e) {
      this._error(e);
      this._scheduleRetry({ code: 1006, reason: String(e && e.message) }, false);
      return;
    }
    this._ws = ws;
    this._gotConnected = false;
    this._pingSentAt = 0;
    ws.onopen = () => { if (ws === this._ws) this.stats.extensions = ws.extensions || ''; };
    ws.onmessage = (m) => { if (ws === this._ws) this._frame(m.data); };
    ws.onclose = (c) => { if (ws === this._ws) this._closed(c.code, c.reason || '', !!c.wasClean); };
    ws.onerror = () => {};  // always followed by close; browsers give no detail
    this._setTimer('connect', this.opts.connectTimeoutMs, () => {
      this._drop(4000, 'connect timeout');
      this._closed(4000, 'connect timeout', false);
    });
  }

  /** Detaches and closes the current socket without waiting for its close event (a dead
   *  peer can take a long time to finish the closing handshake). */
  _drop(code = 4000, reason = '') {
    const ws = this._ws;
    this._ws = null;
    this._clearTimer('ping');
    this._clearTimer('watch');
    this._clearTimer('connect');
    // a replay cut short is not reported: the next connection resumes from the highest offset
    this._replay = null;
    this._clearTimer('replay');
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try { ws.close(code, reason); } catch { /* already closing */ }
  }

  _closed(code, reason, wasClean) {
    const wasConnected = this._gotConnected;
    const liveFor = this._liveSince ? this.clock.now() - this._liveSince : 0;
    this._drop();
    this._gotConnected = false;
    this._liveSince = 0;
    this.stats.lastClose = { code, reason, wasClean };
    if (this._stopped) return;
    const info = { code, reason };

    if (code === 4401) return this._unauthorized(info);
    if (wasConnected) {
      this._handshakeFails = 0;
      if (liveFor >= this.opts.resetAfterMs && code !== 1008) this._attempt = 0;
    } else {
      // Closed before `connected`: a refused handshake (browsers report 1006 for 401, 429, 503
      // and for a refused TCP connection alike) or a drop right after the 101.
      if (this._handshakeFails++ === 0) this._firstFailAt = this.clock.now();
      if (this._handshakeFails >= this.opts.handshakeFailures
          && this.clock.now() - this._firstFailAt >= this.opts.handshakeFailureWindowMs) {
        return this._suspectSession(info);
      }
    }
    if (this._isOffline()) return this._setState('offline', info);
    if (code === 1001 && wasConnected) {
      // Reload or stop of nginx: the new workers are up already; spread the reconnects out.
      return this._retryIn(Math.floor(this.random() * this.opts.goingAwayMaxDelayMs), info);
    }
    this._scheduleRetry(info, code === 1008);
  }

  _scheduleRetry(info, extraStep) {
    if (extraStep) this._attempt++;
    const delay = backoffDelay(this._attempt, this.opts.baseDelayMs, this.opts.maxDelayMs, this.random);
    this._attempt++;
    this._retryIn(delay, info);
  }

  _retryIn(delayMs, info) {
    // failures: consecutive attempts that never reached `connected` (what a UI calls an error)
    this._setState('reconnecting', { ...info, delayMs, attempt: this._attempt, failures: this._handshakeFails });
    this._setTimer('retry', delayMs, () => this._open());
  }

  async _suspectSession(info) {
    if (this.checkSession && !this._checking) {
      this._checking = true;
      let ok = false;
      try { ok = await this.checkSession(); } catch { ok = true; /* cannot tell: keep trying */ }
      this._checking = false;
      if (this._stopped || this._ws) return;
      if (ok) { this._handshakeFails = 0; return this._scheduleRetry(info, false); }
    }
    this._unauthorized({ ...info, reason: info.reason || 'handshake refused repeatedly' });
  }

  _unauthorized(info) {
    this._stopped = true;
    this._clearAllTimers();
    this._setState('unauthorized', info);
  }

  _isOffline() {
    const nav = this.win && this.win.navigator;
    return !!nav && nav.onLine === false;
  }

  _handleOffline() {
    if (this._stopped) return;
    this._clearTimer('retry');
    if (this._ws) this._drop(4000, 'offline');
    this._gotConnected = false;
    this._setState('offline', {});
  }

  _handleOnline() {
    if (this._stopped || this._ws) return;
    this._attempt = 0;
    this._handshakeFails = 0;
    // Every tab of every user comes back at once when a network returns: a little jitter.
    this._retryIn(Math.floor(this.random() * this.opts.baseDelayMs * 2), { reason: 'online' });
  }

  // ---- frames ------------------------------------------------------------------------------------

  _frame(data) {
    const now = this.clock.now();
    const wall = this._wall();
    this.stats.frames++;
    this.stats.lastFrameAt = wall;
    this._lastFrameTick = now;
    this._pingSentAt = 0;  // anything received proves the path works
    if (this.state === 'stale') this._setState(this._liveState(), {});
    let msg;
    try {
      msg = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data));
    } catch (e) {
      this._error(new Error(`unparseable frame: ${String(data).slice(0, 100)}`));
      return;
    }
    switch (msg && msg.type) {
      case 'connected': return this._connected(msg, now, wall);
      case 'status': {
        const wasDegraded = this._degraded;
        this._degraded = msg.state === 'degraded';
        this._setState(this._liveState(), {});
        this._control(msg);
        // SPEC §8: after an outage the server replays what it can; "recovered":false = it could not
        if (msg.state === 'live' && msg.recovered === false) {
          this._resumed({ recovered: false, reason: 'outage', since: this._offset, epoch: this._epoch, done: true });
        } else if (msg.state === 'live' && wasDegraded && msg.recovered === true) {
          this._resumed({ recovered: true, replayed: 0, since: this._offset, epoch: this._epoch, done: true });
        }
        return;
      }
      case 'pong':
        if (this._pingAt) {
          const rtt = now - this._pingAt;
          this.stats.rttMs = rtt;
          // Clock offset from the quickest exchange seen (least uncertainty: ±rtt/2).
          if (typeof msg.serverTime === 'number' && rtt <= this._minRtt) {
            this._minRtt = rtt;
            this.stats.clockOffsetMs = msg.serverTime - (this._pingWallAt + rtt / 2);
          }
          this._pingAt = 0;
        }
        return this._control(msg);
      case 'subscribed':
        this.server.channels = msg.channels || [];
        return this._control(msg);
      case 'error':
        return this._control(msg);
      default: {
        const evs = eventsOf(msg);
        const batch = msg.type === 'batch';
        if (batch) this.stats.batches++;
        for (let i = 0; i < evs.length; i++) {
          const ev = evs[i];
          const ch = ev && CHANNEL_OF_TYPE[ev.type];
          // The server filters too; this covers the frames in flight before it got our filter.
          if (ch && !this.wanted.has(ch)) continue;
          if (ev && typeof ev === 'object') this._noteOffset(ev.offset);
          this.stats.events++;
          this.stats.lastEventAt = wall;
          this._emit('event', this.onEvent, ev, { batch, index: i, size: evs.length, receivedAt: wall });
        }
      }
    }
  }

  _connected(msg, now, wall) {
    this._clearTimer('connect');
    const reconnect = this._everConnected;
    this._gotConnected = true;
    this._degraded = false;
    this._handshakeFails = 0;
    this._liveSince = now;
    if (this._everConnected) this.stats.reconnects++;
    this._everConnected = true;
    this.stats.connects++;
    this.server = {
      userId: msg.userId ?? null,
      channels: msg.channels || [],
      batchWindowMs: msg.batchWindowMs ?? null,
      heartbeatMs: msg.heartbeatMs > 0 ? msg.heartbeatMs : this.server.heartbeatMs,
    };
    // a first guess until a pong gives a better one
    if (typeof msg.serverTime === 'number' && this._minRtt === Infinity) this.stats.clockOffsetMs = msg.serverTime - wall;
    // Re-apply the application's filter: a new connection gets all four channels.
    const have = new Set(this.server.channels);
    const del = [...have].filter((c) => !this.wanted.has(c));
    const add = [...this.wanted].filter((c) => !have.has(c));
    if (del.length) this._send({ type: 'unsubscribe', channels: del });
    if (add.length) this._send({ type: 'subscribe', channels: add });
    // SPEC §8: the epoch identifies the user's history; offsets of another epoch mean nothing.
    const since = this._sentSince;
    const epoch = typeof msg.epoch === 'string' && msg.epoch ? msg.epoch : null;
    if (epoch !== this._epoch) { this._offset = null; this._epoch = epoch; }
    let resume = null;
    if (since && msg.recovered === true) {
      resume = { recovered: true, since, epoch };
    } else if (reconnect || since) {
      resume = { recovered: false, reason: since ? 'not-recovered' : 'no-offset', since, epoch, done: true };
    }
    this._setState('live', {});
    this._control(msg);
    if (resume && resume.recovered) {
      this._replay = { since, serverTime: typeof msg.serverTime === 'number' ? msg.serverTime : Infinity, count: 0 };
      this._setTimer('replay', this.opts.replayQuietMs, () => this._finishReplay());
    } else if (resume) {
      this._resumed(resume);
    }
    this._ping();  // a first RTT and clock offset right away
    this._setTimer('ping', this.server.heartbeatMs, () => this._pingLoop());
    this._watchLoop();
  }

  _control(msg) {
    this._emit('message', this.onMessage, msg);
  }

  // ---- resume (SPEC §8) ---------------------------------------------------------------------------

  /** Keeps the highest offset (numerically: see compareOffsets); counts replayed events. */
  _noteOffset(offset) {
    if (this._replay) this._replayEvent(offset);
    if (!parseOffset(offset)) return;
    if (!this._offset || compareOffsets(offset, this._offset) > 0) this._offset = offset;
  }

  // The server sends the missed events first, then live ones, without marking the boundary.
  // An event counts as replayed when its offset's time part (the Redis clock when it was
  // published) is not later than the `connected` frame's serverTime; the replay is over at the
  // first event that is newer or has no offset, or after replayQuietMs without a replayed event.
  // (Redis and nginx on hosts whose clocks disagree make the count approximate, never the data.)
  _replayEvent(offset) {
    const r = this._replay;
    const p = parseOffset(offset);
    if (p && Number(p[0]) <= r.serverTime) {
      r.count++;
      this._setTimer('replay', this.opts.replayQuietMs, () => this._finishReplay());
    } else {
      this._finishReplay();
    }
  }

  _finishReplay() {
    const r = this._replay;
    if (!r) return;
    this._replay = null;
    this._clearTimer('replay');
    this.stats.replayed += r.count;
    this._resumed({ recovered: true, replayed: r.count, since: r.since, epoch: this._epoch, done: true });
  }

  _resumed(info) {
    this._emit('resume', this.onResume, info);
  }

  _error(e) {
    try { this.onError(e); } catch { /* nothing left to tell */ }
    for (const fn of this._listeners.error) { try { fn(e); } catch { /* ignore */ } }
  }

  /** Calls the constructor's callback and the on() listeners of a type; exceptions go to onError. */
  _emit(type, cb, ...args) {
    try { cb(...args); } catch (e) { this._error(e); }
    for (const fn of this._listeners[type]) { try { fn(...args); } catch (e) { this._error(e); } }
  }

  _liveState() { return this._degraded ? 'degraded' : 'live'; }

  _send(obj) {
    const ws = this._ws;
    if (!ws || ws.readyState !== OPEN || !this._gotConnected) return false;
    try { ws.send(JSON.stringify(obj)); return true; } catch { return false; }
  }

  // ---- liveness: application ping every heartbeat; stale when nothing came back ---------------
  // Browsers answer the server's ping frames by themselves but never show them to scripts, so
  // the client sends {"type":"ping"} every heartbeat and watches for any frame. It is `stale`
  // when the last frame is older than 2 heartbeats AND a ping has been unanswered for a whole
  // heartbeat (the second condition keeps a background tab whose timers the browser throttled
  // from being declared stale just because its own ping went out late).

  _ping() {
    if (!this._send({ type: 'ping' })) return;
    const now = this.clock.now();
    this._pingAt = now;                          // for the RTT
    this._pingWallAt = this._wall();             // for the clock offset
    if (!this._pingSentAt) this._pingSentAt = now;  // oldest unanswered
  }

  _pingLoop() {
    this._ping();
    this._setTimer('ping', this.server.heartbeatMs, () => this._pingLoop());
  }

  _watchLoop() {
    const hb = this.server.heartbeatMs;
    const now = this.clock.now();
    if (this._gotConnected && this._pingSentAt && now - this._pingSentAt >= hb
        && now - this._lastFrameTick > 2 * hb) {
      const info = { reason: `no frame for ${Math.round(now - this._lastFrameTick)} ms` };
      this._setState('stale', info);
      // The socket claims to be open but nothing comes back: drop it and start over.
      this._liveSince = 0;
      this._drop(4000, 'stale');
      this._gotConnected = false;
      this._scheduleRetry({ code: 4000, reason: info.reason }, false);
      return;
    }
    this._setTimer('watch', Math.max(100, Math.min(1000, hb / 4)), () => this._watchLoop());
  }

  // ---- helpers -----------------------------------------------------------------------------------

  _setState(state, info) {
    if (state === this.state && state !== 'reconnecting') return;
    const previous = this.state;
    this.state = state;
    this._emit('state', this.onState, state, { previous, ...info });
  }

  _listen(on) {
    if (!this.win || this._listening === on) return;
    this._listening = on;
    const f = on ? 'addEventListener' : 'removeEventListener';
    this.win[f]('online', this._onOnline);
    this.win[f]('offline', this._onOffline);
    this.win[f]('visibilitychange', this._onVisible);
  }

  _setTimer(name, ms, fn) {
    this._clearTimer(name);
    this._timers[name] = this.clock.setTimeout(() => { delete this._timers[name]; fn(); }, ms);
  }

  _clearTimer(name) {
    if (this._timers[name] !== undefined) { this.clock.clearTimeout(this._timers[name]); delete this._timers[name]; }
  }

  _clearAllTimers() { Object.keys(this._timers).forEach((n) => this._clearTimer(n)); }
}

export default PortfolioStream;
