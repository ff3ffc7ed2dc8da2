// portfolio-stream.js: the reference browser client of ngx_http_portfolio_stream_module
// (SPEC §3, §4, §6, §7). One dependency-free ES module, no build step:
//
//   import { PortfolioStream } from '/portfolio-stream.js';
//   const stream = new PortfolioStream({
//     onEvent: (ev) => render(ev),              // every event, batches unpacked in order
//     onState: (state, info) => badge(state),   // connecting|live|degraded|stale|reconnecting|offline|unauthorized|closed
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
 * @property {number} receivedAt      local time (ms) the frame arrived
 *
 * @typedef {object} Clock            injectable for tests
 * @property {() => number} now
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
 * @property {Clock} [clock]                default: Date.now / setTimeout / clearTimeout
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

/** The default endpoint of the page's origin. */
export function defaultUrl(loc = globalThis.location) {
  if (!loc) throw new Error('PortfolioStream: no url and no location to derive it from');
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws/portfolio`;
}

const OPEN = 1;

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
    };
    this.onEvent = o.onEvent || (() => {});
    this.onState = o.onState || (() => {});
    this.onMessage = o.onMessage || (() => {});
    this.onError = o.onError || ((e) => { if (globalThis.console) console.error('PortfolioStream:', e); });
    this.checkSession = o.checkSession || null;
    this.WS = o.WebSocket || globalThis.WebSocket;
    this.clock = o.clock || { now: () => Date.now(), setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (t) => clearTimeout(t) };
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
      lastFrameAt: 0,       // local ms
      lastEventAt: 0,       // local ms
      rttMs: null,          // last application ping → pong
      clockOffsetMs: 0,     // serverTime − local time, from connected/pong
      extensions: '',       // negotiated WebSocket extensions (permessage-deflate)
      lastClose: null,      // {code, reason, wasClean}
    };

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
  serverNow() { return this.clock.now() + this.stats.clockOffsetMs; }

  /** Sends an application ping now (the pong updates stats.rttMs). */
  ping() { this._ping(); }

  // ---- connection lifecycle ---------------------------------------------------------------------

  _open() {
    if (this._stopped) return;
    if (this._isOffline()) { this._setState('offline', {}); return; }
    // (a scheduled retry has announced `reconnecting` already, with its delay)
    if (this.state !== 'reconnecting') this._setState(this._everConnected ? 'reconnecting' : 'connecting', { attempt: this._attempt });
    let ws;
    try {
      ws = new this.WS(this.url);
    } catch (e) {
      this.onError(e);
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
    this._setState('reconnecting', { ...info, delayMs, attempt: this._attempt });
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
    this.stats.frames++;
    this.stats.lastFrameAt = now;
    this._pingSentAt = 0;  // anything received proves the path works
    if (this.state === 'stale') this._setState(this._liveState(), {});
    let msg;
    try {
      msg = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data));
    } catch (e) {
      this.onError(new Error(`unparseable frame: ${String(data).slice(0, 100)}`));
      return;
    }
    switch (msg && msg.type) {
      case 'connected': return this._connected(msg, now);
      case 'status':
        this._degraded = msg.state === 'degraded';
        this._setState(this._liveState(), {});
        return this._control(msg);
      case 'pong':
        if (this._pingAt) {
          const rtt = now - this._pingAt;
          this.stats.rttMs = rtt;
          // Clock offset from the quickest exchange seen (least uncertainty: ±rtt/2).
          if (typeof msg.serverTime === 'number' && rtt <= this._minRtt) {
            this._minRtt = rtt;
            this.stats.clockOffsetMs = msg.serverTime - (this._pingAt + rtt / 2);
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
          this.stats.events++;
          this.stats.lastEventAt = now;
          try { this.onEvent(ev, { batch, index: i, size: evs.length, receivedAt: now }); } catch (e) { this.onError(e); }
        }
      }
    }
  }

  _connected(msg, now) {
    this._clearTimer('connect');
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
    if (typeof msg.serverTime === 'number' && this._minRtt === Infinity) this.stats.clockOffsetMs = msg.serverTime - now;
    // Re-apply the application's filter: a new connection gets all four channels.
    const have = new Set(this.server.channels);
    const del = [...have].filter((c) => !this.wanted.has(c));
    const add = [...this.wanted].filter((c) => !have.has(c));
    if (del.length) this._send({ type: 'unsubscribe', channels: del });
    if (add.length) this._send({ type: 'subscribe', channels: add });
    this._setState('live', {});
    this._control(msg);
    this._ping();  // a first RTT and clock offset right away
    this._setTimer('ping', this.server.heartbeatMs, () => this._pingLoop());
    this._watchLoop();
  }

  _control(msg) {
    try { this.onMessage(msg); } catch (e) { this.onError(e); }
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
        && now - this.stats.lastFrameAt > 2 * hb) {
      const info = { reason: `no frame for ${now - this.stats.lastFrameAt} ms` };
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
    try { this.onState(state, { previous, ...info }); } catch (e) { this.onError(e); }
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
