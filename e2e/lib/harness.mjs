// Shared harness for the browser tests: starts a Tessera server, launches Debian's Chromium headless through
// playwright-core, and gives each test a page with a CDP virtual authenticator (the "platform authenticator").
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, existsSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import https from 'node:https';
import { chromium } from 'playwright-core';
import { startRelyingParty } from './rp.mjs';

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

/**
 * One HTTPS request trusting `ca` (a PEM file's text) besides Node's roots: resolves to { status, headers, text }.
 * Node's fetch cannot be given a CA after start; node:https can.
 */
export function httpsRequest(url, { ca, method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function waitForHttp(url, ms = 20000, exited = () => false, caFile = null) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (exited()) throw new Error(`the server exited before answering ${url}`);
    try {
      if (caFile) {
        const res = await httpsRequest(url, { ca: readFileSync(caFile, 'utf8') });
        if (res.status === 200) return;
      } else {
        const res = await fetch(url);
        if (res.ok) return;
      }
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server at ${url} did not answer within ${ms} ms`);
}

/** The PostgreSQL the tests may use (TEST_PG_URL), or null: the PostgreSQL variants are then skipped. */
export const pgUrl = () => process.env.TEST_PG_URL || null;

/**
 * Starts `tessera demo` on a fresh data directory (removed by `stop()`); resolves to { demo, base, port, stop, ... }.
 * `tls: true` serves https with the demo's own CA (`caFile`, its PEM certificate). `store: 'postgres'` keeps the demo's data in a fresh schema of TEST_PG_URL (`--store-url`), dropped by `stop()`.
 */
export async function startDemo({ store = 'sqlite', tls = false } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), `tessera-e2e-${store}-`));
  const port = await freePort();
  const args = ['demo', '--data-dir', dataDir, '--port', String(port)];
  if (tls) args.push('--tls');
  const base = `${tls ? 'https' : 'http'}://localhost:${port}`;
  const caFile = tls ? join(dataDir, 'tls', 'ca.pem') : null;
  let schema = null;
  if (store === 'postgres') {
    if (!pgUrl()) throw new Error('TEST_PG_URL is not set');
    schema = `e2e_${randomBytes(6).toString('hex')}`;
    await psql(pgUrl(), `CREATE SCHEMA ${schema}`);
    args.push('--store-url', withSearchPath(pgUrl(), schema));
  } else if (store !== 'sqlite') {
    throw new Error(`unknown store ${store}`);
  }
  const cleanup = async () => {
    if (schema) await psql(pgUrl(), `DROP SCHEMA ${schema} CASCADE`).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  };
  const child = spawn(tesseraBin(), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let gone = false;
  const exited = new Promise((resolve) => child.on('exit', (code) => { gone = true; resolve(code); }));
  try {
    await waitForHttp(`${base}/mytenant/oidc/.well-known/openid-configuration`, 20000, () => gone, caFile);
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    await cleanup();
    throw new Error(`${e.message}\n--- server output ---\n${output}`);
  }
  const demo = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8'));
  return {
    demo,
    store,
    dataDir,
    port,
    base,
    caFile,
    output: () => output,
    stop: async () => {
      if (!gone) child.kill('SIGTERM');
      await exited;
      await cleanup();
    },
  };
}

/** Runs the tessera binary with `args` to completion; resolves to its stdout, rejects with its stderr. */
function tessera(args) {
  return new Promise((resolve, reject) => {
    execFile(tesseraBin(), args, { env: { ...process.env, RUST_LOG: 'warn' } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`tessera ${args.slice(0, 3).join(' ')} failed: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

/** Runs one SQL statement with psql against `url`. */
function psql(url, sql) {
  return new Promise((resolve, reject) => {
    execFile('psql', [url, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], (error, stdout, stderr) => {
      if (error) reject(new Error(`psql failed: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

/** `url` with the PostgreSQL startup option `-c search_path=schema`, so Tessera's tables live in `schema`. */
export function withSearchPath(url, schema) {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/**
 * Starts `tessera serve --config FILE` the way an operator would: writes a TOML configuration (SQLite in a fresh
 * data directory, or PostgreSQL from TEST_PG_URL in a fresh schema), creates tenant `mytenant` and a confidential
 * client with the CLI, and starts a Node relying party (`./rp.mjs`) registered as that client. Resolves to the same
 * shape as `startDemo()`: `server.demo` describes the relying party, whose pages mirror the demo's.
 * `freshVerificationSeconds` sets `security.fresh_verification_seconds` (how recent a user verification must be to
 * add or delete a passkey), so a test can wait past it; `tenantFlags` are added to `tessera idp tenant create` (the
 * tenant's authenticator policy, e.g. `['--attestation', 'trusted']`).
 */
export async function startServe({
  store = 'sqlite', freshVerificationSeconds = null, tenantFlags = [], hostTenants = [],
} = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), `tessera-e2e-${store}-`));
  const port = await freePort();
  const base = `http://localhost:${port}`;
  let storeToml;
  let schema = null;
  if (store === 'postgres') {
    const pgUrl = process.env.TEST_PG_URL;
    if (!pgUrl) throw new Error('TEST_PG_URL is not set');
    schema = `e2e_${randomBytes(6).toString('hex')}`;
    await psql(pgUrl, `CREATE SCHEMA ${schema}`);
    storeToml = `kind = "postgres"\nurl = ${JSON.stringify(withSearchPath(pgUrl, schema))}\nmax_connections = 4`;
  } else if (store === 'sqlite') {
    storeToml = `kind = "sqlite"\npath = ${JSON.stringify(join(dataDir, 'tessera.db'))}`;
  } else {
    throw new Error(`unknown store ${store}`);
  }
  const config = join(dataDir, 'tessera.toml');
  writeFileSync(config, [
    '[server]', `listen = "127.0.0.1:${port}"`, `public_url = "${base}"`, '',
    '[store]', storeToml, '',
    '[keys]', `master_key = "${randomBytes(32).toString('base64')}"`, '',
    '[log]', 'level = "warn"', '',
    ...(freshVerificationSeconds === null ? [] : ['[security]', `fresh_verification_seconds = ${freshVerificationSeconds}`, '']),
  ].join('\n'), { mode: 0o600 });

  const rp = await startRelyingParty();
  const cleanup = async () => {
    await rp.close();
    if (schema) await psql(process.env.TEST_PG_URL, `DROP SCHEMA ${schema} CASCADE`).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  };
  let client;
  try {
    await tessera(['idp', 'tenant', 'create', '--id', 'mytenant', '--rp-id', 'localhost', '--origin', base,
      '--display-name', 'My Tenant', ...tenantFlags, '--config', config]);
    const out = await tessera(['idp', 'client', 'create', '--tenant', 'mytenant', '--redirect-uri', rp.redirectUri,
      '--post-logout-redirect-uri', rp.homeUri, '--name', 'E2E relying party', '--config', config]);
    const field = (name) => out.match(new RegExp(`^${name}: (\\S+)$`, 'm'))?.[1];
    client = { id: field('client_id'), secret: field('client_secret') };
    if (!client.id || !client.secret) throw new Error(`client create printed no id or secret:\n${out}`);
    // Tenants on an address of their own (`http://{name}.localhost:PORT`, its RP ID `{name}.localhost`).
    for (const name of hostTenants) {
      const own = `http://${name}.localhost:${port}`;
      await tessera(['idp', 'tenant', 'create', '--id', name, '--rp-id', `${name}.localhost`, '--origin', own,
        '--display-name', `${name} Inc`, '--config', config]);
      await tessera(['idp', 'tenant', 'update', '--id', name, '--public-url', own, '--config', config]);
    }
  } catch (e) {
    await cleanup();
    throw e;
  }

  const child = spawn(tesseraBin(), ['serve', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let gone = false;
  const exited = new Promise((resolve) => child.on('exit', (code) => { gone = true; resolve(code); }));
  const issuer = `${base}/mytenant/oidc`;
  try {
    await waitForHttp(`${issuer}/.well-known/openid-configuration`, 20000, () => gone);
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    await cleanup();
    throw new Error(`${e.message}\n--- server output ---\n${output}`);
  }
  rp.configure({ issuer, clientId: client.id, clientSecret: client.secret });
  return {
    demo: {
      authenticator_url: issuer,
      authenticator_tenant: 'mytenant',
      discovery_url: `${issuer}/.well-known/openid-configuration`,
      demo_client_id: client.id,
      demo_client_secret: client.secret,
      demo_redirect_uri: rp.redirectUri,
      demo_url: rp.homeUri,
    },
    store,
    dataDir,
    port,
    base,
    output: () => output,
    stop: async () => {
      if (!gone) child.kill('SIGTERM');
      await exited;
      await cleanup();
    },
  };
}

/** Launches headless Chromium with the flags this machine needs. */
export async function launchBrowser({ extraArgs = [] } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', ...extraArgs],
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

/**
 * On a failed test: a screenshot of every page still open in `context` (`<name>-FAILED-<n>.png`) and, when `server`
 * is given, the tail of its output appended to the error.
 */
export async function onFailure(error, context, name, server) {
  for (const [i, page] of context.pages().entries()) {
    await shot(page, `${name}-FAILED-${i + 1}`).catch(() => {});
  }
  if (server && error instanceof Error) {
    const tail = server.output().trim().split('\n').slice(-30).join('\n');
    if (tail) error.message += `\n--- server output (last lines) ---\n${tail}`;
  }
  return error;
}
