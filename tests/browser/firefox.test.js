#!/usr/bin/env node
// kaigi's Firefox test: Debian's firefox-esr, driven by puppeteer-core over
// WebDriver BiDi (no browser download), in a meeting with two Debian
// Chromium pages (playwright-core), against a real kaigi over loopback,
// coded only against the DOM contract in signalling/www/DOM.md. The
// helpers (and the check/poll machinery) are meetings.test.js's.
//
//   A host in Chromium, Fumi in Firefox and Chie in Chromium; the waiting
//   room is on. Fumi and Chie wait with no peer connection and no inbound
//   RTP; the host admits them; every page decodes every other page's video
//   and audio (two samples 3 s apart), Firefox's page says its SRTP runs
//   on AEAD_AES_256_GCM and it sends two simulcast layers; the host removes Fumi, whose page shows
//   "removed", and the Chromium pages stop receiving Fumi while they keep
//   receiving each other.
//
// Usage: node tests/browser/firefox.test.js KAIGI KAIGI_CLIENT
// (KAIGI_CLIENT is unused; it keeps the same arguments as meetings.test.js.)
// Screenshots and console logs go to $KAIGI_ARTIFACTS (default
// build/browser-artifacts/firefox). Only 127.0.0.1 is ever used. Prints
// one line per check and ends with "N passed, N failed"; exits 1 on any
// failure, 77 (meson's "skipped") when firefox-esr, Chromium,
// puppeteer-core or playwright-core is missing, unless
// KAIGI_BROWSER_REQUIRED=1 makes that a failure too.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const m = require('./meetings.test.js');

const { check, must, need, poll, sleep, Abort } = m;
const FIREFOX = '/usr/bin/firefox-esr';
const ROOT = path.resolve(__dirname, '..', '..');
const TOTAL_MS = 150000; // hard stop, under meson's 180 s
const LAUNCH_MS = 60000; // Firefox takes seconds to start on a loaded machine
const SAMPLE_GAP_MS = 3000; // between the two samples of a decode check

function loadPuppeteer() {
  try {
    return require('puppeteer-core');
  } catch (e) {
    return null;
  }
}

/* --- Firefox ---------------------------------------------------------- */

// Firefox offers its 127.0.0.1 host candidate only with
// media.peerconnection.ice.loopback AND a saved camera and microphone
// permission for the origin (fake media with the permission prompt off
// does not count); without both, ICE never starts against a loopback
// kaigi. WebDriver BiDi cannot grant that permission, so it comes from a
// permissions defaults file, which reaches only the default browser
// context: one Firefox per Firefox participant, its page in that context.
function firefoxPrefs(tmp, origin) {
  const perms = path.join(tmp, 'firefox-permissions.txt');
  fs.writeFileSync(perms, ['camera', 'microphone']
    .map((what) => `origin\t${what}\t1\t${origin}\n`).join(''));
  return {
    'permissions.manager.defaultsUrl': `file://${perms}`,
    'media.peerconnection.ice.loopback': true,
    'media.navigator.streams.fake': true,
    'media.navigator.permission.disabled': true,
    // Nothing but loopback: no updates, telemetry or safe-browsing lists.
    'app.update.enabled': false,
    'datareporting.policy.dataSubmissionEnabled': false,
    'toolkit.telemetry.enabled': false,
    'browser.safebrowsing.malware.enabled': false,
    'browser.safebrowsing.phishing.enabled': false,
    'network.captive-portal-service.enabled': false,
    'network.connectivity-service.enabled': false,
  };
}

async function launchFirefox(puppeteer, tmp, origin) {
  const browser = await puppeteer.launch({
    browser: 'firefox', executablePath: FIREFOX, headless: true,
    extraPrefsFirefox: firefoxPrefs(tmp, origin), timeout: LAUNCH_MS,
    protocolTimeout: LAUNCH_MS,
  });
  const proc = browser.process();
  if (proc) m.children.push(proc);
  m.cleanups.push(async () => browser.close());
  return browser;
}

