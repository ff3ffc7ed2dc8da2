// Measurement (not a test): Redis memory of a channel's history kept by the
// portfolio_stream library (redis/portfolio_stream.lua), for docs/history.md.
//
//   node tests/bench/history_memory.mjs
//     BENCH_HM_SIZE=300        bytes of each event (JSON, varied values)
//     BENCH_HM_MAXLENS=100,1000,10000
//
// One redis-server (integration harness, 127.0.0.1, stopped by pid). For each
// maxlen: publish max(maxlen, 1000) events through FCALL portfolio_stream_publish
// to one channel, then read MEMORY USAGE <stream> SAMPLES 0 (exact) and of the
// epoch key, and used_memory before/after; then the same events with a plain
// XADD MAXLEN = (Redis's own trimming) as a reference. Prints a table and
// writes $PS_BUILD/bench/history_memory.json (PS_BUILD default <repo>/build).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RedisServer } from '../integration/lib/redis.mjs';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const LUA = fs.readFileSync(path.join(repo, 'redis/portfolio_stream.lua'), 'utf8');
const SIZE = Number(process.env.BENCH_HM_SIZE || 300);
const MAXLENS = (process.env.BENCH_HM_MAXLENS || '100,1000,10000').split(',').map(Number);

// A position update of exactly SIZE bytes; the numbers change per event.
function event(i) {
  const base = {
    type: 'position_update',
    key: `acct-7731:SYM${i % 50}`,
    ts: 1732400000000 + i * 37,
    data: {
      symbol: `SYM${i % 50}`, qty: 100 + (i % 900), avgPrice: 187.12 + (i % 97) / 100,
      marketValue: 18712.5 + i * 3.25, unrealizedPnl: -42.18 + (i % 13), currency: 'USD', pad: '',
    },
  };
  const s = JSON.stringify(base);
  base.data.pad = 'x'.repeat(Math.max(0, SIZE - s.length));
  const out = JSON.stringify(base);
  if (out.length !== SIZE) throw new Error(`event size ${out.length} != ${SIZE}`);
  return out;
}

const usedMemory = async (c) => Number(/used_memory:(\d+)/.exec(await c.sendCommand(['INFO', 'memory']))[1]);

const redis = new RedisServer();
const rows = [];
try {
  await redis.start();
  const c = await redis.client();
  await c.sendCommand(['FUNCTION', 'LOAD', 'REPLACE', LUA]);
  const version = /redis_version:(\S+)/.exec(await c.sendCommand(['INFO', 'server']))[1];
  for (const maxlen of MAXLENS) {
    const n = Math.max(maxlen, 1000);
    await c.sendCommand(['FLUSHALL']);
    const ch = `portfolio:user:mem${maxlen}`;
    const before = await usedMemory(c);
    const p = [];
    for (let i = 0; i < n; i++) {
      p.push(c.sendCommand(['FCALL', 'portfolio_stream_publish', '1', ch, event(i), String(maxlen), '3600']));
      if (p.length >= 500) await Promise.all(p.splice(0));
    }
    await Promise.all(p);
    const stream = Number(await c.sendCommand(['MEMORY', 'USAGE', `{${ch}}:history`, 'SAMPLES', '0']));
    const epoch = Number(await c.sendCommand(['MEMORY', 'USAGE', `{${ch}}:epoch`, 'SAMPLES', '0']));
    const used = (await usedMemory(c)) - before;
    const retained = Number(await c.sendCommand(['XLEN', `{${ch}}:history`]));
    // reference: the same events with Redis's own exact MAXLEN trimming
    const ref = 'ref:stream';
    for (let i = 0; i < n; i++) {
      p.push(c.sendCommand(['XADD', ref, 'MAXLEN', '=', String(maxlen), '*', 'd', event(i)]));
      if (p.length >= 500) await Promise.all(p.splice(0));
    }
    await Promise.all(p);
    const refBytes = Number(await c.sendCommand(['MEMORY', 'USAGE', ref, 'SAMPLES', '0']));
    rows.push({ maxlen, published: n, retained, streamBytes: stream, epochBytes: epoch, usedMemoryDelta: used,
      bytesPer1000: Math.round((stream / retained) * 1000), bytesPerEvent: Math.round(stream / retained),
      xaddMaxlenStreamBytes: refBytes });
  }
  const out = { redis: version, eventBytes: SIZE, rows };
  const dir = path.join(process.env.PS_BUILD || path.join(repo, 'build'), 'bench');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'history_memory.json'), JSON.stringify(out, null, 2));
  console.log(`redis ${version}, ${SIZE}-byte events`);
  console.log('maxlen  published  retained  stream bytes  per 1,000 events  per event  epoch key  (XADD MAXLEN = reference)');
  for (const r of rows) {
    console.log(`${String(r.maxlen).padStart(6)}  ${String(r.published).padStart(9)}  ${String(r.retained).padStart(8)}  `
      + `${String(r.streamBytes).padStart(12)}  ${String(r.bytesPer1000).padStart(16)}  ${String(r.bytesPerEvent).padStart(9)}  `
      + `${String(r.epochBytes).padStart(9)}  (${r.xaddMaxlenStreamBytes})`);
  }
} finally {
  await redis.destroy();
}
