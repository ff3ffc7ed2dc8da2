// Free loopback ports. Picked below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range, 32768-60999 by default): a port taken from
// that range could be grabbed by one of the tests' own client sockets before
// nginx or redis binds it.
import net from 'node:net';

function tryListen(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export async function freePort() {
  for (let i = 0; i < 500; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (await tryListen(port)) return port;
  }
  throw new Error('no free loopback port in 20000-31999');
}

// Resolves once something accepts TCP connections on 127.0.0.1:port.
export async function waitForPort(port, timeout = 10000, isDead = () => false) {
  const end = Date.now() + timeout;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (isDead()) throw new Error(`process died before port ${port} accepted connections`);
    if (Date.now() > end) throw new Error(`port ${port} not accepting after ${timeout} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
