// A browser's view of a deployment, for the packaging and docker tests:
// opens a WebSocket with a session cookie, checks the `connected` frame,
// runs a publish command, and waits for the published bytes to arrive
// (alone or inside a batch). Exit 0 = every check passed; messages on stdout.
//
//   node ws-check.mjs --url ws://127.0.0.1:8080/ws/portfolio --cookie 'connect.sid=s%3A...'
//        --user u1 [--origin http://127.0.0.1:8080] [--publish 'shell command']
//        [--expect 'exact event bytes'] [--any-event] [--expect-status 401] [--timeout-ms 15000]
//   --publish      run (sh -c) once `connected` has arrived; --expect is then required
//   --any-event    also wait for any event of SPEC section 4 (e.g. from a running publisher)
//   --expect-offset  the expected event must carry an "offset" (history, SPEC section 8)
//   --expect-recovered  `connected` must say "recovered":true (a resume with ?since=&epoch=);
//                  --expect may then name a replayed event (no --publish needed)
//   --expect-status  only the handshake: expect this HTTP status instead of 101
// The ws package comes from PS_NODE_MODULES (default: tests/integration/node_modules).
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeModules = process.env.PS_NODE_MODULES || path.join(here, '..', 'integration', 'node_modules');
const WebSocket = createRequire(path.join(nodeModules, 'noop.js'))('ws');

const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
  const k = a.slice(2);
  if (k === 'any-event' || k === 'expect-offset' || k === 'expect-recovered') args[k] = true;
  else args[k] = process.argv[++i];
}
const timeoutMs = Number(args['timeout-ms'] || 15000);
const log = (m) => console.log(`ws-check: ${m}`);
const fail = (m) => {
  console.log(`ws-check: FAIL: ${m}`);
  process.exit(1);
};
if (!args.url) fail('--url is required');
if (args.publish && !args.expect) fail('--publish needs --expect');

const headers = {};
if (args.cookie) headers.Cookie = args.cookie;
const ws = new WebSocket(args.url, { headers, origin: args.origin, handshakeTimeout: timeoutMs });
const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms (${state})`), timeoutMs);
let state = 'handshake';

ws.on('unexpected-response', (req, res) => {
  if (args['expect-status'] && String(res.statusCode) === String(args['expect-status'])) {
    log(`ok: handshake answered ${res.statusCode} as expected`);
    clearTimeout(timer);
    process.exit(0);
  }
  fail(`handshake answered HTTP ${res.statusCode}, not 101${args['expect-status'] ? ` nor ${args['expect-status']}` : ''}`);
});
ws.on('error', (e) => fail(`${state}: ${e.message}`));
ws.on('close', (code, reason) => fail(`closed ${code} ${reason} while waiting for ${state}`));

let gotExpected = !args.expect;
let gotAny = !args['any-event'];
const eventTypes = new Set(['position_update', 'account_update', 'order_update', 'trade_executed']);

function done() {
  if (gotExpected && gotAny) {
    clearTimeout(timer);
    log('ok: every check passed');
    ws.removeAllListeners('close');
    ws.close(1000);
    setTimeout(() => process.exit(0), 100);
  }
}

ws.on('open', () => {
  if (args['expect-status']) fail(`handshake answered 101, expected ${args['expect-status']}`);
  log(`101 from ${args.url}`);
  state = 'the connected frame';
});

ws.on('message', (data, isBinary) => {
  if (isBinary) fail('a binary frame from the server');
  const text = data.toString('utf8');
  let m;
  try {
    m = JSON.parse(text);
  } catch {
    fail(`a frame that is not JSON: ${text.slice(0, 200)}`);
  }
  if (state === 'the connected frame') {
    if (m.type !== 'connected') fail(`first frame is not connected: ${text.slice(0, 200)}`);
    if (args.user !== undefined && m.userId !== args.user) fail(`connected as ${m.userId}, expected ${args.user}`);
    log(`connected as ${m.userId} (channels ${m.channels.join(',')}, batchWindowMs ${m.batchWindowMs}${m.epoch !== undefined ? `, epoch ${m.epoch}` : ''})`);
    if (args['expect-offset'] && m.epoch === undefined) fail(`connected has no epoch (history off or unavailable): ${text}`);
    if (args['expect-recovered'] && m.recovered !== true) fail(`connected does not say recovered:true: ${text}`);
    if (args['expect-recovered']) log('connected says recovered:true');
    state = 'events';
    if (args.publish) {
      execFile('sh', ['-c', args.publish], { timeout: timeoutMs }, (err, stdout, stderr) => {
        if (err) fail(`publish command failed: ${err.message} ${stderr}`);
        log(`published (${String(stdout).trim()} receiver(s))`);
      });
    }
    done();
    return;
  }
  const events = m.type === 'batch' ? m.events.map((e) => JSON.stringify(e)) : [text];
  // The exact bytes, when the event came alone; inside a batch, the same JSON.
  // With history (SPEC section 8) the module inserts "offset" as the first
  // member and keeps the rest byte for byte.
  if (args.expect && !gotExpected) {
    const want = args.expect;
    const offset = /^\{"offset":"([^"]*)",/.exec(text);
    const rest = offset ? '{' + text.slice(offset[0].length) : text;
    if (rest === want || (m.type === 'batch' && events.includes(JSON.stringify(JSON.parse(want))))) {
      log(`received the published event${m.type === 'batch' ? ' (in a batch)' : ' (same bytes)'}${offset ? ` with offset ${offset[1]}` : ''}`);
      if (args['expect-offset'] && !offset && m.type !== 'batch') fail(`the event has no offset: ${text}`);
      gotExpected = true;
    }
  }
  if (!gotAny) {
    const evs = m.type === 'batch' ? m.events : [m];
    const e = evs.find((x) => eventTypes.has(x.type) && !(args.expect && JSON.stringify(x) === JSON.stringify(JSON.parse(args.expect))));
    if (e) {
      log(`received a ${e.type} from the publisher`);
      gotAny = true;
    }
  }
  done();
});
