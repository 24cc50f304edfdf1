#!/usr/bin/env node
// kaigi's browser test: Debian's Chromium, driven by playwright-core,
// against a real kaigi over loopback, coded only against the DOM contract
// in signalling/www/DOM.md (screens in body[data-screen], the selectors
// listed there, and window.kaigi.stats()).
//
//   Scenario 1: a host and two participants in separate browser contexts;
//   the two wait with no peer connection and no inbound RTP, the host
//   admits them, every page decodes both remotes' video over
//   AEAD_AES_256_GCM and says "not end-to-end"; a fourth waits and
//   receives nothing; the host removes one, whose page shows "removed".
//   Scenario 2: the same with one participant replaced by kaigi-client:
//   the browsers decode its video and its report shows it decoded theirs;
//   the pages publish simulcast (rids) and kaigi gives the bot, which
//   says (REMB) it has little bandwidth, the lower layer.
//   Scenario 3: the host's controls, each checked on another participant's
//   page (Cho's at phone width, 390x844): chat relayed, then refused by
//   kaigi with chat off; the recording banner; a rename refused with
//   renaming off, then shown on the others' tiles; mute stops Ben's audio
//   at Cho while Ben's browser still sends it, ask-to-unmute brings it
//   back; camera off stops the frames; a screen refused under the "host"
//   policy, decoded under "all"; lock refuses a newcomer and tells the
//   host; hand-over moves the host panel; end ends every page.
//
// Usage: node tests/browser/meetings.test.js KAIGI KAIGI_CLIENT
// Screenshots and console logs go to $KAIGI_ARTIFACTS (default
// build/browser-artifacts/). Only 127.0.0.1 is ever used. Prints one line
// per check and ends with "N passed, N failed"; exits 1 on any failure,
// 77 (meson's "skipped") when playwright-core or Chromium is missing,
// unless KAIGI_BROWSER_REQUIRED=1 makes that a failure too.
'use strict';

const childProcess = require('child_process');
const dgram = require('dgram');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const HOST = '127.0.0.1';
const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.resolve(__dirname, '..', '..');
// KAIGI_WWW: serve the pages from elsewhere (to try the test on a draft).
const WWW = process.env.KAIGI_WWW || path.join(ROOT, 'signalling', 'www');
const TOTAL_MS = 240000; // hard stop, under meson's 270 s
const STEP_MS = 20000; // the longest any one wait may take
const MEDIA_MS = 30000; // first decoded frames on every page

const t0 = Date.now();
const results = { passed: 0, failed: 0 };
const cleanups = []; // run in reverse on every exit path
const children = []; // killed at exit, even on an uncaught throw
let artifacts = null;

function elapsed() {
  return ((Date.now() - t0) / 1000).toFixed(1).padStart(5);
}

function check(ok, what) {
  if (ok) results.passed++;
  else results.failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} [${elapsed()}s] ${what}`);
  return ok;
}

// A failed check that later steps depend on: ends the scenario.
class Abort extends Error {}
function must(ok, what) {
  if (!check(ok, what)) throw new Abort(what);
}
// The same for a condition already checked (and counted) elsewhere.
function need(ok, what) {
  if (!ok) throw new Abort(what);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Calls fn until it returns {ok: true, ...} or the deadline passes;
// returns the last answer (with ok false and why on a timeout).
async function poll(fn, ms, every = 250) {
  const end = Math.min(Date.now() + ms, t0 + TOTAL_MS);
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

// A free port on host (HOST unless given); rejects when host is not here.
function freePort(kind, host = HOST) {
  return new Promise((resolve, reject) => {
    if (kind === 'udp') {
      const s = dgram.createSocket('udp4');
      s.on('error', reject);
      s.bind(0, host, () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    } else {
      const s = net.createServer();
      s.on('error', reject);
      s.listen(0, host, () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    }
  });
}

function rfc3339(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function tail(file, bytes = 4000) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.length > bytes ? '...' + text.slice(-bytes) : text;
  } catch (e) {
    return `(cannot read ${file}: ${e.message})`;
  }
}

/* --- kaigi ------------------------------------------------------------ */

// One JSON request to kaigi at origin over fetch (5 s at most); auth, when
// given, is the Authorization header. Returns {status, body}.
async function callJson(origin, method, url, body, auth) {
  const headers = { 'Content-Type': 'application/json' };
  if (auth) headers.Authorization = auth;
  const r = await fetch(origin + url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await r.text();
  let json = null;
  try {
    json = text.trim() ? JSON.parse(text) : null;
  } catch (e) {
    json = { unparsed: text };
  }
  return { status: r.status, body: json };
}

// For the short standalone tests (https.test.js, ipv6.test.js): kaigi
// started with args (--listen, --udp, --node, ...) on tmp/data, logging
// to tmp/kaigi.log, up at origin (GET /api/stats 200 within 15 s), and a
// meeting open now for 10 minutes, waiting room off, join before host on.
// call(method, url, body, auth) makes one JSON request to that origin.
// Returns {proc, exited, logPath, showLog, api, m, info}, with api
// authorized as admin by default, or null after a failed check.
async function startWithMeeting({ binary, tmp, origin, args, call, title }) {
  const data = path.join(tmp, 'data');
  const logPath = path.join(tmp, 'kaigi.log');
  const log = fs.openSync(logPath, 'a');
  const proc = childProcess.spawn(binary, [
    ...args, '--data', data, '--workers', '1', '--www', WWW,
  ], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  children.push(proc);
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })));
  const showLog = () => console.log(tail(logPath));
  const up = await poll(async () => {
    if (proc.exitCode !== null) throw new Error(`kaigi exited with ${proc.exitCode}`);
    const r = await call('GET', '/api/stats');
    return { ok: r.status === 200, why: `GET /api/stats: ${r.status}` };
  }, 15000, 100);
  if (!check(up.ok, `kaigi is up on ${origin} (${up.why || 'ready'})`)) {
    showLog();
    return null;
  }
  const token = fs.readFileSync(path.join(data, 'admin.token'), 'utf8').trim();
  const api = (method, url, body, auth = `Bearer ${token}`) => call(method, url, body, auth);
  const m = await api('POST', '/api/meetings', {
    title, start: rfc3339(Date.now()), duration: 600,
    settings: { waiting_room: false, join_before_host: true },
  });
  const info = m.body && await api('GET', `/api/meetings/${m.body.id}/join-info`,
    undefined, `HostKey ${m.body.host_key}`);
  if (!check(m.status === 201 && info && info.status === 200,
    `meeting created over ${origin} (${m.status}, join-info ${info && info.status})`)) return null;
  return { proc, exited, logPath, showLog, api, m, info };
}

class Kaigi {
  constructor(binary, tmp) {
    this.binary = binary;
    this.tmp = tmp;
    this.data = path.join(tmp, 'data');
    this.logPath = path.join(tmp, 'kaigi.log');
    this.proc = null;
  }

  async start() {
    this.http = await freePort('tcp');
    this.udp = 0; // each media worker takes an ephemeral port
    this.origin = `http://${HOST}:${this.http}`;
    const log = fs.openSync(this.logPath, 'a');
    this.proc = childProcess.spawn(this.binary, [
      '--listen', `${HOST}:${this.http}`, '--udp', `${HOST}:${this.udp}`,
      '--data', this.data, '--node', 'browser-test', '--www', WWW,
    ], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    children.push(this.proc);
    this.exit = new Promise((resolve) => {
      this.proc.on('exit', (code, sig) => resolve({ code, sig }));
    });
    const up = await poll(async () => {
      if (this.proc.exitCode !== null) {
        throw new Error(`kaigi exited with ${this.proc.exitCode}`);
      }
      const r = await fetch(`${this.origin}/api/stats`);
      return { ok: r.status === 200, why: `GET /api/stats: ${r.status}` };
    }, 10000, 50);
    must(up.ok, `kaigi is up on ${this.origin} (${up.why || 'ready'})`);
    this.token = fs.readFileSync(path.join(this.data, 'admin.token'), 'utf8')
      .trim();
  }

  kill() {
    if (this.proc && this.proc.exitCode === null && !this.proc.killed) {
      this.proc.kill('SIGKILL');
    }
  }

  // SIGTERM, then SIGKILL after 10 s; resolves with {code, sig}.
  async stop() {
    if (this.proc.exitCode !== null) return this.exit;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.kill(), 10000);
    const r = await this.exit;
    clearTimeout(timer);
    return r;
  }

  async call(method, url, body, auth = `Bearer ${this.token}`) {
    return callJson(this.origin, method, url, body, auth);
  }

  // A meeting open now for 10 minutes with the waiting room on; returns
  // {id, hostLink, pin}.
  async meeting(title) {
    const c = await this.call('POST', '/api/meetings', {
      title, start: rfc3339(Date.now()), duration: 600,
      settings: { waiting_room: true },
    });
    must(c.status === 201 && c.body && /^\d{11}$/.test(c.body.id) &&
         typeof c.body.host_link === 'string',
    `create meeting "${title}" (${c.status})`);
    const m = c.body;
    must(m.host_link.startsWith(`${this.origin}/?`),
      `the host link points at this kaigi (${m.host_link.split('?')[0]})`);
    const info = await this.call('GET', `/api/meetings/${m.id}/join-info`,
      undefined, `HostKey ${m.host_key}`);
    must(info.status === 200 && info.body && typeof info.body.pin === 'string',
      `join-info with the host key gives the PIN (${info.status})`);
    return { id: m.id, hostLink: m.host_link, pin: info.body.pin };
  }
}

