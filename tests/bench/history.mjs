// Benchmark (not a test): what history (SPEC section 8, issue 10) costs.
//
// 1. cpu: per-delivery CPU with history on vs off, in the same run. The tick
//    workload of ticks.mjs at batch window 0, at a rate both carry on 2 cores
//    (default 1,000 users x 1 symbol x 5 Hz + 0.1 orders/s per user): once in a
//    nginx without history, published with plain pipelined PUBLISH, once in a
//    nginx with `portfolio_stream_history on`, published with pipelined
//    FCALL portfolio_stream_publish (psb pub --fcall, maxlen 10 so that every
//    publish also trims: the steady state of a full history). ROUNDS rounds
//    of off, same bytes, on; "same bytes" is history off with PUBLISH of the
//    events carrying an "offset" member first, byte for byte as the function
//    publishes them (the module parses that member in any case), which tells
//    the bigger events from the history logic (BENCH_H_SAME_BYTES=0 skips it). Per run: the worker's utime+stime per delivered event
//    (clients' count), Redis's utime+stime per publish, ages on receipt.
// 2. storm: 10,000 connections of 5,000 users resuming at once on one worker,
//    20 missed events each. Sessions written into Redis; each user's epoch and
//    offset read with FCALL portfolio_stream_read <ch> "" 0 3600; 20 events
//    published per user with the function; then one psb opens all 10,000
//    connections with ?since=<offset>&epoch=<epoch> (at most INFLIGHT
//    handshakes in flight, default all of them) and reports when each one had
//    its 20 events (expected: 200,000, every one recovered, offsets growing,
//    none twice). Meanwhile a probe user (one connection, its own psb) gets a
//    live event every 20 ms with a ts, published with the function: its ages
//    during the storm against the same probe for BASELINE s before it. Stats:
//    history.replayed/recovered/notRecovered. Then the peer: the same 10,000
//    handshakes in a nginx without history (no since/epoch, nothing to
//    replay), with the same probe, to tell what the replay adds.
//
// Everything on 127.0.0.1: one redis-server and single-worker nginx instances
// started and stopped by pid (integration harness), psb from tests/bench/psb.c.
//
//   node tests/bench/history.mjs            # or: tests/bench/run_all.sh history
//   env: BENCH_H_PARTS (cpu,storm) BENCH_H_USERS (1000) BENCH_H_SYMBOLS (1) BENCH_H_HZ (5)
//        BENCH_H_ORDERS (0.1) BENCH_H_DURATION (20) BENCH_H_WARMUP (2) BENCH_H_ROUNDS (3) BENCH_H_SAME_BYTES (1)
//        BENCH_H_MAXLEN (10) BENCH_HS_CONNS (10000) BENCH_HS_USERS (5000) BENCH_HS_MISSED (20)
//        BENCH_HS_INFLIGHT (= CONNS) BENCH_HS_BASELINE (5) BENCH_HS_TIMEOUT (30) BENCH_HS_PROBE_HZ (50)
//        BENCH_HS_MULTI_ACCEPT (on: the bench config's multi_accept; off for comparison)
//        BENCH_HS_PEER (1: then the same storm in a nginx without history, no since/epoch:
//        handshakes only, nothing to replay; 0: skip it)
// Results: <build>/bench/history.json (history-$BENCH_TAG.json) and tables on stdout.
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { RedisServer } from '../integration/lib/redis.mjs';
import { startApp } from '../integration/lib/app.mjs';
import { connectUser, terminateAllWs } from '../integration/lib/wsclient.mjs';
import { waitFor } from '../integration/lib/procs.mjs';
import {
  BenchNginx, Psb, buildPsb, createSessions, procCpuMs, machine, table, writeResults, sleep, MODULE_PATH, REPO,
} from './lib/bench.mjs';

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? process.env[k] : d);
const PARTS = env('BENCH_H_PARTS', 'cpu,storm').split(',');
const USERS = Number(env('BENCH_H_USERS', 1000));
const SYMBOLS = Number(env('BENCH_H_SYMBOLS', 1));
const HZ = Number(env('BENCH_H_HZ', 5));
const ORDERS = Number(env('BENCH_H_ORDERS', 0.1));
const DURATION = Number(env('BENCH_H_DURATION', 20));
const WARMUP = Number(env('BENCH_H_WARMUP', 2));
const ROUNDS = Number(env('BENCH_H_ROUNDS', 3));
const SAME_BYTES = env('BENCH_H_SAME_BYTES', '1') !== '0';
const MAXLEN = String(env('BENCH_H_MAXLEN', 10));
const S_CONNS = Number(env('BENCH_HS_CONNS', 10000));
const S_USERS = Number(env('BENCH_HS_USERS', 5000));
const S_MISSED = Number(env('BENCH_HS_MISSED', 20));
const S_INFLIGHT = Number(env('BENCH_HS_INFLIGHT', S_CONNS));
const S_BASELINE = Number(env('BENCH_HS_BASELINE', 5));
const S_TIMEOUT = Number(env('BENCH_HS_TIMEOUT', 30));
const PROBE_HZ = Number(env('BENCH_HS_PROBE_HZ', 50));
const S_MULTI_ACCEPT = env('BENCH_HS_MULTI_ACCEPT', 'on') !== 'off';
const STORM_PEER = env('BENCH_HS_PEER', '1') !== '0';

