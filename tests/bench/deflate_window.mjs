// Measurement (not a test), issue 15: the worker's CPU for one broadcast
// stream to N clients that offer permessage-deflate with
// server_max_window_bits=9, against N that offer it plainly (as browsers do)
// and N that offer nothing.
//
//   PS_BUILD=build-h6 node tests/bench/deflate_window.mjs
//     BENCH_DW_CLIENTS=1000   connections per phase (one user each)
//     BENCH_DW_EVENTS=100     broadcast events per phase
//     BENCH_DW_SIZE=2048      bytes of each event (JSON; > 512, the 2^9 window)
//     BENCH_DW_HZ=50          publish rate
//     BENCH_DW_MODES=none,deflate,window9
//     BENCH_TAG=before|after  suffix of the JSON file
//
// One redis-server and one single-worker nginx (loopback, stopped by pid),
// batch window 0 (every event is its own frame). Each phase opens N raw
// WebSocket connections with the phase's Sec-WebSocket-Extensions offer,
// waits for every "connected" frame, reads the worker's utime+stime, publishes
// the events to the broadcast channel at BENCH_DW_HZ, waits until every
// connection has every event (bounded), reads the CPU again and closes all.
// Prints a table and writes $PS_BUILD/bench/deflate_window[-TAG].json.
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { RedisServer } from '../integration/lib/redis.mjs';
import { handshakeRequest } from '../integration/lib/raw.mjs';
import { BenchNginx, createSessions, procCpuMs, machine, table, writeResults, sleep, MODULE_PATH } from './lib/bench.mjs';

const N = Number(process.env.BENCH_DW_CLIENTS || 1000);
const EVENTS = Number(process.env.BENCH_DW_EVENTS || 100);
const SIZE = Number(process.env.BENCH_DW_SIZE || 2048);
const HZ = Number(process.env.BENCH_DW_HZ || 50);
const MODES = (process.env.BENCH_DW_MODES || 'none,deflate,window9').split(',');
const BROADCAST = 'portfolio:broadcast';
const OFFERS = {
  none: null,
  deflate: 'permessage-deflate; client_max_window_bits',
  window9: 'permessage-deflate; server_max_window_bits=9; client_max_window_bits',
};

// An account snapshot of exactly SIZE bytes; the numbers change per event.
function event(i) {
  const positions = [];
  const base = { type: 'account_update', ts: Date.now(), data: { seq: i, equity: 1e6 + i * 13.37, positions, pad: '' } };
  for (let k = 0; JSON.stringify(base).length < SIZE - 120; k++) {
    positions.push({ s: `SYM${k}`, q: (i * 7 + k * 31) % 1000, p: +(100 + ((i * k) % 997) / 7).toFixed(4) });
  }
  const s = JSON.stringify(base);
  base.data.pad = 'x'.repeat(Math.max(0, SIZE - s.length));
  return JSON.stringify(base);
}

// Counts the server's text frames (RSV1 or not) without keeping them.
class Counter {
  constructor() { this.head = Buffer.alloc(0); this.skip = 0; this.texts = 0; this.bytes = 0; }
  feed(d) {
    this.bytes += d.length;
    let off = 0;
    while (off < d.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, d.length - off);
        this.skip -= n;
        off += n;
        continue;
      }
      const take = Math.min(10 - this.head.length, d.length - off);
      const h = Buffer.concat([this.head, d.subarray(off, off + take)]);
      if (h.length < 2) { this.head = h; off += take; continue; }
      const len7 = h[1] & 0x7f;
      const hl = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
      if (h.length < hl) { this.head = h; off += take; continue; }
      const len = len7 === 126 ? h.readUInt16BE(2) : len7 === 127 ? Number(h.readBigUInt64BE(2)) : len7;
      if ((h[0] & 0x0f) === 1) this.texts++;
      off += hl - this.head.length;  // header bytes of this chunk
      this.head = Buffer.alloc(0);
      this.skip = len;
    }
  }
}

