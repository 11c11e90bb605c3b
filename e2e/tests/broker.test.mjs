// Runs 1 and 2 of the scenario through the identity broker, in the browser: the "JWT" app of `tessera demo` sends
// the user to the broker's user flow B2C_1_signupsignin; the broker sends them to the authenticator service (one
// provider), where they create a passkey with Chromium's virtual authenticator; the provider posts the code back with
// form_post; the broker asks for the missing email on its attribute page; the app gets a code and redeems it, and the
// ID token verifies against the broker's JWKS. Then the same user signs in again: no attribute page, same object id.
// On SQLite always; on PostgreSQL (`tessera demo --store-url`, a fresh schema, dropped afterwards) when TEST_PG_URL
// is set, skipped with the reason otherwise.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { TENANT, SESSION_COOKIE, uniqueUser, signUpFromLogin } from '../lib/flows.mjs';
import { PHONE, collectErrors, problems } from '../lib/a11y.mjs';

let server;
let browser;

const PG_SKIP = process.env.TEST_PG_URL
  ? false
  : 'PostgreSQL browser tests skipped: TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)';

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

/** The broker's keys of demo.json, written once the demo has configured the broker (after the server answers). */
async function brokerInfo() {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const demo = JSON.parse(readFileSync(join(server.dataDir, 'demo.json'), 'utf8'));
    if (demo.application_client_id && demo.broker_tenant && demo.policy) return demo;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the demo did not configure the broker:\n${server.output()}`);
}

/** The app's authorization request (PKCE S256), as the JWT app would send it. */
function appRequest(demo) {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const state = b64url(randomBytes(12));
  const url = new URL(`${server.base}/${demo.broker_tenant}/${demo.policy}/oauth2/v2.0/authorize`);
  for (const [k, v] of Object.entries({
    client_id: demo.application_client_id,
    redirect_uri: demo.application_redirect_uri,
    response_type: 'code',
    scope: 'openid offline_access',
    state,
    nonce: 'broker-e2e-nonce',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  })) url.searchParams.set(k, v);
  return { url: url.toString(), verifier, state };
}

/** Waits for the app's reply URL, checks its state, redeems the code and verifies the ID token; returns its claims. */
async function redeemAtApp(page, demo, request) {
  const reply = new URL(demo.application_redirect_uri);
  await page.waitForURL((url) => url.origin === reply.origin && url.pathname === reply.pathname);
  const at = new URL(page.url());
  assert.equal(at.searchParams.get('state'), request.state, 'the app gets its state back');
  const code = at.searchParams.get('code');
  assert.ok(code, `a code at the reply URL: ${page.url()}`);
  const root = `${server.base}/${demo.broker_tenant}/${demo.policy}`;
  const tokens = await (await fetch(`${root}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: demo.application_redirect_uri,
      code_verifier: request.verifier,
      client_id: demo.application_client_id,
    }),
  })).json();
  assert.ok(tokens.id_token, `an ID token: ${JSON.stringify(tokens)}`);
  const [header, payload, signature] = tokens.id_token.split('.');
  const { kid, alg } = JSON.parse(Buffer.from(header, 'base64url'));
  assert.equal(alg, 'RS256');
  const jwks = await (await fetch(`${root}/discovery/v2.0/keys`)).json();
  const jwk = jwks.keys.find((k) => k.kid === kid);
  assert.ok(jwk, 'the signing key is in the broker JWKS');
  const key = await webcrypto.subtle.importKey('jwk', jwk, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false,
    ['verify']);
  const valid = await webcrypto.subtle.verify('RSASSA-PKCS1-v1_5', key, Buffer.from(signature, 'base64url'),
    Buffer.from(`${header}.${payload}`));
  assert.ok(valid, 'the ID token verifies with the broker JWKS');
  return JSON.parse(Buffer.from(payload, 'base64url'));
}

