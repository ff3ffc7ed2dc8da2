// Raw TCP clients: handcrafted handshakes and frames.
import net from 'node:net';
import { FrameParser, OP, acceptFor, newKey, buildFrame } from './frames.mjs';

const rawSockets = new Set();
export function destroyRawSockets() { for (const s of rawSockets) s.destroy(); rawSockets.clear(); }

// Handshake request text. o: { method, path, host, key (null: omit), version (null: omit),
// origin, cookie, upgrade ('websocket', null: omit), connection ('Upgrade', null: omit),
// headers: [[name, value], ...] extra (may duplicate) }
export function handshakeRequest(port, o = {}) {
  const h = [];
  const add = (n, v) => { if (v !== null && v !== undefined) h.push(`${n}: ${v}`); };
  add('Host', o.host ?? `127.0.0.1:${port}`);
  add('Upgrade', o.upgrade === undefined ? 'websocket' : o.upgrade);
  add('Connection', o.connection === undefined ? 'Upgrade' : o.connection);
  add('Sec-WebSocket-Key', o.key === undefined ? newKey() : o.key);
  add('Sec-WebSocket-Version', o.version === undefined ? '13' : o.version);
  add('Origin', o.origin);
  add('Cookie', o.cookie);
  for (const [n, v] of o.headers || []) add(n, v);
  if (o.body !== undefined) add('Content-Length', Buffer.byteLength(o.body));
  return `${o.method || 'GET'} ${o.path || '/ws/portfolio'} HTTP/1.1\r\n${h.join('\r\n')}\r\n\r\n${o.body ?? ''}`;
}

function parseHead(text) {
  const [statusLine, ...lines] = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i < 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = headers[k] !== undefined ? `${headers[k]}, ${v}` : v;
  }
  return { status: m ? Number(m[1]) : 0, statusLine, headers };
}

// Sends a request and reads the response head (and body, by Content-Length).
// Resolves {status, headers, body, socket, rest}: on 101 the socket stays open
// (caller owns it), otherwise it is destroyed.
export function rawRequest(port, request, { timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    rawSockets.add(s);
    let buf = Buffer.alloc(0);
    let head = null;
    const t = setTimeout(() => { s.destroy(); reject(new Error(`no HTTP response within ${timeout} ms; got: ${JSON.stringify(buf.toString('latin1'))}`)); }, timeout);
    const finish = (body, rest) => {
      clearTimeout(t);
      s.removeAllListeners('data');
      if (head.status !== 101) { s.destroy(); rawSockets.delete(s); }
      resolve({ ...head, body: body.toString('utf8'), socket: s, rest });
    };
    s.once('connect', () => s.write(request));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!head) {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        head = parseHead(buf.subarray(0, i).toString('latin1'));
        buf = buf.subarray(i + 4);
      }
      if (head.status === 101) return finish(Buffer.alloc(0), buf);
      const cl = head.headers['content-length'];
      if (cl !== undefined && buf.length >= Number(cl)) return finish(buf.subarray(0, Number(cl)), buf.subarray(Number(cl)));
      if (cl === undefined && head.headers['transfer-encoding'] === undefined) return finish(buf, Buffer.alloc(0));
    });
    s.once('end', () => { if (head) finish(buf, Buffer.alloc(0)); });
    s.once('close', () => {
      if (!head) { clearTimeout(t); reject(new Error(`connection closed without an HTTP response; got: ${JSON.stringify(buf.toString('latin1'))}`)); }
      else if (head.status !== 101) finish(buf, Buffer.alloc(0));
    });
    s.once('error', (e) => { if (!head) { clearTimeout(t); reject(e); } });
  });
}

export async function handshake(port, o = {}, opts) {
  return rawRequest(port, handshakeRequest(port, o), opts);
}

// A WebSocket connection over a raw socket: send any bytes, see every frame.
export class RawWs {
  static async connect(port, o = {}) {
    const key = o.key || newKey();
    const r = await handshake(port, { ...o, key });
    if (r.status !== 101) throw new Error(`expected 101, got ${r.status}: ${r.body}`);
    if (r.headers['sec-websocket-accept'] !== acceptFor(key)) throw new Error(`bad Sec-WebSocket-Accept ${r.headers['sec-websocket-accept']}`);
    return new RawWs(r.socket, r.rest, r);
  }

  constructor(socket, rest, response) {
    this.socket = socket;
    this.response = response;
    this.parser = new FrameParser();
    this.frames = [];
    this.waiters = [];
    this.tcpClosed = false;
    this.closedAt = null;
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.tcpClosed = true; this.closedAt = Date.now(); rawSockets.delete(socket); resolve(this.closeFrame());
        this._wake();
      });
    });
    socket.on('error', () => {});
    socket.on('data', (d) => this._feed(d));
    if (rest && rest.length) this._feed(rest);
  }

  _feed(d) {
    for (const f of this.parser.push(d)) { f.at = Date.now(); this.frames.push(f); }
    this._wake();
  }

  _wake() { for (const w of [...this.waiters]) w(); }

  send(buf) { if (!this.socket.destroyed) this.socket.write(buf); }
  sendText(s, o) { this.send(buildFrame({ opcode: OP.TEXT, payload: s, ...o })); }
  sendJson(o) { this.sendText(JSON.stringify(o)); }

  closeFrame() { return this.frames.find((f) => f.opcode === OP.CLOSE) || null; }
  texts() { return this.frames.filter((f) => f.opcode === OP.TEXT).map((f) => f.payload.toString('utf8')); }
  messages() { return this.texts().map((t) => JSON.parse(t)); }

  // Wait until pred(frames) is truthy; returns its value.
  waitUntil(pred, timeout = 3000, what = 'frames') {
    return new Promise((resolve, reject) => {
      const check = () => {
        let v;
        try { v = pred(this.frames); } catch (e) { v = undefined; }
        if (v) { done(); resolve(v); return true; }
        if (this.tcpClosed && !v) { done(); reject(new Error(`connection closed while waiting for ${what}; frames: ${this.describe()}`)); return true; }
        return false;
      };
      const done = () => { clearTimeout(t); this.waiters = this.waiters.filter((w) => w !== check); };
      const t = setTimeout(() => { done(); reject(new Error(`timed out after ${timeout} ms waiting for ${what}; frames: ${this.describe()}`)); }, timeout);
      if (!check()) this.waiters.push(check);
    });
  }

  waitFrame(pred, timeout, what) { return this.waitUntil((fs) => fs.find(pred), timeout, what); }

  async waitMessage(pred, timeout = 3000, what = 'message') {
    return this.waitUntil(() => this.messages().find(pred), timeout, what);
  }

  async waitConnected(timeout = 3000) {
    return this.waitMessage((m) => m.type === 'connected', timeout, 'connected message');
  }

  // Resolves {closeFrame, tcpClosed, elapsed} once TCP is closed, or rejects after timeout.
  async waitClosed(timeout = 3000) {
    const start = Date.now();
    let t;
    const r = await Promise.race([this.closed, new Promise((res) => { t = setTimeout(() => res('timeout'), timeout); })]);
    clearTimeout(t);
    if (r === 'timeout') throw new Error(`TCP not closed within ${timeout} ms; frames: ${this.describe()}`);
    return { closeFrame: this.closeFrame(), tcpClosed: true, elapsed: Date.now() - start };
  }

  describe() {
    return JSON.stringify(this.frames.map((f) => ({ op: f.opcode, fin: f.fin, code: f.code, len: f.payload.length, text: f.opcode === OP.TEXT ? f.payload.toString('utf8').slice(0, 120) : undefined })));
  }

  destroy() { this.socket.destroy(); }
}
