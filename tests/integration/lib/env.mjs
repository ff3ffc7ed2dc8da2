// One test environment: redis-server + Express app (sessions) + nginx with the
// module, all on loopback, all stopped by pid in an after() hook.
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { RedisServer } from './redis.mjs';
import { Nginx } from './nginx.mjs';
import { startApp } from './app.mjs';
import { terminateAllWs, connectWs, connectUser } from './wsclient.mjs';
import { destroyRawSockets, RawWs, handshake } from './raw.mjs';

let seq = 0;
export const uniqueUser = (p = 'u') => `${p}${process.pid}x${++seq}`;

// opts: { redis: {...RedisServer opts}, app: {...startApp opts} | false,
//   nginx: {...Nginx opts} or (redis) => opts, redisArgs: (redis) => 'args' }
export async function startEnv(opts = {}) {
  const env = { redis: null, app: null, nginx: null };
  try {
    env.redis = new RedisServer(opts.redis || {});
    await env.redis.start();
    if (opts.app !== false) env.app = await startApp({ redis: env.redis, ...(opts.app || {}) });
    const nopts = typeof opts.nginx === 'function' ? opts.nginx(env.redis) : { ...(opts.nginx || {}) };
    if (nopts.redis === undefined) nopts.redis = `127.0.0.1:${env.redis.port} connect_timeout=1s`;
    env.nginx = new Nginx(nopts);
    await env.nginx.start();
  } catch (e) {
    await stopEnv(env);
    throw e;
  }
  env.port = env.nginx.port;
  env.login = (user, o) => env.app.login(user, o);
  env.channel = (user, prefix = 'portfolio:user:') => `${prefix}${user}`;
  env.publish = (user, msg) => env.redis.publish(env.channel(user), typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg));
  env.ws = (o) => connectWs(env.port, o);
  env.user = async (user, o = {}) => connectUser(env.port, (await env.login(user, o.login)).cookie, o);
  env.raw = (o) => RawWs.connect(env.port, o);
  env.handshake = (o, x) => handshake(env.port, o, x);
  // Publishes until a subscriber is confirmed (the connected frame promises that already;
  // this is for cases the contract does not cover, e.g. after a Redis restart).
  return env;
}

export async function stopEnv(env) {
  terminateAllWs();
  destroyRawSockets();
  const errs = [];
  for (const f of [() => env.app && env.app.close(), () => env.nginx && env.nginx.destroy(), () => env.redis && env.redis.destroy()]) {
    try { await f(); } catch (e) { errs.push(e); }
  }
  if (errs.length) throw errs[0];
}

// Registers before/after hooks in the current suite; returns a holder whose
// fields are filled in by before().
export function useEnv(opts = {}) {
  const holder = {};
  before(async () => { Object.assign(holder, await startEnv(typeof opts === 'function' ? opts() : opts)); });
  after(async () => { await stopEnv(holder); });
  return holder;
}

// Final check of a suite: graceful stop, exit code 0, clean error.log.
export async function stopAndCheckLog(env, extra = []) {
  terminateAllWs();
  destroyRawSockets();
  const r = await env.nginx.stop(15000);
  const bad = env.nginx.badLogLines(extra);
  assert.deepEqual(bad, [], `error.log has alert/emerg/crash lines:\n${bad.join('\n')}`);
  assert.ok(r && !r.killed, 'nginx needed SIGKILL to stop');
  assert.equal(r.code, 0, `nginx exited with ${JSON.stringify(r)}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
