// Issue 15: the default same-host Origin check also judges the page's scheme
// (portfolio_stream_origin_scheme auto | https | any), and
// portfolio_stream_allowed_origins entries carry theirs. One nginx with a TLS
// listener (self-signed certificate made here with openssl) and a plain one
// in the same server.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { startEnv, stopEnv, stopAndCheckLog, uniqueUser } from './lib/env.mjs';
import { freePort } from './lib/ports.mjs';
import { registerDir, unregisterDir } from './lib/procs.mjs';
import { handshakeRequest, rawRequest } from './lib/raw.mjs';

// A handshake over TLS: resolves {status, socket, head}; the caller destroys the socket.
function tlsHandshake(port, o, { timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => { s.destroy(); reject(new Error(`no answer within ${timeout} ms: ${buf}`)); }, timeout);
    s.once('secureConnect', () => s.write(handshakeRequest(port, o)));
    s.once('error', (e) => { clearTimeout(t); reject(e); });
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      clearTimeout(t);
      s.removeAllListeners('data');
      const head = buf.subarray(0, i).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] || 0), head, socket: s, rest: buf.subarray(i + 4) });
    });
  });
}

describe('Origin scheme (issue 15)', () => {
  const env = {};
  let certDir;
  let plainPort;
  let cookie;

  before(async () => {
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-cert-'));
    registerDir(certDir);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
      '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem')], { stdio: 'ignore' });
    plainPort = await freePort();
    Object.assign(env, await startEnv({
      nginx: {
        listen: 'ssl',
        server: [
          `listen 127.0.0.1:${plainPort};`,
          `ssl_certificate ${path.join(certDir, 'cert.pem')};`,
          `ssl_certificate_key ${path.join(certDir, 'key.pem')};`,
        ],
        locations: [
          'location = /ws/https { portfolio_stream on; portfolio_stream_origin_scheme https; }',
          'location = /ws/any { portfolio_stream on; portfolio_stream_origin_scheme any; }',
          'location = /ws/listed { portfolio_stream on; portfolio_stream_origin_scheme https; '
            + 'portfolio_stream_allowed_origins https://app.example http://dev.example:8080; }',
        ],
      },
    }));
    ({ cookie } = await env.login(uniqueUser()));
  });
  after(async () => {
    await stopEnv(env);
    fs.rmSync(certDir, { recursive: true, force: true });
    unregisterDir(certDir);
  });

  // status of one handshake; over TLS to env.port, or plain to plainPort
  async function status(over, path, origin) {
    const o = { path, origin, cookie };
    if (over === 'tls') {
      const r = await tlsHandshake(env.port, o);
      r.socket.destroy();
      return r.status;
    }
    const r = await rawRequest(plainPort, handshakeRequest(plainPort, o));
    r.socket.destroy();
    return r.status;
  }
  const tlsOrigin = (scheme) => `${scheme}://127.0.0.1:${env.port}`;
  const plainOrigin = (scheme) => `${scheme}://127.0.0.1:${plainPort}`;

  it('a WebSocket over TLS works end to end (connected message after the 101)', async () => {
    const r = await tlsHandshake(env.port, { origin: tlsOrigin('https'), cookie });
    assert.equal(r.status, 101, r.head);
    let got = r.rest.toString('latin1');
    const end = Date.now() + 3000;
    while (!got.includes('"connected"') && Date.now() < end) {
      got += await new Promise((res) => { r.socket.once('data', (d) => res(d.toString('latin1'))); setTimeout(() => res(''), 200); });
    }
    r.socket.destroy();
    assert.match(got, /"type":"connected"/);
  });

  it('auto (default), TLS connection: an https page passes, an http page of the same host is 403', async () => {
    assert.equal(await status('tls', '/ws/portfolio', tlsOrigin('https')), 101);
    assert.equal(await status('tls', '/ws/portfolio', tlsOrigin('wss')), 101);
    assert.equal(await status('tls', '/ws/portfolio', tlsOrigin('http')), 403);
    assert.equal(await status('tls', '/ws/portfolio', tlsOrigin('ws')), 403);
    assert.equal(await status('tls', '/ws/portfolio', tlsOrigin('HTTP')), 403);
    assert.equal(await status('tls', '/ws/portfolio', 'https://evil.example'), 403);
    assert.equal(await status('tls', '/ws/portfolio', undefined), 101, 'no Origin: not a browser');
  });

  it('auto, plain connection: http and https pages pass (TLS may end at a proxy in front)', async () => {
    assert.equal(await status('plain', '/ws/portfolio', plainOrigin('http')), 101);
    assert.equal(await status('plain', '/ws/portfolio', plainOrigin('https')), 101);
    assert.equal(await status('plain', '/ws/portfolio', 'http://evil.example'), 403);
  });

  it('https: an http page is 403 on either connection', async () => {
    assert.equal(await status('plain', '/ws/https', plainOrigin('http')), 403);
    assert.equal(await status('plain', '/ws/https', plainOrigin('https')), 101);
    assert.equal(await status('tls', '/ws/https', tlsOrigin('http')), 403);
    assert.equal(await status('tls', '/ws/https', tlsOrigin('https')), 101);
  });

  it('any: hosts only, as before', async () => {
    assert.equal(await status('tls', '/ws/any', tlsOrigin('http')), 101);
    assert.equal(await status('plain', '/ws/any', plainOrigin('https')), 101);
    assert.equal(await status('tls', '/ws/any', 'https://evil.example'), 403);
  });

  it('allowed_origins entries are matched with their scheme, whatever origin_scheme says', async () => {
    assert.equal(await status('tls', '/ws/listed', 'https://app.example'), 101);
    assert.equal(await status('tls', '/ws/listed', 'http://app.example'), 403);
    assert.equal(await status('tls', '/ws/listed', 'http://app.example:443'), 403);
    assert.equal(await status('plain', '/ws/listed', 'http://dev.example:8080'), 101);
    assert.equal(await status('tls', '/ws/listed', 'http://dev.example:8080'), 101);
    assert.equal(await status('tls', '/ws/listed', 'https://dev.example:8080'), 403);
    assert.equal(await status('tls', '/ws/listed', tlsOrigin('https')), 403, 'a list replaces the same-host default');
  });

  it('the refusals are logged; error.log is clean and nginx stops gracefully', async () => {
    assert.match(env.nginx.errorLog(), /origin "http:\/\/127\.0\.0\.1:\d+" not allowed/);
    await stopAndCheckLog(env);
  });
});
