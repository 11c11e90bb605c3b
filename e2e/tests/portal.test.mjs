// The tutorial end to end in a real browser, configured in the admin portal: `tessera demo` on a fresh data dir
// prints a one-time bootstrap link; opening it enrols the first administrator's passkey at the admin tenant (Chromium's
// virtual authenticator); then, in the portal: a broker tenant, a client for it at the authenticator tenant `mytenant`
// (its secret shown once), the identity provider "Nok Nok Authentication Provider" with the tutorial's values
// (metadata URL of `mytenant`), its claim mapping, the user flow `signupsignin` collecting the email and returning the
// tutorial's application claims, the application `jwt-viewer` replying to the token viewer; then "Run user flow" opens
// a new tab, the user signs up with a passkey at the authenticator, gives the email on the broker's attribute page and
// lands at the token viewer (run 1 of SCENARIO.md). On that configuration, the other runs: 2 (the same user signs in
// again: no attribute page, same object id, `amr`/`acr`/`auth_time` of the new sign-in), 3 (no username: "Sign in
// with a passkey"), 5 (the sign-up abandoned at the attribute page writes no directory user: the API's directory
// listing), 6 (cancelled at the provider, and a passkey that fails: the token viewer shows the OAuth error) and 7 (a
// second identity provider added to the flow in the portal: the broker's choice page). An API token made in the
// portal then drives the same configuration once through `tessera admin` and once through the REST API; the three
// tenants, read back through the API and normalised, are equal, and the CLI's and the API's run to the token viewer
// too. The tests of one store share one server and run in order (each needs the one before). Screenshots of each page
// land in target/e2e/. On SQLite always; on PostgreSQL when TEST_PG_URL is set.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure, shotsDir,
} from '../lib/harness.mjs';
import { SESSION_COOKIE, uniqueUser, waitForStatusError } from '../lib/flows.mjs';
import { collectErrors, problems, PHONE } from '../lib/a11y.mjs';
import { adminApi, adminCli, tenantConfiguration } from '../lib/admin.mjs';

const PG_SKIP = process.env.TEST_PG_URL
  ? false
  : 'PostgreSQL browser tests skipped: TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)';

const DESKTOP = { width: 1280, height: 720 };

/** The application claims the tutorial returns, as the portal labels them. */
const TUTORIAL_CLAIMS = ['Email Addresses (emails)', 'Display Name (name)', 'Identity Provider (idp)',
  "User's Object ID (oid)", 'User is new (newUser)'];
/** The same claims as the CLI and the API name them. */
const CLAIM_VALUES = ['email', 'display-name', 'identity-provider', 'object-id', 'new-user'];