// A Firefox participant: its page in the default context, behind the few
// Playwright page calls that meetings.test.js's helpers make, with its
// console and page errors logged to ARTIFACTS/console-NAME.log.
async function openFirefoxPage(browser, name, artifacts) {
  const pages = await browser.pages();
  const page = pages.length ? pages[0] : await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  page.setDefaultTimeout(m.STEP_MS);
  const logPath = path.join(artifacts, `console-${name}.log`);
  fs.writeFileSync(logPath, '');
  const log = { write: (line) => fs.appendFileSync(logPath, line) };
  const stamp = () => `[${m.elapsed()}s]`;
  page.on('console', (c) => log.write(`${stamp()} ${c.type()}: ${c.text()}\n`));
  page.on('pageerror', (e) => log.write(`${stamp()} pageerror: ${e.stack || e}\n`));
  // Counts every RTCPeerConnection the page makes: a waiting page must
  // make none, not merely have closed it again.
  await page.evaluateOnNewDocument(() => {
    window.kaigiTestPcs = 0;
    window.RTCPeerConnection = new Proxy(window.RTCPeerConnection, {
      construct(target, args, newTarget) {
        window.kaigiTestPcs++;
        return Reflect.construct(target, args, newTarget);
      },
    });
  });
  const facade = {
    goto: (url) => page.goto(url),
    fill: (sel, value) => page.locator(sel).fill(value),
    click: (sel) => page.click(sel),
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    $$eval: (sel, fn) => page.$$eval(sel, fn),
    isVisible: (sel) => page.evaluate((s) => {
      const e = document.querySelector(s);
      return !!e && e.checkVisibility();
    }, sel),
    screenshot: (opts) => page.screenshot(opts),
  };
  return { name, page: facade, logPath, log, raw: page };
}

/* --- checks ----------------------------------------------------------- */

function counts(st, ids) {
  return {
    frames: ids.map((id) => m.videoFrames(st, id)),
    audio: ids.map((id) => m.audioPackets(st, id)),
  };
}

// Polls p's window.kaigi.stats() until it is on AEAD_AES_256_GCM and
// decodes video and receives audio from every one of remotes ({id: name});
// samples again SAMPLE_GAP_MS later and checks that every count grew.
async function checkDecodes(p, remotes) {
  const ids = Object.keys(remotes);
  const names = ids.map((id) => remotes[id]).join(' and ');
  const first = await poll(async () => {
    const st = await m.kaigiState(p);
    const c = counts(st, ids);
    const cipher = st.stats && st.stats.srtpCipher;
    return {
      ok: m.isGcm256(cipher) && c.frames.every((n) => n > 0) && c.audio.every((n) => n > 0),
      at: Date.now(), ...c, cipher, profile: st.stats && st.stats.srtpProfile,
      why: `srtpCipher ${cipher}, frames ${JSON.stringify(c.frames)}, audio ${
        JSON.stringify(c.audio)}, ${st.statsError ||
        JSON.stringify((st.stats && st.stats.inbound) || null)}`,
    };
  }, m.MEDIA_MS, 300);
  check(m.isGcm256(first.cipher),
    `${p.name}: srtpCipher is AEAD_AES_256_GCM (${first.cipher}; getStats: ${first.profile})`);
  if (!check(first.ok, `${p.name}: decodes video and audio from ${names} (${first.ok
    ? `${JSON.stringify(first.frames)} frames` : first.why})`)) return false;
  await sleep(Math.max(0, first.at + SAMPLE_GAP_MS - Date.now()));
  const st = await m.kaigiState(p);
  const second = counts(st, ids);
  return check(second.frames.every((n, i) => n > first.frames[i]) &&
    second.audio.every((n, i) => n > first.audio[i]),
  `${p.name}: video and audio from ${names} keep coming (${
    JSON.stringify(first.frames)} → ${JSON.stringify(second.frames)} frames, ${
    JSON.stringify(first.audio)} → ${JSON.stringify(second.audio)} audio packets in ${
    SAMPLE_GAP_MS / 1000} s)`);
}

