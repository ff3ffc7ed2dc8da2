// SPEC section 8 end to end: offsets, epoch, resume after reconnect (every
// missed event exactly once, in order, before anything newer), every way of
// not recovering (never a failed handshake), replay after the worker lost
// its subscription, 1001 on reload then resume, and the race of a resume
// with a publisher that never stops.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { useEnv, stopAndCheckLog, uniqueUser, sleep } from './lib/env.mjs';
import { connectUser } from './lib/wsclient.mjs';

const cmp = (a, b) => {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am === bm ? (as < bs ? -1 : as > bs ? 1 : 0) : am < bm ? -1 : 1;
};

function helpers(env) {
  let pub = null;
  const client = async () => (pub && pub.isOpen ? pub : (pub = await env.redis.client()));
  env.fpublish = async (user, obj, maxlen, ttl) => {
    const args = ['FCALL', 'portfolio_stream_publish', '1', env.channel(user), typeof obj === 'string' ? obj : JSON.stringify(obj)];
    if (maxlen !== undefined) args.push(String(maxlen));
    if (ttl !== undefined) args.push(String(ttl));
    return String(await (await client()).sendCommand(args));
  };
  env.connect = async (user, cookie, q = '') => connectUser(env.port, cookie, { path: `/ws/portfolio${q}` });
  env.resumeQuery = (since, epoch) => `?since=${encodeURIComponent(since)}&epoch=${encodeURIComponent(epoch)}`;
}
const connectedOf = (c) => c.messages.find((m) => m.type === 'connected');
const stats = (env) => fetch(`${env.nginx.httpBase}/api/admin/websocket-stats`).then((r) => r.json());
const order = (i) => ({ type: 'order_update', data: { orderId: `o${i}`, status: 'filled' }, i });

