// Fault injection and leak probes for faults/lifecycle/churn tests (issue 5):
// a hung "Redis" (accepts, never answers), a TCP proxy in front of Redis that
// can hold replies, cut or refuse the command or the pub/sub connection, a
// publisher that never queues while Redis is down, and /proc + stats readers.
// Everything on 127.0.0.1; every socket is closed by close()/stop().
import net from 'node:net';
import fs from 'node:fs';
import http from 'node:http';
import { createClient } from 'redis';
import { freePort } from './ports.mjs';
import { sleep } from './procs.mjs';

// ---- stats ------------------------------------------------------------------
// GET over a connection of its own, closed after the answer (fetch() would
// keep one open in its pool and show up in the worker's fds).
export function httpGet(url, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeout} ms`)));
    req.on('error', reject);
  });
}

export async function stats(env, path = '/api/admin/websocket-stats') {
  return JSON.parse((await httpGet(`${env.nginx.httpBase}${path}`)).body);
}

// Prometheus text -> { name or name{labels}: number }
export async function prom(env, path = '/api/admin/websocket-stats') {
  const out = {};
  for (const l of (await httpGet(`${env.nginx.httpBase}${path}?format=prometheus`)).body.split('\n')) {
    if (!l || l.startsWith('#')) continue;
    const i = l.lastIndexOf(' ');
    out[l.slice(0, i)] = Number(l.slice(i + 1));
  }
  return out;
}

// Time a GET (ms), e.g. that the stats endpoint answers fast while Redis hangs.
export async function timedGet(url) {
  const t0 = performance.now();
  const r = await httpGet(url);
  return { status: r.status, ms: performance.now() - t0 };
}

// ---- /proc ------------------------------------------------------------------
export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}
export function fdCount(pid) {
  try { return fs.readdirSync(`/proc/${pid}/fd`).length; } catch { return NaN; }
}

const TCP_STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING'];
// The fds of a process, sockets described as "local->remote STATE" (for messages).
export function fdList(pid) {
  const tcp = new Map();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const l of text.split('\n').slice(1)) {
      const x = l.trim().split(/\s+/);
      if (x.length < 10) continue;
      const port = (a) => parseInt(a.split(':')[1], 16);
      tcp.set(x[9], `${port(x[1])}->${port(x[2])} ${TCP_STATES[parseInt(x[3], 16)] || x[3]}`);
    }
  }
  const out = [];
  let fds = [];
  try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { return out; }
  for (const fd of fds) {
    let link = '';
    try { link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    out.push(`${fd}:${m ? (tcp.get(m[1]) || link) : link}`);
  }
  return out;
}

// ---- Redis probes -----------------------------------------------------------
// PUBSUB NUMSUB for many channels -> { channel: n }
export async function numsubMany(client, channels) {
  if (!channels.length) return {};
  const r = await client.sendCommand(['PUBSUB', 'NUMSUB', ...channels]);
  const out = {};
  for (let i = 0; i < r.length; i += 2) out[String(r[i])] = Number(r[i + 1]);
  return out;
}
export async function pubsubChannels(client, pattern = 'portfolio:user:*') {
  return (await client.sendCommand(['PUBSUB', 'CHANNELS', pattern])).map(String).sort();
}

// A publisher whose commands fail at once while Redis is down (node-redis'
// offline queue would otherwise replay them, out of time order, on reconnect).
export async function publisher(port) {
  const c = createClient({
    socket: { host: '127.0.0.1', port, reconnectStrategy: () => 50, connectTimeout: 1000 },
    disableOfflineQueue: true,
  });
  c.on('error', () => {});
  await c.connect();
  return {
    client: c,
    // -> { n: receivers } or { err }
    async publish(channel, msg) {
      try { return { n: await c.publish(channel, msg) }; } catch (e) { return { err: e.message || String(e) }; }
    },
    async close() { try { await c.disconnect(); } catch { /* closed */ } },
  };
}

// Publishes {type:'order_update', user, seq, ts} to every user every
// intervalMs until stop(); stop() resolves with the log of every attempt:
// { user, seq, t0, t1, n | err } (t0/t1: Date.now() around the PUBLISH).
export function seqPublisher(pub, users, { intervalMs = 20, channel = (u) => `portfolio:user:${u}`, type = 'order_update' } = {}) {
  const log = [];
  const seq = Object.fromEntries(users.map((u) => [u, 0]));
  let running = true;
  const done = (async () => {
    while (running) {
      const tick = Date.now();
      await Promise.all(users.map(async (u) => {
        const s = seq[u]++;
        const t0 = Date.now();
        const r = await pub.publish(channel(u), JSON.stringify({ type, user: u, seq: s, ts: t0 }));
        log.push({ user: u, seq: s, t0, t1: Date.now(), ...r });
      }));
      const wait = intervalMs - (Date.now() - tick);
      if (wait > 0) await sleep(wait);
    }
    return log;
  })();
  return { log, stop: async () => { running = false; return done; } };
}

// ---- a hung Redis -------------------------------------------------------------
// Accepts connections and reads everything, never answers.
export class HungServer {
  constructor() { this.sockets = new Set(); this.accepted = 0; this.server = null; this.port = 0; }
  async start() {
    this.port = await freePort();
    this.server = net.createServer((s) => {
      this.accepted++;
      this.sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => this.sockets.delete(s));
      s.resume();
    });
    await new Promise((res, rej) => { this.server.once('error', rej); this.server.listen(this.port, '127.0.0.1', res); });
    return this;
  }
  get open() { return this.sockets.size; }
  async close() {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (this.server) await new Promise((r) => this.server.close(r));
    this.server = null;
  }
}

// ---- a fault-injecting proxy in front of Redis ---------------------------------
// Each accepted connection is classified by its first command: SUBSCRIBE /
// UNSUBSCRIBE -> 'sub' (the worker's pub/sub connection), anything else (GET,
// AUTH, SELECT) -> 'cmd'. Policies (per kind):
//   hold(kind)    Redis' replies are not read (TCP back-pressure, as a Redis
//                 that stopped answering); release(kind) resumes them.
//   cut(kind)     close both sides now (the worker sees EOF).
//   refuse(kind)  close a connection of that kind as soon as it is classified
//                 (its first command never reaches Redis); allow(kind) ends it.
// A pub/sub connection with nothing to subscribe sends nothing: it is
// 'unknown' until its first SUBSCRIBE.
export class RedisProxy {
  constructor(targetPort) {
    this.target = targetPort;
    this.pairs = new Set();
    this.holding = { cmd: false, sub: false };
    this.refusing = { cmd: false, sub: false };
    this.accepted = 0;
    this.refused = 0;
  }
  async start() {
    this.port = await freePort();
    this.server = net.createServer((client) => this._accept(client));
    await new Promise((res, rej) => { this.server.once('error', rej); this.server.listen(this.port, '127.0.0.1', res); });
    return this;
  }
  _accept(client) {
    this.accepted++;
    const upstream = net.connect({ port: this.target, host: '127.0.0.1' });
    const p = { client, upstream, kind: 'unknown', sniff: '' };
    this.pairs.add(p);
    const end = () => { client.destroy(); upstream.destroy(); this.pairs.delete(p); };
    client.on('error', end); upstream.on('error', end);
    client.on('close', end); upstream.on('close', end);
    upstream.on('data', (d) => client.write(d));
    client.on('data', (d) => {
      if (p.kind === 'unknown') {
        p.sniff = (p.sniff + d.toString('latin1')).slice(0, 256);
        const m = /^\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n/.exec(p.sniff);
        if (m) {
          p.kind = /^(P?UN)?P?SUBSCRIBE$/i.test(m[1]) ? 'sub' : 'cmd';
          if (this.refusing[p.kind]) { this.refused++; end(); return; }
          if (this.holding[p.kind]) upstream.pause();
        }
      }
      upstream.write(d);
    });
  }
  of(kind) { return [...this.pairs].filter((p) => p.kind === kind); }
  hold(kind) { this.holding[kind] = true; for (const p of this.of(kind)) p.upstream.pause(); }
  release(kind) { this.holding[kind] = false; for (const p of this.of(kind)) p.upstream.resume(); }
  cut(kind) { const ps = this.of(kind); for (const p of ps) { p.client.destroy(); p.upstream.destroy(); this.pairs.delete(p); } return ps.length; }
  refuse(kind) { this.refusing[kind] = true; }
  allow(kind) { this.refusing[kind] = false; }
  async close() {
    for (const p of this.pairs) { p.client.destroy(); p.upstream.destroy(); }
    this.pairs.clear();
    if (this.server) await new Promise((r) => this.server.close(r));
    this.server = null;
  }
}

// ---- client-side checks -------------------------------------------------------
// A Client's text messages with their arrival index: statuses and events in order.
export function timeline(c) {
  return c.messages.map((m, i) => ({ i, m }));
}

// Checks one client's events against the publisher log of its user:
// strictly increasing seq, all its own, every event Redis handed to a
// subscriber (PUBLISH > 0) arrived. Returns the classification of the log.
// skip(x): log entries to leave out of the "must arrive" check (e.g. a
// PUBLISH in flight while CLIENT KILL dropped the subscriber's output buffer).
export function auditUser(c, user, log, skip = () => false) {
  const evs = c.events();
  const foreign = evs.filter((e) => e.user !== user);
  const seqs = evs.map((e) => e.seq);
  let ordered = true;
  for (let i = 1; i < seqs.length; i++) if (!(seqs[i] > seqs[i - 1])) ordered = false;
  const got = new Set(seqs);
  const mine = log.filter((x) => x.user === user);
  const delivered = mine.filter((x) => x.n > 0 && !skip(x));
  const missing = delivered.filter((x) => !got.has(x.seq)).map((x) => x.seq);
  const zero = mine.filter((x) => x.n === 0);
  const failed = mine.filter((x) => x.err);
  return { events: evs.length, foreign: foreign.length, ordered, missing, published: mine.length,
    delivered: delivered.length, noSubscriber: zero.length, noSubscriberArrived: zero.filter((x) => got.has(x.seq)).length,
    failed: failed.length };
}
