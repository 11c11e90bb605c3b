// Steps the browser tests share: going through the demo relying party, signing up, signing in, reading the claims the
// demo shows, and looking at the session cookie. Pages are driven by their labels and roles (what a user sees).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

/** The tenant every test uses. */
export const TENANT = 'mytenant';

/** The authenticator service's session cookie for the tenant. */
export const SESSION_COOKIE = `__Host-tessera-${TENANT}`;

/** A username no other test (or earlier run) uses. */
export function uniqueUser(prefix) {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Whether the browser context holds a session at the authenticator service. */
export async function hasSession(context) {
  return (await context.cookies()).some((c) => c.name === SESSION_COOKIE);
}

/** Forgets the authenticator service's session (as a browser restart without the session cookie would). */
export async function dropSession(context) {
  await context.clearCookies({ name: SESSION_COOKIE });
}

/** Opens the demo relying party and follows "Sign in with passkey" to the service's sign-in page. */
export async function startAtDemo(page, server) {
  await page.goto(server.demo.demo_url);
  await page.getByRole('link', { name: 'Sign in with passkey' }).click();
  await page.waitForURL((url) => url.pathname === `/${TENANT}/login`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
}

/** On the sign-in page: "Create an account", then fills the sign-up form and creates the passkey. */
export async function signUpFromLogin(page, user) {
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.waitForURL((url) => url.pathname === `/${TENANT}/signup`);
  await fillSignUp(page, user);
}

/** Fills the sign-up form (username, name, email) without submitting it. */
export async function fillSignUpForm(page, { username, displayName, email }) {
  await page.getByRole('heading', { name: 'Create your account' }).waitFor();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Your name').fill(displayName);
  if (email) await page.getByLabel('Email').fill(email);
}

/** Fills the sign-up form and presses the button that creates the passkey. */
export async function fillSignUp(page, user) {
  await fillSignUpForm(page, user);
  await page.getByRole('button', { name: 'Create account with a passkey' }).click();
}

/** Waits for the demo relying party's callback page and returns the ID token claims it shows. */
export async function demoClaims(page) {
  await page.waitForURL((url) => url.pathname === '/demo/callback', { timeout: 15000 });
  const heading = await page.getByRole('heading', { level: 1 }).textContent();
  if (heading !== 'Signed in') {
    const text = await page.locator('main').innerText();
    assert.fail(`the demo relying party did not sign in: ${text}`);
  }
  const rows = await page.locator('table tr').evaluateAll((trs) =>
    // The demo puts the value in `.claim-value` (a readable date may follow); the test relying party has bare cells.
    trs.map((tr) => [tr.querySelector('th')?.textContent ?? '',
      (tr.querySelector('td .claim-value') ?? tr.querySelector('td'))?.textContent ?? '']));
  const claims = {};
  for (const [k, v] of rows) {
    try { claims[k] = JSON.parse(v); } catch { claims[k] = v; }
  }
  return claims;
}

/**
 * On the account page: opens the confirmation of passkey `name` ("Delete" discloses the question), then answers
 * "Yes, delete it". Returns nothing; the caller waits for what follows.
 */
export async function deletePasskey(page, name) {
  await page.locator('summary', { hasText: `Delete passkey ${name}` }).click();
  await page.getByRole('button', { name: `Yes, delete passkey ${name}` }).click();
}

/** How many passkeys of the account page offer a delete step (none when only one is left). */
export async function deleteOfferCount(page) {
  return page.locator('details.confirm').count();
}

/** Waits until the status region shows an error, and returns its text. */
export async function waitForStatusError(page) {
  const status = page.locator('#status.error');
  await status.waitFor({ timeout: 15000 });
  return (await status.textContent()).trim();
}

/** Checks the claims every sign-in through the demo must carry. */
export function assertPasskeyClaims(claims, server) {
  assert.equal(claims.iss, server.demo.authenticator_url);
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  assert.deepEqual(aud, [server.demo.demo_client_id], 'the token is for the demo client only');
  assert.ok(typeof claims.sub === 'string' && claims.sub.length > 0, 'sub is present');
  const amr = Array.isArray(claims.amr) ? claims.amr : [claims.amr];
  assert.ok(amr.includes('user') || amr.includes('mfa'), `amr names the user verification: ${JSON.stringify(amr)}`);
  assert.ok(amr.includes('hwk') || amr.includes('swk'), `amr names the key kind: ${JSON.stringify(amr)}`);
  assert.ok(typeof claims.acr === 'string' && claims.acr.length > 0, 'acr is present');
  assert.ok(Number.isInteger(claims.auth_time), 'auth_time is present');
}
