// Free loopback ports: bind port 0 on 127.0.0.1, read the port, close.
import net from 'node:net';

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
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
