// SPEC §8 on the client: offsets compared numerically, the highest one kept, the epoch of the
// `connected` frame, ?since=&epoch= on reconnects (only with both), and what the application is
// told after a reconnect or an outage (onResume). A fake socket plays the server: the module side
// of §8 is tested end to end by tests/browser/e2e/resume.test.mjs once the server supports it.
//   node --test tests/browser/unit/resume.test.mjs
import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { compareOffsets, parseOffset } from '../../../client/portfolio-stream.js';
import { sockets, resetSockets, last, make } from './fakes.mjs';

beforeEach(() => { resetSockets(); });

const pos = (offset, extra = {}) => ({ ...(offset ? { offset } : {}), type: 'position_update', key: 'AAPL', data: { symbol: 'AAPL' }, ...extra });
const query = (ws) => Object.fromEntries(new URL(ws.url).searchParams);
// closes the current socket and lets the retry timer fire: a new socket is waiting
function dropAndRetry(t, code = 1006) {
  last().serverClose(code);
  t.clock.advance(t.states.at(-1)[1].delayMs ?? 0);
}

describe('compareOffsets / parseOffset', () => {
  it('compares both parts as numbers, not as strings', () => {
    assert.ok(compareOffsets('9-1', '10-0') < 0, '"9-1" > "10-0" as strings');
    assert.ok(compareOffsets('1732400000000-9', '1732400000000-10') < 0);
    assert.ok(compareOffsets('1732400000001-0', '1732400000000-99') > 0);
    assert.equal(compareOffsets('5-5', '5-5'), 0);
    assert.equal(compareOffsets('007-01', '7-1'), 0, 'leading zeros do not change the value');
    // beyond 2^53: no precision lost
    assert.ok(compareOffsets('18446744073709551615-1', '18446744073709551614-9') > 0);
    assert.ok(compareOffsets('1-18446744073709551615', '1-18446744073709551614') > 0);
  });
  it('malformed offsets are rejected and sort first', () => {
    for (const bad of [null, undefined, '', '5', '5-', '-5', 'a-1', '1-2-3', ' 1-2', 5, {}]) assert.equal(parseOffset(bad), null, String(bad));
    assert.deepEqual(parseOffset('0-0'), ['0', '0']);
    assert.ok(compareOffsets('bogus', '0-0') < 0);
    assert.ok(compareOffsets('0-1', null) > 0);
    assert.equal(compareOffsets(null, 'x'), 0);
  });
});