// Machine-wide CPU from /proc/stat (jiffies of all cores) and the CPU of the
// processes of this bench (pids given, and node itself), so that an interval
// can tell steal and how much CPU everything else on the machine took.
const JIFFY_MS = 10; // USER_HZ 100
function cpuTimes(pids = []) {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  const steal = f[7];
  let ours = 0;
  for (const pid of pids) { try { ours += procCpuMs(pid); } catch { /* gone */ } }
  const u = process.cpuUsage();
  ours += (u.user + u.system) / 1000;
  return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), idle, steal, ours, at: performance.now() };
}
function machineLoad(t0, t1) {
  const dt = t1.total - t0.total || 1;
  const wall = t1.at - t0.at || 1;
  const busyMs = (dt - (t1.idle - t0.idle) - (t1.steal - t0.steal)) * JIFFY_MS;
  return {
    stealPct: +((100 * (t1.steal - t0.steal)) / dt).toFixed(1),
    busyPct: +((100 * (dt - (t1.idle - t0.idle))) / dt).toFixed(1), // of all cores, steal included
    // CPU of every process not started by this bench, in % of one core
    othersCorePct: +((100 * Math.max(0, busyMs - (t1.ours - t0.ours))) / wall).toFixed(0),
    loadavg: os.loadavg().map((x) => +x.toFixed(2)),
  };
}

let runNo = 0;

