// Run 6 of the scenario: the passkey fails (the device could not verify the user) or the user cancels. The relying
// party gets no code and, on cancel, an OAuth error at its registered callback; never a 500.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import {
  uniqueUser, hasSession, startAtDemo, signUpFromLogin, demoClaims, waitForStatusError,
} from '../lib/flows.mjs';
import { refusedUserVerification, watchCallbacks, callbackParams } from '../lib/scenarios.mjs';

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

test('refused_user_verification', () =>
  refusedUserVerification({ browser, server, name: 'refused_user_verification' }));

test('cancel_on_signup_returns_access_denied', async () => {
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const seen = watchCallbacks(page);
    await startAtDemo(page, server);
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await page.getByRole('link', { name: 'Cancel' }).click();
    await page.waitForURL((url) => url.pathname === '/demo/callback');
    await shot(page, 'cancel_on_signup_returns_access_denied-01-cancelled-at-rp');
    assert.equal(seen.callbacks.length, 1);
    assert.equal(callbackParams(seen.callbacks[0]).error, 'access_denied');
    assert.equal(await hasSession(context), false);
    assert.deepEqual(seen.serverErrors, [], 'never a 500');
  } catch (e) {
    throw await onFailure(e, context, 'cancel_on_signup_returns_access_denied', server);
  } finally {
    await context.close();
  }
});

// The tenant hides whether accounts exist (the default): an unknown name gets a decoy passkey to ask for, so the
// browser finds none, exactly as for a real account whose passkey is on another device.
test('signin_with_unknown_username_does_not_reveal_the_account', async () => {
  const name = 'signin_with_unknown_username_does_not_reveal_the_account';
  const { context, page, credentials } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const seen = watchCallbacks(page);
    await startAtDemo(page, server);
    await page.getByLabel('Username').fill(uniqueUser('nobody'));
    await page.getByRole('button', { name: 'Continue' }).click();
    const message = await waitForStatusError(page);
    await shot(page, `${name}-01-message`);
    assert.match(message, /No passkey for this account was found on this device/, `a human message: ${message}`);
    assert.doesNotMatch(message, /no account/i, 'nothing says whether the account exists');
    assert.equal((await credentials()).length, 0);
    assert.equal(await hasSession(context), false);
    assert.equal(seen.callbacks.length, 0, 'the relying party got nothing');
    assert.deepEqual(seen.serverErrors, [], 'never a 500');
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});

test('signin_on_a_device_without_the_passkey_fails_with_a_message', async () => {
  // The account exists, but this browser's authenticator holds none of its passkeys (a new laptop).
  const name = 'signin_on_a_device_without_the_passkey_fails_with_a_message';
  const owner = await pageWithAuthenticator(browser, {}, { autofill: false });
  const username = uniqueUser('elsewhere');
  try {
    await startAtDemo(owner.page, server);
    await signUpFromLogin(owner.page, { username, displayName: 'Owner' });
    await demoClaims(owner.page);
  } finally {
    await owner.context.close();
  }
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const seen = watchCallbacks(page);
    await startAtDemo(page, server);
    await page.getByLabel('Username').fill(username);
    await page.getByRole('button', { name: 'Continue' }).click();
    const message = await waitForStatusError(page);
    await shot(page, `${name}-01-message`);
    assert.ok(message.length > 0, 'a message');
    assert.equal(await hasSession(context), false);
    assert.equal(seen.callbacks.length, 0, 'the relying party got nothing');
    assert.deepEqual(seen.serverErrors, [], 'never a 500');
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});
