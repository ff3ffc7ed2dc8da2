// Benchmark (not a test): nginx worker CPU per delivered event and delivery
// latency with one standalone Redis (`portfolio_stream_redis`, PUBLISH) against
// a Redis Cluster of 3 masters + 3 replicas (`portfolio_stream_redis_cluster`,
// SPUBLISH on the channel's shard), the same workload, in one invocation
// (issue 11: per-delivery CPU on a 3-shard cluster within 1.2x of single Redis).
//
// Setup, all on 127.0.0.1, every process started and stopped by pid:
//   - one redis-server (lib/redis.mjs) and one cluster (lib/cluster.mjs), both up
//     for the whole bench; N users' sessions written into each (connect-redis'
//     JSON, cookies signed like express-session); pubsub output buffer limit
//     raised to 256 MB/64 MB/60 s on every node, as the other benches do;
//   - per run a fresh nginx, one worker, `portfolio_stream_batch_window 0;`, the
//     config of lib/bench.mjs with only the Redis directive differing;
//   - clients: one `psb conns`, 2 WebSocket connections per user (2N), each
//     waiting for its `connected` frame;
//   - publisher: a child process of this script (the same code for both modes,
//     so its cost is alike), K events/s in total for T s, spread evenly over the
//     users (event e goes to user e mod N), in 10 ms slots; per slot one
//     pipelined write per Redis connection: PUBLISH on the one connection (a),
//     SPUBLISH on one connection per master, each event to its channel's master
//     (slot map read once before the run, CRC16 as lib/cluster.mjs) (b). It
//     counts replies, receivers and error replies, and reports its achieved rate
//     and how late its slots ran.
//   Runs alternate a, b, a, b (PS_BENCH_ROUNDS rounds). Measured from WARMUP s
//   after the publisher starts to 1 s before it stops: the worker's utime+stime
//   (/proc/<pid>/stat) divided by the events the clients received in that
//   interval; publish->receive age p50/p99/max from each event's `tus` (psb's
//   fine histogram); machine load (loadavg), steal and the CPU of processes
//   this bench did not start (/proc/stat minus ours). After the publisher stops
//   and the clients have drained: every event must have reached both of its
//   user's connections (missing = 2 x published - received), with no error
//   reply and one receiver per publish; error.log lines at warn or above are
//   reported.
//
//   node tests/bench/cluster_cpu.mjs        # or: tests/bench/run_all.sh cluster_cpu
//   env: PS_BENCH_USERS (1000) PS_BENCH_RATE (5000 events/s) PS_BENCH_SECONDS (20)
//        PS_BENCH_ROUNDS (2) PS_BENCH_WARMUP (3); PS_COMMIT names the module's commit in the
//        JSON when the build was not made from the checkout's HEAD (machine().head is the checkout's)
// Results: <build>/bench/cluster_cpu.json (cluster_cpu-$BENCH_TAG.json) and tables on stdout.
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? process.env[k] : d);
const SLOT_MS = 10;

