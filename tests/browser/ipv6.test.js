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
const net = require('net');
const os = require('os');
const path = require('path');

const HOST = '::1';
const CHROMIUM = '/usr/bin/chromium';
const WWW = path.resolve(__dirname, '..', '..', 'signalling', 'www');
const TOTAL_MS = 150000; // hard stop, under meson's timeout
const STEP_MS = 30000;
// As tests/browser/meetings.test.js launches it.
const LAUNCH_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];
const t0 = Date.now();

const results = { passed: 0, failed: 0 };
function check(ok, what) {
  if (ok) results.passed++;
  else results.failed++;
  const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(5);
  console.log(`${ok ? 'ok  ' : 'FAIL'} [${s}s] ${what}`);
  return ok;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Calls fn until it returns {ok: true, ...} or ms pass; the last answer.
async function poll(fn, ms, every = 250) {
  const end = Date.now() + ms;
  let last = { ok: false, why: 'never ran' };
  for (;;) {
    try {
      last = await fn();
    } catch (e) {
      last = { ok: false, why: String(e && e.message ? e.message : e) };
    }
    if (last.ok || Date.now() >= end) return last;
    await sleep(every);
  }
}

// A free TCP port on ::1; rejects when the machine has no ::1.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// The frames Chromium decoded, its cipher, and the remote end of each
// selected candidate pair (publish and subscribe).
function sample(page) {
  return page.evaluate(async () => {
    const k = window.kaigi;
    const s = await k.stats();
    const remotes = [];
    for (const role of ['publish', 'subscribe']) {
      const pc = k.pcs && k.pcs[role];
      if (!pc) continue;
      const rep = await pc.getStats();
      let sel = null;
      rep.forEach((x) => {
        if (x.type === 'transport' && x.selectedCandidatePairId) sel = x.selectedCandidatePairId;
      });
      const pair = sel && rep.get(sel);
      const remote = pair && rep.get(pair.remoteCandidateId);
      remotes.push(remote ? remote.address : null);
    }
    const frames = (s.inbound || []).filter((i) => i.kind === 'video')
      .reduce((n, i) => n + (i.framesDecoded || 0), 0);
    return { cipher: s.srtpCipher, frames, remotes };
  });
}

async function run(pw, kaigiBin, clientBin, tmp, children) {
  const port = await freePort();
  const origin = `http://[${HOST}]:${port}`;
  const data = path.join(tmp, 'data');
  const logPath = path.join(tmp, 'kaigi.log');
  const log = fs.openSync(logPath, 'a');
  const kaigi = childProcess.spawn(kaigiBin, [
    '--listen', `[${HOST}]:${port}`, '--udp', `[${HOST}]:0`, '--data', data,
    '--workers', '1', '--node', 'ipv6-test', '--www', WWW,
  ], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  children.push(kaigi);
  const exited = new Promise((resolve) => kaigi.on('exit', (code, sig) => resolve({ code, sig })));
  const showLog = () => console.log(fs.readFileSync(logPath, 'utf8').slice(-4000));
  const up = await poll(async () => {
    if (kaigi.exitCode !== null) throw new Error(`kaigi exited with ${kaigi.exitCode}`);
    const r = await fetch(`${origin}/api/stats`);
    return { ok: r.status === 200, why: `GET /api/stats: ${r.status}` };
  }, 15000, 100);
  if (!check(up.ok, `kaigi is up on ${origin} (${up.why || 'ready'})`)) return showLog();
  const token = fs.readFileSync(path.join(data, 'admin.token'), 'utf8').trim();
  const api = async (method, url, body, auth = `Bearer ${token}`) => {
    const r = await fetch(origin + url, {
      method, signal: AbortSignal.timeout(5000),
      headers: { 'Content-Type': 'application/json', Authorization: auth },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json().catch(() => null) };
  };
  const m = await api('POST', '/api/meetings', {
    title: 'ipv6', start: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    duration: 600, settings: { waiting_room: false, join_before_host: true },
  });
  const info = m.body && await api('GET', `/api/meetings/${m.body.id}/join-info`,
    undefined, `HostKey ${m.body.host_key}`);
  if (!check(m.status === 201 && info && info.status === 200,
    `meeting created over ${origin} (${m.status}, join-info ${info && info.status})`)) return;

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
    await page.fill('#meeting-id', m.body.id);
    await page.fill('#pin', info.body.pin);
    await page.fill('#name', 'Ada');
    await page.click('#join-btn');
    const inMeeting = await poll(async () => {
      const s = await page.evaluate(() => document.body.dataset.screen);
      return { ok: s === 'meeting', why: `screen ${s}` };
    }, STEP_MS, 200);
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
    kaigi.kill('SIGTERM');
    const ex = await Promise.race([exited, sleep(15000).then(() => ({ code: 'still running' }))]);
    check(ex.code === 0, `kaigi exits cleanly on SIGTERM (${JSON.stringify(ex)})`);
  }
}

async function main() {
  const [kaigiBin, clientBin] = process.argv.slice(2);
  if (!kaigiBin || !clientBin) {
    console.error('usage: node ipv6.test.js KAIGI KAIGI_CLIENT');
    return 2;
  }
  let pw = null;
  try {
    pw = require('playwright-core');
  } catch (e) {
    pw = null;
  }
  const missing = !pw ? 'playwright-core (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci)'
    : !fs.existsSync(CHROMIUM) ? `${CHROMIUM} (apt-get install chromium)` : null;
  if (missing) {
    const required = process.env.KAIGI_BROWSER_REQUIRED === '1';
    console.log(`${required ? 'FAIL' : 'SKIP'} missing ${missing}`);
    return required ? 1 : 77;
  }
  try {
    await freePort();
  } catch (e) {
    console.log(`SKIP this machine has no ${HOST} (${e.code || e.message})`);
    return 77;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kaigi-ipv6-'));
  const children = [];
  try {
    await run(pw, path.resolve(kaigiBin), path.resolve(clientBin), tmp, children);
  } catch (e) {
    check(false, `unexpected: ${e.stack || e}`);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`${results.passed} passed, ${results.failed} failed`);
  return results.failed ? 1 : 0;
}

const watchdog = setTimeout(() => {
  console.log(`FAIL the whole test took over ${TOTAL_MS / 1000} s`);
  process.exit(1);
}, TOTAL_MS);
main().then((rc) => {
  clearTimeout(watchdog);
  process.exit(rc);
});
