// A newcomer's first hour with `tessera demo`, in the browser: the landing page, the demo opened at the wrong
// address, the claims page on a phone, signing out, the way back from the account page, messages that do not
// contradict each other, and a sign-in page that stays quiet while autofill waits in the background.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { TENANT, uniqueUser, hasSession, startAtDemo, signUpFromLogin, demoClaims } from '../lib/flows.mjs';
import { signUpToAccount, passkeyItems } from '../lib/scenarios.mjs';

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

const PHONE = { width: 390, height: 844 };

test('landing_page_links_to_the_demo_the_account_page_and_the_discovery_document', async () => {
  const name = 'landing_page_links_to_the_demo_the_account_page_and_the_discovery_document';
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const response = await page.goto(`${server.base}/`);
    assert.equal(response.status(), 200);
    await page.getByRole('heading', { name: 'Tessera is running' }).waitFor();
    await shot(page, `${name}-01-landing`);
    assert.match(await page.locator('#landing-dev').innerText(), /development setup/);
    const tenant = page.locator(`#landing-tenant-${TENANT}`);
    assert.equal(await tenant.getByRole('link', { name: 'account page' }).getAttribute('href'), `/${TENANT}/account`);
    const discovery = await tenant.getByRole('link', { name: 'discovery document' }).getAttribute('href');
    assert.equal(discovery, server.demo.discovery_url);

    await page.getByRole('link', { name: 'Open the demo application' }).click();
    await page.waitForURL(server.demo.demo_url);
    assert.match(await page.locator('#demo-dev').innerText(), /development setup/, 'the demo says what it is');
    await shot(page, `${name}-02-demo`);

    const document = await (await page.request.get(discovery)).json();
    assert.equal(document.issuer, server.demo.authenticator_url);
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});

test('demo_opened_at_127_0_0_1_says_to_open_it_at_localhost', async () => {
  const name = 'demo_opened_at_127_0_0_1_says_to_open_it_at_localhost';
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const response = await page.goto(`http://127.0.0.1:${server.port}/demo/`);
    assert.equal(response.status(), 421);
    await page.getByRole('heading', { name: `Open the demo at ${server.demo.demo_url}` }).waitFor();
    await shot(page, `${name}-01-wrong-address`);
    assert.equal(await page.getByRole('link', { name: 'Sign in with passkey' }).count(), 0,
      'no sign-in that would fail with a state error later');
    assert.equal((await context.cookies()).length, 0, 'nothing was started at the wrong address');

    await page.getByRole('link', { name: server.demo.demo_url }).click();
    await page.waitForURL(server.demo.demo_url);
    await page.getByRole('link', { name: 'Sign in with passkey' }).waitFor();
    await shot(page, `${name}-02-right-address`);
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});

test('claims_page_shows_readable_times_copies_the_token_and_fits_a_phone', async () => {
  const name = 'claims_page_shows_readable_times_copies_the_token_and_fits_a_phone';
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.base });
    await page.setViewportSize(PHONE);
    await startAtDemo(page, server);
    await signUpFromLogin(page, { username: uniqueUser('claims'), displayName: 'Dorothy Vaughan' });
    const claims = await demoClaims(page);
    await shot(page, `${name}-01-claims`);

    for (const claim of ['iat', 'exp', 'auth_time']) {
      const row = page.locator('table.claims tr', { has: page.locator('th', { hasText: new RegExp(`^${claim}$`) }) });
      const expected = new Date(claims[claim] * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
      assert.equal((await row.locator('td').innerText()).trim(), `${claims[claim]} (${expected})`, claim);
    }

    const width = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(width[0] <= width[1], `nothing wider than the phone's screen: ${width[0]} > ${width[1]}`);
    const overflowing = await page.evaluate(() => [...document.querySelectorAll('table.claims th, table.claims td')]
      .filter((cell) => cell.scrollWidth > cell.clientWidth).map((cell) => cell.textContent));
    assert.deepEqual(overflowing, [], 'no claim name or value runs into its neighbour');

    await page.getByRole('button', { name: 'Copy the ID token' }).click();
    await page.locator('#status.ok').getByText('Copied.').waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copied, await page.getByLabel(/signed JWT/).inputValue(), 'the raw token is what was copied');
    assert.equal(copied.split('.').length, 3, 'a compact JWS');
    const payload = JSON.parse(Buffer.from(copied.split('.')[1], 'base64url').toString('utf8'));
    assert.equal(payload.sub, claims.sub, 'the copied token is the one whose claims are shown');
    await shot(page, `${name}-02-copied`);
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});

