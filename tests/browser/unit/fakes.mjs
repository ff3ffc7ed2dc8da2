// Fakes shared by the unit tests of the client (no browser, no network): a clock whose time
// only moves when a test says so, a WebSocket whose "server side" the test plays, and a window
// with online/offline events. Used only where a real one cannot serve (timing, close codes
// a real server would need minutes or faults to produce).
import { PortfolioStream, CHANNELS } from '../../../client/portfolio-stream.js';

export class FakeClock {
  constructor(t = 1_000_000) { this.t = t; this.wall = 1_700_000_000_000; this.timers = new Map(); this.seq = 0; }
  now() { return this.t; }
  // wall-clock time: moves with the monotonic one; a test may jump it (wall += ms) alone
  wallNow() { return this.wall + (this.t - 1_000_000); }
  setTimeout(fn, ms) { const id = ++this.seq; this.timers.set(id, { at: this.t + Math.max(0, ms), fn }); return id; }
  clearTimeout(id) { this.timers.delete(id); }
  // Advances time, firing timers in order (including ones they schedule).
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let next = null;
      for (const [id, tm] of this.timers) if (tm.at <= end && (!next || tm.at < next[1].at)) next = [id, tm];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

export let sockets = [];
export function resetSockets() { sockets = []; }
export const last = () => sockets[sockets.length - 1];

export class FakeWs {
  constructor(url) { this.url = url; this.readyState = 0; this.sent = []; this.closedWith = null; this.extensions = ''; sockets.push(this); }
  send(s) { this.sent.push(JSON.parse(s)); }
  close(code, reason) { this.closedWith = { code, reason }; this.readyState = 3; }
  // server side
  open(ext = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover') { this.readyState = 1; this.extensions = ext; this.onopen && this.onopen({}); }
  msg(obj) { this.onmessage && this.onmessage({ data: typeof obj === 'string' ? obj : JSON.stringify(obj) }); }
  serverClose(code, reason = '') { this.readyState = 3; this.onclose && this.onclose({ code, reason, wasClean: code !== 1006 }); }
  connected(extra = {}) {
    this.open();
    this.msg({ type: 'connected', userId: 'u1', channels: [...CHANNELS], batchWindowMs: 250, heartbeatMs: 1000, serverTime: 0, ...extra });
  }
}

export class FakeWindow {
  constructor() { this.navigator = { onLine: true }; this.handlers = {}; }
  addEventListener(t, f) { (this.handlers[t] ||= new Set()).add(f); }
  removeEventListener(t, f) { this.handlers[t]?.delete(f); }
  fire(t) { for (const f of this.handlers[t] || []) f({ type: t }); }
}

/** A PortfolioStream on the fakes, recording states, events and resumes. */
export function make(opts = {}) {
  const clock = opts.clock || new FakeClock();
  const states = [];
  const events = [];
  const resumes = [];
  const win = new FakeWindow();
  let r = 0.5;
  const s = new PortfolioStream({
    url: 'ws://test/ws/portfolio',
    WebSocket: FakeWs,
    clock,
    window: win,
    random: () => r,
    onState: (st, info) => states.push([st, info]),
    onEvent: (ev, meta) => events.push([ev, meta]),
    onResume: (info) => resumes.push(info),
    onError: () => {},
    ...opts,
  });
  return { s, clock, states, events, resumes, win, setRandom: (v) => { r = v; }, names: () => states.map((x) => x[0]) };
}
export const sentNoPing = (ws) => ws.sent.filter((m) => m.type !== 'ping');
