// Issue 4: limits, stats and the kill switch across all workers (the shared
// zone). Real nginx with worker_processes 2 (reuseport: the kernel spreads
// connections over both workers), real Redis, real express-session logins.
//
// Every request to nginx is logged with the pid of the worker that served it
// (log_format pidlog), so a test can show that both workers took part.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { Nginx, BAD_LOG_PATTERNS } from './lib/nginx.mjs';
import { connectUser } from './lib/wsclient.mjs';
import { waitFor, childPids } from './lib/procs.mjs';
import { workerOfClientPorts } from './lib/procnet.mjs';

const STATS = '/api/admin/websocket-stats';
const PIDLOG = [`log_format pidlog '$pid $status $request_method $uri';`];
const SERVER_PIDLOG = ['access_log pid.log pidlog;'];

// One HTTP request on a fresh TCP connection (so that reuseport can pick
// either worker). -> {status, headers, body}
function request(port, p, { method = 'GET', body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method, agent: false, headers: { connection: 'close' } }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${p}: timeout`)));
    req.end(body);
  });
}

async function getStats(env, query = '') {
  const r = await request(env.port, STATS + query);
  assert.equal(r.status, 200, r.body);
  return query.includes('prometheus') ? r.body : JSON.parse(r.body);
}

// {pid -> [lines]} of the pid log, filtered
function pidLog(env, pred = () => true) {
  let text = '';
  try { text = fs.readFileSync(path.join(env.nginx.dir, 'pid.log'), 'utf8'); } catch { /* none yet */ }
  const out = new Map();
  for (const l of text.split('\n')) {
    if (!l || !pred(l)) continue;
    const pid = Number(l.split(' ')[0]);
    out.set(pid, [...(out.get(pid) || []), l]);
  }
  return out;
}

// Prometheus text exposition 0.0.4, strictly: every sample belongs to a
// family announced by a preceding # TYPE (histogram/summary children by
// suffix), families are contiguous, each has one HELP and one TYPE, values
// are floats. -> Map(family -> {type, help, samples: [{name, labels, value}]})
export function parsePrometheus(text) {
  assert.ok(text.endsWith('\n'), 'exposition ends with a newline');
  const fams = new Map();
  let current = null;
  const closed = new Set();
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const open = (name) => {
    if (current && current !== name) closed.add(current);
    assert.ok(!closed.has(name), `family ${name} is not contiguous`);
    current = name;
    if (!fams.has(name)) fams.set(name, { type: null, help: null, samples: [] });
    return fams.get(name);
  };
  text.slice(0, -1).split('\n').forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // plain comment
      assert.match(m[2], NAME, where);
      const f = open(m[2]);
      if (m[1] === 'HELP') {
        assert.equal(f.help, null, `second HELP: ${where}`);
        assert.equal(f.samples.length, 0, `HELP after samples: ${where}`);
        f.help = m[3];
      } else {
        assert.equal(f.type, null, `second TYPE: ${where}`);
        assert.equal(f.samples.length, 0, `TYPE after samples: ${where}`);
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]), where);
        f.type = m[3];
      }
      return;
    }
    assert.notEqual(line.trim(), '', `empty line ${i + 1}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    assert.ok(m, `not a sample: ${where}`);
    const [, name, labelText, valueText] = m;
    const labels = {};
    if (labelText) {
      const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
      let pos = 0;
      while (pos < labelText.length) {
        re.lastIndex = pos;
        const lm = re.exec(labelText);
        assert.ok(lm, `bad labels: ${where}`);
        labels[lm[1]] = lm[2];
        pos = re.lastIndex;
      }
    }
    assert.ok(/^(-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?|NaN|[+-]Inf)$/.test(valueText), `bad value: ${where}`);
    let fam = fams.has(name) ? name : null;
    if (!fam) {
      const base = name.replace(/_(sum|count|bucket)$/, '');
      if (fams.has(base) && ['histogram', 'summary'].includes(fams.get(base).type)) fam = base;
    }
    assert.ok(fam && fams.get(fam).type, `sample without a preceding # TYPE: ${where}`);
    assert.equal(current, fam, `sample outside its family's block: ${where}`);
    fams.get(fam).samples.push({ name, labels, value: Number(valueText) });
  });
  for (const [name, f] of fams) {
    assert.ok(f.type, `${name} has no TYPE`);
    assert.ok(f.help !== null, `${name} has no HELP`);
    assert.ok(f.samples.length > 0, `${name} has no samples`);
    if (f.type === 'counter') assert.match(name, /_total$/, `counter ${name} ends in _total`);
  }
  return fams;
}