// One cpu run: a fresh nginx (history on or off), USERS clients, the paced
// publisher. variant: 'off' (PUBLISH), 'bytes' (history off, PUBLISH of the
// events with an "offset" member first, as the function publishes them), 'on'
// (history on, FCALL).
async function runCpu(variant, redis, cookies, tmp) {
  const history = variant === 'on';
  runNo++;
  const nginx = new BenchNginx('ps', { redisPort: redis.port, window: '0ms', maxConnections: USERS + 100, history });
  await nginx.start();
  const cfile = path.join(tmp, `cpu-clients-${runNo}.json`);
  const pfile = path.join(tmp, `cpu-pub-${runNo}.json`);
  const srcs = [1, 2].map((y) => `127.0.${100 + runNo}.${y}`).join(',');
  const clients = new Psb(['conns', '--cookies', cookies, '--first-frame', '--port', String(nginx.port), '--n', String(USERS),
    '--src', srcs, '--out', cfile], `cpu-clients-${variant}`).start();
  let pub;
  try {
    const r = await clients.ready(120000);
    if (r.failed) throw new Error(`${r.failed} client connections failed`);
    await sleep(1000);
    const args = ['pub', '--redis', '--port', String(redis.port), '--users', String(USERS), '--uid-fmt', 'b%d',
      '--symbols', String(SYMBOLS), '--hz', String(HZ), '--orders', String(ORDERS), '--duration', String(DURATION), '--out', pfile];
    if (history) args.push('--fcall', '--maxlen', MAXLEN);
    if (variant === 'bytes') args.push('--offset-bytes');
    pub = new Psb(args, `cpu-pub-${variant}`).start();
    await sleep(WARMUP * 1000);
    const stats0 = await nginx.stats();
    const pids = [nginx.worker, nginx.child.pid, redis.child.pid, clients.child.pid, pub.child.pid];
    const cpu0 = procCpuMs(nginx.worker);
    const rcpu0 = procCpuMs(redis.child.pid);
    const m0 = cpuTimes(pids);
    clients.reset();
    await sleep((DURATION - WARMUP - 1) * 1000);
    const cpu1 = procCpuMs(nginx.worker);
    const rcpu1 = procCpuMs(redis.child.pid);
    const m1 = cpuTimes(pids);
    const cl = await clients.dump(cfile);
    const stats1 = await nginx.stats();
    await pub.exited((DURATION + 30) * 1000);
    pub = null;
    const pb = JSON.parse(fs.readFileSync(pfile, 'utf8'));
    const secs = cl.durationS;
    const routed = stats1.events.received - stats0.events.received;
    const res = {
      variant, history, publish: history ? 'FCALL' : variant === 'bytes' ? 'PUBLISH with offset bytes' : 'PUBLISH', users: USERS, symbols: SYMBOLS, hz: HZ, measuredSeconds: secs,
      publisher: pb, clients: cl, load: machineLoad(m0, m1),
      routedPerS: routed / secs, deliveredPerS: cl.events / secs,
      workerCpuMs: cpu1 - cpu0, workerCpuPct: (cpu1 - cpu0) / 10 / secs,
      cpuUsPerDeliveredEvent: ((cpu1 - cpu0) * 1000) / cl.events,
      redisCpuMs: rcpu1 - rcpu0, redisCpuPct: (rcpu1 - rcpu0) / 10 / secs,
      redisCpuUsPerPublish: ((rcpu1 - rcpu0) * 1000) / routed,
      stats: {
        received: routed, delivered: stats1.events.delivered - stats0.events.delivered,
        invalid: stats1.events.invalid - stats0.events.invalid, latencyMs: stats1.latencyMs,
        slowConsumerDrops: stats1.connections.slowConsumerDrops, history: stats1.history,
      },
    };
    const problems = [];
    if (pb.errors) problems.push(`${pb.errors} publisher error replies`);
    if (cl.offsetRegressions) problems.push(`${cl.offsetRegressions} offsets not above the connection's previous`);
    if (variant !== 'off' && cl.offsetEvents !== cl.events) problems.push(`${cl.events - cl.offsetEvents} events without an offset`);
    if (variant === 'off' && cl.offsetEvents) problems.push(`${cl.offsetEvents} events with an offset`);
    const bad = nginx.badLines();
    if (bad.length) problems.push(...bad.slice(0, 10));
    if (problems.length) res.problems = problems;
    return res;
  } finally {
    if (pub) await pub.stop();
    await clients.stop();
    await nginx.stop();
  }
}

// FCALLs pipelined on one node-redis client, PAR at a time; returns the replies.
async function fcalls(client, cmds, par = 2000) {
  const out = new Array(cmds.length);
  for (let i = 0; i < cmds.length; i += par) {
    const part = cmds.slice(i, i + par);
    const rs = await Promise.all(part.map((c) => client.sendCommand(c)));
    for (let j = 0; j < rs.length; j++) out[i + j] = rs[j];
  }
  return out;
}

function stormEvent(u, k) {
  return JSON.stringify({
    type: 'position_update', key: `SYM${String(k).padStart(2, '0')}`, ts: Date.now(),
    data: { symbol: `SYM${String(k).padStart(2, '0')}`, qty: 100 + k, avgPrice: 187.12 + k / 100, marketValue: 18712.5 + u, unrealizedPnl: -42.18 + k, currency: 'USD' },
  });
}