describe('resume (SPEC §8)', () => {
  it('keeps the highest offset of bare and batched events, whatever order they come in', () => {
    const t = make();
    last().connected({ epoch: 'e1' });
    assert.equal(t.s.offset, null);
    last().msg(pos('9-1'));
    last().msg({ type: 'batch', events: [pos('10-0'), pos('9-7'), pos(null)] });
    assert.equal(t.s.offset, '10-0', 'numerically highest');
    last().msg(pos('10-2'));
    last().msg(pos('not-an-offset'));
    assert.equal(t.s.offset, '10-2');
    assert.equal(t.s.epoch, 'e1');
    assert.deepEqual(t.events.map(([e]) => e.offset ?? null), ['9-1', '10-0', '9-7', null, '10-2', 'not-an-offset'], 'every event still delivered');
  });

  it('reconnects with ?since=<highest>&epoch=<epoch>; the first connection has neither', () => {
    const t = make();
    assert.equal(last().url, 'ws://test/ws/portfolio');
    last().connected({ epoch: 'ep/1 x' });
    last().msg(pos('1732400000000-3'));
    last().msg(pos('1732400000000-12'));
    dropAndRetry(t);
    assert.equal(sockets.length, 2);
    assert.deepEqual(query(last()), { since: '1732400000000-12', epoch: 'ep/1 x' });
    assert.match(last().url, /\?since=1732400000000-12&epoch=ep%2F1%20x$/, 'URL-encoded');
  });

  it('only when both are known: an epoch without any offset, or offsets without an epoch, give a plain URL', () => {
    const t = make();
    last().connected({ epoch: 'e1' });            // history on, nothing received yet
    dropAndRetry(t);
    assert.equal(last().url, 'ws://test/ws/portfolio');
    last().connected();                            // history off: no epoch
    last().msg(pos('5-1'));                        // (an offset anyway)
    dropAndRetry(t);
    assert.equal(last().url, 'ws://test/ws/portfolio');
  });

  it('appends to a URL that has a query already; resume:false never resumes', () => {
    const t = make({ url: 'wss://h/ws/portfolio?tenant=a' });
    last().connected({ epoch: 'e' });
    last().msg(pos('3-0'));
    dropAndRetry(t);
    assert.equal(last().url, 'wss://h/ws/portfolio?tenant=a&since=3-0&epoch=e');
    resetSockets();
    const u = make({ resume: false });
    last().connected({ epoch: 'e' });
    last().msg(pos('3-0'));
    dropAndRetry(u);
    assert.equal(last().url, 'ws://test/ws/portfolio');
  });

  it('since/epoch options: the first connection resumes (e.g. from a snapshot that gave both)', () => {
    make({ since: '77-0', epoch: 'e9' });
    assert.deepEqual(query(last()), { since: '77-0', epoch: 'e9' });
    resetSockets();
    make({ since: 'garbage', epoch: 'e9' });
    assert.equal(last().url, 'ws://test/ws/portfolio', 'a malformed since is not sent');
  });

  it('a first connection reports nothing (the app loads its snapshot anyway)', () => {
    const t = make();
    last().connected({ epoch: 'e1' });
    assert.deepEqual(t.resumes, []);
  });

  it('recovered:true: the replayed events are counted; reported once the first live event arrives', () => {
    const t = make();
    last().connected({ epoch: 'e1', serverTime: 1000 });
    last().msg(pos('900-0'));
    dropAndRetry(t);
    assert.equal(query(last()).since, '900-0');
    // missed while away: 950-0, 990-1, 1999-0 (all published before the new connection's
    // connected frame, serverTime 2000); then 2001-0, published after it
    last().connected({ epoch: 'e1', serverTime: 2000, recovered: true });
    assert.deepEqual(t.resumes, [], 'not yet: the replay is arriving');
    last().msg(pos('950-0'));
    last().msg({ type: 'batch', events: [pos('990-1'), pos('1999-0')] });
    assert.deepEqual(t.resumes, []);
    last().msg(pos('2001-0'));                   // published after the connection: live
    assert.deepEqual(t.resumes, [{ recovered: true, replayed: 3, since: '900-0', epoch: 'e1', done: true }]);
    assert.equal(t.s.offset, '2001-0');
    assert.equal(t.s.stats.replayed, 3);
    assert.equal(t.events.length, 5, 'all delivered, in order');
    assert.deepEqual(t.events.map(([e]) => e.offset), ['900-0', '950-0', '990-1', '1999-0', '2001-0']);
  });

  it('recovered:true with nothing newer arriving: reported after replayQuietMs', () => {
    const t = make({ replayQuietMs: 800 });
    last().connected({ epoch: 'e1', serverTime: 1000 });
    last().msg(pos('900-0'));
    dropAndRetry(t);
    last().connected({ epoch: 'e1', serverTime: 5000, recovered: true });
    t.clock.advance(500);
    last().msg(pos('4000-0'));
    t.clock.advance(700);
    assert.deepEqual(t.resumes, [], 'the quiet period restarts with each replayed event');
    t.clock.advance(100);
    assert.deepEqual(t.resumes, [{ recovered: true, replayed: 1, since: '900-0', epoch: 'e1', done: true }]);
    // nothing missed at all
    dropAndRetry(t);
    last().connected({ epoch: 'e1', serverTime: 6000, recovered: true });
    t.clock.advance(800);
    assert.deepEqual(t.resumes.at(-1), { recovered: true, replayed: 0, since: '4000-0', epoch: 'e1', done: true });
  });

  it('recovered:false: the app is told at once to reload; offsets of the same epoch are kept', () => {
    const t = make();
    last().connected({ epoch: 'e1' });
    last().msg(pos('10-0'));
    dropAndRetry(t);
    last().connected({ epoch: 'e1', recovered: false });
    assert.deepEqual(t.resumes, [{ recovered: false, reason: 'not-recovered', since: '10-0', epoch: 'e1', done: true }]);
    assert.equal(t.s.offset, '10-0');
  });

  it('a new epoch (history lost): not recovered, and the old offsets are forgotten', () => {
    const t = make();
    last().connected({ epoch: 'e1' });
    last().msg(pos('1732400000000-5'));
    dropAndRetry(t);
    last().connected({ epoch: 'e2', recovered: false });
    assert.equal(t.resumes.at(-1).reason, 'not-recovered');
    assert.equal(t.s.epoch, 'e2');
    assert.equal(t.s.offset, null);
    last().msg(pos('3-0'));                        // the new history's offsets may be lower
    assert.equal(t.s.offset, '3-0');
    dropAndRetry(t);
    assert.deepEqual(query(last()), { since: '3-0', epoch: 'e2' });
  });

  it('a reconnect with nothing to resume from (history off) tells the app to reload', () => {
    const t = make();
    last().connected();
    last().msg(pos(null));
    dropAndRetry(t, 1001);
    last().connected();
    assert.deepEqual(t.resumes, [{ recovered: false, reason: 'no-offset', since: null, epoch: null, done: true }]);
  });

  it('status live with recovered:false after an outage means the same; without it, nothing', () => {
    const t = make();
    last().connected({ epoch: 'e1' });
    last().msg(pos('8-0'));
    last().msg({ type: 'status', state: 'degraded' });
    last().msg({ type: 'status', state: 'live' });
    assert.deepEqual(t.resumes, []);
    last().msg({ type: 'status', state: 'degraded' });
    last().msg({ type: 'status', state: 'live', recovered: false });
    assert.deepEqual(t.resumes, [{ recovered: false, reason: 'outage', since: '8-0', epoch: 'e1', done: true }]);
    assert.equal(t.s.state, 'live');
  });

  it('a connection lost in the middle of a replay reports nothing; the next one resumes from what arrived', () => {
    const t = make();
    last().connected({ epoch: 'e1', serverTime: 100 });
    last().msg(pos('50-0'));
    dropAndRetry(t);
    last().connected({ epoch: 'e1', serverTime: 500, recovered: true });
    last().msg(pos('60-0'));
    dropAndRetry(t);
    t.clock.advance(5000);
    assert.deepEqual(t.resumes, []);
    assert.equal(query(last()).since, '60-0');
  });

  it('on(): extra listeners see states, events and resumes; their exceptions are contained', () => {
    const errors = [];
    const t = make({ onError: (e) => errors.push(e) });
    const seen = [];
    const off = t.s.on('event', (ev) => seen.push(ev.offset));
    t.s.on('resume', (r) => seen.push(r.reason));
    t.s.on('state', (st) => { seen.push(st); throw new Error('listener bug'); });
    last().connected({ epoch: 'e1' });
    last().msg(pos('1-0'));
    off();
    last().msg(pos('2-0'));
    dropAndRetry(t);
    last().connected({ epoch: 'e1', recovered: false });
    assert.deepEqual(seen, ['live', '1-0', 'reconnecting', 'live', 'not-recovered']);
    assert.equal(errors.length, 3);
    assert.throws(() => t.s.on('nope', () => {}), /unknown type/);
  });
});
