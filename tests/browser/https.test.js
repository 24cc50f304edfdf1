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
const path = require('path');
const {
  HOST, CHROMIUM, LAUNCH_ARGS, check, sleep, poll, freePort, startWithMeeting,
  joinByIdAndPin, standalone,
} = require('./meetings.test.js');

const TOTAL_MS = 150000; // hard stop, under meson's timeout
const STEP_MS = 30000;

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

async function run(pw, [kaigiBin], tmp) {
  const pki = makeCerts(tmp);
  const port = await freePort('tcp');
  const origin = `https://localhost:${port}`;
  const k = await startWithMeeting({
    binary: kaigiBin, tmp, origin, title: 'https',
    args: ['--listen', `${HOST}:${port}`, '--udp', `${HOST}:0`, '--node', 'https-test',
      '--tls-cert', pki.cert, '--tls-key', pki.key],
    call: (method, url, body, auth) => call(origin, pki.ca, method, url, body, auth),
  });
  if (!k) return;
  const { m, info } = k;

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
    const inMeeting = await joinByIdAndPin(page, m.body.id, info.body.pin, 'Ada', STEP_MS);
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
    k.proc.kill('SIGTERM');
    const ex = await Promise.race([k.exited, sleep(15000).then(() => ({ code: 'still running' }))]);
    check(ex.code === 0, `kaigi exits cleanly on SIGTERM (${JSON.stringify(ex)})`);
  }
}

standalone({ file: 'https.test.js', names: ['KAIGI'], tmpName: 'https', totalMs: TOTAL_MS, run });