/* --- pages ------------------------------------------------------------ */

const LAUNCH_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];

// One participant's page in its own browser context, with its console
// and page errors logged to ARTIFACTS/console-NAME.log.
async function openPage(browser, name, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({
    permissions: ['camera', 'microphone'],
    viewport,
  });
  const page = await context.newPage();
  const logPath = path.join(artifacts, `console-${name}.log`);
  fs.writeFileSync(logPath, '');
  const log = { write: (line) => fs.appendFileSync(logPath, line) };
  const stamp = () => `[${elapsed()}s]`;
  page.on('console', (m) => log.write(`${stamp()} ${m.type()}: ${m.text()}\n`));
  page.on('pageerror', (e) => log.write(`${stamp()} pageerror: ${e.stack || e}\n`));
  page.on('requestfailed', (r) => log.write(
    `${stamp()} requestfailed: ${r.url().replace(/(host_key|invite)=[^&]+/, '$1=…')} ${r.failure() && r.failure().errorText}\n`));
  page.on('crash', () => log.write(`${stamp()} page crashed\n`));
  page.setDefaultTimeout(STEP_MS);
  const p = { name, context, page, logPath, log };
  cleanups.push(async () => context.close().catch(() => {}));
  return p;
}

async function screen(p) {
  return p.page.evaluate(() => document.body.dataset.screen).catch((e) => `? (${e.message})`);
}

async function errorText(p) {
  return p.page.evaluate(() => {
    const e = document.querySelector('#error');
    return e ? `${e.dataset.code || ''} ${e.textContent.trim()}` : '';
  }).catch(() => '');
}

// Waits for body[data-screen=want]; checks it, with what the page shows
// instead on a timeout.
async function waitScreen(p, want, what, ms = STEP_MS) {
  const r = await poll(async () => {
    const s = await screen(p);
    return { ok: s === want, why: `screen ${s}` };
  }, ms, 100);
  let why = r.ok ? '' : ` — ${r.why}`;
  if (!r.ok) {
    const err = await errorText(p);
    if (err.trim()) why += `, #error: ${err.trim()}`;
  }
  return check(r.ok, `${p.name}: ${what} (body[data-screen=${want}])${why}`);
}

// Runs page actions; a failure (a missing element, say) is one failed
// check with the first line of Playwright's message, and ends the scenario.
async function act(p, what, fn) {
  try {
    await fn();
  } catch (e) {
    const msg = String(e && e.message ? e.message : e).split('\n')[0];
    must(false, `${p.name}: ${what}: ${msg}`);
  }
}

async function joinWithPin(p, origin, m) {
  await act(p, 'open / and join with the meeting ID and PIN', async () => {
    await p.page.goto(`${origin}/`);
    await p.page.fill('#meeting-id', m.id);
    await p.page.fill('#pin', m.pin);
    await p.page.fill('#name', p.name);
    await p.page.click('#join-btn');
  });
}

async function joinAsHost(p, m) {
  await act(p, 'open the host link and join', async () => {
    await p.page.goto(m.hostLink);
    await p.page.fill('#name', p.name);
    await p.page.click('#join-btn');
  });
}

// For the standalone tests: on a bare Playwright page already at /, joins
// meeting id with pin as name; polls (every 200 ms, ms at most) until the
// page shows the meeting screen; returns the last {ok, why}.
async function joinByIdAndPin(page, id, pin, name, ms) {
  await page.fill('#meeting-id', id);
  await page.fill('#pin', pin);
  await page.fill('#name', name);
  await page.click('#join-btn');
  return poll(async () => {
    const s = await page.evaluate(() => document.body.dataset.screen);
    return { ok: s === 'meeting', why: `screen ${s}` };
  }, ms, 200);
}

// For the standalone tests: the video frames a bare Playwright page
// decoded, its SRTP cipher, and the selected candidate pair of each of
// window.kaigi's peer connections (publish, subscribe) as {role, local,
// remote}, each end {protocol, address, port} or null.
function selectedPairs(page) {
  return page.evaluate(async () => {
    const k = window.kaigi;
    const s = await k.stats();
    const end = (c) => (c ? { protocol: c.protocol, address: c.address, port: c.port } : null);
    const pairs = [];
    for (const role of ['publish', 'subscribe']) {
      const pc = k.pcs && k.pcs[role];
      if (!pc) continue;
      const rep = await pc.getStats();
      let sel = null;
      rep.forEach((x) => {
        if (x.type === 'transport' && x.selectedCandidatePairId) sel = x.selectedCandidatePairId;
      });
      const pair = sel && rep.get(sel);
      pairs.push({ role, local: end(pair && rep.get(pair.localCandidateId)),
        remote: end(pair && rep.get(pair.remoteCandidateId)) });
    }
    const frames = (s.inbound || []).filter((i) => i.kind === 'video')
      .reduce((n, i) => n + (i.framesDecoded || 0), 0);
    return { cipher: s.srtpCipher, frames, pairs };
  });
}

// window.kaigi's peer connections and stats() as plain data.
async function kaigiState(p) {
  return p.page.evaluate(async () => {
    const k = window.kaigi;
    if (!k) return { missing: true };
    const pcs = k.pcs || {};
    const pc = (x) => (x ? { state: x.connectionState, signaling: x.signalingState } : null);
    let stats = null;
    let statsError = null;
    try {
      stats = await k.stats();
    } catch (e) {
      statsError = String(e && e.message ? e.message : e);
    }
    return {
      participant: k.participant, host: k.host, state: k.state,
      publish: pc(pcs.publish), subscribe: pc(pcs.subscribe), stats, statsError,
    };
  });
}

