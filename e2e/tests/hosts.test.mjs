// Tenants on their own host: `north.localhost` and `south.localhost` (Chromium resolves `*.localhost` to loopback),
// each with its own RP ID, origins and issuer. A passkey made on north's pages is north's alone: the browser's autofill
// offers it on north's sign-in page (and signs in) but not on south's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServe, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { fillSignUp, uniqueUser } from '../lib/flows.mjs';

let server;
let browser;

before(async () => {
  server = await startServe({ hostTenants: ['north', 'south'] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('tenants_on_their_own_hosts_keep_their_passkeys_apart', async () => {
  const north = `http://north.localhost:${server.port}`;
  const south = `http://south.localhost:${server.port}`;
  const { context, page, credentials } = await pageWithAuthenticator(browser, {}, { autofill: true });
  const name = 'tenants_on_their_own_hosts';
  try {
    // The tenant's own discovery document, at its own address (Chromium resolves it; node's resolver does not).
    await page.goto(`${north}/oidc/.well-known/openid-configuration`);
    const discovery = JSON.parse(await page.locator('body').innerText());
    assert.equal(discovery.issuer, `${north}/oidc`);
    // Under the service's address the tenant has moved.
    const moved = await fetch(`${server.base}/north/account`, { redirect: 'manual' });
    assert.equal(moved.status, 308);
    assert.equal(moved.headers.get('location'), `${north}/account`);

    // Sign up on north's own sign-up page, at the bare path.
    const username = uniqueUser('north');
    await page.goto(`${north}/signup`);
    await fillSignUp(page, { username, displayName: 'Nora North', email: `${username}@example.com` });
    await page.waitForURL((url) => url.host === new URL(north).host && url.pathname.endsWith('/account'));
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await shot(page, `${name}-01-north-account`);
    const made = await credentials();
    assert.equal(made.length, 1);
    assert.equal(made[0].rpId, 'north.localhost', "the passkey belongs to north's RP ID");

    // Signed out, on south's sign-in page: autofill has nothing to offer, so nothing signs in.
    await context.clearCookies();
    await page.goto(`${south}/login`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.waitForTimeout(2500);
    assert.ok(new URL(page.url()).pathname.endsWith('/login'), `still on south's sign-in page: ${page.url()}`);
    assert.equal((await context.cookies()).filter((c) => c.name.startsWith('__Host-tessera-south')
      && !c.name.includes('csrf')).length, 0, 'no session at south');
    await shot(page, `${name}-02-south-login`);

    // On north's sign-in page the same passkey is offered, and autofill signs in.
    await page.goto(`${north}/login`);
    await page.waitForURL((url) => url.pathname.endsWith('/account'), { timeout: 15000 });
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await shot(page, `${name}-03-north-signed-in`);
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});
