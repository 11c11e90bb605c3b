// The main browser scenarios, written once and run against any server: `tessera demo` (SQLite, the built-in demo
// relying party) and `tessera serve` on SQLite or PostgreSQL (the Node relying party of rp.mjs). Each takes
// `{ browser, server, name }`: `name` is the test's name, used for the screenshots under target/e2e/.
import assert from 'node:assert/strict';
import { pageWithAuthenticator, shot, onFailure } from './harness.mjs';
import {
  TENANT, uniqueUser, hasSession, dropSession, startAtDemo, signUpFromLogin, demoClaims, assertPasskeyClaims,
  fillSignUp, waitForStatusError, deletePasskey, deleteOfferCount,
} from './flows.mjs';

/** Run 1 and 2: sign up through the relying party, then sign in again by typing the username. */
export async function signupThenSigninByUsername({ browser, server, name }) {
  const { context, page, credentials } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const username = uniqueUser('ada');
    const user = { username, displayName: 'Ada Lovelace', email: `${username}@example.com` };

    await startAtDemo(page, server);
    await shot(page, `${name}-01-login-page`);
    assert.equal(await page.getByText('to continue to').count(), 1, 'the sign-in page names the client');

    await signUpFromLogin(page, user);
    const claims = await demoClaims(page);
    await shot(page, `${name}-02-signed-up-claims`);

    const stored = await credentials();
    assert.equal(stored.length, 1, 'the virtual authenticator holds one passkey');
    assert.equal(stored[0].isResidentCredential, true, 'the passkey is discoverable (resident)');
    assert.equal(stored[0].rpId, 'localhost');
    assertPasskeyClaims(claims, server);
    assert.equal(claims.preferred_username, username);
    assert.equal(claims.name, 'Ada Lovelace');
    assert.equal(claims.email, user.email);
    assert.ok(await hasSession(context), 'sign-up left a session at the authenticator service');

    // Same browser and authenticator, session cookie gone: sign in by typing the username.
    await dropSession(context);
    await startAtDemo(page, server);
    await page.getByLabel('Username').fill(username);
    await shot(page, `${name}-03-username-typed`);
    await page.getByRole('button', { name: 'Continue' }).click();
    const again = await demoClaims(page);
    await shot(page, `${name}-04-signed-in-claims`);

    assertPasskeyClaims(again, server);
    assert.equal(again.sub, claims.sub, 'the same user comes back with the same sub');
    assert.equal(again.preferred_username, username);
    assert.ok(again.auth_time >= claims.auth_time, 'auth_time moved with the new sign-in');
    assert.equal((await credentials()).length, 1, 'signing in created no new passkey');
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
}

/** Signs up through the relying party, then signs out with its link (RP-initiated logout); returns the claims. */
async function signUpThenSignOut(page, context, server, prefix) {
  const username = uniqueUser(prefix);
  await startAtDemo(page, server);
  await signUpFromLogin(page, { username, displayName: 'Grace Hopper', email: `${username}@example.com` });
  const claims = await demoClaims(page);
  await page.getByRole('link', { name: 'Sign out' }).click();
  await page.waitForURL((url) => url.pathname === '/demo/');
  assert.equal(await hasSession(context), false, 'signing out ended the session at the authenticator service');
  return { username, claims };
}

/** Passes the sign-in options calls through unchanged, keeping what was sent and what the server answered. */
async function watchLoginOptions(page) {
  const seen = [];
  await page.route(`**/${TENANT}/webauthn/login/options`, async (route) => {
    const response = await route.fetch();
    const body = await response.text();
    let answer = null;
    try { answer = JSON.parse(body); } catch { /* recorded as null */ }
    seen.push({ request: route.request().postDataJSON(), answer });
    await route.fulfill({ response, body });
  });
  return seen;
}

/** Run 3, button path: no username typed; a modal get() with empty allowCredentials finds the resident passkey. */
export async function signinWithoutUsernameDiscoverable({ browser, server, name }) {
  const { context, page, credentials } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const { username, claims } = await signUpThenSignOut(page, context, server, 'grace');
    await shot(page, `${name}-01-signed-out`);

    const options = await watchLoginOptions(page);
    await startAtDemo(page, server);
    assert.equal(await page.getByLabel('Username').inputValue(), '', 'nothing typed');
    await shot(page, `${name}-02-login-page`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const again = await demoClaims(page);
    await shot(page, `${name}-03-signed-in-claims`);

    assert.equal(options.length, 1, 'one sign-in ceremony');
    assert.equal(options[0].request.username ?? null, null, 'no username was sent');
    assert.deepEqual(options[0].answer.publicKey.allowCredentials ?? [], [], 'a modal get() with empty allowCredentials');
    assertPasskeyClaims(again, server);
    assert.equal(again.sub, claims.sub, 'the resident credential found the same user');
    assert.equal(again.preferred_username, username);
    assert.equal((await credentials()).length, 1);
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
}

/**
 * Run 3, autofill path. Chromium's virtual authenticator picks the passkey offered to a conditional get() by
 * itself, as a user choosing it in the autofill list would: the page signs in without a click.
 */
export async function signinByAutofillConditionalMediation({ browser, server, name }) {
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: true });
  try {
    const { claims } = await signUpThenSignOut(page, context, server, 'autofill');
    const options = await watchLoginOptions(page);
    await page.goto(server.demo.demo_url);
    await page.getByRole('link', { name: 'Sign in with passkey' }).click();
    const again = await demoClaims(page);
    await shot(page, `${name}-01-signed-in-claims`);

    assert.ok(options.length >= 1, 'the sign-in page asked for a challenge');
    assert.equal(options[0].request.conditional, true, 'the page started conditional mediation');
    assert.deepEqual(options[0].answer.publicKey.allowCredentials ?? [], [], 'autofill offers any passkey of the site');
    assert.equal(again.sub, claims.sub);
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
}

