// Churn (issue 5): 5,000 WebSocket connections of 25 users opening and
// closing over ~30 s on two workers while events are published at random.
// Each event names its target user; every client checks it gets only its
// own. At the end: no subscription left in Redis (NUMSUB, CHANNELS), stats
// back to 0, worker RSS near its baseline, error.log clean.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { connectWs } from './lib/wsclient.mjs';
import { waitFor } from './lib/procs.mjs';
import { stats, rssKiB, numsubMany, pubsubChannels, publisher } from './lib/faultkit.mjs';

const note = (...a) => console.log('#', ...a);
const TOTAL = Number(process.env.PS_CHURN_TOTAL || 5000);
const SPREAD_MS = Number(process.env.PS_CHURN_MS || 30000);
const CONCURRENCY = 150;
const USERS = 25;

// Deterministic randomness (a failure can be replayed with PS_CHURN_SEED).
function rng(seed) {
  let s = seed >>> 0;
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}

describe('churn: thousands of connections opening and closing while events flow', () => {
  const env = useEnv({
    nginx: {
      workers: 2, listen: 'reuseport', stats: true,
      http: ['portfolio_stream_max_connections_per_user 200;', 'portfolio_stream_max_connections 1500;'],
      location: ['portfolio_stream_batch_window 50ms;'],
    },
  });
  let pub;
  after(async () => { if (pub) await pub.close(); });

  it(`${TOTAL} connections over ${SPREAD_MS / 1000} s: no foreign event, no leaked subscription, stats and memory back to baseline`, async () => {
    const seed = Number(process.env.PS_CHURN_SEED || Date.now() % 100000);
    const rand = rng(seed);
    const users = Array.from({ length: USERS }, () => uniqueUser('ch'));
    const cookies = {};
    for (const u of users) cookies[u] = (await env.login(u)).cookie;
    const admin = await env.redis.client();
    pub = await publisher(env.redis.port);

    const r = { opened: 0, connected: 0, clean: 0, abrupt: 0, early: 0, quit: 0, failed: [], foreign: 0, events: 0, unordered: 0 };
    let inflight = 0;
    const wake = [];
    const slot = async () => { while (inflight >= CONCURRENCY) await new Promise((res) => wake.push(res)); inflight++; };
    const free = () => { inflight--; const w = wake.shift(); if (w) w(); };

    async function one(i) {
      const u = users[Math.floor(rand() * users.length)];
      const kind = rand();
      const hold = 50 + Math.floor(rand() * 500);
      try {
        if (kind < 0.04) {
          // Gives up during the handshake (its session lookup may be pending).
          // (A 101 that beat the timeout leaves the socket open: close it too.)
          const x = await env.handshake({ cookie: cookies[u] }, { timeout: 1 + Math.floor(rand() * 15) }).catch(() => null);
          if (x && x.socket) x.socket.destroy();
          r.quit++;
          return;
        }
        const c = await connectWs(env.port, { cookie: cookies[u], timeout: 10000 });
        r.opened++;
        if (kind < 0.08) { c.terminate(); r.early++; return; } // before `connected`
        await c.waitMessage((m) => m.type === 'connected', 10000, 'connected');
        r.connected++;
        await sleep(hold);
        const evs = c.events();
        r.events += evs.length;
        r.foreign += evs.filter((e) => e.user !== u).length;
        for (let k = 1; k < evs.length; k++) if (!(evs[k].seq > evs[k - 1].seq)) r.unordered++;
        if (kind < 0.35) { c.terminate(); r.abrupt++; } else { c.close(1000); await c.closed; r.clean++; }
      } catch (e) {
        r.failed.push(`#${i} ${u}: ${e.message}`);
      }
    }

    // Random publishing: one event every 2 ms to a random user, each naming its target.
    const seq = Object.fromEntries(users.map((u) => [u, 0]));
    let publishing = true;
    let published = 0;
    const pubLoop = (async () => {
      while (publishing) {
        const u = users[Math.floor(rand() * users.length)];
        const type = rand() < 0.5 ? 'order_update' : 'trade_executed';
        await pub.publish(`portfolio:user:${u}`, JSON.stringify({ type, user: u, seq: seq[u]++ }));
        published++;
        await sleep(2);
      }
    })();

    // Warm-up (allocator arenas, hash tables), then the baseline.
    const warm = [];
    for (let i = 0; i < 300; i++) { await slot(); warm.push(one(-i).finally(free)); await sleep(2); }
    await Promise.all(warm);
    await sleep(500);
    const workers = env.nginx.workerPids();
    const rss0 = workers.map(rssKiB);
    const s0 = await stats(env);
    Object.assign(r, { opened: 0, connected: 0, clean: 0, abrupt: 0, early: 0, quit: 0, events: 0 });

    const t0 = Date.now();
    const all = [];
    for (let i = 0; i < TOTAL; i++) {
      const due = t0 + (i * SPREAD_MS) / TOTAL;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      await slot();
      all.push(one(i).finally(free));
    }
    await Promise.all(all);
    const took = Date.now() - t0;
    publishing = false;
    await pubLoop;

    assert.deepEqual(r.failed.slice(0, 10), [], `${r.failed.length} connections failed`);
    assert.equal(r.foreign, 0, 'an event reached another user');
    assert.equal(r.unordered, 0, 'events out of order');
    assert.ok(r.events > 0, 'events were delivered');

    // Everyone left: nothing subscribed, nothing counted.
    const channels = users.map((u) => `portfolio:user:${u}`);
    await waitFor(async () => (await pubsubChannels(admin)).length === 0, { timeout: 5000, what: 'PUBSUB CHANNELS empty' })
      .catch(async (e) => {
        throw new Error(`${e.message}: NUMSUB ${JSON.stringify(await numsubMany(admin, channels))}; stats ${JSON.stringify(await stats(env))}`);
      });
    assert.ok(Object.values(await numsubMany(admin, channels)).every((n) => n === 0));
    await waitFor(async () => (await stats(env)).activeConnections === 0, { timeout: 5000, what: 'activeConnections 0' });
    const s1 = await stats(env);
    assert.equal(s1.activeUsers, 0);
    assert.equal(s1.redis.subscriptions, 0);
    // A client that gave up during the handshake may still have been upgraded (the 101 was on its way).
    const accepted = s1.connections.accepted - s0.connections.accepted;
    assert.ok(accepted >= r.opened && accepted <= r.opened + r.quit, `accepted ${accepted}, opened ${r.opened}, gave up ${r.quit}`);
    assert.equal(s1.connections.closed - s0.connections.closed, s1.connections.accepted - s0.connections.accepted);
    assert.equal(s1.rejected.perUserLimit + s1.rejected.globalLimit + s1.rejected.redisUnavailable, 0, JSON.stringify(s1.rejected));
    assert.deepEqual(env.nginx.workerPids().sort(), workers.sort(), 'no worker died');
    await sleep(500);
    const rss1 = workers.map(rssKiB);
    note(`churn (seed ${seed}): ${TOTAL} in ${took} ms: ${r.connected} streamed (${r.clean} clean close, ${r.abrupt} abrupt), ${r.early} closed before connected, ${r.quit} gave up in the handshake;`,
      `${published} events published, ${r.events} received, 0 foreign; worker RSS ${rss0.join('/')} -> ${rss1.join('/')} KiB`);
    for (let i = 0; i < workers.length; i++) {
      // Under ASan freed memory sits in its quarantine: RSS says nothing there.
      if (!process.env.PS_SANITIZE) assert.ok(rss1[i] - rss0[i] < 4096, `worker ${workers[i]} RSS ${rss0[i]} -> ${rss1[i]} KiB`);
    }
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
