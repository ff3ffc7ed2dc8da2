// worker_processes 2: connections of several users spread over both workers all
// get their own events (one Redis subscription connection per worker).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { workerOfClientPorts } from './lib/procnet.mjs';
import { connectUser } from './lib/wsclient.mjs';

describe('two workers', () => {
  const env = useEnv({
    nginx: {
      workers: 2,
      listen: 'reuseport', // the kernel spreads connections over the workers
      http: ['portfolio_stream_max_connections_per_user 20;'],
      location: ['portfolio_stream_batch_window 0;'],
    },
  });

  it('many connections of several users, on both workers, all get exactly their events', async () => {
    const users = [0, 1, 2, 3].map(() => uniqueUser('w'));
    const cookies = {};
    for (const u of users) cookies[u] = (await env.login(u)).cookie;
    const conns = [];
    for (let i = 0; i < 32; i++) {
      const u = users[i % users.length];
      conns.push({ u, c: await connectUser(env.port, cookies[u]) });
    }
    const ports = conns.map((x) => x.c.ws._socket.localPort);
    const workers = env.nginx.workerPids();
    assert.equal(workers.length, 2);
    const where = workerOfClientPorts(env.port, ports, workers);
    const perWorker = new Map(workers.map((w) => [w, 0]));
    for (const [, w] of where) if (w) perWorker.set(w, perWorker.get(w) + 1);
    assert.ok([...perWorker.values()].every((n) => n > 0), `connections per worker: ${JSON.stringify([...perWorker])}`);
    // Each user has connections on both workers (else the test proves less).
    const usersOnBoth = users.filter((u) => new Set(conns.filter((x) => x.u === u).map((x) => where.get(x.c.ws._socket.localPort))).size === 2);
    assert.ok(usersOnBoth.length >= 1, 'some user has connections on both workers');

    const N = 25;
    for (let i = 0; i < N; i++) {
      for (const u of users) await env.publish(u, { type: 'trade_executed', owner: u, seq: i });
    }
    for (const { u, c } of conns) {
      const evs = await c.waitEvents(N, 5000, `${N} events for ${u} on worker ${where.get(c.ws._socket.localPort)}`);
      assert.deepEqual(evs.map((e) => e.seq), [...Array(N).keys()]);
      assert.ok(evs.every((e) => e.owner === u));
    }
    await sleep(200);
    for (const { c } of conns) assert.equal(c.events().length, N, 'no duplicates, no foreign events');
  });

  it('error.log is clean and nginx stops gracefully', async () => {
    await stopAndCheckLog(env);
  });
});