// The mids of the m-sections in which p receives participant id.
async function midsOf(p, id) {
  const st = await m.kaigiState(p);
  return ((st.stats && st.stats.inbound) || []).filter((i) => i.participant === id)
    .map((i) => String(i.mid));
}

// Video frames and audio packets that p's subscribe connection counts in
// the given mids, straight from getStats() (not through the page, which
// forgets a participant once it has left).
async function rawReceived(p, mids) {
  return p.page.evaluate(async (want) => {
    const pc = window.kaigi.pcs.subscribe;
    let n = 0;
    if (pc) {
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && want.includes(String(s.mid))) {
          n += s.kind === 'video' ? s.framesDecoded || 0 : s.packetsReceived || 0;
        }
      });
    }
    return n;
  }, mids);
}

// After Fumi is removed: polls until p receives nothing more in Fumi's
// former mids over a 2 s window, while what it receives from stayId
// still grows.
async function checkStopped(p, goneMids, goneName, stayId, stayName) {
  const r = await poll(async () => {
    const a = [await rawReceived(p, goneMids), counts(await m.kaigiState(p), [stayId])];
    await sleep(2000);
    const b = [await rawReceived(p, goneMids), counts(await m.kaigiState(p), [stayId])];
    const flowing = b[1].frames[0] > a[1].frames[0] && b[1].audio[0] > a[1].audio[0];
    return {
      ok: goneMids.length > 0 && b[0] <= a[0] && flowing,
      why: `${goneName}'s mids ${JSON.stringify(goneMids)}: ${a[0]} → ${b[0]} frames + ` +
        `audio packets; from ${stayName}: ${a[1].frames[0]} → ${b[1].frames[0]} frames, ` +
        `${a[1].audio[0]} → ${b[1].audio[0]} audio packets, in 2 s`,
    };
  }, m.STEP_MS, 0);
  return check(r.ok, `${p.name}: receives nothing more from ${goneName}, still from ${
    stayName} (${r.why})`);
}

// The raw getStats() types and transport fields of Firefox's page: what
// the page's normalisation has to work with (printed when a check fails).
async function rawStatsSummary(p) {
  return p.page.evaluate(async () => {
    const out = {};
    for (const [role, pc] of Object.entries(window.kaigi.pcs || {})) {
      if (!pc) continue;
      const types = {};
      const transports = [];
      (await pc.getStats()).forEach((s) => {
        types[s.type] = (types[s.type] || 0) + 1;
        if (s.type === 'transport' || s.type === 'certificate') transports.push(s);
      });
      out[role] = { types, transports };
    }
    return JSON.stringify(out);
  }).catch((e) => `(${e.message})`);
}

async function pcsMade(p) {
  return p.page.evaluate(() => window.kaigiTestPcs).catch((e) => `? (${e.message})`);
}

/* --- the scenario ----------------------------------------------------- */

