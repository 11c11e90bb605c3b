// The tutorial's configuration in the admin portal with the keyboard only: on a fresh `tessera demo` data dir, the
// bootstrap link (opened as a person pastes it) enrols the first administrator, then Tab, Shift+Tab, Enter, Space,
// the arrow keys and typing — never a click — make a broker tenant, its client at the authenticator tenant
// `mytenant`, the OpenID Connect identity provider "Nok Nok Authentication Provider" with the tutorial's values, its
// claim mapping, the application `jwt-viewer`, and the user flow "Sign up and sign in" collecting the email and
// returning it (its provider chosen with the picker's search), then "Run user flow" to the token viewer. On each
// portal page every control is reached by Tab in one round and each shows its focus. Then, at phone size
// (390×844), no portal page is wider than the screen. On SQLite always; on PostgreSQL when TEST_PG_URL is set.
// Screenshots in target/e2e/keyboard-*.png.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { uniqueUser } from '../lib/flows.mjs';
import { collectErrors, problems, PHONE } from '../lib/a11y.mjs';
import { everyControlReachable, tabTo, typeInto, tick, choose, press, focused } from '../lib/keyboard.mjs';

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

/** Waits for the page at `pathname` with heading `heading` (after a key press navigated). */
async function at(page, pathname, heading) {
  await page.waitForURL((url) => (pathname instanceof RegExp ? pathname.test(url.pathname) : url.pathname === pathname));
  if (heading) await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
}

