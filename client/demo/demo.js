// The demo page's glue: a PortfolioStream rendering into plain DOM (no framework).
// Positions are updated in place by symbol, the account panel by field, orders and trades
// are feeds; the badge shows the stream's freshness state and the age of the last event.
import { PortfolioStream } from '../portfolio-stream.js';

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
const FEED_MAX = 50;

/** symbol -> <tr> */
const rows = new Map();
const latencies = [];  // last 100 (ms)

const fmt = (v, digits = 2) =>
  typeof v === 'number' ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : v ?? '–';
const fmtQty = (v) => (typeof v === 'number' ? v.toLocaleString('en-US') : v ?? '–');
const clock = (t = Date.now()) => new Date(t).toTimeString().slice(0, 8);
const ms = (v) => (v == null ? '–' : v < 1 ? '< 1 ms' : v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function flash(node) {
  node.classList.remove('flash');
  void node.offsetWidth;  // restart the animation
  node.classList.add('flash');
}

// ---- renderers, one per event type (SPEC §4) --------------------------------------------------

function positionUpdate(ev) {
  const d = ev.data || {};
  const sym = ev.key ?? d.symbol;
  if (sym == null) return;
  const tbody = $('#positions tbody');
  let tr = rows.get(sym);
  if (!tr) {
    tbody.querySelector('tr.empty')?.remove();
    tr = el('tr', { 'data-symbol': sym },
      el('td', { class: 'sym' }, sym), el('td', { class: 'num qty' }), el('td', { class: 'num price' }),
      el('td', { class: 'num value' }), el('td', { class: 'num updated' }));
    // keep the table sorted by symbol
    const after = [...rows.keys()].sort().find((s) => s > sym);
    tbody.insertBefore(tr, after ? rows.get(after) : null);
    rows.set(sym, tr);
  }
  const prev = tr._data || {};
  const qty = d.quantity ?? d.qty ?? prev.quantity;
  const price = d.price ?? prev.price;
  tr._data = { quantity: qty, price };
  tr.querySelector('.qty').textContent = fmtQty(qty);
  tr.querySelector('.price').textContent = fmt(price);
  tr.querySelector('.value').textContent = typeof qty === 'number' && typeof price === 'number' ? fmt(qty * price) : '–';
  tr.querySelector('.updated').textContent = clock();
  flash(tr);
}

function accountUpdate(ev) {
  const dl = $('#account');
  dl.querySelector('.empty')?.remove();
  for (const [k, v] of Object.entries(ev.data || {})) {
    let dd = dl.querySelector(`dd[data-field="${CSS.escape(k)}"]`);
    if (!dd) {
      dl.append(el('dt', {}, k), (dd = el('dd', { 'data-field': k })));
    }
    dd.textContent = typeof v === 'number' ? fmt(v) : String(v);
    flash(dd);
  }
}

function feed(list, ...kids) {
  const li = el('li', {}, el('span', { class: 't' }, clock()), ...kids);
  list.prepend(li);
  while (list.children.length > FEED_MAX) list.lastChild.remove();
  flash(li);
}

function orderUpdate(ev) {
  const d = ev.data || {};
  const status = d.status ?? '';
  feed($('#orders'), el('b', {}, d.orderId ?? d.id ?? 'order'), ` ${d.side ?? ''} ${d.symbol ?? ''} ${d.quantity ?? d.qty ?? ''} `.replace(/\s+/g, ' '),
    el('span', { class: `tag ${status}` }, status || 'update'));
}

function tradeExecuted(ev) {
  const d = ev.data || {};
  feed($('#trades'), el('b', {}, d.symbol ?? '?'), ` ${d.side ?? ''} ${fmtQty(d.quantity ?? d.qty)} @ ${fmt(d.price)}`.replace(/\s+/g, ' '),
    d.side ? el('span', { class: `tag ${d.side}` }, d.side) : '');
}

const RENDER = { position_update: positionUpdate, account_update: accountUpdate, order_update: orderUpdate, trade_executed: tradeExecuted };

// ---- the stream ---------------------------------------------------------------------------------

function log(text) {
  feed($('#log'), text);
}

const history = [];  // [state, info, time]: for the browser tests and the curious

function onState(state, info) {
  history.push([state, info, Date.now()]);
  const badge = $('#state');
  badge.className = `badge state-${state}`;
  badge.textContent = state === 'unauthorized' ? 'session expired' : state;
  badge.dataset.state = state;
  const bits = [state];
  if (info.code) bits.push(`close ${info.code}${info.reason ? ` ${info.reason}` : ''}`);
  else if (info.reason) bits.push(info.reason);
  if (info.delayMs != null) bits.push(`next try in ${info.delayMs} ms`);
  log(bits.join(' · '));
  const banner = $('#banner');
  banner.hidden = state !== 'unauthorized';
  if (state === 'unauthorized') $('#banner-text').textContent = 'Your session has expired or was revoked; live updates are stopped.';
  document.body.classList.toggle('muted-data', state !== 'live');
}

function onEvent(ev) {
  (RENDER[ev.type] || (() => {}))(ev);
  if (typeof ev.ts === 'number') {
    latencies.push(Math.max(0, stream.serverNow() - ev.ts));
    if (latencies.length > 100) latencies.shift();
  }
}

function onMessage(msg) {
  if (msg.type === 'connected') {
    $('#user').textContent = msg.userId;
    $('#window').textContent = `${msg.batchWindowMs} ms`;
    $('#heartbeat').textContent = `${msg.heartbeatMs / 1000} s`;
    $('#extensions').textContent = stream.stats.extensions || 'no extensions';
    syncCheckboxes();
  } else if (msg.type === 'status') {
    log(`server: Redis ${msg.state === 'degraded' ? 'lost, waiting for it' : 'back'}`);
  } else if (msg.type === 'error') {
    log(`server error: ${msg.code} ${msg.message ?? ''}`);
  } else if (msg.type === 'subscribed') {
    log(`subscribed: ${msg.channels.join(', ') || '(none)'}`);
  }
}

const stream = new PortfolioStream({
  url: params.get('url') || undefined,
  onEvent, onState, onMessage,
});

function syncCheckboxes() {
  for (const cb of document.querySelectorAll('#channels input')) cb.checked = stream.channels.includes(cb.value);
}
$('#channels').addEventListener('change', (e) => {
  const cb = e.target;
  if (cb.checked) stream.subscribe([cb.value]); else stream.unsubscribe([cb.value]);
});
$('#reconnect').addEventListener('click', () => stream.reconnect());

// Figures that age: refreshed 4 times a second.
function percentile(arr, p) {
  const s = [...arr].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}
setInterval(() => {
  const st = stream.stats;
  $('#age').textContent = st.lastEventAt ? `${((Date.now() - st.lastEventAt) / 1000).toFixed(1)} s ago` : '–';
  $('#latency').textContent = latencies.length ? `${ms(latencies.at(-1))} (p50 ${ms(percentile(latencies, 0.5))})` : '–';
  $('#rtt').textContent = ms(st.rttMs);
  $('#events-count').textContent = st.events;
  $('#batches-count').textContent = st.batches;
  $('#reconnects-count').textContent = st.reconnects;
}, 250);

// For the browser tests and for poking around in the devtools console.
window.demo = { stream, rows, latencies, history };
