// A transparent TCP relay on loopback that reads WebSocket frame headers as they pass, to measure
// what crossed the wire: frames per message, RSV1 (compressed) flags, and payload bytes per
// direction. It never changes a WebSocket byte. Used for a second, measuring pass; the main interop
// pass connects the browser to the server directly.
//
// For a wss:// server the frames are inside TLS, so the relay terminates TLS on both sides: the
// browser's TLS ends at the relay (which presents the server's own certificate and key, so the
// browser trusts it exactly as it trusts the server), and the relay opens its own TLS connection
// to the server, verifying the server's chain against the test CA and its 127.0.0.1 name. The
// WebSocket bytes pass through unchanged in cleartext between the two.
import net from 'node:net';
import tls from 'node:tls';

// Parses one direction of a WebSocket connection: the HTTP head first, then frame headers,
// skipping payloads without copying them.
class FrameScanner {
  constructor(dir) {
    this.dir = dir;
    this.head = Buffer.alloc(0);
    this.headDone = false;
    this.httpHead = '';
    this.hdr = Buffer.alloc(0); // partial frame header
    this.skip = 0;              // payload bytes still to pass over
    this.cur = null;            // the data message being assembled
    this.messages = [];         // completed data messages
    this.controls = [];         // control frames: {opcode, len}
    this.frames = 0;
    this.payloadBytes = 0;
    this.maxFrame = 0;
    this.errors = [];
  }

  push(chunk) {
    let off = 0;
    if (!this.headDone) {
      this.head = Buffer.concat([this.head, chunk]);
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.httpHead = this.head.subarray(0, end).toString('latin1');
      this.headDone = true;
      chunk = this.head.subarray(end + 4);
      this.head = null;
    }
    while (off < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        this.skip -= n;
        off += n;
        continue;
      }
      // gather a complete header: two bytes first, then the rest that they announce
      const want = this.hdr.length < 2 ? 2 : FrameScanner.headerLength(this.hdr);
      const take = Math.min(want - this.hdr.length, chunk.length - off);
      this.hdr = Buffer.concat([this.hdr, chunk.subarray(off, off + take)]);
      off += take;
      if (this.hdr.length < 2 || this.hdr.length < FrameScanner.headerLength(this.hdr)) continue;
      this.frame(this.hdr);
      this.hdr = Buffer.alloc(0);
    }
  }

  // Header length announced by the first two bytes.
  static headerLength(h) {
    const masked = (h[1] & 0x80) !== 0;
    const l7 = h[1] & 0x7f;
    return 2 + (l7 === 126 ? 2 : l7 === 127 ? 8 : 0) + (masked ? 4 : 0);
  }

  frame(h) {
    const fin = (h[0] & 0x80) !== 0;
    const rsv1 = (h[0] & 0x40) !== 0;
    const opcode = h[0] & 0x0f;
    const l7 = h[1] & 0x7f;
    let len = l7;
    if (l7 === 126) len = h.readUInt16BE(2);
    else if (l7 === 127) len = Number(h.readBigUInt64BE(2));
    this.frames++;
    this.payloadBytes += len;
    if (len > this.maxFrame) this.maxFrame = len;
    this.skip = len;
    if (opcode >= 8) {
      this.controls.push({ opcode, len });
      return;
    }
    if (opcode !== 0) {
      if (this.cur) this.errors.push('new data frame inside a fragmented message');
      this.cur = { opcode, rsv1, frames: 0, wire: 0, maxFrame: 0, rsv1OnContinuation: false };
    } else if (!this.cur) {
      this.errors.push('continuation frame without a message');
      return;
    } else if (rsv1) {
      this.cur.rsv1OnContinuation = true;
    }
    this.cur.frames++;
    this.cur.wire += len;
    if (len > this.cur.maxFrame) this.cur.maxFrame = len;
    if (fin) {
      this.messages.push(this.cur);
      this.cur = null;
    }
  }
}

export class Sniffer {
  // tlsOptions: null for ws://; for wss:// { cert, key, ca } (PEM): the certificate chain and key
  // the relay presents to the browser, and the CA it verifies the server against.
  constructor(targetPort, targetHost = '127.0.0.1', tlsOptions = null) {
    this.targetPort = targetPort;
    this.targetHost = targetHost;
    this.tls = tlsOptions;
    this.conns = [];
    this.tlsErrors = [];
    if (tlsOptions) {
      this.server = tls.createServer({ cert: tlsOptions.cert, key: tlsOptions.key }, (client) => this.accept(client));
      this.server.on('tlsClientError', (e) => this.tlsErrors.push(`browser->relay TLS: ${e.message}`));
    } else {
      this.server = net.createServer((client) => this.accept(client));
    }
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve(this.server.address().port));
    });
  }

  accept(client) {
    // to an IP address: no SNI; the certificate is checked against the IP SAN
    const upstream = this.tls
      ? tls.connect({ host: this.targetHost, port: this.targetPort, ca: this.tls.ca })
      : net.connect(this.targetPort, this.targetHost);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const c = { c2s: new FrameScanner('c2s'), s2c: new FrameScanner('s2c'), tls: null };
    this.conns.push(c);
    if (this.tls) {
      upstream.once('secureConnect', () => {
        c.tls = { protocol: upstream.getProtocol(), cipher: upstream.getCipher().name, authorized: upstream.authorized,
          browserSide: { protocol: client.getProtocol(), cipher: client.getCipher().name } };
      });
      // a failed handshake (after it, errors are the connection's end, handled below)
      upstream.on('error', (e) => { if (!c.tls) this.tlsErrors.push(`relay->server TLS: ${e.message}`); });
    }
    client.on('data', (d) => { c.c2s.push(d); if (!upstream.write(d)) { client.pause(); upstream.once('drain', () => client.resume()); } });
    upstream.on('data', (d) => { c.s2c.push(d); if (!client.write(d)) { upstream.pause(); client.once('drain', () => upstream.resume()); } });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  }

  last() {
    return this.conns[this.conns.length - 1];
  }

  close() {
    this.server.close();
  }
}

// Sec-WebSocket-Extensions value(s) of an HTTP head, or ''.
export function extensionsHeader(head) {
  return head.split('\r\n')
    .filter((l) => /^sec-websocket-extensions:/i.test(l))
    .map((l) => l.slice(l.indexOf(':') + 1).trim())
    .join(', ');
}