describe('history: offsets, epoch and resume', () => {
  const env = useEnv({
    nginx: {
      stats: true,
      http: ['portfolio_stream_max_connections_per_user 50;'],
      location: ['portfolio_stream_history on;', 'portfolio_stream_history_replay_limit 20;', 'portfolio_stream_batch_window 0;'],
    },
  });
  before(() => helpers(env));

  it('connected carries the epoch and the starting offset; events carry their offset first', async () => {
    const u = uniqueUser('h');
    const { cookie } = await env.login(u);
    const c = await env.connect(u, cookie);
    const con = connectedOf(c);
    assert.match(con.epoch, /^[0-9a-z]{1,32}$/);
    assert.match(con.offset, /^\d+-\d+$/);
    assert.equal(con.recovered, undefined, 'no resume asked: no "recovered"');
    const body = '{"type":"order_update","data":{"orderId":"x1","status":"filled"}, "weird" : [1,2.50,1e400]}';
    const off = await env.fpublish(u, body);
    await c.waitEvents(1);
    const raw = c.raw.map(String).find((t) => t.includes('"orderId":"x1"'));
    assert.equal(raw, `{"offset":"${off}",${body.slice(1)}`, 'offset first, the rest byte for byte');
    assert.ok(cmp(off, con.offset) > 0);
    await env.publish(u, JSON.stringify(order('plain')));
    await c.waitEvents(2);
    assert.equal(c.events()[1].offset, undefined, 'a plain PUBLISH has no offset');
    c.terminate();
  });

  it('a resume gets every missed event once, in order, before newer ones', async () => {
    const u = uniqueUser('h');
    const { cookie } = await env.login(u);
    const c1 = await env.connect(u, cookie);
    const { epoch } = connectedOf(c1);
    const first = await env.fpublish(u, order(0));
    await c1.waitEvents(1);
    c1.terminate();
    await sleep(100);
    const missed = [];
    for (let i = 1; i <= 8; i++) missed.push(await env.fpublish(u, order(i)));
    const before = await stats(env);
    const c2 = await env.connect(u, cookie, env.resumeQuery(first, epoch));
    const con = connectedOf(c2);
    assert.equal(con.recovered, true);
    assert.equal(con.epoch, epoch);
    const live = await env.fpublish(u, order(9));
    const evs = await c2.waitEvents(9);
    assert.deepEqual(evs.map((e) => e.offset), [...missed, live]);
    assert.deepEqual(evs.map((e) => e.i), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await sleep(200);
    assert.equal(c2.events().length, 9, 'no duplicate');
    // batch_window 0: every event in its own frame, the replayed ones too (SPEC section 1)
    assert.equal(c2.raw.map(String).filter((t) => t.startsWith('{"type":"batch"')).length, 0, 'no batch frame with window 0');
    const after = await stats(env);
    assert.equal(after.history.recovered - before.history.recovered, 1);
    assert.ok(after.history.replayed - before.history.replayed >= 8);
    c2.terminate();
  });

  it('a client that got no event resumes from the connected offset', async () => {
    const u = uniqueUser('h');
    const { cookie } = await env.login(u);
    const c1 = await env.connect(u, cookie);
    const { epoch, offset } = connectedOf(c1);
    c1.terminate();
    const missed = [await env.fpublish(u, order(1)), await env.fpublish(u, order(2))];
    const c2 = await env.connect(u, cookie, env.resumeQuery(offset, epoch));
    assert.equal(connectedOf(c2).recovered, true);
    assert.deepEqual((await c2.waitEvents(2)).map((e) => e.offset), missed);
    c2.terminate();
  });

  it('nothing missed: recovered, nothing replayed', async () => {
    const u = uniqueUser('h');
    const { cookie } = await env.login(u);
    const c1 = await env.connect(u, cookie);
    const off = await env.fpublish(u, order(1));
    await c1.waitEvents(1);
    const { epoch } = connectedOf(c1);
    c1.terminate();
    const c2 = await env.connect(u, cookie, env.resumeQuery(off, epoch));
    assert.equal(connectedOf(c2).recovered, true);
    await sleep(300);
    assert.equal(c2.events().length, 0);
    c2.terminate();
  });

  it('recovered:false (and no replay, and no failed handshake) for every way a resume cannot work', async () => {
    const u = uniqueUser('h');
    const { cookie } = await env.login(u);
    const c0 = await env.connect(u, cookie);
    const { epoch } = connectedOf(c0);
    c0.terminate();
    const offs = [];
    for (let i = 0; i < 30; i++) offs.push(await env.fpublish(u, order(i), 25));
    const cases = [
      ['epoch changed', env.resumeQuery(offs[10], 'someotherepoch')],
      ['over the replay limit (20)', env.resumeQuery(offs[0], epoch)],
      ['older than the oldest retained (maxlen 25)', env.resumeQuery('1-0', epoch)],
      ['from the future', env.resumeQuery('99999999999999-0', epoch)],
      ['malformed since', env.resumeQuery('abc', epoch)],
      ['since without epoch', `?since=${offs[10]}`],
      ['epoch without since', `?epoch=${epoch}`],
      ['huge garbage', `?since=${'9'.repeat(3000)}&epoch=${'%ff'.repeat(500)}`],
      ['repeated since', `${env.resumeQuery(offs[25], epoch)}&since=${offs[26]}`],
    ];
    const before = await stats(env);
    for (const [what, q] of cases) {
      const c = await env.connect(u, cookie, q);
      const con = connectedOf(c);
      assert.equal(con.recovered, false, what);
      assert.equal(con.epoch, epoch, what);
      await sleep(150);
      assert.equal(c.events().length, 0, `${what}: nothing replayed`);
      const off = await env.fpublish(u, order('live'), 25);
      const evs = await c.waitEvents(1);
      assert.equal(evs[0].offset, off, `${what}: live events flow`);
      c.terminate();
    }
    const after = await stats(env);
    assert.equal(after.history.notRecovered - before.history.notRecovered, cases.length);
    // Within the limit and retained: recovered.
    const c = await env.connect(u, cookie, env.resumeQuery(offs[20], epoch));
    assert.equal(connectedOf(c).recovered, true);
    assert.ok((await c.waitEvents(9)).every((e, k, a) => k === 0 || cmp(a[k - 1].offset, e.offset) < 0));
    c.terminate();
  });

  it('a deleted history has a new epoch: an old resume is not recovered', async () => {
    const u = uniqueUser('h');
    const { cookie } = await env.login(u);
    const c1 = await env.connect(u, cookie);
    const off = await env.fpublish(u, order(1));
    await c1.waitEvents(1);
    const { epoch } = connectedOf(c1);
    c1.terminate();
    const r = await env.redis.client();
    await r.del([`{${env.channel(u)}}:history`, `{${env.channel(u)}}:epoch`]);
    await env.fpublish(u, order(2));
    const c2 = await env.connect(u, cookie, env.resumeQuery(off, epoch));
    const con = connectedOf(c2);
    assert.equal(con.recovered, false);
    assert.notEqual(con.epoch, epoch);
    c2.terminate();
  });

  it('history entries that are not valid events (or not JSON at all) are dropped and counted, the rest replayed', async () => {
    const u = uniqueUser('h');
    const { cookie } = await env.login(u);
    const c1 = await env.connect(u, cookie);
    const { epoch, offset } = connectedOf(c1);
    c1.terminate();
    const a = await env.fpublish(u, order(1));
    await env.fpublish(u, '{"type":"nonsense"}');
    // The function refuses text that is not JSON, so these are written into the
    // stream by hand, as a careless backend or a restored dump could: not JSON,
    // cut JSON, a bare string, binary, and an entry without the "d" field.
    const r = await env.redis.client();
    const stream = `{${env.channel(u)}}:history`;
    for (const fields of [['d', 'not json at all'], ['d', '{"type":"order_update","data":{"orderId":"cut"'],
      ['d', '"order_update"'], ['d', Buffer.from([0xff, 0x00, 0x7b, 0xfe])], ['x', '{"type":"order_update","data":{}}']]) {
      await r.sendCommand(['XADD', stream, '*', ...fields]);
    }
    const b = await env.fpublish(u, order(3));
    const before = await stats(env);
    const c2 = await env.connect(u, cookie, env.resumeQuery(offset, epoch));
    assert.equal(connectedOf(c2).recovered, true);
    assert.deepEqual((await c2.waitEvents(2)).map((e) => e.offset), [a, b]);
    const after = await stats(env);
    assert.ok(after.events.invalid >= before.events.invalid + 6, `invalid ${before.events.invalid} -> ${after.events.invalid}`);
    await sleep(200);
    assert.equal(c2.events().length, 2, 'nothing else was sent');
    await env.publish(u, JSON.stringify(order('after')));
    await c2.waitEvents(3);
    c2.terminate();
  });

  it('a stream key of the wrong type: the read fails, recovered:false, the worker lives', async () => {
    const u = uniqueUser('h');
    const { cookie } = await env.login(u);
    const r = await env.redis.client();
    await r.set(`{${env.channel(u)}}:history`, 'not a stream');
    const c = await env.connect(u, cookie, env.resumeQuery('1-0', 'abc'));
    assert.equal(connectedOf(c).recovered, false);
    await env.publish(u, JSON.stringify(order('plain')));
    await c.waitEvents(1);
    c.terminate();
  });

  it('the worker lost its subscription: what was published meanwhile arrives, once, in order', async () => {
    const u = uniqueUser('h');
    const { cookie } = await env.login(u);
    const c = await env.connect(u, cookie);
    const offs = [await env.fpublish(u, order(0))];
    await c.waitEvents(1);
    const r = await env.redis.client();
    await r.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    // Published while the worker resubscribes: PUBLISH reaches nobody.
    for (let i = 1; i <= 5; i++) offs.push(await env.fpublish(u, order(i)));
    await c.waitMessage((m) => m.type === 'status' && m.state === 'live', 8000, 'live again');
    for (let i = 6; i <= 7; i++) offs.push(await env.fpublish(u, order(i)));
    const evs = await c.waitEvents(8, 5000);
    assert.deepEqual(evs.map((e) => e.offset), offs);
    const live = c.messages.find((m) => m.type === 'status' && m.state === 'live');
    assert.equal(live.recovered, undefined, 'recovered: a plain "live"');
    await sleep(200);
    assert.equal(c.events().length, 8);
    c.terminate();
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('history: a resume races a publisher that never stops (1,000 resumes)', () => {
  const env = useEnv({
    nginx: {
      workers: 2,
      http: ['portfolio_stream_max_connections 1000;', 'portfolio_stream_max_connections_per_user 50;'],
      location: ['portfolio_stream_history on;', 'portfolio_stream_batch_window 0;'],
    },
  });
  before(() => helpers(env));

  it('every event exactly once, in order, across every resume of every client', async () => {
    const USERS = 10;
    const RESUMES = 100; // per user: 1,000 in all
    const users = await Promise.all(Array.from({ length: USERS }, async () => {
      const u = uniqueUser('race');
      return { u, cookie: (await env.login(u)).cookie, published: [] };
    }));
    let stop = false;
    const publisher = (async () => {
      let i = 0;
      while (!stop) {
        await Promise.all(users.map(async (x) => { x.published.push(await env.fpublish(x.u, order(i))); }));
        i++;
        await sleep(5);
      }
    })();
    await Promise.all(users.map(async (x) => {
      const got = [];
      let since = null;
      let epoch = null;
      for (let k = 0; k < RESUMES; k++) {
        const q = since ? env.resumeQuery(since, epoch) : '';
        const c = await env.connect(x.u, x.cookie, q);
        const con = connectedOf(c);
        if (since) assert.equal(con.recovered, true, `${x.u} resume ${k}`);
        epoch = con.epoch;
        if (!since) { since = con.offset; x.start = con.offset; }
        await sleep(5 + (k % 7) * 3);
        c.terminate();
        await c.closed;
        for (const e of c.events()) got.push(e.offset);
        if (got.length) since = got[got.length - 1];
      }
      x.got = got;
    }));
    stop = true;
    await publisher;
    for (const x of users) {
      const expected = x.published.filter((o) => cmp(o, x.start) > 0 && cmp(o, x.got[x.got.length - 1]) <= 0);
      assert.ok(x.got.length > 50, `${x.u} got only ${x.got.length}`);
      assert.deepEqual(x.got, expected, `${x.u}: a gap or a duplicate`);
    }
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('history: 1001 on reload, then resume', () => {
  const env = useEnv({ nginx: { stats: true, location: ['portfolio_stream_history on;', 'portfolio_stream_batch_window 0;'] } });
  before(() => helpers(env));

  it('events published across the reload are recovered', async () => {
    const u = uniqueUser('rl');
    const { cookie } = await env.login(u);
    const c1 = await env.connect(u, cookie);
    const { epoch } = connectedOf(c1);
    const first = await env.fpublish(u, order(0));
    await c1.waitEvents(1);
    const reload = env.nginx.reload();
    const info = await c1.waitClose(8000);
    assert.equal(info.code, 1001);
    const missed = [];
    for (let i = 1; i <= 4; i++) missed.push(await env.fpublish(u, order(i)));
    await reload;
    const c2 = await env.connect(u, cookie, env.resumeQuery(first, epoch));
    assert.equal(connectedOf(c2).recovered, true);
    assert.deepEqual((await c2.waitEvents(4)).map((e) => e.offset), missed);
    c2.terminate();
  });

  it('Redis restarted without its data: "live" says recovered:false, with the new epoch', async () => {
    const u = uniqueUser('rs');
    const { cookie } = await env.login(u);
    const c = await env.connect(u, cookie);
    const { epoch } = connectedOf(c);
    await env.fpublish(u, order(0));
    await c.waitEvents(1);
    await env.redis.restart(); // no persistence in tests: history, sessions and the library are gone
    const live = await c.waitMessage((m) => m.type === 'status' && m.state === 'live', 10000, 'live again');
    assert.equal(live.recovered, false);
    assert.ok(live.epoch && live.epoch !== epoch, 'the new epoch');
    c.terminate();
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

describe('history: a Redis user that may not use Functions', () => {
  const env = useEnv({
    nginx: (redis) => ({
      redis: `127.0.0.1:${redis.port} username=edge password=edgepw connect_timeout=1s`,
      location: ['portfolio_stream_history on;', 'portfolio_stream_batch_window 0;'],
    }),
    redis: { extraArgs: ['--user', 'edge', 'on', '>edgepw', '~*', '&*', '+@all', '-fcall', '-function'] },
  });

  it('sessions and live events work; resumes are recovered:false; the error log says why', async () => {
    const u = uniqueUser('acl');
    const { cookie } = await env.login(u);
    const c = await connectUser(env.port, cookie, { path: '/ws/portfolio?since=1-0&epoch=abc' });
    const con = connectedOf(c);
    assert.equal(con.recovered, false);
    assert.equal(con.epoch, '');
    await env.publish(u, JSON.stringify(order(1)));
    await c.waitEvents(1);
    assert.match(env.nginx.errorLog(), /Redis Functions library "portfolio_stream" .*portfolio_stream_history/);
    c.terminate();
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});

// Redis before 7.0 has no FUNCTION or FCALL: renamed away here, the server answers
// "unknown command" as Redis 6 does.
describe('history: a Redis without Functions (as before Redis 7.0)', () => {
  const env = useEnv({
    nginx: { stats: true, location: ['portfolio_stream_history on;', 'portfolio_stream_batch_window 0;'] },
    redis: { extraArgs: ['--rename-command', 'FUNCTION', '', '--rename-command', 'FCALL', ''] },
  });

  it('sessions and live events work; resumes are recovered:false; the error log says why', async () => {
    const r = await env.redis.client();
    await assert.rejects(r.sendCommand(['FUNCTION', 'LIST']), /unknown command/);
    const u = uniqueUser('old');
    const { cookie } = await env.login(u);
    for (const q of ['', '?since=1-0&epoch=abc']) {
      const c = await connectUser(env.port, cookie, { path: `/ws/portfolio${q}` });
      const con = connectedOf(c);
      assert.equal(con.epoch, '');
      assert.equal(con.recovered, q ? false : undefined);
      await env.publish(u, JSON.stringify(order(q)));
      assert.equal((await c.waitEvents(1))[0].offset, undefined);
      c.terminate();
    }
    assert.match(env.nginx.errorLog(), /"ERR unknown command 'FUNCTION'.*it needs Redis >= 7\.0/);
    assert.match(env.nginx.errorLog(), /Redis Functions library "portfolio_stream" .*portfolio_stream_history/);
    const s = await stats(env);
    assert.ok(s.history.notRecovered >= 1);
  });

  it('error.log is clean and nginx stops gracefully', async () => { await stopAndCheckLog(env); });
});
