// Headless Chromium <-> zerows echo server interop (issue 8, permessage-deflate).
//
// Usage: node interop.mjs NAME:PORT:on|off[:tls] [NAME:PORT:on|off[:tls] ...]
//   NAME      a label for the server (e.g. sync)
//   PORT      its loopback port (ws://127.0.0.1:PORT/, or wss://127.0.0.1:PORT/ with :tls)
//   on|off    whether the server has permessage-deflate enabled (what ws.extensions must show)
//   tls       the server speaks wss:// with the certificate in INTEROP_TLS_DIR
//
// Normally run by scripts/browser-interop.sh, which installs Chromium and playwright-core, builds
// and starts the echo servers. Environment (optional):
//   CHROMIUM            browser binary (default /usr/bin/chromium)
//   INTEROP_SIZES       comma-separated message sizes in bytes (default 0,1,125,126,65535,65536,1048576,16777216)
//   INTEROP_MEASURE=0   skip the second pass through the frame-counting relay (wire stats)
//   INTEROP_JSON        write every result to this file as JSON
//   INTEROP_VERBOSE=1   print the browser's command line and console
//   INTEROP_TLS_DIR     required with a :tls target: what scripts/gen-test-cert.sh made (ca.pem,
//                       cert.pem, key.pem, spki.txt)
//
// For each server: a page served from http://127.0.0.1 opens new WebSocket("ws://127.0.0.1:PORT/"),
// checks ws.extensions, round-trips text (multi-byte UTF-8, random and repetitive) and binary
// (random and repetitive) messages of every size one at a time and then many in flight at once,
// comparing every echo byte-for-byte in the page, and closes with 1000 "bye", expecting a clean
// close with code 1000. A second connection goes through a transparent relay that reads the frame
// headers, giving frames per message and bytes on the wire (the compression ratio).
//
// wss:// targets run the same battery. Chromium trusts the test certificate only through
// --ignore-certificate-errors-spki-list=<base64 SHA-256 of the leaf's SPKI> (certificate checks
// stay on for everything else); the relay terminates TLS on both sides (see sniffer.mjs), so the
// wire statistics work over TLS too. A negative control then launches a second Chromium with the
// same flags but without the SPKI list: from the same page origin, its ws:// connection to a plain
// server must open (when there is one) and its wss:// connection to every TLS server must fail
// (close 1006), so the trust comes from the SPKI flag and nothing else.
//
// Exit status 0 when every check passed, 1 otherwise, 2 on a setup error.
import http from 'node:http';
import { X509Certificate, createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sniffer, extensionsHeader } from './sniffer.mjs';
// the browser binary and flags, shared with chat.mjs
import { EXECUTABLE, launchChromium } from './chromium.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SIZES = (process.env.INTEROP_SIZES || '0,1,125,126,65535,65536,1048576,16777216')
  .split(',').map((s) => Number(s.trim()));
const VARIANTS = ['text-mixed', 'text-repetitive', 'binary-random', 'binary-repetitive'];
const MEASURE = process.env.INTEROP_MEASURE !== '0';
const VERBOSE = process.env.INTEROP_VERBOSE === '1';

function usage(msg) {
  console.error(`interop.mjs: ${msg}\nusage: node interop.mjs NAME:PORT:on|off[:tls] [...]`);
  process.exit(2);
}

const targets = process.argv.slice(2).map((a) => {
  const m = /^([\w.-]+):(\d+):(on|off)(:tls)?$/.exec(a);
  if (!m) usage(`bad target '${a}'`);
  return { name: m[1], port: Number(m[2]), deflate: m[3] === 'on', tls: !!m[4] };
});
if (!targets.length) usage('no target');

