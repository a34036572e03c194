// Headless Chromium against the axum chat example (crates/zerows/examples/chat.rs, issue 15).
//
// Usage: node chat.mjs PORT      (the chat server on http://127.0.0.1:PORT)
// Normally run by scripts/browser-interop.sh, which builds and starts the server.
//
// Three pages: two in room "red", one in room "blue". Checks, each with a timeout:
//   - every page's WebSocket opens with permessage-deflate agreed;
//   - red pages see each other's messages (with the sender's name) and their own;
//   - the blue page sees its own message and none of red's; red sees none of blue's;
//   - a red page reloaded rejoins the room and chats again, both red pages see it;
//   - a text over the server's 4 KiB limit is closed with 1009 (the Config's limit).
// Exit status: 0 all checks passed, 1 a check failed, 2 setup error.
import {
  QUIET, TIMEOUT, assert, check, launchOrExit, openPage, say, seen, tally, texts,
} from './chat_common.mjs';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node chat.mjs PORT');
  process.exit(2);
}
const BASE = `http://127.0.0.1:${port}`;
const open = (context, route) => openPage(context, `${BASE}${route}`);

const { browser, close: closeBrowser } = await launchOrExit('chat.mjs');

console.log(`chat (${BASE}):`);
try {
  const context = await browser.newContext();
  let red1;
  let red2;
  let blue;
  await check('three pages connect (two in /room/red, one in /room/blue)', async () => {
    red1 = await open(context, '/room/red');
    red2 = await open(context, '/room/red');
    blue = await open(context, '/room/blue');
  });
  if (!red1 || !red2 || !blue) throw new Error('pages did not open');

  await check('permessage-deflate agreed', async () => {
    for (const p of [red1, red2, blue]) {
      const ext = await p.evaluate(() => ws.extensions); // the page's top-level `ws`
      assert(ext.startsWith('permessage-deflate'), `extensions '${ext}'`);
    }
  });

  await check('red pages see each other\'s messages', async () => {
    await say(red1, 'hello from red one');
    const line = await seen(red2, 'hello from red one');
    await seen(red1, 'hello from red one');
    await say(red2, 'hi from red two');
    const back = await seen(red1, 'hi from red two');
    assert(line.split(':')[0] !== back.split(':')[0], `one sender name for two pages: ${line} / ${back}`);
  });

  await check('the blue page sees its own messages and none of red\'s', async () => {
    await say(blue, 'only in blue');
    await seen(blue, 'only in blue');
    await red1.waitForTimeout(QUIET);
    const b = await texts(blue);
    assert(!b.some((l) => l.includes('red one') || l.includes('red two')), `blue saw: ${JSON.stringify(b)}`);
    for (const p of [red1, red2]) {
      const r = await texts(p);
      assert(!r.some((l) => l.includes('only in blue')), `red saw: ${JSON.stringify(r)}`);
    }
  });

  await check('a reloaded page rejoins its room and chats again', async () => {
    await red2.reload();
    await red2.waitForSelector('body[data-state="open"]', { timeout: TIMEOUT });
    assert((await texts(red2)).length <= 1, 'the reloaded page starts empty');
    await say(red2, 'back after reload');
    await seen(red1, 'back after reload');
    await seen(red2, 'back after reload');
    await say(red1, 'welcome back');
    await seen(red2, 'welcome back');
  });

  await check('a text over 4 KiB is closed with 1009', async () => {
    await blue.evaluate(() => ws.send('x'.repeat(5000)));
    await blue.waitForSelector('body[data-state="closed"]', { timeout: TIMEOUT });
    const st = await blue.textContent('#status');
    assert(st.includes('1009'), `status '${st}'`);
  });
} catch (e) {
  tally.failed += 1;
  console.log(`  FAIL  ${e.message.split('\n')[0]}`);
} finally {
  await closeBrowser().catch(() => {});
}

console.log(`chat (${BASE}): ${tally.passed} passed, ${tally.failed} failed`);
process.exit(tally.failed ? 1 : 0);