const promValue = (fams, name, labels = {}) => {
  const f = fams.get(name);
  assert.ok(f, `family ${name}`);
  const s = f.samples.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  assert.ok(s, `${name} ${JSON.stringify(labels)}`);
  return s.value;
};

// Every JSON field and type of SPEC §5 and §8 (history), exactly (no more, no fewer).
function assertSpecShape(s) {
  const num = (v, k) => assert.ok(Number.isInteger(v) && v >= 0, `${k} is a non-negative integer: ${v}`);
  assert.deepEqual(Object.keys(s), ['status', 'activeConnections', 'activeUsers', 'batchEfficiency', 'performance', 'events', 'frames',
    'connections', 'rejected', 'redis', 'latencyMs', 'history', 'limits', 'uptimeSeconds']);
  assert.ok(['healthy', 'degraded', 'disabled'].includes(s.status));
  num(s.activeConnections, 'activeConnections');
  num(s.activeUsers, 'activeUsers');
  assert.match(s.batchEfficiency, /^\d{1,3}\.\d%$/);
  assert.deepEqual(Object.keys(s.performance), ['avgConnectionDurationSeconds', 'disconnectRatePerMinute']);
  num(s.performance.avgConnectionDurationSeconds, 'avgConnectionDurationSeconds');
  assert.match(s.performance.disconnectRatePerMinute, /^\d+\.\d\d$/);
  const sections = {
    events: ['received', 'delivered', 'coalesced', 'invalid', 'conflated'],
    frames: ['sent', 'bytesSent'],
    connections: ['accepted', 'closed', 'slowConsumerDrops'],
    rejected: ['badHandshake', 'forbiddenOrigin', 'unauthorized', 'perUserLimit', 'globalLimit', 'disabled', 'redisUnavailable'],
    history: ['replayed', 'recovered', 'notRecovered'],
  };
  for (const [sec, keys] of Object.entries(sections)) {
    assert.deepEqual(Object.keys(s[sec]), keys, sec);
    for (const k of keys) num(s[sec][k], `${sec}.${k}`);
  }
  assert.deepEqual(Object.keys(s.redis), ['connected', 'reconnects', 'subscriptions']);
  assert.equal(typeof s.redis.connected, 'boolean');
  num(s.redis.reconnects, 'redis.reconnects');
  num(s.redis.subscriptions, 'redis.subscriptions');
  assert.deepEqual(Object.keys(s.latencyMs), ['p50', 'p99', 'max']);
  for (const k of ['p50', 'p99', 'max']) assert.ok(typeof s.latencyMs[k] === 'number' && s.latencyMs[k] >= 0);
  assert.deepEqual(Object.keys(s.limits), ['maxConnections', 'maxConnectionsPerUser']);
  num(s.limits.maxConnections, 'maxConnections');
  num(s.limits.maxConnectionsPerUser, 'maxConnectionsPerUser');
  num(s.uptimeSeconds, 'uptimeSeconds');
}

// Raw JSON text check: the latency numbers carry one decimal ("p50":3.0).
const assertLatencyText = (body) => assert.match(body, /"latencyMs":\{"p50":\d+\.\d,"p99":\d+\.\d,"max":\d+\.\d\}/);

const opened = (env, cookie, n, o) => Promise.all([...Array(n)].map(() => connectUser(env.port, cookie, o)));
const status101 = async (env, o) => {
  const r = await env.handshake(o);
  if (r.status === 101) r.socket.destroy();
  return r;
};

