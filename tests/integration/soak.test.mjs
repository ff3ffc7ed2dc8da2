// A hostile soak (issue 15), bounded and on loopback: for PS_SOAK_SECONDS
// (default 20; longer by hand) it mixes well-behaved clients that resume
// (history on), clients that stop reading, trickle bytes, open and drop
// handshakes, send oversize and malformed frames, a publisher of malformed
// and oversize events, lost pub/sub connections (CLIENT KILL) and nginx
// reloads. Afterwards: no worker crashed, every slot and fd is released,
// RSS is back within a bound, and every well-behaved client got every event
// published to its user, once and in order. scripts/test runs it under ASan
// too (tests/sanitize/run.sh).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { connectWs } from './lib/wsclient.mjs';
import { RawWs, handshakeRequest } from './lib/raw.mjs';
import { buildFrame, OP } from './lib/frames.mjs';

const SECONDS = Number(process.env.PS_SOAK_SECONDS || 20);
const cmp = (a, b) => {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am === bm ? (as < bs ? -1 : as > bs ? 1 : 0) : am < bm ? -1 : 1;
};
const stats = (env) => fetch(`${env.nginx.httpBase}/api/admin/websocket-stats`).then((r) => r.json());
const fds = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

// A client that behaves: it reconnects after every close with ?since&epoch
// and records every offset it was given.
class Resumer {
  constructor(env, user, cookie) {
    Object.assign(this, { env, user, cookie, got: [], epoch: null, since: null, start: null, stopped: false, lost: 0 });
  }
  async run() {
    while (!this.stopped) {
      const q = this.since ? `?since=${this.since}&epoch=${this.epoch}` : '';
      let c;
      try {
        c = await connectWs(this.env.port, { cookie: this.cookie, path: `/ws/portfolio${q}` });
        await c.waitMessage((m) => m.type === 'connected', 5000, 'connected');
      } catch {
        if (c) c.terminate();
        await sleep(100);
        continue;
      }
      const con = c.messages.find((m) => m.type === 'connected');
      if (this.since && con.recovered !== true) this.lost++;
      this.epoch = con.epoch;
      if (!this.since) { this.since = con.offset; this.start = con.offset; }
      let seen = 0;
      const take = () => {
        const evs = c.events();
        for (; seen < evs.length; seen++) {
          if (evs[seen].offset) { this.got.push(evs[seen].offset); this.since = evs[seen].offset; }
        }
      };
      while (!this.stopped && c.isOpen) { take(); await sleep(20); }
      if (this.stopped) c.terminate();
      await c.closed.catch(() => {});
      take();
    }
  }
}

