// The demo's publisher: a backend that PUBLISHes portfolio events (SPEC
// section 4) for every user who has a session, the same mix scripts/demo
// sends: a position_update per tick, a burst of updates plus an
// account_update every 5th tick (coalesced into one batch frame), an
// order_update and a trade_executed every 7th. Every event carries "ts" so
// the stats and the demo page show latency.
//
// Environment: REDIS_URL (redis://redis:6379), CHANNEL_PREFIX
// (portfolio:user:), SESSION_PREFIX (sess:), USERS (extra user ids that
// always get events, space separated; default demo-user), INTERVAL_MS (700).
import { createClient } from 'redis';

const env = (k, d) => (process.env[k] === undefined || process.env[k] === '' ? d : process.env[k]);
const channelPrefix = env('CHANNEL_PREFIX', 'portfolio:user:');
const sessionPrefix = env('SESSION_PREFIX', 'sess:');
const fixedUsers = env('USERS', 'demo-user').split(/\s+/).filter(Boolean);
const intervalMs = Number(env('INTERVAL_MS', '700'));

const client = createClient({
  url: env('REDIS_URL', 'redis://redis:6379'),
  socket: { reconnectStrategy: (n) => Math.min(100 * n, 2000) },
});
client.on('error', (e) => console.error(`publisher: redis: ${e.message}`));
await client.connect();

const rnd = (n) => Math.floor(Math.random() * n);
const symbols = ['AAPL', 'MSFT', 'TSLA', 'NVDA'];
const avgPrice = { AAPL: 170, MSFT: 400, TSLA: 250, NVDA: 300 }; // the page shows P&L

// user ids of the live sessions (the field nginx reads: userId, or passport.user)
let users = new Set(fixedUsers);
async function refreshUsers() {
  const found = new Set(fixedUsers);
  for await (const key of client.scanIterator({ MATCH: `${sessionPrefix}*`, COUNT: 200 })) {
    try {
      const s = JSON.parse(await client.get(key));
      const id = s.userId ?? (s.passport && s.passport.user);
      if (id !== undefined && id !== null) found.add(String(id));
    } catch { /* not a session */ }
  }
  users = found;
}

let n = 0;
async function tick() {
  n += 1;
  if (n % 3 === 1) await refreshUsers();
  const price = `${rnd(400) + 100}.${rnd(100)}`;
  for (const user of users) {
    const ch = channelPrefix + user;
    const pub = (ev) => client.publish(ch, JSON.stringify({ ...ev, ts: Date.now() }));
    const s = symbols[rnd(4)];
    await pub({ type: 'position_update', key: s, data: { symbol: s, quantity: rnd(500) + 1, price: Number(price), avgPrice: avgPrice[s] } });
    if (n % 5 === 0) {
      for (const b of ['AAPL', 'AAPL', 'MSFT', 'AAPL']) {
        await pub({ type: 'position_update', key: b, data: { symbol: b, quantity: rnd(500) + 1 } });
      }
      await pub({ type: 'account_update', data: { cash: rnd(100000), equity: rnd(500000) } });
    }
    if (n % 7 === 0) {
      const fill = { orderId: `ord-${n}`, symbol: s, side: 'buy', quantity: (n % 50) + 1, price: Number(price) };
      await pub({ type: 'order_update', data: { ...fill, status: 'filled' } });
      await pub({ type: 'trade_executed', data: fill });
    }
  }
}

console.log(`publisher: every ${intervalMs} ms to ${channelPrefix}<user> for ${[...users].join(', ')} and every user with a session`);
let timer = null;
const loop = async () => {
  try {
    await tick();
  } catch (e) {
    console.error(`publisher: ${e.message}`);
  }
  timer = setTimeout(loop, intervalMs);
};
loop();
const stop = () => {
  clearTimeout(timer);
  client.quit().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
