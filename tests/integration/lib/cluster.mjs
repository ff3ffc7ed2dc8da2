// A real Redis Cluster for tests (SPEC section 9): N masters with R replicas
// each (default 3 + 3), every redis-server on a free loopback port (and a
// free cluster-bus port) in its own temp dir with its own nodes.conf, joined
// with `redis-cli --cluster create`, all stopped by pid.
//
//   const cluster = new RedisCluster();
//   await cluster.start();                  // cluster_state:ok on every node
//   cluster.seeds                           // "127.0.0.1:p1 127.0.0.1:p2 ..." (portfolio_stream_redis_cluster)
//   await cluster.ownerOf('portfolio:user:u1')  // port of the master owning the key's slot
//   await cluster.nodeClient(port)          // node-redis client of one node
//   await cluster.client()                  // node-redis cluster client (routes keys, sPublish/sSubscribe)
//   await cluster.command(['GET', key])     // one key command, routed by slot, MOVED/ASK followed
//   await cluster.spublish(channel, msg)    // SPUBLISH on the channel's shard
//   await cluster.ssubscribe(channel, fn)   // SSUBSCRIBE on the channel's shard (a plain node client)
//   await cluster.killMaster(port)          // SIGKILL; resolves with the replica that took over
//   await cluster.reshard({ from, to, slots })  // redis-cli --cluster reshard
//   await cluster.destroy()
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createClient, createCluster } from 'redis';
import { spawnTracked, stopChild, sleep, waitFor, registerDir, unregisterDir } from './procs.mjs';
import { freePort, waitForPort } from './ports.mjs';
import { cookieFor } from './app.mjs';

// --- slots: the Redis Cluster spec's CRC16 (XMODEM) and hash tags, as src/cluster_slot.cpp ---
const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let b = 0; b < 8; b++) crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) : (crc << 1);
    t[i] = crc & 0xffff;
  }
  return t;
})();

export function crc16(buf) {
  let crc = 0;
  for (const byte of buf) crc = ((crc << 8) ^ CRC_TABLE[((crc >> 8) ^ byte) & 0xff]) & 0xffff;
  return crc;
}

export function hashTag(key) {
  const b = Buffer.isBuffer(key) ? key : Buffer.from(String(key));
  const open = b.indexOf(0x7b); // '{'
  if (open < 0) return b;
  const close = b.indexOf(0x7d, open + 1); // '}'
  if (close < 0 || close === open + 1) return b;
  return b.subarray(open + 1, close);
}

export const keySlot = (key) => crc16(hashTag(key)) & 16383;

// A key (or channel) for each of `count` evenly spaced slot ranges, e.g. one
// per master: `${prefix}${n}` with the smallest n whose slot is in range i.
export function keysPerRange(count, prefix = 'portfolio:user:k') {
  const out = [];
  const width = 16384 / count;
  for (let i = 0; i < count; i++) {
    for (let n = 0; ; n++) {
      const k = `${prefix}${n}`;
      const s = keySlot(k);
      if (s >= i * width && s < (i + 1) * width) { out.push(k); break; }
    }
  }
  return out;
}

