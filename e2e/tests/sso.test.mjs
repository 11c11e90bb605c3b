// The browser session at the authenticator service and the authorization request's `prompt`: a signed-in user goes
// straight back to the client; `prompt=login` asks again; `prompt=none` without a session answers `login_required`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { TENANT, uniqueUser, startAtDemo, signUpFromLogin, demoClaims } from '../lib/flows.mjs';
import { watchCallbacks, callbackParams } from '../lib/scenarios.mjs';

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

/** An authorization URL for the demo client (query response mode) with extra parameters. */
function authorizeUrl(extra) {
  const url = new URL(`${server.demo.authenticator_url}/authorize`);
  const params = {
    client_id: server.demo.demo_client_id, redirect_uri: server.demo.demo_redirect_uri, response_type: 'code',
    scope: 'openid', state: 'st-sso', nonce: 'n-sso', response_mode: 'query', ...extra,
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

/** Every main-frame URL the page visits. */
function visited(page) {
  const urls = [];
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) urls.push(new URL(frame.url()).pathname); });
  return urls;
}

async function signedIn(page) {
  await startAtDemo(page, server);
  await signUpFromLogin(page, { username: uniqueUser('sso'), displayName: 'Session User' });
  return demoClaims(page);
}

test('existing_session_returns_to_the_client_without_a_page', async () => {
  const name = 'existing_session_returns_to_the_client_without_a_page';
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const first = await signedIn(page);
    const paths = visited(page);
    await page.goto(server.demo.demo_url);
    await page.getByRole('link', { name: 'Sign in with passkey' }).click();
    const again = await demoClaims(page);
    await shot(page, `${name}-01-signed-in-again`);
    assert.ok(!paths.includes(`/${TENANT}/login`), `no sign-in page on the way: ${paths.join(' → ')}`);
    assert.equal(again.sub, first.sub);
    assert.equal(again.auth_time, first.auth_time, 'the same authentication, not a new one');
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});

test('prompt_login_shows_the_sign_in_page_despite_a_session', async () => {
  const name = 'prompt_login_shows_the_sign_in_page_despite_a_session';
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const claims = await signedIn(page);
    const seen = watchCallbacks(page);
    await page.goto(authorizeUrl({ prompt: 'login' }));
    await page.waitForURL((url) => url.pathname === `/${TENANT}/login`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot(page, `${name}-01-sign-in-page`);
    assert.equal(seen.callbacks.length, 0, 'no code without a new sign-in');

    // Signing in again sends the code (this URL asked for the query response mode, which the demo app itself
    // does not accept: the code in the callback URL is what counts here).
    await page.getByLabel('Username').fill(claims.preferred_username);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((url) => url.pathname === '/demo/callback');
    const answer = callbackParams(seen.callbacks[0]);
    assert.ok(answer.code, 'a code after the new sign-in');
    assert.equal(answer.state, 'st-sso');
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});

test('prompt_none_without_session_answers_login_required', async () => {
  const name = 'prompt_none_without_session_answers_login_required';
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const seen = watchCallbacks(page);
    const paths = visited(page);
    await page.goto(authorizeUrl({ prompt: 'none' }));
    await page.waitForURL((url) => url.pathname === '/demo/callback');
    await shot(page, `${name}-01-at-callback`);
    assert.ok(!paths.includes(`/${TENANT}/login`), 'no page was shown');
    const answer = callbackParams(seen.callbacks[0]);
    assert.equal(answer.error, 'login_required');
    assert.equal(answer.state, 'st-sso');
    assert.equal(answer.iss, server.demo.authenticator_url);
    assert.equal(answer.code, undefined);
  } catch (e) {
    throw await onFailure(e, context, name, server);
  } finally {
    await context.close();
  }
});
