// What the chat pages' tests share (chat.mjs, chat_cluster.mjs): named checks with a tally, and
// the page helpers. Both chat pages have a #log list of lines and a #text input.

import { EXECUTABLE, launchChromium } from './chromium.mjs';

// Every wait of a check (a message to arrive, a page to connect).
export const TIMEOUT = 10000;
// How long a message that must NOT arrive is given to arrive anyway.
export const QUIET = 500;

export const tally = { passed: 0, failed: 0 };

// Runs one named check; a throw marks it failed and the run goes on.
export async function check(name, f) {
  try {
    await f();
    tally.passed += 1;
    console.log(`  ok    ${name}`);
  } catch (e) {
    tally.failed += 1;
    console.log(`  FAIL  ${name}: ${e.message.split('\n')[0]}`);
  }
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// The lines the page shows.
export const texts = (page) => page.$$eval('#log li', (els) => els.map((e) => e.textContent));

// Types `text` and presses Enter.
export async function say(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

// Waits until `page` shows a chat line "guest-…: text" (chat's names are guest-N,
// chat_cluster's guest-NODE-N); returns the line.
export async function seen(page, text, timeout = TIMEOUT) {
  const handle = await page.waitForFunction(
    (t) => [...document.querySelectorAll('#log li')].map((li) => li.textContent)
      .find((l) => /^guest-[0-9a-f-]+: /.test(l) && l.endsWith(`: ${t}`)),
    text, { timeout });
  return handle.jsonValue();
}

// Opens `url` in a new page of `context` and waits until its WebSocket is open.
export async function openPage(context, url) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`  [page error ${url}] ${e.message}`));
  await page.goto(url);
  await page.waitForSelector('body[data-state="open"]', { timeout: TIMEOUT });
  return page;
}

// Launches Chromium, or exits with 2 (setup error) saying why.
export async function launchOrExit(script) {
  try {
    return await launchChromium();
  } catch (e) {
    console.error(`${script}: could not launch ${EXECUTABLE}: ${e.message}`);
    process.exit(2);
  }
}
