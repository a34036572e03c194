// In-page harness for the Chromium <-> zerows interop test (tests/browser/interop.mjs drives it
// through page.evaluate). Everything that touches the WebSocket runs here, in the browser: the
// messages are generated here, sent, and every echo is compared byte-for-byte here; only small
// result objects go back to Node.
'use strict';

const SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20];
const VARIANTS = ['text-mixed', 'text-repetitive', 'binary-random', 'binary-repetitive'];

// xorshift32: deterministic pseudo-random data, so a failure reproduces.
function prng(seed) {
  let x = (seed >>> 0) || 0x9e3779b9;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

function seedOf(variant, size) {
  let h = 2166136261;
  for (const c of `${variant}/${size}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}

// UTF-8 encodes code point `cp` into `out` at `i`; returns the new index.
function putUtf8(out, i, cp) {
  if (cp < 0x80) { out[i++] = cp; }
  else if (cp < 0x800) { out[i++] = 0xc0 | (cp >> 6); out[i++] = 0x80 | (cp & 63); }
  else if (cp < 0x10000) {
    out[i++] = 0xe0 | (cp >> 12); out[i++] = 0x80 | ((cp >> 6) & 63); out[i++] = 0x80 | (cp & 63);
  } else {
    out[i++] = 0xf0 | (cp >> 18); out[i++] = 0x80 | ((cp >> 12) & 63);
    out[i++] = 0x80 | ((cp >> 6) & 63); out[i++] = 0x80 | (cp & 63);
  }
  return i;
}

// Text of exactly `size` UTF-8 bytes: pseudo-random scalar values of every encoded length (1-4
// bytes, surrogates excluded), ASCII where fewer than the chosen length's bytes remain.
function textMixedBytes(size, rnd) {
  const out = new Uint8Array(size);
  let i = 0;
  while (i < size) {
    const left = size - i;
    const r = rnd();
    let len = (r & 3) + 1;
    if (len > left) len = left;
    let cp;
    switch (len) {
      case 1: cp = 0x20 + ((r >>> 2) % 95); break;
      case 2: cp = 0x80 + ((r >>> 2) % (0x800 - 0x80)); break;
      case 3:
        cp = 0x800 + ((r >>> 2) % (0x10000 - 0x800 - 0x800));
        if (cp >= 0xd800) cp += 0x800; // skip the surrogates
        break;
      default: cp = 0x10000 + ((r >>> 2) % (0x110000 - 0x10000));
    }
    i = putUtf8(out, i, cp);
  }
  return out;
}

// Highly compressible text with multi-byte characters: one sentence repeated, cut at a character
// boundary, ASCII padding to the exact size.
function textRepetitiveBytes(size) {
  const unit = new TextEncoder().encode(
    'Grüße aus zerows — 圧縮テスト, ¡permessage-deflate! 🚀🦀 Ωμέγα ∑ 0123456789\n');
  const out = new Uint8Array(size);
  let i = 0;
  while (size - i >= unit.length) { out.set(unit, i); i += unit.length; }
  // the tail: ASCII only, so no character is cut
  for (let k = 0; i < size; i++, k++) out[i] = 0x61 + (k % 26);
  return out;
}

function binaryRandom(size, rnd) {
  const words = new Uint32Array(Math.ceil(size / 4));
  for (let k = 0; k < words.length; k++) words[k] = rnd();
  return new Uint8Array(words.buffer, 0, size).slice();
}

function binaryRepetitive(size) {
  // a 61-byte period with a counter byte every 4 KiB: compresses about 1000:1
  const unit = new TextEncoder().encode('zerows binary pattern \x00\x01\x02\x03\xff\xfe\xfd ABCDEFGHIJKLMNOPQRSTUVWXYZ!\n');
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = unit[i % unit.length];
  for (let i = 0; i < size; i += 4096) out[i] = (i >>> 12) & 0xff;
  return out;
}

const cache = new Map();
// The message for (variant, size): a string for text variants, a Uint8Array for binary ones.
function message(variant, size) {
  const key = `${variant}/${size}`;
  let m = cache.get(key);
  if (m !== undefined) return m;
  const rnd = prng(seedOf(variant, size));
  switch (variant) {
    case 'text-mixed':
      m = new TextDecoder('utf-8', { fatal: true }).decode(textMixedBytes(size, rnd)); break;
    case 'text-repetitive':
      m = new TextDecoder('utf-8', { fatal: true }).decode(textRepetitiveBytes(size)); break;
    case 'binary-random': m = binaryRandom(size, rnd); break;
    case 'binary-repetitive': m = binaryRepetitive(size); break;
    default: throw new Error(`unknown variant ${variant}`);
  }
  cache.set(key, m);
  return m;
}

function utf8Length(s) {
  // for reporting only
  return new TextEncoder().encode(s).length;
}

// Compares an echo with what was sent; returns null when identical, else a description.
function compare(sent, got) {
  if (typeof sent === 'string') {
    if (typeof got !== 'string') return `expected a text message, got ${Object.prototype.toString.call(got)}`;
    if (got === sent) return null;
    let i = 0;
    while (i < sent.length && i < got.length && sent.charCodeAt(i) === got.charCodeAt(i)) i++;
    return `text differs: sent ${sent.length} UTF-16 units (${utf8Length(sent)} B), got ${got.length} ` +
      `(${utf8Length(got)} B), first difference at unit ${i}`;
  }
  if (!(got instanceof ArrayBuffer)) return `expected a binary message, got ${typeof got === 'string' ? 'text' : typeof got}`;
  const g = new Uint8Array(got);
  if (g.length !== sent.length) return `binary length differs: sent ${sent.length} B, got ${g.length} B`;
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== sent[i]) return `binary differs at byte ${i}: sent 0x${sent[i].toString(16)}, got 0x${g[i].toString(16)}`;
  }
  return null;
}

// ---- the connection ----------------------------------------------------------------------------
let ws = null;
let inbox = [];      // echoes not yet claimed
let waiters = [];    // [resolve, reject] of receive() calls in order
let closed = null;   // {code, reason, wasClean} once closed
let closeWaiters = [];
let errorSeen = false;

function fail(err) {
  for (const [, reject] of waiters) reject(err);
  waiters = [];
}

function receive(timeoutMs) {
  if (inbox.length) return Promise.resolve(inbox.shift());
  if (closed) return Promise.reject(new Error(`connection closed: code ${closed.code} reason "${closed.reason}" wasClean ${closed.wasClean}`));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      waiters = waiters.filter((w) => w[0] !== res);
      reject(new Error(`no echo within ${timeoutMs} ms`));
    }, timeoutMs);
    const res = (v) => { clearTimeout(t); resolve(v); };
    const rej = (e) => { clearTimeout(t); reject(e); };
    waiters.push([res, rej]);
  });
}

window.zt = {
  SIZES,
  VARIANTS,

  // Pre-builds messages so that generation time stays out of the round-trip timings.
  prepare(variants, sizes) {
    const t0 = performance.now();
    for (const v of variants) for (const s of sizes) message(v, s);
    return { ms: performance.now() - t0 };
  },

  open(url, timeoutMs = 10000) {
    inbox = []; waiters = []; closed = null; closeWaiters = []; errorSeen = false;
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`open ${url}: no open event within ${timeoutMs} ms`)), timeoutMs);
      try {
        ws = new WebSocket(url);
      } catch (e) {
        clearTimeout(t);
        reject(e);
        return;
      }
      ws.binaryType = 'arraybuffer';
      ws.onmessage = (ev) => {
        if (waiters.length) waiters.shift()[0](ev.data);
        else inbox.push(ev.data);
      };
      ws.onerror = () => { errorSeen = true; };
      ws.onclose = (ev) => {
        closed = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean, errorEvent: errorSeen };
        fail(new Error(`connection closed: code ${ev.code} reason "${ev.reason}" wasClean ${ev.wasClean}`));
        for (const w of closeWaiters) w(closed);
        closeWaiters = [];
        clearTimeout(t);
        reject(new Error(`open ${url}: closed before open (code ${ev.code}, wasClean ${ev.wasClean})`));
      };
      ws.onopen = () => {
        clearTimeout(t);
        resolve({ ms: performance.now() - t0, extensions: ws.extensions, protocol: ws.protocol, url: ws.url });
      };
    });
  },

  // One message out, its echo back; compared byte-for-byte.
  async roundtrip(variant, size, timeoutMs = 60000) {
    const m = message(variant, size);
    const t0 = performance.now();
    ws.send(m);
    let got;
    try {
      got = await receive(timeoutMs);
    } catch (e) {
      return { ok: false, ms: performance.now() - t0, error: String(e.message || e) };
    }
    const ms = performance.now() - t0;
    const diff = compare(m, got);
    return diff === null ? { ok: true, ms } : { ok: false, ms, error: diff };
  },

  // Several messages in flight at once: all sent back-to-back, echoes checked in order.
  async burst(items, timeoutMs = 120000) {
    const msgs = items.map(([v, s]) => message(v, s));
    const t0 = performance.now();
    let maxBuffered = 0;
    for (const m of msgs) {
      ws.send(m);
      if (ws.bufferedAmount > maxBuffered) maxBuffered = ws.bufferedAmount;
    }
    const errors = [];
    for (let k = 0; k < msgs.length; k++) {
      let got;
      try {
        got = await receive(timeoutMs);
      } catch (e) {
        errors.push(`#${k} (${items[k][0]} ${items[k][1]} B): ${e.message || e}`);
        break;
      }
      const diff = compare(msgs[k], got);
      if (diff !== null) errors.push(`#${k} (${items[k][0]} ${items[k][1]} B): ${diff}`);
    }
    const bytes = items.reduce((a, [, s]) => a + s, 0);
    return { ok: errors.length === 0, ms: performance.now() - t0, count: msgs.length, bytes, maxBuffered, errors: errors.slice(0, 5) };
  },

  // Many small messages of pseudo-random sizes, alternating text and binary, all in flight.
  async smallBurst(count, seed, timeoutMs = 30000) {
    const rnd = prng(seed);
    const msgs = [];
    for (let k = 0; k < count; k++) {
      const size = rnd() % 300;
      if (k % 2) msgs.push(binaryRandom(size, rnd));
      else msgs.push(new TextDecoder().decode(textMixedBytes(size, rnd)));
    }
    const t0 = performance.now();
    for (const m of msgs) ws.send(m);
    const errors = [];
    for (let k = 0; k < msgs.length; k++) {
      let got;
      try {
        got = await receive(timeoutMs);
      } catch (e) {
        errors.push(`#${k}: ${e.message || e}`);
        break;
      }
      const diff = compare(msgs[k], got);
      if (diff !== null) errors.push(`#${k}: ${diff}`);
    }
    return { ok: errors.length === 0, ms: performance.now() - t0, count, errors: errors.slice(0, 5) };
  },

  close(code, reason, timeoutMs = 10000) {
    const t0 = performance.now();
    return new Promise((resolve) => {
      const done = (c) => resolve({ ...c, ms: performance.now() - t0, unexpectedMessages: inbox.length });
      if (closed) { done({ ...closed, alreadyClosed: true }); return; }
      const t = setTimeout(() => resolve({ timeout: true, ms: performance.now() - t0, readyState: ws.readyState }), timeoutMs);
      closeWaiters.push((c) => { clearTimeout(t); done(c); });
      ws.close(code, reason);
    });
  },

  state() {
    return { readyState: ws ? ws.readyState : null, closed, inbox: inbox.length, secure: window.isSecureContext, origin: location.origin };
  },
};