/** The bootstrap link the server printed at start. */
async function bootstrapLink(server) {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const found = server.output().match(/Admin bootstrap: (\S+)/);
    if (found) return found[1];
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no bootstrap link printed:\n${server.output()}`);
}

/** At the token viewer: the signature is verified; returns the token's claims (decoded from the raw token). */
async function viewerClaims(page) {
  await page.waitForURL((url) => url.pathname === '/jwt');
  await page.getByRole('heading', { name: 'Token viewer' }).waitFor();
  const signature = await page.locator('#signature').innerText();
  assert.match(signature, /Signature verified/, signature);
  const raw = await page.locator('#raw-token').inputValue();
  return JSON.parse(Buffer.from(raw.split('.')[1], 'base64url').toString('utf8'));
}

/** At the token viewer with an OAuth error instead of a token: returns the error code shown. */
async function viewerError(page) {
  await page.waitForURL((url) => url.pathname === '/jwt');
  await page.getByRole('heading', { name: 'Token viewer' }).waitFor();
  assert.equal(await page.locator('#raw-token').count(), 0, 'no token');
  return (await page.locator('#viewer-error-code').innerText()).trim();
}

/** Forgets the sign-ins at the authenticator service and at the broker tenant (a later visit, cookies gone). */
async function forgetSignIns(context, tenant) {
  await context.clearCookies({ name: SESSION_COOKIE });
  await context.clearCookies({ name: `__Host-tessera_broker_${tenant}` });
}

/** Every answer with a status of 500 or more that `page` receives. */
function serverErrors(page) {
  const seen = [];
  page.on('response', (r) => { if (r.status() >= 500) seen.push(`${r.status()} ${r.url()}`); });
  return seen;
}

/** Signs up at the authenticator tenant's page (from its sign-in page) with a new passkey. */
async function signUpAtProvider(page, username, displayName) {
  await page.waitForURL((url) => url.pathname === '/mytenant/login');
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.waitForURL((url) => url.pathname === '/mytenant/signup');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Your name').fill(displayName);
  await page.getByRole('button', { name: 'Create account with a passkey' }).click();
}

/** The broker's attribute page: gives the email and continues. */
async function giveEmail(page, email, shotName) {
  await page.getByRole('heading', { name: 'Complete your profile' }).waitFor();
  await page.getByLabel('Email address').fill(email);
  if (shotName) await shot(page, shotName);
  await page.getByRole('button', { name: 'Continue' }).click();
}

for (const [store, skip] of [['sqlite', false], ['postgres', PG_SKIP]]) {
  describe(`admin portal on ${store}`, { skip }, () => {
    const name = (base) => (store === 'sqlite' ? base : `${base}-${store}`);
    let server;
    let browser;
    /** The signed-in administrator's browser context and portal page (test 1 signs in; the last test signs out). */
    let admin = null;
    /** What run 1 left for the others: the user, their first token, the run tab holding their passkey. */
    let tutorial = null;
    /** The API token made in the portal, and the REST client with it. */
    let automation = null;

    const need = (what, value) => {
      assert.ok(value, `${what} is missing: an earlier test of this file failed`);
      return value;
    };

    before(async () => {
      server = await startDemo({ store });
      browser = await launchBrowser();
    });

    after(async () => {
      await admin?.context.close();
      await browser?.close();
      await server?.stop();
      if (automation) rmSync(automation.profileDir, { recursive: true, force: true });
    });

    test('portal_tutorial_from_bootstrap_to_token_viewer', async () => {
      const link = await bootstrapLink(server);
      const base = server.base;
      const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
      admin = { context, page };
      const report = {};
      const check = async (key) => { report[key] = await problems(page); };
      try {
        const errors = collectErrors(page);
        // No session: the portal sends to its sign-in page.
        await page.goto(`${base}/admin/`);
        await page.waitForURL((url) => url.pathname === '/admin/signin');
        await page.getByRole('heading', { name: 'Sign in to the Tessera admin portal' }).waitFor();
        await shot(page, name('portal-01-sign-in'));
        await check('signin');

        // The bootstrap link: the admin tenant's sign-up page, a passkey, and the portal as global admin.
        await page.goto(link);
        await page.waitForURL((url) => url.pathname === '/tessera-admin/signup');
        await page.getByRole('heading', { name: 'Create your account' }).waitFor();
        await shot(page, name('portal-02-bootstrap-enrol'));
        await page.getByLabel('Username').fill('root-admin');
        await page.getByLabel('Your name').fill('Root Admin');
        await page.getByRole('button', { name: 'Create account with a passkey' }).click();
        await page.waitForURL((url) => url.pathname === '/admin/');
        await page.getByRole('heading', { name: 'Tessera admin portal' }).waitFor();
        assert.match(await page.locator('#signed-in-as').innerText(), /root-admin \(global admin\)/);
        const cookie = (await context.cookies()).find((c) => c.name === 'tessera-admin');
        assert.ok(cookie, 'a portal session cookie');
        assert.equal(cookie.httpOnly, true);
        assert.equal(cookie.secure, true);
        assert.equal(cookie.sameSite, 'Strict');
        await shot(page, name('portal-03-home'));
        await check('home');

        // A broker tenant of our own (the demo's `contoso` already has the tutorial's flow).
        await page.getByRole('link', { name: 'New broker tenant' }).click();
        await page.getByLabel('Tenant id').fill('Fabrikam!');
        await page.getByRole('button', { name: 'Create' }).click();
        await page.getByRole('alert').waitFor();
        const idField = page.getByLabel('Tenant id');
        assert.equal(await idField.getAttribute('aria-invalid'), 'true');
        assert.match(await idField.getAttribute('aria-describedby'), /error-id/);
        await shot(page, name('portal-04-broker-tenant-error'));
        await check('tenantError');
        await idField.fill('fabrikam');
        await page.getByLabel('Display name').fill('Fabrikam');
        await page.getByRole('button', { name: 'Create' }).click();
        await page.waitForURL((url) => url.pathname === '/admin/broker/fabrikam/');

        // The broker's client at the authenticator tenant `mytenant` (the tutorial's "client id and secret").
        await page.getByRole('link', { name: 'Home', exact: true }).first().click();
        await page.getByRole('link', { name: /\(mytenant\)/ }).click();
        await page.getByRole('link', { name: 'New client' }).click();
        await page.getByLabel('Name').fill('Fabrikam (identity broker)');
        await page.getByLabel('Redirect URIs').fill(`${base}/fabrikam/oauth2/authresp`);
        await page.getByLabel('Allow http://localhost addresses (development only)').check();
        await shot(page, name('portal-05-new-client'));
        await page.getByRole('button', { name: 'Create' }).click();
        await page.locator('#secret-value').waitFor();
        const secret = await page.locator('#secret-value').inputValue();
        const clientId = (await page.locator('#client-overview dd').first().innerText()).trim();
        assert.ok(secret.length > 20 && clientId.length > 10, 'client id and secret shown');
        await shot(page, name('portal-06-client-secret-once'));
        await check('clientSecret');

        // Identity providers → Add → OpenID Connect, with the tutorial's values.
        await page.goto(`${base}/admin/broker/fabrikam/`);
        await page.getByRole('link', { name: 'Identity providers' }).click();
        await page.getByRole('heading', { name: 'Identity providers' }).waitFor();
        await page.getByRole('link', { name: 'Add' }).click();
        await page.getByRole('link', { name: 'OpenID Connect' }).click();
        await page.getByRole('heading', { name: 'OpenID Connect' }).waitFor();
        await page.getByLabel('Name', { exact: true }).fill('Nok Nok Authentication Provider');
        await page.getByLabel('Metadata URL').fill(`${base}/mytenant/oidc/.well-known/openid-configuration`);
        await page.getByLabel('Client ID').fill(clientId);
        await page.getByLabel('Client secret').fill(secret);
        await page.getByLabel('Scope').fill('openid profile email');
        await page.getByLabel('Response type').selectOption('code');
        await page.getByLabel('Response mode').selectOption('form_post');
        await shot(page, name('portal-07-openid-connect'));
        await check('providerForm');
        await page.getByRole('button', { name: 'OK' }).click();
        await page.getByRole('heading', { name: 'Nok Nok Authentication Provider' }).waitFor();
        await shot(page, name('portal-08-provider'));
        await check('providerPage');

        // A metadata URL that does not answer is refused at save time, next to its field; nothing changes.
        await page.getByRole('link', { name: 'Edit the connection' }).click();
        await page.getByLabel('Metadata URL').fill(`${base}/nowhere/oidc/.well-known/openid-configuration`);
        await page.getByRole('button', { name: 'Save' }).click();
        await page.getByRole('alert').waitFor();
        const metadataField = page.getByLabel('Metadata URL');
        assert.equal(await metadataField.getAttribute('aria-invalid'), 'true');
        assert.match(await page.locator('#error-metadata_url').innerText(), /\S/);
        await shot(page, name('portal-08b-provider-edit-refused'));
        await check('providerEditError');
        await page.getByRole('link', { name: 'Cancel' }).click();
        assert.match(await page.locator('#provider-settings').innerText(), /mytenant\/oidc\/.well-known/);

        // Map this identity provider's claims.
        await page.getByRole('link', { name: "Map this identity provider's claims" }).click();
        await page.getByLabel('User ID').fill('sub');
        await page.getByLabel('Display name').fill('name');
        await page.getByLabel('Email').fill('email');
        await shot(page, name('portal-09-map-claims'));
        await check('claimsForm');
        await page.getByRole('button', { name: 'Save' }).click();
        await page.locator('#notice').waitFor();
        assert.match(await page.locator('#claim-mapping').innerText(), /User ID\s+sub/);

        // The application "JWT" replying to the token viewer.
        await page.goto(`${base}/admin/broker/fabrikam/applications`);
        await page.getByRole('link', { name: 'New registration' }).click();
        await page.getByLabel('Name').fill('jwt-viewer');
        assert.equal(await page.getByLabel('Reply URLs').inputValue(), `${base}/jwt`);
        await page.getByRole('button', { name: 'Register' }).click();
        await page.getByRole('heading', { name: 'jwt-viewer' }).waitFor();
        await shot(page, name('portal-10-application'));
        await check('applicationPage');

        // User flows → New user flow → Sign up and sign in.
        await page.goto(`${base}/admin/broker/fabrikam/`);
        await page.getByRole('link', { name: 'User flows' }).click();
        await page.getByRole('link', { name: 'New user flow' }).click();
        await page.getByRole('link', { name: 'Sign up and sign in' }).click();
        await page.getByRole('heading', { name: 'Sign up and sign in' }).waitFor();
        await page.getByLabel('Name', { exact: true }).fill('signupsignin');
        await page.getByLabel('Nok Nok Authentication Provider').check();
        await page.getByLabel('Off').check();
        await page.getByLabel('Enforce conditional access policies').check();
        await page.getByLabel('Email Address', { exact: true }).check();
        // The form's own default, which the CLI and the API replay below.
        assert.equal(await page.getByLabel("User's Object ID (oid)").isChecked(), true);
        await shot(page, name('portal-11-new-user-flow'));
        await check('flowForm');
        await page.getByRole('button', { name: 'Create' }).click();
        await page.getByRole('heading', { name: 'B2C_1_signupsignin' }).waitFor();

        // Application claims: tick email, Save.
        await page.getByRole('link', { name: 'Application claims' }).click();
        for (const claim of TUTORIAL_CLAIMS) await page.getByLabel(claim).check();
        await shot(page, name('portal-12-application-claims'));
        await check('appClaimsForm');
        await page.getByRole('button', { name: 'Save' }).click();
        await page.locator('#notice').waitFor();
        assert.match(await page.locator('#flow-settings').innerText(), /Email Addresses/);
        await shot(page, name('portal-13-user-flow'));
        await check('flowPage');

        // Run user flow: in a new tab, sign up at the authenticator, give the email, land at the token viewer.
        await page.getByLabel('Reply URL').selectOption(`${base}/jwt`);
        assert.equal(await page.locator('#run-form').getAttribute('target'), '_blank');
        assert.equal(await page.locator('#run-form').getAttribute('rel'), 'noopener');
        const [run] = await Promise.all([
          context.waitForEvent('page'),
          page.getByRole('button', { name: 'Run user flow' }).click(),
        ]);
        // A virtual authenticator belongs to one tab: the new tab gets its own.
        const cdp = await context.newCDPSession(run);
        await cdp.send('WebAuthn.enable');
        const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
          options: {
            protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true,
            hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
          },
        });
        await run.waitForURL((url) => url.pathname === '/mytenant/login');
        const username = uniqueUser('portal');
        const email = `${username}@example.com`;
        await run.getByRole('link', { name: 'Create an account' }).click();
        await run.waitForURL((url) => url.pathname === '/mytenant/signup');
        await run.getByLabel('Username').fill(username);
        await run.getByLabel('Your name').fill('Ann Example');
        await run.getByRole('button', { name: 'Create account with a passkey' }).click();
        await run.getByRole('heading', { name: 'Complete your profile' }).waitFor();
        await run.getByLabel('Email address').fill(email);
        await shot(run, name('portal-14-run-attribute-page'));
        await run.getByRole('button', { name: 'Continue' }).click();
        await run.waitForURL((url) => url.pathname === '/jwt');
        await run.getByRole('heading', { name: 'Token viewer' }).waitFor();
        await shot(run, name('portal-15-token-viewer'));
        const signature = await run.locator('#signature').innerText();
        assert.match(signature, /Signature verified/, signature);
        assert.ok(signature.includes(`${base}/fabrikam/B2C_1_signupsignin/v2.0`), signature);
        assert.match(await run.locator('#claim-emails').innerText(), new RegExp(email.replace('.', '\\.')));
        const first = await viewerClaims(run);
        assert.deepEqual(first.emails, [email]);
        assert.equal(first.name, 'Ann Example', 'the display name mapped from the provider\'s name claim');
        assert.equal(first.newUser, true);
        assert.equal(first.idp, `${base}/mytenant/oidc`, 'the identity provider is the authenticator tenant');
        assert.ok(first.oid && first.oid === first.sub, 'the object id');
        assert.ok(['phr', 'phrh'].includes(first.acr), `a passkey sign-in stays phishing-resistant: ${first.acr}`);
        assert.ok(first.amr.includes('pop'), JSON.stringify(first.amr));
        assert.ok(Number.isInteger(first.auth_time));
        const runAgain = new URL(await run.getByRole('link', { name: 'Run again' }).getAttribute('href'), base);
        tutorial = {
          base, username, email, first, run, cdp, authenticatorId, runUrl: runAgain.toString(),
          application: first.aud,
        };

        // The audit trail lists what was done, the directory the new user.
        await page.goto(`${base}/admin/audit?tenant=fabrikam`);
        const audit = await page.locator('#audit-events').innerText();
        for (const action of ['broker.tenant.create', 'broker.provider.create', 'broker.provider.claims.update',
          'broker.user_flow.create', 'broker.user_flow.update', 'broker.application.create']) {
          assert.ok(audit.includes(action), `audit has ${action}`);
        }
        await shot(page, name('portal-16-audit'));
        await check('audit');
        await page.goto(`${base}/admin/broker/fabrikam/users?q=${encodeURIComponent(email)}`);
        assert.match(await page.locator('#users').innerText(), new RegExp(email.replace('.', '\\.')));
        await shot(page, name('portal-17-users'));
        await check('users');

        // On a phone: the flow page fits the screen and keeps its names.
        await page.setViewportSize(PHONE);
        await page.goto(`${base}/admin/broker/fabrikam/user-flows/B2C_1_signupsignin`);
        await shot(page, name('portal-18-user-flow-phone'));
        await check('flowPhone');

        // The bootstrap link works once.
        await page.goto(link);
        await page.getByRole('heading', { name: 'This bootstrap link does not work' }).waitFor();
        await shot(page, name('portal-19-bootstrap-spent'));
        await check('bootstrapSpent');

        await page.getByRole('link', { name: 'Go to the sign-in page' }).click();
        await page.setViewportSize(DESKTOP);

        assert.deepEqual(report, {
          signin: [], home: [], tenantError: [], clientSecret: [], providerForm: [], providerPage: [], providerEditError: [],
          claimsForm: [],
          applicationPage: [], flowForm: [], appClaimsForm: [], flowPage: [], audit: [], users: [], flowPhone: [],
          bootstrapSpent: [],
        });
        assert.deepEqual(errors, [], 'no script or console errors');
      } catch (e) {
        throw await onFailure(e, context, name('portal_tutorial'), server);
      }
    });

    test('portal_run2_same_user_signs_in_again_without_the_attribute_page', async () => {
      const { context } = need('the portal session', admin);
      const { run, username, email, first } = need('run 1', tutorial);
      try {
        const errors = serverErrors(run);
        await forgetSignIns(context, 'fabrikam');
        const started = Math.floor(Date.now() / 1000);
        await run.getByRole('link', { name: 'Run again' }).click();
        await run.waitForURL((url) => url.pathname === '/mytenant/login');
        await run.getByLabel('Username').fill(username);
        await shot(run, name('portal_run2-01-username'));
        await run.getByRole('button', { name: 'Continue' }).click();
        // Straight to the viewer: an attribute page would stop the run before it.
        const again = await viewerClaims(run);
        await shot(run, name('portal_run2-02-token-viewer'));
        assert.equal(again.oid, first.oid, 'the same directory user');
        assert.equal(again.sub, first.sub);
        assert.equal(again.newUser, undefined, 'not new any more');
        assert.deepEqual(again.emails, [email], 'the email given at sign-up');
        assert.equal(again.idp, first.idp);
        assert.ok(again.auth_time >= started, `auth_time is the new sign-in's: ${again.auth_time} < ${started}`);
        assert.ok(first.auth_time <= again.auth_time);
        assert.ok(['phr', 'phrh'].includes(again.acr), `acr carried through: ${again.acr}`);
        assert.ok(again.amr.includes('pop'), `amr carried through: ${JSON.stringify(again.amr)}`);
        assert.deepEqual(errors, [], 'never a 500');
      } catch (e) {
        throw await onFailure(e, context, name('portal_run2'), server);
      }
    });

    test('portal_run3_discoverable_sign_in_without_a_username', async () => {
      const { context } = need('the portal session', admin);
      const { run, cdp, authenticatorId, first } = need('run 1', tutorial);
      try {
        const errors = serverErrors(run);
        await forgetSignIns(context, 'fabrikam');
        await run.getByRole('link', { name: 'Run again' }).click();
        await run.waitForURL((url) => url.pathname === '/mytenant/login');
        assert.equal(await run.getByLabel('Username').inputValue(), '', 'nothing typed');
        await shot(run, name('portal_run3-01-sign-in-page'));
        const options = run.waitForRequest((r) => r.url().endsWith('/mytenant/webauthn/login/options'));
        await run.getByRole('button', { name: 'Sign in with a passkey' }).click();
        assert.equal((await options).postDataJSON().username ?? null, null, 'no username sent');
        const again = await viewerClaims(run);
        await shot(run, name('portal_run3-02-token-viewer'));
        assert.equal(again.oid, first.oid, 'the resident passkey found the same user');
        assert.equal(again.newUser, undefined);
        const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
        assert.equal(credentials.length, 1, 'no new passkey');
        assert.deepEqual(errors, [], 'never a 500');
      } catch (e) {
        throw await onFailure(e, context, name('portal_run3'), server);
      }
    });

    test('portal_api_token_for_the_cli_and_the_rest_api', async () => {
      const { page } = need('the portal session', admin);
      const { base } = need('run 1', tutorial);
      try {
        await page.goto(`${base}/admin/`);
        await page.getByRole('link', { name: 'API tokens' }).first().click();
        await page.getByRole('heading', { name: 'API tokens' }).waitFor();
        await page.getByRole('link', { name: 'New API token' }).click();
        await page.getByLabel('Name', { exact: true }).fill('tutorial automation');
        await page.getByLabel('Global admin: everything').check();
        await page.getByLabel('Expires in (days)').fill('1');
        await shot(page, name('portal-20-new-api-token'));
        assert.deepEqual(await problems(page), []);
        const [created] = await Promise.all([
          page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/admin/api-tokens')),
          // From the keyboard (after a full-page screenshot, Chromium here drops the synthetic click on this button).
          page.getByRole('button', { name: 'Create' }).press('Enter'),
        ]);
        assert.equal(created.status(), 200);
        await page.locator('#secret-value').waitFor();
        const secret = await page.locator('#secret-value').inputValue();
        assert.match(secret, /^tsr_/);
        assert.match(await page.locator('#token-overview').innerText(), /global admin/);
        await shot(page, name('portal-21-api-token-once'));
        assert.deepEqual(await problems(page), []);
        // Listed without its secret.
        await page.getByRole('link', { name: 'API tokens' }).first().click();
        const listed = await page.locator('#api-tokens').innerText();
        assert.match(listed, /tutorial automation/);
        assert.ok(!(await page.content()).includes(secret), 'the secret is shown once only');
        await shot(page, name('portal-22-api-tokens'));

        const api = adminApi(base, secret);
        const tenants = (await api('GET', '/broker/tenants')).body.items.map((t) => t.id);
        assert.ok(tenants.includes('fabrikam'), `the token sees the portal's tenant: ${tenants}`);
        const profileDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-admin-'));
        const cli = adminCli(join(profileDir, 'admin.json'));
        await cli(['login', '--url', base, '--token-stdin'], { stdin: `${secret}\n` });
        automation = { api, cli, profileDir };
      } catch (e) {
        throw await onFailure(e, admin.context, name('portal_api_token'), server);
      }
    });

    test('portal_run5_abandoned_sign_up_writes_no_directory_user', async () => {
      const { base, runUrl, first } = need('run 1', tutorial);
      const { api } = need('the API token', automation);
      const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
      try {
        const errors = serverErrors(page);
        const username = uniqueUser('abandoned');
        await page.goto(runUrl);
        await signUpAtProvider(page, username, 'Abe Andoned');
        await page.getByRole('heading', { name: 'Complete your profile' }).waitFor();
        await shot(page, name('portal_run5-01-attribute-page-then-closed'));
        await page.close();

        // The provider has the account (its passkey was made), the broker's directory has no one new.
        const upstream = (await api('GET', `/tenants/mytenant/users?q=${username}`)).body.items;
        assert.deepEqual(upstream.map((u) => u.username), [username]);
        const directory = (await api('GET', '/broker/tenants/fabrikam/users?limit=200')).body.items;
        assert.deepEqual(directory.map((u) => u.object_id), [first.oid], 'only the user of run 1');
        assert.deepEqual(errors, [], 'never a 500');

        // The portal's directory page agrees.
        await admin.page.goto(`${base}/admin/broker/fabrikam/users`);
        assert.doesNotMatch(await admin.page.locator('#users').innerText(), /Abe Andoned/);
        await shot(admin.page, name('portal_run5-02-directory'));
      } catch (e) {
        throw await onFailure(e, context, name('portal_run5'), server);
      } finally {
        await context.close();
      }
    });

    test('portal_run6_denied_at_the_provider_reaches_the_token_viewer_as_an_oauth_error', async () => {
      const { runUrl, run, cdp, authenticatorId, username } = need('run 1', tutorial);
      // The user cancels at the provider's sign-in page.
      const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
      try {
        const errors = serverErrors(page);
        await page.goto(runUrl);
        await page.waitForURL((url) => url.pathname === '/mytenant/login');
        await page.getByRole('link', { name: 'Cancel' }).click();
        assert.equal(await viewerError(page), 'access_denied');
        await shot(page, name('portal_run6-01-cancelled'));
        assert.deepEqual(await problems(page), []);
        assert.deepEqual(errors, [], 'never a 500');
      } catch (e) {
        throw await onFailure(e, context, name('portal_run6'), server);
      } finally {
        await context.close();
      }

      // The passkey fails (the device cannot verify the user); the user gives up.
      try {
        const errors = serverErrors(run);
        await forgetSignIns(admin.context, 'fabrikam');
        await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
        await run.getByRole('link', { name: 'Run again' }).click();
        await run.waitForURL((url) => url.pathname === '/mytenant/login');
        await run.getByLabel('Username').fill(username);
        await run.getByRole('button', { name: 'Continue' }).click();
        const message = await waitForStatusError(run);
        assert.match(message, /could not verify you|not accepted|verif/i, message);
        await shot(run, name('portal_run6-02-passkey-failed'));
        await run.getByRole('link', { name: 'Cancel' }).click();
        assert.equal(await viewerError(run), 'access_denied');
        await shot(run, name('portal_run6-03-gave-up'));
        assert.deepEqual(errors, [], 'never a 500');
      } catch (e) {
        throw await onFailure(e, admin.context, name('portal_run6_passkey_failed'), server);
      } finally {
        await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: true });
      }
    });

    test('cli_and_api_make_the_same_configuration_as_the_portal', async () => {
      const { base } = need('run 1', tutorial);
      const { api, cli } = need('the API token', automation);
      const metadataUrl = `${base}/mytenant/oidc/.well-known/openid-configuration`;
      const provider = 'nok-nok-authentication-provider';

      // The CLI, as docs/admin-cli.md replays the tutorial.
      await cli(['broker-tenant', 'create', '--id', 'tutorial-cli', '--display-name', 'Tutorial CLI']);
      const cliClient = await cli(['client', 'create', '--tenant', 'mytenant', '--name',
        'Tutorial CLI (identity broker)', '--redirect-uri', `${base}/tutorial-cli/oauth2/authresp`], { json: true });
      await cli(['idp', 'create', '--tenant', 'tutorial-cli', '--name', 'Nok Nok Authentication Provider',
        '--metadata-url', metadataUrl, '--client-id', cliClient.client.client_id, '--client-secret-stdin',
        '--scope', 'openid profile email', '--response-type', 'code', '--response-mode', 'form_post'],
      { stdin: `${cliClient.client_secret}\n` });
      await cli(['idp', 'claims', 'set', '--tenant', 'tutorial-cli', '--id', provider, '--user-id', 'sub',
        '--display-name', 'name', '--email', 'email']);
      const cliApp = await cli(['app', 'create', '--tenant', 'tutorial-cli', '--name', 'jwt-viewer', '--public',
        '--reply-url', `${base}/jwt`], { json: true });
      await cli(['userflow', 'create', '--tenant', 'tutorial-cli', '--name', 'signupsignin', '--idp', provider,
        '--mfa', 'off', '--conditional-access', '--attribute', 'email', '--claim', 'object-id']);
      await cli(['userflow', 'claims', 'set', '--tenant', 'tutorial-cli', '--name', 'signupsignin',
        ...CLAIM_VALUES.flatMap((v) => ['--value', v])]);
      const cliRun = await cli(['userflow', 'run', '--tenant', 'tutorial-cli', '--name', 'signupsignin', '--app',
        (cliApp.application ?? cliApp).client_id], { json: true });

      // The REST API, step by step as the portal's forms.
      await api('POST', '/broker/tenants', { body: { id: 'tutorial-api', display_name: 'Tutorial API' } });
      const { body: apiClient } = await api('POST', '/tenants/mytenant/clients', {
        body: { name: 'Tutorial API (identity broker)', redirect_uris: [`${base}/tutorial-api/oauth2/authresp`] },
      });
      const idps = '/broker/tenants/tutorial-api/identity-providers';
      const added = await api('POST', idps, {
        body: {
          id: provider, name: 'Nok Nok Authentication Provider', metadata_url: metadataUrl,
          client_id: apiClient.client.client_id, client_secret: apiClient.client_secret,
          scope: 'openid profile email', response_type: 'code', response_mode: 'form_post',
        },
      });
      await api('PUT', `${idps}/${provider}/claim-mapping`, {
        ifMatch: added.etag,
        body: { user_id: 'sub', display_name: 'name', given_name: 'given_name', surname: 'family_name', email: 'email' },
      });
      const { body: apiApp } = await api('POST', '/broker/tenants/tutorial-api/applications', {
        body: { display_name: 'jwt-viewer', client_type: 'public', reply_urls: [`${base}/jwt`] },
      });
      const settings = {
        identity_providers: [provider], mfa: 'off', conditional_access: { enforced: true },
        user_attributes: [{ attribute: 'email', required: true }],
      };
      const flows = '/broker/tenants/tutorial-api/user-flows';
      const flow = await api('POST', flows, {
        body: { name: 'B2C_1_signupsignin', settings: { ...settings, application_claims: ['object_id'] } },
      });
      await api('PUT', `${flows}/B2C_1_signupsignin`, {
        ifMatch: flow.etag,
        body: { settings: { ...settings, application_claims: CLAIM_VALUES.map((v) => v.replace(/-/g, '_')) } },
      });

      // The three, read back through the API: equal but for ids, secrets, times and the tenants' names.
      const portal = await tenantConfiguration(api, 'fabrikam');
      const byCli = await tenantConfiguration(api, 'tutorial-cli');
      const byApi = await tenantConfiguration(api, 'tutorial-api');
      // Kept beside the screenshots, so a difference can be read side by side.
      for (const [who, config] of [['portal', portal], ['cli', byCli], ['api', byApi]]) {
        writeFileSync(join(shotsDir, `${name(`configuration-${who}`)}.json`), `${JSON.stringify(config, null, 2)}\n`);
      }
      assert.equal(portal.flows.length, 1);
      assert.equal(portal.flows[0].versions, 2, 'created, then its application claims saved');
      assert.deepEqual(byCli, portal, 'the CLI made what the portal made');
      assert.deepEqual(byApi, portal, 'the API made what the portal made');
      const client = (await api('GET', `/tenants/mytenant/clients/${cliClient.client.client_id}`)).body;
      assert.ok(!JSON.stringify(client).includes(cliClient.client_secret), 'no read shows a secret');
      automation.runs = {
        cli: cliRun.run_url,
        api: `${base}/jwt/run?tenant=tutorial-api&policy=B2C_1_signupsignin&client_id=${
          encodeURIComponent((apiApp.application ?? apiApp).client_id)}&redirect_uri=${encodeURIComponent(`${base}/jwt`)}`,
      };
    });

    test('cli_and_api_configured_tenants_run_to_the_token_viewer', async () => {
      const { base } = need('run 1', tutorial);
      const { runs } = need('the CLI and API configuration', automation);
      need('the run URLs', runs);
      const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
      try {
        const errors = serverErrors(page);
        const username = uniqueUser('cli');
        await page.goto(runs.cli);
        await signUpAtProvider(page, username, 'Cleo Eli');
        await giveEmail(page, `${username}@example.com`, name('cli_run-01-attribute-page'));
        const viaCli = await viewerClaims(page);
        await shot(page, name('cli_run-02-token-viewer'));
        assert.equal(viaCli.iss, `${base}/tutorial-cli/B2C_1_signupsignin/v2.0`);
        assert.deepEqual(viaCli.emails, [`${username}@example.com`]);
        assert.equal(viaCli.newUser, true);

        // The same person at the API's tenant: signed in at the provider already, new in that tenant's directory.
        await page.goto(runs.api);
        await giveEmail(page, `${username}@example.org`, name('api_run-01-attribute-page'));
        const viaApi = await viewerClaims(page);
        await shot(page, name('api_run-02-token-viewer'));
        assert.equal(viaApi.iss, `${base}/tutorial-api/B2C_1_signupsignin/v2.0`);
        assert.deepEqual(viaApi.emails, [`${username}@example.org`]);
        assert.equal(viaApi.newUser, true);
        assert.notEqual(viaApi.oid, viaCli.oid, 'each tenant has its own directory');
        assert.deepEqual(errors, [], 'never a 500');
      } catch (e) {
        throw await onFailure(e, context, name('cli_and_api_runs'), server);
      } finally {
        await context.close();
      }
    });

    test('portal_run7_second_identity_provider_shows_the_choice_page', async () => {
      const { context, page } = need('the portal session', admin);
      const { base, run, first, runUrl } = need('run 1', tutorial);
      try {
        // A second client at the authenticator service and a second OpenID Connect provider with it.
        await page.goto(`${base}/admin/authenticator/mytenant/clients/new`);
        await page.getByLabel('Name').fill('Fabrikam partners (identity broker)');
        await page.getByLabel('Redirect URIs').fill(`${base}/fabrikam/oauth2/authresp`);
        await page.getByLabel('Allow http://localhost addresses (development only)').check();
        await page.getByRole('button', { name: 'Create' }).click();
        await page.locator('#secret-value').waitFor();
        const secret = await page.locator('#secret-value').inputValue();
        const clientId = (await page.locator('#client-overview dd').first().innerText()).trim();
        await page.goto(`${base}/admin/broker/fabrikam/identity-providers`);
        await page.getByRole('link', { name: 'Add' }).click();
        await page.getByRole('link', { name: 'OpenID Connect' }).click();
        await page.getByLabel('Name', { exact: true }).fill('Partner passkeys');
        await page.getByLabel('Metadata URL').fill(`${base}/mytenant/oidc/.well-known/openid-configuration`);
        await page.getByLabel('Client ID').fill(clientId);
        await page.getByLabel('Client secret').fill(secret);
        await page.getByRole('button', { name: 'OK' }).click();
        await page.getByRole('heading', { name: 'Partner passkeys' }).waitFor();

        // The user flow's "Identity providers": tick the second one (a new version of the flow).
        await page.goto(`${base}/admin/broker/fabrikam/user-flows/B2C_1_signupsignin`);
        await page.locator('#flow-identity-providers').click();
        await page.getByRole('heading', { name: 'Identity providers' }).waitFor();
        assert.equal(await page.getByLabel('Nok Nok Authentication Provider').isChecked(), true);
        // The picker: found by a word of its name (the search keeps the chosen one), then ticked.
        await page.getByLabel('Find an identity provider').fill('passkeys');
        await page.getByRole('button', { name: 'Search' }).click();
        await page.locator('#identity_providers-summary').getByText('1 identity provider matches').waitFor();
        assert.equal(new URL(page.url()).searchParams.get('csrf_token'), null, 'no CSRF token in the address');
        assert.equal(await page.getByLabel('Nok Nok Authentication Provider').isChecked(), true);
        assert.equal(await page.getByLabel('Partner passkeys').isChecked(), false);
        await page.getByLabel('Partner passkeys').check();
        await shot(page, name('portal-23-flow-identity-providers'));
        assert.deepEqual(await problems(page), []);
        await page.getByRole('button', { name: 'Save' }).click();
        await page.locator('#notice').waitFor();
        assert.match(await page.locator('#flow-settings').innerText(),
          /nok-nok-authentication-provider, partner-passkeys/);
        await shot(page, name('portal-24-user-flow-two-providers'));

        // The run: the broker asks which provider; the user picks the tutorial's and signs in with the passkey.
        const errors = serverErrors(run);
        await forgetSignIns(context, 'fabrikam');
        await run.goto(runUrl);
        await run.getByRole('heading', { name: 'Sign in' }).waitFor();
        const choices = run.getByRole('list', { name: 'Identity providers' }).getByRole('button');
        assert.deepEqual(await choices.allInnerTexts(), ['Nok Nok Authentication Provider', 'Partner passkeys']);
        await shot(run, name('portal_run7-01-choice-page'));
        assert.deepEqual(await problems(run), []);
        await run.getByRole('button', { name: 'Nok Nok Authentication Provider' }).click();
        await run.waitForURL((url) => url.pathname === '/mytenant/login');
        await run.getByRole('button', { name: 'Sign in with a passkey' }).click();
        const again = await viewerClaims(run);
        await shot(run, name('portal_run7-02-token-viewer'));
        assert.equal(again.oid, first.oid, 'the same user through the provider they chose');
        assert.deepEqual(errors, [], 'never a 500');
      } catch (e) {
        throw await onFailure(e, context, name('portal_run7'), server);
      }
    });

    test('portal_sign_out_ends_the_session', async () => {
      const { page } = need('the portal session', admin);
      const { base } = need('run 1', tutorial);
      try {
        await page.goto(`${base}/admin/`);
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.waitForURL((url) => url.pathname === '/admin/signin');
        await page.goto(`${base}/admin/broker/fabrikam/`);
        await page.waitForURL((url) => url.pathname === '/admin/signin');
      } catch (e) {
        throw await onFailure(e, admin.context, name('portal_sign_out'), server);
      }
    });
  });
}
