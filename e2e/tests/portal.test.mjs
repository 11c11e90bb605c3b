// The tutorial's configuration, done in the admin portal in a real browser: `tessera demo` on a fresh data dir
// prints a one-time bootstrap link; opening it enrols the first administrator's passkey at the admin tenant (Chromium's
// virtual authenticator); then, in the portal: a broker tenant, a client for it at the authenticator tenant `mytenant`
// (its secret shown once), the identity provider "Nok Nok Authentication Provider" with the tutorial's values
// (metadata URL of `mytenant`), its claim mapping, the user flow `signupsignin` collecting the email and returning it
// as an application claim, the application `jwt-viewer` replying to the token viewer; then "Run user flow" opens a new
// tab, the user signs up with a passkey at the authenticator, gives the email on the broker's attribute page and lands
// at the token viewer with the email claim. The bootstrap link then never works again. Screenshots of each page land
// in target/e2e/. On SQLite always; on PostgreSQL when TEST_PG_URL is set.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { uniqueUser } from '../lib/flows.mjs';
import { collectErrors, problems, PHONE } from '../lib/a11y.mjs';

const PG_SKIP = process.env.TEST_PG_URL
  ? false
  : 'PostgreSQL browser tests skipped: TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)';

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

for (const [store, skip] of [['sqlite', false], ['postgres', PG_SKIP]]) {
  describe(`admin portal on ${store}`, { skip }, () => {
    const name = (base) => (store === 'sqlite' ? base : `${base}-${store}`);
    let server;
    let browser;

    before(async () => {
      server = await startDemo({ store });
      browser = await launchBrowser();
    });

    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    test('portal_tutorial_from_bootstrap_to_token_viewer', async () => {
      const link = await bootstrapLink(server);
      const base = server.base;
      const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
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
        await shot(page, name('portal-11-new-user-flow'));
        await check('flowForm');
        await page.getByRole('button', { name: 'Create' }).click();
        await page.getByRole('heading', { name: 'B2C_1_signupsignin' }).waitFor();

        // Application claims: tick email, Save.
        await page.getByRole('link', { name: 'Application claims' }).click();
        await page.getByLabel('Email Addresses (emails)').check();
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
        await cdp.send('WebAuthn.addVirtualAuthenticator', {
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

        // The audit trail lists what was done, the directory the new user.
        await page.goto(`${base}/admin/audit?tenant=fabrikam`);
        const audit = await page.locator('#audit-events').innerText();
        for (const action of ['broker.tenant.create', 'broker.provider.create', 'broker.provider.update',
          'broker.userflow.create', 'broker.userflow.update', 'broker.application.create']) {
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

        // Signing out ends the session: the portal asks to sign in again.
        await page.getByRole('link', { name: 'Go to the sign-in page' }).click();
        await page.goto(`${base}/admin/`);
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.waitForURL((url) => url.pathname === '/admin/signin');
        await page.goto(`${base}/admin/broker/fabrikam/`);
        await page.waitForURL((url) => url.pathname === '/admin/signin');

        assert.deepEqual(report, {
          signin: [], home: [], tenantError: [], clientSecret: [], providerForm: [], providerPage: [], providerEditError: [],
          claimsForm: [],
          applicationPage: [], flowForm: [], appClaimsForm: [], flowPage: [], audit: [], users: [], flowPhone: [],
          bootstrapSpent: [],
        });
        assert.deepEqual(errors, [], 'no script or console errors');
      } catch (e) {
        throw await onFailure(e, context, name('portal_tutorial'), server);
      } finally {
        await context.close();
      }
    });
  });
}