// Once for both storms: the sessions (two per user), each user's epoch and
// position as a client that had been connected would hold them, then
// S_MISSED events per user published with the function while nobody is connected.
async function prepareStorm(client, tmp) {
  const cookies = await createSessions(client, S_CONNS, { uidFmt: (j) => `s${j % S_USERS}`, file: path.join(tmp, 'storm-cookies.txt') });
  const probeCookies = await createSessions(client, 1, { uidFmt: () => 'probe', file: path.join(tmp, 'probe-cookies.txt') });
  const t0 = Date.now();
  const reads = await fcalls(client, Array.from({ length: S_USERS }, (_, u) => ['FCALL', 'portfolio_stream_read', '1', `portfolio:user:s${u}`, '', '0', '3600']));
  const readMs = Date.now() - t0;
  const epochs = reads.map((r) => r[0]);
  const since = reads.map((r) => r[1]);
  const t1 = Date.now();
  const cmds = [];
  for (let k = 0; k < S_MISSED; k++) {
    for (let u = 0; u < S_USERS; u++) cmds.push(['FCALL', 'portfolio_stream_publish', '1', `portfolio:user:s${u}`, stormEvent(u, k)]);
  }
  const offsets = await fcalls(client, cmds);
  const publishMs = Date.now() - t1;
  const notOffsets = offsets.filter((o) => typeof o !== 'string' || !/^\d+-\d+$/.test(o)).length;
  if (notOffsets) throw new Error(`${notOffsets} FCALL portfolio_stream_publish replies are not offsets`);
  const xlen = Number(await client.sendCommand(['XLEN', '{portfolio:user:s0}:history']));
  if (xlen !== S_MISSED) throw new Error(`history of s0 holds ${xlen} events, expected ${S_MISSED}`);
  const pathsFile = path.join(tmp, 'storm-paths.txt');
  fs.writeFileSync(pathsFile, Array.from({ length: S_CONNS },
    (_, j) => `/ws/portfolio?since=${encodeURIComponent(since[j % S_USERS])}&epoch=${encodeURIComponent(epochs[j % S_USERS])}`).join('\n') + '\n');
  return { cookies, probeCookies, pathsFile, setup: { readMs, publishMs, published: offsets.length } };
}

