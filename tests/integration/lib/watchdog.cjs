// Watchdog of one test process: reads "pid N" / "unpid N" / "dir P" / "undir P"
// lines on stdin. When stdin ends (the test process exited or was killed, even
// by SIGKILL from a ctest timeout), it SIGKILLs the pids still registered (and
// their children, e.g. nginx workers) and removes the registered directories.
'use strict';
const fs = require('node:fs');

const pids = new Set();
const dirs = new Set();
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    const sp = line.indexOf(' ');
    const cmd = line.slice(0, sp);
    const arg = line.slice(sp + 1);
    if (cmd === 'pid') pids.add(Number(arg));
    else if (cmd === 'unpid') pids.delete(Number(arg));
    else if (cmd === 'dir') dirs.add(arg);
    else if (cmd === 'undir') dirs.delete(arg);
  }
});

function childrenOf(ppid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

process.stdin.on('end', () => {
  for (const pid of pids) {
    for (const k of childrenOf(pid)) { try { process.kill(k, 'SIGKILL'); } catch { /* gone */ } }
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  setTimeout(() => {
    for (const d of dirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* */ } }
    process.exit(0);
  }, pids.size ? 300 : 0);
});
