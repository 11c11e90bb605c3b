// MSAL interop in the browser: a single-page app written for Azure AD B2C with Microsoft's @azure/msal-browser signs
// in through Tessera's broker with nothing changed but the authority. MSAL.js insists on an https authority, so the
// server is `tessera demo --tls` (https://localhost:P with a certificate of the demo's own CA, which Chromium is told
// to accept by its key's hash, nothing broader). The app is served by this test at http://localhost:Q/ (a secure
// context, as B2C allows for development) and registered as a public application with that reply URL through the
// admin REST API. It runs loginRedirect (authorization code with PKCE), the user signs up with a passkey at the
// authenticator service and gives the email on the broker's attribute page, handleRedirectPromise returns the ID
// token's claims, and acquireTokenSilent with forceRefresh redeems the refresh token through the broker's CORS
// token endpoint. On SQLite always; on PostgreSQL when TEST_PG_URL is set.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure, httpsRequest, repoRoot,
} from '../lib/harness.mjs';
import { uniqueUser, signUpFromLogin } from '../lib/flows.mjs';

const PG_SKIP = process.env.TEST_PG_URL
  ? false
  : 'PostgreSQL browser tests skipped: TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)';

const MSAL_JS = join(repoRoot, 'e2e', 'node_modules', '@azure', 'msal-browser', 'lib', 'msal-browser.min.js');

/** The SPA: what a B2C sample app does with MSAL.js, configured by /config.json. */
const APP_JS = `
const out = (value) => { document.getElementById("result").textContent = JSON.stringify(value, null, 2); };
(async () => {
  const config = await (await fetch('/config.json')).json();
  const pca = new msal.PublicClientApplication({
    auth: {
      clientId: config.clientId,
      authority: config.authority,
      knownAuthorities: [config.knownAuthority],
      redirectUri: config.redirectUri,
    },
    cache: { cacheLocation: 'sessionStorage' },
  });
  await pca.initialize();
  const scopes = ['openid', 'offline_access'];
  try {
    const result = await pca.handleRedirectPromise();
    if (result) {
      out({ step: 'redirect', idTokenClaims: result.idTokenClaims, account: result.account });
    } else {
      document.getElementById('state').textContent = 'ready';
    }
  } catch (e) {
    out({ step: 'error', errorCode: e.errorCode, message: String(e.message || e) });
  }
  document.getElementById('signin').addEventListener('click', () => pca.loginRedirect({ scopes }));
  document.getElementById('refresh').addEventListener('click', async () => {
    try {
      const account = pca.getAllAccounts()[0];
      const result = await pca.acquireTokenSilent({ scopes, account, forceRefresh: true });
      out({ step: 'silent', idTokenClaims: result.idTokenClaims, fromCache: result.fromCache });
    } catch (e) {
      out({ step: 'error', errorCode: e.errorCode, message: String(e.message || e) });
    }
  });
})();
`;