// One storm in a fresh nginx. resume: history on, every connection resumes
// and must get its S_MISSED events; otherwise the peer: history off, the
// same 10,000 handshakes without since/epoch (nothing to replay).
async function runStorm(resume, redis, prep, tmp) {
  const tag = resume ? 'resume' : 'plain';
  const nginx = new BenchNginx('ps', { redisPort: redis.port, window: '0ms', maxConnections: S_CONNS + 100, history: resume, multiAccept: S_MULTI_ACCEPT });
  await nginx.start();
  let probe, probePub, storm;
  try {
    // The probe: one live connection, an event every 1000/PROBE_HZ ms.
    const probeFile = path.join(tmp, `probe-${tag}.json`);
    probe = new Psb(['conns', '--cookies', prep.probeCookies, '--first-frame', '--port', String(nginx.port), '--n', '1',
      '--src', '127.0.199.1', '--out', probeFile], `probe-${tag}`).start();
    if ((await probe.ready(10000)).failed) throw new Error('probe connection failed');
    const probePubFile = path.join(tmp, `probe-pub-${tag}.json`);
    probePub = new Psb(['pub', '--redis', '--fcall', '--port', String(redis.port), '--users', '1', '--uid-fmt', 'probe',
      '--symbols', '1', '--hz', String(PROBE_HZ), '--orders', '0', '--duration', String(S_BASELINE + S_TIMEOUT + 10),
      '--out', probePubFile], `probe-pub-${tag}`).start();
    await sleep(1000);
    const pids = [nginx.worker, nginx.child.pid, redis.child.pid, probe.child.pid, probePub.child.pid];
    probe.reset();
    const mb0 = cpuTimes(pids);
    await sleep(S_BASELINE * 1000);
    const baseline = await probe.dump(probeFile);
    const baselineLoad = machineLoad(mb0, cpuTimes(pids));

    // The storm.
    const stats0 = await nginx.stats();
    const cpu0 = procCpuMs(nginx.worker);
    const rcpu0 = procCpuMs(redis.child.pid);
    const m0 = cpuTimes(pids);
    probe.reset();
    const stormFile = path.join(tmp, `storm-${tag}.json`);
    const args = ['conns', '--cookies', prep.cookies, '--first-frame', '--port', String(nginx.port),
      '--n', String(S_CONNS), '--inflight', String(S_INFLIGHT), '--src', '127.0.200.1,127.0.200.2,127.0.200.3,127.0.200.4', '--out', stormFile];
    if (resume) args.push('--paths', prep.pathsFile, '--expect-events', String(S_MISSED));
    storm = new Psb(args, `storm-${tag}`).start();
    const doneRe = resume ? /COMPLETE \d+/ : /READY \d+ \d+ \d+/;
    let timedOut = false;
    try {
      await waitFor(() => doneRe.test(storm.out) || storm.child.exitCode !== null, { timeout: S_TIMEOUT * 1000, interval: 10, what: `storm ${tag}` });
    } catch { timedOut = true; }
    const during = await probe.dump(probeFile);
    const cpu1 = procCpuMs(nginx.worker);
    const rcpu1 = procCpuMs(redis.child.pid);
    const m1 = cpuTimes([...pids, storm.child.pid]);
    const stormAt = await storm.dump(stormFile);
    // A second later: still exactly S_MISSED each (nothing replayed twice, nothing late).
    await sleep(1000);
    const stormAfter = await storm.dump(stormFile);
    const stats1 = await nginx.stats();
    const ready = /READY (\d+) (\d+) (\d+)/.exec(storm.out);
    const complete = /COMPLETE (\d+)/.exec(storm.out);
    const h0 = stats0.history || {};
    const h1 = stats1.history || {};
    const expected = resume ? S_CONNS * S_MISSED : 0;
    const res = {
      resume, conns: S_CONNS, users: S_USERS, missed: resume ? S_MISSED : 0, inflight: S_INFLIGHT, multiAccept: S_MULTI_ACCEPT,
      expectedEvents: expected, setup: prep.setup,
      allConnectedMs: ready ? Number(ready[3]) : null, connectFailed: ready ? Number(ready[2]) : null,
      allReplayedMs: complete ? Number(complete[1]) : null, timedOut,
      replayCompleteMs: stormAt.completeMs, clients: stormAt, clientsOneSecondLater: stormAfter,
      workerCpuMs: cpu1 - cpu0, redisCpuMs: rcpu1 - rcpu0, load: machineLoad(m0, m1),
      stats: {
        replayed: (h1.replayed ?? 0) - (h0.replayed ?? 0), recovered: (h1.recovered ?? 0) - (h0.recovered ?? 0),
        notRecovered: (h1.notRecovered ?? 0) - (h0.notRecovered ?? 0), activeConnections: stats1.activeConnections,
        eventsDelivered: stats1.events.delivered - stats0.events.delivered, invalid: stats1.events.invalid - stats0.events.invalid,
      },
      probe: { baseline, during, baselineLoad, baselineSeconds: S_BASELINE },
    };
    const problems = [];
    if (timedOut) problems.push(resume ? `not every connection had ${S_MISSED} events within ${S_TIMEOUT} s` : `not every connection was up within ${S_TIMEOUT} s`);
    if (res.connectFailed) problems.push(`${res.connectFailed} connections failed`);
    if (stormAfter.events !== expected) problems.push(`clients counted ${stormAfter.events} events, expected ${expected}`);
    if (resume && (stormAfter.minEventsOneConn !== S_MISSED || stormAfter.maxEventsOneConn !== S_MISSED)) {
      problems.push(`events per connection ${stormAfter.minEventsOneConn}..${stormAfter.maxEventsOneConn}, expected ${S_MISSED}`);
    }
    if (stormAfter.offsetRegressions) problems.push(`${stormAfter.offsetRegressions} offsets not above the connection's previous (duplicates or out of order)`);
    if (resume && stormAfter.recoveredTrue !== S_CONNS) problems.push(`recovered:true on ${stormAfter.recoveredTrue} of ${S_CONNS} (false: ${stormAfter.recoveredFalse})`);
    if (resume && (res.stats.recovered !== S_CONNS || res.stats.notRecovered !== 0)) problems.push(`stats: recovered ${res.stats.recovered}, notRecovered ${res.stats.notRecovered}`);
    if (resume && res.stats.replayed !== S_CONNS * S_MISSED) problems.push(`stats: replayed ${res.stats.replayed}`);
    if (!during.events) problems.push('the probe got no event during the storm');
    const bad = nginx.badLines();
    if (bad.length) problems.push(...bad.slice(0, 10));
    if (problems.length) res.problems = problems;
    const warn = nginx.errorLog().split('\n').filter((l) => /\[warn\]|\[error\]/.test(l));
    if (warn.length) res.errorLogWarnings = { count: warn.length, first: warn.slice(0, 5) };
    return res;
  } finally {
    if (storm) await storm.stop();
    if (probePub) await probePub.stop();
    if (probe) await probe.stop();
    await nginx.stop();
  }
}

