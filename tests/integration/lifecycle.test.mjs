// nginx lifecycle under load (issue 5): reload while clients stream and
// events flow, 20 reloads without shared-memory or master growth, a worker
// SIGKILLed under load. Two workers with reuseport, so users have
// connections (and subscriptions) on both.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { workerOfClientPorts } from './lib/procnet.mjs';
import { waitFor } from './lib/procs.mjs';
import { stats, prom, rssKiB, numsubMany, pubsubChannels, publisher, seqPublisher } from './lib/faultkit.mjs';

const note = (...a) => console.log('#', ...a);
const WORKERS = 2;

function nginxOpts(perUser) {
  return {
    workers: WORKERS, listen: 'reuseport', shutdownTimeout: '30s', stats: true,
    http: [`portfolio_stream_max_connections_per_user ${perUser};`, 'portfolio_stream_max_connections 500;'],
    location: ['portfolio_stream_batch_window 0;'],
  };
}

// { u, c } -> worker pid (null when the connection is gone)
function placement(env, conns) {
  const ports = conns.map(({ c }) => c.ws._socket && c.ws._socket.localPort).filter(Boolean);
  return workerOfClientPorts(env.port, ports, env.nginx.workerPids());
}

// Redis' NUMSUB per user must equal the number of workers holding that user's connections.
async function expectedNumsub(env, conns, allUsers) {
  const where = placement(env, conns);
  const want = {};
  for (const u of allUsers) {
    const ws = new Set(conns.filter((x) => x.u === u && x.c.isOpen).map(({ c }) => where.get(c.ws._socket.localPort)));
    assert.ok(!ws.has(null) && !ws.has(undefined), 'every open connection is held by a live worker');
    want[`portfolio:user:${u}`] = ws.size;
  }
  return want;
}

async function waitNumsub(admin, want, timeout = 3000) {
  let got;
  const end = Date.now() + timeout;
  do {
    got = await numsubMany(admin, Object.keys(want));
    if (JSON.stringify(got) === JSON.stringify(want)) return got;
    await sleep(50);
  } while (Date.now() < end);
  assert.deepEqual(got, want, 'PUBSUB NUMSUB per user = workers holding its connections');
  return got;
}

async function connectAll(env, users, perUser) {
  const out = [];
  for (const u of users) for (let i = 0; i < perUser; i++) out.push({ u, c: await env.user(u) });
  return out;
}