function connect(port, cookie, offer) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const c = new Counter();
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => { s.destroy(); reject(new Error('handshake timeout')); }, 30000);
    s.once('error', (e) => { clearTimeout(t); reject(e); });
    s.once('connect', () => s.write(handshakeRequest(port, { cookie, headers: offer ? [['Sec-WebSocket-Extensions', offer]] : [] })));
    const onHead = (d) => {
      buf = Buffer.concat([buf, d]);
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      clearTimeout(t);
      s.off('data', onHead);
      const head = buf.subarray(0, i).toString('latin1');
      if (!/^HTTP\/1\.1 101/.test(head)) { s.destroy(); reject(new Error(head.split('\r\n')[0])); return; }
      s.on('data', (x) => c.feed(x));
      c.feed(buf.subarray(i + 4));
      resolve({ socket: s, counter: c, deflate: /sec-websocket-extensions: permessage-deflate/i.test(head), head });
    };
    s.on('data', onHead);
  });
}

async function waitAll(conns, n, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const behind = conns.filter((c) => c.counter.texts < n).length;
    if (behind === 0) return true;
    if (Date.now() > end) return false;
    await sleep(50);
  }
}

const redis = new RedisServer();
let nginx;
const rows = [];
const sessionsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'psbench-dw-')), 'cookies.txt');
try {
  await redis.start();
  const rc = await redis.client();
  await createSessions(rc, N, { file: sessionsFile, uidFmt: (i) => `dw${i}` });
  const cookies = fs.readFileSync(sessionsFile, 'utf8').trim().split('\n');
  nginx = await new BenchNginx('ps', {
    redisPort: redis.port, window: '0',
    extra: `portfolio_stream_broadcast_channel ${BROADCAST}; portfolio_stream_heartbeat 600s; portfolio_stream_max_connections_per_user 5;`,
  }).start();
  const payloads = Array.from({ length: EVENTS }, (_, i) => event(i));
  for (const mode of MODES) {
    const conns = [];
    for (let i = 0; i < N; i += 100) {
      conns.push(...(await Promise.all(cookies.slice(i, Math.min(N, i + 100)).map((ck) => connect(nginx.port, ck, OFFERS[mode])))));
    }
    if (!(await waitAll(conns, 1, 30000))) {
      throw new Error(`${mode}: not every connection got its connected frame (${conns.filter((c) => c.counter.texts < 1).length} of ${N}; missing: ${JSON.stringify(conns.filter((c) => c.counter.texts < 1).map((c) => [c.counter.bytes, c.head]))})\n${nginx.errorLog().slice(-2000)}`);
    }
    await sleep(500);
    const bytes0 = conns.reduce((a, c) => a + c.counter.bytes, 0);
    const cpu0 = procCpuMs(nginx.worker);
    const t0 = Date.now();
    for (let i = 0; i < EVENTS; i++) {
      await rc.publish(BROADCAST, payloads[i]);
      await sleep(1000 / HZ);
    }
    const complete = await waitAll(conns, 1 + EVENTS, 60000);
    const cpu1 = procCpuMs(nginx.worker);
    const wall = Date.now() - t0;
    const bytes = conns.reduce((a, c) => a + c.counter.bytes, 0) - bytes0;
    rows.push({
      mode, offer: OFFERS[mode] || '(none)', clients: N, accepted: conns.filter((c) => c.deflate).length, events: EVENTS,
      eventBytes: payloads[0].length, complete, workerCpuMs: cpu1 - cpu0, cpuMsPerEvent: +((cpu1 - cpu0) / EVENTS).toFixed(2),
      usPerEventPerClient: +(((cpu1 - cpu0) * 1000) / (EVENTS * N)).toFixed(2), bytesPerClientPerEvent: Math.round(bytes / (EVENTS * N)),
      wallMs: wall,
    });
    for (const c of conns) c.socket.destroy();
    await sleep(1500);
  }
  const out = { machine: machine(), module: MODULE_PATH, clients: N, events: EVENTS, eventBytes: SIZE, hz: HZ, rows };
  const file = writeResults('deflate_window', out);
  console.log(table(rows, ['mode', 'accepted', 'complete', 'workerCpuMs', 'cpuMsPerEvent', 'usPerEventPerClient', 'bytesPerClientPerEvent', 'wallMs']));
  console.log(`(${N} clients, ${EVENTS} events of ${SIZE} bytes at ${HZ}/s; ${file})`);
  const bad = nginx.badLines();
  if (bad.length) console.log(`error.log:\n${bad.slice(0, 10).join('\n')}`);
} finally {
  if (nginx) await nginx.stop();
  await redis.destroy();
  fs.rmSync(path.dirname(sessionsFile), { recursive: true, force: true });
}
