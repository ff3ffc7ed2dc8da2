// Benchmark (not a test): how much reaches a stalled client before conflation
// starts (issue 16, anomaly 1 in README.md).
//
// One WebSocket client (python3, SO_RCVBUF = RCVBUF set before connect; 0 = autotuned) that
// reads nothing for PAUSE s while N events are published to its user as fast
// as Redis takes them: position_updates of one key (SYM00, ~250 bytes) with one
// order_update in every 100. Then it reads everything. Printed: bytes and
// position_updates that reached it (written before the server saw EAGAIN, so
// never conflatable), orders received (must be all), and the stats endpoint's
// events.conflated. One worker, batch_window 0, conflation on (CONFLATE=off to
// compare).
//
//   node tests/bench/conflation_check.mjs      # or: tests/bench/run_all.sh conflation_check
//   env: BENCH_CC_N (20000) BENCH_CC_RCVBUF (4096) BENCH_CC_PAUSE (4) BENCH_CC_CONFLATE (on)
//        BENCH_CC_LOWAT (unset: the module's default; e.g. off, 16k: portfolio_stream_send_lowat)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RedisServer } from '../integration/lib/redis.mjs';
import { BenchNginx, createSessions, spawnTracked, machine, writeResults, sleep } from './lib/bench.mjs';

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? process.env[k] : d);
const N = Number(env('BENCH_CC_N', 20000));
const RCVBUF = Number(env('BENCH_CC_RCVBUF', 4096));
const PAUSE = Number(env('BENCH_CC_PAUSE', 4));
const CONFLATE = env('BENCH_CC_CONFLATE', 'on');
const LOWAT = env('BENCH_CC_LOWAT', '');

const CLIENT = `
import socket, sys, time, json
port, cookie, rcvbuf, pause = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket()
if rcvbuf > 0: s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
s.connect(('127.0.0.1', port))
s.sendall(('GET /ws/portfolio HTTP/1.1\\r\\nHost: 127.0.0.1:%d\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n'
           'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\nCookie: %s\\r\\n\\r\\n' % (port, cookie)).encode())
head = b''
while b'\\r\\n\\r\\n' not in head:
    head += s.recv(1)
print(json.dumps({'status': head.split(b' ')[1].decode()}), flush=True)
time.sleep(pause)
s.settimeout(1.5)
data = b''
try:
    while True:
        d = s.recv(1 << 16)
        if not d: break
        data += d
except socket.timeout:
    pass
print(json.dumps({'bytes': len(data), 'positions': data.count(b'"position_update"'), 'orders': data.count(b'"order_update"'),
                  'lastPosition': data.rfind(b'"n":') > 0 and int(data[data.rfind(b'"n":') + 4:].split(b',')[0])}), flush=True)
`;

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'psbench-conflate-'));
  const redis = await new RedisServer().start();
  let nginx;
  try {
    const client = await redis.client();
    const cookie = fs.readFileSync(await createSessions(client, 1, { file: path.join(tmp, 'c.txt') }), 'utf8').trim();
    nginx = await new BenchNginx('ps', { redisPort: redis.port, window: '0ms', extra: `portfolio_stream_conflate ${CONFLATE};${LOWAT ? ` portfolio_stream_send_lowat ${LOWAT};` : ''}` }).start();
    fs.writeFileSync(path.join(tmp, 'client.py'), CLIENT);
    const py = spawnTracked('client', 'python3', [path.join(tmp, 'client.py'), String(nginx.port), cookie, String(RCVBUF), String(PAUSE)]);
    let out = '';
    py.stdout.on('data', (d) => { out += d; });
    py.stderr.on('data', (d) => process.stderr.write(d));
    while (!/status/.test(out) && py.exitCode === null) await sleep(50);
    await sleep(300);
    const t0 = Date.now();
    let orders = 0;
    for (let i = 0; i < N; i += 500) {
      const ops = [];
      for (let j = i; j < Math.min(N, i + 500); j++) {
        const ev = j % 100 === 99
          ? { type: 'order_update', orderId: `o${j}`, ts: Date.now() }
          : { type: 'position_update', key: 'SYM00', data: { n: j, pad: 'x'.repeat(200) }, ts: Date.now() };
        if (ev.type === 'order_update') orders++;
        ops.push(client.publish('portfolio:user:b0', JSON.stringify(ev)));
      }
      await Promise.all(ops);
    }
    const publishMs = Date.now() - t0;
    await py.exited;
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    const got = lines[lines.length - 1];
    const st = await nginx.stats();
    const res = { n: N, orders, rcvbuf: RCVBUF, pauseS: PAUSE, conflate: CONFLATE, lowat: LOWAT || 'default', publishMs, received: got, events: st.events, slowConsumerDrops: st.connections.slowConsumerDrops };
    console.log(`\n${N} events (${orders} orders) to one client with SO_RCVBUF ${RCVBUF} that read nothing for ${PAUSE} s, conflation ${CONFLATE}, send_lowat ${LOWAT || 'default'}:`);
    console.log(`  received ${got.bytes} bytes: ${got.positions} position_updates (last n=${got.lastPosition}), ${got.orders}/${orders} orders`);
    console.log(`  stats: conflated ${st.events.conflated}, delivered ${st.events.delivered}, slow-consumer drops ${st.connections.slowConsumerDrops}`);
    console.log(`results: ${writeResults('conflation_check', { machine: machine(), ...res })}`);
    if (got.orders !== orders) process.exitCode = 1;
  } finally {
    if (nginx) await nginx.stop();
    await redis.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; }).finally(() => setTimeout(() => process.exit(), 100).unref());