async function scenario(chromium, firefox, k, artifacts) {
  console.log('== a host and Chie in Chromium, Fumi in Firefox');
  const mt = await k.meeting('Firefox standup');
  const host = await m.openPage(chromium, 'Host');
  const chie = await m.openPage(chromium, 'Chie');
  const fumi = await openFirefoxPage(firefox, 'Fumi', artifacts);

  await m.joinAsHost(host, mt);
  need(await m.waitScreen(host, 'meeting', 'the host is in the meeting at once'),
    'host joined');
  const hostId = await m.participantId(host);

  await Promise.all([m.joinWithPin(fumi, k.origin, mt), m.joinWithPin(chie, k.origin, mt)]);
  need((await Promise.all([
    m.waitScreen(fumi, 'waiting', 'waits in the waiting room (Firefox)'),
    m.waitScreen(chie, 'waiting', 'waits in the waiting room'),
  ])).every(Boolean), 'both participants are waiting');
  for (const p of [fumi, chie]) await m.checkNoMedia(p, 'while waiting');
  check(await pcsMade(fumi) === 0,
    `Fumi: Firefox made no RTCPeerConnection while waiting (${await pcsMade(fumi)})`);

  for (const p of [fumi, chie]) need(await m.admit(host, p.name), `host admits ${p.name}`);
  need((await Promise.all([
    m.waitScreen(fumi, 'meeting', 'admitted into the meeting (Firefox)'),
    m.waitScreen(chie, 'meeting', 'admitted into the meeting'),
  ])).every(Boolean), 'both participants are in');
  const fumiId = await m.participantId(fumi);
  const made = await poll(async () => {
    const n = await pcsMade(fumi);
    return { ok: n >= 2, why: `${n}` };
  }, m.STEP_MS);
  check(made.ok, `Fumi: admitted, Firefox made its publish and subscribe RTCPeerConnections (${made.why})`);
  const chieId = await m.participantId(chie);
  check(new Set([hostId, fumiId, chieId]).size === 3, 'three distinct participant IDs');

  const names = { [hostId]: 'Host', [fumiId]: 'Fumi', [chieId]: 'Chie' };
  const others = (me) => Object.fromEntries(Object.entries(names).filter(([id]) => id !== me));
  const decoded = await Promise.all([
    checkDecodes(fumi, others(fumiId)),
    checkDecodes(host, others(hostId)),
    checkDecodes(chie, others(chieId)),
  ]);
  if (!decoded[0]) console.log(`     Firefox's getStats(): ${await rawStatsSummary(fumi)}`);
  await m.checkEncryptionLabel(fumi);
  const out = await fumi.page.evaluate(() => window.kaigi.stats())
    .then((s) => s.outbound || []).catch(() => []);
  const layers = out.filter((o) => o.kind === 'video' && o.rid && o.framesEncoded > 0);
  check(layers.length >= 2 && out.some((o) => o.kind === 'audio'),
    `Fumi (Firefox) publishes audio and simulcast video (rids): ${out.map((o) =>
    `${o.kind}${o.rid ? `/${o.rid}` : ''}:${o.frameWidth}x${o.frameHeight}/${o.framesEncoded}`)
    .join(' ')}`);
  await m.shot(fumi, 'firefox-meeting.png', 'the meeting page in Firefox (Fumi)');
  need(decoded.every(Boolean), 'every page decodes every other');

  // The host removes Fumi: Firefox's page says so and closes its
  // connections; the Chromium pages stop receiving Fumi, not each other.
  const goneMids = await Promise.all([midsOf(host, fumiId), midsOf(chie, fumiId)]);
  const item = `#participants li[data-participant="${fumiId}"]`;
  check(await host.page.isVisible(item), 'host: #participants lists Fumi');
  await m.act(host, 'remove Fumi', () => host.page.click(`${item} button.remove`));
  if (await m.waitScreen(fumi, 'removed', 'shows it was removed (Firefox)')) {
    const st = await m.kaigiState(fumi);
    const open = (x) => x && x.state !== 'closed';
    check(!open(st.publish) && !open(st.subscribe),
      `Fumi: peer connections closed after removal (${JSON.stringify([st.publish, st.subscribe])})`);
  }
  await Promise.all([
    checkStopped(host, goneMids[0], 'Fumi', chieId, 'Chie'),
    checkStopped(chie, goneMids[1], 'Fumi', hostId, 'Host'),
  ]);
  const gone = await poll(async () => ({ ok: !(await host.page.isVisible(item)) }), 5000, 150);
  check(gone.ok, 'host: Fumi left #participants');
  for (const p of [host, chie]) await p.context.close().catch(() => {});
}

/* --- main ------------------------------------------------------------- */