function inboundRtp(st) {
  const inbound = (st.stats && st.stats.inbound) || [];
  return inbound.reduce((n, i) => n + (i.packetsReceived || 0), 0);
}

// Checks a waiting page: no RTCPeerConnection and no inbound RTP.
async function checkNoMedia(p, when) {
  const st = await kaigiState(p);
  const open = (x) => x && x.state !== 'closed';
  check(!st.missing && !open(st.publish) && !open(st.subscribe),
    `${p.name}: no peer connection ${when} (publish ${JSON.stringify(st.publish)}, subscribe ${JSON.stringify(st.subscribe)})`);
  check(!st.missing && !st.statsError && st.stats &&
        Array.isArray(st.stats.inbound) && inboundRtp(st) === 0,
  `${p.name}: no inbound RTP ${when} (${st.statsError ||
    JSON.stringify(st.stats && st.stats.inbound)})`);
}

// window.kaigi.stats() names the profile as RFC 7714 does; Chromium 156's
// own getStats() says "SRTP_AEAD_AES_256_GCM" (the IANA name), and the
// page is the one that turns it into one name (DOM.md).
function isGcm256(cipher) {
  return cipher === 'AEAD_AES_256_GCM';
}

function videoFrames(st, remote) {
  const inbound = (st.stats && st.stats.inbound) || [];
  return inbound.filter((i) => i.kind === 'video' && i.participant === remote)
    .reduce((n, i) => n + (i.framesDecoded || 0), 0);
}

function audioPackets(st, remote) {
  const inbound = (st.stats && st.stats.inbound) || [];
  return inbound.filter((i) => i.kind === 'audio' && i.participant === remote)
    .reduce((n, i) => n + (i.packetsReceived || 0), 0);
}

// Polls p's stats until it is on AEAD_AES_256_GCM and decodes video from
// every one of remotes ({id: name}); then samples again >= 1 s later
// and checks that every count grew.
async function checkDecodes(p, remotes) {
  const ids = Object.keys(remotes);
  const first = await poll(async () => {
    const st = await kaigiState(p);
    const frames = ids.map((id) => videoFrames(st, id));
    const audio = ids.map((id) => audioPackets(st, id));
    const cipher = st.stats && st.stats.srtpCipher;
    return {
      ok: isGcm256(cipher) && frames.every((n) => n > 0) &&
          audio.every((n) => n > 0),
      at: Date.now(), frames, audio, cipher,
      why: `srtpCipher ${cipher}, frames ${JSON.stringify(frames)}, ${st.statsError ||
        JSON.stringify((st.stats && st.stats.inbound) || null)}`,
    };
  }, MEDIA_MS, 300);
  const names = ids.map((id) => remotes[id]).join(' and ');
  check(isGcm256(first.cipher),
    `${p.name}: srtpCipher is AEAD_AES_256_GCM (${first.cipher})`);
  if (!check(first.ok, `${p.name}: decodes video from ${names} (${first.ok
    ? JSON.stringify(first.frames) : first.why})`)) return false;
  await sleep(Math.max(0, first.at + 1000 - Date.now()));
  const second = await poll(async () => {
    const st = await kaigiState(p);
    const frames = ids.map((id) => videoFrames(st, id));
    const audio = ids.map((id) => audioPackets(st, id));
    return {
      ok: frames.every((n, i) => n > first.frames[i]) &&
          audio.every((n, i) => n > first.audio[i]),
      frames, audio,
    };
  }, 5000, 300);
  return check(second.ok, `${p.name}: video and audio from ${names} keep coming (${
    JSON.stringify(first.frames)} → ${JSON.stringify(second.frames)} frames, ${
    JSON.stringify(first.audio)} → ${JSON.stringify(second.audio)} audio packets)`);
}

async function checkEncryptionLabel(p) {
  const r = await poll(async () => {
    const e = await p.page.evaluate(() => {
      const el = document.querySelector('#encryption');
      return el ? { text: el.textContent.trim(), cipher: el.dataset.cipher } : null;
    });
    return {
      ok: !!e && /not end-to-end/.test(e.text) && isGcm256(e.cipher),
      why: JSON.stringify(e),
    };
  }, 5000, 200);
  check(r.ok, `${p.name}: #encryption says client-to-server, not end-to-end (${r.why})`);
}

// The host's list item for a participant named name in list ('waiting-list'
// or 'participants'); returns its data-participant.
async function hostListItem(host, list, name, ms = STEP_MS) {
  const r = await poll(async () => {
    const items = await host.page.$$eval(`#${list} li[data-participant]`,
      (lis) => lis.map((li) => ({ id: li.dataset.participant, text: li.textContent })));
    const hit = items.find((i) => i.text.includes(name));
    return { ok: !!hit, id: hit && hit.id, why: JSON.stringify(items) };
  }, ms, 150);
  check(r.ok, `host: #${list} lists ${name}${r.ok ? '' : ` (${r.why})`}`);
  return r.ok ? r.id : null;
}

async function admit(host, name) {
  const id = await hostListItem(host, 'waiting-list', name);
  if (!id) return null;
  await act(host, `admit ${name}`, () =>
    host.page.click(`#waiting-list li[data-participant="${id}"] button.admit`));
  return id;
}

async function participantId(p) {
  const r = await poll(async () => {
    const st = await kaigiState(p);
    return { ok: typeof st.participant === 'string' && st.participant.length > 0,
      id: st.participant, why: JSON.stringify(st.participant) };
  }, 5000, 100);
  must(r.ok, `${p.name}: window.kaigi.participant is its ID (${r.why})`);
  return r.id;
}

async function shot(p, file, what) {
  const to = path.join(artifacts, file);
  try {
    await p.page.screenshot({ path: to, fullPage: true });
    check(fs.statSync(to).size > 0, `screenshot of ${what}: ${to}`);
  } catch (e) {
    check(false, `screenshot of ${what}: ${e.message}`);
  }
}

/* --- scenarios ------------------------------------------------------- */

