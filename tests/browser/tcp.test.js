#!/usr/bin/env node
// ICE-TCP with a real browser: Debian's Chromium, driven by playwright-core
// as meetings.test.js drives it, in a network namespace this test makes,
// where every UDP datagram toward kaigi is dropped (nft, inside the
// namespace). Chromium must join through kaigi's passive TCP candidate,
// decode a kaigi-client's video (kaigi-client publishes over UDP from the
// root namespace) on AEAD_AES_256_GCM, with its selected candidate pair on
// TCP; kaigi's room stats must say "tcp" for Chromium's two transports,
// and the nft rule must have dropped Chromium's UDP attempts (so the
// block was real).
//
// The namespace: kgtcp<pid>, joined to the root namespace by a veth pair
// with 10.213.77.1/30 (root side, where kaigi listens) and 10.213.77.2/30
// (inside). Those addresses exist only on this test's veth pair, which is
// removed at exit with the namespace.
//
// Usage: node tests/browser/tcp.test.js KAIGI KAIGI_CLIENT
// Exits 77 (meson's "skipped") when playwright-core, Chromium, ip or nft
// is missing or namespaces cannot be made (not root), with the reason.
'use strict';

const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const {
  CHROMIUM, LAUNCH_ARGS, ROOT, results, cleanups, check, poll, freePort, cleanup,
  loadPlaywright, missingChromium, callJson, rfc3339, selectedPairs,
} = require('./meetings.test.js');

const NS = `kgtcp${process.pid}`;
const VETH_ROOT = `kgtr${process.pid}`.slice(0, 15);
const VETH_NS = `kgtn${process.pid}`.slice(0, 15);
const KAIGI_IP = '10.213.77.1';
const BROWSER_IP = '10.213.77.2';
const TOTAL_MS = 150000;

function sh(cmd, args) {
  return childProcess.execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function which(p) {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (fs.existsSync(path.join(dir, p))) return path.join(dir, p);
  }
  return null;
}

// The namespace, the veth pair and the UDP block. Returns null or why not.
function makeNamespace(nft, ip) {
  try {
    sh(ip, ['netns', 'add', NS]);
  } catch (e) {
    return `cannot create a network namespace (${String(e.stderr || e.message).trim()})`;
  }
  cleanups.push(() => sh(ip, ['netns', 'del', NS]));
  sh(ip, ['link', 'add', VETH_ROOT, 'type', 'veth', 'peer', 'name', VETH_NS]);
  cleanups.push(() => sh(ip, ['link', 'del', VETH_ROOT]));
  sh(ip, ['link', 'set', VETH_NS, 'netns', NS]);
  sh(ip, ['addr', 'add', `${KAIGI_IP}/30`, 'dev', VETH_ROOT]);
  sh(ip, ['link', 'set', VETH_ROOT, 'up']);
  sh(ip, ['netns', 'exec', NS, ip, 'addr', 'add', `${BROWSER_IP}/30`, 'dev', VETH_NS]);
  sh(ip, ['netns', 'exec', NS, ip, 'link', 'set', VETH_NS, 'up']);
  sh(ip, ['netns', 'exec', NS, ip, 'link', 'set', 'lo', 'up']);
  // Every UDP datagram toward kaigi's address is dropped, and counted.
  sh(ip, ['netns', 'exec', NS, nft, 'add', 'table', 'inet', 'kgtcp']);
  sh(ip, ['netns', 'exec', NS, nft, 'add', 'chain', 'inet', 'kgtcp', 'o',
    '{ type filter hook output priority 0 ; }']);
  sh(ip, ['netns', 'exec', NS, nft, 'add', 'rule', 'inet', 'kgtcp', 'o',
    'ip', 'daddr', KAIGI_IP, 'meta', 'l4proto', 'udp', 'counter', 'drop']);
  return null;
}

function droppedUdp(nft, ip) {
  const out = sh(ip, ['netns', 'exec', NS, nft, 'list', 'chain', 'inet', 'kgtcp', 'o']);
  const m = /counter packets (\d+)/.exec(out);
  return m ? Number(m[1]) : -1;
}