async function main() {
  const [kaigiBin] = process.argv.slice(2);
  if (!kaigiBin) {
    console.error('usage: node firefox.test.js KAIGI KAIGI_CLIENT');
    return 2;
  }
  const required = process.env.KAIGI_BROWSER_REQUIRED === '1';
  const pw = m.loadPlaywright();
  const pp = loadPuppeteer();
  const npmCi = 'cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 npm ci';
  const missing = !fs.existsSync(FIREFOX) ? `${FIREFOX} (apt-get install firefox-esr)`
    : !pp ? `puppeteer-core (${npmCi})`
      : !pw ? `playwright-core (${npmCi})`
        : !fs.existsSync(m.CHROMIUM) ? `${m.CHROMIUM} (apt-get install chromium)` : null;
  if (missing && required) {
    check(false, `missing ${missing}`);
    return 1;
  }
  if (missing) {
    console.log(`SKIP missing ${missing}`);
    return 77;
  }
  const artifacts = path.resolve(process.env.KAIGI_ARTIFACTS ||
    path.join(ROOT, 'build', 'browser-artifacts', 'firefox'));
  fs.mkdirSync(artifacts, { recursive: true });
  m.setArtifacts(artifacts);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kaigi-firefox-'));
  m.cleanups.push(async () => fs.rmSync(tmp, { recursive: true, force: true }));

  const k = new m.Kaigi(path.resolve(kaigiBin), tmp);
  m.cleanups.push(async () => {
    k.kill();
    fs.copyFileSync(k.logPath, path.join(artifacts, 'kaigi.log'));
  });

  try {
    await k.start();
    // Both browsers start at once: Firefox alone takes several seconds.
    const [chromium, firefox] = await Promise.all([
      pw.chromium.launch({ executablePath: m.CHROMIUM, args: m.LAUNCH_ARGS, timeout: LAUNCH_MS })
        .then((b) => { m.cleanups.push(async () => b.close()); return b; }),
      launchFirefox(pp, tmp, k.origin),
    ]);
    check(true, `Chromium ${chromium.version()} and ${await firefox.version()} started`);
    try {
      await scenario(chromium, firefox, k, artifacts);
    } catch (e) {
      if (!(e instanceof Abort)) check(false, `unexpected: ${e.stack || e}`);
      else console.log('     (the rest of the scenario is skipped)');
    }
    await Promise.all([chromium.close(), firefox.close()]);
    const ex = await k.stop();
    check(ex.code === 0, `kaigi exits cleanly on SIGTERM (${JSON.stringify(ex)})`);
  } catch (e) {
    if (!(e instanceof Abort)) check(false, `unexpected: ${e.stack || e}`);
  }
  if (m.results.failed) {
    console.log(`--- kaigi.log (tail)\n${m.tail(k.logPath)}`);
    for (const f of fs.readdirSync(artifacts).filter((x) => x.endsWith('.log')).sort()) {
      if (f === 'kaigi.log') continue;
      console.log(`--- ${f} (tail)\n${m.tail(path.join(artifacts, f), 2500)}`);
    }
  }
  return m.results.failed ? 1 : 0;
}

process.on('exit', () => {
  for (const c of m.children) {
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
  console.log(`${m.results.passed} passed, ${m.results.failed} failed`);
  setTimeout(() => process.exit(1), 5000).unref();
  m.cleanup().finally(() => process.exit(1));
}

const watchdog = setTimeout(() => stop(`the whole test took over ${TOTAL_MS / 1000} s`), TOTAL_MS);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => stop(`interrupted by ${sig}`));

main().then(async (rc) => {
  if (stopping) return;
  await m.cleanup();
  clearTimeout(watchdog);
  if (rc !== 2 && rc !== 77) {
    console.log(`${m.results.passed} passed, ${m.results.failed} failed`);
  }
  process.exit(rc);
}, (e) => stop(`unexpected: ${e.stack || e}`));