async function scenarioBrowsers(browser, k) {
  console.log('== scenario 1: a host and two participants in Chromium');
  const m = await k.meeting('Browser standup');
  const host = await openPage(browser, 'Host');
  const aiko = await openPage(browser, 'Aiko');
  const ren = await openPage(browser, 'Ren');

  await joinAsHost(host, m);
  need(await waitScreen(host, 'meeting', 'the host is in the meeting at once'),
    'host joined');
  const panel = await poll(async () => ({ ok: await host.page.isVisible('#host-panel') }), 5000, 100);
  check(panel.ok, 'host: #host-panel is visible');
  const hostId = await participantId(host);

  await Promise.all([joinWithPin(aiko, k.origin, m), joinWithPin(ren, k.origin, m)]);
  const waiting = await Promise.all([
    waitScreen(aiko, 'waiting', 'waits in the waiting room'),
    waitScreen(ren, 'waiting', 'waits in the waiting room'),
  ]);
  need(waiting.every(Boolean), 'both participants are waiting');
  for (const p of [aiko, ren]) await checkNoMedia(p, 'while waiting');
  check(!(await aiko.page.isVisible('#host-panel')), 'Aiko: no host panel');

  for (const p of [aiko, ren]) need(await admit(host, p.name), `host admits ${p.name}`);
  const admitted = await Promise.all([
    waitScreen(aiko, 'meeting', 'admitted into the meeting'),
    waitScreen(ren, 'meeting', 'admitted into the meeting'),
  ]);
  need(admitted.every(Boolean), 'both participants are in');
  const aikoId = await participantId(aiko);
  const renId = await participantId(ren);
  check(new Set([hostId, aikoId, renId]).size === 3, 'three distinct participant IDs');

  const names = { [hostId]: 'Host', [aikoId]: 'Aiko', [renId]: 'Ren' };
  const others = (me) => Object.fromEntries(Object.entries(names).filter(([id]) => id !== me));
  await Promise.all([
    checkDecodes(host, others(hostId)),
    checkDecodes(aiko, others(aikoId)),
    checkDecodes(ren, others(renId)),
  ]);
  for (const p of [host, aiko, ren]) await checkEncryptionLabel(p);
  const tiles = await aiko.page.$$eval('#tiles .tile[data-participant]',
    (ts) => ts.map((t) => t.dataset.participant)).catch(() => []);
  check(tiles.includes(hostId) && tiles.includes(renId),
    `Aiko: #tiles has a tile for Host and Ren (${JSON.stringify(tiles)})`);
  await shot(aiko, 'meeting-participant.png', 'the meeting page (Aiko)');

  // A fourth participant waits while the others stream: nothing reaches it.
  const late = await openPage(browser, 'Late');
  await joinWithPin(late, k.origin, m);
  need(await waitScreen(late, 'waiting', 'waits while the meeting streams'),
    'Late is waiting');
  const lateId = await hostListItem(host, 'waiting-list', 'Late');
  await checkNoMedia(late, 'while waiting (others streaming)');
  await sleep(1000); // a second sample, a while into the wait
  await checkNoMedia(late, 'still, 1 s later');
  await shot(host, 'host-panel.png', 'the host page with its panel');

  // The host removes Ren; Ren's page says so and closes its connections.
  const renItem = `#participants li[data-participant="${renId}"]`;
  check(await host.page.isVisible(renItem), 'host: #participants lists Ren');
  await act(host, 'remove Ren', () => host.page.click(`${renItem} button.remove`));
  if (await waitScreen(ren, 'removed', 'shows it was removed')) {
    const st = await kaigiState(ren);
    const open = (x) => x && x.state !== 'closed';
    check(!open(st.publish) && !open(st.subscribe),
      `Ren: peer connections closed after removal (${JSON.stringify([st.publish, st.subscribe])})`);
  }
  const gone = await poll(async () => ({ ok: !(await host.page.isVisible(renItem)) }), 5000, 150);
  check(gone.ok, 'host: Ren left #participants');

  // And denies the late one.
  if (lateId) {
    await act(host, 'deny Late', () =>
      host.page.click(`#waiting-list li[data-participant="${lateId}"] button.deny`));
    await waitScreen(late, 'denied', 'shows it was denied');
  }
  const still = await kaigiState(aiko);
  check(still.stats && videoFrames(still, hostId) > 0 && (await screen(aiko)) === 'meeting',
    'Aiko is still in the meeting with the host');
  for (const p of [host, aiko, ren, late]) await p.context.close().catch(() => {});
}

/* --- scenario 3: the host's controls, seen from the other pages ----- */

// Polls fn (returning {ok, why}) and counts one check.
async function expect(what, fn, ms = STEP_MS, every = 200) {
  const r = await poll(fn, ms, every);
  check(r.ok, `${what}${r.why ? ` (${r.why})` : ''}`);
  return r.ok;
}

async function visible(p, sel) {
  return p.page.isVisible(sel).catch(() => false);
}

async function textOf(p, sel) {
  return p.page.evaluate((s) => {
    const e = document.querySelector(s);
    return e ? e.textContent.trim() : null;
  }, sel).catch(() => null);
}

// Audio packets or video frames that p receives from participant id's
// camera and microphone (its first m-section of the kind).
async function received(p, id, kind) {
  const st = await kaigiState(p);
  const ins = ((st.stats && st.stats.inbound) || [])
    .filter((i) => i.kind === kind && i.participant === id)
    .sort((a, b) => Number(a.mid) - Number(b.mid));
  const i = ins[0];
  if (!i) return 0;
  return kind === 'audio' ? i.packetsReceived : i.framesDecoded;
}

// Frames decoded of the track that p shows in id's screen tile (getStats'
// trackIdentifier is the receiver track's ID); 0 without such a tile.
async function screenFrames(p, id) {
  return p.page.evaluate(async (who) => {
    const v = document.querySelector(`.screen-tile[data-screen-of="${who}"] video`);
    const t = v && v.srcObject && v.srcObject.getVideoTracks()[0];
    const pc = window.kaigi.pcs.subscribe;
    if (!t || !pc) return 0;
    let n = 0;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.trackIdentifier === t.id) n = s.framesDecoded || 0;
    });
    return n;
  }, id).catch(() => 0);
}

// p's own audio packets sent (the publish PeerConnection's getStats).
async function audioSent(p) {
  return p.page.evaluate(async () => {
    let n = 0;
    const pc = window.kaigi.pcs.publish;
    if (pc) {
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'audio') n += s.packetsSent || 0;
      });
    }
    return n;
  }).catch(() => 0);
}

// Polls until count() grows past its first sample.
async function rises(what, count, ms = STEP_MS) {
  const base = await count();
  return expect(what, async () => {
    const n = await count();
    return { ok: n > base, why: `${base} → ${n}` };
  }, ms, 300);
}

// Polls until count() stays the same over a 1.5 s window (the time kaigi
// or the sender takes to stop is absorbed by the retries); also() may
// return {ok, why} about that same window (that the sender still sends).
async function stops(what, count, also = null, ms = STEP_MS) {
  return expect(what, async () => {
    const a = await count();
    const a2 = also ? await also.before() : null;
    await sleep(1500);
    const b = await count();
    const extra = also ? await also.after(a2) : { ok: true, why: '' };
    return { ok: a === b && extra.ok, why: `${a} → ${b} in 1.5 s${extra.why}` };
  }, ms, 0);
}

// Watches that bad() stays false for ms (a refusal must not turn into a
// late relay); fails at once when it turns true.
async function stays(what, bad, ms) {
  const end = Date.now() + ms;
  let why = '';
  for (;;) {
    const r = await bad().catch((e) => ({ bad: true, why: String(e.message || e) }));
    why = r.why || '';
    if (r.bad) return check(false, `${what} (${why})`);
    if (Date.now() >= end) return check(true, `${what} (${why}, for ${ms / 1000} s)`);
    await sleep(200);
  }
}

async function chatTexts(p) {
  return p.page.$$eval('#chat-log li', (lis) => lis.map((li) => li.textContent))
    .catch(() => []);
}

async function statusText(p) {
  return (await textOf(p, '#status')) || '';
}

async function tileName(p, id) {
  return textOf(p, `#tiles .tile[data-participant="${id}"] .name`);
}

// No horizontal overflow and every control inside the viewport.
async function checkPhoneLayout(p) {
  const r = await poll(async () => {
    const l = await p.page.evaluate(() => {
      const inView = (sel) => {
        const e = document.querySelector(sel);
        if (!e || e.offsetParent === null) return false;
        const b = e.getBoundingClientRect();
        return b.width > 0 && b.left >= 0 && b.right <= window.innerWidth;
      };
      return {
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        controls: ['#mute-btn', '#camera-btn', '#share-btn', '#record-btn', '#leave-btn', '#chat-input']
          .filter((s) => !inView(s)),
        tiles: document.querySelectorAll('#tiles .tile').length,
      };
    });
    return {
      ok: l.scrollWidth <= l.innerWidth && l.controls.length === 0 && l.tiles >= 3,
      why: `scrollWidth ${l.scrollWidth}, innerWidth ${l.innerWidth}, ${l.tiles} tiles, ` +
        `controls outside the viewport: ${JSON.stringify(l.controls)}`,
    };
  }, 5000);
  check(r.ok, `${p.name} at 390x844: no horizontal overflow, controls visible (${r.why})`);
}

