#!/usr/bin/env node
// kaigi over https in Debian's Chromium (playwright-core): the test makes a
// CA and a certificate for localhost/127.0.0.1 with the openssl command
// line, starts kaigi with --tls-cert/--tls-key, and has Chromium trust
// that one key only (--ignore-certificate-errors-spki-list with the
// certificate's SPKI hash; verification stays on for everything else).
// The page at https://localhost:PORT/ joins a meeting by ID and PIN (its
// WebSocket is wss:// to the same origin, under the page's CSP), is a
// secure context, gets its (fake) camera with getUserMedia, and its
// window.kaigi.stats() reports srtpCipher AEAD_AES_256_GCM.
//
// Usage: node tests/browser/https.test.js KAIGI
// Only 127.0.0.1 is ever used. Exits 1 on a failed check, 77 (meson's
// "skipped") when playwright-core or Chromium is missing, unless
// KAIGI_BROWSER_REQUIRED=1.
'use strict';

const childProcess = require('child_process');
const fs = require('fs');
const https = require('https');
const net = require('net');
const os = require('os');
const path = require('path');

const HOST = '127.0.0.1';
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

const results = { passed: 0, failed: 0 };
function check(ok, what) {
  if (ok) results.passed++;
  else results.failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  return ok;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

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

function openssl(dir, args, input) {
  const r = childProcess.spawnSync('openssl', args, { cwd: dir, input, timeout: 60000 });
  if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  return r.stdout;
}

// A CA, and a certificate for localhost and 127.0.0.1 signed by it.
// Returns the file names and the base64 SHA-256 of the leaf's SPKI.
function makeCerts(dir) {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem',
    '-days', '2', '-subj', '/CN=kaigi-browser-test-ca']);
  openssl(dir, ['req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr',
    '-subj', '/CN=localhost']);
  fs.writeFileSync(path.join(dir, 'ext.cnf'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' +
    'extendedKeyUsage=serverAuth\n');
  openssl(dir, ['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey',
    'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2',
    '-extfile', 'ext.cnf']);
  const leaf = fs.readFileSync(path.join(dir, 'srv.pem'));
  fs.writeFileSync(path.join(dir, 'full.pem'),
    Buffer.concat([leaf, fs.readFileSync(path.join(dir, 'ca.pem'))]));
  const pub = openssl(dir, ['x509', '-pubkey', '-noout'], leaf);
  const der = openssl(dir, ['pkey', '-pubin', '-outform', 'der'], pub);
  const spki = require('crypto').createHash('sha256').update(der).digest('base64');
  return {
    ca: fs.readFileSync(path.join(dir, 'ca.pem')),
    cert: path.join(dir, 'full.pem'), key: path.join(dir, 'srv.key'), spki,
  };
}

// One JSON request to kaigi over https, trusting only the test CA.
function call(origin, ca, method, url, body, auth) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : JSON.stringify(body);
    const req = https.request(origin + url, {
      method, ca, timeout: 5000,
      headers: Object.assign({ 'Content-Type': 'application/json' },
        data ? { 'Content-Length': Buffer.byteLength(data) } : {},
        auth ? { Authorization: auth } : {}),
    }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: text.trim() ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    if (data) req.write(data);
    req.end();
  });
}

async function run(pw, kaigiBin, tmp, children) {
  const pki = makeCerts(tmp);
  const port = await freePort();
  const origin = `https://localhost:${port}`;
  const data = path.join(tmp, 'data');
  const logPath = path.join(tmp, 'kaigi.log');
  const log = fs.openSync(logPath, 'a');
  const kaigi = childProcess.spawn(kaigiBin, [
    '--listen', `${HOST}:${port}`, '--udp', `${HOST}:0`, '--data', data,
    '--workers', '1', '--node', 'https-test', '--www', WWW,
    '--tls-cert', pki.cert, '--tls-key', pki.key,
  ], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  children.push(kaigi);
  const exited = new Promise((resolve) => kaigi.on('exit', (code, sig) => resolve({ code, sig })));
  const up = await poll(async () => {
    if (kaigi.exitCode !== null) throw new Error(`kaigi exited with ${kaigi.exitCode}`);
    const r = await call(origin, pki.ca, 'GET', '/api/stats');
    return { ok: r.status === 200, why: `GET /api/stats: ${r.status}` };
  }, 15000, 100);
  if (!check(up.ok, `kaigi is up on ${origin} (${up.why || 'ready'})`)) {
    console.log(fs.readFileSync(logPath, 'utf8'));
    return;
  }
  const token = `Bearer ${fs.readFileSync(path.join(data, 'admin.token'), 'utf8').trim()}`;
  const start = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const m = await call(origin, pki.ca, 'POST', '/api/meetings', {
    title: 'https', start, duration: 600,
    settings: { waiting_room: false, join_before_host: true },
  }, token);
  const info = m.body && await call(origin, pki.ca, 'GET',
    `/api/meetings/${m.body.id}/join-info`, undefined, `HostKey ${m.body.host_key}`);
  if (!check(m.status === 201 && info && info.status === 200,
    `meeting created over https (${m.status}, join-info ${info && info.status})`)) return;

  const browser = await pw.chromium.launch({
    executablePath: CHROMIUM, timeout: STEP_MS,
    args: [...LAUNCH_ARGS, `--ignore-certificate-errors-spki-list=${pki.spki}`],
  });
  try {
    const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    const resp = await page.goto(`${origin}/`);
    const headers = resp ? resp.headers() : {};
    check(resp && resp.status() === 200 && /^max-age=/.test(headers['strict-transport-security'] || ''),
      `https page loads with HSTS (${resp && resp.status()}, ${headers['strict-transport-security']})`);
    check(await page.evaluate(() => window.isSecureContext),
      'the page is a secure context');
    await page.fill('#meeting-id', m.body.id);
    await page.fill('#pin', info.body.pin);
    await page.fill('#name', 'Ada');
    await page.click('#join-btn');
    const inMeeting = await poll(async () => {
      const s = await page.evaluate(() => document.body.dataset.screen);
      return { ok: s === 'meeting', why: `screen ${s}` };
    }, STEP_MS, 200);
    if (!check(inMeeting.ok, `joined the meeting over wss (${inMeeting.why || 'meeting'})`)) return;
    const st = await poll(async () => {
      const s = await page.evaluate(() => window.kaigi.stats());
      const cam = (s.outbound || []).filter((o) => o.kind === 'video')
        .reduce((n, o) => n + (o.framesEncoded || 0), 0);
      return { ok: s.srtpCipher === 'AEAD_AES_256_GCM' && cam > 0, cipher: s.srtpCipher, cam,
        why: `srtpCipher ${s.srtpCipher}, camera frames encoded ${cam}` };
    }, STEP_MS, 300);
    check(st.cam > 0, `getUserMedia gave the camera: ${st.cam} frames encoded`);
    check(st.cipher === 'AEAD_AES_256_GCM', `srtpCipher is AEAD_AES_256_GCM (${st.why})`);
  } finally {
    await browser.close();
    kaigi.kill('SIGTERM');
    const ex = await Promise.race([exited, sleep(15000).then(() => ({ code: 'still running' }))]);
    check(ex.code === 0, `kaigi exits cleanly on SIGTERM (${JSON.stringify(ex)})`);
  }
}

async function main() {
  const kaigiBin = process.argv[2];
  if (!kaigiBin) {
    console.error('usage: node https.test.js KAIGI');
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
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kaigi-https-'));
  const children = [];
  try {
    await run(pw, path.resolve(kaigiBin), tmp, children);
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