// ---- the publisher (child process mode) -----------------------------------
// argv: --publisher <config.json>; config { cmd, targets: [port], route: [target
// index per user], users, rate, seconds, out }. Writes its result JSON to out.
async function publisherMain(cfgFile) {
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  const socks = await Promise.all(cfg.targets.map((port) => new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.setNoDelay(true);
    s.once('error', reject);
  })));
  const st = cfg.targets.map(() => ({ sent: 0, replies: 0, receivers: 0, errors: 0, errorSamples: [], zeroReceivers: 0, tail: '' }));
  socks.forEach((s, i) => {
    s.on('error', (e) => { st[i].errors++; if (st[i].errorSamples.length < 5) st[i].errorSamples.push(`socket: ${e.message}`); });
    s.on('data', (d) => {
      const t = st[i];
      const buf = t.tail + d.toString('latin1');
      let at = 0;
      for (;;) {
        const nl = buf.indexOf('\r\n', at);
        if (nl < 0) break;
        const line = buf.slice(at, nl);
        at = nl + 2;
        t.replies++;
        if (line[0] === ':') {
          const n = Number(line.slice(1));
          t.receivers += n;
          if (n === 0) t.zeroReceivers++;
        } else {
          t.errors++;
          if (t.errorSamples.length < 5) t.errorSamples.push(line.slice(0, 200));
        }
      }
      t.tail = buf.slice(at);
    });
  });
  const cmd = cfg.cmd;
  const bulk = (s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  const head = `*3\r\n${bulk(cmd)}`;
  const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
  const totalSlots = Math.round((cfg.seconds * 1000) / SLOT_MS);
  const perSlot = (cfg.rate * SLOT_MS) / 1000;
  let acc = 0;
  let e = 0;
  let maxLate = 0;
  let lateSlots = 0;
  const t0 = performance.now();
  for (let slot = 0; slot < totalSlots; slot++) {
    const due = t0 + slot * SLOT_MS;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait)); // timers: ~1 ms late; ages use the send time
    const late = performance.now() - due;
    if (late > maxLate) maxLate = late;
    if (late > SLOT_MS) lateSlots++;
    acc += perSlot;
    const n = Math.floor(acc);
    acc -= n;
    const us = nowUs();
    const tsj = `"tus":${us},"ts":${Math.floor(us / 1000)}`;
    const out = cfg.targets.map(() => []);
    for (let k = 0; k < n; k++, e++) {
      const u = e % cfg.users;
      const sym = Math.floor(e / cfg.users) % 20;
      const s2 = String(sym).padStart(2, '0');
      const ch = `portfolio:user:b${u}`;
      const msg = `{"type":"position_update","key":"SYM${s2}","data":{"symbol":"SYM${s2}","qty":${100 + sym},`
        + `"px":${(100 + (slot % 1000) * 0.01).toFixed(2)},"pnl":${((slot % 500) * 0.5 - 100).toFixed(2)}},${tsj}}`;
      const ti = cfg.route[u];
      out[ti].push(head + bulk(ch) + bulk(msg));
      st[ti].sent++;
    }
    for (let i = 0; i < socks.length; i++) if (out[i].length) socks[i].write(out[i].join(''));
  }
  const seconds = (performance.now() - t0 + SLOT_MS) / 1000; // through the end of the last slot
  // The last replies, for at most 5 s.
  const end = performance.now() + 5000;
  while (performance.now() < end && st.some((t) => t.replies < t.sent)) await new Promise((r) => setTimeout(r, 20));
  const sum = (k) => st.reduce((a, t) => a + t[k], 0);
  const res = {
    cmd, targets: cfg.targets, published: sum('sent'), seconds, ratePerS: sum('sent') / seconds, askedRatePerS: cfg.rate,
    maxSlotLateMs: maxLate, lateSlots, replies: sum('replies'), receivers: sum('receivers'), zeroReceivers: sum('zeroReceivers'),
    errors: sum('errors'), perTarget: st.map(({ tail, ...t }) => t),
  };
  fs.writeFileSync(cfg.out, JSON.stringify(res));
  for (const s of socks) s.destroy();
}

if (process.argv[2] === '--publisher') {
  publisherMain(process.argv[3]).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
} else {
  main().catch((e) => { console.error(e); process.exitCode = 1; })
    .finally(() => setTimeout(() => process.exit(), 100).unref());
}

