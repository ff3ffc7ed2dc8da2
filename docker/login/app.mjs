// The demo's login app: express-session + connect-redis, as a trading app's
// own backend would run it. Logging in stores {"userId": ...} under
// sess:<sid> in Redis and sets the signed connect.sid cookie, which the
// browser then sends with its WebSocket handshake to nginx. nginx proxies
// /demo/login, /demo/logout, /login and /logout here (docker/nginx/demo.conf).
//
//   GET  /demo/login            a login form (user name)
//   POST /demo/login, /login    user=<name>: new session, 303 to /demo/ (Set-Cookie)
//   GET|POST /demo/logout, /logout   destroys the session, 303 to /demo/
//   GET  /api/me, /me           {"userId": ...}, 401 without a session (the page's checkSession)
//   GET  /api/portfolio         the portfolio snapshot the demo page loads at start and after a
//                               reconnect that lost events (a real app serves it from its REST API)
//   GET  /healthz               200 once Redis answers
//
// Environment: REDIS_URL (redis://redis:6379), SESSION_SECRET (the secret
// nginx's portfolio_stream_session_secret also has), SESSION_PREFIX (sess:),
// SESSION_COOKIE (connect.sid), SESSION_MAX_AGE_S (28800), LISTEN_HOST
// (0.0.0.0), PORT (3000).
import express from 'express';
import session from 'express-session';
import RedisStore from 'connect-redis';
import { createClient } from 'redis';

const env = (k, d) => (process.env[k] === undefined || process.env[k] === '' ? d : process.env[k]);
const redisUrl = env('REDIS_URL', 'redis://redis:6379');
const secret = env('SESSION_SECRET', 'demo secret: change me');
const cookieName = env('SESSION_COOKIE', 'connect.sid');
const maxAgeMs = Number(env('SESSION_MAX_AGE_S', '28800')) * 1000;
const port = Number(env('PORT', '3000'));
const host = env('LISTEN_HOST', '0.0.0.0');

const client = createClient({
  url: redisUrl,
  socket: { reconnectStrategy: (n) => Math.min(100 * n, 2000) },
});
client.on('error', (e) => console.error(`login: redis: ${e.message}`));
await client.connect();

const app = express();
app.disable('x-powered-by');
app.use(express.urlencoded({ extended: false }));
app.use(session({
  store: new RedisStore({ client, prefix: env('SESSION_PREFIX', 'sess:') }),
  secret,
  name: cookieName,
  resave: false,
  saveUninitialized: false,
  cookie: { httpOnly: true, sameSite: 'lax', path: '/', maxAge: maxAgeMs },
}));

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const validUser = (u) => typeof u === 'string' && /^[A-Za-z0-9_.@-]{1,64}$/.test(u);

app.get(['/demo/login', '/login'], (req, res) => {
  const current = req.session.userId;
  res.set('Cache-Control', 'no-store').type('html').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>portfolio-stream demo: log in</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}
input,button{font-size:1rem;padding:.4rem}</style></head>
<body><h1>portfolio-stream demo</h1>
${current ? `<p>Logged in as <b>${escapeHtml(current)}</b>. <a href="/demo/">Open the demo page</a> or log in as someone else:</p>` : '<p>Log in to get an express-session cookie; the demo page then opens a WebSocket with it.</p>'}
<form method="post" action="/demo/login">
<label>User <input name="user" value="demo-user" pattern="[A-Za-z0-9_.@-]{1,64}" required></label>
<button type="submit">Log in</button></form>
<p><small>The publisher sends events to every user who has a session.</small></p>
</body></html>`);
});

app.post(['/demo/login', '/login'], (req, res, next) => {
  const user = (req.body && req.body.user) || 'demo-user';
  if (!validUser(user)) return res.status(400).type('text').send('user: 1-64 of A-Z a-z 0-9 _ . @ -\n');
  // a new session id at every login (no session fixation)
  req.session.regenerate((err) => {
    if (err) return next(err);
    req.session.userId = user;
    req.session.save((err2) => (err2 ? next(err2) : res.redirect(303, '/demo/')));
  });
});

app.all(['/demo/logout', '/logout'], (req, res, next) => {
  req.session.destroy((err) => {
    if (err) return next(err);
    res.clearCookie(cookieName, { path: '/' }).redirect(303, '/demo/login');
  });
});

app.get(['/api/me', '/me'], (req, res) => {
  res.set('Cache-Control', 'no-store');
  if (req.session.userId === undefined) return res.status(401).json({ userId: null });
  res.json({ userId: req.session.userId });
});

// The same starting point as scripts/demo's; the publisher moves it (avgPrice gives the P&L).
const snapshot = {
  positions: [
    { symbol: 'AAPL', quantity: 100, price: 175, avgPrice: 170 },
    { symbol: 'MSFT', quantity: 50, price: 400, avgPrice: 400 },
  ],
  account: { cash: 25000, equity: 85000, dayPnl: 0 },
};
app.get('/api/portfolio', (req, res) => {
  res.set('Cache-Control', 'no-store');
  if (req.session.userId === undefined) return res.status(401).json({ error: 'not logged in' });
  res.json(snapshot);
});

app.get('/healthz', async (req, res) => {
  try {
    await client.ping();
    res.type('text').send('ok\n');
  } catch (e) {
    res.status(503).type('text').send(`redis: ${e.message}\n`);
  }
});

app.use((err, req, res, next) => {
  console.error(`login: ${err.stack || err}`);
  res.status(500).type('text').send('internal error\n');
});

const server = app.listen(port, host, () => console.log(`login: listening on ${host}:${port}, sessions in ${redisUrl}`));
const stop = () => server.close(() => client.quit().finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
