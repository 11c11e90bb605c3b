// The account page: list, add, rename and delete passkeys; the last passkey stays; adding or deleting one after a
// stale user verification asks to verify first (against a server whose fresh-verification window is 2 seconds).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDemo, startServe, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { TENANT, deletePasskey } from '../lib/flows.mjs';
import { accountAddAndDeletePasskey, signUpToAccount, attachSecurityKey, passkeyItems } from '../lib/scenarios.mjs';

let server;
let quick; // `tessera serve` with security.fresh_verification_seconds = FRESH_SECONDS
let browser;

const FRESH_SECONDS = 2;
/** Waits until the session's user verification is older than the quick server's window. */
const waitPastFreshWindow = () => sleep(FRESH_SECONDS * 1000 + 700);

/** Records the statuses of the answers to `path` (e.g. `/webauthn/add/options`). */
function statusesOf(page, path) {
  const statuses = [];
  page.on('response', (response) => {
    if (new URL(response.url()).pathname === `/${TENANT}${path}`) statuses.push(response.status());
  });
  return statuses;
}

before(async () => {
  server = await startDemo();
  quick = await startServe({ freshVerificationSeconds: FRESH_SECONDS });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await quick?.stop();
});

test('account_add_and_delete_passkey', () =>
  accountAddAndDeletePasskey({ browser, server, name: 'account_add_and_delete_passkey' }));

test('adding_a_passkey_after_stale_verification_asks_to_verify_first', async () => {
  // The quick server asks for a fresh user verification when the session's is older than its 2-second window: the
  // test waits past it, so the `403 reauth_required`, the script's passkey sign-in limited to the user's own
  // passkeys, the renewed session and the new passkey are all real.
  const name = 'adding_a_passkey_after_stale_verification_asks_to_verify_first';
  const { context, page, cdp } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await signUpToAccount(page, quick, 'reauth');
    const securityKeyCredentials = await attachSecurityKey(cdp);
    const addStatuses = statusesOf(page, '/webauthn/add/options');
    const reauth = [];
    page.on('request', (request) => {
      if (request.url().endsWith(`/${TENANT}/webauthn/login/options`)) reauth.push(request.postDataJSON());
    });
    await waitPastFreshWindow();
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL((url) => url.searchParams.get('done') === 'added');
    await shot(page, `${name}-01-added`);
    assert.deepEqual(addStatuses, [403, 200], 'refused while stale, allowed after the verification');
    assert.equal(reauth.length, 1, 'one verification ceremony before the new passkey');
    assert.equal(reauth[0].reauth, true, 'the ceremony was a re-verification of the signed-in user');
    assert.equal(await passkeyItems(page).count(), 2);
    assert.equal((await securityKeyCredentials()).length, 1);
  } catch (e) {
    throw await onFailure(e, context, name, quick);
  } finally {
    await context.close();
  }
});

test('adding_a_second_passkey_on_the_same_device_says_it_already_has_one', async () => {
  const name = 'adding_a_second_passkey_on_the_same_device_says_it_already_has_one';
  const { context, page, credentials } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await signUpToAccount(page, server, 'samedevice');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    const status = page.locator('#status.error');
    await status.waitFor();
    await shot(page, `${name}-01-message`);
    assert.match(await status.innerText(), /already holds a passkey/i);
    assert.equal(await passkeyItems(page).count(), 1, 'still one passkey');
    assert.equal((await credentials()).length, 1, 'the authenticator made no second one');
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});

test('deleting_a_passkey_after_stale_verification_asks_to_verify_first', async () => {
  // Losing a passkey is as sensitive as adding one: the quick server answers `reauth_required` to `delete` once the
  // session's user verification is older than its 2-second window. The test waits past it; everything is real.
  const name = 'deleting_a_passkey_after_stale_verification_asks_to_verify_first';
  const { context, page, cdp } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await signUpToAccount(page, quick, 'reauthdel');
    const spareKey = await attachSecurityKey(cdp);
    await page.getByLabel('Name for the new passkey').fill('Spare key');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL((url) => url.searchParams.get('done') === 'added');
    assert.equal(await passkeyItems(page).count(), 2);
    // The spare key is lost (unplugged), so the re-verification uses the platform passkey. Verifying with the key
    // being deleted would end that new session with it (deleting a passkey ends the sessions signed in with it).
    await spareKey.unplug();

    const deleteStatuses = statusesOf(page, '/webauthn/delete');
    const reauth = [];
    page.on('request', (request) => {
      if (request.url().endsWith(`/${TENANT}/webauthn/login/options`)) reauth.push(request.postDataJSON());
    });
    await waitPastFreshWindow();
    await deletePasskey(page, 'Spare key');
    await page.waitForURL((url) => url.searchParams.get('done') === 'deleted');
    await shot(page, `${name}-01-deleted`);
    assert.equal(deleteStatuses[0], 403, 'refused while stale');
    assert.equal(reauth.length, 1, 'one verification ceremony before the deletion');
    assert.equal(reauth[0].reauth, true, 'the ceremony was a re-verification of the signed-in user');
    assert.equal(await passkeyItems(page).count(), 1);
    assert.equal(await page.getByText('Spare key', { exact: true }).count(), 0, 'the deleted passkey is gone');
    assert.match(await page.locator('#notice').innerText(), /deleted/);
  } catch (e) {
    throw await onFailure(e, context, name, quick);
  } finally {
    await context.close();
  }
});