/** A USB security key with resident keys and user verification, as a second virtual authenticator. */
export const SECURITY_KEY = {
  protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'usb', hasResidentKey: true, hasUserVerification: true,
  isUserVerified: true, automaticPresenceSimulation: true,
};

/** Signs up on the tenant's own sign-up page (no client): the account page follows. */
export async function signUpToAccount(page, server, prefix) {
  const username = uniqueUser(prefix);
  await page.goto(`${server.base}/${TENANT}/signup`);
  await fillSignUp(page, { username, displayName: 'Katherine Johnson', email: `${username}@example.com` });
  await page.waitForURL((url) => url.pathname === `/${TENANT}/account`);
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  return username;
}

/** Attaches a second virtual authenticator (a security key) and returns a lister of its passkeys. */
export async function attachSecurityKey(cdp) {
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: SECURITY_KEY });
  const credentials = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  /** Unplugs the key: the browser can no longer use it. */
  credentials.unplug = () => cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
  return credentials;
}

/** The passkeys listed on the account page. */
export const passkeyItems = (page) => page.getByRole('list', { name: 'Your passkeys' }).getByRole('listitem');

/**
 * The account page: one passkey listed and not deletable; add a second on a security key (the platform
 * authenticator already holds one of this account and is in `excludeCredentials`), rename one, delete one; the last
 * one cannot be deleted, not even from a stale second tab, and the page says why.
 */
export async function accountAddAndDeletePasskey({ browser, server, name }) {
  const { context, page, cdp, credentials } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const username = await signUpToAccount(page, server, 'katherine');
    await shot(page, `${name}-01-one-passkey`);
    assert.ok(await page.getByText(username).count() >= 1, 'the page names the signed-in user');
    assert.equal(await passkeyItems(page).count(), 1, 'one passkey listed');
    assert.equal(await deleteOfferCount(page), 0, 'the only passkey offers no delete button');
    assert.match(await page.locator('#last-passkey-note').innerText(), /only passkey/);
    assert.match(await passkeyItems(page).nth(0).innerText(), /Not used yet/, 'a new passkey is not "used never"');

    // Add a second passkey on a security key (the session's user verification is fresh: no second prompt).
    const securityKeyCredentials = await attachSecurityKey(cdp);
    await page.getByLabel('Name for the new passkey').fill('Blue security key');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL((url) => url.searchParams.get('done') === 'added');
    await shot(page, `${name}-02-two-passkeys`);
    assert.equal(await passkeyItems(page).count(), 2, 'two passkeys listed');
    assert.equal((await securityKeyCredentials()).length, 1, 'the security key holds the new passkey');
    assert.match(await passkeyItems(page).nth(1).locator('.badge').innerText(), /^Security key$/,
      'a USB security key is not called "This device only"');
    assert.equal((await credentials()).length, 1, 'the platform authenticator still holds one');
    assert.equal(await page.getByText('Blue security key', { exact: true }).count(), 1, 'the nickname is shown');

    // Rename the first passkey.
    const first = passkeyItems(page).nth(0);
    const oldName = (await first.locator('.passkey-name').innerText()).trim();
    await first.getByLabel(`New name for ${oldName}`).fill('Office laptop');
    await first.getByRole('button', { name: 'Rename' }).click();
    await page.waitForURL((url) => url.searchParams.get('done') === 'renamed');
    await shot(page, `${name}-03-renamed`);
    assert.equal(await page.getByText('Office laptop', { exact: true }).count(), 1, 'the new name is shown');
    assert.equal(await page.getByText(oldName, { exact: true }).count(), 0, 'the old name is gone');

    // A second tab still shows two passkeys with their delete buttons.
    const staleTab = await context.newPage();
    await staleTab.goto(`${server.base}/${TENANT}/account`);

    // Delete the security key's passkey (not the one this session signed in with: deleting that one would end the
    // session): "Delete" first asks (nothing is sent), then "Yes, delete it" deletes. The renamed passkey is left,
    // and it cannot be deleted.
    const deletes = [];
    page.on('request', (request) => { if (request.url().endsWith('/webauthn/delete')) deletes.push(request); });
    await page.locator('summary', { hasText: 'Delete passkey Blue security key' }).click();
    const question = page.getByText('Delete “Blue security key”? You will no longer be able to sign in with it.');
    await question.waitFor();
    await shot(page, `${name}-04-asks-before-deleting`);
    assert.equal(deletes.length, 0, 'opening the question deletes nothing');
    await page.getByRole('button', { name: 'Yes, delete passkey Blue security key' }).click();
    await page.waitForURL((url) => url.searchParams.get('done') === 'deleted');
    await shot(page, `${name}-05-one-left`);
    assert.equal(await passkeyItems(page).count(), 1, 'one passkey left');
    assert.equal(await page.getByText('Office laptop', { exact: true }).count(), 1);
    assert.equal(await deleteOfferCount(page), 0);
    assert.match(await page.locator('#last-passkey-note').innerText(), /cannot be deleted/);

    // From the stale tab, try to delete the last one: refused, and the page says why.
    await deletePasskey(staleTab, 'Office laptop');
    const refusal = staleTab.locator('#status.error');
    await refusal.waitFor();
    await shot(staleTab, `${name}-06-last-one-refused`);
    assert.match(await refusal.innerText(), /cannot be deleted.*only passkey/s);
    await staleTab.reload();
    assert.equal(await passkeyItems(staleTab).count(), 1, 'the last passkey is still there');
    assert.ok(await hasSession(context), 'still signed in');

    // Signing out from the account page ends the session and lands on the sign-in page, which says so.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.pathname === `/${TENANT}/login`);
    await page.getByText('You are signed out.').waitFor();
    await shot(page, `${name}-07-signed-out`);
    assert.equal(await hasSession(context), false, 'signed out');
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
}

