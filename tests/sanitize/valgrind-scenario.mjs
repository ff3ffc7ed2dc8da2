#!/usr/bin/env node
// One nginx process (master_process off; daemon off) with the module, under
// valgrind memcheck, through a short scenario: a session connects and
// receives events, a ping is answered, a protocol error closes with 1002, a
// normal close, a client that vanishes, a rejected handshake; then SIGQUIT.
// Run by tests/sanitize/valgrind.sh, which judges the valgrind log.
//   node valgrind-scenario.mjs <module.so> <out dir> <valgrind args...>
import fs from 'node:fs';
import path from 'node:path';
import { RedisServer } from '../integration/lib/redis.mjs';
import { startApp } from '../integration/lib/app.mjs';
import { renderConfig, NGINX } from '../integration/lib/nginx.mjs';
import { spawnTracked, stopChild, sleep } from '../integration/lib/procs.mjs';
import { freePort, waitForPort } from '../integration/lib/ports.mjs';
import { connectUser, terminateAllWs } from '../integration/lib/wsclient.mjs';
import { RawWs, handshake, destroyRawSockets } from '../integration/lib/raw.mjs';
import { buildFrame, OP } from '../integration/lib/frames.mjs';

const [, , moduleArg, outArg, ...vgArgs] = process.argv;
if (!moduleArg || !outArg) { console.error('usage: valgrind-scenario.mjs <module.so> <out dir> [valgrind args]'); process.exit(2); }
const out = path.resolve(outArg);
fs.mkdirSync(out, { recursive: true });
process.env.PS_MODULE = path.resolve(moduleArg);

let redis, app, nginx;
const step = (s) => console.log(`valgrind scenario: ${s}`);
async function main() {
  redis = await new RedisServer().start();
  app = await startApp({ redis });
  const port = await freePort();
  // The harness's config, as one process: master_process off.
  let conf = renderConfig(out, port, {
    redis: `127.0.0.1:${redis.port} connect_timeout=5s`,
    logLevel: 'info',
    server: ['portfolio_stream_batch_window 0;', 'portfolio_stream_heartbeat 60s;'],
  });
  conf = conf.replace(/^load_module .*$/m, `load_module ${process.env.PS_MODULE};`).replace('master_process on;', 'master_process off;');
  fs.writeFileSync(path.join(out, 'nginx.conf'), conf);
  for (const d of ['client_body_temp', 'proxy_temp', 'fastcgi_temp', 'uwsgi_temp', 'scgi_temp']) fs.mkdirSync(path.join(out, d), { recursive: true });

  nginx = spawnTracked('valgrind-nginx', 'valgrind', [...vgArgs, NGINX, '-p', out, '-c', path.join(out, 'nginx.conf'), '-e', path.join(out, 'error.log')]);
  let stderr = '';
  nginx.stdout.on('data', (d) => { stderr += d; });
  nginx.stderr.on('data', (d) => { stderr += d; });
  await waitForPort(port, 90000, () => nginx.exitCode !== null);
  step(`nginx pid ${nginx.pid} up on ${port}`);

  // Slow under valgrind: generous timeouts everywhere.
  const T = 20000;
  const { cookie } = await app.login('vg-user');
  const c = await connectUser(port, cookie, { connectedTimeout: T, timeout: T });
  for (let i = 0; i < 5; i++) await redis.publish('portfolio:user:vg-user', JSON.stringify({ type: 'order_update', data: { id: `o${i}` } }));
  await redis.publish('portfolio:user:vg-user', JSON.stringify({ type: 'position_update', key: 'AAPL', data: { symbol: 'AAPL', qty: 1 } }));
  await redis.publish('portfolio:user:vg-user', '{"invalid json');
  await c.waitEvents(6, T);
  c.send({ type: 'ping' });
  c.send({ type: 'subscribe', channels: ['positions'] });
  c.send({ type: 'nope' });
  await c.waitMessage((m) => m.type === 'error', T);
  step('events received, client messages answered');

  // Protocol error: RSV1 -> 1002; then a fragmented message left half-done -> 1009 on a huge length.
  const bad = await RawWs.connect(port, { cookie });
  await bad.waitConnected(T);
  bad.send(buildFrame({ opcode: OP.TEXT, payload: '{"type":"ping"}', rsv: 4 }));
  const bc = await bad.waitClosed(T);
  if (bc.closeFrame?.code !== 1002) throw new Error(`protocol error closed with ${bc.closeFrame?.code}`);
  const big = await RawWs.connect(port, { cookie });
  await big.waitConnected(T);
  big.send(buildFrame({ opcode: OP.TEXT, payload: 'x'.repeat(1000), fin: false }));
  big.send(Buffer.from([0x80, 0xff, 0, 0, 0, 0, 0x7f, 0, 0, 0, 1, 2, 3, 4]));
  const gc = await big.waitClosed(T);
  if (gc.closeFrame?.code !== 1009) throw new Error(`oversize closed with ${gc.closeFrame?.code}`);
  step('protocol errors closed with 1002 and 1009');

  // Vanishing clients: one mid-message, one right after the 101.
  const v1 = await RawWs.connect(port, { cookie });
  await v1.waitConnected(T);
  v1.send(buildFrame({ opcode: OP.TEXT, payload: 'y'.repeat(5000) }).subarray(0, 2000));
  await sleep(200);
  v1.socket.resetAndDestroy();
  const v2 = await RawWs.connect(port, { cookie });
  v2.destroy();
  // Rejected handshakes: no cookie (401), bad key (400).
  const r1 = await handshake(port, {}, { timeout: T });
  const r2 = await handshake(port, { cookie, key: 'short' }, { timeout: T });
  if (r1.status !== 401 || r2.status !== 400) throw new Error(`rejections: ${r1.status} ${r2.status}`);

  // Normal close.
  const info = await c.close(1000);
  if (info.code !== 1000) throw new Error(`normal close echoed ${info.code}`);
  // One more connection left open for the shutdown (closed with 1001).
  const last = await connectUser(port, cookie, { connectedTimeout: T, timeout: T });
  await sleep(500);
  step('normal close done; SIGQUIT');

  const r = await stopChild(nginx, 'SIGQUIT', 60000);
  const lastClose = await last.waitClose(5000).catch(() => null);
  step(`nginx exited ${JSON.stringify(r)}, last client closed with ${lastClose?.code}`);
  fs.writeFileSync(path.join(out, 'nginx.stderr'), stderr);
  if (r.killed) throw new Error('nginx needed SIGKILL');
  // With master_process off, nginx's SIGQUIT is not graceful: the single
  // process runs the exit_process hooks and exits at once (no
  // ngx_close_idle_connections pass), so the open client only sees TCP go
  // (1006). With a master (the real setup) it gets 1001: shutdown.test.mjs.
  if (!lastClose) throw new Error('the open client was not disconnected at exit');
  return r;
}

let code = 0;
try {
  const r = await main();
  fs.writeFileSync(path.join(out, 'exit.json'), JSON.stringify(r));
} catch (e) {
  console.error(`valgrind scenario failed: ${e.stack || e.message}`);
  code = 1;
} finally {
  terminateAllWs();
  destroyRawSockets();
  if (nginx) await stopChild(nginx, 'SIGQUIT', 30000).catch(() => {});
  if (app) await app.close().catch(() => {});
  if (redis) await redis.destroy().catch(() => {});
}
process.exit(code);