async function scenarioControls(browser, k) {
  console.log('== scenario 3: the host\'s controls, seen on the other pages');
  const m = await k.meeting('Browser controls');
  const host = await openPage(browser, 'Host3');
  const ben = await openPage(browser, 'Ben');
  const cho = await openPage(browser, 'Cho', { width: 390, height: 844 });
  await joinAsHost(host, m);
  need(await waitScreen(host, 'meeting', 'the host is in the meeting'), 'host joined');
  const hostId = await participantId(host);
  await Promise.all([joinWithPin(ben, k.origin, m), joinWithPin(cho, k.origin, m)]);
  need((await Promise.all([
    waitScreen(ben, 'waiting', 'waits in the waiting room'),
    waitScreen(cho, 'waiting', 'waits in the waiting room (phone width)'),
  ])).every(Boolean), 'both wait');
  for (const p of [ben, cho]) need(await admit(host, p.name), `host admits ${p.name}`);
  need((await Promise.all([
    waitScreen(ben, 'meeting', 'admitted into the meeting'),
    waitScreen(cho, 'meeting', 'admitted into the meeting (phone width)'),
  ])).every(Boolean), 'both are in');
  const benId = await participantId(ben);
  const choId = await participantId(cho);
  // Cho is the page that watches Ben; the host watches Cho's phone page.
  await Promise.all([
    rises(`Cho: decodes Ben's video`, () => received(cho, benId, 'video'), MEDIA_MS),
    rises(`Host3: decodes Cho's video`, () => received(host, choId, 'video'), MEDIA_MS),
  ]);

  // Phone width.
  await checkPhoneLayout(cho);
  await shot(cho, 'meeting-phone.png', 'the meeting page at 390x844 (Cho)');

  // Chat: relayed while on; with chat off, Ben's page hides it and kaigi
  // refuses what Ben's page sends anyway; nothing new reaches Cho.
  await act(ben, 'send a chat message', async () => {
    await ben.page.fill('#chat-input', 'hello from Ben');
    await ben.page.click('#chat-send');
  });
  await expect('Cho: Ben\'s chat message appears in #chat-log', async () => {
    const t = await chatTexts(cho);
    return { ok: t.some((x) => x.includes('Ben') && x.includes('hello from Ben')), why: JSON.stringify(t) };
  });
  await act(host, 'turn chat off', () => host.page.uncheck('#chat-toggle'));
  await expect('Ben: chat hidden and its input disabled once the host turns chat off', async () => {
    const s = await ben.page.evaluate(() => ({
      hidden: document.querySelector('#chat').hidden,
      disabled: document.querySelector('#chat-input').disabled,
    }));
    return { ok: s.hidden && s.disabled, why: JSON.stringify(s) };
  });
  const choChat = (await chatTexts(cho)).length;
  // What a stale page would do: the form sends regardless; kaigi decides.
  await act(ben, 'submit a chat message with chat off', () => ben.page.evaluate(() => {
    const i = document.querySelector('#chat-input');
    i.disabled = false;
    i.value = 'chat is off';
    document.querySelector('#chat-form').requestSubmit();
  }));
  await expect('Ben: kaigi refuses chat while it is off (chat_off in #status)', async () => {
    const t = await statusText(ben);
    return { ok: /turned chat off/.test(t), why: JSON.stringify(t) };
  });
  await stays('Cho: nothing new in #chat-log while chat is off', async () => {
    const t = await chatTexts(cho);
    return { bad: t.length !== choChat || t.some((x) => x.includes('chat is off')), why: JSON.stringify(t) };
  }, 2000);

  // Recording: Ben records locally; the others see the banner.
  await act(ben, 'start recording', () => ben.page.click('#record-btn'));
  for (const p of [host, cho]) {
    await expect(`${p.name}: #recording-banner names Ben`, async () => {
      const t = (await visible(p, '#recording-banner')) ? await textOf(p, '#recording-banner') : null;
      return { ok: !!t && t.includes('Ben'), why: JSON.stringify(t) };
    });
  }
  await act(ben, 'stop recording', () => ben.page.click('#record-btn'));
  await expect('Cho: #recording-banner hidden once Ben stops', async () =>
    ({ ok: !(await visible(cho, '#recording-banner')) }));
  await expect('Ben: the recording is offered for saving, on the device only', async () => {
    const href = await ben.page.evaluate(() => {
      const a = document.querySelector('#recording-link a');
      return a ? a.href : null;
    });
    return { ok: !!href && href.startsWith('blob:'), why: String(href) };
  });

  // Renaming: refused while allow_rename is off, broadcast once it is on.
  await act(ben, 'rename with renaming off', () => ben.page.evaluate(() => {
    document.querySelector('#rename-input').disabled = false;
    document.querySelector('#rename-input').value = 'Benny';
    document.querySelector('#rename-form').requestSubmit();
  }));
  await expect('Ben: kaigi refuses the rename (rename_off in #status)', async () => {
    const t = await statusText(ben);
    return { ok: /not allow renaming/.test(t), why: JSON.stringify(t) };
  });
  await stays('Cho: Ben\'s tile still says Ben', async () => {
    const t = await tileName(cho, benId);
    return { bad: t !== 'Ben', why: JSON.stringify(t) };
  }, 2000);
  await act(host, 'allow renaming', () => host.page.check('#rename-toggle'));
  await expect('Ben: the rename form is enabled once the host allows renaming', async () =>
    ({ ok: await ben.page.isEnabled('#rename-btn') }));
  await act(ben, 'rename to Benjamin', async () => {
    await ben.page.fill('#rename-input', 'Benjamin');
    await ben.page.click('#rename-btn');
  });
  for (const p of [host, cho]) {
    await expect(`${p.name}: Ben's tile now says Benjamin`, async () => {
      const t = await tileName(p, benId);
      return { ok: t === 'Benjamin', why: JSON.stringify(t) };
    });
  }
  await expect('Host3: #participants says Benjamin', async () => {
    const t = await textOf(host, `#participants li[data-participant="${benId}"] .who`);
    return { ok: !!t && t.startsWith('Benjamin'), why: JSON.stringify(t) };
  });

  // Mute: kaigi stops forwarding Ben's audio while Ben's browser still
  // sends it; ask-to-unmute, Ben unmutes, and it flows again.
  await rises('Cho: receives Ben\'s audio', () => received(cho, benId, 'audio'));
  const benItem = `#participants li[data-participant="${benId}"]`;
  await act(host, 'mute Ben', () => host.page.click(`${benItem} button.mute`));
  await expect('Ben: the page shows the host muted it', async () => {
    const s = await ben.page.evaluate(() => ({
      pressed: document.querySelector('#mute-btn').getAttribute('aria-pressed'),
      status: document.querySelector('#status').textContent,
    }));
    return { ok: s.pressed === 'true' && /host muted you/.test(s.status), why: JSON.stringify(s) };
  });
  await stops('Cho: Ben\'s audio packets stop while Ben\'s browser still sends',
    () => received(cho, benId, 'audio'), {
      before: () => audioSent(ben),
      after: async (a) => {
        const b = await audioSent(ben);
        return { ok: b > a, why: `; Ben sent ${a} → ${b}` };
      },
    });
  await act(host, 'ask Ben to unmute', () => host.page.click(`${benItem} button.ask-unmute`));
  await expect('Ben: the page shows the host\'s unmute request', async () => {
    const t = await statusText(ben);
    return { ok: /asks you to unmute/.test(t), why: JSON.stringify(t) };
  });
  await act(ben, 'unmute', () => ben.page.click('#mute-btn'));
  await rises('Cho: Ben\'s audio flows again after Ben unmutes', () => received(cho, benId, 'audio'));

  // Camera: off, no frames reach Cho; on, they come again.
  await act(ben, 'camera off', () => ben.page.click('#camera-btn'));
  await stops('Cho: no frames from Ben with Ben\'s camera off', () => received(cho, benId, 'video'));
  await act(ben, 'camera on', () => ben.page.click('#camera-btn'));
  await rises('Cho: Ben\'s frames come again with the camera on', () => received(cho, benId, 'video'));

  // Screen share: "host" policy: Ben's button is disabled, and a page
  // that shares anyway gets share_denied, Cho no screen; "all": Cho
  // decodes Ben's screen.
  check(await ben.page.isDisabled('#share-btn'), 'Ben: #share-btn disabled while only the host may share');
  await act(ben, 'share anyway (the button re-enabled by hand)', () => ben.page.evaluate(() => {
    const b = document.querySelector('#share-btn');
    b.disabled = false;
    b.click();
  }));
  await expect('Ben: kaigi refuses the screen (share_denied in #status)', async () => {
    const t = await statusText(ben);
    return { ok: /Only the host may share/.test(t), why: JSON.stringify(t) };
  });
  await stays('Cho: no screen tile and no second video from Ben under the "host" policy', async () => {
    const tile = await visible(cho, `.screen-tile[data-screen-of="${benId}"]`);
    const frames = await screenFrames(cho, benId);
    return { bad: tile || frames > 0, why: `tile ${tile}, frames ${frames}` };
  }, 3000);
  await act(host, 'let everyone share', () => host.page.selectOption('#share-policy', 'all'));
  await expect('Ben: #share-btn enabled under the "all" policy', async () =>
    ({ ok: await ben.page.isEnabled('#share-btn') }));
  await act(ben, 'share the screen', () => ben.page.click('#share-btn'));
  await expect('Cho: shows a screen tile for Ben', async () =>
    ({ ok: await visible(cho, `.screen-tile[data-screen-of="${benId}"]`) }), MEDIA_MS);
  await rises('Cho: decodes Ben\'s screen in that tile', () => screenFrames(cho, benId), MEDIA_MS);
  // Back to "host": Ben's page stops its share by itself. (kaigi keeps
  // routing a screen it accepted earlier: only a new offer is checked
  // against the policy, so this is the page's doing, not kaigi's.)
  await act(host, 'let only the host share again', () => host.page.selectOption('#share-policy', 'host'));
  await expect('Ben: #share-btn disabled again under the "host" policy', async () =>
    ({ ok: await ben.page.isDisabled('#share-btn') }));
  await stops('Cho: no more frames of Ben\'s screen once Ben\'s page stops sharing',
    () => screenFrames(cho, benId));

  // Lock: a newcomer is refused and the host told; unlocked, it waits.
  await act(host, 'lock the meeting', () => host.page.check('#lock-toggle'));
  await expect('Ben: the lock reaches the other pages (notice)', async () => {
    const t = await textOf(ben, '#notices');
    return { ok: !!t && t.includes('Meeting locked'), why: JSON.stringify(t) };
  });
  const dan = await openPage(browser, 'Dan');
  await joinWithPin(dan, k.origin, m);
  const refused = await expect('Dan: refused by the locked meeting (#error data-code=locked)', async () => {
    const e = await errorText(dan);
    return { ok: (await screen(dan)) === 'landing' && e.startsWith('locked '), why: `${await screen(dan)}, ${e}` };
  });
  await expect('Host3: #notices says Dan tried to join the locked meeting', async () => {
    const t = await textOf(host, '#notices');
    return { ok: !!t && t.includes('Dan tried to join the locked meeting'), why: JSON.stringify(t) };
  });
  await act(host, 'unlock the meeting', () => host.page.uncheck('#lock-toggle'));
  await expect('Ben: sees the meeting unlocked (notice)', async () => {
    const t = await textOf(ben, '#notices');
    return { ok: !!t && t.includes('Meeting unlocked'), why: JSON.stringify(t) };
  });
  if (refused) {
    await act(dan, 'join again', () => dan.page.click('#join-btn'));
    await waitScreen(dan, 'waiting', 'unlocked: waits in the waiting room');
  }
  const danId = await hostListItem(host, 'waiting-list', 'Dan');
  if (danId) {
    await act(host, 'deny Dan', () =>
      host.page.click(`#waiting-list li[data-participant="${danId}"] button.deny`));
    await waitScreen(dan, 'denied', 'denied');
  }

  // Hand-over: Ben gets the host panel, the old host loses it.
  await act(host, 'hand the host role to Ben', async () => {
    await host.page.selectOption('#handover-select', benId);
    await host.page.click('#handover-btn');
  });
  await expect('Ben: #host-panel visible after the hand-over', async () =>
    ({ ok: await visible(ben, '#host-panel') }));
  await expect('Host3: #host-panel hidden after the hand-over', async () =>
    ({ ok: !(await visible(host, '#host-panel')) }));
  await expect('Cho: Ben\'s tile is marked host', async () => ({
    ok: await cho.page.evaluate((id) => {
      const t = document.querySelector(`#tiles .tile[data-participant="${id}"]`);
      return !!t && t.classList.contains('is-host');
    }, benId),
  }));

  // End: the new host ends it; every other page shows "ended".
  await act(ben, 'end the meeting', () => ben.page.click('#end-btn'));
  await Promise.all([
    waitScreen(host, 'ended', 'the meeting ended'),
    waitScreen(cho, 'ended', 'the meeting ended'),
  ]);
  check(/host ended/.test((await textOf(cho, '#ended-text')) || ''),
    `Cho: #ended-text says the host ended it (${await textOf(cho, '#ended-text')})`);
  for (const p of [host, ben, cho, dan]) await p.context.close().catch(() => {});
}

