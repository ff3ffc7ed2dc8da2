// Which nginx worker holds a client's TCP connection: /proc/net/tcp maps the
// (server port, client port) pair to a socket inode, /proc/<pid>/fd to a process.
import fs from 'node:fs';

function socketInodes(serverPort) {
  const map = new Map(); // client port -> inode
  const lines = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1);
  for (const l of lines) {
    const f = l.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [, lport] = f[1].split(':');
    const [, rport] = f[2].split(':');
    if (parseInt(lport, 16) === serverPort) map.set(parseInt(rport, 16), f[9]);
  }
  return map;
}

function inodesOf(pid) {
  const s = new Set();
  let fds = [];
  try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { return s; }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) s.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  return s;
}

// -> Map(clientPort -> worker pid | null)
export function workerOfClientPorts(serverPort, clientPorts, workerPids) {
  const inodes = socketInodes(serverPort);
  const owned = workerPids.map((p) => [p, inodesOf(p)]);
  const out = new Map();
  for (const cp of clientPorts) {
    const ino = inodes.get(cp);
    const hit = ino && owned.find(([, s]) => s.has(ino));
    out.set(cp, hit ? hit[0] : null);
  }
  return out;
}
