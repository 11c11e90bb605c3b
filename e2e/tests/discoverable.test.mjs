// Run 3 of the scenario: sign in without typing a username (a discoverable credential), by the "Sign in with a
// passkey" button and by the browser's autofill (conditional mediation).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot } from '../lib/harness.mjs';
import {
  TENANT, uniqueUser, hasSession, startAtDemo, signUpFromLogin, demoClaims, assertPasskeyClaims,
} from '../lib/flows.mjs';

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

/** Signs up through the demo, then signs out with the demo's link (RP-initiated logout); returns the first claims. */
async function signUpThenSignOut(page, context, prefix) {
  const username = uniqueUser(prefix);
  await startAtDemo(page, server);
  await signUpFromLogin(page, { username, displayName: 'Grace Hopper', email: `${username}@example.com` });
  const claims = await demoClaims(page);
  await page.getByRole('link', { name: 'Sign out' }).click();
  await page.waitForURL((url) => url.pathname === '/demo/');
  assert.equal(await hasSession(context), false, 'signing out ended the session at the authenticator service');
  return { username, claims };
}

/** Collects the bodies sent to, and the answers of, the sign-in options call. */
function watchLoginOptions(page) {
  const seen = [];
  page.on('response', async (response) => {
    if (!response.url().endsWith(`/${TENANT}/webauthn/login/options`)) return;
    try {
      seen.push({ request: response.request().postDataJSON(), answer: await response.json() });
    } catch { /* a navigation cut the body short */ }
  });
  return seen;
}

test('signin_without_username_discoverable', async () => {
  const { context, page, credentials } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const { username, claims } = await signUpThenSignOut(page, context, 'grace');
    await shot(page, 'signin_without_username_discoverable-01-signed-out');

    const options = watchLoginOptions(page);
    await startAtDemo(page, server);
    assert.equal(await page.getByLabel('Username').inputValue(), '', 'nothing typed');
    await shot(page, 'signin_without_username_discoverable-02-login-page');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const again = await demoClaims(page);
    await shot(page, 'signin_without_username_discoverable-03-signed-in-claims');

    assert.equal(options.length, 1, 'one sign-in ceremony');
    assert.equal(options[0].request.username ?? null, null, 'no username was sent');
    const allow = options[0].answer.publicKey.allowCredentials ?? [];
    assert.deepEqual(allow, [], 'a modal get() with empty allowCredentials');
    assertPasskeyClaims(again, server);
    assert.equal(again.sub, claims.sub, 'the resident credential found the same user');
    assert.equal(again.preferred_username, username);
    assert.equal((await credentials()).length, 1);
  } finally {
    await context.close();
  }
});

test('signin_by_autofill_conditional_mediation', async () => {
  // Chromium's virtual authenticator picks the passkey offered to a conditional get() by itself, as a user choosing
  // it in the autofill list would: the page signs in without a click.
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: true });
  try {
    const { claims } = await signUpThenSignOut(page, context, 'autofill');
    const options = watchLoginOptions(page);
    await page.goto(server.demo.demo_url);
    await page.getByRole('link', { name: 'Sign in with passkey' }).click();
    const again = await demoClaims(page);
    await shot(page, 'signin_by_autofill_conditional_mediation-01-signed-in-claims');

    assert.ok(options.length >= 1, 'the sign-in page asked for a challenge');
    assert.equal(options[0].request.conditional, true, 'the page started conditional mediation');
    assert.deepEqual(options[0].answer.publicKey.allowCredentials ?? [], [], 'autofill offers any passkey of the site');
    assert.equal(again.sub, claims.sub);
  } finally {
    await context.close();
  }
});