describe('reload under load', () => {
  const env = useEnv({ nginx: nginxOpts(20) });
  let pub;
  after(async () => { if (pub) await pub.close(); });

  it('old clients get 1001 at once, new ones are served at once, old workers exit, NUMSUB and stats converge', async () => {
    const users = Array.from({ length: 8 }, () => uniqueUser('rl'));
    const conns = await connectAll(env, users, 3);
    const admin = await env.redis.client();
    pub = await publisher(env.redis.port);
    const p = seqPublisher(pub, users, { intervalMs: 20 });
    await sleep(400);
    const tHup = Date.now();
    const old = await env.nginx.reload(undefined, { oldExitMs: 0 });
    // A new connection right away is served by the new generation.
    // A client that reconnects at once may still land on an old worker (its
    // listening socket stays open until it handles the master's SIGQUIT): it
    // gets 1001 too and tries again.
    const fresh = uniqueUser('rn');
    const t1 = Date.now();
    let nc;
    let retries = 0;
    for (;;) {
      nc = await env.user(fresh);
      await sleep(300);
      if (nc.isOpen) break;
      assert.equal(nc.closeInfo.code, 1001);
      assert.ok(++retries < 5, 'new connections keep landing on old workers');
    }
    const newMs = Date.now() - t1 - 300;
    const closes = await Promise.all(conns.map(({ c }) => c.waitClose(3000)));
    const closeMs = Math.max(...closes.map((x) => x.at)) - tHup;
    for (const x of closes) assert.equal(x.code, 1001, `close ${x.code} ${x.reason}`);
    await waitFor(() => ![...old].some((pid) => env.nginx.workerPids().includes(pid)), { timeout: 5000, what: 'old workers to exit' });
    const exitMs = Date.now() - tHup;
    // Events: each old client got its own, in order, none lost while it was open.
    const log1 = [...p.log];
    for (const { u, c } of conns) {
      const evs = c.events();
      assert.ok(evs.every((e) => e.user === u));
      for (let i = 1; i < evs.length; i++) assert.ok(evs[i].seq > evs[i - 1].seq, `${u}: out of order`);
      const got = new Set(evs.map((e) => e.seq));
      const lost = log1.filter((x) => x.user === u && x.t1 < tHup && x.n > 0 && !got.has(x.seq));
      assert.deepEqual(lost.map((x) => x.seq), [], `${u}: events published before the reload never arrived`);
    }
    // Half the users come back (2 connections each).
    const back = users.slice(0, 4);
    const conns2 = await connectAll(env, back, 2);
    const tBack = Date.now();
    await sleep(500);
    const log = await p.stop();
    for (const { u, c } of conns2) {
      const evs = c.events();
      assert.ok(evs.every((e) => e.user === u));
      for (let i = 1; i < evs.length; i++) assert.ok(evs[i].seq > evs[i - 1].seq);
      const got = new Set(evs.map((e) => e.seq));
      const missing = log.filter((x) => x.user === u && x.t0 > tBack && !got.has(x.seq));
      assert.deepEqual(missing.map((x) => x.seq), [], `${u}: events published after it connected`);
    }
    const all = [...conns2, { u: fresh, c: nc }];
    await waitNumsub(admin, await expectedNumsub(env, all, [...users, fresh]));
    assert.deepEqual(await pubsubChannels(admin, 'portfolio:user:*'), [...back, fresh].map((u) => `portfolio:user:${u}`).sort());
    const st = await stats(env);
    assert.equal(st.activeConnections, all.length);
    assert.equal(st.activeUsers, back.length + 1);
    assert.equal(st.status, 'healthy');
    note(`reload: all ${conns.length} old clients had 1001 within ${closeMs} ms; a new client was connected ${newMs} ms after the new workers were up (${retries} retries after a 1001 from an old worker); old workers gone ${exitMs} ms after SIGHUP`);
    for (const { c } of all) c.close();
    await Promise.all(all.map(({ c }) => c.closed));
    await waitFor(async () => (await pubsubChannels(admin)).length === 0, { timeout: 3000, what: 'no channels' });
    await waitFor(async () => (await stats(env)).activeConnections === 0, { timeout: 3000, what: 'activeConnections 0' });
  });

  it('20 reloads with clients connected: no shared-memory growth, master RSS stable, stats consistent', async () => {
    const users = [uniqueUser('rr'), uniqueUser('rr')];
    const admin = await env.redis.client();
    let conns = await connectAll(env, users, 2);
    const cycle = async () => {
      await env.nginx.reload(undefined, { oldExitMs: 5000 });
      await Promise.all(conns.map(({ c }) => c.waitClose(3000)));
      conns = await connectAll(env, users, 2);
    };
    await cycle(); // warm-up: the first reload allocates what later ones reuse
    await sleep(200);
    const p0 = await prom(env);
    const rss0 = rssKiB(env.nginx.pid);
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) await cycle();
    const took = Date.now() - t0;
    await sleep(300);
    const p1 = await prom(env);
    const rss1 = rssKiB(env.nginx.pid);
    note(`20 reloads in ${took} ms: zone free ${p0.portfolio_stream_zone_free_bytes} -> ${p1.portfolio_stream_zone_free_bytes} bytes of ${p1.portfolio_stream_zone_size_bytes}; master RSS ${rss0} -> ${rss1} KiB`);
    assert.ok(p1.portfolio_stream_zone_free_bytes >= p0.portfolio_stream_zone_free_bytes,
      `zone free bytes ${p0.portfolio_stream_zone_free_bytes} -> ${p1.portfolio_stream_zone_free_bytes}`);
    // Under ASan freed memory sits in its quarantine: RSS says nothing there.
    if (!process.env.PS_SANITIZE) assert.ok(rss1 - rss0 < 1024, `master RSS ${rss0} -> ${rss1} KiB`);
    assert.equal(p1.portfolio_stream_active_connections, conns.length);
    assert.equal(p1.portfolio_stream_active_users, users.length);
    assert.equal(p1.portfolio_stream_workers, WORKERS);
    await waitNumsub(admin, await expectedNumsub(env, conns, users));
    for (const { c } of conns) c.close();
    await Promise.all(conns.map(({ c }) => c.closed));
    await waitFor(async () => (await stats(env)).activeConnections === 0, { timeout: 3000, what: 'activeConnections 0' });
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('a worker SIGKILLed under load', () => {
  const PER_USER = 4;
  const env = useEnv({ nginx: nginxOpts(PER_USER) });
  let pub;
  let victim;
  after(async () => { if (pub) await pub.close(); });

  it('its clients see TCP close, the others keep streaming, the master respawns; stats and per-user limits are right after', async () => {
    const users = Array.from({ length: 4 }, () => uniqueUser('wk'));
    const conns = await connectAll(env, users, PER_USER);
    const admin = await env.redis.client();
    pub = await publisher(env.redis.port);
    const p = seqPublisher(pub, users, { intervalMs: 20 });
    await sleep(300);
    const where = placement(env, conns);
    const workers = env.nginx.workerPids();
    assert.equal(workers.length, WORKERS);
    const count = (w) => conns.filter(({ c }) => where.get(c.ws._socket.localPort) === w).length;
    victim = workers.find((w) => count(w) > 0 && count(w) < conns.length) ?? workers[0];
    const dying = conns.filter(({ c }) => where.get(c.ws._socket.localPort) === victim);
    const staying = conns.filter((x) => !dying.includes(x));
    assert.ok(dying.length > 0 && staying.length > 0, `connections per worker: ${workers.map(count)}`);
    const tKill = Date.now();
    process.kill(victim, 'SIGKILL');
    const closes = await Promise.all(dying.map(({ c }) => c.waitClose(3000)));
    for (const x of closes) assert.equal(x.code, 1006, 'TCP closed without a close frame');
    await waitFor(() => { const w = env.nginx.workerPids(); return w.length === WORKERS && !w.includes(victim); },
      { timeout: 5000, what: 'the master to respawn the worker' });
    const respawnMs = Date.now() - tKill;
    await sleep(500);
    const log = await p.stop();
    for (const { u, c } of staying) {
      assert.ok(c.isOpen);
      const evs = c.events();
      assert.ok(evs.every((e) => e.user === u));
      for (let i = 1; i < evs.length; i++) assert.ok(evs[i].seq > evs[i - 1].seq);
      const got = new Set(evs.map((e) => e.seq));
      const missing = log.filter((x) => x.user === u && x.t0 > tKill && !got.has(x.seq));
      assert.deepEqual(missing.map((x) => x.seq), [], `${u}: a surviving connection missed events after the kill`);
    }
    // The zone gives back the dead worker's connections and per-user slots.
    await waitFor(async () => (await stats(env)).activeConnections === staying.length,
      { timeout: 5000, what: `activeConnections = ${staying.length}` }).catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await stats(env))}`);
    });
    const reopened = [];
    for (const u of users) {
      const alive = staying.filter((x) => x.u === u).length;
      const { cookie } = await env.login(u);
      for (let i = alive; i < PER_USER; i++) reopened.push({ u, c: await env.user(u) });
      await assert.rejects(env.ws({ cookie }), (e) => e.status === 429, `${u}: limit ${PER_USER} with ${alive} + ${PER_USER - alive} open`);
    }
    const now = [...staying, ...reopened];
    const st = await stats(env);
    assert.equal(st.activeConnections, users.length * PER_USER);
    assert.equal(st.activeUsers, users.length);
    await waitNumsub(admin, await expectedNumsub(env, now, users));
    for (const u of users) {
      await env.publish(u, { type: 'order_update', user: u, seq: 'after' });
    }
    for (const { u, c } of now) await c.waitMessage((m) => m.seq === 'after' && m.user === u, 2000, `event for ${u}`);
    note(`SIGKILL: ${dying.length} clients of the killed worker closed, ${staying.length} kept streaming; respawned in ${respawnMs} ms; ` +
      `reclaimed ${(await prom(env)).portfolio_stream_connections_reclaimed_total} connections`);
    for (const { c } of now) c.close();
    await Promise.all(now.map(({ c }) => c.closed));
    await waitFor(async () => (await pubsubChannels(admin)).length === 0, { timeout: 3000, what: 'no channels' });
    await waitFor(async () => (await stats(env)).activeConnections === 0, { timeout: 3000, what: 'activeConnections 0' });
  });

  it('error.log is clean (but for the killed worker) and nginx stops gracefully', async () => {
    // The master's "[alert] ... worker process N exited on signal 9" is expected for the killed pid.
    const expected = (l) => victim && new RegExp(`\\b${victim}\\b`).test(l) && /exited on signal 9/.test(l);
    const origBad = env.nginx.badLogLines.bind(env.nginx);
    env.nginx.badLogLines = (extra) => origBad(extra).filter((l) => !expected(l));
    await stopAndCheckLog(env);
  });
});