function runClient(binary, k, m, report, logPath) {
  const log = fs.openSync(logPath, 'w');
  const proc = childProcess.spawn(binary, [
    '--server', `ws://${HOST}:${k.http}/ws`, '--meeting', m.id, '--pin', m.pin,
    '--name', 'bot', '--duration', '8', '--report', report,
    // Too little for the pages' top simulcast layer: kaigi must move the
    // bot to the lower one (at a keyframe) once it has measured them.
    '--max-recv-kbps', '400',
  ], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  children.push(proc);
  const exit = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })));
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  return { proc, exit };
}

// RTCP reports with Chromium (relay/rtcp_report.h): kaigi's SRs reach the
// subscribe PeerConnection (remote-outbound-rtp), kaigi's RRs give the
// publish PeerConnection an RTT (remote-inbound-rtp), and Chromium's RRs
// about kaigi's SRs give kaigi an RTT for every participant.
async function pcRtcp(p) {
  return p.page.evaluate(async () => {
    const pcs = (window.kaigi && window.kaigi.pcs) || {};
    const out = { rtt: [], srs: 0 };
    if (pcs.publish) {
      (await pcs.publish.getStats()).forEach((s) => {
        if (s.type === 'remote-inbound-rtp' && s.roundTripTimeMeasurements > 0) out.rtt.push(s.roundTripTime);
      });
    }
    if (pcs.subscribe) {
      (await pcs.subscribe.getStats()).forEach((s) => {
        if (s.type === 'remote-outbound-rtp') out.srs += s.reportsSent || 1;
      });
    }
    return out;
  }).catch((e) => ({ error: String(e.message || e) }));
}

