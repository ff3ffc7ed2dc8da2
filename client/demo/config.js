// The demo's settings, from the page's query string (defaults fit scripts/demo and the tests):
//   url       the WebSocket endpoint      (default ws(s)://<host>/ws/portfolio)
//   snapshot  the portfolio snapshot       (default /api/portfolio; JSON: {positions, account, orders, trades})
//   me        a session check for checkSession (default /api/me; {"userId": ...}; 404 = cannot tell)
//   login     where "Log in again" goes    (default /demo/login)
//   stats     the admin stats location     (default /api/admin/websocket-stats)
//   interval  stats poll interval in ms    (default 1000)
const q = new URLSearchParams(globalThis.location ? location.search : '');

export const config = {
  url: q.get('url') || undefined,
  snapshotUrl: q.get('snapshot') || '/api/portfolio',
  meUrl: q.get('me') || '/api/me',
  loginUrl: q.get('login') || '/demo/login',
  statsUrl: q.get('stats') || '/api/admin/websocket-stats',
  statsIntervalMs: Math.max(200, Number(q.get('interval')) || 1000),
};

/** The app's REST snapshot, as loadSnapshot wants it. */
export async function loadSnapshot() {
  const r = await fetch(config.snapshotUrl, { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r.json();
}

/**
 * Asked by the client before it concludes "signed out" from refused handshakes (browsers hide
 * the 401): true = the session is fine (the refusals were 503s or nginx being down), false = gone.
 * Throws when it cannot tell (no such endpoint, server unreachable): the client keeps retrying.
 */
export async function checkSession() {
  const r = await fetch(config.meUrl, { credentials: 'same-origin', cache: 'no-store' });
  if (r.status === 401 || r.status === 403) return false;
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const me = await r.json();
  return me != null && me.userId != null;
}
