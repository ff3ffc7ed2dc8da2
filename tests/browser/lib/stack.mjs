// The real stack the browser end-to-end tests run against, and a Chromium page on it:
// redis-server + the Express app whose express-session cookie the browser carries + stock nginx
// with the built module, which also serves the Vite build of client/demo (the demo and stats
// pages) at /demo/, a portfolio snapshot at /api/portfolio (a file this process keeps equal to
// what it published, like a backend would) and /api/me (proxied to the app: the demo's
// checkSession). Debian's Chromium is driven by playwright-core (tests/integration devDependency).
//
// A new test file (tests/browser/e2e/<name>.test.mjs, registered by the glob in CMakeLists.txt):
//   import { requireBrowser, startStack } from '../lib/stack.mjs';
//   await requireBrowser();                       // exits 77 (skipped) without Chromium/playwright/vite
//   const { describe, it, before, after } = await import('node:test');
//   describe('…', () => {
//     let s;
//     before(async () => { s = await startStack({ name: '<name>' }); await s.openPage(); });
//     after(async () => { await s.stop(); });
//     it('…', async () => { await s.publish({ type: 'position_update', key: 'AAPL', data: {...} }); await s.shot('state'); });
//   });
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { ensureDemoBuild } from './build-demo.mjs';

export const CHROMIUM = process.env.PS_CHROMIUM || '/usr/bin/chromium';
export const CHROME_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const STATS_PATH = '/api/admin/websocket-stats';

let chromium = null;
let lib = null;

/**
 * Chromium, playwright-core and the demo build must be there, else the test is skipped (exit 77).
 * Loads the integration test library (nginx, redis-server, the Express app).
 */
export async function requireBrowser() {
  const skip = (why) => { console.log(`SKIP: ${why}`); process.exit(77); };
  if (!fs.existsSync(CHROMIUM)) skip(`${CHROMIUM} not found (Debian: apt-get install chromium)`);
  try {
    ({ chromium } = createRequire(new URL('../../integration/package.json', import.meta.url))('playwright-core'));
  } catch (e) {
    skip(`playwright-core is not installed (npm ci --prefix tests/integration): ${e.message}`);
  }
  const [redis, app, nginx, procs, env, raw, ws] = await Promise.all([
    import('../../integration/lib/redis.mjs'), import('../../integration/lib/app.mjs'), import('../../integration/lib/nginx.mjs'),
    import('../../integration/lib/procs.mjs'), import('../../integration/lib/env.mjs'), import('../../integration/lib/raw.mjs'),
    import('../../integration/lib/wsclient.mjs'),
  ]);
  lib = { ...redis, ...app, ...nginx, ...procs, ...env, ...raw, ...ws };
  const www = wwwDir();
  const r = ensureDemoBuild(www);
  if (!r.ok) {
    if (r.skip) skip(r.reason);
    throw new Error(r.reason);
  }
  return { chromium, lib };
}

/** Where screenshots go: PS_BROWSER_OUT (ctest: <build>/browser), else <dir of the module>/browser. */
export function outRoot() {
  return process.env.PS_BROWSER_OUT || path.join(path.dirname(lib ? lib.MODULE_PATH : '/tmp/x'), 'browser');
}
export function wwwDir() { return process.env.PS_BROWSER_WWW || path.join(outRoot(), 'www'); }

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The portfolio a backend would return for the events published so far. */
class Truth {
  constructor() { this.positions = {}; this.account = null; this.orders = []; this.trades = []; }
  apply(ev) {
    const d = ev.data || {};
    if (ev.type === 'position_update') {
      const k = ev.key ?? d.symbol;
      if (k !== undefined) this.positions[k] = { ...(this.positions[k] || {}), ...d, symbol: k };
    } else if (ev.type === 'account_update') {
      this.account = { ...(this.account || {}), ...d };
    } else if (ev.type === 'order_update') {
      const id = d.orderId ?? d.id;
      const i = this.orders.findIndex((o) => (o.orderId ?? o.id) === id);
      if (i >= 0) this.orders[i] = { ...this.orders[i], ...d }; else this.orders.unshift({ ...d });
    } else if (ev.type === 'trade_executed') {
      this.trades.unshift({ ...d });
      this.trades.length = Math.min(this.trades.length, 50);
    }
  }
  toJSON() { return { positions: Object.values(this.positions), account: this.account, orders: this.orders, trades: this.trades }; }
}

