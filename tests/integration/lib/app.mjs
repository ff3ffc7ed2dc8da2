// The Express app whose sessions nginx authenticates: express-session +
// connect-redis v7 + node-redis v4, in this test process, on a loopback port.
// Tests log in over HTTP and take the `connect.sid` cookie from Set-Cookie,
// exactly like a browser.
import express from 'express';
import session from 'express-session';
import RedisStore from 'connect-redis';
import { createClient } from 'redis';
import crypto from 'node:crypto';

// opts: { redis: RedisServer, database, secret ('keyboard cat' or an array:
//   the first signs), prefix ('sess:'), cookieName ('connect.sid'), maxAgeMs,
//   unixSocket (connect through redis.socketPath) }
export async function startApp(opts = {}) {
  const { redis } = opts;
  const client = createClient({
    socket: opts.unixSocket
      ? { path: redis.socketPath, reconnectStrategy: (n) => Math.min(50 * n, 500) }
      : { host: '127.0.0.1', port: redis.port, reconnectStrategy: (n) => Math.min(50 * n, 500) },
    database: opts.database || 0,
    username: redis.opts.user ? redis.opts.user.name : undefined,
    password: redis.opts.user ? redis.opts.user.password : redis.opts.password,
  });
  client.on('error', () => {});
  await client.connect();

  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(express.json());
  app.use(session({
    store: new RedisStore({ client, prefix: opts.prefix ?? 'sess:' }),
    secret: opts.secret ?? 'keyboard cat',
    name: opts.cookieName ?? 'connect.sid',
    resave: false,
    saveUninitialized: false,
    cookie: opts.maxAgeMs ? { maxAge: opts.maxAgeMs } : {},
  }));
  const userOf = (req) => {
    const u = (req.body && req.body.user) ?? req.query.user ?? 'u123';
    return (req.query.int || (req.body && req.body.int)) ? Number(u) : String(u);
  };
  app.post('/login', (req, res) => {
    req.session.userId = userOf(req);
    req.session.save((err) => (err ? res.status(500).end(String(err)) : res.json({ ok: true, sid: req.sessionID })));
  });
  app.post('/login-passport', (req, res) => {
    req.session.passport = { user: userOf(req) };
    req.session.save((err) => (err ? res.status(500).end(String(err)) : res.json({ ok: true, sid: req.sessionID })));
  });
  // A session with no user id in it (e.g. a cart before login).
  app.post('/visit', (req, res) => {
    req.session.visited = true;
    req.session.save((err) => (err ? res.status(500).end(String(err)) : res.json({ ok: true, sid: req.sessionID })));
  });
  app.post('/logout', (req, res) => {
    req.session.destroy((err) => (err ? res.status(500).end(String(err)) : res.json({ ok: true })));
  });
  app.get('/me', (req, res) => res.json({ userId: req.session.userId ?? null }));

  const server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  const port = server.address().port;
  const base = `http://127.0.0.1:${port}`;
  let closed = false;

  async function post(path, cookie) {
    const res = await fetch(base + path, { method: 'POST', headers: cookie ? { cookie } : {} });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`POST ${path} -> ${res.status} ${body}`);
    const setCookie = res.headers.getSetCookie();
    const name = opts.cookieName ?? 'connect.sid';
    const c = setCookie.map((h) => h.split(';')[0]).find((kv) => kv.startsWith(name + '='));
    return { cookie: c, json: JSON.parse(body), setCookie };
  }

  return {
    port, base, client,
    // -> { cookie: 'connect.sid=s%3A...', sid }
    async login(user = 'u123', { passport = false, int = false } = {}) {
      const q = `?user=${encodeURIComponent(user)}${int ? '&int=1' : ''}`;
      const r = await post((passport ? '/login-passport' : '/login') + q);
      if (!r.cookie) throw new Error(`login gave no cookie: ${JSON.stringify(r.setCookie)}`);
      return { cookie: r.cookie, sid: r.json.sid };
    },
    async visit() {
      const r = await post('/visit');
      return { cookie: r.cookie, sid: r.json.sid };
    },
    async logout(cookie) { await post('/logout', cookie); },
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
      try { await client.disconnect(); } catch { /* */ }
    },
  };
}

// express-session's cookie value for a sid: 's:' + sid + '.' + base64(HMAC-SHA256(sid)) without '='.
export function signSid(sid, secret = 'keyboard cat') {
  const sig = crypto.createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '');
  return `s:${sid}.${sig}`;
}

export function cookieFor(sid, secret = 'keyboard cat', name = 'connect.sid') {
  return `${name}=${encodeURIComponent(signSid(sid, secret))}`;
}
