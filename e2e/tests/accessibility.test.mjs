// The pages on a phone-sized screen and from the keyboard: every control named, nothing wider than the screen, touch
// targets of at least 24×24 CSS pixels (WCAG 2.2, 2.5.8), no script errors; and a keyboard-only sign-in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { TENANT, uniqueUser, dropSession, startAtDemo, signUpFromLogin, demoClaims, fillSignUp } from '../lib/flows.mjs';
import { PHONE, collectErrors, problems } from '../lib/a11y.mjs';

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

test('pages_are_usable_on_a_phone_and_with_a_screen_reader', async () => {
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await page.setViewportSize(PHONE);
    const errors = collectErrors(page);
    const report = {};

    await startAtDemo(page, server);
    report.login = await problems(page);
    await shot(page, 'pages_are_usable_on_a_phone_and_with_a_screen_reader-01-login');

    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    report.signup = await problems(page);
    await shot(page, 'pages_are_usable_on_a_phone_and_with_a_screen_reader-02-signup');

    const username = uniqueUser('phone');
    await page.goto(`${server.base}/${TENANT}/signup`);
    await fillSignUp(page, { username, displayName: 'Mary Jackson', email: `${username}@example.com` });
    await page.waitForURL((url) => url.pathname === `/${TENANT}/account`);
    report.account = await problems(page);
    await shot(page, 'pages_are_usable_on_a_phone_and_with_a_screen_reader-03-account');

    await page.goto(`${server.base}/${TENANT}/login?authz=expired-or-unknown`);
    report.expired = await problems(page);
    await shot(page, 'pages_are_usable_on_a_phone_and_with_a_screen_reader-04-expired-request');

    // The demo's claims page (the session signs in at once), the landing page, and a page opened at 127.0.0.1.
    await page.goto(server.demo.demo_url);
    await page.getByRole('link', { name: 'Sign in with passkey' }).click();
    await page.waitForURL((url) => url.pathname === '/demo/callback');
    report.claims = await problems(page);
    await shot(page, 'pages_are_usable_on_a_phone_and_with_a_screen_reader-05-claims');
    await page.goto(`${server.base}/`);
    report.landing = await problems(page);
    await shot(page, 'pages_are_usable_on_a_phone_and_with_a_screen_reader-06-landing');
    await page.goto(`http://127.0.0.1:${server.port}/${TENANT}/login`);
    report.wrongAddress = await problems(page);
    await shot(page, 'pages_are_usable_on_a_phone_and_with_a_screen_reader-07-wrong-address');

    assert.deepEqual(report, {
      login: [], signup: [], account: [], expired: [], claims: [], landing: [], wrongAddress: [],
    });
    assert.deepEqual(errors, [], 'no script or console errors');
  } catch (e) {
    throw await onFailure(e, context, 'pages_are_usable_on_a_phone_and_with_a_screen_reader', server);
  } finally {
    await context.close();
  }
});

test('pages_follow_a_dark_color_scheme', async () => {
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await page.emulateMedia({ colorScheme: 'dark' });
    await startAtDemo(page, server);
    await shot(page, 'pages_follow_a_dark_color_scheme-01-login');
    const { background, color } = await page.evaluate(() => {
      const style = getComputedStyle(document.body);
      return { background: style.backgroundColor, color: style.color };
    });
    const light = (rgb) => rgb.match(/\d+/g).slice(0, 3).map(Number).reduce((a, b) => a + b, 0) / 3;
    assert.ok(light(background) < 80, `a dark background: ${background}`);
    assert.ok(light(color) > 170, `light text: ${color}`);
  } catch (e) {
    throw await onFailure(e, context, 'pages_follow_a_dark_color_scheme', server);
  } finally {
    await context.close();
  }
});

test('signin_by_username_with_the_keyboard_only', async () => {
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const username = uniqueUser('keys');
    await startAtDemo(page, server);
    await signUpFromLogin(page, { username, displayName: 'Keyboard User' });
    const claims = await demoClaims(page);
    await dropSession(context);

    await startAtDemo(page, server);
    let focused = '';
    for (let i = 0; i < 10 && focused !== 'username'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.id ?? '');
    }
    assert.equal(focused, 'username', 'Tab reaches the username field');
    await page.keyboard.type(username);
    await page.keyboard.press('Enter');
    const again = await demoClaims(page);
    await shot(page, 'signin_by_username_with_the_keyboard_only-01-signed-in');
    assert.equal(again.sub, claims.sub);
  } catch (e) {
    throw await onFailure(e, context, 'signin_by_username_with_the_keyboard_only', server);
  } finally {
    await context.close();
  }
});

test('favicon_is_served_so_no_page_logs_a_missing_icon', async () => {
  const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    const errors = collectErrors(page);
    const icons = [];
    page.on('response', (r) => { if (new URL(r.url()).pathname === '/favicon.ico') icons.push(r.status()); });
    // A page of the service without its own icon link (the authorization endpoint's error page): the browser asks
    // for /favicon.ico by itself.
    await page.goto(`${server.base}/${TENANT}/oidc/authorize?client_id=nosuchclient&response_type=code`);
    await page.goto(`${server.base}/${TENANT}/login`);
    const icon = await page.request.get(`${server.base}/favicon.ico`);
    assert.equal(icon.status(), 200);
    assert.equal(icon.headers()['content-type'], 'image/x-icon');
    assert.match(icon.headers()['cache-control'] ?? '', /max-age=\d+/);
    assert.ok(icons.every((status) => status === 200), `icon answers: ${icons}`);
    assert.deepEqual(errors.filter((e) => /favicon/.test(e)), [], 'no missing-icon error');
  } catch (e) {
    throw await onFailure(e, context, 'favicon_is_served_so_no_page_logs_a_missing_icon', server);
  } finally {
    await context.close();
  }
});
