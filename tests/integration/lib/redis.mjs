// A real redis-server in a temporary directory, on a loopback port (and
// optionally a unix socket), with optional requirepass / ACL user.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { createClient } from 'redis';
import { spawnTracked, stopChild, sleep, registerDir, unregisterDir } from './procs.mjs';
import { freePort } from './ports.mjs';

export class RedisServer {
  // opts: { port, password, user: {name, password}, unixSocket: bool, extraArgs: [...] }
  constructor(opts = {}) {
    this.opts = opts;
    this.port = opts.port || 0;
    this.dir = null;
    this.child = null;
    this.clients = [];
  }

  get password() { return this.opts.password; }
  get socketPath() { return this.opts.unixSocket ? path.join(this.dir, 'redis.sock') : null; }

  async start() {
    if (!this.port) this.port = await freePort();
    if (!this.dir) { this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-redis-')); registerDir(this.dir); }
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', this.dir, '--daemonize', 'no', '--protected-mode', 'no', '--logfile', path.join(this.dir, 'redis.log')];
    if (this.opts.unixSocket) {
      fs.chmodSync(this.dir, 0o755);
      args.push('--unixsocket', this.socketPath, '--unixsocketperm', '777');
    }
    if (this.opts.password) args.push('--requirepass', this.opts.password);
    if (this.opts.user) {
      // ACL user with full rights; 'default' keeps requirepass (or nopass).
      args.push('--user', this.opts.user.name, 'on', `>${this.opts.user.password}`, '~*', '&*', '+@all');
    }
    if (this.opts.extraArgs) args.push(...this.opts.extraArgs);
    this.child = spawnTracked(`redis:${this.port}`, 'redis-server', args);
    this.child.stdout.resume();
    let stderr = '';
    this.child.stderr.on('data', (d) => { stderr += d; });
    const end = Date.now() + 10000;
    for (;;) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`redis-server exited at start: ${stderr}\n${this.log()}`);
      }
      const reply = await rawPing(this.port);
      if (reply && (reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'))) break;
      if (Date.now() > end) throw new Error(`redis-server on ${this.port} did not answer PING`);
      await sleep(30);
    }
    return this;
  }

  log() {
    try { return fs.readFileSync(path.join(this.dir, 'redis.log'), 'utf8'); } catch { return ''; }
  }

  // Stop the server (keeps the temp dir and port, so start() restarts it).
  async stop() {
    if (this.child) {
      await stopChild(this.child, 'SIGTERM', 5000);
      this.child = null;
    }
  }

  async restart() { await this.stop(); await this.start(); }

  // A node-redis v4 client (tracked; closed by destroy()).
  async client({ database = 0, username, password } = {}) {
    const pw = password ?? (this.opts.user ? this.opts.user.password : this.opts.password);
    const user = username ?? (this.opts.user ? this.opts.user.name : undefined);
    const c = createClient({
      socket: { host: '127.0.0.1', port: this.port, reconnectStrategy: (n) => Math.min(50 * n, 500) },
      database, username: user, password: pw,
    });
    c.on('error', () => {}); // reconnects on its own; tests stop redis on purpose
    await c.connect();
    this.clients.push(c);
    return c;
  }

  // PUBLISH channel message (string or Buffer); returns the number of receivers.
  async publish(channel, message) {
    if (!this.pubClient || !this.pubClient.isOpen) this.pubClient = await this.client();
    return this.pubClient.publish(channel, message);
  }

  // Subscribers of a channel as Redis reports them (PUBSUB NUMSUB).
  async numsub(channel) {
    if (!this.pubClient || !this.pubClient.isOpen) this.pubClient = await this.client();
    const r = await this.pubClient.sendCommand(['PUBSUB', 'NUMSUB', channel]);
    return Number(r[1]);
  }

  async destroy() {
    for (const c of this.clients) {
      try { await c.disconnect(); } catch { /* already closed */ }
    }
    this.clients = [];
    this.pubClient = null;
    await this.stop();
    if (this.dir) { fs.rmSync(this.dir, { recursive: true, force: true }); unregisterDir(this.dir); this.dir = null; }
  }
}

function rawPing(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let buf = '';
    const done = (v) => { clearTimeout(t); s.destroy(); resolve(v); };
    const t = setTimeout(() => done(null), 500);
    s.once('connect', () => s.write('*1\r\n$4\r\nPING\r\n'));
    s.on('data', (d) => { buf += d; if (buf.includes('\r\n')) done(buf); });
    s.once('error', () => done(null));
  });
}