for (const [store, skip] of [['sqlite', false], ['postgres', PG_SKIP]]) {
  describe(`broker on ${store}`, { skip }, () => {
    // Screenshots of the PostgreSQL run get their own names.
    const name = (base) => (store === 'sqlite' ? base : `${base}-${store}`);

    before(async () => {
      server = await startDemo({ store });
      browser = await launchBrowser();
    });

    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    test('broker_run1_sign_up_and_run2_sign_in', async () => {
      const demo = await brokerInfo();
      const username = uniqueUser('broker');
      const email = `${username}@example.com`;
      const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
      try {
        await page.setViewportSize(PHONE);
        const errors = collectErrors(page);
        const report = {};
        // Run 1: sign-up.
        const first = appRequest(demo);
        await page.goto(first.url);
        await page.waitForURL((url) => url.pathname === `/${TENANT}/login`);
        await shot(page, name('broker_run1-01-provider-sign-in'));
        await signUpFromLogin(page, { username, displayName: 'Ann Example' });
        await page.getByRole('heading', { name: 'Complete your profile' }).waitFor();
        await shot(page, name('broker_run1-02-attribute-page'));
        // A wrong address is refused with a message next to the field; the page stays usable on a phone.
        await page.getByLabel('Email address').fill('not-an-email');
        await page.getByRole('button', { name: 'Continue' }).click();
        await page.getByRole('alert').waitFor();
        await shot(page, name('broker_run1-03-attribute-page-refused'));
        report.attributes = await problems(page);
        assert.match(await page.getByRole('alert').innerText(), /Enter an email address like name@example.com/);
        await page.getByLabel('Email address').fill(email);
        await page.getByRole('button', { name: 'Continue' }).click();
        const claims = await redeemAtApp(page, demo, first);
        assert.equal(claims.iss, `${server.base}/${demo.broker_tenant}/${demo.policy}/v2.0`);
        assert.equal(claims.aud, demo.application_client_id);
        assert.deepEqual(claims.emails, [email]);
        assert.equal(claims.newUser, true);
        assert.equal(claims.tfp, demo.policy);
        assert.equal(claims.nonce, 'broker-e2e-nonce');
        assert.ok(['phr', 'phrh'].includes(claims.acr), `a passkey sign-in stays phishing-resistant: ${claims.acr}`);
        assert.ok(claims.amr.includes('pop'), JSON.stringify(claims.amr));

        // Run 2: the same user later, without any session: sign in with the passkey, no attribute page.
        await context.clearCookies({ name: SESSION_COOKIE });
        await context.clearCookies({ name: `__Host-tessera_broker_${demo.broker_tenant}` });
        const second = appRequest(demo);
        await page.goto(second.url);
        await page.waitForURL((url) => url.pathname === `/${TENANT}/login`);
        await page.getByLabel('Username').fill(username);
        await page.getByRole('button', { name: 'Continue' }).click();
        const again = await redeemAtApp(page, demo, second);
        await shot(page, name('broker_run2-01-back-at-the-app'));
        assert.equal(again.oid, claims.oid, 'the same directory user');
        assert.equal(again.newUser, undefined);
        assert.deepEqual(again.emails, [email]);
        assert.ok(again.auth_time >= claims.auth_time);

        // A sign-in answer that comes back twice (a replayed state) is a human page, not the app.
        await page.goto(`${server.base}/${demo.broker_tenant}/oauth2/authresp?state=replayed&code=x`);
        await page.getByRole('heading', { name: 'This sign-in has expired' }).waitFor();
        report.expired = await problems(page);
        await shot(page, name('broker_run2-02-expired'));
        assert.deepEqual(report, { attributes: [], expired: [] });
        assert.deepEqual(errors, [], 'no script or console errors');
      } catch (e) {
        throw await onFailure(e, context, name('broker_run1_sign_up_and_run2_sign_in'), server);
      } finally {
        await context.close();
      }
    });

    test('broker_run1_ends_at_the_token_viewer', async () => {
      const demo = await brokerInfo();
      assert.ok(demo.token_viewer_url, 'demo.json has token_viewer_url');
      const username = uniqueUser('viewer');
      const email = `${username}@example.com`;
      const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
      try {
        await page.setViewportSize(PHONE);
        const errors = collectErrors(page);
        const report = {};
        await page.goto(`${server.base}/`);
        await page.getByRole('link', { name: `Run user flow ${demo.policy}` }).click();
        await page.waitForURL((url) => url.pathname === `/${TENANT}/login`);
        await signUpFromLogin(page, { username, displayName: 'Ann Example' });
        await page.getByRole('heading', { name: 'Complete your profile' }).waitFor();
        await page.getByLabel('Email address').fill(email);
        await page.getByRole('button', { name: 'Continue' }).click();
        await page.waitForURL((url) => url.pathname === '/jwt');
        await page.getByRole('heading', { name: 'Token viewer' }).waitFor();
        await shot(page, name('broker_viewer-01-token-viewer'));
        const status = await page.locator('#signature').innerText();
        assert.match(status, /Signature verified with key \S+ of/, status);
        assert.ok(status.includes(`${server.base}/${demo.broker_tenant}/${demo.policy}/v2.0`), status);
        assert.match(await page.locator('#claim-emails').innerText(), new RegExp(email.replace('.', '\\.')));
        assert.match(await page.locator('#claim-exp').innerText(), /UTC/);
        const raw = await page.getByLabel('Raw token').inputValue();
        assert.equal(raw.split('.').length, 3, 'the raw token is there to copy');
        report.viewer = await problems(page);
        // Run again: a new run straight back to the viewer (the broker session answers without a new sign-in).
        await page.getByRole('link', { name: 'Run again' }).click();
        await page.waitForURL((url) => url.pathname === '/jwt');
        await page.locator('#signature').waitFor();
        assert.match(await page.locator('#signature').innerText(), /Signature verified/);
        assert.deepEqual(report, { viewer: [] });
        assert.deepEqual(errors, [], 'no script or console errors');
      } catch (e) {
        throw await onFailure(e, context, name('broker_run1_ends_at_the_token_viewer'), server);
      } finally {
        await context.close();
      }
    });
  });
}