describe('limits across two workers', () => {
  const env = useEnv({
    nginx: {
      workers: 2, listen: 'reuseport', stats: true,
      http: [...PIDLOG, 'portfolio_stream_max_connections 8;'],
      server: SERVER_PIDLOG,
      location: ['portfolio_stream_batch_window 0;'],
    },
  });

  it('the 6th connection of a user is 429, whichever worker takes it', async () => {
    const u = uniqueUser('lim');
    const { cookie } = await env.login(u);
    const conns = await opened(env, cookie, 5);
    const where = workerOfClientPorts(env.port, conns.map((c) => c.ws._socket.localPort), env.nginx.workerPids());
    const s0 = await getStats(env);
    assert.equal(s0.activeConnections, 5);
    assert.equal(s0.activeUsers, 1);
    const N = 16;
    for (let i = 0; i < N; i++) {
      const r = await env.handshake({ cookie });
      assert.equal(r.status, 429, `attempt ${i}: ${r.status}`);
    }
    const s1 = await getStats(env);
    assert.equal(s1.rejected.perUserLimit - s0.rejected.perUserLimit, N);
    assert.equal(s1.activeConnections, 5);
    const by = pidLog(env, (l) => / 429 GET \/ws\/portfolio$/.test(l));
    assert.equal(by.size, 2, `429s came from both workers: ${JSON.stringify([...by.keys()])}; the 5 connections: ${JSON.stringify([...where.values()])}`);
    for (const c of conns) c.terminate();
    await waitFor(async () => (await getStats(env)).activeConnections === 0, { timeout: 3000, what: 'connections released' });
  });

  it('the global limit gives 503 with Retry-After (and the per-user check comes first)', async () => {
    const u = uniqueUser('lim');
    const { cookie } = await env.login(u);
    const mine = await opened(env, cookie, 5);
    const others = [];
    for (let i = 0; i < 3; i++) others.push(await env.user(uniqueUser('lim')));
    const s0 = await getStats(env);
    assert.equal(s0.activeConnections, 8);
    assert.equal(s0.activeUsers, 4);
    const { cookie: fresh } = await env.login(uniqueUser('lim'));
    for (let i = 0; i < 6; i++) {
      const r = await env.handshake({ cookie: fresh });
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '5');
    }
    // a user at its own limit gets 429, not 503 (SPEC §2 order)
    assert.equal((await env.handshake({ cookie })).status, 429);
    const s1 = await getStats(env);
    assert.equal(s1.rejected.globalLimit - s0.rejected.globalLimit, 6);
    assert.equal(s1.rejected.perUserLimit - s0.rejected.perUserLimit, 1);
    for (const c of [...mine, ...others]) c.terminate();
    await waitFor(async () => (await getStats(env)).activeConnections === 0, { timeout: 3000, what: 'connections released' });
  });

  it('a closed connection frees its slot at once', async () => {
    const u = uniqueUser('lim');
    const { cookie } = await env.login(u);
    const conns = await opened(env, cookie, 5);
    const held = [];
    for (let i = 0; i < 5; i++) {
      await conns[i].close(1000); // resolves when the TCP connection is gone
      const r = await env.handshake({ cookie });
      assert.equal(r.status, 101, `reconnect ${i} right after a close`);
      held.push(r.socket);
      assert.equal((await env.handshake({ cookie })).status, 429, 'back at the limit');
    }
    // an abrupt end (TCP reset) frees it as soon as nginx notices
    held.pop().resetAndDestroy();
    await waitFor(async () => (await status101(env, { cookie })).status === 101, { timeout: 2000, what: 'slot freed after RST' });
    for (const sock of held) sock.destroy();
    await waitFor(async () => (await getStats(env)).activeConnections === 0, { timeout: 3000, what: 'connections released' });
  });

  it('stats from either worker show the totals of both', async () => {
    const users = [uniqueUser('tot'), uniqueUser('tot'), uniqueUser('tot'), uniqueUser('tot')];
    const conns = [];
    for (const u of users) conns.push(...(await opened(env, (await env.login(u)).cookie, 2)));
    const where = workerOfClientPorts(env.port, conns.map((c) => c.ws._socket.localPort), env.nginx.workerPids());
    const perWorker = new Set(where.values());
    const bodies = [];
    for (let i = 0; i < 40; i++) bodies.push(await getStats(env));
    const strip = ({ uptimeSeconds, ...rest }) => rest;
    for (const b of bodies) {
      assertSpecShape(b);
      assert.deepEqual(strip(b), strip(bodies[0]));
    }
    assert.equal(bodies[0].activeConnections, 8);
    assert.equal(bodies[0].activeUsers, 4);
    assert.equal(bodies[0].status, 'healthy');
    assert.equal(bodies[0].redis.connected, true);
    // each user is subscribed by every worker that holds one of its connections
    let subs = 0;
    for (const u of users) {
      const mine = conns.slice(users.indexOf(u) * 2, users.indexOf(u) * 2 + 2);
      subs += new Set(mine.map((c) => where.get(c.ws._socket.localPort))).size;
    }
    assert.equal(bodies[0].redis.subscriptions, subs);
    const by = pidLog(env, (l) => l.endsWith(` GET ${STATS}`));
    assert.equal(by.size, 2, `stats served by both workers: ${JSON.stringify([...by.keys()])} (connections on ${perWorker.size})`);
    for (const c of conns) c.terminate();
    await waitFor(async () => (await getStats(env)).activeConnections === 0, { timeout: 3000, what: 'connections released' });
  });

  it('the Prometheus output parses and agrees with the JSON', async () => {
    const c = await env.user(uniqueUser('prom'));
    const r = await request(env.port, `${STATS}?x=1&format=prometheus&y`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(r.headers['cache-control'], 'no-store');
    const fams = parsePrometheus(r.body);
    const j = await getStats(env);
    const pairs = {
      portfolio_stream_events_received_total: j.events.received,
      portfolio_stream_events_delivered_total: j.events.delivered,
      portfolio_stream_connections_accepted_total: j.connections.accepted,
      portfolio_stream_rejected_per_user_limit_total: j.rejected.perUserLimit,
      portfolio_stream_rejected_global_limit_total: j.rejected.globalLimit,
      portfolio_stream_active_connections: j.activeConnections,
      portfolio_stream_active_users: j.activeUsers,
      portfolio_stream_max_connections: 8,
      portfolio_stream_max_connections_per_user: 5,
      portfolio_stream_redis_connected: 1,
      portfolio_stream_history_replayed_total: j.history.replayed,
      portfolio_stream_history_recovered_total: j.history.recovered,
      portfolio_stream_history_not_recovered_total: j.history.notRecovered,
    };
    for (const [name, v] of Object.entries(pairs)) assert.equal(promValue(fams, name), v, name);
    assert.equal(promValue(fams, 'portfolio_stream_status', { status: 'healthy' }), 1);
    assert.equal(promValue(fams, 'portfolio_stream_status', { status: 'degraded' }), 0);
    for (const q of ['0.5', '0.99', '1']) promValue(fams, 'portfolio_stream_event_latency_milliseconds', { quantile: q });
    c.terminate();
  });

  it('GET and HEAD only (405 with Allow); unknown arguments ignored; no-store', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const r = await request(env.port, STATS, { method, body: method === 'POST' ? 'a=1' : undefined });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'GET, HEAD', method);
    }
    const h = await request(env.port, STATS, { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.body, '');
    assert.match(h.headers['content-type'], /^application\/json/);
    assert.ok(Number(h.headers['content-length']) > 100);
    for (const q of ['', '?foo=bar', '?format=json', '?format=xml&debug=1', '?format=', '?formatx=prometheus']) {
      const r = await request(env.port, STATS + q);
      assert.equal(r.status, 200, q);
      assert.equal(r.headers['content-type'], 'application/json', q);
      assert.equal(r.headers['cache-control'], 'no-store', q);
      assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body), q);
      assertSpecShape(JSON.parse(r.body));
      assertLatencyText(r.body);
    }
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('counters match a known workload exactly', () => {
  const env = useEnv({
    nginx: {
      workers: 2, listen: 'reuseport', stats: true,
      http: [...PIDLOG, 'portfolio_stream_max_connections_per_user 10;'],
      server: SERVER_PIDLOG,
      location: ['portfolio_stream_batch_window 0;'],
      locations: ['location = /ws/batched { portfolio_stream on; portfolio_stream_batch_window 400ms; }'],
    },
  });

  it('N connections, M events, window 0: delivered = N*M, one frame each; then batching', async () => {
    const s0 = await getStats(env);
    assertSpecShape(s0);
    assert.equal(s0.events.delivered, 0);
    assert.equal(s0.batchEfficiency, '0.0%');
    const u = uniqueUser('exact');
    const { cookie } = await env.login(u);
    const N = 4;
    const M = 25;
    const t0 = Date.now();
    const conns = await opened(env, cookie, N);
    const where = workerOfClientPorts(env.port, conns.map((c) => c.ws._socket.localPort), env.nginx.workerPids());
    const workersOfUser = new Set(where.values()).size;
    for (let i = 0; i < M; i++) await env.publish(u, { type: 'trade_executed', seq: i, ts: Date.now() });
    for (const c of conns) await c.waitEvents(M, 5000);
    await sleep(100);
    const s1 = await getStats(env);
    assert.equal(s1.events.delivered, N * M, 'delivered');
    assert.equal(s1.events.received, M * workersOfUser, 'received: once per worker subscribed');
    assert.equal(s1.events.invalid, 0);
    assert.equal(s1.events.coalesced, 0);
    assert.equal(s1.connections.accepted, N);
    assert.equal(s1.connections.closed, 0);
    assert.equal(s1.activeConnections, N);
    assert.equal(s1.activeUsers, 1);
    assert.equal(s1.batchEfficiency, '0.0%', 'window 0: one frame per delivery');
    assert.ok(s1.frames.sent >= N * M + N, `frames.sent ${s1.frames.sent}: events and connected frames`);
    assert.ok(s1.frames.bytesSent > 0);
    assert.ok(s1.latencyMs.p50 <= s1.latencyMs.p99 && s1.latencyMs.p99 <= s1.latencyMs.max, JSON.stringify(s1.latencyMs));
    assert.ok(s1.latencyMs.max < 2000, JSON.stringify(s1.latencyMs));
    let fams = parsePrometheus(await getStats(env, '?format=prometheus'));
    assert.equal(promValue(fams, 'portfolio_stream_event_frames_sent_total'), N * M);

    // Batching: the first event goes out at once, the next 9 wait for the window
    // and go in one frame: 10 deliveries, 2 frames on the batched location.
    const b = await connectUser(env.port, cookie, { path: '/ws/batched' });
    for (let i = 0; i < 10; i++) await env.publish(u, { type: 'position_update', key: `K${i}`, seq: i });
    await b.waitEvents(10, 3000);
    for (const c of conns) await c.waitEvents(M + 10, 3000);
    await sleep(100);
    const s2 = await getStats(env);
    const delivered = N * M + N * 10 + 10;
    const frames = N * M + N * 10 + 2;
    assert.equal(s2.events.delivered, delivered);
    fams = parsePrometheus(await getStats(env, '?format=prometheus'));
    assert.equal(promValue(fams, 'portfolio_stream_event_frames_sent_total'), frames);
    const expect = (Math.round(1000 * (1 - frames / delivered)) / 10).toFixed(1) + '%';
    assert.equal(s2.batchEfficiency, expect);

    // Close everything: closed, active, users, the last-minute rate, durations.
    await sleep(Math.max(0, 1600 - (Date.now() - t0)));
    const held = Date.now() - t0;
    for (const c of [...conns, b]) await c.close(1000);
    await waitFor(async () => (await getStats(env)).connections.closed === N + 1, { timeout: 3000, what: 'closes counted' });
    const s3 = await getStats(env);
    assert.equal(s3.activeConnections, 0);
    assert.equal(s3.activeUsers, 0);
    assert.equal(s3.redis.subscriptions, 0);
    assert.equal(s3.performance.disconnectRatePerMinute, `${N + 1}.00`);
    assert.ok(Math.abs(s3.performance.avgConnectionDurationSeconds - held / 1000) <= 1.5,
      `avg ${s3.performance.avgConnectionDurationSeconds} s, held about ${held} ms`);
    for (const [k, v] of Object.entries(s3.rejected)) assert.equal(v, 0, `rejected.${k}`);
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('counts stay true across reloads and a SIGKILLed worker', () => {
  const killed = [];
  const env = useEnv({
    nginx: {
      workers: 2, listen: 'reuseport', stats: true, shutdownTimeout: '3s',
      http: [...PIDLOG, 'portfolio_stream_max_connections 40;'],
      server: SERVER_PIDLOG,
      location: ['portfolio_stream_batch_window 0;'],
    },
  });

  it('after each of 3 reloads with connections open, the counts are the true numbers', async () => {
    let accepted = 0;
    for (let round = 0; round < 3; round++) {
      const conns = [];
      for (let i = 0; i < 3; i++) conns.push(...(await opened(env, (await env.login(uniqueUser('rl'))).cookie, 2)));
      accepted += 6;
      let s = await getStats(env);
      assert.equal(s.activeConnections, 6);
      assert.equal(s.activeUsers, 3);
      assert.equal(s.connections.accepted, accepted, 'counters survive reloads');
      await env.nginx.reload();
      // the draining old workers say goodbye (1001) and give the slots back
      for (const c of conns) assert.equal((await c.waitClose(8000)).code, 1001);
      await waitFor(async () => { s = await getStats(env); return s.activeConnections === 0 && s.activeUsers === 0; },
        { timeout: 5000, what: `counts back to 0 after reload ${round + 1}` });
      // the new generation counts from the true number
      const fresh = await opened(env, (await env.login(uniqueUser('rl'))).cookie, 5);
      accepted += 5;
      s = await getStats(env);
      assert.equal(s.activeConnections, 5);
      assert.equal(s.activeUsers, 1);
      assert.equal(s.connections.accepted, accepted);
      for (const c of fresh) await c.close();
      await waitFor(async () => (await getStats(env)).activeConnections === 0, { timeout: 3000, what: 'closed' });
    }
  });

  it('a reload with new limits: stats show the new values; old worker slots are retired', async () => {
    await env.nginx.reload({ ...env.nginx.opts, http: [...PIDLOG, 'portfolio_stream_max_connections 12;'] });
    await waitFor(async () => (await getStats(env)).limits.maxConnections === 12, { timeout: 5000, what: 'new limits' });
    await waitFor(() => env.nginx.workerPids().length === 2, { timeout: 8000, what: 'old workers gone' });
    const fams = parsePrometheus(await getStats(env, '?format=prometheus'));
    assert.equal(promValue(fams, 'portfolio_stream_workers'), 2, 'one slot per live worker after 4 reloads');
  });

  it('after SIGKILL of a worker, the dead worker\'s connections are reclaimed', async () => {
    await waitFor(() => env.nginx.workerPids().length === 2, { timeout: 8000, what: 'old workers gone' });
    const users = [uniqueUser('k9'), uniqueUser('k9')];
    const cookies = [];
    const conns = [];
    for (const u of users) {
      const { cookie } = await env.login(u);
      cookies.push(cookie);
      for (const c of await opened(env, cookie, 5)) conns.push({ u, cookie, c });
    }
    const workers = env.nginx.workerPids();
    const where = workerOfClientPorts(env.port, conns.map((x) => x.c.ws._socket.localPort), workers);
    const victim = [...where.values()][0];
    const lost = conns.filter((x) => where.get(x.c.ws._socket.localPort) === victim);
    const s0 = await getStats(env);
    assert.equal(s0.activeConnections, 10);
    process.kill(victim, 'SIGKILL');
    killed.push(victim);
    await waitFor(() => { const p = env.nginx.workerPids(); return p.length === 2 && !p.includes(victim); },
      { timeout: 5000, what: 'the master respawns the worker' });
    await waitFor(async () => (await getStats(env)).activeConnections === 10 - lost.length,
      { timeout: 5000, what: `activeConnections back to ${10 - lost.length}` });
    const s1 = await getStats(env);
    const usersLeft = new Set(conns.filter((x) => !lost.includes(x)).map((x) => x.u)).size;
    assert.equal(s1.activeUsers, usersLeft);
    // counters of the dead worker are kept (folded into the totals); its
    // connections count as closed, so accepted - closed = active again
    assert.equal(s1.connections.accepted, s0.connections.accepted);
    assert.equal(s1.connections.closed - s0.connections.closed, lost.length);
    assert.equal(s1.connections.accepted - s1.connections.closed, s1.activeConnections);
    const fams = parsePrometheus(await getStats(env, '?format=prometheus'));
    assert.equal(promValue(fams, 'portfolio_stream_connections_reclaimed_total'), lost.length);
    // each user can open exactly what it lost again, and no more
    for (const [i, u] of users.entries()) {
      const n = lost.filter((x) => x.u === u).length;
      const again = n ? await opened(env, cookies[i], n) : [];
      assert.equal((await env.handshake({ cookie: cookies[i] })).status, 429, `user ${i} back at its limit`);
      for (const c of again) c.terminate();
    }
    for (const x of conns) x.c.terminate();
    await waitFor(async () => (await getStats(env)).activeConnections === 0, { timeout: 3000, what: 'all released' });
  });

  it('error.log has no alert but the SIGKILL and nginx stops gracefully', async () => {
    const r = await env.nginx.stop(15000);
    const bad = env.nginx.errorLog().split('\n')
      .filter((l) => BAD_LOG_PATTERNS.some((re) => re.test(l)))
      .filter((l) => !killed.some((pid) => l.includes(`process ${pid} exited on signal 9`)));
    assert.deepEqual(bad, []);
    assert.match(env.nginx.errorLog(), /reclaimed \d+ connection\(s\) of exited worker process/);
    assert.equal(r.code, 0);
  });
});

describe('status across two workers: degraded while Redis is down', () => {
  let reconnectsBefore = 0;
  const env = useEnv({ nginx: (r) => ({ workers: 2, listen: 'reuseport', stats: true, redis: `127.0.0.1:${r.port} connect_timeout=1s` }) });

  it('healthy, then degraded (redis.connected false), then healthy', async () => {
    const c = await env.user(uniqueUser('deg'));
    let s = await getStats(env);
    assert.equal(s.status, 'healthy');
    assert.equal(s.redis.connected, true);
    const reconnects = s.redis.reconnects;
    await env.redis.stop();
    await waitFor(async () => { s = await getStats(env); return s.status === 'degraded'; }, { timeout: 5000, what: 'degraded' });
    assert.equal(s.redis.connected, false);
    const fams = parsePrometheus(await getStats(env, '?format=prometheus'));
    assert.equal(promValue(fams, 'portfolio_stream_status', { status: 'degraded' }), 1);
    assert.equal(promValue(fams, 'portfolio_stream_redis_connected'), 0);
    await env.redis.start();
    await waitFor(async () => { s = await getStats(env); return s.status === 'healthy'; }, { timeout: 10000, what: 'healthy again' });
    assert.equal(s.redis.connected, true);
    reconnectsBefore = reconnects;
    c.terminate();
  });

  it('both workers count their pub/sub reconnect', async () => {
    await waitFor(async () => (await getStats(env)).redis.reconnects >= reconnectsBefore + 2,
      { timeout: 3000, what: 'redis.reconnects +2' });
  });
});

for (const value of ['off', 'false', '0']) {
  describe(`ENABLE_REALTIME_PORTFOLIO=${value}`, () => {
    const env = useEnv({ nginx: { workers: 2, stats: true, main: ['env ENABLE_REALTIME_PORTFOLIO;'], env: { ENABLE_REALTIME_PORTFOLIO: value } } });

    it('stream locations answer 503 and stats say disabled', async () => {
      const { cookie } = await env.login(uniqueUser('off'));
      for (let i = 0; i < 4; i++) assert.equal((await env.handshake({ cookie })).status, 503);
      const s = await getStats(env);
      assertSpecShape(s);
      assert.equal(s.status, 'disabled');
      assert.equal(s.rejected.disabled, 4);
      assert.equal(s.activeConnections, 0);
      const fams = parsePrometheus(await getStats(env, '?format=prometheus'));
      assert.equal(promValue(fams, 'portfolio_stream_status', { status: 'disabled' }), 1);
    });

    it('error.log is clean', async () => { await stopAndCheckLog(env); });
  });
}

describe('ENABLE_REALTIME_PORTFOLIO=on (declared, not off)', () => {
  const env = useEnv({ nginx: { stats: true, main: ['env ENABLE_REALTIME_PORTFOLIO;'], env: { ENABLE_REALTIME_PORTFOLIO: 'on' } } });
  it('works and stats say healthy', async () => {
    const c = await env.user(uniqueUser('on'));
    assert.equal((await getStats(env)).status, 'healthy');
    c.terminate();
  });
});

describe('the shared user table grows with the users', () => {
  // It starts with 128 buckets and doubles past twice as many users: 700
  // users on two workers grow it twice. Every user must still be found
  // (per-user limit), a SIGKILLed worker's users reclaimed, and all given
  // back at the end.
  const env = useEnv({
    nginx: {
      workers: 2, listen: 'reuseport', stats: true,
      http: ['portfolio_stream_max_connections 2000;', 'portfolio_stream_max_connections_per_user 1;'],
      location: ['portfolio_stream_batch_window 0;'],
    },
  });
  const N = 700;
  let victim = null;

  it(`${N} users: counted, each found again after the growth, reclaimed after a SIGKILL, released`, async () => {
    const users = [...Array(N)].map(() => uniqueUser('gr'));
    const cookies = [];
    for (const u of users) cookies.push((await env.login(u)).cookie);
    const conns = [];
    for (let i = 0; i < N; i += 50) {
      conns.push(...(await Promise.all(cookies.slice(i, i + 50).map((c) => connectUser(env.port, c)))));
    }
    let s = await getStats(env);
    assert.equal(s.activeConnections, N);
    assert.equal(s.activeUsers, N);
    // A storm of handshakes (>= 256 per worker here) is followed, once quiet,
    // by the heap's free pages handed back (src/trim_policy.h).
    await waitFor(() => /gave the heap's free pages back after a storm of handshakes \(\d+ ms\)/.test(env.nginx.errorLog()),
      { timeout: 5000, what: 'the heap trimmed once the storm is over' });
    // A second connection of each of these users is refused: each user's
    // node is found in the grown table (a lost one would let it in).
    for (const i of [0, 1, 127, 128, 255, 256, 511, 512, N - 1]) {
      assert.equal((await status101(env, { cookie: cookies[i] })).status, 429, `user #${i} found again`);
    }
    const workers = env.nginx.workerPids();
    const where = workerOfClientPorts(env.port, conns.map((c) => c.ws._socket.localPort), workers);
    victim = workers[0];
    const lost = conns.filter((c) => where.get(c.ws._socket.localPort) === victim).length;
    assert.ok(lost > 0 && lost < N, `${lost} of ${N} on the victim`);
    process.kill(victim, 'SIGKILL');
    await waitFor(() => { const p = env.nginx.workerPids(); return p.length === 2 && !p.includes(victim); },
      { timeout: 5000, what: 'the master respawns the worker' });
    await waitFor(async () => { s = await getStats(env); return s.activeConnections === N - lost; },
      { timeout: 5000, what: `activeConnections back to ${N - lost}` });
    assert.equal(s.activeUsers, N - lost, 'the dead worker\'s users are gone from the table');
    for (const c of conns) c.ws.terminate();
    await waitFor(async () => { s = await getStats(env); return s.activeConnections === 0 && s.activeUsers === 0; },
      { timeout: 5000, what: 'all released' });
    // A released user can connect again: nothing stale was left in a bucket.
    assert.equal((await status101(env, { cookie: cookies[N - 1] })).status, 101);
  });

  it('error.log has no alert but the SIGKILL and nginx stops gracefully', async () => {
    const r = await env.nginx.stop(15000);
    const bad = env.nginx.errorLog().split('\n')
      .filter((l) => BAD_LOG_PATTERNS.some((re) => re.test(l)))
      .filter((l) => !(victim && l.includes(`process ${victim} exited on signal 9`)));
    assert.deepEqual(bad, []);
    assert.match(env.nginx.errorLog(), /reclaimed \d+ connection\(s\) of exited worker process/);
    assert.equal(r.code, 0);
  });
});

describe('a full zone', () => {
  // 32k is the smallest zone; user ids of 240 bytes (the session parser takes
  // up to 256) make 512-byte entries, 8 to a page.
  const env = useEnv({
    nginx: {
      stats: true,
      http: ['portfolio_stream_zone 32k;', 'portfolio_stream_max_connections 1000;'],
    },
  });

  it('refuses handshakes with 503 + Retry-After and a log line, and recovers', async () => {
    const conns = [];
    let rejected = null;
    for (let i = 0; i < 100 && !rejected; i++) {
      const u = uniqueUser('z') + 'x'.repeat(240);
      const { cookie } = await env.login(u);
      const r = await env.handshake({ cookie });
      if (r.status === 101) conns.push(r.socket);
      else rejected = { r, cookie };
    }
    assert.ok(rejected, 'the zone filled up');
    assert.ok(conns.length >= 2, `${conns.length} users fitted`);
    assert.equal(rejected.r.status, 503);
    assert.equal(rejected.r.headers['retry-after'], '5');
    assert.match(env.nginx.errorLog(), /portfolio_stream_zone "portfolio_stream" is full/);
    const s = await getStats(env);
    assert.equal(s.activeConnections, conns.length);
    assert.ok(s.rejected.globalLimit >= 1);
    conns.pop().destroy();
    await waitFor(async () => (await status101(env, { cookie: rejected.cookie })).status === 101,
      { timeout: 3000, what: 'room again after a close' });
    for (const c of conns) c.destroy();
    await waitFor(async () => (await getStats(env)).activeConnections === 0, { timeout: 3000, what: 'all released' });
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('nginx -t on zone and limits', () => {
  const n = new Nginx();
  const t = (http) => n.test({ redis: '127.0.0.1:6379', stats: true, http });
  it('accepts the smallest zone and a limit of 1', async () => {
    const r = await t(['portfolio_stream_zone 32k;', 'portfolio_stream_max_connections 1;', 'portfolio_stream_max_connections_per_user 1;']);
    assert.ok(r.ok, r.output);
  });
  for (const [line, re] of [
    ['portfolio_stream_zone 1k;', /portfolio_stream_zone.*too small/],
    ['portfolio_stream_zone 0;', /portfolio_stream_zone.*too small/],
    ['portfolio_stream_zone lots;', /invalid value|portfolio_stream_zone/],
    ['portfolio_stream_max_connections 0;', /"portfolio_stream_max_connections" directive must be at least 1, not "0"/],
    ['portfolio_stream_max_connections -5;', /"portfolio_stream_max_connections" directive invalid number/],
    ['portfolio_stream_max_connections_per_user 0;', /"portfolio_stream_max_connections_per_user" directive must be at least 1/],
  ]) {
    it(`refuses ${line}`, async () => {
      const r = await t([line]);
      assert.ok(!r.ok, `accepted:\n${r.output}`);
      assert.match(r.output, /\[emerg\]/);
      assert.match(r.output, re);
    });
  }
  it('cleanup', async () => { await n.destroy(); });
});