/**
 * Starts redis-server, the Express app and nginx; logs a user in.
 * opts: name (screenshot folder), nginx: { location: [...lines in the WebSocket location], http, main, workers }
 */
export async function startStack(opts = {}) {
  if (!lib) throw new Error('call requireBrowser() first');
  const s = new Stack(opts);
  try { await s.start(); } catch (e) { await s.stop().catch(() => {}); throw e; }
  return s;
}

class Stack {
  constructor(opts) {
    this.opts = opts;
    this.name = opts.name || 'e2e';
    this.outDir = path.join(outRoot(), this.name);
    this.env = { redis: null, app: null, nginx: null };
    this.truth = new Truth();
    this.shots = [];
    this.handshakes = [];
    this.sockets = [];
    this.frames = [];
    this.consoleErrors = [];
    this.ctx = null;
    this.page = null;
  }

  async start() {
    fs.mkdirSync(this.outDir, { recursive: true });
    for (const f of fs.readdirSync(this.outDir)) if (f.endsWith('.png')) fs.rmSync(path.join(this.outDir, f));  // a previous run's
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-browser-'));
    fs.chmodSync(this.dataDir, 0o755);
    lib.registerDir(this.dataDir);
    this.snapshotFile = path.join(this.dataDir, 'portfolio.json');
    this.writeSnapshot();
    const env = this.env;
    env.redis = new lib.RedisServer(this.opts.redis || {});
    await env.redis.start();
    env.app = await lib.startApp({ redis: env.redis });
    const n = this.opts.nginx || {};
    const www = wwwDir();
    env.nginx = new lib.Nginx({
      redis: `127.0.0.1:${env.redis.port} connect_timeout=1s`,
      stats: true,
      workers: n.workers || 1,
      main: n.main,
      http: n.http,
      location: n.location || [],
      locations: [
        `location /demo/ {
            alias ${www}/;
            types { text/html html; text/css css; text/javascript js; application/json json map; }
            default_type application/octet-stream;
            add_header Cache-Control no-store;
        }`,
        'location = /demo/login { default_type text/plain; return 200 "the log-in page\\n"; }',
        `location = /api/portfolio {
            alias ${this.snapshotFile};
            default_type application/json;
            add_header Cache-Control no-store;
        }`,
        `location = /api/me { proxy_pass http://127.0.0.1:${env.app.port}/me; }`,
        ...(n.locations || []),
      ],
    });
    await env.nginx.start();
    this.base = env.nginx.httpBase;
    this.user = lib.uniqueUser('web');
    const login = await env.app.login(this.user);
    this.sid = login.sid;
    this.cookie = login.cookie;
  }

