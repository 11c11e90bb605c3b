// Run 1 and 2 of the scenario, in a real browser: sign up through the demo relying party, then sign in by username.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot } from '../lib/harness.mjs';
import {
  uniqueUser, hasSession, dropSession, startAtDemo, signUpFromLogin, demoClaims, assertPasskeyClaims,
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

test('signup_then_signin_by_username', async () => {
  const { context, page, credentials } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const username = uniqueUser('ada');
    const user = { username, displayName: 'Ada Lovelace', email: `${username}@example.com` };

    await startAtDemo(page, server);
    await shot(page, 'signup_then_signin_by_username-01-login-page');
    assert.equal(await page.getByText('to continue to').count(), 1, 'the sign-in page names the client');

    await signUpFromLogin(page, user);
    const claims = await demoClaims(page);
    await shot(page, 'signup_then_signin_by_username-02-signed-up-claims');

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
    await shot(page, 'signup_then_signin_by_username-03-username-typed');
    await page.getByRole('button', { name: 'Continue' }).click();
    const again = await demoClaims(page);
    await shot(page, 'signup_then_signin_by_username-04-signed-in-claims');

    assertPasskeyClaims(again, server);
    assert.equal(again.sub, claims.sub, 'the same user comes back with the same sub');
    assert.equal(again.preferred_username, username);
    assert.ok(again.auth_time >= claims.auth_time, 'auth_time moved with the new sign-in');
    assert.equal((await credentials()).length, 1, 'signing in created no new passkey');
  } finally {
    await context.close();
  }
});
