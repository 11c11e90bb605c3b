// Local accounts of the identity broker in the browser: `tessera demo`'s flow B2C_1_local (local accounts only) with
// Chromium's virtual authenticator. Sign-up: the local page, "Sign up with email", the one-time code read from the
// demo's mail folder (`mail_dir` of demo.json, one .eml per code), a passkey created at the broker, the attribute page
// with the verified address read-only, the app's code redeemed and the ID token verified with the broker's JWKS. Then
// a sign-in without any session: "Sign in with a passkey" (discoverable), the same object id, and email-first. Then
// recovery on another device (a second virtual authenticator, without the passkey): "Lost your passkey?", the address,
// the mailed code, a new passkey for the same account, signed in with the same object id; the new device then signs
// in with its passkey. On SQLite always; on PostgreSQL (`tessera demo --store-url`, a fresh schema) when TEST_PG_URL is
// set.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { PHONE, collectErrors, problems } from '../lib/a11y.mjs';

const POLICY = 'B2C_1_local';
const PG_SKIP = process.env.TEST_PG_URL
  ? false
  : 'PostgreSQL browser tests skipped: TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)';
let server;
let browser;

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

async function brokerInfo() {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const demo = JSON.parse(readFileSync(join(server.dataDir, 'demo.json'), 'utf8'));
    if (demo.application_client_id && demo.broker_tenant) return demo;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the demo did not configure the broker:\n${server.output()}`);
}

function appRequest(demo) {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const state = b64url(randomBytes(12));
  const url = new URL(`${server.base}/${demo.broker_tenant}/${POLICY}/oauth2/v2.0/authorize`);
  for (const [k, v] of Object.entries({
    client_id: demo.application_client_id,
    redirect_uri: demo.application_redirect_uri,
    response_type: 'code',
    scope: 'openid',
    state,
    nonce: 'local-e2e-nonce',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  })) url.searchParams.set(k, v);
  return { url: url.toString(), verifier, state };
}

async function redeemAtApp(page, demo, request) {
  const reply = new URL(demo.application_redirect_uri);
  await page.waitForURL((url) => url.origin === reply.origin && url.pathname === reply.pathname);
  const at = new URL(page.url());
  assert.equal(at.searchParams.get('state'), request.state);
  const code = at.searchParams.get('code');
  assert.ok(code, `a code at the reply URL: ${page.url()}`);
  const root = `${server.base}/${demo.broker_tenant}/${POLICY}`;
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
  const { kid } = JSON.parse(Buffer.from(header, 'base64url'));
  const jwks = await (await fetch(`${root}/discovery/v2.0/keys`)).json();
  const jwk = jwks.keys.find((k) => k.kid === kid);
  const key = await webcrypto.subtle.importKey('jwk', jwk, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false,
    ['verify']);
  assert.ok(await webcrypto.subtle.verify('RSASSA-PKCS1-v1_5', key, Buffer.from(signature, 'base64url'),
    Buffer.from(`${header}.${payload}`)), 'the ID token verifies with the broker JWKS');
  return JSON.parse(Buffer.from(payload, 'base64url'));
}

/** The code of the newest message in the demo's mail folder (demo.json's `mail_dir`). */
function lastCode(demo) {
  const dir = demo.mail_dir;
  assert.equal(dir, join(server.dataDir, 'mail'), 'demo.json names the mail folder');
  assert.ok(existsSync(dir), `the demo's mail directory ${dir}`);
  const files = readdirSync(dir).filter((f) => f.endsWith('.eml'))
    .map((f) => join(dir, f)).sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  assert.ok(files.length > 0, 'a message was written');
  const text = readFileSync(files[files.length - 1], 'utf8');
  const match = /code for [^\r\n]* is (\d{6})/.exec(text);
  assert.ok(match, text);
  return match[1];
}

/** The number of .eml files in the demo's mail folder. */
const mailCount = (demo) => readdirSync(demo.mail_dir).filter((f) => f.endsWith('.eml')).length;