const INDEX_HTML = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>MSAL SPA</title></head>
<body><h1>MSAL.js app</h1><p id="state">loading</p>
<button id="signin">Sign in</button> <button id="refresh">Refresh tokens</button>
<pre id="result" style="white-space: pre-wrap; word-break: break-all"></pre>
<script src="/msal-browser.min.js"></script><script src="/app.js"></script></body></html>`;

/** Serves the SPA on a loopback port; resolves to { origin, close }. */
async function startSpa(config) {
  const files = {
    '/': ['text/html', INDEX_HTML],
    '/app.js': ['text/javascript', APP_JS],
    '/msal-browser.min.js': ['text/javascript', readFileSync(MSAL_JS)],
  };
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://localhost').pathname;
    if (path === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(config()));
      return;
    }
    const file = files[path];
    if (!file) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': file[0] });
    res.end(file[1]);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://localhost:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

/** base64 of the SHA-256 of the certificate's public key (what --ignore-certificate-errors-spki-list takes). */
function spkiHash(pemFile) {
  const spki = new X509Certificate(readFileSync(pemFile)).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** The result the SPA printed, once it printed one. */
async function spaResult(page) {
  await page.locator('#result').filter({ hasText: 'step' }).waitFor();
  return JSON.parse(await page.locator('#result').textContent());
}

for (const [store, skip] of [['sqlite', false], ['postgres', PG_SKIP]]) {
  describe(`msal-browser against the broker on ${store}`, { skip }, () => {
    let server;
    let browser;
    let spa;
    let app;

    before(async () => {
      server = await startDemo({ store, tls: true });
      const ca = readFileSync(server.caFile, 'utf8');
      const deadline = Date.now() + 20000;
      let demo = server.demo;
      while (!demo.admin_api_token || !demo.broker_tenant) {
        if (Date.now() > deadline) throw new Error(`the demo did not configure the broker:\n${server.output()}`);
        await new Promise((r) => setTimeout(r, 200));
        demo = JSON.parse(readFileSync(join(server.dataDir, 'demo.json'), 'utf8'));
      }
      spa = await startSpa(() => ({
        clientId: app.client_id,
        authority: `${server.base}/${demo.broker_tenant}/${demo.policy}`,
        knownAuthority: new URL(server.base).host,
        redirectUri: `${spa.origin}/`,
      }));
      const created = await httpsRequest(`${server.base}/admin/api/v1/broker/tenants/${demo.broker_tenant}/applications`, {
        ca,
        method: 'POST',
        headers: { authorization: `Bearer ${demo.admin_api_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ display_name: 'msal-spa', client_type: 'public', reply_urls: [`${spa.origin}/`] }),
      });
      assert.equal(created.status, 201, created.text);
      app = JSON.parse(created.text).application;
      server.demo = demo;
      browser = await launchBrowser({
        extraArgs: [`--ignore-certificate-errors-spki-list=${spkiHash(join(server.dataDir, 'tls', 'localhost.pem'))}`],
      });
    });

    after(async () => {
      await browser?.close();
      await spa?.close();
      await server?.stop();
    });

    test(`msal_browser_signs_up_signs_in_and_refreshes_through_the_broker_on_${store}`, async () => {
      const name = `msal-browser-${store}`;
      const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
      try {
        await page.goto(`${spa.origin}/`);
        await page.locator('#state').filter({ hasText: 'ready' }).waitFor();
        await shot(page, `${name}-1-app`);
        await page.getByRole('button', { name: 'Sign in' }).click();

        // The broker's one provider is the authenticator service: straight to its sign-in page, over https.
        await page.waitForURL((url) => url.origin === server.base && url.pathname.startsWith('/mytenant/'));
        const username = uniqueUser('msal');
        const email = `${username}@example.com`;
        await signUpFromLogin(page, { username, displayName: 'Msal Example' });
        await page.getByRole('heading', { name: 'Complete your profile' }).waitFor();
        await shot(page, `${name}-2-attributes`);
        await page.getByLabel('Email address').fill(email);
        await page.getByRole('button', { name: 'Continue' }).click();

        await page.waitForURL((url) => url.origin === spa.origin);
        const signedIn = await spaResult(page);
        await shot(page, `${name}-3-signed-in`);
        assert.equal(signedIn.step, 'redirect', JSON.stringify(signedIn));
        const claims = signedIn.idTokenClaims;
        assert.equal(claims.iss, `${server.base}/${server.demo.broker_tenant}/${server.demo.policy}/v2.0`);
        assert.equal(claims.aud, app.client_id);
        assert.equal(claims.tfp, server.demo.policy);
        assert.equal(claims.newUser, true);
        assert.ok(claims.oid && claims.sub, 'object id and subject');
        assert.deepEqual(claims.emails, [email], JSON.stringify(claims));
        assert.equal(signedIn.account.homeAccountId.startsWith(claims.oid), true, 'MSAL keys the account by oid');

        // The refresh token, redeemed by MSAL.js across origins (CORS on the broker's token endpoint).
        await page.getByRole('button', { name: 'Refresh tokens' }).click();
        await page.locator('#result').filter({ hasText: '"silent"' }).or(page.locator('#result').filter({ hasText: '"error"' })).waitFor();
        const refreshed = JSON.parse(await page.locator('#result').textContent());
        assert.equal(refreshed.step, 'silent', JSON.stringify(refreshed));
        assert.equal(refreshed.fromCache, false);
        assert.equal(refreshed.idTokenClaims.oid, claims.oid);
        assert.equal(refreshed.idTokenClaims.tfp, server.demo.policy);
      } catch (error) {
        throw await onFailure(error, context, name, server);
      } finally {
        await context.close();
      }
    });
  });
}
