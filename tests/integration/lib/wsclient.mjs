// WebSocket clients built on `ws` (a conforming peer: masks, answers pings).
import WebSocket from 'ws';

const open = new Set();
export function terminateAllWs() { for (const c of open) c.terminate(); open.clear(); }

export class Client {
  constructor(ws) {
    this.ws = ws;
    this.raw = [];          // Buffers of text messages, in order
    this.messages = [];     // parsed JSON (or {unparsable: text})
    this.binary = [];
    this.pings = [];        // timestamps of ping frames received
    this.waiters = [];
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString(), at: Date.now() };
        open.delete(this);
        resolve(this.closeInfo);
        this._wake();
      });
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) { this.binary.push(data); return; }
      const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data);
      this.raw.push(buf);
      let m;
      try { m = JSON.parse(buf.toString('utf8')); } catch { m = { unparsable: buf.toString('utf8') }; }
      this.messages.push(m);
      this._wake();
    });
    ws.on('ping', () => { this.pings.push(Date.now()); this._wake(); });
    ws.on('error', () => {});
  }

  _wake() { for (const w of [...this.waiters]) w(); }

  send(obj) { this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); }

  // Events as delivered: single event frames and the contents of batch frames, in order.
  events() {
    const out = [];
    for (const m of this.messages) {
      if (m.type === 'batch' && Array.isArray(m.events)) out.push(...m.events);
      else if (['position_update', 'account_update', 'order_update', 'trade_executed'].includes(m.type)) out.push(m);
    }
    return out;
  }

  waitUntil(pred, timeout = 3000, what = 'condition') {
    return new Promise((resolve, reject) => {
      const check = () => {
        let v;
        try { v = pred(this); } catch { v = undefined; }
        if (v) { done(); resolve(v); return true; }
        if (this.closeInfo) {
          done();
          reject(new Error(`connection closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${what}; got ${this.summary()}`));
          return true;
        }
        return false;
      };
      const done = () => { clearTimeout(t); this.waiters = this.waiters.filter((w) => w !== check); };
      const t = setTimeout(() => { done(); reject(new Error(`timed out after ${timeout} ms waiting for ${what}; got ${this.summary()}`)); }, timeout);
      if (!check()) this.waiters.push(check);
    });
  }

  waitMessage(pred, timeout, what = 'message') { return this.waitUntil((c) => c.messages.find(pred), timeout, what); }
  waitMessages(n, timeout, what = `${n} messages`) { return this.waitUntil((c) => c.messages.length >= n && c.messages.slice(0, n), timeout, what); }
  waitEvents(n, timeout, what = `${n} events`) { return this.waitUntil((c) => c.events().length >= n && c.events(), timeout, what); }

  async waitClose(timeout = 3000) {
    let t;
    const r = await Promise.race([this.closed, new Promise((res) => { t = setTimeout(() => res(null), timeout); })]);
    clearTimeout(t);
    if (!r) throw new Error(`not closed within ${timeout} ms; got ${this.summary()}`);
    return r;
  }

  get isOpen() { return this.ws.readyState === WebSocket.OPEN; }
  summary() { return JSON.stringify(this.messages).slice(0, 600); }
  close(code = 1000) { this.ws.close(code); return this.closed; }
  terminate() { this.ws.terminate(); }
}

// permessage-deflate is offered by default, as browsers and `ws` itself do, so the
// whole suite runs compressed; PS_WS_DEFLATE=0 runs it uncompressed.
const DEFLATE_DEFAULT = process.env.PS_WS_DEFLATE !== '0';

// Opens a WebSocket; resolves with a Client once open, rejects with err.status on
// an HTTP rejection. o: { cookie, origin, headers, path, perMessageDeflate
// (default true: `ws`'s offer "permessage-deflate; client_max_window_bits") }
export function connectWs(port, o = {}) {
  return new Promise((resolve, reject) => {
    const headers = { ...(o.headers || {}) };
    if (o.cookie) headers.Cookie = o.cookie;
    const ws = new WebSocket(`ws://127.0.0.1:${port}${o.path || '/ws/portfolio'}`, {
      headers, origin: o.origin, perMessageDeflate: o.perMessageDeflate ?? DEFLATE_DEFAULT, handshakeTimeout: o.timeout ?? 5000,
    });
    const client = new Client(ws);
    open.add(client);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (req, res) => {
      const err = new Error(`handshake rejected: ${res.statusCode}`);
      err.status = res.statusCode;
      err.headers = res.headers;
      res.resume();
      ws.terminate();
      open.delete(client);
      reject(err);
    });
    ws.once('error', (e) => { open.delete(client); reject(e); });
  });
}

// connectWs + wait for the `connected` message.
export async function connectUser(port, cookie, o = {}) {
  const c = await connectWs(port, { cookie, ...o });
  await c.waitMessage((m) => m.type === 'connected', o.connectedTimeout ?? 3000, 'connected message');
  return c;
}