for (const [store, skip] of [['sqlite', false], ['postgres', PG_SKIP]]) {
describe(`broker local accounts on ${store}`, { skip }, () => {
  before(async () => {
    server = await startDemo({ store });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('broker_local_sign_up_with_email_and_passkey_then_sign_in', async () => {
    const demo = await brokerInfo();
    const email = `local-${b64url(randomBytes(4)).toLowerCase()}@example.com`;
    const { context, page, credentials } = await pageWithAuthenticator(browser, {}, { autofill: false });
    try {
      await page.setViewportSize(PHONE);
      const errors = collectErrors(page);
      const report = {};
      const first = appRequest(demo);
      await page.goto(first.url);
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      assert.equal(await page.locator('[id^="provider-"]').count(), 0, 'a local-only flow offers no provider');
      report.choice = await problems(page);
      await shot(page, 'broker_local-01-local-page');
      await page.getByLabel('New here? Your email address').fill(email);
      await page.getByRole('button', { name: 'Sign up with email' }).click();
      await page.getByRole('heading', { name: 'Check your email' }).waitFor();
      report.code = await problems(page);
      await shot(page, 'broker_local-02-code');
      await page.getByLabel('Verification code').fill(lastCode(demo));
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByRole('heading', { name: 'Create your passkey' }).waitFor();
      report.register = await problems(page);
      await page.getByRole('button', { name: 'Create a passkey' }).click();
      await page.getByRole('heading', { name: 'Complete your profile' }).waitFor();
      await shot(page, 'broker_local-03-attributes');
      const field = page.getByLabel('Email address');
      assert.equal(await field.inputValue(), email);
      assert.equal(await field.getAttribute('readonly'), '', 'the verified address is read-only');
      report.attributes = await problems(page);
      assert.equal((await credentials()).length, 1, 'one passkey at the broker');
      await page.getByRole('button', { name: 'Continue' }).click();
      const claims = await redeemAtApp(page, demo, first);
      assert.deepEqual(claims.emails, [email]);
      assert.equal(claims.email_verified, true);
      assert.equal(claims.idp, 'local');
      assert.equal(claims.newUser, true);
      assert.equal(claims.acr, 'phr');
      assert.ok(claims.amr.includes('pop'), JSON.stringify(claims.amr));

      // Later, without any session: "Sign in with a passkey", no username.
      await context.clearCookies({ name: `__Host-tessera_broker_${demo.broker_tenant}` });
      const second = appRequest(demo);
      await page.goto(second.url);
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      const again = await redeemAtApp(page, demo, second);
      await shot(page, 'broker_local-04-signed-in');
      assert.equal(again.oid, claims.oid, 'the same directory user');
      assert.equal(again.newUser, undefined);
      assert.equal(again.idp, 'local');

      // Email-first: the address typed, the account's passkey offered (allowCredentials), the same user.
      await context.clearCookies({ name: `__Host-tessera_broker_${demo.broker_tenant}` });
      const third = appRequest(demo);
      await page.goto(third.url);
      await page.getByLabel('Email (optional: to use a security key)').fill(email.toUpperCase());
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      const emailFirst = await redeemAtApp(page, demo, third);
      assert.equal(emailFirst.oid, claims.oid, 'email-first finds the same user');

      // Recovery on another device, without the passkey: "Lost your passkey?", the address, the mailed code, a new
      // passkey for the same account.
      const other = await pageWithAuthenticator(browser, {}, { autofill: false });
      try {
        const device = other.page;
        await device.setViewportSize(PHONE);
        const deviceErrors = collectErrors(device);
        const fourth = appRequest(demo);
        await device.goto(fourth.url);
        await device.getByRole('button', { name: 'Lost your passkey?' }).click();
        await device.getByRole('heading', { name: 'Recover your account' }).waitFor();
        report.recover = await problems(device);
        await shot(device, 'broker_local-05-recover');
        // An address without an account: the same code page, and no message.
        const before = mailCount(demo);
        await device.getByLabel('Email address').fill('nobody-here@example.com');
        await device.getByRole('button', { name: 'Send a code' }).click();
        await device.getByRole('heading', { name: 'Check your email' }).waitFor();
        assert.equal(mailCount(demo), before, 'nothing sent to an unknown address');
        await device.goto(fourth.url);
        await device.getByRole('button', { name: 'Lost your passkey?' }).click();
        await device.getByLabel('Email address').fill(email);
        await device.getByRole('button', { name: 'Send a code' }).click();
        await device.getByRole('heading', { name: 'Check your email' }).waitFor();
        assert.equal(mailCount(demo), before + 1, 'one recovery message');
        await device.getByLabel('Verification code').fill(lastCode(demo));
        await device.getByRole('button', { name: 'Verify' }).click();
        await device.getByRole('heading', { name: 'Create a new passkey' }).waitFor();
        report.recoverRegister = await problems(device);
        await shot(device, 'broker_local-06-new-passkey');
        assert.equal(await device.getByLabel(/Remove my other passkeys/).isChecked(), false,
          'the old passkey is kept unless the user asks');
        await device.getByRole('button', { name: 'Create a passkey' }).click();
        const recovered = await redeemAtApp(device, demo, fourth);
        assert.equal(recovered.oid, claims.oid, 'the same account');
        assert.deepEqual(recovered.emails, [email]);
        assert.equal(recovered.newUser, undefined);
        assert.ok(recovered.amr.includes('otp'), JSON.stringify(recovered.amr));
        assert.equal((await other.credentials()).length, 1, 'a passkey on the new device');
        // The new device signs in with its passkey, and the first one still does.
        await other.context.clearCookies({ name: `__Host-tessera_broker_${demo.broker_tenant}` });
        const fifth = appRequest(demo);
        await device.goto(fifth.url);
        await device.getByRole('button', { name: 'Sign in with a passkey' }).click();
        assert.equal((await redeemAtApp(device, demo, fifth)).oid, claims.oid);
        assert.deepEqual(deviceErrors, [], 'no script or console errors on the new device');
      } finally {
        await other.context.close();
      }
      await context.clearCookies({ name: `__Host-tessera_broker_${demo.broker_tenant}` });
      const sixth = appRequest(demo);
      await page.goto(sixth.url);
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      assert.equal((await redeemAtApp(page, demo, sixth)).oid, claims.oid, 'the old passkey kept');
      assert.deepEqual(report, {
        choice: [], code: [], register: [], attributes: [], recover: [], recoverRegister: [],
      });
      assert.deepEqual(errors, [], 'no script or console errors');
    } catch (e) {
      throw await onFailure(e, context, 'broker_local_sign_up_with_email_and_passkey_then_sign_in', server);
    } finally {
      await context.close();
    }
  });
});
}
