// The Chromium command line every browser test uses (interop.mjs, chat.mjs). Playwright's own
// default switches are turned off (ignoreDefaultArgs); it gets only what its pipe transport needs
// (PLUMBING) and a fresh profile directory.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
export const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.*',
];
export const PLUMBING = ['--remote-debugging-pipe', '--no-startup-window'];

// Launches Chromium with FLAGS, `extra` and a fresh profile directory (removed by close());
// returns { browser, profile, close }.
export async function launchChromium(extra = []) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'zerows-browser-profile-'));
  const removeProfile = () => fs.rmSync(profile, { recursive: true, force: true });
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: EXECUTABLE,
      headless: true,
      ignoreDefaultArgs: true,
      args: [...FLAGS, ...extra, `--user-data-dir=${profile}`, ...PLUMBING],
      timeout: 60000,
    });
  } catch (e) {
    removeProfile();
    throw e;
  }
  const close = async () => {
    try { await browser.close(); } finally { removeProfile(); }
  };
  return { browser, profile, close };
}