describe(`hostile soak (${SECONDS} s)`, () => {
  const env = useEnv({
    nginx: {
      stats: true,
      workers: 2,
      listen: 'sndbuf=32k',
      main: ['worker_rlimit_nofile 4096;'],
      http: ['portfolio_stream_max_connections 2000;', 'portfolio_stream_max_connections_per_user 200;',
        'client_header_timeout 2s;'],
      location: ['portfolio_stream_history on;', 'portfolio_stream_batch_window 0;', 'portfolio_stream_send_limit 256k;',
        'portfolio_stream_heartbeat 2s;', 'portfolio_stream_close_timeout 1s;', 'portfolio_stream_message_timeout 2s;',
        'portfolio_stream_max_message_size 4k;'],
    },
  });
  let pub;
  before(async () => { pub = await env.redis.client(); });

  it('ends with every resource released and every well-behaved client served', async () => {
    const good = [];
    for (let i = 0; i < 6; i++) {
      const u = uniqueUser('good');
      good.push(new Resumer(env, u, (await env.login(u)).cookie));
    }
    const bad = uniqueUser('bad');
    const badCookie = (await env.login(bad)).cookie;
    const flood = uniqueUser('flood');  // what the clients that stop reading get
    const floodCookie = (await env.login(flood)).cookie;
    const workers0 = env.nginx.workerPids();
    const base = { fds: Object.fromEntries(workers0.map((p) => [p, fds(p)])), rss: 0 };
    const published = new Map(good.map((g) => [g.user, []]));
    const end = Date.now() + SECONDS * 1000;
    const running = good.map((g) => g.run());
    const loops = [];
    const every = (ms, fn) => loops.push((async () => {
      while (Date.now() < end) { try { await fn(); } catch { /* the chaos is the point */ } await sleep(ms); }
    })());

    // The publisher: good events with history, malformed and oversize ones.
    let n = 0;
    every(10, async () => {
      for (const g of good) {
        const off = String(await pub.sendCommand(['FCALL', 'portfolio_stream_publish', '1', env.channel(g.user),
          JSON.stringify({ type: n % 5 ? 'position_update' : 'order_update', key: `S${n % 3}`, n, ts: Date.now() })]));
        published.get(g.user).push(off);
      }
      n++;
      if (n % 7 === 0) await env.publish(bad, '{"type":"position_update"');                     // invalid JSON
      if (n % 11 === 0) await env.publish(bad, JSON.stringify({ type: 'nope' }));               // unknown type
      if (n % 13 === 0) await env.publish(bad, JSON.stringify({ type: 'order_update', pad: 'z'.repeat(300 * 1024) })); // oversize
      if (n % 2 === 0) await env.publish(flood, JSON.stringify({ type: 'order_update', n, pad: 'f'.repeat(32 * 1024) }));
    });
    // Clients that stop reading (dropped as slow consumers or by the deadlines).
    every(400, async () => {
      const s = await RawWs.connect(env.port, { cookie: floodCookie });
      s.socket.pause();
      setTimeout(() => s.destroy(), 5000);
    });
    // Trickling a message, and trickling a handshake.
    every(500, async () => {
      const s = await RawWs.connect(env.port, { cookie: badCookie });
      const f = buildFrame({ opcode: OP.TEXT, payload: JSON.stringify({ type: 'ping', pad: 'q'.repeat(100) }) });
      for (let i = 0; i < 10 && !s.tcpClosed; i++) { s.send(f.subarray(i, i + 1)); await sleep(300); }
      s.destroy();
    });
    every(300, async () => {
      const sock = net.connect(env.port, '127.0.0.1');
      sock.on('error', () => {});
      const req = handshakeRequest(env.port, { cookie: badCookie });
      sock.write(req.slice(0, 20));
      setTimeout(() => sock.destroy(), 1000 + Math.random() * 2000);
    });
    // Oversize, malformed and binary frames.
    every(150, async () => {
      const s = await RawWs.connect(env.port, { cookie: badCookie });
      const kind = Math.floor(Math.random() * 4);
      if (kind === 0) s.send(buildFrame({ opcode: OP.TEXT, payload: 'x'.repeat(8000) }));
      if (kind === 1) s.send(Buffer.from([0x81, 0x05, 1, 2, 3, 4, 5]));  // unmasked
      if (kind === 2) s.send(buildFrame({ opcode: OP.BINARY, payload: 'bin' }));
      if (kind === 3) s.send(buildFrame({ opcode: OP.TEXT, payload: Buffer.from([0xc3, 0x28]) }));
      await s.waitClosed(3000).catch(() => {});
      s.destroy();
    });
    // Lost pub/sub connections and reloads.
    every(Math.max(3000, SECONDS * 200), async () => { await pub.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']); });
    every(Math.max(4000, SECONDS * 300), async () => { await env.nginx.reload(undefined, { oldExitMs: 8000 }); });

    await Promise.all(loops);
    await sleep(1500);  // the last events reach the good clients
    for (const g of good) g.stopped = true;
    await Promise.all(running);

    // Every well-behaved client: every event from its start, once, in order.
    for (const g of good) {
      const all = published.get(g.user).filter((o) => cmp(o, g.start) > 0);
      const upto = all.filter((o) => cmp(o, g.got[g.got.length - 1]) <= 0);
      assert.ok(g.got.length > 20, `${g.user} got ${g.got.length}`);
      assert.equal(g.lost, 0, `${g.user}: a resume was not recovered`);
      assert.deepEqual(g.got, upto, `${g.user}: a gap or a duplicate`);
      assert.ok(all.length - upto.length <= 5, `${g.user}: ${all.length - upto.length} events never arrived`);
    }

    // Everything released: gauges back to zero, fds and RSS of the workers.
    const t0 = Date.now();
    let s;
    for (;;) {
      s = await stats(env);
      if (s.activeConnections === 0 && s.activeUsers === 0) break;
      assert.ok(Date.now() - t0 < 8000, `still ${s.activeConnections} connections / ${s.activeUsers} users`);
      await sleep(200);
    }
    console.log(`soak: ${n} rounds published, ${good.map((g) => g.got.length).join('/')} events per good client, ` +
      `stats: accepted ${s.connections.accepted}, slowConsumerDrops ${s.connections.slowConsumerDrops}, ` +
      `invalid ${s.events.invalid}, badHandshake ${s.rejected.badHandshake}, history ${JSON.stringify(s.history)}`);
    assert.ok(s.events.invalid > 0, 'the bad publisher was counted');
    assert.ok(s.history.recovered > 0, 'resumes or catch-ups happened');
    assert.ok(s.connections.slowConsumerDrops > 0, 'clients that stopped reading were dropped');
    assert.equal(s.status, 'healthy');
    const workers = env.nginx.workerPids();
    assert.equal(workers.length, 2, 'two workers');
    for (const p of workers) {
      // Fresh workers after reloads: compare with a worker's baseline count.
      const baseline = Math.max(...Object.values(base.fds));
      assert.ok(fds(p) <= baseline + 4, `worker ${p}: ${fds(p)} fds, baseline ${baseline}`);
      if (!process.env.PS_SANITIZE) assert.ok(rssKb(p) < 64 * 1024, `worker ${p} RSS ${rssKb(p)} KB`);
    }
    assert.doesNotMatch(env.nginx.errorLog(), /exited on signal|\[alert\]/);
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