// ---- TLS material: the test certificate and the SPKI pin Chromium is given ------------------------
let TLS = null;
if (targets.some((t) => t.tls)) {
  const dir = process.env.INTEROP_TLS_DIR;
  if (!dir) usage('a :tls target needs INTEROP_TLS_DIR (see scripts/gen-test-cert.sh)');
  try {
    TLS = {
      ca: fs.readFileSync(path.join(dir, 'ca.pem')),
      cert: fs.readFileSync(path.join(dir, 'cert.pem')),
      key: fs.readFileSync(path.join(dir, 'key.pem')),
      spki: fs.readFileSync(path.join(dir, 'spki.txt'), 'utf8').trim(),
    };
  } catch (e) {
    usage(`INTEROP_TLS_DIR: ${e.message}`);
  }
  // the pin must be the leaf's (the first certificate in cert.pem), not the CA's
  const leaf = new X509Certificate(TLS.cert);
  const pin = createHash('sha256').update(leaf.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  if (pin !== TLS.spki) usage(`spki.txt (${TLS.spki}) is not the SPKI hash of the leaf in cert.pem (${pin})`);
}
const SPKI_FLAG = TLS ? [`--ignore-certificate-errors-spki-list=${TLS.spki}`] : [];
const wsUrl = (t, port = t.port) => `${t.tls ? 'wss' : 'ws'}://127.0.0.1:${port}/`;
if (SIZES.some((s) => !Number.isInteger(s) || s < 0)) usage(`bad INTEROP_SIZES '${process.env.INTEROP_SIZES}'`);

// ---- bookkeeping --------------------------------------------------------------------------------
let passed = 0;
let failed = 0;
const failures = [];
// per target: the checks counted while it ran
const perTarget = new Map();
let current = null;
function check(ok, what, detail) {
  if (current) {
    if (!perTarget.has(current)) perTarget.set(current, { passed: 0, failed: 0 });
    perTarget.get(current)[ok ? 'passed' : 'failed']++;
  }
  if (ok) passed++;
  else {
    failed++;
    failures.push(`${what}${detail ? `: ${detail}` : ''}`);
  }
  return ok;
}

const fmtSize = (n) => (n >= 1 << 20 && n % (1 << 20) === 0 ? `${n >> 20}MiB`
  : n === 65535 ? '64K-1' : n === 65536 ? '64K' : `${n}B`);
const fmtMs = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const fmtBytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
const pad = (s, n) => String(s).padStart(n);

// ---- the page's origin: a tiny HTTP server on loopback -------------------------------------------
const INDEX = `<!doctype html><meta charset="utf-8"><title>zerows interop</title>
<script src="/page.js"></script><p>zerows browser interop harness</p>`;

function startHttp() {
  const pageJs = fs.readFileSync(path.join(HERE, 'page.js'));
  const server = http.createServer((req, res) => {
    if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(INDEX);
    } else if (req.url === '/page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
      res.end(pageJs);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function browserCommandLine(profile) {
  // the browser process playwright started: the one with our profile directory and no --type=
  try {
    for (const pid of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let cmd;
      try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean); } catch { continue; }
      if (cmd.includes(`--user-data-dir=${profile}`) && !cmd.some((a) => a.startsWith('--type='))
        && cmd.includes('--remote-debugging-pipe')) return cmd;
    }
  } catch { /* not Linux */ }
  return null;
}

const showCommandLine = (cmd) => cmd.map((a) => (/[\s*]/.test(a) ? `'${a}'` : a)).join(' ');

// Launches Chromium with FLAGS, `extra` and a fresh profile; returns { browser, cmd, close }.
async function launch(extra) {
  const { browser, profile, close } = await launchChromium(extra);
  return { browser, cmd: browserCommandLine(profile), close };
}

async function openPage(browser, origin) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('crash', () => console.log('PAGE CRASHED'));
  if (VERBOSE) page.on('console', (m) => console.log(`  [page ${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`  [page error] ${e.message}`));
  await page.goto(`${origin}/`);
  const st = await page.evaluate(() => window.zt.state());
  if (!st || st.origin !== origin) throw new Error(`harness did not load: ${JSON.stringify(st)}`);
  return { context, page };
}

// The negative control: a browser launched without the SPKI list must refuse every TLS server's
// certificate, while (the same launch, the same page origin) a plain ws:// server still opens.
async function untrustedControl(origin, results) {
  const tlsTargets = targets.filter((t) => t.tls);
  const plain = targets.find((t) => !t.tls);
  console.log('\n== negative control: a second Chromium, the same flags without --ignore-certificate-errors-spki-list');
  const b = await launch([]);
  try {
    const bad = b.cmd ? b.cmd.filter((a) => /^--ignore-certificate-errors|^--allow-insecure-localhost/.test(a)) : [];
    if (VERBOSE && b.cmd) console.log(`  browser command line: ${showCommandLine(b.cmd)}`);
    const { context, page } = await openPage(b.browser, origin);
    if (plain) {
      current = plain.name;
      const url = wsUrl(plain);
      let r;
      try {
        r = await page.evaluate((u) => window.zt.open(u), url);
        const c = await page.evaluate(() => window.zt.close(1000, 'bye'));
        r.close = c;
      } catch (e) {
        r = { error: e.message };
      }
      const ok = !r.error && r.close && r.close.code === 1000;
      check(ok, `${plain.name} opens without the SPKI flag (control of the control)`, r.error || JSON.stringify(r.close));
      console.log(`  ${url}: ${ok ? 'opens and closes (1000) OK' : `FAIL ${r.error || JSON.stringify(r.close)}`}`);
      results.find((x) => x.target === plain).untrustedBrowser = r;
    }
    for (const t of tlsTargets) {
      current = t.name;
      const url = wsUrl(t);
      let opened = null;
      let error = null;
      try {
        opened = await page.evaluate((u) => window.zt.open(u), url);
      } catch (e) {
        error = e.message;
      }
      const st = await page.evaluate(() => window.zt.state());
      if (opened) await page.evaluate(() => window.zt.close(1000, 'bye'));
      const ok = !opened && st.closed && st.closed.code === 1006 && st.closed.wasClean === false;
      const what = opened ? 'OPENED (the certificate was trusted without the pin)'
        : st.closed ? `refused: error event ${st.closed.errorEvent}, close ${st.closed.code} wasClean ${st.closed.wasClean}` : error;
      check(ok, `${t.name} refused without the SPKI flag`, what);
      console.log(`  ${url}: ${what} ${ok ? 'OK' : 'FAIL'}`);
      results.find((x) => x.target === t).untrustedBrowser = { opened: !!opened, error, closed: st.closed };
    }
    current = null;
    // (the command line is read from /proc: Linux only)
    if (b.cmd) check(bad.length === 0, 'negative control browser flags', `certificate flags present: ${bad.join(' ')}`);
    await context.close();
  } finally {
    current = null;
    await b.close();
  }
}

// ---- one server --------------------------------------------------------------------------------
async function sweep(page, label, sniffer) {
  const rows = {};
  for (const v of VARIANTS) {
    rows[v] = {};
    for (const size of SIZES) {
      const conn = sniffer ? sniffer.last() : null;
      const before = conn ? [conn.c2s.messages.length, conn.s2c.messages.length] : null;
      const r = await page.evaluate(([vv, ss]) => window.zt.roundtrip(vv, ss), [v, size]);
      if (conn) {
        const c2s = conn.c2s.messages.slice(before[0]);
        const s2c = conn.s2c.messages.slice(before[1]);
        r.wire = { c2s, s2c };
        check(c2s.length === 1 && s2c.length === 1, `${label} ${v} ${fmtSize(size)} wire`,
          `expected one message each way on the wire, saw ${c2s.length} out and ${s2c.length} back`);
        for (const [dir, ms] of [['browser->server', c2s], ['server->browser', s2c]]) {
          for (const m of ms) {
            check(!m.rsv1OnContinuation, `${label} ${v} ${fmtSize(size)} ${dir}`, 'RSV1 set on a continuation frame');
          }
        }
      }
      check(r.ok, `${label} ${v} ${fmtSize(size)}`, r.error);
      rows[v][size] = r;
      if (!r.ok && /closed/.test(r.error || '')) return { rows, dead: true };
    }
  }
  return { rows, dead: false };
}

function printSweep(rows, title) {
  const w = 9;
  console.log(`  ${title}`);
  console.log(`    ${'ms'.padEnd(18)}${SIZES.map((s) => pad(fmtSize(s), w)).join('')}`);
  for (const v of VARIANTS) {
    if (!rows[v]) continue;
    const cells = SIZES.map((s) => {
      const r = rows[v][s];
      return pad(!r ? '-' : r.ok ? fmtMs(r.ms) : 'FAIL', w);
    });
    console.log(`    ${v.padEnd(18)}${cells.join('')}`);
  }
}

function printWire(rows) {
  const big = SIZES.filter((s) => s >= 65536);
  if (!big.length) return;
  console.log('  on the wire (data frames; bytes = payload on the wire / message size):');
  for (const v of VARIANTS) {
    for (const s of big) {
      const r = rows[v] && rows[v][s];
      if (!r || !r.wire) continue;
      const d = (ms) => {
        if (ms.length !== 1) return `${ms.length} messages?`;
        const m = ms[0];
        const ratio = s ? (m.wire / s).toFixed(3) : '-';
        return `${pad(m.frames, 3)} fr ${m.rsv1 ? 'RSV1' : '    '} ${pad(fmtBytes(m.wire), 10)} (${ratio})`;
      };
      console.log(`    ${v.padEnd(18)}${pad(fmtSize(s), 6)}  browser->server ${d(r.wire.c2s)}   server->browser ${d(r.wire.s2c)}`);
    }
  }
}

function burstItems() {
  // every variant and size up to 1 MiB, interleaved, with the 16 MiB ones in the middle
  const small = SIZES.filter((s) => s <= 1 << 20);
  const large = SIZES.filter((s) => s > 1 << 20);
  const items = [];
  for (const s of small) for (const v of VARIANTS) items.push([v, s]);
  const mid = items.length >> 1;
  const bigItems = large.flatMap((s) => [['binary-random', s], ['text-mixed', s]]);
  items.splice(mid, 0, ...bigItems);
  return items;
}

async function runTarget(page, t, results) {
  const url = wsUrl(t);
  const label = `${t.name}`;
  const res = { target: t, url };
  results.push(res);
  current = t.name;
  console.log(`\n== ${t.name}: ${url} (server permessage-deflate ${t.deflate ? 'on' : 'off'}` +
    `${t.tls ? '; TLS, trusted by SPKI pin' : ''})`);

  // --- pass 1: direct -------------------------------------------------------------------------
  let open;
  try {
    open = await page.evaluate((u) => window.zt.open(u), url);
  } catch (e) {
    check(false, `${label} open`, e.message);
    console.log(`  open: FAIL ${e.message}`);
    return;
  }
  res.open = open;
  check(open.url === url, `${label} url`, `ws.url = "${open.url}", expected "${url}"`);
  const ext = open.extensions;
  const extOk = t.deflate ? /^permessage-deflate(\s*;|$)/.test(ext) : ext === '';
  check(extOk, `${label} negotiation`, `ws.extensions = "${ext}", expected ${t.deflate ? 'permessage-deflate' : 'empty'}`);
  console.log(`  open ${fmtMs(open.ms)} ms; ws.extensions = "${ext}" ${extOk ? 'OK' : 'FAIL'}`);

  const sw = await sweep(page, label, null);
  res.sweep = sw.rows;
  printSweep(sw.rows, 'one at a time, direct (round-trip ms; FAIL = wrong or missing echo):');
  if (sw.dead) {
    const st = await page.evaluate(() => window.zt.state());
    console.log(`  connection died: ${JSON.stringify(st.closed)}`);
    return;
  }

  const items = burstItems();
  const b = await page.evaluate((it) => window.zt.burst(it), items);
  res.burst = b;
  check(b.ok, `${label} burst of ${b.count}`, b.errors.join('; '));
  console.log(`  in flight at once: ${b.count} messages, ${fmtBytes(b.bytes)}, ${fmtMs(b.ms)} ms ` +
    `(max bufferedAmount ${fmtBytes(b.maxBuffered)}) ${b.ok ? 'OK' : `FAIL ${b.errors.join('; ')}`}`);
  const sb = await page.evaluate(() => window.zt.smallBurst(500, 12345));
  res.smallBurst = sb;
  check(sb.ok, `${label} burst of ${sb.count} small`, sb.errors.join('; '));
  console.log(`  in flight at once: ${sb.count} small messages (0-299 B), ${fmtMs(sb.ms)} ms ${sb.ok ? 'OK' : `FAIL ${sb.errors.join('; ')}`}`);

  const c = await page.evaluate(() => window.zt.close(1000, 'bye'));
  res.close = c;
  const closeOk = !c.timeout && c.wasClean === true && c.code === 1000 && !c.alreadyClosed;
  check(closeOk, `${label} close`, JSON.stringify(c));
  check(!c.unexpectedMessages, `${label} no stray messages`, `${c.unexpectedMessages} unclaimed`);
  console.log(`  close(1000, "bye"): ${c.timeout ? 'no close event' : `code ${c.code} reason "${c.reason}" wasClean ${c.wasClean}`}` +
    ` ${fmtMs(c.ms)} ms ${closeOk ? 'OK' : 'FAIL'}`);

  if (!MEASURE) return;

  // --- pass 2: through the frame-counting relay -----------------------------------------------
  const sniffer = new Sniffer(t.port, '127.0.0.1', t.tls ? TLS : null);
  const sport = await sniffer.listen();
  try {
    let open2;
    try {
      open2 = await page.evaluate((u) => window.zt.open(u), wsUrl(t, sport));
    } catch (e) {
      throw new Error(`${e.message}${sniffer.tlsErrors.length ? ` (${sniffer.tlsErrors.join('; ')})` : ''}`);
    }
    const conn = sniffer.last();
    if (t.tls) {
      res.relayTls = conn.tls;
      console.log(`  relay: terminates TLS both ways; browser->relay ${conn.tls.browserSide.protocol} ${conn.tls.browserSide.cipher}, ` +
        `relay->server ${conn.tls.protocol} ${conn.tls.cipher} (chain verified against ca.pem: ${conn.tls.authorized})`);
    }
    const offer = extensionsHeader(conn.c2s.httpHead);
    const answer = extensionsHeader(conn.s2c.httpHead);
    res.handshake = { offer, answer, request: conn.c2s.httpHead, response: conn.s2c.httpHead };
    check(open2.extensions === ext, `${label} negotiation (relay)`, `"${open2.extensions}" vs "${ext}"`);
    console.log(`  handshake: browser offers "${offer}"; server answers "${answer}"`);
    const sw2 = await sweep(page, `${label} (relay)`, sniffer);
    res.measured = sw2.rows;
    printSweep(sw2.rows, 'one at a time, through the relay:');
    printWire(sw2.rows);
    if (!sw2.dead) {
      const c2 = await page.evaluate(() => window.zt.close(1000, 'bye'));
      const ok2 = !c2.timeout && c2.wasClean === true && c2.code === 1000;
      check(ok2, `${label} close (relay)`, JSON.stringify(c2));
      const closes = (dir) => conn[dir].controls.filter((f) => f.opcode === 8).map((f) => `${f.len} B`).join(',');
      console.log(`  close through the relay: ${ok2 ? 'OK' : 'FAIL'}; close frames browser->server [${closes('c2s')}], server->browser [${closes('s2c')}]`);
    }
    for (const dir of ['c2s', 's2c']) {
      check(!conn[dir].errors.length, `${label} relay ${dir} framing`, conn[dir].errors.join('; '));
    }
    if (t.tls) check(!sniffer.tlsErrors.length, `${label} relay TLS`, sniffer.tlsErrors.join('; '));
    // the 16 MiB round trips, direct and through the relay
    for (const s of SIZES.filter((x) => x >= 16 << 20)) {
      const line = VARIANTS.map((v) => `${v} ${sw.rows[v][s] ? fmtMs(sw.rows[v][s].ms) : '-'}/${sw2.rows[v] && sw2.rows[v][s] ? fmtMs(sw2.rows[v][s].ms) : '-'}`);
      console.log(`  ${fmtSize(s)} round trips, direct/relay ms: ${line.join(', ')}`);
    }
  } catch (e) {
    check(false, `${label} relay pass`, e.message);
    console.log(`  relay pass: FAIL ${e.message}`);
  } finally {
    sniffer.close();
  }
}

// ---- main -----------------------------------------------------------------------------------------
async function main() {
  const t0 = Date.now();
  if (!fs.existsSync(EXECUTABLE)) {
    console.error(`interop.mjs: no browser at ${EXECUTABLE}`);
    process.exit(2);
  }
  const httpServer = await startHttp();
  const origin = `http://127.0.0.1:${httpServer.address().port}`;
  let b;
  try {
    b = await launch(SPKI_FLAG);
  } catch (e) {
    console.error(`interop.mjs: could not launch ${EXECUTABLE}: ${e.message}`);
    httpServer.close();
    process.exit(2);
  }
  const results = [];
  let exitCode = 0;
  try {
    console.log(`browser: ${b.browser.version()} (${EXECUTABLE}); page origin ${origin}`);
    if (b.cmd) console.log(`browser command line: ${showCommandLine(b.cmd)}`);
    if (TLS && b.cmd) check(b.cmd.includes(SPKI_FLAG[0]), 'browser has the SPKI flag', 'not on its command line');
    const { context, page } = await openPage(b.browser, origin);
    const prep = await page.evaluate(([v, s]) => window.zt.prepare(v, s), [VARIANTS, SIZES]);
    console.log(`messages generated in the page in ${fmtMs(prep.ms)} ms (sizes ${SIZES.map(fmtSize).join(' ')}; ` +
      `variants ${VARIANTS.join(' ')})`);
    for (const t of targets) {
      const t1 = Date.now();
      await runTarget(page, t, results);
      results[results.length - 1].seconds = (Date.now() - t1) / 1000;
    }
    current = null;
    await context.close();
    await b.close();
    b = null;
    if (TLS) await untrustedControl(origin, results);
  } catch (e) {
    current = null;
    check(false, 'harness', e.stack || e.message);
    console.log(`harness error: ${e.stack || e.message}`);
    exitCode = 2;
  } finally {
    if (b) await b.close();
    httpServer.close();
  }
  for (const r of results) Object.assign(r, perTarget.get(r.target.name) || { passed: 0, failed: 0 });
  if (process.env.INTEROP_JSON) {
    fs.writeFileSync(process.env.INTEROP_JSON, JSON.stringify({ passed, failed, failures, results }, null, 1));
  }
  console.log(`\n${failures.length ? `failures:\n${failures.map((f) => `  - ${f}`).join('\n')}\n` : ''}` +
    `browser interop: ${(Date.now() - t0) / 1000} s`);
  for (const r of results) console.log(`  ${r.target.name} (${r.url}): ${r.passed} passed, ${r.failed} failed (${r.seconds ?? "-"} s)`);
  const rest = [passed, failed].map((n, k) => n - results.reduce((acc, r) => acc + r[k ? 'failed' : 'passed'], 0));
  if (rest[0] || rest[1]) console.log(`  harness and browser flags: ${rest[0]} passed, ${rest[1]} failed`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(exitCode || (failed ? 1 : 0));
}

main();
