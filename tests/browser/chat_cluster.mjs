// Headless Chromium against two chat_cluster processes joined by Redis (examples/chat_cluster,
// issue 18).
//
// Usage: node chat_cluster.mjs PORT_A PORT_B   (two processes on http://127.0.0.1:PORT_A and _B,
// the same Redis, A with its default of no permessage-deflate, B with --deflate). Normally run by
// scripts/browser-interop.sh, which starts redis-server and both.
//
// Each page is loaded from one process and its WebSocket goes to that process, so pages of
// different ports are members in different processes. Checks, each with a timeout:
//   - the page at / joins the room typed into its form;
//   - permessage-deflate: not agreed with A (its default), agreed with B (--deflate);
//   - a page on A and a page on B in room "red" chat with each other, both ways, and see their
//     own messages;
//   - a page on B in room "blue" sees none of red's messages;
//   - a text over 4 KiB is closed with 1009.
// Exit status: 0 all checks passed, 1 a check failed, 2 setup error.
import {
  QUIET, TIMEOUT, assert, check, launchOrExit, openPage, say, seen, tally, texts,
} from './chat_common.mjs';

const [portA, portB] = process.argv.slice(2, 4).map(Number);
if (![portA, portB].every((p) => Number.isInteger(p) && p > 0)) {
  console.error('usage: node chat_cluster.mjs PORT_A PORT_B');
  process.exit(2);
}
const A = `http://127.0.0.1:${portA}`;
const B = `http://127.0.0.1:${portB}`;
// The other process subscribes to a room when its first member joins, a moment after the page
// opens: `from` says numbered probes until `to` shows one (bounded by TIMEOUT).
async function untilHeard(from, to, tag) {
  const start = Date.now();
  for (let n = 1; Date.now() - start < TIMEOUT; n += 1) {
    await say(from, `probe ${tag} ${n}`);
    try {
      await seen(to, `probe ${tag} ${n}`, 300);
      return;
    } catch { /* not yet */ }
  }
  throw new Error(`${tag}: never heard across processes within ${TIMEOUT} ms`);
}
const open = (context, base, route) => openPage(context, `${base}${route}`);

const { browser, close: closeBrowser } = await launchOrExit('chat_cluster.mjs');

console.log(`chat_cluster (${A} and ${B}, one Redis):`);
try {
  const context = await browser.newContext();
  let redA;
  let redB;
  let blueB;
  await check('the page at / joins the room typed into its form', async () => {
    const page = await context.newPage();
    await page.goto(`${A}/`);
    await page.fill('#room', 'green');
    await page.click('#join button');
    await page.waitForSelector('body[data-state="open"]', { timeout: TIMEOUT });
    await say(page, 'green here');
    await seen(page, 'green here');
    await page.close();
  });
  await check('pages open on both processes (red on A and B, blue on B)', async () => {
    redA = await open(context, A, '/?room=red');
    redB = await open(context, B, '/?room=red');
    blueB = await open(context, B, '/?room=blue');
  });
  if (!redA || !redB || !blueB) throw new Error('pages did not open');

  await check('permessage-deflate off on A (the default), on with B (--deflate)', async () => {
    const a = await redA.evaluate(() => ws.extensions);
    const b = await redB.evaluate(() => ws.extensions);
    assert(a === '', `A agreed '${a}'`);
    assert(b.startsWith('permessage-deflate'), `B agreed '${b}'`);
  });

  await check('a page on A and a page on B chat with each other, both ways', async () => {
    await untilHeard(redA, redB, 'a-to-b');
    await untilHeard(redB, redA, 'b-to-a');
    await say(redA, 'hello from process A');
    const line = await seen(redB, 'hello from process A');
    await seen(redA, 'hello from process A');
    await say(redB, 'hi from process B');
    const back = await seen(redA, 'hi from process B');
    await seen(redB, 'hi from process B');
    assert(line.split(':')[0] !== back.split(':')[0], `one name for two members: ${line} / ${back}`);
  });

  await check('a page in another room (blue, on B) sees none of red\'s messages', async () => {
    await say(blueB, 'only in blue');
    await seen(blueB, 'only in blue');
    await redA.waitForTimeout(QUIET);
    const b = await texts(blueB);
    assert(!b.some((l) => l.includes('process A') || l.includes('process B') || l.includes('probe')),
      `blue saw: ${JSON.stringify(b)}`);
    for (const p of [redA, redB]) {
      const r = await texts(p);
      assert(!r.some((l) => l.includes('only in blue')), `red saw: ${JSON.stringify(r)}`);
    }
  });

  await check('a text over 4 KiB is closed with 1009', async () => {
    await blueB.evaluate(() => ws.send('x'.repeat(5000)));
    await blueB.waitForSelector('body[data-state="closed"]', { timeout: TIMEOUT });
    const st = await blueB.textContent('#st');
    assert(st.includes('1009'), `status '${st}'`);
  });
} catch (e) {
  tally.failed += 1;
  console.log(`  FAIL  ${e.message.split('\n')[0]}`);
} finally {
  await closeBrowser().catch(() => {});
}

console.log(`chat_cluster (${A} and ${B}): ${tally.passed} passed, ${tally.failed} failed`);
process.exit(tally.failed ? 1 : 0);
