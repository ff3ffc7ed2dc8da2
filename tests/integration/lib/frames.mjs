// RFC 6455 frames built and parsed by hand, for handcrafted (and malformed) input.
import crypto from 'node:crypto';

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xA };

// fin (true), rsv (0..7: bit 4 = RSV1, 2 = RSV2, 1 = RSV3), opcode, payload (Buffer|string),
// mask (true: clients must mask), maskKey (4 bytes), len16/len64 (force an extended length
// field even for a short payload).
export function buildFrame({ fin = true, rsv = 0, opcode = OP.TEXT, payload = Buffer.alloc(0), mask = true, maskKey, len16 = false, len64 = false } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const len = data.length;
  let head;
  const b0 = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0xf);
  const m = mask ? 0x80 : 0;
  if (len64 || len > 0xffff) {
    head = Buffer.alloc(10);
    head[1] = m | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  } else if (len16 || len > 125) {
    head = Buffer.alloc(4);
    head[1] = m | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(2);
    head[1] = m | len;
  }
  head[0] = b0;
  if (!mask) return Buffer.concat([head, data]);
  const key = maskKey || crypto.randomBytes(4);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = data[i] ^ key[i & 3];
  return Buffer.concat([head, key, masked]);
}

export function closePayload(code, reason = '') {
  if (code === undefined) return Buffer.alloc(0);
  const r = Buffer.from(reason, 'utf8');
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

export const text = (s, o = {}) => buildFrame({ opcode: OP.TEXT, payload: s, ...o });
export const close = (code, reason, o = {}) => buildFrame({ opcode: OP.CLOSE, payload: closePayload(code, reason), ...o });
export const ping = (p = '', o = {}) => buildFrame({ opcode: OP.PING, payload: p, ...o });
export const pong = (p = '', o = {}) => buildFrame({ opcode: OP.PONG, payload: p, ...o });

// Incremental parser of server frames. Each frame: {fin, rsv, opcode, masked, payload,
// and for close frames code/reason}. Protocol problems of the *server* (masked frames,
// bad lengths) are recorded in `errors`, not thrown.
export class FrameParser {
  constructor() { this.buf = Buffer.alloc(0); this.errors = []; }
  push(chunk) {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out = [];
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (b.length < 4) break; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) break; len = Number(b.readBigUInt64BE(2)); off = 10; }
      const masked = !!(b[1] & 0x80);
      let key = null;
      if (masked) { if (b.length < off + 4) break; key = b.subarray(off, off + 4); off += 4; }
      if (b.length < off + len) break;
      let payload = Buffer.from(b.subarray(off, off + len));
      if (masked) { for (let i = 0; i < len; i++) payload[i] ^= key[i & 3]; this.errors.push('server frame is masked'); }
      const f = { fin: !!(b[0] & 0x80), rsv: (b[0] >> 4) & 7, opcode: b[0] & 0xf, masked, payload };
      if (f.opcode === OP.CLOSE) {
        f.code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
        f.reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
      }
      out.push(f);
      this.buf = this.buf.subarray(off + len);
    }
    return out;
  }
}

// Sec-WebSocket-Accept for a key.
export function acceptFor(key) {
  return crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
}

export const newKey = () => crypto.randomBytes(16).toString('base64');