  /** Writes the snapshot file from what was published (atomically: nginx may be reading it). */
  writeSnapshot(obj = this.truth.toJSON()) {
    const tmp = `${this.snapshotFile}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(obj));
    fs.renameSync(tmp, this.snapshotFile);
  }

  channel() { return `portfolio:user:${this.user}`; }

  /** PUBLISHes an event to the user (with a `ts`), and updates the snapshot accordingly. */
  async publish(ev) {
    const e = { ts: Date.now(), ...ev };
    this.truth.apply(e);
    this.writeSnapshot();
    await this.env.redis.publish(this.channel(), JSON.stringify(e));
    return e;
  }

  /** SPEC §8: publishes through the history function; returns the offset Redis gave. */
  async publishWithHistory(ev) {
    const e = { ts: Date.now(), ...ev };
    this.truth.apply(e);
    this.writeSnapshot();
    const c = await this.redisClient();
    return c.sendCommand(['FCALL', 'portfolio_stream_publish', '1', this.channel(), JSON.stringify(e)]);
  }

  async redisClient() {
    if (!this._redis) this._redis = await this.env.redis.client();
    return this._redis;
  }

  async stats() { return (await fetch(`${this.base}${STATS_PATH}`)).json(); }

  /** A raw handshake to the WebSocket location (tests/integration/lib/raw.mjs options): {status, headers}. */
  handshake(o = {}) { return lib.handshake(this.env.nginx.port, { cookie: this.cookie, ...o }); }

  /** A node WebSocket client logged in as `user` (default: the stack's user), `connected` received. */
  async connectNode(user = this.user) {
    const cookie = user === this.user ? this.cookie : (await this.env.app.login(user)).cookie;
    return lib.connectUser(this.env.nginx.port, cookie);
  }

  /**
   * Chromium with a fresh profile and the session cookie; opens `url` (default the demo page).
   * opts.fixedTime: the page's Date is fixed at this wall-clock ms (Playwright's clock) before
   * anything runs; setTime() moves it. Timers and performance.now() keep real time.
   */
  async openPage(url = '/demo/', { fixedTime, viewport = { width: 1280, height: 860 } } = {}) {
    this.profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-chromium-'));
    lib.registerDir(this.profile);
    this.ctx = await chromium.launchPersistentContext(this.profile, {
      executablePath: CHROMIUM, headless: true, args: CHROME_ARGS, viewport, timeout: 30000,
    });
    const [name, value] = this.cookie.split(/=(.*)/s);
    await this.ctx.addCookies([{ name, value, url: this.base, httpOnly: true, sameSite: 'Lax' }]);
    const page = this.ctx.pages()[0] || (await this.ctx.newPage());
    this.page = page;
    page.on('console', (m) => { if (m.type() === 'error') this.consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => this.consoleErrors.push(String(e)));
    page.on('websocket', (ws) => {
      this.sockets.push(ws);
      ws.on('framereceived', (f) => this.frames.push(String(f.payload)));
    });
    const cdp = await this.ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => this.handshakes.push(e.response));
    if (fixedTime !== undefined) await this.setTime(fixedTime);
    await page.goto(`${this.base}${url}`);
    return page;
  }

  /** The page's wall clock (Date) from now on; see openPage. */
  async setTime(ms) {
    this.now = ms;
    await this.page.clock.setFixedTime(ms);
  }

  /** A screenshot under <out>/<name>/NN-<label>.png; returns its path. */
  async shot(label, { fullPage = false } = {}) {
    const file = path.join(this.outDir, `${String(this.shots.length + 1).padStart(2, '0')}-${label}.png`);
    await this.page.screenshot({ path: file, fullPage });
    this.shots.push(file);
    console.log(`screenshot: ${file}`);
    return file;
  }

  /** Console errors other than refused WebSockets and failed fetches while a server was down on purpose. */
  unexpectedConsoleErrors(extra = []) {
    return this.consoleErrors.filter((e) => ![/WebSocket connection to .* failed/, /Failed to load resource/, /ERR_CONNECTION_REFUSED/, ...extra].some((re) => re.test(e)));
  }

  /** The browser first (a preconnected socket would hold a worker until its timeout), then the servers. */
  async closeBrowser() {
    if (this.ctx) await this.ctx.close().catch(() => {});
    this.ctx = null;
    if (this.profile) { fs.rmSync(this.profile, { recursive: true, force: true }); lib.unregisterDir(this.profile); this.profile = null; }
  }

  /** Graceful nginx stop with a clean error.log and exit code 0 (the last test of a file). */
  async stopAndCheckLog() {
    await this.closeBrowser();
    await lib.stopAndCheckLog(this.env);
  }

  async stop() {
    await this.closeBrowser();
    this._redis = null;  // closed by RedisServer.destroy()
    await lib.stopEnv(this.env);
    if (this.dataDir) { fs.rmSync(this.dataDir, { recursive: true, force: true }); lib.unregisterDir(this.dataDir); this.dataDir = null; }
  }
}

/** Computed style properties of the first element matching `selector` (null when none). */
export async function styleOf(page, selector, props) {
  return page.evaluate(([sel, ps]) => {
    const el = document.querySelector(sel);
    if (!el) return null;
    const cs = getComputedStyle(el);
    return Object.fromEntries(ps.map((p) => [p, cs.getPropertyValue(p)]));
  }, [selector, props]);
}

/** The colours the components use (styles.css), as getComputedStyle reports them. */
export const COLORS = {
  green: 'rgb(22, 163, 74)',
  yellow: 'rgb(234, 179, 8)',
  red: 'rgb(220, 38, 38)',
  bannerYellow: 'rgb(253, 224, 71)',
};
