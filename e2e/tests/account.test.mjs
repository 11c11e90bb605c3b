// The account page: list, add, rename and delete passkeys; the last passkey stays.
//
// A second virtual authenticator (a USB security key) joins the first (the platform authenticator) before a passkey
// is added: the first one already holds a passkey of this account and is in `excludeCredentials`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot } from '../lib/harness.mjs';
import { TENANT, uniqueUser, fillSignUp, hasSession } from '../lib/flows.mjs';

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

const SECURITY_KEY = {
  protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'usb', hasResidentKey: true, hasUserVerification: true,
  isUserVerified: true, automaticPresenceSimulation: true,
};

/** Signs up on the tenant's own sign-up page (no client): the account page follows. */
async function signUpToAccount(page, prefix) {
  const username = uniqueUser(prefix);
  await page.goto(`${server.base}/${TENANT}/signup`);
  await fillSignUp(page, { username, displayName: 'Katherine Johnson', email: `${username}@example.com` });
  await page.waitForURL((url) => url.pathname === `/${TENANT}/account`);
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  return username;
}

/** Attaches a second virtual authenticator (a security key) and returns a lister of its passkeys. */
async function attachSecurityKey(cdp) {
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: SECURITY_KEY });
  return async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
}

const passkeyItems = (page) => page.getByRole('list', { name: 'Your passkeys' }).getByRole('listitem');

test('account_add_and_delete_passkey', async () => {
  const { context, page, cdp, credentials } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const username = await signUpToAccount(page, 'katherine');
    await shot(page, 'account_add_and_delete_passkey-01-one-passkey');
    assert.equal(await page.getByText(username).count() >= 1, true, 'the page names the signed-in user');
    assert.equal(await passkeyItems(page).count(), 1, 'one passkey listed');
    assert.equal(await page.getByRole('button', { name: /^Delete passkey/ }).count(), 0,
      'the only passkey offers no delete button');
    assert.match(await page.locator('#last-passkey-note').innerText(), /only passkey/);

    // Add a second passkey on a security key (the session's user verification is fresh: no second prompt).
    const securityKeyCredentials = await attachSecurityKey(cdp);
    await page.getByLabel('Name for the new passkey').fill('Blue security key');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL((url) => url.searchParams.get('done') === 'added');
    await shot(page, 'account_add_and_delete_passkey-02-two-passkeys');
    assert.equal(await passkeyItems(page).count(), 2, 'two passkeys listed');
    assert.equal((await securityKeyCredentials()).length, 1, 'the security key holds the new passkey');
    assert.equal((await credentials()).length, 1, 'the platform authenticator still holds one');
    assert.equal(await page.getByText('Blue security key', { exact: true }).count(), 1, 'the nickname is shown');

    // Rename the first passkey.
    const first = passkeyItems(page).nth(0);
    const oldName = (await first.locator('.passkey-name').innerText()).trim();
    await first.getByLabel(`New name for ${oldName}`).fill('Office laptop');
    await first.getByRole('button', { name: 'Rename' }).click();
    await page.waitForURL((url) => url.searchParams.get('done') === 'renamed');
    await shot(page, 'account_add_and_delete_passkey-03-renamed');
    assert.equal(await page.getByText('Office laptop', { exact: true }).count(), 1, 'the new name is shown');
    assert.equal(await page.getByText(oldName, { exact: true }).count(), 0, 'the old name is gone');

    // A second tab still shows two passkeys with their delete buttons.
    const staleTab = await context.newPage();
    await staleTab.goto(`${server.base}/${TENANT}/account`);

    // Delete the renamed one; the security key's passkey is left, and it cannot be deleted.
    await page.getByRole('button', { name: 'Delete passkey Office laptop' }).click();
    await page.waitForURL((url) => url.searchParams.get('done') === 'deleted');
    await shot(page, 'account_add_and_delete_passkey-04-one-left');
    assert.equal(await passkeyItems(page).count(), 1, 'one passkey left');
    assert.equal(await page.getByText('Blue security key', { exact: true }).count(), 1);
    assert.equal(await page.getByRole('button', { name: /^Delete passkey/ }).count(), 0);
    assert.match(await page.locator('#last-passkey-note').innerText(), /cannot be deleted/);

    // From the stale tab, try to delete the last one: refused, and the page says why.
    await staleTab.getByRole('button', { name: 'Delete passkey Blue security key' }).click();
    await staleTab.getByRole('heading', { name: 'This passkey cannot be deleted' }).waitFor();
    await shot(staleTab, 'account_add_and_delete_passkey-05-last-one-refused');
    assert.match(await staleTab.locator('main').innerText(), /only passkey/);
    await staleTab.getByRole('link', { name: 'Back to your account' }).click();
    assert.equal(await passkeyItems(staleTab).count(), 1, 'the last passkey is still there');
    assert.ok(await hasSession(context), 'still signed in');
  } finally {
    await context.close();
  }
});

test('adding_a_passkey_after_stale_verification_asks_to_verify_first', async () => {
  // The server asks for a fresh user verification when the session's is older than five minutes (unit-tested in
  // tessera-http). A browser test cannot wait that long, so the first `add/options` answer is replaced by the
  // server's documented `403 reauth_required`; everything after it is real: the script's passkey sign-in limited to
  // the user's own passkeys, the renewed session, and the creation of the new passkey.
  const { context, page, cdp } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await signUpToAccount(page, 'reauth');
    const securityKeyCredentials = await attachSecurityKey(cdp);
    let answered = false;
    await page.route(`**/${TENANT}/webauthn/add/options`, async (route) => {
      if (answered) return route.continue();
      answered = true;
      return route.fulfill({
        status: 403,
        contentType: 'application/json',
        body: JSON.stringify({ ok: false, error: 'reauth_required', message: 'Confirm it is you first.' }),
      });
    });
    const reauth = [];
    page.on('request', (request) => {
      if (request.url().endsWith(`/${TENANT}/webauthn/login/options`)) reauth.push(request.postDataJSON());
    });
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL((url) => url.searchParams.get('done') === 'added');
    await shot(page, 'adding_a_passkey_after_stale_verification_asks_to_verify_first-01-added');
    assert.equal(reauth.length, 1, 'one verification ceremony before the new passkey');
    assert.equal(reauth[0].reauth, true, 'the ceremony was a re-verification of the signed-in user');
    assert.equal(await passkeyItems(page).count(), 2);
    assert.equal((await securityKeyCredentials()).length, 1);
  } finally {
    await context.close();
  }
});
