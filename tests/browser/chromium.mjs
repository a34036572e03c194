// The Chromium command line every browser test uses (interop.mjs, chat.mjs). Playwright's own
// default switches are turned off (ignoreDefaultArgs); it gets only what its pipe transport needs
// (PLUMBING) and a fresh profile directory.
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
