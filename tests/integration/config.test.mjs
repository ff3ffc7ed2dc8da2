// Directive parsing (nginx -t) and the ENABLE_REALTIME_PORTFOLIO feature flag.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser } from './lib/env.mjs';
import { Nginx } from './lib/nginx.mjs';

describe('nginx -t', () => {
  const n = new Nginx();
  after(() => n.destroy());
  const t = (o) => n.test({ redis: '127.0.0.1:6379', ...o });

  it('accepts every directive of SPEC §1 in its context', async () => {
    const r = await t({
      redis: '127.0.0.1:6379 db=3 password=pw username=u connect_timeout=500ms',
      stats: true,
      http: [
        'portfolio_stream_zone 2m;', 'portfolio_stream_max_connections 1000;', 'portfolio_stream_max_connections_per_user 3;',
        'portfolio_stream_session_cookie connect.sid;', "portfolio_stream_session_secret 'a';", "portfolio_stream_session_secret 'b';",
        'portfolio_stream_session_prefix sess:;', 'portfolio_stream_session_user_field passport.user;', 'portfolio_stream_session_recheck 0;',
        'portfolio_stream_channel_prefix portfolio:user:;', 'portfolio_stream_broadcast_channel portfolio:all;', 'portfolio_stream_batch_window 0;',
        'portfolio_stream_heartbeat 30s;', 'portfolio_stream_allowed_origins https://a.example https://b.example;', 'portfolio_stream_max_message_size 16k;',
        'portfolio_stream_max_event_size 1m;', 'portfolio_stream_send_limit 2m;',
      ],
      server: ['portfolio_stream_max_connections_per_user 4;', 'portfolio_stream_heartbeat 10s;', 'portfolio_stream_allowed_origins *;'],
      location: ['portfolio_stream_batch_window 100ms;', 'portfolio_stream_session_recheck 30s;', 'portfolio_stream_send_limit 512k;'],
    });
    assert.ok(r.ok, r.output);
    assert.ok(!/\[emerg\]|\[alert\]/.test(r.output), r.output);
  });

  it('accepts unix:/path', async () => {
    const r = await t({ redis: 'unix:/run/redis/redis.sock db=1' });
    assert.ok(r.ok, r.output);
  });

  for (const [name, o] of Object.entries({
    'redis bad option': { redis: '127.0.0.1:6379 bogus=1' },
    'redis bad db': { redis: '127.0.0.1:6379 db=x' },
    'portfolio_stream bad value': { location: ['portfolio_stream maybe;'] },
    'batch_window bad time': { location: ['portfolio_stream_batch_window soon;'] },
    'max_connections not a number': { http: ['portfolio_stream_max_connections many;'] },
    'max_event_size in location': { location: ['portfolio_stream_max_event_size 1k;'] },
    'portfolio_stream_redis in server': { server: ['portfolio_stream_redis 127.0.0.1:6379;'] },
    'portfolio_stream in http': { http: ['portfolio_stream on;'] },
    'message size bad': { location: ['portfolio_stream_max_message_size big;'] },
  })) {
    it(`rejects: ${name}`, async () => {
      const r = await t(o);
      assert.ok(!r.ok, `nginx -t accepted it:\n${r.output}`);
      assert.match(r.output, /\[emerg\]/);
      assert.doesNotMatch(r.output, /signal|core dumped/);
    });
  }
});

describe('ENABLE_REALTIME_PORTFOLIO feature flag', () => {
  const env = useEnv({ nginx: { main: ['env ENABLE_REALTIME_PORTFOLIO;'], env: { ENABLE_REALTIME_PORTFOLIO: 'false' }, stats: true } });

  it('false at start -> 503 (and stats status disabled)', async () => {
    const { cookie } = await env.login(uniqueUser());
    assert.equal((await env.handshake({ cookie })).status, 503);
    const s = await fetch(`${env.nginx.httpBase}/api/admin/websocket-stats`).then((r) => r.json());
    assert.equal(s.status, 'disabled');
  });

  it('true from the next reload -> 101; 0 and off -> 503', async () => {
    const base = env.nginx.opts;
    const { cookie } = await env.login(uniqueUser());
    for (const [v, want] of [['true', 101], ['0', 503], ['1', 101], ['off', 503]]) {
      await env.nginx.reload({ ...base, main: [`env ENABLE_REALTIME_PORTFOLIO=${v};`] });
      const r = await env.handshake({ cookie });
      assert.equal(r.status, want, `ENABLE_REALTIME_PORTFOLIO=${v}`);
      if (r.socket) r.socket.destroy();
    }
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
