// The demo's screen. Everything trader-facing is the package's: hooks for the data, and
// ConnectionStatus, StreamNotices, StalenessWarning, AnimatedPnL, LiveBadge and FillToasts.
// The rest (channel checkboxes, counters, the connection log) shows what the stream does.
import { useEffect, useRef, useState } from 'react';
import {
  usePortfolioStream, useRealtimePositions, useRealtimeOrders, useRealtimeAccount, useNow,
  ConnectionStatus, StreamNotices, StalenessWarning, AnimatedPnL, LiveBadge, FillToasts,
  formatMoney, formatQuantity,
} from '@portfolio-stream/client/react';
import { CHANNELS } from '@portfolio-stream/client';

const clockTime = (t) => new Date(t).toTimeString().slice(0, 8);
const ms = (v) => (v == null ? '–' : v < 1 ? '< 1 ms' : v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);
const FEED_MAX = 50;

function percentile(arr, p) {
  const s = [...arr].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

/** Latency of events that carry a publisher `ts`: serverNow() − ts, the last 100. */
function useLatencies(stream) {
  const ref = useRef([]);
  useEffect(() => stream.on('event', (ev) => {
    if (typeof ev.ts !== 'number') return;
    ref.current.push(Math.max(0, stream.serverNow() - ev.ts));
    if (ref.current.length > 100) ref.current.shift();
  }), [stream]);
  return ref.current;
}

function Header() {
  const { stream, userId, lastEventAt } = usePortfolioStream();
  const now = useNow();  // re-renders the figures every tick
  const lat = useLatencies(stream);
  const st = stream.stats;
  return (
    <header className="top">
      <h1>Portfolio <span className="dim">live</span></h1>
      <div className="figures">
        <span className="fig"><span className="label">last event</span> <b id="age">{lastEventAt ? `${(Math.max(0, now - lastEventAt) / 1000).toFixed(1)} s ago` : '–'}</b></span>
        <span className="fig"><span className="label">latency</span> <b id="latency">{lat.length ? `${ms(lat.at(-1))} (p50 ${ms(percentile(lat, 0.5))})` : '–'}</b></span>
        <span className="fig"><span className="label">rtt</span> <b id="rtt">{ms(st.rttMs)}</b></span>
        <span className="fig"><span className="label">user</span> <b id="user">{userId ?? '–'}</b></span>
        <a className="fig link" href="./stats.html">admin stats</a>
        <ConnectionStatus id="connection" />
      </div>
    </header>
  );
}

function Controls() {
  const { stream } = usePortfolioStream();
  useNow();
  const [wanted, setWanted] = useState(() => stream.channels);
  useEffect(() => stream.on('message', (m) => { if (m.type === 'connected') setWanted(stream.channels); }), [stream]);
  const toggle = (ch, on) => {
    if (on) stream.subscribe([ch]); else stream.unsubscribe([ch]);
    setWanted(stream.channels);
  };
  const st = stream.stats;
  return (
    <nav className="controls">
      <fieldset id="channels">
        <legend>Channels</legend>
        {CHANNELS.map((ch) => (
          <label key={ch}><input type="checkbox" value={ch} checked={wanted.includes(ch)} onChange={(e) => toggle(ch, e.target.checked)} /> {ch}</label>
        ))}
      </fieldset>
      <div className="counters">
        events <b id="events-count">{st.events}</b> · batches <b id="batches-count">{st.batches}</b> ·
        reconnects <b id="reconnects-count">{st.reconnects}</b> · window <b id="window">{stream.server.batchWindowMs == null ? '–' : `${stream.server.batchWindowMs} ms`}</b> ·
        heartbeat <b id="heartbeat">{stream.stats.connects ? `${stream.server.heartbeatMs / 1000} s` : '–'}</b> ·
        {' '}<span id="extensions" className="dim">{stream.stats.connects ? stream.stats.extensions || 'no extensions' : '–'}</span>
      </div>
    </nav>
  );
}

function Positions() {
  const { positions } = useRealtimePositions();
  return (
    <section className="card positions">
      <h2>Positions</h2>
      <table id="positions">
        <thead>
          <tr><th>Symbol</th><th className="num">Quantity</th><th className="num">Price</th><th className="num">Value</th>
            <th className="num">P&amp;L</th><th className="num">Updated</th><th>Data</th></tr>
        </thead>
        <tbody>
          {positions.length === 0 && <tr className="empty"><td colSpan={7}>no positions yet</td></tr>}
          {positions.map((p) => (
            <tr key={p.symbol} data-symbol={p.symbol}>
              <td className="sym">{p.symbol}</td>
              <td className="num qty">{formatQuantity(p.quantity)}</td>
              <td className="num price">{p.price == null ? '–' : formatMoney(p.price, p.currency).replace('$', '')}</td>
              <td className="num value">{p.marketValue == null ? '–' : formatMoney(p.marketValue, p.currency).replace('$', '')}</td>
              <td className="num pnl">{p.pnl == null ? '–' : <AnimatedPnL value={p.pnl} currency={p.currency} />}</td>
              <td className="num updated">{clockTime(p.updatedAt)}</td>
              <td className="freshness"><LiveBadge updatedAt={p.updatedAt} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

const isPnlField = (k) => /pnl/i.test(k);

function Account() {
  const { account } = useRealtimeAccount();
  const entries = Object.entries(account || {});
  return (
    <section className="card account">
      <h2>Account</h2>
      <dl id="account">
        {entries.length === 0 && <dt className="empty">no account update yet</dt>}
        {entries.map(([k, v]) => [
          <dt key={`t-${k}`}>{k}</dt>,
          <dd key={`d-${k}`} data-field={k}>
            {typeof v === 'number' && isPnlField(k) ? <AnimatedPnL value={v} />
              : typeof v === 'number' ? v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : String(v)}
          </dd>,
        ])}
      </dl>
    </section>
  );
}

function Orders() {
  const { orders } = useRealtimeOrders();
  return (
    <section className="card feed">
      <h2>Orders</h2>
      <ol id="orders" className="feed-list">
        {orders.slice(0, FEED_MAX).map((o) => (
          <li key={o.id} data-order={o.id}>
            <span className="t">{clockTime(o.updatedAt)}</span>
            <b>{o.id}</b> {[o.side, o.symbol, o.quantity == null ? null : formatQuantity(o.quantity)].filter(Boolean).join(' ')}
            <span className={`tag ${o.status ?? ''}`}>{o.status || 'update'}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}

function Trades() {
  const { trades } = useRealtimeOrders();
  return (
    <section className="card feed">
      <h2>Trades</h2>
      <ol id="trades" className="feed-list">
        {trades.slice(0, FEED_MAX).map((t) => (
          <li key={t.id}>
            <span className="t">{clockTime(t.at)}</span>
            <b>{t.symbol ?? '?'}</b> {[t.side, formatQuantity(t.quantity)].filter(Boolean).join(' ')} @ {t.price == null ? '–' : formatMoney(t.price).replace('$', '')}
            {t.side && <span className={`tag ${t.side}`}>{t.side}</span>}
          </li>
        ))}
      </ol>
    </section>
  );
}

/** What the stream did: states with close codes and retry delays, control messages. */
function ConnectionLog() {
  const { stream } = usePortfolioStream();
  const [lines, setLines] = useState([]);
  useEffect(() => {
    const add = (text) => setLines((l) => [{ id: `${Date.now()}-${Math.random()}`, t: Date.now(), text }, ...l].slice(0, FEED_MAX));
    const offState = stream.on('state', (state, info) => {
      const bits = [state];
      if (info.code) bits.push(`close ${info.code}${info.reason ? ` ${info.reason}` : ''}`);
      else if (info.reason) bits.push(info.reason);
      if (info.delayMs != null) bits.push(`next try in ${info.delayMs} ms`);
      add(bits.join(' · '));
    });
    const offMsg = stream.on('message', (msg) => {
      if (msg.type === 'status') add(`server: Redis ${msg.state === 'degraded' ? 'lost, waiting for it' : 'back'}`);
      else if (msg.type === 'error') add(`server error: ${msg.code} ${msg.message ?? ''}`);
      else if (msg.type === 'subscribed') add(`subscribed: ${msg.channels.join(', ') || '(none)'}`);
      else if (msg.type === 'connected') add(`connected as ${msg.userId}${msg.epoch ? ` (history epoch ${msg.epoch})` : ''}`);
    });
    const offResume = stream.on('resume', (r) => add(r.recovered ? `resumed: ${r.replayed} missed events replayed` : `not resumed (${r.reason}): reloading the snapshot`));
    return () => { offState(); offMsg(); offResume(); };
  }, [stream]);
  return (
    <section className="card log">
      <h2>Connection</h2>
      <ol id="log" className="feed-list mono">
        {lines.map((l) => <li key={l.id}><span className="t">{clockTime(l.t)}</span>{l.text}</li>)}
      </ol>
    </section>
  );
}

export function App({ loginUrl }) {
  const { indicator } = usePortfolioStream();
  return (
    <div className={`app indicator-${indicator}`}>
      <Header />
      <div className="banners">
        <StreamNotices loginUrl={loginUrl} />
        <StalenessWarning />
      </div>
      <Controls />
      <main>
        <Positions />
        <Account />
        <Orders />
        <Trades />
        <ConnectionLog />
      </main>
      <FillToasts />
    </div>
  );
}
