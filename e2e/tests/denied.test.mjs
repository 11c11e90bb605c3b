// Run 6 of the scenario: the passkey fails (the device could not verify the user) or the user cancels. The relying
// party gets no code and, on cancel, an OAuth error at its registered callback; never a 500.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot } from '../lib/harness.mjs';
import {
  TENANT, uniqueUser, hasSession, dropSession, startAtDemo, signUpFromLogin, demoClaims, waitForStatusError,
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

/** Records every answer of the server with a status of 500 or more, and every request to the demo's callback. */
function watch(page) {
  const seen = { serverErrors: [], callbacks: [] };
  page.on('response', (response) => {
    if (response.status() >= 500) seen.serverErrors.push(`${response.status()} ${response.url()}`);
  });
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === '/demo/callback') seen.callbacks.push(request);
  });
  return seen;
}

test('refused_user_verification', async () => {
  const { context, page, setUserVerified } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const username = uniqueUser('linus');
    await startAtDemo(page, server);
    await signUpFromLogin(page, { username, displayName: 'Linus', email: `${username}@example.com` });
    await demoClaims(page);
    await dropSession(context);

    // The fingerprint (or PIN) check fails on the device.
    await setUserVerified(false);
    const seen = watch(page);
    await startAtDemo(page, server);
    await page.getByLabel('Username').fill(username);
    await page.getByRole('button', { name: 'Continue' }).click();
    const message = await waitForStatusError(page);
    await shot(page, 'refused_user_verification-01-error-message');

    assert.match(message, /could not verify you|not accepted|verif/i, `a human message: ${message}`);
    assert.doesNotMatch(message, /NotAllowedError|Exception|undefined|\{/, 'no raw error text');
    assert.equal(new URL(page.url()).pathname, `/${TENANT}/login`, 'still on the sign-in page');
    assert.equal(await hasSession(context), false, 'no session');
    assert.equal(seen.callbacks.length, 0, 'the relying party got no code');
    assert.equal(await page.getByRole('button', { name: 'Continue' }).isEnabled(), true, 'the user can try again');

    // The user gives up: the relying party hears access_denied at its registered callback.
    await page.getByRole('link', { name: 'Cancel' }).click();
    await page.waitForURL((url) => url.pathname === '/demo/callback');
    await shot(page, 'refused_user_verification-02-cancelled-at-rp');
    assert.equal(seen.callbacks.length, 1, 'one answer to the relying party');
    const answer = seen.callbacks[0].postDataJSON() ?? {};
    assert.equal(answer.error, 'access_denied');
    assert.equal(answer.code, undefined, 'no code');
    assert.equal(answer.iss, server.demo.authenticator_url, 'the answer names its issuer (RFC 9207)');
    assert.ok(answer.state, 'the state is echoed');
    assert.match(await page.locator('main').innerText(), /access_denied/);
    assert.deepEqual(seen.serverErrors, [], 'never a 500');
  } finally {
    await context.close();
  }
});

test('cancel_on_signup_returns_access_denied', async () => {
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const seen = watch(page);
    await startAtDemo(page, server);
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await page.getByRole('link', { name: 'Cancel' }).click();
    await page.waitForURL((url) => url.pathname === '/demo/callback');
    await shot(page, 'cancel_on_signup_returns_access_denied-01-cancelled-at-rp');
    assert.equal(seen.callbacks.length, 1);
    assert.equal((seen.callbacks[0].postDataJSON() ?? {}).error, 'access_denied');
    assert.equal(await hasSession(context), false);
    assert.deepEqual(seen.serverErrors, [], 'never a 500');
  } finally {
    await context.close();
  }
});
