// The admin stats page: polls the stats location (SPEC §5, GET /api/admin/websocket-stats) and
// shows it as a person would rather read it: connections and users against the limits, events
// received / delivered / coalesced as rates with a chart of the last minutes, batch efficiency,
// latency p50/p99, rejections by reason, Redis state. Counters become rates from the difference
// of two polls (a counter that went down, e.g. after a restart, counts as a new start).
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { config } from './config.js';
import './demo.css';
import './stats.css';

const WINDOW_MS = 5 * 60 * 1000;
const SERIES = [
  { key: 'received', label: 'received', color: '#60a5fa' },
  { key: 'delivered', label: 'delivered', color: '#22c55e' },
  { key: 'coalesced', label: 'coalesced', color: '#eab308' },
];
const REASONS = {
  badHandshake: 'bad handshake (400/426)', forbiddenOrigin: 'forbidden Origin (403)', unauthorized: 'unauthorized (401)',
  perUserLimit: 'per-user limit (429)', globalLimit: 'global limit (503)', disabled: 'feature off (503)', redisUnavailable: 'Redis unavailable (503)',
};

const fmtInt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '–');
const fmtRate = (r) => (r == null ? '–' : r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2));
const fmtMs = (v) => (typeof v !== 'number' ? '–' : v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);
const fmtBytes = (b) => (b == null ? '–' : b >= 1048576 ? `${(b / 1048576).toFixed(1)} MB` : b >= 1024 ? `${(b / 1024).toFixed(1)} kB` : `${Math.round(b)} B`);
function fmtDuration(s) {
  if (typeof s !== 'number') return '–';
  const d = Math.floor(s / 86400); const h = Math.floor((s % 86400) / 3600); const m = Math.floor((s % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : m ? `${m} min ${Math.floor(s % 60)} s` : `${Math.floor(s)} s`;
}

/** Rates per second between two polls. */
export function ratesBetween(a, b) {
  const dt = (b.t - a.t) / 1000;
  if (!(dt > 0)) return null;
  const d = (x, y) => Math.max(0, (y ?? 0) - (x ?? 0)) / dt;
  return {
    t: b.t,
    received: d(a.s.events?.received, b.s.events?.received),
    delivered: d(a.s.events?.delivered, b.s.events?.delivered),
    coalesced: d(a.s.events?.coalesced, b.s.events?.coalesced),
    invalid: d(a.s.events?.invalid, b.s.events?.invalid),
    frames: d(a.s.frames?.sent, b.s.frames?.sent),
    bytes: d(a.s.frames?.bytesSent, b.s.frames?.bytesSent),
  };
}

function useStats() {
  const [view, setView] = useState({ stats: null, rates: [], error: null, at: 0 });
  useEffect(() => {
    let stop = false;
    let prev = null;
    let timer;
    const poll = async () => {
      const t = performance.now();
      try {
        const r = await fetch(config.statsUrl, { cache: 'no-store', headers: { accept: 'application/json' } });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const s = await r.json();
        if (stop) return;
        const sample = { t, s };
        const rate = prev ? ratesBetween(prev, sample) : null;
        prev = sample;
        setView((v) => ({
          stats: s, error: null, at: Date.now(),
          rates: rate ? [...v.rates, rate].filter((x) => x.t >= t - WINDOW_MS) : v.rates,
        }));
      } catch (e) {
        if (!stop) setView((v) => ({ ...v, error: String(e.message || e) }));
      }
      if (!stop) timer = setTimeout(poll, config.statsIntervalMs);
    };
    poll();
    return () => { stop = true; clearTimeout(timer); };
  }, []);
  return view;
}

function Chart({ rates }) {
  const W = 1200; const H = 220; const P = 40;
  const now = rates.length ? rates.at(-1).t : 0;
  const max = Math.max(1, ...rates.flatMap((r) => SERIES.map((s) => r[s.key])));
  const top = niceCeil(max);
  const x = (t) => P + ((t - (now - WINDOW_MS)) / WINDOW_MS) * (W - P - 8);
  const y = (v) => H - 18 - (v / top) * (H - 30);
  return (
    <svg className="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label="events per second over the last 5 minutes">
      {[0, 0.5, 1].map((f) => (
        <g key={f}>
          <line x1={P} x2={W - 8} y1={y(top * f)} y2={y(top * f)} className="grid" />
          <text x={P - 4} y={y(top * f) + 4} className="axis" textAnchor="end">{fmtRate(top * f)}</text>
        </g>
      ))}
      <text x={P} y={H - 2} className="axis">−5 min</text>
      <text x={W - 8} y={H - 2} className="axis" textAnchor="end">now</text>
      {SERIES.map((s) => (
        <polyline key={s.key} data-series={s.key} data-points={rates.length} fill="none" stroke={s.color} strokeWidth="2"
          points={rates.map((r) => `${x(r.t).toFixed(1)},${y(r[s.key]).toFixed(1)}`).join(' ')} />
      ))}
    </svg>
  );
}
function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((c) => c >= v);
}

function Tile({ id, label, value, sub, tone }) {
  return (
    <div className={`tile ${tone ? `tone-${tone}` : ''}`}>
      <div className="label">{label}</div>
      <div className="value" id={id}>{value}</div>
      {sub && <div className="sub">{sub}</div>}
    </div>
  );
}

function StatsPage() {
  const { stats: s, rates, error, at } = useStats();
  const last = rates.at(-1);
  const status = error ? 'unreachable' : s ? s.status : 'loading';
  const rej = (s && s.rejected) || {};
  const rejTotal = Object.values(rej).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0);
  return (
    <div className="stats-page">
      <header className="top">
        <h1>portfolio-stream <span className="dim">admin stats</span></h1>
        <div className="figures">
          <span id="status" className={`pill status-${status}`} data-status={status}>{status}</span>
          <span className="fig"><span className="label">updated</span> <b id="updated">{at ? new Date(at).toTimeString().slice(0, 8) : '–'}</b></span>
          <span className="fig"><span className="label">uptime</span> <b id="uptime">{fmtDuration(s?.uptimeSeconds)}</b></span>
          <a className="fig link" href="./">demo page</a>
        </div>
      </header>
      {error && <div className="banner-error" role="alert">Stats unavailable: {error}. Showing the last values.</div>}
      <section className="tiles">
        <Tile id="connections" label="connections" value={fmtInt(s?.activeConnections)} sub={s?.limits ? `of ${fmtInt(s.limits.maxConnections)} max` : null} />
        <Tile id="users" label="users" value={fmtInt(s?.activeUsers)} sub={s?.limits ? `${fmtInt(s.limits.maxConnectionsPerUser)} connections each at most` : null} />
        <Tile id="batch-efficiency" label="batch efficiency" value={s?.batchEfficiency ?? '–'} sub="frames saved by batching" />
        <Tile id="latency-p50" label="latency p50" value={fmtMs(s?.latencyMs?.p50)} sub={<>p99 <b id="latency-p99">{fmtMs(s?.latencyMs?.p99)}</b> · max <b id="latency-max">{fmtMs(s?.latencyMs?.max)}</b></>} />
        <Tile id="disconnect-rate" label="disconnects / min" value={s?.performance?.disconnectRatePerMinute ?? '–'} sub={`avg connection ${fmtDuration(s?.performance?.avgConnectionDurationSeconds)}`} />
        <Tile id="redis-state" label="Redis" value={s ? (s.redis?.connected ? 'connected' : 'disconnected') : '–'} tone={s ? (s.redis?.connected ? 'good' : 'bad') : null}
          sub={<>reconnects <b id="redis-reconnects">{fmtInt(s?.redis?.reconnects)}</b> · subscriptions <b id="redis-subscriptions">{fmtInt(s?.redis?.subscriptions)}</b></>} />
      </section>
      <section className="card chart-card">
        <h2>Events per second <span className="dim">(last 5 minutes)</span></h2>
        <div className="legend">
          {SERIES.map((x) => (
            <span key={x.key} className="legend-item"><i style={{ background: x.color }} /> {x.label} <b id={`rate-${x.key}`}>{fmtRate(last?.[x.key])}</b>/s</span>
          ))}
          <span className="legend-item dim">frames <b id="rate-frames">{fmtRate(last?.frames)}</b>/s · <b id="rate-bytes">{fmtBytes(last?.bytes)}</b>/s</span>
        </div>
        <Chart rates={rates} />
      </section>
      <section className="grid2">
        <div className="card">
          <h2>Rejected handshakes <span className="dim">(since start: {fmtInt(rejTotal)})</span></h2>
          <table id="rejected">
            <tbody>
              {Object.keys(REASONS).map((k) => (
                <tr key={k} data-reason={k} className={rej[k] ? 'nonzero' : ''}><td>{REASONS[k]}</td><td className="num count">{fmtInt(rej[k] ?? 0)}</td></tr>
              ))}
            </tbody>
          </table>
        </div>
        <div className="card">
          <h2>Totals</h2>
          <table id="totals">
            <tbody>
              <tr><td>events received</td><td className="num" id="total-received">{fmtInt(s?.events?.received)}</td></tr>
              <tr><td>events delivered</td><td className="num" id="total-delivered">{fmtInt(s?.events?.delivered)}</td></tr>
              <tr><td>events coalesced</td><td className="num">{fmtInt(s?.events?.coalesced)}</td></tr>
              <tr><td>events invalid (dropped)</td><td className="num" id="total-invalid">{fmtInt(s?.events?.invalid)}</td></tr>
              <tr><td>frames sent</td><td className="num">{fmtInt(s?.frames?.sent)} ({fmtBytes(s?.frames?.bytesSent)})</td></tr>
              <tr><td>connections accepted / closed</td><td className="num">{fmtInt(s?.connections?.accepted)} / {fmtInt(s?.connections?.closed)}</td></tr>
              <tr><td>slow consumers dropped</td><td className="num" id="slow-drops">{fmtInt(s?.connections?.slowConsumerDrops)}</td></tr>
              {s?.history && <tr><td>history: replayed / recovered / not recovered</td><td className="num" id="history">{fmtInt(s.history.replayed)} / {fmtInt(s.history.recovered)} / {fmtInt(s.history.notRecovered)}</td></tr>}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}

createRoot(document.getElementById('root')).render(<StrictMode><StatsPage /></StrictMode>);
