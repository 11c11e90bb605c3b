// A single-page app that signs users in with Microsoft's @azure/msal-browser exactly as it would against an Azure AD
// B2C user flow (authority https://HOST/{tenant}/{policy}, HOST in knownAuthorities, the redirect flow with PKCE and
// MSAL's defaults otherwise), in headless Chromium. The Rust interop test (crates/server/tests/broker_runs.rs,
// msal_browser_signs_in_through_the_broker) starts the broker on TLS and runs this script, which
//   - serves the app on http://localhost:MSAL_PAGE_PORT/ (a secure context): the page, its settings and
//     msal-browser's own bundle from node_modules (no CDN, nothing from another network);
//   - opens it, lets MSAL send the browser to the broker, fills the broker's attribute page with MSAL_EMAIL, and
//     waits until MSAL has handled the answer at its redirect URI;
//   - prints {"idTokenClaims", "account"} as MSAL returned them.
// Settings: MSAL_AUTHORITY, MSAL_KNOWN_AUTHORITY, MSAL_CLIENT_ID, MSAL_PAGE_PORT, MSAL_EMAIL. The broker's test
// certificate is accepted for this browser context only (ignoreHTTPSErrors).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { launchBrowser, shot } from './harness.mjs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const port = Number(env('MSAL_PAGE_PORT'));
const origin = `http://localhost:${port}`;
const settings = {
  auth: {
    clientId: env('MSAL_CLIENT_ID'),
    authority: env('MSAL_AUTHORITY'),
    knownAuthorities: [env('MSAL_KNOWN_AUTHORITY')],
    redirectUri: `${origin}/`,
  },
  cache: { cacheLocation: 'sessionStorage' },
};

const bundle = readFileSync(join(dirname(createRequire(import.meta.url).resolve('@azure/msal-browser/package.json')),
  'lib', 'msal-browser.min.js'));
const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MSAL browser app</title>
<script src="/msal-browser.min.js"></script><script src="/settings.js"></script><script src="/app.js"></script>
</head><body><h1>MSAL browser app</h1><pre id="out"></pre><pre id="error"></pre></body></html>`;
const app = `(async () => {
  try {
    const client = new msal.PublicClientApplication(window.SETTINGS);
    await client.initialize();
    const result = await client.handleRedirectPromise();
    if (result) {
      document.getElementById('out').textContent =
        JSON.stringify({ idTokenClaims: result.idTokenClaims, account: result.account });
    } else if (location.search === '?start') {
      await client.loginRedirect({ scopes: ['openid', 'offline_access'] });
    }
  } catch (e) {
    document.getElementById('error').textContent = String(e && (e.errorCode || e.message) || e);
  }
})();`;
const files = {
  '/': ['text/html', page],
  '/msal-browser.min.js': ['text/javascript', bundle],
  '/settings.js': ['text/javascript', `window.SETTINGS = ${JSON.stringify(settings)};`],
  '/app.js': ['text/javascript', app],
};
const server = http.createServer((req, res) => {
  const file = files[new URL(req.url, origin).pathname];
  if (!file) { res.statusCode = 404; res.end(); return; }
  res.setHeader('content-type', file[0]);
  res.end(file[1]);
});
await new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve); });

const browser = await launchBrowser();
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  context.setDefaultTimeout(20000);
  const tab = await context.newPage();
  const early = [];
  tab.on('console', (m) => early.push(m.text()));
  await tab.goto(`${origin}/?start`);
  await tab.getByRole('heading', { name: 'Complete your profile' }).waitFor();
  await shot(tab, 'msal_browser-01-attribute-page');
  await tab.getByLabel('Email address').fill(env('MSAL_EMAIL'));
  await tab.getByRole('button', { name: 'Continue' }).click();
  const logs = [];
  tab.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  tab.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await tab.waitForFunction(() => document.getElementById('out')?.textContent
    || document.getElementById('error')?.textContent).catch(async (e) => {
    await shot(tab, 'msal_browser-FAILED');
    throw new Error(`${e.message}\nat ${tab.url()}\n${logs.join('\n')}`);
  });
  await shot(tab, 'msal_browser-02-signed-in');
  const error = await tab.locator('#error').textContent();
  if (error) throw new Error(`msal-browser: ${error} at ${tab.url()}`);
  process.stdout.write(await tab.locator('#out').textContent());
} finally {
  await browser.close();
  server.close();
}