/** Records every answer of the server with a status of 500 or more, and every request to the relying party's callback. */
export function watchCallbacks(page) {
  const seen = { serverErrors: [], callbacks: [] };
  page.on('response', (response) => {
    if (response.status() >= 500) seen.serverErrors.push(`${response.status()} ${response.url()}`);
  });
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === '/demo/callback') seen.callbacks.push(request);
  });
  return seen;
}

/** The parameters of an authorization response, whether `form_post` (the demo) or `query` (the Node relying party). */
export function callbackParams(request) {
  if (request.method() === 'POST') return request.postDataJSON() ?? {};
  return Object.fromEntries(new URL(request.url()).searchParams);
}

/**
 * Run 6: the device cannot verify the user. The page shows a human message, no session is made and the relying party
 * gets no code; the user then cancels and the relying party hears `access_denied` at its registered callback, with
 * `iss` and `state`. Never a 500.
 */
export async function refusedUserVerification({ browser, server, name }) {
  const { context, page, setUserVerified } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const username = uniqueUser('linus');
    await startAtDemo(page, server);
    await signUpFromLogin(page, { username, displayName: 'Linus', email: `${username}@example.com` });
    await demoClaims(page);
    await dropSession(context);

    // The fingerprint (or PIN) check fails on the device.
    await setUserVerified(false);
    const seen = watchCallbacks(page);
    await startAtDemo(page, server);
    await page.getByLabel('Username').fill(username);
    await page.getByRole('button', { name: 'Continue' }).click();
    const message = await waitForStatusError(page);
    await shot(page, `${name}-01-error-message`);

    assert.match(message, /could not verify you|not accepted|verif/i, `a human message: ${message}`);
    assert.doesNotMatch(message, /NotAllowedError|Exception|undefined|\{/, 'no raw error text');
    assert.equal(new URL(page.url()).pathname, `/${TENANT}/login`, 'still on the sign-in page');
    assert.equal(await hasSession(context), false, 'no session');
    assert.equal(seen.callbacks.length, 0, 'the relying party got no code');
    assert.equal(await page.getByRole('button', { name: 'Continue' }).isEnabled(), true, 'the user can try again');

    // The user gives up: the relying party hears access_denied at its registered callback.
    await page.getByRole('link', { name: 'Cancel' }).click();
    await page.waitForURL((url) => url.pathname === '/demo/callback');
    await shot(page, `${name}-02-cancelled-at-rp`);
    assert.equal(seen.callbacks.length, 1, 'one answer to the relying party');
    const answer = callbackParams(seen.callbacks[0]);
    assert.equal(answer.error, 'access_denied');
    assert.equal(answer.code, undefined, 'no code');
    assert.equal(answer.iss, server.demo.authenticator_url, 'the answer names its issuer (RFC 9207)');
    assert.ok(answer.state, 'the state is echoed');
    assert.match(await page.locator('main').innerText(), /access_denied/);
    assert.deepEqual(seen.serverErrors, [], 'never a 500');
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
}