test('signing_out_of_the_demo_says_so', async () => {
  const name = 'signing_out_of_the_demo_says_so';
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await startAtDemo(page, server);
    await signUpFromLogin(page, { username: uniqueUser('bye'), displayName: 'Annie Easley' });
    await demoClaims(page);
    assert.ok(await hasSession(context));
    await page.getByRole('link', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.pathname === '/demo/');
    const notice = page.locator('#notice');
    await notice.waitFor();
    await shot(page, `${name}-01-signed-out`);
    assert.match(await notice.innerText(), /You are signed out/);
    assert.equal(await hasSession(context), false, 'the session at Tessera ended too');

    // An ordinary visit of the demo says nothing of the kind.
    await page.goto(server.demo.demo_url);
    assert.equal(await page.locator('#notice').count(), 0);
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});

test('account_page_opened_from_the_demo_links_back_to_it', async () => {
  const name = 'account_page_opened_from_the_demo_links_back_to_it';
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await startAtDemo(page, server);
    await signUpFromLogin(page, { username: uniqueUser('back'), displayName: 'Christine Darden' });
    await demoClaims(page);
    await page.getByRole('link', { name: 'Manage your passkeys' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await shot(page, `${name}-01-account`);
    await page.getByRole('link', { name: 'Back to Tessera demo app' }).click();
    await page.waitForURL(server.demo.demo_url);

    // Opened directly, the account page names no application.
    await page.goto(`${server.base}/${TENANT}/account`);
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    assert.equal(await page.locator('#back-to-app').count(), 0);
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});

test('a_new_error_on_the_account_page_clears_the_old_success_message', async () => {
  const name = 'a_new_error_on_the_account_page_clears_the_old_success_message';
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await signUpToAccount(page, server, 'notice');
    const first = passkeyItems(page).nth(0);
    const oldName = (await first.locator('.passkey-name').innerText()).trim();
    await first.getByLabel(`New name for ${oldName}`).fill('Work laptop');
    await first.getByRole('button', { name: 'Rename' }).click();
    await page.waitForURL((url) => url.searchParams.get('done') === 'renamed');
    assert.ok(await page.locator('#notice').isVisible(), 'the rename is confirmed');

    // This device already holds the account's passkey: adding another here fails, and the page says so alone.
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    const error = page.locator('#status.error');
    await error.waitFor();
    await shot(page, `${name}-01-error-alone`);
    assert.match(await error.innerText(), /already holds a passkey/);
    assert.equal(await page.locator('#notice').isVisible(), false, 'the old "renamed" message is gone');
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});

test('sign_in_page_stays_silent_when_the_background_autofill_request_is_cancelled', async () => {
  const name = 'sign_in_page_stays_silent_when_the_background_autofill_request_is_cancelled';
  // As a browser does when the person dismisses autofill, or another request replaces it: the conditional get()
  // ends with NotAllowedError before any click. A modal get() the person starts still reports its failure.
  const { context, page } = await pageWithAuthenticator(browser, {});
  try {
    await context.addInitScript(() => {
      window.__conditionalRequests = 0;
      const get = navigator.credentials.get.bind(navigator.credentials);
      navigator.credentials.get = (options) => {
        if (options && options.mediation === 'conditional') {
          window.__conditionalRequests += 1;
          return Promise.reject(new DOMException('The operation either timed out or was not allowed.', 'NotAllowedError'));
        }
        if (options && options.publicKey) {
          return Promise.reject(new DOMException('The operation either timed out or was not allowed.', 'NotAllowedError'));
        }
        return get(options);
      };
    });
    await startAtDemo(page, server);
    await page.waitForFunction(() => window.__conditionalRequests > 0);
    await page.waitForTimeout(300);
    await shot(page, `${name}-01-quiet`);
    assert.equal((await page.locator('#status').innerText()).trim(), '', 'nothing is said before any click');
    assert.equal(await page.locator('#status.error').count(), 0);

    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const error = page.locator('#status.error');
    await error.waitFor();
    await shot(page, `${name}-02-after-a-click`);
    assert.match(await error.innerText(), /cancelled or timed out/);
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});
