// Shared harness for the browser tests: starts a Tessera server, launches Debian's Chromium headless through
// playwright-core, and gives each test a page with a CDP virtual authenticator (the "platform authenticator").
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '..', '..');
export const shotsDir = join(repoRoot, 'target', 'e2e');

/** The tessera binary built by `cargo build` (or TESSERA_BIN). */
export function tesseraBin() {
  const bin = process.env.TESSERA_BIN || join(repoRoot, 'target', 'debug', 'tessera');
  if (!existsSync(bin)) throw new Error(`tessera binary not found at ${bin}: run cargo build first`);
  return bin;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function waitForHttp(url, ms = 20000, exited = () => false) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (exited()) throw new Error(`the server exited before answering ${url}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server at ${url} did not answer within ${ms} ms`);
}

/** Starts `tessera demo` on a fresh data directory; resolves to { demo, stop }. */
export async function startDemo() {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
  const port = await freePort();
  const child = spawn(tesseraBin(), ['demo', '--data-dir', dataDir, '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let gone = false;
  const exited = new Promise((resolve) => child.on('exit', (code) => { gone = true; resolve(code); }));
  try {
    await waitForHttp(`http://localhost:${port}/mytenant/oidc/.well-known/openid-configuration`, 20000, () => gone);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n--- server output ---\n${output}`);
  }
  const demo = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8'));
  return {
    demo,
    dataDir,
    port,
    base: `http://localhost:${port}`,
    output: () => output,
    stop: async () => { if (!gone) child.kill('SIGTERM'); await exited; },
  };
}

/** Launches headless Chromium with the flags this machine needs. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A fresh context and page with a CTAP2 platform authenticator (resident keys, UV) attached over CDP.
 *
 * Chromium's virtual authenticator answers a conditional-mediation `get()` (the autofill path) by itself as soon as it
 * holds a matching passkey, so the sign-in page would sign in before anything is typed. Tests of the username and the
 * button paths pass `{ autofill: false }`: the page then sees a browser without conditional mediation.
 */
export async function pageWithAuthenticator(browser, options = {}, { autofill = true } = {}) {
  const context = await browser.newContext();
  context.setDefaultTimeout(15000);
  if (!autofill) {
    await context.addInitScript(() => {
      if (window.PublicKeyCredential) {
        PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);
      }
    });
  }
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true, ...options,
    },
  });
  const credentials = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  const setUserVerified = (isUserVerified) =>
    cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified });
  return { context, page, cdp, authenticatorId, credentials, setUserVerified };
}

/** Saves a screenshot under target/e2e/ so a person can look at each step. */
export async function shot(page, name) {
  mkdirSync(shotsDir, { recursive: true });
  await page.screenshot({ path: join(shotsDir, `${name}.png`), fullPage: true });
}
