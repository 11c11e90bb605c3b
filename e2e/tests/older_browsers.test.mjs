// Browsers without the WebAuthn Level 3 JSON helpers (`PublicKeyCredential.parseCreationOptionsFromJSON`,
// `parseRequestOptionsFromJSON`, `PublicKeyCredential.prototype.toJSON`) and without conditional mediation: older
// Firefox and Safari releases. Only Chromium runs here, so the helpers are removed before any page script runs and the
// whole journey goes through the page script's own base64url conversion: sign-up, sign-in by username and sign-in
// without a username.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { uniqueUser, startAtDemo, signUpFromLogin, demoClaims, dropSession, assertPasskeyClaims } from '../lib/flows.mjs';

let server;
let browser;

before(async () => {
  server = await startDemo();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Removes the Level 3 helpers and conditional mediation, as a browser that never had them. */
function withoutJsonHelpers() {
  if (window.PublicKeyCredential) {
    delete PublicKeyCredential.parseCreationOptionsFromJSON;
    delete PublicKeyCredential.parseRequestOptionsFromJSON;
    delete PublicKeyCredential.isConditionalMediationAvailable;
    delete PublicKeyCredential.prototype.toJSON;
  }
}

test('passkeys_work_without_the_webauthn_json_helpers', async () => {
  const name = 'passkeys_work_without_the_webauthn_json_helpers';
  const { context, page, credentials } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await context.addInitScript(withoutJsonHelpers);
    const errors = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    const username = uniqueUser('legacy');

    await startAtDemo(page, server);
    assert.deepEqual(await page.evaluate(() => [
      typeof PublicKeyCredential.parseRequestOptionsFromJSON,
      typeof PublicKeyCredential.parseCreationOptionsFromJSON,
      typeof PublicKeyCredential.prototype.toJSON,
    ]), ['undefined', 'undefined', 'undefined'], 'the helpers are gone for the page script');
    await signUpFromLogin(page, { username, displayName: 'Legacy Browser', email: `${username}@example.com` });
    const claims = await demoClaims(page);
    await shot(page, `${name}-01-signed-up`);
    assertPasskeyClaims(claims, server);
    assert.equal(claims.preferred_username, username);

    await dropSession(context);
    await startAtDemo(page, server);
    await page.getByLabel('Username').fill(username);
    await page.getByRole('button', { name: 'Continue' }).click();
    const byUsername = await demoClaims(page);
    assert.equal(byUsername.sub, claims.sub, 'signed in by username through the fallback');

    await dropSession(context);
    await startAtDemo(page, server);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const discoverable = await demoClaims(page);
    await shot(page, `${name}-02-signed-in-without-username`);
    assert.equal(discoverable.sub, claims.sub, 'signed in without a username through the fallback');

    assert.equal((await credentials()).length, 1, 'one passkey, used three times');
    assert.deepEqual(errors, [], 'no script error on any page');
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});