async function checkRtcp(k, m, pages) {
  const r = await poll(async () => {
    const st = await k.call('GET', `/api/rooms/${m.id}/stats`);
    const ps = (st.body && st.body.participants) || [];
    const rtts = ps.map((x) => x.rtt_ms);
    return {
      ok: ps.length === pages.length + 1 && rtts.every((v) => typeof v === 'number' && v > 0 && v < 50),
      why: `rtt_ms ${JSON.stringify(ps.map((x) => [x.name, x.rtt_ms]))}`,
    };
  }, STEP_MS, 500);
  check(r.ok, `kaigi has an RTT for every participant, Chromium's from its RRs (${r.why})`);
  for (const p of pages) {
    const x = await poll(async () => {
      const s = await pcRtcp(p);
      return { ok: s.rtt.length > 0 && s.rtt.every((v) => v >= 0 && v < 0.05) && s.srs > 0,
        why: JSON.stringify(s) };
    }, STEP_MS, 500);
    check(x.ok, `${p.name}: Chromium's RTT from kaigi's RRs and kaigi's SRs (${x.why})`);
  }
}

/* The `speaker` message reaches the page: exactly one tile is marked
 * speaking, the one of window.kaigi.speaker (kaigi-client's steady tone
 * or Chromium's fake-device beep, whichever kaigi hears as dominant). */
async function checkSpeaker(p) {
  const res = await poll(async () => {
    const s = await p.page.evaluate(() => {
      const tiles = [...document.querySelectorAll('#tiles .tile.speaking')];
      const who = tiles.map((t) => t.classList.contains('self')
        ? window.kaigi.participant : t.dataset.participant);
      return { speaker: window.kaigi.speaker, who };
    });
    return { ok: !!s.speaker && s.who.length === 1 && s.who[0] === s.speaker,
      why: JSON.stringify(s) };
  }, 15000);
  check(res.ok, `${p.name}: the active speaker's tile is marked speaking (${res.why})`);
}

async function scenarioClient(browser, k, clientBinary, tmp) {
  console.log('== scenario 2: a host and a participant in Chromium, and kaigi-client');
  const m = await k.meeting('Browser and bot');
  const host = await openPage(browser, 'Host2');
  const aiko = await openPage(browser, 'Aiko2');
  await joinAsHost(host, m);
  need(await waitScreen(host, 'meeting', 'the host is in the meeting'), 'host joined');
  const hostId = await participantId(host);
  await joinWithPin(aiko, k.origin, m);
  need(await waitScreen(aiko, 'waiting', 'waits in the waiting room'), 'Aiko2 waits');
  need(await admit(host, 'Aiko2'), 'host admits Aiko2');
  need(await waitScreen(aiko, 'meeting', 'admitted into the meeting'), 'Aiko2 is in');
  const aikoId = await participantId(aiko);

  const report = path.join(tmp, 'bot.json');
  const botLog = path.join(artifacts, 'kaigi-client-bot.log');
  const bot = runClient(clientBinary, k, m, report, botLog);
  const botId = await admit(host, 'bot');
  need(botId, 'host admits kaigi-client');
  await Promise.all([
    checkDecodes(host, { [aikoId]: 'Aiko2', [botId]: 'bot' }),
    checkDecodes(aiko, { [hostId]: 'Host2', [botId]: 'bot' }),
  ]);
  await checkRtcp(k, m, [host, aiko]);
  await checkSpeaker(host);

  const end = await Promise.race([bot.exit, sleep(25000).then(() => null)]);
  if (!end) bot.proc.kill('SIGKILL');
  check(end && end.code === 0, `kaigi-client exits 0 (${JSON.stringify(end)})`);
  let r = {};
  try {
    fs.copyFileSync(report, path.join(artifacts, 'kaigi-client-bot.json'));
    r = JSON.parse(fs.readFileSync(report, 'utf8'));
  } catch (e) {
    check(false, `kaigi-client's report: ${e.message}`);
  }
  check(r.waited === true && r.admitted === true,
    `kaigi-client waited and was admitted (waited ${r.waited}, admitted ${r.admitted})`);
  check(r.participant === botId, `kaigi-client's ID is the one the host admitted (${r.participant})`);
  check(r.srtp_profile === 'AEAD_AES_256_GCM',
    `kaigi-client is on AEAD_AES_256_GCM (${r.srtp_profile})`);
  check(r.media_while_waiting === 0,
    `kaigi-client got no media while waiting (${r.media_while_waiting})`);
  const remotes = r.remotes || {};
  for (const [id, name] of [[hostId, 'Host2'], [aikoId, 'Aiko2']]) {
    const got = remotes[id] || {};
    check(got.video_frames_decoded > 0,
      `kaigi-client decoded ${name}'s video from Chromium (${got.video_frames_decoded} frames, ${got.decode_errors} errors)`);
    check(got.audio_frames_decoded > 0,
      `kaigi-client decoded ${name}'s Opus audio from Chromium (${got.audio_frames_decoded} frames)`);
  }
  check(r.srtp_unprotect_failures === 0,
    `kaigi-client: no SRTP unprotect failures (${r.srtp_unprotect_failures})`);
  await checkSimulcast(host, remotes[hostId] || {}, 'Host2');
  await checkTileLayer(aiko, hostId, 'Aiko2', 'Host2');
  for (const p of [host, aiko]) await p.context.close().catch(() => {});
}

// In a window so narrow that its tiles are under 240 px wide, the page
// asks kaigi (video_layer) for the lowest layer of each camera: Chromium
// then decodes Host2's 320x180 layer instead of the 640x360 one.
async function checkTileLayer(p, pubId, name, pubName) {
  const frameWidth = async () => {
    const st = await p.page.evaluate(() => window.kaigi.stats());
    const v = (st.inbound || []).find((x) => x.kind === 'video' && x.participant === pubId);
    return v ? v.frameWidth : 0;
  };
  const before = await frameWidth().catch(() => 0);
  await p.page.setViewportSize({ width: 220, height: 480 });
  const r = await poll(async () => {
    const w = await frameWidth();
    return { ok: w === 320, why: `frameWidth ${w}` };
  }, STEP_MS);
  check(r.ok, `${name} in a 220 px window gets ${pubName}'s lowest layer ` +
    `(frameWidth ${before} before, ${r.why})`);
  await p.page.setViewportSize({ width: 1280, height: 800 });
}

