// What the browser itself enforces for Tessera, checked in the browser: a passkey cannot be used from another origin
// (phishing resistance), and the sign-in page cannot be framed by another site (clickjacking; CSP frame-ancestors).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import {
  TENANT, uniqueUser, hasSession, dropSession, startAtDemo, signUpFromLogin, demoClaims, waitForStatusError,
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

test('passkey_is_not_usable_from_another_origin', async () => {
  // The same server reached as http://127.0.0.1:PORT is another origin than the tenant's http://localhost:PORT, as a
  // look-alike phishing host would be. The sign-in page there offers no form but says where to open it; the server
  // refuses the pages' calls from that origin all the same (and the browser would not use an RP ID of `localhost`
  // there anyway): nothing signed, no session.
  const { context, page, credentials } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const username = uniqueUser('phish');
    await startAtDemo(page, server);
    await signUpFromLogin(page, { username, displayName: 'Target User' });
    await demoClaims(page);
    await dropSession(context);
    const before = (await credentials())[0].signCount;

    const lookAlike = `http://127.0.0.1:${server.port}/${TENANT}/login?authz=abc`;
    const response = await page.goto(lookAlike);
    assert.equal(response.status(), 421, 'the look-alike address is not served as the sign-in page');
    await page.getByRole('heading', { name: `Open this page at ${server.base}` }).waitFor();
    await shot(page, 'passkey_is_not_usable_from_another_origin-01-refused');
    assert.equal(await page.locator('#login-form').count(), 0, 'no sign-in form at the look-alike address');
    const status = await page.evaluate(async (tenant) => {
      const reply = await fetch(`/${tenant}/webauthn/login/options`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
      });
      return reply.status;
    }, TENANT);
    assert.equal(status, 403, 'a call of the pages from the look-alike origin is refused');
    assert.equal((await credentials())[0].signCount, before, 'the authenticator signed nothing');
    assert.equal(await hasSession(context), false, 'no session at either origin');

    // The page's link leads to the same page at the tenant's own address.
    await page.getByRole('link', { name: `Open it at ${server.base}` }).click();
    await page.waitForURL(`${server.base}/${TENANT}/login?authz=abc`);
    await shot(page, 'passkey_is_not_usable_from_another_origin-02-right-address');
  } catch (e) {
    throw await onFailure(e, context, 'passkey_is_not_usable_from_another_origin', server);
  } finally {
    await context.close();
  }
});

test('login_page_cannot_be_framed_by_another_site', async () => {
  const framer = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Framer</title><h1>Another site</h1>
      <iframe id="victim" title="victim" src="${server.base}/${TENANT}/login" width="600" height="400"></iframe>`);
  });
  await new Promise((resolve) => framer.listen(0, '127.0.0.1', resolve));
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await page.goto(`http://127.0.0.1:${framer.address().port}/`);
    await page.waitForTimeout(500);
    await shot(page, 'login_page_cannot_be_framed_by_another_site-01-blocked');
    const victim = page.frames().find((f) => f !== page.mainFrame());
    assert.ok(victim, 'the frame exists');
    const hasForm = await victim.locator('#login-form').count().catch(() => 0);
    assert.equal(hasForm, 0, 'the sign-in form did not render inside another site');
  } catch (e) {
    throw await onFailure(e, context, 'login_page_cannot_be_framed_by_another_site', server);
  } finally {
    await context.close();
    await new Promise((resolve) => framer.close(resolve));
  }
});