for (const [store, skip] of [['sqlite', false], ['postgres', PG_SKIP]]) {
  describe(`the portal with the keyboard only on ${store}`, { skip }, () => {
    const name = (base) => (store === 'sqlite' ? base : `${base}-${store}`);
    let server;
    let browser;
    let admin = null;

    before(async () => {
      server = await startDemo({ store });
      browser = await launchBrowser();
    });

    after(async () => {
      await admin?.context.close();
      await browser?.close();
      await server?.stop();
    });

    test('keyboard_only_tutorial_configuration_and_run', async () => {
      const link = await bootstrapLink(server);
      const base = server.base;
      const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
      admin = { context, page };
      const reachable = {};
      const round = async (key) => { reachable[key] = await everyControlReachable(page); };
      try {
        const errors = collectErrors(page);
        // The bootstrap link, pasted: the admin tenant's sign-up page, typed into, the passkey made with Enter.
        await page.goto(link);
        await at(page, '/tessera-admin/signup', 'Create your account');
        await typeInto(page, 'username', 'keyboard-admin');
        await typeInto(page, 'display-name', 'Keyboard Admin');
        await press(page, 'signup-button');
        await at(page, '/admin/', 'Tessera admin portal');
        assert.match(await page.locator('#signed-in-as').innerText(), /keyboard-admin \(global admin\)/);
        await round('home');
        await shot(page, name('keyboard-01-home'));

        // The skip link (the first stop) takes focus past the header and navigation; Shift+Tab goes back.
        await tabTo(page, 'Skip to content');
        await page.keyboard.press('Enter');
        await page.keyboard.press('Tab');
        const afterSkip = await focused(page);
        assert.ok(!['nav-home', 'signout-button'].includes(afterSkip?.id), `past the navigation: ${afterSkip?.key}`);
        await tabTo(page, 'nav-home', { back: true });

        // A broker tenant.
        await press(page, 'New broker tenant');
        await at(page, '/admin/broker/new');
        await round('newBrokerTenant');
        await typeInto(page, 'field-id', 'keys');
        await typeInto(page, 'field-display_name', 'Keyboard');
        await press(page, 'Create');
        await at(page, '/admin/broker/keys/');
        await round('brokerTenant');

        // The broker's client at `mytenant`: Home → mytenant → New client.
        await press(page, 'nav-home');
        await at(page, '/admin/');
        await press(page, /\(mytenant\)$/);
        await at(page, '/admin/authenticator/mytenant/');
        await press(page, 'New client');
        await at(page, '/admin/authenticator/mytenant/clients/new');
        await round('newClient');
        await typeInto(page, 'field-name', 'Keyboard (identity broker)');
        await typeInto(page, 'field-redirect_uris', `${base}/keys/oauth2/authresp`);
        await tick(page, 'field-allow_localhost_http');
        await press(page, 'Create');
        await page.locator('#secret-value').waitFor();
        const secret = await page.locator('#secret-value').inputValue();
        const clientId = (await page.locator('#client-overview dd').first().innerText()).trim();
        await round('clientSecret');
        await shot(page, name('keyboard-02-client-secret'));

        // Identity providers → Add → OpenID Connect, with the tutorial's values.
        await press(page, 'nav-home');
        await at(page, '/admin/');
        await press(page, 'broker-keys');
        await at(page, '/admin/broker/keys/');
        await press(page, 'Identity providers');
        await at(page, '/admin/broker/keys/identity-providers', 'Identity providers');
        await press(page, 'Add');
        await at(page, '/admin/broker/keys/identity-providers/add');
        await press(page, 'OpenID Connect');
        await at(page, '/admin/broker/keys/identity-providers/add/oidc', 'OpenID Connect');
        await round('providerForm');
        await typeInto(page, 'field-name', 'Nok Nok Authentication Provider');
        await typeInto(page, 'field-metadata_url', `${base}/mytenant/oidc/.well-known/openid-configuration`);
        await typeInto(page, 'field-client_id', clientId);
        await typeInto(page, 'field-client_secret', secret);
        await typeInto(page, 'field-scope', 'openid profile email');
        await choose(page, 'field-response_type', 'code');
        await choose(page, 'field-response_mode', 'form_post');
        await shot(page, name('keyboard-03-openid-connect'));
        await press(page, 'provider-save');
        await page.getByRole('heading', { name: 'Nok Nok Authentication Provider', level: 1 }).waitFor();
        await round('providerPage');

        // Map this identity provider's claims.
        await press(page, "Map this identity provider's claims");
        await at(page, /\/claims$/);
        await round('claimsForm');
        await typeInto(page, 'field-user_id', 'sub');
        await typeInto(page, 'field-display_name', 'name');
        await typeInto(page, 'field-email', 'email');
        await press(page, 'claims-save');
        await page.locator('#notice').waitFor();
        assert.match(await page.locator('#claim-mapping').innerText(), /User ID\s+sub/);

        // The application replying to the token viewer (its reply URL is the form's default).
        await press(page, 'crumb-tenant');
        await at(page, '/admin/broker/keys/');
        await press(page, 'Applications');
        await at(page, '/admin/broker/keys/applications');
        await press(page, 'New registration');
        await at(page, /\/applications\/new$/);
        await round('applicationForm');
        await typeInto(page, 'field-display_name', 'jwt-viewer');
        assert.equal(await page.locator('#field-reply_urls').inputValue(), `${base}/jwt`);
        await press(page, 'Register');
        await page.getByRole('heading', { name: 'jwt-viewer', level: 1 }).waitFor();

        // User flows → New user flow → Sign up and sign in; the provider found with the picker's search.
        await press(page, 'crumb-tenant');
        await at(page, '/admin/broker/keys/');
        await press(page, 'User flows');
        await at(page, '/admin/broker/keys/user-flows');
        await press(page, 'New user flow');
        await at(page, '/admin/broker/keys/user-flows/new');
        await press(page, 'Sign up and sign in');
        await at(page, '/admin/broker/keys/user-flows/new/signup-signin', 'Sign up and sign in');
        await round('flowForm');
        await typeInto(page, 'field-name', 'signupsignin');
        // The only provider is chosen already; untick it, find it again by a word of its name, tick it.
        await tick(page, 'field-identity_providers-nok-nok-authentication-provider', false);
        await typeInto(page, 'field-identity_providers_q', 'authentication');
        await page.keyboard.press('Enter');
        await page.waitForURL((url) => url.searchParams.get('identity_providers_q') === 'authentication');
        assert.equal(new URL(page.url()).searchParams.get('csrf_token'), null, 'no CSRF token in the address');
        await page.locator('#identity_providers-summary').getByText('1 identity provider matches').waitFor();
        assert.equal(await page.locator('#field-name').inputValue(), 'signupsignin', 'the name kept');
        await shot(page, name('keyboard-04-provider-search'));
        await round('flowFormSearched');
        await tick(page, 'field-identity_providers-nok-nok-authentication-provider');
        await tick(page, 'field-collect-email');
        await tick(page, 'field-claims-email');
        assert.equal(await page.locator('#field-claims-object_id').isChecked(), true, 'the default claim kept');
        await shot(page, name('keyboard-05-new-user-flow'));
        await press(page, 'flow-create');
        await at(page, '/admin/broker/keys/user-flows/B2C_1_signupsignin', 'B2C_1_signupsignin');
        await round('flowPage');
        const settings = await page.locator('#flow-settings').innerText();
        assert.match(settings, /nok-nok-authentication-provider/);
        assert.match(settings, /Email Addresses/);

        // Run user flow: the application and the token viewer's reply URL, Enter: a new tab.
        await choose(page, 'run-reply-url', `${base}/jwt`);
        const [run] = await Promise.all([
          context.waitForEvent('page'),
          press(page, 'run-user-flow-button'),
        ]);
        const cdp = await context.newCDPSession(run);
        await cdp.send('WebAuthn.enable');
        await cdp.send('WebAuthn.addVirtualAuthenticator', {
          options: {
            protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true,
            hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
          },
        });
        await at(run, '/mytenant/login');
        await press(run, 'signup-link');
        await at(run, '/mytenant/signup');
        const username = uniqueUser('keys');
        await typeInto(run, 'username', username);
        await typeInto(run, 'display-name', 'Kay Board');
        await press(run, 'signup-button');
        await run.getByRole('heading', { name: 'Complete your profile' }).waitFor();
        await typeInto(run, 'field-email', `${username}@example.com`);
        await press(run, 'attribute-submit');
        await at(run, '/jwt', 'Token viewer');
        assert.match(await run.locator('#signature').innerText(), /Signature verified/);
        const raw = await run.locator('#raw-token').inputValue();
        const claims = JSON.parse(Buffer.from(raw.split('.')[1], 'base64url').toString('utf8'));
        assert.deepEqual(claims.emails, [`${username}@example.com`]);
        assert.equal(claims.iss, `${base}/keys/B2C_1_signupsignin/v2.0`);
        await shot(run, name('keyboard-06-token-viewer'));
        await run.close();

        for (const [page_, stops] of Object.entries(reachable)) assert.ok(stops > 3, `${page_}: ${stops} stops`);
        assert.deepEqual(errors, [], 'no script or console errors');
      } catch (e) {
        throw await onFailure(e, context, name('keyboard_only_tutorial'), server);
      }
    });

    test('portal_pages_fit_a_phone_screen', async () => {
      assert.ok(admin, 'the keyboard test signed in');
      const { context, page } = admin;
      try {
        await page.setViewportSize(PHONE);
        const pages = [
          '/admin/', '/admin/broker/new', '/admin/broker/keys/', '/admin/broker/keys/identity-providers',
          '/admin/broker/keys/identity-providers/add/oidc',
          '/admin/broker/keys/identity-providers/nok-nok-authentication-provider',
          '/admin/broker/keys/identity-providers/nok-nok-authentication-provider/claims',
          '/admin/broker/keys/user-flows', '/admin/broker/keys/user-flows/new/signup-signin',
          '/admin/broker/keys/user-flows/new/signup-signin?name=x&identity_providers_q=nok&picker=identity_providers',
          '/admin/broker/keys/user-flows/B2C_1_signupsignin',
          '/admin/broker/keys/user-flows/B2C_1_signupsignin/identity-providers',
          '/admin/broker/keys/user-flows/B2C_1_signupsignin/attributes',
          '/admin/broker/keys/user-flows/B2C_1_signupsignin/claims',
          '/admin/broker/keys/user-flows/B2C_1_signupsignin/mfa',
          '/admin/broker/keys/applications', '/admin/broker/keys/users', '/admin/broker/keys/keys',
          '/admin/authenticator/', '/admin/authenticator/mytenant/', '/admin/authenticator/mytenant/clients',
          '/admin/authenticator/mytenant/clients/new', '/admin/authenticator/mytenant/users',
          '/admin/authenticator/mytenant/policy', '/admin/authenticator/mytenant/keys',
          '/admin/audit', '/admin/api-tokens', '/admin/api-tokens/new', '/admin/admins', '/admin/admins/invite',
        ];
        const wide = {};
        for (const [i, path] of pages.entries()) {
          const answer = await page.goto(`${server.base}${path}`);
          assert.equal(answer.status(), 200, path);
          const found = await problems(page);
          if (found.length) wide[path] = found;
          await shot(page, name(`keyboard-phone-${String(i + 1).padStart(2, '0')}`));
        }
        assert.deepEqual(wide, {}, 'every portal page fits 390 px and passes the screen-reader checks');
      } catch (e) {
        throw await onFailure(e, context, name('portal_pages_fit_a_phone_screen'), server);
      }
    });
  });
}