// The page publishes its 640x360 camera as rid-based simulcast (h, f):
// Chromium must encode both (kaigi accepted them), and kaigi-client, whose
// REMB (400 kbit/s for two video tracks) fits only the lower layer, must
// end on 320x180 and decode every frame, across the switch, error-free.
async function checkSimulcast(page, got, name) {
  let out = [];
  try {
    out = (await page.page.evaluate(() => window.kaigi.stats())).outbound || [];
  } catch (e) {
    check(false, `${name}'s outbound stats: ${e.message}`);
    return;
  }
  const sending = out.filter((o) => o.kind === 'video' && o.rid && o.framesEncoded > 0);
  check(sending.length >= 2,
    `${name} sends simulcast: ${out.filter((o) => o.kind === 'video').map((o) =>
      `${o.rid}:${o.frameWidth}x${o.frameHeight}/${o.framesEncoded}`).join(' ')}`);
  const res = got.video_resolution || {};
  check(res.width === 320 && res.height === 180 && got.decode_errors === 0,
    `kaigi-client (REMB 400 kbit/s) decodes ${name}'s lower layer: ` +
    `${res.width}x${res.height}, ${res.changes} size change(s), ${got.decode_errors} errors`);
}

/* --- main ------------------------------------------------------------ */

function loadPlaywright() {
  try {
    return require('playwright-core');
  } catch (e) {
    return null;
  }
}

// What a Chromium test lacks, with how to get it; null when nothing.
function missingChromium(pw) {
  return !pw ? 'playwright-core (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci)'
    : !fs.existsSync(CHROMIUM) ? `${CHROMIUM} (apt-get install chromium)` : null;
}

// Runs a short standalone Chromium test (https.test.js, ipv6.test.js)
// under a watchdog of totalMs: usage (2) when an argument in names is
// missing; 77 when playwright-core or Chromium is missing (1 with
// KAIGI_BROWSER_REQUIRED=1) or skip() gives a reason; otherwise
// run(pw, binaries, tmp) in a fresh temporary directory, then every
// child killed, the directory removed, the summary, exit 1 on a failure.
function standalone({ file, names, tmpName, totalMs, skip, run }) {
  const watchdog = setTimeout(() => {
    console.log(`FAIL the whole test took over ${totalMs / 1000} s`);
    process.exit(1);
  }, totalMs);
  const main = async () => {
    const bins = process.argv.slice(2, 2 + names.length);
    if (bins.length < names.length || !bins.every(Boolean)) {
      console.error(`usage: node ${file} ${names.join(' ')}`);
      return 2;
    }
    const pw = loadPlaywright();
    const missing = missingChromium(pw);
    if (missing) {
      const required = process.env.KAIGI_BROWSER_REQUIRED === '1';
      console.log(`${required ? 'FAIL' : 'SKIP'} missing ${missing}`);
      return required ? 1 : 77;
    }
    const why = skip ? await skip() : null;
    if (why) {
      console.log(`SKIP ${why}`);
      return 77;
    }
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `kaigi-${tmpName}-`));
    try {
      await run(pw, bins.map((b) => path.resolve(b)), tmp);
    } catch (e) {
      check(false, `unexpected: ${e.stack || e}`);
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    console.log(`${results.passed} passed, ${results.failed} failed`);
    return results.failed ? 1 : 0;
  };
  main().then((rc) => {
    clearTimeout(watchdog);
    process.exit(rc);
  });
}

async function cleanup() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (e) {
      // nothing more to do on the way out
    }
  }
}

async function main() {
  const [kaigiBin, clientBin] = process.argv.slice(2);
  if (!kaigiBin || !clientBin) {
    console.error('usage: node meetings.test.js KAIGI KAIGI_CLIENT');
    return 2;
  }
  const required = process.env.KAIGI_BROWSER_REQUIRED === '1';
  const pw = loadPlaywright();
  const missing = missingChromium(pw);
  if (missing && required) {
    check(false, `missing ${missing}`);
    return 1;
  }
  if (missing) {
    console.log(`SKIP missing ${missing}`);
    return 77;
  }
  artifacts = path.resolve(process.env.KAIGI_ARTIFACTS ||
    path.join(ROOT, 'build', 'browser-artifacts'));
  fs.mkdirSync(artifacts, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kaigi-browser-'));
  cleanups.push(async () => fs.rmSync(tmp, { recursive: true, force: true }));

  const k = new Kaigi(path.resolve(kaigiBin), tmp);
  cleanups.push(async () => {
    k.kill();
    fs.copyFileSync(k.logPath, path.join(artifacts, 'kaigi.log'));
  });

  let browser = null;
  try {
    await k.start();
    browser = await pw.chromium.launch({
      executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: STEP_MS,
    });
    cleanups.push(async () => browser.close());
    // KAIGI_BROWSER_SCENARIOS=3 (say) runs only those, while working on one.
    const only = (process.env.KAIGI_BROWSER_SCENARIOS || '').split(',').filter(Boolean);
    const scenarios = [
      () => scenarioBrowsers(browser, k),
      () => scenarioClient(browser, k, path.resolve(clientBin), tmp),
      () => scenarioControls(browser, k),
    ].filter((_, i) => !only.length || only.includes(String(i + 1)));
    for (const scenario of scenarios) {
      try {
        await scenario();
      } catch (e) {
        if (!(e instanceof Abort)) check(false, `unexpected: ${e.stack || e}`);
        else console.log('     (the rest of this scenario is skipped)');
      }
    }
    await browser.close();
    const ex = await k.stop();
    check(ex.code === 0, `kaigi exits cleanly on SIGTERM (${JSON.stringify(ex)})`);
  } catch (e) {
    if (!(e instanceof Abort)) check(false, `unexpected: ${e.stack || e}`);
  }
  if (results.failed) {
    console.log(`--- kaigi.log (tail)\n${tail(k.logPath)}`);
    for (const f of fs.readdirSync(artifacts).filter((x) => x.endsWith('.log')).sort()) {
      if (f === 'kaigi.log') continue;
      console.log(`--- ${f} (tail)\n${tail(path.join(artifacts, f), 2500)}`);
    }
  }
  return results.failed ? 1 : 0;
}

// tests/browser/firefox.test.js, https.test.js, ipv6.test.js and
// tcp.test.js share these helpers (and this file's
// results, cleanups and children); required by them, this file runs nothing.
module.exports = {
  HOST, CHROMIUM, LAUNCH_ARGS, STEP_MS, MEDIA_MS, results, cleanups, children,
  Abort, check, must, need, sleep, poll, elapsed, tail, cleanup, Kaigi,
  openPage, screen, waitScreen, act, joinWithPin, joinAsHost, kaigiState,
  checkNoMedia, isGcm256, videoFrames, audioPackets, checkEncryptionLabel,
  hostListItem, admit, participantId, shot, loadPlaywright,
  ROOT, WWW, freePort, rfc3339, callJson, startWithMeeting, missingChromium, standalone,
  joinByIdAndPin, selectedPairs,
  setArtifacts: (dir) => { artifacts = dir; },
};
if (require.main !== module) return;

process.on('exit', () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
});

// Ends the run from outside main (the watchdog, a signal): one failed
// check, the summary, then every cleanup, with 5 s for it at most.
let stopping = false;
function stop(why) {
  if (stopping) return;
  stopping = true;
  check(false, why);
  console.log(`${results.passed} passed, ${results.failed} failed`);
  setTimeout(() => process.exit(1), 5000).unref();
  cleanup().finally(() => process.exit(1));
}

const watchdog = setTimeout(() => stop(`the whole test took over ${TOTAL_MS / 1000} s`), TOTAL_MS);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => stop(`interrupted by ${sig}`));

main().then(async (rc) => {
  if (stopping) return;
  await cleanup();
  clearTimeout(watchdog);
  if (rc !== 2 && rc !== 77) {
    console.log(`${results.passed} passed, ${results.failed} failed`);
  }
  process.exit(rc);
}, (e) => stop(`unexpected: ${e.stack || e}`));
