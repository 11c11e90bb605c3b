// Run 1 and 2 of the scenario, in a real browser: sign up through the demo relying party, then sign in by username;
// and what the ID token says about the kind of passkey (synced or bound to the device).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { TENANT, uniqueUser, startAtDemo, signUpFromLogin, demoClaims } from '../lib/flows.mjs';
import { signupThenSigninByUsername, passkeyItems } from '../lib/scenarios.mjs';

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

test('signup_then_signin_by_username', () =>
  signupThenSigninByUsername({ browser, server, name: 'signup_then_signin_by_username' }));

test('synced_passkey_is_reported_as_a_software_key', async () => {
  // A passkey that may be synced to other devices (backup eligible) is not bound to one piece of hardware: the ID
  // token says `swk` rather than `hwk`, the `acr` is the phishing-resistant one without "hardware", and the account
  // page labels it "Synced".
  const name = 'synced_passkey_is_reported_as_a_software_key';
  const { context, page, credentials } = await pageWithAuthenticator(browser,
    { defaultBackupEligibility: true, defaultBackupState: true }, { autofill: false });
  try {
    const username = uniqueUser('synced');
    await startAtDemo(page, server);
    await signUpFromLogin(page, { username, displayName: 'Synced User' });
    const claims = await demoClaims(page);
    await shot(page, `${name}-01-claims`);
    assert.equal((await credentials()).length, 1);
    assert.ok(claims.amr.includes('swk'), `amr says software key: ${JSON.stringify(claims.amr)}`);
    assert.ok(!claims.amr.includes('hwk'), 'and not hardware key');
    assert.equal(claims.acr, 'phr', 'phishing-resistant, not hardware-bound');

    await page.goto(`${server.base}/${TENANT}/account`);
    await shot(page, `${name}-02-account`);
    assert.match(await passkeyItems(page).nth(0).innerText(), /Synced/);
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});

test('device_bound_passkey_is_reported_as_a_hardware_key', async () => {
  const name = 'device_bound_passkey_is_reported_as_a_hardware_key';
  const { context, page } = await pageWithAuthenticator(browser,
    { defaultBackupEligibility: false, defaultBackupState: false }, { autofill: false });
  try {
    await startAtDemo(page, server);
    await signUpFromLogin(page, { username: uniqueUser('bound'), displayName: 'Bound User' });
    const claims = await demoClaims(page);
    assert.ok(claims.amr.includes('hwk'), `amr says hardware key: ${JSON.stringify(claims.amr)}`);
    assert.ok(!claims.amr.includes('swk'));
    // `phrh` needs a trusted attestation too; the virtual authenticator's (`none`) proves no hardware.
    assert.equal(claims.acr, 'phr', 'phishing-resistant; hardware protection unproven without trusted attestation');
    await page.goto(`${server.base}/${TENANT}/account`);
    await shot(page, `${name}-01-account`);
    assert.match(await passkeyItems(page).nth(0).innerText(), /This device only/);
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});
