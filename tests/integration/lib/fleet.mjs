// The fleet limit's key names and calls (SPEC section 9), as src/fleet.cpp
// makes them, for tests that talk to redis/portfolio_stream_fleet.lua.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crc16, keySlot } from './cluster.mjs';
import { sleep } from './procs.mjs';
import { connectUser, connectWs } from './wsclient.mjs';

export const FLEET_LUA = fs.readFileSync(fileURLToPath(new URL('../../../redis/portfolio_stream_fleet.lua', import.meta.url)), 'utf8');
export const BUCKETS = 64;

const tags = [];
for (let b = 0; b < BUCKETS; b++) {
  for (let k = 0; ; k++) {
    const s = keySlot(`psf:${b}:${k}`);
    if (s >= b * 256 && s < (b + 1) * 256) { tags.push(`{psf:${b}:${k}}`); break; }
  }
}

export const bucketOf = (user) => crc16(Buffer.from(String(user))) % BUCKETS;
export const bucketTag = (b) => tags[b];
export const edgesKey = (b) => `${tags[b]}:edges`;
export function fleetKeys(user) {
  const bucket = bucketOf(user);
  return { bucket, user: `${tags[bucket]}:u:${user}`, edges: edgesKey(bucket) };
}

// Thin wrappers: c is a node-redis client (or anything with sendCommand).
export const fleet = {
  acquire: (c, user, edge, conn, limit, leaseMs) => {
    const k = fleetKeys(user);
    return c.sendCommand(['FCALL', 'portfolio_stream_fleet_acquire', '2', k.user, k.edges, edge, conn, String(limit), String(leaseMs)]);
  },
  release: (c, user, edge, conn) => {
    const k = fleetKeys(user);
    return c.sendCommand(['FCALL', 'portfolio_stream_fleet_release', '2', k.user, k.edges, edge, conn]);
  },
  renew: (c, bucket, edge, leaseMs) =>
    c.sendCommand(['FCALL', 'portfolio_stream_fleet_renew', '1', edgesKey(bucket), edge, String(leaseMs)]),
  // conns: [[user, conn]...], all of one bucket
  sync: (c, bucket, edge, leaseMs, mode, conns) =>
    c.sendCommand(['FCALL', 'portfolio_stream_fleet_sync', String(1 + conns.length), edgesKey(bucket),
      ...conns.map(([u]) => fleetKeys(u).user), edge, String(leaseMs), mode, ...conns.map(([, id]) => id)]),
  drop: (c, bucket, edge) => c.sendCommand(['FCALL', 'portfolio_stream_fleet_drop', '1', edgesKey(bucket), edge]),
  count: (c, user) => {
    const k = fleetKeys(user);
    return c.sendCommand(['FCALL', 'portfolio_stream_fleet_count', '2', k.user, k.edges]);
  },
};

// A handshake's outcome: { status: 101, c } (c: the open client) or { status: <HTTP status> }.
export async function handshakeStatus(port, cookie) {
  try {
    return { status: 101, c: await connectUser(port, cookie) };
  } catch (e) {
    return { status: e.status || 0 };
  }
}

// The handshake's HTTP status alone (101 without waiting for `connected`,
// which waits for a live subscription: not there while a shard is down).
export async function upgradeStatus(port, cookie) {
  try {
    return { status: 101, c: await connectWs(port, { cookie }) };
  } catch (e) {
    return { status: e.status || 0 };
  }
}

// Fills the user's `places` on `edge` (a started Nginx), checks that the edge
// at `otherPort` refuses the user (429), SIGKILLs `edge` and waits until
// `otherPort` admits the user again: the dead edge's lease has ended. Returns
// the milliseconds that took; fails when it takes more than `waitMs`.
export async function killEdgeHoldingPlaces(edge, otherPort, cookie, { places = 5, waitMs = 8000 } = {}) {
  const held = [];
  for (let i = 0; i < places; i++) held.push((await handshakeStatus(edge.port, cookie)).c);
  assert.ok(held.every(Boolean), 'the edge to be killed admits the user');
  assert.equal((await handshakeStatus(otherPort, cookie)).status, 429);
  // The master first: killed after its workers, it could respawn one (a
  // leaked worker holding the test's stdio pipes and the fleet places).
  for (const p of [edge.child.pid, ...edge.workerPids()]) process.kill(p, 'SIGKILL');
  const t0 = Date.now();
  let got = null;
  while (Date.now() - t0 < waitMs) {
    const r = await handshakeStatus(otherPort, cookie);
    if (r.status === 101) { got = r.c; break; }
    assert.equal(r.status, 429);
    await sleep(250);
  }
  const ms = Date.now() - t0;
  assert.ok(got, 'the dead edge still holds the places');
  got.terminate();
  edge.child = null;
  await edge.destroy().catch(() => {});
  return ms;
}
