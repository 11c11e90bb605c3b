// The account page: list, add, rename and delete passkeys; the last passkey stays; adding one after a stale user
// verification asks to verify first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { TENANT } from '../lib/flows.mjs';
import { accountAddAndDeletePasskey, signUpToAccount, attachSecurityKey, passkeyItems } from '../lib/scenarios.mjs';

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

test('account_add_and_delete_passkey', () =>
  accountAddAndDeletePasskey({ browser, server, name: 'account_add_and_delete_passkey' }));

test('adding_a_passkey_after_stale_verification_asks_to_verify_first', async () => {
  // The server asks for a fresh user verification when the session's is older than five minutes (unit-tested in
  // tessera-http). A browser test cannot wait that long, so the first `add/options` answer is replaced by the
  // server's documented `403 reauth_required`; everything after it is real: the script's passkey sign-in limited to
  // the user's own passkeys, the renewed session, and the creation of the new passkey.
  const { context, page, cdp } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await signUpToAccount(page, server, 'reauth');
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
  } catch (e) {
    throw await onFailure(e, context, 'adding_a_passkey_after_stale_verification_asks_to_verify_first', server);
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
  // Losing a passkey is as sensitive as adding one: the server answers `reauth_required` to `delete` when the
  // session's user verification is older than five minutes (unit-tested in tessera-http). As above, the first answer
  // is replaced by that documented 403 because a browser test cannot wait; the verification and the deletion are real.
  const name = 'deleting_a_passkey_after_stale_verification_asks_to_verify_first';
  const { context, page, cdp } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await signUpToAccount(page, server, 'reauthdel');
    await attachSecurityKey(cdp);
    await page.getByLabel('Name for the new passkey').fill('Spare key');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL((url) => url.searchParams.get('done') === 'added');
    assert.equal(await passkeyItems(page).count(), 2);

    let answered = false;
    await page.route(`**/${TENANT}/webauthn/delete`, async (route) => {
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
    await page.getByRole('button', { name: 'Delete passkey Spare key' }).click();
    await page.waitForURL((url) => url.searchParams.get('done') === 'deleted');
    await shot(page, `${name}-01-deleted`);
    assert.equal(reauth.length, 1, 'one verification ceremony before the deletion');
    assert.equal(reauth[0].reauth, true, 'the ceremony was a re-verification of the signed-in user');
    assert.equal(await passkeyItems(page).count(), 1);
    assert.equal(await page.getByText('Spare key', { exact: true }).count(), 0, 'the deleted passkey is gone');
    assert.match(await page.locator('#notice').innerText(), /deleted/);
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});