async function main() {
  buildPsb();
  if (!fs.existsSync(MODULE_PATH)) throw new Error(`module not built: ${MODULE_PATH}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'psbench-history-'));
  const redis = await new RedisServer().start();
  const out = { machine: machine(), commit: gitHead(), params: { PARTS, USERS, SYMBOLS, HZ, ORDERS, DURATION, WARMUP, ROUNDS, SAME_BYTES, MAXLEN, S_CONNS, S_USERS, S_MISSED, S_INFLIGHT, S_BASELINE, S_TIMEOUT, PROBE_HZ, S_MULTI_ACCEPT, STORM_PEER } };
  const cpuM0 = cpuTimes();
  out.loadAtStart = { loadavg: os.loadavg() };
  let app;
  try {
    const client = await redis.client();
    await client.configSet('client-output-buffer-limit', 'pubsub 268435456 67108864 60');
    out.redis = /redis_version:(\S+)/.exec(await client.sendCommand(['INFO', 'server']))[1];
    // One real express-session login through a history location: the module
    // loads the library on connect (checked), and a published event arrives with its offset.
    app = await startApp({ redis });
    {
      const probe = new BenchNginx('ps', { redisPort: redis.port, window: '0ms', history: true });
      await probe.start();
      try {
        const c = await connectUser(probe.port, (await app.login('real0')).cookie);
        await waitFor(async () => (await client.sendCommand(['FUNCTION', 'LIST', 'LIBRARYNAME', 'portfolio_stream'])).length > 0,
          { timeout: 5000, interval: 50, what: 'the module to load the portfolio_stream library' });
        const off = await client.sendCommand(['FCALL', 'portfolio_stream_publish', '1', 'portfolio:user:real0', '{"type":"order_update","id":"probe"}']);
        const evs = await c.waitEvents(1, 3000, 'probe event');
        if (evs[0].offset !== off) throw new Error(`probe event ${JSON.stringify(evs[0])} lacks offset ${off}`);
        const conn = c.messages.find((m) => m.type === 'connected');
        if (!conn || typeof conn.epoch !== 'string') throw new Error(`connected without an epoch: ${JSON.stringify(conn)}`);
      } finally { terminateAllWs(); await probe.stop(); }
    }
    if (PARTS.includes('cpu')) {
      const cookies = await createSessions(client, USERS, { file: path.join(tmp, 'cookies.txt') });
      out.cpu = [];
      for (let r = 0; r < ROUNDS; r++) {
        for (const variant of SAME_BYTES ? ['off', 'bytes', 'on'] : ['off', 'on']) {
          console.error(`run: cpu round ${r + 1}/${ROUNDS}, ${variant}, ${USERS} users x ${SYMBOLS} x ${HZ} Hz, ${DURATION} s`);
          out.cpu.push(await runCpu(variant, redis, cookies, tmp));
        }
      }
    }
    if (PARTS.includes('storm')) {
      const prep = await prepareStorm(client, tmp);
      console.error(`run: storm, ${S_CONNS} connections of ${S_USERS} users resuming, ${S_MISSED} missed events each`);
      out.storm = await runStorm(true, redis, prep, tmp);
      if (STORM_PEER) {
        console.error(`run: the same ${S_CONNS} handshakes without history (peer)`);
        out.stormPeer = await runStorm(false, redis, prep, tmp);
      }
    }
  } finally {
    terminateAllWs();
    if (app) await app.close();
    await redis.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  { const l = machineLoad(cpuM0, cpuTimes()); out.loadOverall = { stealPct: l.stealPct, loadavgAtEnd: l.loadavg }; }
  report(out);
  console.log(`results: ${writeResults('history', out)}`);
}

// The module's source: PS_COMMIT when the build was made from another tree
// (e.g. `git archive` of a commit), else the checkout's HEAD, with a note when
// module/, src/ or redis/ have uncommitted changes.
function gitHead() {
  if (process.env.PS_COMMIT) return process.env.PS_COMMIT;
  try {
    const head = execFileSync('git', ['-C', REPO, 'log', '-1', '--format=%h'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', REPO, 'status', '--porcelain', '--', 'module', 'src', 'redis'], { encoding: 'utf8' }).trim();
    return dirty ? `${head} + uncommitted module/src changes` : head;
  } catch { return null; }
}

function report(out) {
  console.log(`\n${out.machine.date}, commit ${out.commit}, redis ${out.redis}, ${out.machine.cores} cores, load at start ${out.loadAtStart.loadavg.map((x) => x.toFixed(2)).join(' ')}`);
  if (out.cpu) {
    console.log(`\ncpu: ${USERS} users x ${SYMBOLS} symbol(s) x ${HZ} Hz + ${ORDERS} orders/s/user, window 0, measured ${WARMUP} .. ${DURATION - 1} s of each run`);
    const rows = out.cpu.map((r) => ({
      run: `history ${r.history ? 'on' : 'off'} (${r.publish})`,
      'published/s': r.routedPerS.toFixed(0), 'delivered/s': r.deliveredPerS.toFixed(0),
      'worker CPU %': r.workerCpuPct.toFixed(1), 'worker us/delivered': r.cpuUsPerDeliveredEvent.toFixed(2),
      'redis CPU %': r.redisCpuPct.toFixed(1), 'redis us/publish': r.redisCpuUsPerPublish.toFixed(2),
      'recv age p50/p99/max ms': `${r.clients.ageMs.p50}/${r.clients.ageMs.p99}/${r.clients.ageMs.max.toFixed(0)}`,
      'steal %': r.load.stealPct, 'others CPU %': r.load.othersCorePct, problems: r.problems ? r.problems.join('; ') : '',
    }));
    console.log(table(rows, Object.keys(rows[0])));
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const on = out.cpu.filter((r) => r.variant === 'on');
    const off = out.cpu.filter((r) => r.variant === 'off');
    const bytes = out.cpu.filter((r) => r.variant === 'bytes');
    const wOn = mean(on.map((r) => r.cpuUsPerDeliveredEvent));
    const wOff = mean(off.map((r) => r.cpuUsPerDeliveredEvent));
    const rOn = mean(on.map((r) => r.redisCpuUsPerPublish));
    const rOff = mean(off.map((r) => r.redisCpuUsPerPublish));
    out.cpuSummary = { workerUsOn: wOn, workerUsOff: wOff, workerRatio: wOn / wOff, redisUsOn: rOn, redisUsOff: rOff, redisRatio: rOn / rOff,
      pairRatios: on.map((r, i) => r.cpuUsPerDeliveredEvent / off[i].cpuUsPerDeliveredEvent) };
    console.log(`worker us/delivered: on ${wOn.toFixed(2)} / off ${wOff.toFixed(2)} = ${(wOn / wOff).toFixed(2)} (per round: ${out.cpuSummary.pairRatios.map((x) => x.toFixed(2)).join(', ')}; target <= 1.2: ${wOn / wOff <= 1.2 ? 'MET' : 'MISSED'})`);
    if (bytes.length) {
      const wB = mean(bytes.map((r) => r.cpuUsPerDeliveredEvent));
      Object.assign(out.cpuSummary, { workerUsSameBytes: wB, sameBytesRatio: wB / wOff, onVsSameBytes: wOn / wB });
      console.log(`  of which the offset's bytes (history off, PUBLISH with offset): ${wB.toFixed(2)} = ${(wB / wOff).toFixed(2)} x off; history on vs that: ${(wOn / wB).toFixed(2)}`);
    }
    console.log(`redis us/publish: FCALL ${rOn.toFixed(2)} / PUBLISH ${rOff.toFixed(2)} = ${(rOn / rOff).toFixed(2)}`);
  }
  if (out.storm) {
    const s = out.storm;
    console.log(`\nstorm: ${s.conns} connections of ${s.users} users at once (${s.inflight} handshakes in flight, multi_accept ${s.multiAccept ? 'on' : 'off'}), ${s.missed} missed events each;`
      + ` setup: ${s.users} reads in ${s.setup.readMs} ms, ${s.setup.published} FCALL publishes in ${s.setup.publishMs} ms`);
    const p = (x) => `${x.ageMs.p50}/${x.ageMs.p99}/${x.ageMs.max.toFixed(0)} (${x.events})`;
    const rows = [out.storm, out.stormPeer].filter(Boolean).map((r) => {
      const c = r.clientsOneSecondLater;
      return {
        run: r.resume ? 'resume (history on)' : 'no history, no since',
        'last connect() issued ms': r.clients.allOpenedMs.toFixed(0),
        'all connected ms': r.allConnectedMs ?? '-',
        'all replayed ms': r.resume ? (r.allReplayedMs ?? 'never') : '-',
        'replayed per conn first/p50/p99/last ms': r.resume ? ['first', 'p50', 'p99', 'last'].map((k) => r.replayCompleteMs[k].toFixed(0)).join('/') : '-',
        events: `${c.events}/${r.expectedEvents}`,
        'per conn': r.resume ? `${c.minEventsOneConn}..${c.maxEventsOneConn}` : '-',
        'dup/out of order': c.offsetRegressions,
        'recovered true/false (frames)': r.resume ? `${c.recoveredTrue}/${c.recoveredFalse}` : '-',
        'stats recovered/notRecovered/replayed': r.resume ? `${r.stats.recovered}/${r.stats.notRecovered}/${r.stats.replayed}` : '-',
        'worker CPU ms': r.workerCpuMs, 'redis CPU ms': r.redisCpuMs,
        'probe p50/p99/max ms (events): no storm': p(r.probe.baseline), 'during storm': p(r.probe.during),
        'steal %': r.load.stealPct, 'others CPU %': `${r.probe.baselineLoad.othersCorePct}/${r.load.othersCorePct}`,
        problems: r.problems ? r.problems.join('; ') : '',
      };
    });
    console.log(table(rows, Object.keys(rows[0])));
    console.log('(others CPU %: processes not started by this bench, in % of one core, during the no-storm probe / during the storm)');
    const done = s.allReplayedMs !== null && s.allReplayedMs < 2000 && !s.problems;
    console.log(`target: every connection recovered with its ${s.missed} events in under 2 s: ${done ? 'MET' : 'MISSED'}`);
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; }).finally(() => setTimeout(() => process.exit(), 100).unref());