function run(cmd, args, { timeout = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } }, timeout);
    child.once('error', (e) => { clearTimeout(t); reject(e); });
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}:\n${out}\n${err}`));
    });
  });
}

// CLUSTER SHARDS (RESP2: flat key/value arrays) as [{ slots: [[s, e]...], nodes: [{id, port, role, health}] }].
function shardsOf(reply) {
  const obj = (a) => { const o = {}; for (let i = 0; i + 1 < a.length; i += 2) o[a[i]] = a[i + 1]; return o; };
  return reply.map((s) => {
    const o = obj(s);
    const slots = [];
    for (let i = 0; i + 1 < o.slots.length; i += 2) slots.push([Number(o.slots[i]), Number(o.slots[i + 1])]);
    return { slots, nodes: o.nodes.map((n) => { const m = obj(n); return { ...m, port: Number(m.port) }; }) };
  });
}

export class RedisCluster {
  // opts: { masters: 3, replicas: 1, nodeTimeout: 1000 (ms, cluster-node-timeout), extraArgs: [],
  //         password: every node's requirepass/masterauth, used by the harness's own clients too }
  constructor(opts = {}) {
    this.masters = opts.masters ?? 3;
    this.replicas = opts.replicas ?? 1;
    this.nodeTimeout = opts.nodeTimeout ?? 1000;
    this.extraArgs = opts.extraArgs || [];
    this.password = opts.password || null;
    this.nodes = []; // { port, busPort, dir, child }
    this.clients = [];
    this.subscribers = [];
    this.routers = new Map(); // port -> node-redis client for command()
  }

  get ports() { return this.nodes.map((n) => n.port); }
  get seeds() { return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(' '); }
  liveNodes() { return this.nodes.filter((n) => n.child && n.child.exitCode === null && n.child.signalCode === null); }
  node(port) { return this.nodes.find((n) => n.port === port); }

  async start() {
    const total = this.masters * (1 + this.replicas);
    const used = new Set();
    const pick = async () => { for (;;) { const p = await freePort(); if (!used.has(p)) { used.add(p); return p; } } };
    try {
      for (let i = 0; i < total; i++) {
        const node = { port: await pick(), busPort: await pick() };
        node.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-cluster-'));
        registerDir(node.dir);
        this.nodes.push(node);
        this.spawnNode(node);
      }
      for (const n of this.nodes) await waitForPort(n.port, 10000, () => n.child.exitCode !== null);
      await run('redis-cli', [...this.cliAuth(), '--cluster', 'create', ...this.nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas', String(this.replicas), '--cluster-yes'], { timeout: 30000 });
      await this.waitHealthy();
      await this.waitReplicasOnline();
    } catch (e) {
      const logs = this.nodes.map((n) => `--- ${n.port}\n${this.log(n.port).slice(-2000)}`).join('\n');
      await this.destroy();
      throw new Error(`${e.message}\n${logs}`);
    }
    return this;
  }

  cliAuth() { return this.password ? ['-a', this.password, '--no-auth-warning'] : []; }

  spawnNode(node) {
    const args = ['--port', String(node.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', node.dir, '--daemonize', 'no', '--protected-mode', 'no', '--logfile', path.join(node.dir, 'redis.log'),
      '--cluster-enabled', 'yes', '--cluster-config-file', path.join(node.dir, 'nodes.conf'),
      '--cluster-port', String(node.busPort), '--cluster-node-timeout', String(this.nodeTimeout),
      // a replica may always take over (tests kill masters on purpose)
      '--cluster-replica-validity-factor', '0',
      // replicas sync at once (the default waits 5 s for more replicas to join the transfer)
      '--repl-diskless-sync-delay', '0',
      ...(this.password ? ['--requirepass', this.password, '--masterauth', this.password] : []), ...this.extraArgs];
    node.child = spawnTracked(`redis-cluster:${node.port}`, 'redis-server', args);
    node.child.stdout.resume();
    node.child.stderr.resume();
  }

  log(port) {
    const n = this.node(port);
    try { return fs.readFileSync(path.join(n.dir, 'redis.log'), 'utf8'); } catch { return ''; }
  }

  // A plain node-redis client of one node (tracked; closed by destroy()).
  async nodeClient(port, { track = true } = {}) {
    const c = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false, connectTimeout: 2000 },
      ...(this.password ? { password: this.password } : {}) });
    c.on('error', () => {});
    await c.connect();
    if (track) this.clients.push(c);
    return c;
  }

  async raw(port, args) {
    const c = await this.nodeClient(port, { track: false });
    try { return await c.sendCommand(args); } finally { try { await c.disconnect(); } catch { /* closed */ } }
  }

  // node-redis's cluster client, seeded with every node (tracked).
  async client() {
    const c = createCluster({
      rootNodes: this.nodes.map((n) => ({ socket: { host: '127.0.0.1', port: n.port, connectTimeout: 2000 } })),
      defaults: { socket: { reconnectStrategy: (n) => (n > 20 ? false : 100) }, ...(this.password ? { password: this.password } : {}) },
      maxCommandRedirections: 16,
    });
    c.on('error', () => {});
    await c.connect();
    this.clients.push(c);
    return c;
  }

  // The masters as the cluster reports them now (CLUSTER SHARDS of a live node):
  // [{ port, id, slots: [[s, e]...], replicas: [port...] }], ordered by first slot.
  async shards() {
    let lastErr;
    for (const n of this.liveNodes()) {
      try {
        const sh = shardsOf(await this.raw(n.port, ['CLUSTER', 'SHARDS']));
        const out = [];
        for (const s of sh) {
          const m = s.nodes.find((x) => x.role === 'master' && !/^fail/.test(x.health));
          if (!m || !s.slots.length) continue;
          out.push({ port: m.port, id: m.id, slots: s.slots,
            replicas: s.nodes.filter((x) => x.role === 'replica' && !/^fail/.test(x.health)).map((x) => x.port) });
        }
        return out.sort((a, b) => a.slots[0][0] - b.slots[0][0]);
      } catch (e) { lastErr = e; }
    }
    throw lastErr || new Error('no live cluster node');
  }

  async ownerOfSlot(slot) {
    const sh = await this.shards();
    const m = sh.find((s) => s.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!m) throw new Error(`slot ${slot} has no master`);
    return m.port;
  }
  ownerOf(key) { return this.ownerOfSlot(keySlot(key)); }

  // Every live node says cluster_state:ok, knows every live node, and all
  // agree on who owns every slot (CLUSTER SLOTS identical).
  async waitHealthy({ timeout = 20000 } = {}) {
    await waitFor(async () => {
      const live = this.liveNodes();
      const slotViews = [];
      for (const n of live) {
        let info;
        let slots;
        try {
          info = await this.raw(n.port, ['CLUSTER', 'INFO']);
          slots = await this.raw(n.port, ['CLUSTER', 'SLOTS']);
        } catch { return false; }
        if (!/cluster_state:ok/.test(info)) return false;
        if (!new RegExp(`cluster_slots_ok:16384`).test(info)) return false;
        // masters and their slot ranges, ignoring replica lists (they settle later)
        slotViews.push(JSON.stringify(slots.map((e) => [e[0], e[1], e[2][1]]).sort((a, b) => a[0] - b[0])));
      }
      return live.length > 0 && slotViews.every((v) => v === slotViews[0]);
    }, { timeout, interval: 100, what: 'cluster_state:ok and one slot map on every node' });
  }

  // Every replica's link to its master is up (INFO replication), so that a
  // killed master has a synced replica ready to take over. (CLUSTER SHARDS
  // says "loading" until the replica's offset moves, which can take
  // repl-ping-replica-period.)
  async waitReplicasOnline({ timeout = 20000 } = {}) {
    await waitFor(async () => {
      let replicas = 0;
      for (const n of this.liveNodes()) {
        let info;
        try { info = await this.raw(n.port, ['INFO', 'replication']); } catch { return false; }
        if (!/role:slave/.test(info)) continue;
        if (!/master_link_status:up/.test(info)) return false;
        replicas++;
      }
      return replicas === this.masters * this.replicas;
    }, { timeout, interval: 50, what: 'every replica synced' });
  }

  // SIGKILLs the master on `port` and waits until one of its replicas owns
  // its slots and the cluster is ok again. Returns that replica's port.
  async killMaster(port, { timeout = 20000 } = {}) {
    const before = await this.shards();
    const shard = before.find((s) => s.port === port);
    if (!shard) throw new Error(`${port} is not a master`);
    const n = this.node(port);
    await stopChild(n.child, 'SIGKILL', 5000);
    let promoted;
    await waitFor(async () => {
      try {
        const now = await this.shards();
        const s = now.find((x) => x.slots[0][0] === shard.slots[0][0]);
        if (s && s.port !== port && shard.replicas.includes(s.port)) { promoted = s.port; return true; }
      } catch { /* a node may be busy with the election */ }
      return false;
    }, { timeout, interval: 100, what: `a replica of ${port} to take over` });
    await this.waitHealthy({ timeout });
    return promoted;
  }

  // Restarts a stopped node on the same port and dir (it rejoins from its nodes.conf).
  async restartNode(port) {
    const n = this.node(port);
    this.spawnNode(n);
    await waitForPort(n.port, 10000, () => n.child.exitCode !== null);
  }

  // Moves `slots` slots from the master on port `from` to the master on port
  // `to` (redis-cli --cluster reshard), then waits for one slot map everywhere.
  async reshard({ from, to, slots }) {
    const sh = await this.shards();
    const src = sh.find((s) => s.port === from);
    const dst = sh.find((s) => s.port === to);
    if (!src || !dst) throw new Error(`reshard: ${from} and ${to} must be masters`);
    await run('redis-cli', [...this.cliAuth(), '--cluster', 'reshard', `127.0.0.1:${from}`, '--cluster-from', src.id,
      '--cluster-to', dst.id, '--cluster-slots', String(slots), '--cluster-yes'], { timeout: 60000 });
    await this.waitHealthy();
  }

  // One command with one key, sent to the key's master; MOVED and ASK are
  // followed (at most 5 times), as the module's src/cluster_map does.
  async command(args, key = args[1]) {
    let port = await this.ownerOf(key);
    let asking = false;
    for (let i = 0; ; i++) {
      const c = await this.router(port);
      try {
        if (asking) {
          const [, r] = await Promise.all([c.sendCommand(['ASKING']), c.sendCommand(args)]);
          return r;
        }
        return await c.sendCommand(args);
      } catch (e) {
        const m = /^(MOVED|ASK) (\d+) (.*):(\d+)$/.exec(e.message || '');
        if (!m || i >= 5) throw e;
        port = Number(m[4]);
        asking = m[1] === 'ASK';
      }
    }
  }

  async router(port) {
    let c = this.routers.get(port);
    if (!c || !c.isOpen) {
      c = await this.nodeClient(port);
      this.routers.set(port, c);
    }
    return c;
  }

  spublish(channel, message) { return this.command(['SPUBLISH', channel, message], channel); }

  // SSUBSCRIBE on the master that owns the channel now (or on `port`), with
  // a plain node client: { got: [Buffer], moved: [channel], port, client }.
  // `moved` collects the SUNSUBSCRIBE pushes Redis sends when the channel's
  // slot leaves that node (a reshard or failover).
  async ssubscribe(channel, { port } = {}) {
    if (port === undefined) port = await this.ownerOf(channel);
    const c = await this.nodeClient(port);
    const got = [];
    const moved = [];
    c.on('sharded-channel-moved', (ch) => moved.push(ch));
    await c.sSubscribe(channel, (m) => got.push(m), true);
    const sub = { got, moved, port, client: c };
    this.subscribers.push(sub);
    return sub;
  }

  async destroy() {
    for (const c of this.clients) {
      try { await c.disconnect(); } catch { /* closed */ }
    }
    this.clients = [];
    this.routers.clear();
    this.subscribers = [];
    for (const n of this.nodes) {
      if (n.child) await stopChild(n.child, 'SIGTERM', 5000);
    }
    for (const n of this.nodes) {
      if (n.dir) { fs.rmSync(n.dir, { recursive: true, force: true }); unregisterDir(n.dir); n.dir = null; }
    }
    this.nodes = [];
  }
}

export { sleep };

// The port of the master owning `slot` in `shards` (RedisCluster.shards()), or undefined.
export function slotOwner(shards, slot) {
  const s = shards.find((x) => x.slots.some(([a, b]) => slot >= a && slot <= b));
  return s ? s.port : undefined;
}

export const randomSid = () => crypto.randomBytes(24).toString('base64url');

// A session as connect-redis writes it (express-session's JSON, TTL 86400 s,
// user id at `userId`), SET through the cluster (routed to the key's master):
// { sid, cookie (signed like express-session), key }.
export async function writeSession(cluster, user, sid = randomSid()) {
  const json = JSON.stringify({ cookie: { originalMaxAge: null, expires: null, httpOnly: true, path: '/' }, userId: user });
  const r = await cluster.command(['SET', `sess:${sid}`, json, 'EX', '86400']);
  if (r !== 'OK') throw new Error(`SET sess:${sid}: ${r}`);
  return { sid, cookie: cookieFor(sid), key: `sess:${sid}` };
}
