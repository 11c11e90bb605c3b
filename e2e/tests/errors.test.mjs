// An authorization request the service cannot trust with a redirect gets an error page: the browser stays at the
// authenticator service and never goes to the unregistered address (OpenID Connect Core §3.1.2.6, RFC 9700 §4.1).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';

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

/** An authorization URL for the demo client with the given parameters replaced. */
function authorizeUrl(overrides) {
  const url = new URL(`${server.demo.authenticator_url}/authorize`);
  const params = {
    client_id: server.demo.demo_client_id, redirect_uri: server.demo.demo_redirect_uri, response_type: 'code',
    scope: 'openid profile', state: 'st-123', nonce: 'n-456', ...overrides,
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

/** Opens `url` and checks that an error page is shown at the authenticator service and nothing goes elsewhere. */
async function expectErrorPage(page, url, shotName) {
  const elsewhere = [];
  page.on('request', (request) => {
    if (new URL(request.url()).host !== new URL(server.base).host) elsewhere.push(request.url());
  });
  const response = await page.goto(url);
  await shot(page, shotName);
  assert.ok(response.status() >= 400 && response.status() < 500, `a client error status, not ${response.status()}`);
  assert.equal(new URL(page.url()).pathname, '/mytenant/oidc/authorize', 'the browser stays on the authorize URL');
  assert.deepEqual(elsewhere, [], 'no request left the authenticator service');
  const heading = (await page.getByRole('heading', { level: 1 }).innerText()).trim();
  assert.ok(heading.length > 0, 'the error page has a heading');
  // Give a (wrongly) scheduled navigation the chance to happen, then check the page is still there.
  await page.waitForTimeout(300);
  assert.equal(new URL(page.url()).pathname, '/mytenant/oidc/authorize');
  assert.deepEqual(elsewhere, []);
  return { heading, text: await page.locator('body').innerText() };
}

test('unregistered_redirect_uri_shows_error_page', async () => {
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const { text } = await expectErrorPage(page,
      authorizeUrl({ redirect_uri: 'https://evil.example/callback' }),
      'unregistered_redirect_uri_shows_error_page-01-error-page');
    assert.match(text, /address it has not registered/i, 'the page says the return address is the problem');
    assert.doesNotMatch(text, /evil\.example\/callback\?/, 'no link that would carry a response there');
  } catch (e) {
    throw await onFailure(e, context, 'unregistered_redirect_uri_shows_error_page', server);
  } finally {
    await context.close();
  }
});

test('redirect_uri_differing_only_in_a_trailing_slash_shows_error_page', async () => {
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await expectErrorPage(page, authorizeUrl({ redirect_uri: `${server.demo.demo_redirect_uri}/` }),
      'redirect_uri_differing_only_in_a_trailing_slash_shows_error_page-01-error-page');
  } catch (e) {
    throw await onFailure(e, context, 'redirect_uri_differing_only_in_a_trailing_slash_shows_error_page', server);
  } finally {
    await context.close();
  }
});

test('unknown_client_shows_error_page', async () => {
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const { text } = await expectErrorPage(page, authorizeUrl({ client_id: 'no-such-client' }),
      'unknown_client_shows_error_page-01-error-page');
    assert.match(text, /application .*not registered/i, 'the page says the application is the problem');
  } catch (e) {
    throw await onFailure(e, context, 'unknown_client_shows_error_page', server);
  } finally {
    await context.close();
  }
});
