#!/usr/bin/env node
// kaigi over IPv6 in Debian's Chromium (playwright-core): kaigi listens on
// [::1] for HTTP/WebSocket (--listen [::1]:PORT) and media (--udp [::1]:0,
// so its SDP says c=IN IP6 ::1 with ::1 candidates). The test makes a
// meeting over the REST API at http://[::1]:PORT, Chromium opens
// http://[::1]:PORT/ (a secure context, as localhost is) and joins it by
// meeting ID and PIN; a kaigi-client bound to ::1 publishes in the same
// meeting. Chromium must decode the bot's video (framesDecoded rising
// between two samples) on AEAD_AES_256_GCM with its selected candidate
// pairs' remote address ::1, and kaigi's room stats must show Chromium's
// two transports connected over UDP.
//
// Usage: node tests/browser/ipv6.test.js KAIGI KAIGI_CLIENT
// Only ::1 is ever used. Exits 1 on a failed check, 77 (meson's "skipped")
// when the machine has no ::1, or when playwright-core or Chromium is
// missing unless KAIGI_BROWSER_REQUIRED=1.
'use strict';

const childProcess = require('child_process');
const fs = require('fs');
const path = require('path');
const {
  CHROMIUM, LAUNCH_ARGS, children, check, sleep, poll, freePort, callJson,
  startWithMeeting, joinByIdAndPin, selectedPairs, standalone,
} = require('./meetings.test.js');

const HOST = '::1';
const TOTAL_MS = 150000; // hard stop, under meson's timeout
const STEP_MS = 30000;

// The frames Chromium decoded, its cipher, and the remote address of
// each selected candidate pair (publish and subscribe).
async function sample(page) {
  const st = await selectedPairs(page);
  return { cipher: st.cipher, frames: st.frames,
    remotes: st.pairs.map((p) => (p.remote ? p.remote.address : null)) };
}

async function run(pw, [kaigiBin, clientBin], tmp) {
  const port = await freePort('tcp', HOST);
  const origin = `http://[${HOST}]:${port}`;
  const k = await startWithMeeting({
    binary: kaigiBin, tmp, origin, title: 'ipv6',
    args: ['--listen', `[${HOST}]:${port}`, '--udp', `[${HOST}]:0`, '--node', 'ipv6-test'],
    call: (method, url, body, auth) => callJson(origin, method, url, body, auth),
  });
  if (!k) return;
  const { m, info, api, showLog } = k;

  const browser = await pw.chromium.launch({
    executablePath: CHROMIUM, timeout: STEP_MS, args: LAUNCH_ARGS,
  });
  try {
    const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    const resp = await page.goto(`${origin}/`);
    check(resp && resp.status() === 200, `${origin}/ loads (${resp && resp.status()})`);
    check(await page.evaluate(() => window.isSecureContext), 'the page is a secure context');
    const inMeeting = await joinByIdAndPin(page, m.body.id, info.body.pin, 'Ada', STEP_MS);
    if (!check(inMeeting.ok, `joined by ID and PIN (${inMeeting.why || 'meeting'})`)) return showLog();

    // The second participant: kaigi-client, signalling and media on ::1.
    const botLog = path.join(tmp, 'bot.log');
    const fd = fs.openSync(botLog, 'w');
    const bot = childProcess.spawn(clientBin, [
      '--server', `ws://[${HOST}]:${port}/ws`, '--bind', HOST,
      '--meeting', m.body.id, '--pin', info.body.pin, '--name', 'bot',
      '--duration', '40', '--report', path.join(tmp, 'bot.json'),
    ], { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    children.push(bot);

    // framesDecoded must rise between two samples, both on ::1 pairs.
    const first = await poll(async () => {
      const st = await sample(page);
      return { ok: st.frames > 0 && st.cipher === 'AEAD_AES_256_GCM', st, why: JSON.stringify(st) };
    }, STEP_MS, 300);
    const second = first.ok && await poll(async () => {
      const st = await sample(page);
      return { ok: st.frames > first.st.frames, st, why: JSON.stringify(st) };
    }, 10000, 500);
    const st = (second && second.st) || first.st || {};
    if (!check(second && second.ok,
      `Chromium decodes the bot's video, frames ${first.st && first.st.frames} -> ${st.frames} (${(second || first).why})`)) {
      console.log(fs.readFileSync(botLog, 'utf8').slice(-2000));
      showLog();
    }
    check(st.cipher === 'AEAD_AES_256_GCM', `srtpCipher is AEAD_AES_256_GCM (${st.cipher})`);
    check(st.remotes && st.remotes.length === 2 && st.remotes.every((a) => a === HOST),
      `both selected candidate pairs reach kaigi at ${HOST} (${JSON.stringify(st.remotes)})`);

    const seen = await poll(async () => {
      const r = await api('GET', `/api/rooms/${m.body.id}/stats`);
      const me = ((r.body && r.body.participants) || []).find((p) => p.name === 'Ada');
      const ok = !!me && ['publish', 'subscribe'].every((k) =>
        me.dtls_state[k] === 'connected' && me.protocol[k] === 'udp');
      return { ok, why: JSON.stringify(me && { dtls_state: me.dtls_state, protocol: me.protocol }) };
    }, 10000, 500);
    check(seen.ok, `kaigi's room stats: Chromium's transports connected (${seen.why})`);
  } finally {
    await browser.close();
    k.proc.kill('SIGTERM');
    const ex = await Promise.race([k.exited, sleep(15000).then(() => ({ code: 'still running' }))]);
    check(ex.code === 0, `kaigi exits cleanly on SIGTERM (${JSON.stringify(ex)})`);
  }
}

standalone({
  file: 'ipv6.test.js', names: ['KAIGI', 'KAIGI_CLIENT'], tmpName: 'ipv6', totalMs: TOTAL_MS, run,
  skip: () => freePort('tcp', HOST).then(() => null,
    (e) => `this machine has no ${HOST} (${e.code || e.message})`),
});
