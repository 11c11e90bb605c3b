// A tenant's authenticator policy, set with the CLI (`tessera idp tenant create --attestation trusted`) and applied
// by the sign-up page: the browser is asked for direct attestation, and a passkey that cannot prove its make and model
// is refused with a sentence saying so, leaving no account behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServe, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { TENANT, uniqueUser, fillSignUp, waitForStatusError, hasSession } from '../lib/flows.mjs';

let server;
let browser;

before(async () => {
  server = await startServe({ tenantFlags: ['--attestation', 'trusted'] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('tenant_demanding_trusted_attestation_refuses_an_unattested_passkey_in_words', async () => {
  const name = 'tenant_demanding_trusted_attestation_refuses_an_unattested_passkey_in_words';
  const { context, page, credentials } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const options = [];
    const serverErrors = [];
    page.on('response', async (response) => {
      if (response.status() >= 500) serverErrors.push(response.url());
      if (new URL(response.url()).pathname === `/${TENANT}/webauthn/register/options`) {
        options.push(await response.json());
      }
    });
    const username = uniqueUser('attest');
    await page.goto(`${server.base}/${TENANT}/signup`);
    await fillSignUp(page, { username, displayName: 'Grace Hopper' });
    const message = await waitForStatusError(page);
    await shot(page, `${name}-01-refused`);
    assert.equal(options[0]?.publicKey?.attestation, 'direct', 'the browser was asked for attestation');
    assert.match(message, /make and model/);
    assert.doesNotMatch(message, /attestation-|untrusted/, 'no rule ids for people');
    assert.equal((await credentials()).length, 1, 'the authenticator made a passkey, which the site refused');
    assert.equal(await hasSession(context), false);
    assert.deepEqual(serverErrors, []);

    // Refused means nothing was stored: the username is still free (the options call checks it).
    const again = await page.request.post(`${server.base}/${TENANT}/webauthn/register/options`, {
      headers: {
        'content-type': 'application/json',
        origin: server.base,
        'x-csrf-token': await page.locator('meta[name="csrf-token"]').getAttribute('content'),
      },
      data: { username, display_name: 'Grace Hopper' },
    });
    assert.equal(again.status(), 200, await again.text());
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});