async function main() {
  const [kaigiBin, clientBin] = process.argv.slice(2);
  if (!kaigiBin || !clientBin) {
    console.error('usage: node tcp.test.js KAIGI KAIGI_CLIENT');
    return 2;
  }
  const pw = loadPlaywright();
  const ip = which('ip');
  const nft = which('nft');
  const missing = missingChromium(pw)
    || (!ip ? 'ip (apt-get install iproute2)'
        : !nft ? 'nft (apt-get install nftables)'
          : process.getuid() !== 0 ? 'root (network namespaces)' : null);
  if (missing) {
    console.log(`SKIP missing ${missing}`);
    return 77;
  }
  const why = makeNamespace(nft, ip);
  if (why) {
    console.log(`SKIP ${why}`);
    return 77;
  }
  const artifacts = path.resolve(process.env.KAIGI_ARTIFACTS ||
    path.join(ROOT, 'build', 'browser-artifacts'));
  fs.mkdirSync(artifacts, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kaigi-tcp-browser-'));
  cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));

  // kaigi on the root side of the veth pair, UDP and TCP on one port.
  const http = await freePort('tcp', KAIGI_IP);
  const origin = `http://${KAIGI_IP}:${http}`;
  const logPath = path.join(tmp, 'kaigi.log');
  const log = fs.openSync(logPath, 'w');
  const kaigi = childProcess.spawn(path.resolve(kaigiBin), [
    '--listen', `${KAIGI_IP}:${http}`, '--udp', `${KAIGI_IP}:0`,
    '--data', path.join(tmp, 'data'), '--node', 'tcp-test', '--workers', '1',
    '--www', path.join(ROOT, 'signalling', 'www'),
  ], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  cleanups.push(() => {
    if (kaigi.exitCode === null) kaigi.kill('SIGKILL');
    fs.copyFileSync(logPath, path.join(artifacts, 'tcp-kaigi.log'));
  });
  const up = await poll(async () => {
    const r = await fetch(`${origin}/api/stats`);
    return { ok: r.status === 200, why: String(r.status) };
  }, 10000, 100);
  if (!check(up.ok, `kaigi is up on ${origin} (${up.why || ''})`)) return 1;
  const token = fs.readFileSync(path.join(tmp, 'data', 'admin.token'), 'utf8').trim();
  const api = (method, url, body, auth = `Bearer ${token}`) =>
    callJson(origin, method, url, body, auth);
  const c = await api('POST', '/api/meetings', {
    title: 'TCP', start: rfc3339(Date.now()),
    duration: 600, settings: { waiting_room: false },
  });
  if (!check(c.status === 201, `meeting created (${c.status})`)) return 1;
  const m = c.body;
  const info = await api('GET', `/api/meetings/${m.id}/join-info`, undefined,
    `HostKey ${m.host_key}`);

  // Chromium inside the namespace: playwright starts this wrapper, which
  // keeps its pipes (fds 3 and 4) across `ip netns exec`.
  const wrapper = path.join(tmp, 'chromium-in-ns');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec ${ip} netns exec ${NS} ${CHROMIUM} "$@"\n`);
  fs.chmodSync(wrapper, 0o755);
  const browser = await pw.chromium.launch({
    executablePath: wrapper, timeout: 30000,
    args: [...LAUNCH_ARGS,
      // (playwright gives each launch a fresh --user-data-dir of its own)
      `--unsafely-treat-insecure-origin-as-secure=${origin}`],
  }).catch((e) => {
    check(false, `Chromium starts inside ${NS}: ${e.message.split('\n')[0]}`);
    return null;
  });
  if (!browser) return 1;
  cleanups.push(() => browser.close());
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await context.newPage();
  const consoleLog = path.join(artifacts, 'console-tcp.log');
  fs.writeFileSync(consoleLog, '');
  page.on('console', (msg) => fs.appendFileSync(consoleLog, `${msg.type()}: ${msg.text()}\n`));
  await page.goto(m.host_link);
  await page.fill('#name', 'Browser');
  await page.click('#join-btn');
  const joined = await poll(async () => {
    const s = await page.evaluate(() => document.body.dataset.screen);
    return { ok: s === 'meeting', why: s };
  }, 20000, 200);
  if (!check(joined.ok, `Chromium (UDP to kaigi dropped) is in the meeting (${joined.why})`)) return 1;

  // kaigi-client from the root namespace, over UDP.
  const report = path.join(tmp, 'bot.json');
  const botLog = fs.openSync(path.join(tmp, 'bot.log'), 'w');
  const bot = childProcess.spawn(path.resolve(clientBin), [
    '--server', `ws://${KAIGI_IP}:${http}/ws`, '--meeting', m.id,
    '--pin', info.body.pin, '--name', 'bot', '--duration', '12',
    '--report', report,
  ], { stdio: ['ignore', botLog, botLog] });
  fs.closeSync(botLog);
  cleanups.push(() => { if (bot.exitCode === null) bot.kill('SIGKILL'); });

  const media = await poll(async () => {
    const got = await selectedPairs(page);
    const st = { cipher: got.cipher, frames: got.frames, pairs: got.pairs.map((p) => ({
      role: p.role, local: p.local && `${p.local.protocol} ${p.local.address}`,
      remote: p.remote && `${p.remote.protocol} ${p.remote.address}:${p.remote.port}` })) };
    return { ok: st.cipher === 'AEAD_AES_256_GCM' && st.frames > 30 &&
      st.pairs.length === 2 && st.pairs.every((p) => /^tcp /.test(p.local || '')),
    why: JSON.stringify(st), st };
  }, 40000, 500);
  check(media.ok, `Chromium decodes the bot's video over TCP on AEAD_AES_256_GCM (${media.why})`);

  const seen = await poll(async () => {
    const r = await api('GET', `/api/rooms/${m.id}/stats`);
    const me = ((r.body && r.body.participants) || []).find((p) => p.name === 'Browser');
    return { ok: !!me && me.protocol && me.protocol.publish === 'tcp' &&
      me.protocol.subscribe === 'tcp', why: JSON.stringify(me && me.protocol) };
  }, 10000, 500);
  check(seen.ok, `kaigi's stats: Chromium's transports on ${seen.why}`);
  const dropped = droppedUdp(nft, ip);
  check(dropped > 0, `nft in ${NS} dropped ${dropped} UDP packets toward kaigi`);
  await page.screenshot({ path: path.join(artifacts, 'tcp-meeting.png') }).catch(() => {});

  await browser.close();
  kaigi.kill('SIGTERM');
  const code = await new Promise((r) => kaigi.on('exit', (c2) => r(c2)));
  check(code === 0, `kaigi exits cleanly (${code})`);
  return results.failed ? 1 : 0;
}

const hard = setTimeout(() => {
  check(false, `did not finish within ${TOTAL_MS / 1000} s`);
  cleanup().then(() => process.exit(1));
}, TOTAL_MS + 5000);

main().then(async (rc) => {
  clearTimeout(hard);
  console.log(`${results.passed} passed, ${results.failed} failed`);
  await cleanup();
  process.exit(rc);
}, async (e) => {
  clearTimeout(hard);
  check(false, `unexpected: ${e.stack || e}`);
  await cleanup();
  process.exit(1);
});