// ---- the bench (parent) ----------------------------------------------------
async function main() {
  const { RedisServer } = await import('../integration/lib/redis.mjs');
  const { RedisCluster, keySlot } = await import('../integration/lib/cluster.mjs');
  const { connectUser, terminateAllWs } = await import('../integration/lib/wsclient.mjs');
  const { childPids, waitFor } = await import('../integration/lib/procs.mjs');
  const { waitForPort } = await import('../integration/lib/ports.mjs');
  const bench = await import('./lib/bench.mjs');
  const { renderConfig, Psb, buildPsb, createSessions, procCpuMs, machine, table, writeResults, sleep,
    spawnTracked, stopChild, freePort, NGINX, MODULE_PATH } = bench;

  const USERS = Number(env('PS_BENCH_USERS', 1000));
  const RATE = Number(env('PS_BENCH_RATE', 5000));
  const SECONDS = Number(env('PS_BENCH_SECONDS', 20));
  const ROUNDS = Number(env('PS_BENCH_ROUNDS', 2));
  const WARMUP = Number(env('PS_BENCH_WARMUP', 3));
  const CONNS = 2 * USERS;
  if (!(SECONDS > WARMUP + 2)) throw new Error(`PS_BENCH_SECONDS (${SECONDS}) must exceed PS_BENCH_WARMUP + 2 (${WARMUP + 2})`);
  const here = path.dirname(fileURLToPath(import.meta.url));
  const SELF = fileURLToPath(import.meta.url);

  // nginx with lib/bench.mjs's config; in cluster mode its portfolio_stream_redis
  // line is replaced by portfolio_stream_redis_cluster with the seeds.
  class ModeNginx {
    constructor(o) { this.o = o; }
    async start() {
      this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psbench-nginx-cluster-cpu-'));
      this.port = await freePort();
      let conf = renderConfig(this.dir, this.port, 'ps', { redisPort: this.o.redisPort ?? 1, window: '0ms' });
      if (this.o.seeds) {
        const re = /portfolio_stream_redis 127\.0\.0\.1:\d+ connect_timeout=5s;/;
        if (!re.test(conf)) throw new Error('lib/bench.mjs renderConfig: no portfolio_stream_redis line to replace');
        conf = conf.replace(re, `portfolio_stream_redis_cluster ${this.o.seeds} connect_timeout=5s;`);
      }
      this.conf = conf;
      fs.writeFileSync(path.join(this.dir, 'nginx.conf'), conf);
      this.child = spawnTracked('nginx-cluster-cpu', NGINX, ['-p', this.dir, '-c', path.join(this.dir, 'nginx.conf'),
        '-e', path.join(this.dir, 'error.log')]);
      let err = '';
      this.child.stderr.on('data', (d) => { err += d; });
      this.child.stdout.resume();
      try {
        await waitForPort(this.port, 10000, () => this.child.exitCode !== null);
        await waitFor(() => childPids(this.child.pid).length === 1, { timeout: 5000, what: 'nginx worker' });
      } catch (e) {
        throw new Error(`${e.message}\n${err}\n${this.errorLog()}`);
      }
      this.worker = childPids(this.child.pid)[0];
      return this;
    }
    errorLog() { try { return fs.readFileSync(path.join(this.dir, 'error.log'), 'utf8'); } catch { return ''; } }
    // warn and above (the log level is notice)
    logLines() { return this.errorLog().split('\n').filter((l) => /\[(warn|error|crit|alert|emerg)\]|signal \d+|exited on/.test(l)); }
    async stats() { return (await fetch(`http://127.0.0.1:${this.port}/api/admin/websocket-stats`)).json(); }
    async stop() {
      if (!this.child) return null;
      const r = await stopChild(this.child, 'SIGQUIT', 15000);
      this.child = null;
      if (!process.env.PS_KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
      return r;
    }
  }

  // machine-wide CPU (/proc/stat): busy and steal jiffies
  const procStat = () => {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), idle: f[3] + f[4], steal: f[7] };
  };
  const cpuOf = (pids) => pids.reduce((ms, p) => { try { return ms + procCpuMs(p); } catch { return ms; } }, 0);

  buildPsb();
  if (!fs.existsSync(MODULE_PATH)) throw new Error(`module not built: ${MODULE_PATH}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'psbench-cluster-cpu-'));
  const results = [];
  let meta = null;
  let redis;
  let cluster;
  const t00 = Date.now();
  const load0 = os.loadavg();
  try {
    redis = await new RedisServer().start();
    cluster = await new RedisCluster().start();
    const rc = await redis.client();
    await rc.configSet('client-output-buffer-limit', 'pubsub 268435456 67108864 60');
    for (const p of cluster.ports) await cluster.raw(p, ['CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 268435456 67108864 60']);
    const cc = await cluster.client();
    const shards = await cluster.shards();
    if (shards.length !== 3) throw new Error(`expected 3 masters, the cluster has ${shards.length}`);
    const masters = shards.map((s) => s.port);
    const ownerIdx = (slot) => shards.findIndex((s) => s.slots.some(([a, b]) => slot >= a && slot <= b));
    const route = Array.from({ length: USERS }, (_, u) => ownerIdx(keySlot(`portfolio:user:b${u}`)));
    const perShardUsers = masters.map((_, i) => route.filter((x) => x === i).length);
    const modes = {
      single: {
        name: 'single', cookies: await createSessions(rc, USERS, { file: path.join(tmp, 'cookies-single.txt') }),
        nginx: () => new ModeNginx({ redisPort: redis.port }), cmd: 'PUBLISH', targets: [redis.port], route: route.map(() => 0),
        redisPids: () => [redis.child.pid],
      },
      cluster: {
        name: 'cluster', cookies: await createSessions(cc, USERS, { file: path.join(tmp, 'cookies-cluster.txt') }),
        nginx: () => new ModeNginx({ seeds: cluster.seeds }), cmd: 'SPUBLISH', targets: masters, route,
        redisPids: () => cluster.nodes.map((n) => n.child.pid),
      },
    };
    console.error(`users ${USERS} (${CONNS} connections), ${RATE} events/s for ${SECONDS} s, channels per master ${perShardUsers.join('/')}`);

    // One real event through each setup first (a session and channel on each master in the cluster).
    for (const m of Object.values(modes)) {
      const ng = await m.nginx().start();
      try {
        const cookies = fs.readFileSync(m.cookies, 'utf8').trim().split('\n');
        const probes = m.name === 'single' ? [0] : masters.map((_, i) => route.indexOf(i));
        for (const u of probes) {
          const c = await connectUser(ng.port, cookies[u]);
          const body = JSON.stringify({ type: 'account_update', data: { probe: u } });
          const n = m.name === 'single' ? await redis.publish(`portfolio:user:b${u}`, body) : await cluster.spublish(`portfolio:user:b${u}`, body);
          if (n !== 1) throw new Error(`${m.name} probe b${u}: ${m.cmd} reached ${n} subscribers, not 1`);
          await c.waitEvents(1, 3000, `${m.name} probe event of b${u}`);
          c.terminate();
        }
      } finally { terminateAllWs(); await ng.stop(); }
    }

    let runNo = 0;
    const runOnce = async (m, round) => {
      runNo++;
      const ng = await m.nginx().start();
      const cfile = path.join(tmp, `clients-${runNo}.json`);
      const pfile = path.join(tmp, `pub-${runNo}.json`);
      const pcfg = path.join(tmp, `pubcfg-${runNo}.json`);
      const srcs = [1, 2, 3, 4].map((y) => `127.0.${(40 + runNo) % 250}.${y}`).join(',');
      const clients = new Psb(['conns', '--cookies', m.cookies, '--first-frame', '--port', String(ng.port), '--n', String(CONNS),
        '--src', srcs, '--inflight', '256', '--out', cfile], `clients-${m.name}`).start();
      let pub = null;
      const res = { mode: m.name, round, run: runNo };
      try {
        const r = await clients.ready(120000);
        if (r.failed) throw new Error(`${m.name}: ${r.failed} client connections failed`);
        res.connectMs = r.ms;
        try {
          await waitFor(async () => (await ng.stats()).redis.subscriptions === USERS, { timeout: 10000, interval: 100, what: 'subscriptions' });
        } catch { /* reported below */ }
        res.subscriptionsAtStart = (await ng.stats()).redis.subscriptions;
        await sleep(1000);
        fs.writeFileSync(pcfg, JSON.stringify({ cmd: m.cmd, targets: m.targets, route: m.route, users: USERS, rate: RATE, seconds: SECONDS, out: pfile }));
        res.load1Start = os.loadavg()[0];
        pub = spawnTracked(`pub-${m.name}`, process.execPath, [SELF, '--publisher', pcfg]);
        let pubErr = '';
        pub.stderr.on('data', (d) => { pubErr += d; });
        pub.stdout.resume();
        await sleep(WARMUP * 1000);
        const pids = () => [ng.worker, ng.child.pid, ...m.redisPids(), clients.child.pid, pub.pid, process.pid];
        const stats0 = await ng.stats();
        const s0 = procStat();
        const all0 = cpuOf(pids());
        const cpu0 = procCpuMs(ng.worker);
        const rcpu0 = cpuOf(m.redisPids());
        const pcpu0 = cpuOf([pub.pid]);
        const ccpu0 = cpuOf([clients.child.pid]);
        const t0 = Date.now();
        clients.reset();
        await sleep((SECONDS - WARMUP - 1) * 1000);
        const cpu1 = procCpuMs(ng.worker);
        const rcpu1 = cpuOf(m.redisPids());
        const pcpu1 = cpuOf([pub.pid]);
        const ccpu1 = cpuOf([clients.child.pid]);
        const all1 = cpuOf(pids());
        const s1 = procStat();
        const wall = (Date.now() - t0) / 1000;
        const cl = await clients.dump(cfile);
        const stats1 = await ng.stats();
        res.load1End = os.loadavg()[0];
        // The worker's pub/sub connections as Redis sees them (CLIENT LIST on each
        // master): [{ port, conns with sub/ssub > 0, channels on them }].
        res.pubsubConns = [];
        for (const port of m.targets) {
          const list = String(port === redis.port ? await rc.sendCommand(['CLIENT', 'LIST']) : await cluster.raw(port, ['CLIENT', 'LIST']));
          let conns = 0;
          let channels = 0;
          for (const l of list.split('\n')) {
            const kv = Object.fromEntries(l.trim().split(' ').map((x) => x.split('=')));
            const n = Number(kv.sub || 0) + Number(kv.ssub || 0);
            if (n > 0) { conns++; channels += n; }
          }
          res.pubsubConns.push({ port, conns, channels });
        }
        const ex = await Promise.race([pub.exited, sleep((SECONDS + 20) * 1000).then(() => null)]);
        if (!ex || ex.code !== 0) throw new Error(`publisher ${ex ? `exited ${JSON.stringify(ex)}` : 'did not finish'}: ${pubErr.slice(0, 1000)}`);
        const pb = JSON.parse(fs.readFileSync(pfile, 'utf8'));
        // Drain: until both connections of every user have every event, or nothing came for 1 s (at most 10 s).
        let end;
        let last = -1;
        const drain0 = Date.now();
        for (;;) {
          end = await clients.dump(cfile);
          if (end.allEvents >= 2 * pb.published || end.allEvents === last || Date.now() - drain0 > 10000) break;
          last = end.allEvents;
          await sleep(1000);
        }
        const statsEnd = await ng.stats();
        const jiffies = s1.total - s0.total;
        const busyMs = (jiffies - (s1.idle - s0.idle) - (s1.steal - s0.steal)) * 10;
        Object.assign(res, {
          measuredSeconds: cl.durationS, publisher: pb, publishedPerS: pb.ratePerS,
          deliveredPerS: cl.events / cl.durationS,
          workerCpuPct: (cpu1 - cpu0) / 10 / wall,
          cpuUsPerDelivery: cl.events ? ((cpu1 - cpu0) * 1000) / cl.events : null,
          redisCpuPct: (rcpu1 - rcpu0) / 10 / wall, publisherCpuPct: (pcpu1 - pcpu0) / 10 / wall, clientsCpuPct: (ccpu1 - ccpu0) / 10 / wall,
          stealPct: jiffies ? (100 * (s1.steal - s0.steal)) / jiffies : 0,
          othersCores: (busyMs - (all1 - all0)) / 1000 / wall,
          fineAgeMs: cl.fineAgeMs, ageMs: cl.ageMs,
          minEventsOneConn: cl.minEventsOneConn, maxEventsOneConn: cl.maxEventsOneConn,
          expected: 2 * pb.published, received: end.allEvents, missing: 2 * pb.published - end.allEvents,
          closes: end.closes, open: end.open,
          stats: {
            received: stats1.events.received - stats0.events.received, delivered: stats1.events.delivered - stats0.events.delivered,
            invalid: statsEnd.events.invalid, receivedTotal: statsEnd.events.received, deliveredTotal: statsEnd.events.delivered,
            status: statsEnd.status, connected: statsEnd.redis.connected, reconnects: statsEnd.redis.reconnects,
            subscriptions: statsEnd.redis.subscriptions, latencyMs: statsEnd.latencyMs,
          },
        });
        if (!(cl.events > 0)) throw new Error(`${m.name}: no events received`);
      } finally {
        if (pub) await stopChild(pub, 'SIGTERM', 5000);
        await clients.stop();
        res.errorLog = ng.logLines().slice(0, 20);
        res.errorLogCount = ng.logLines().length;
        const st = await ng.stop();
        if (st && (st.killed || st.code !== 0)) res.nginxExit = st;
      }
      return res;
    };

    for (let round = 1; round <= ROUNDS; round++) {
      for (const m of [modes.single, modes.cluster]) {
        console.error(`run: ${m.name} round ${round} (load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
        let r;
        try { r = await runOnce(m, round); } catch (e) {
          console.error(`  ${m.name} round ${round} failed: ${e.message}`);
          r = { mode: m.name, round, failed: e.message };
        }
        results.push(r);
        if (!r.failed) {
          console.error(`  ${f(r.publishedPerS, 0)} pub/s, ${f(r.deliveredPerS, 0)} deliveries/s, worker ${f(r.workerCpuPct)}% = ${f(r.cpuUsPerDelivery, 2)} µs/delivery, `
            + `age p50/p99 ${f(r.fineAgeMs.p50, 2)}/${f(r.fineAgeMs.p99, 2)} ms, missing ${r.missing}, others ${f(r.othersCores, 2)} cores, errors ${r.publisher.errors}, log lines ${r.errorLogCount}`);
        }
      }
    }
    meta = { perShardUsers, masters, redisPort: redis.port, seeds: cluster.seeds };
  } finally {
    terminateAllWs();
    if (cluster) await cluster.destroy();
    if (redis) await redis.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  // ---- report -----------------------------------------------------------------
  const ok = results.filter((r) => !r.failed);
  const rows = results.map((r) => (r.failed ? { run: `${r.mode} ${r.round}`, 'pub/s': `FAILED: ${r.failed.slice(0, 100)}` } : {
    run: `${r.mode} ${r.round}`, 'pub/s (asked)': `${f(r.publishedPerS, 0)} (${RATE})`, 'slots late max ms (>10 ms)': `${f(r.publisher.maxSlotLateMs, 1)} (${r.publisher.lateSlots})`,
    'pubsub conns: channels': r.pubsubConns.map((x) => `${x.conns}:${x.channels}`).join(' '),
    'deliv/s': f(r.deliveredPerS, 0), 'worker CPU %': f(r.workerCpuPct, 1), 'µs/delivery': f(r.cpuUsPerDelivery, 2),
    'age p50/p99/max ms': `${f(r.fineAgeMs.p50, 2)}/${f(r.fineAgeMs.p99, 2)}/${f(r.fineAgeMs.max, 1)}`,
    'missing': `${r.missing}/${r.expected}`, 'pub errors': r.publisher.errors, '0-receiver pubs': r.publisher.zeroReceivers,
    'redis CPU %': f(r.redisCpuPct, 1), 'pub CPU %': f(r.publisherCpuPct, 0), 'psb CPU %': f(r.clientsCpuPct, 0),
    'others cores': f(r.othersCores, 2), 'steal %': f(r.stealPct, 1), load1: `${f(r.load1Start, 2)}-${f(r.load1End, 2)}`,
    'log lines': r.errorLogCount,
  }));
  const per = (mode) => ok.filter((r) => r.mode === mode).map((r) => r.cpuUsPerDelivery);
  const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
  const s = per('single');
  const c = per('cluster');
  const roundRatios = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const a = ok.find((r) => r.mode === 'single' && r.round === round);
    const b = ok.find((r) => r.mode === 'cluster' && r.round === round);
    if (a && b) roundRatios.push(b.cpuUsPerDelivery / a.cpuUsPerDelivery);
  }
  const summary = s.length && c.length ? {
    singleUs: s, clusterUs: c, ratioOfMeans: mean(c) / mean(s), roundRatios,
    ratioMin: Math.min(...c) / Math.max(...s), ratioMax: Math.max(...c) / Math.min(...s),
  } : null;
  console.log(`\nworker CPU per delivery, single Redis vs 3-master cluster (${new Date(t00).toISOString()}), ${USERS} users x 2 connections, `
    + `${RATE} events/s, ${SECONDS} s per run, measured ${WARMUP}..${SECONDS - 1} s; load at start ${load0.map((x) => x.toFixed(2)).join(' ')}\n`);
  console.log(table(rows, Object.keys(rows.find((r) => r['deliv/s'] !== undefined) || rows[0])));
  if (summary) {
    console.log(`\ncluster / single, CPU µs per delivery: ratio of means ${f(summary.ratioOfMeans, 3)}; per round ${summary.roundRatios.map((x) => f(x, 3)).join(', ')}; `
      + `extremes ${f(summary.ratioMin, 3)}..${f(summary.ratioMax, 3)} (target <= 1.2)`);
  }
  for (const r of ok) if (r.errorLogCount || r.missing || r.publisher.errors || r.nginxExit) {
    console.log(`\n${r.mode} ${r.round}: missing ${r.missing}, publisher errors ${r.publisher.errors} ${JSON.stringify(r.publisher.perTarget.map((t) => t.errorSamples))}, `
      + `nginx exit ${JSON.stringify(r.nginxExit || null)}, error.log (${r.errorLogCount} lines at warn+):\n  ${r.errorLog.join('\n  ')}`);
  }
  const file = writeResults('cluster_cpu', {
    machine: machine(), moduleCommit: process.env.PS_COMMIT || null, params: { USERS, CONNS, RATE, SECONDS, WARMUP, ROUNDS }, loadAtStart: load0, meta, summary, results,
  });
  console.log(`results: ${file}`);
  if (!summary) process.exitCode = 1;
}

function f(x, d = 1) { return x === null || x === undefined || Number.isNaN(x) ? '-' : Number(x).toFixed(d); }
