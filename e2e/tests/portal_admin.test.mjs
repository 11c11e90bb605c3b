// The authenticator tenant's administration in the portal, in a real browser: the first administrator enrols from the
// bootstrap link, then changes `mytenant`'s authenticator policy (a refused combination shown next to its field), looks
// at its signing keys and rotates them after the confirmation page, edits the broker's client and regenerates its
// secret (shown once), and invites a read-only administrator, who enrols with the invitation in another browser. A
// sign-up at the admin tenant without an invitation is refused in words. Every page passes the screen-reader and
// phone checks of lib/a11y.mjs; screenshots land in target/e2e/. On SQLite always; on PostgreSQL when TEST_PG_URL is
// set.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import { collectErrors, problems, PHONE } from '../lib/a11y.mjs';

const PG_SKIP = process.env.TEST_PG_URL
  ? false
  : 'PostgreSQL browser tests skipped: TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)';

async function bootstrapLink(server) {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const found = server.output().match(/Admin bootstrap: (\S+)/);
    if (found) return found[1];
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no bootstrap link printed:\n${server.output()}`);
}

/** Signs up at the admin tenant's sign-up page the link leads to, and waits for the portal's home. */
async function enrol(page, link, username) {
  await page.goto(link);
  await page.waitForURL((url) => url.pathname === '/tessera-admin/signup');
  await page.getByLabel('Username').fill(username);
  await page.getByRole('button', { name: 'Create account with a passkey' }).click();
  await page.waitForURL((url) => url.pathname === '/admin/');
}

for (const [store, skip] of [['sqlite', false], ['postgres', PG_SKIP]]) {
  describe(`admin portal, authenticator administration, on ${store}`, { skip }, () => {
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

    test('policy_keys_clients_and_invitations_in_the_portal', async () => {
      const base = server.base;
      const { context, page } = await pageWithAuthenticator(browser, {}, { autofill: false });
      const report = {};
      const check = async (key) => { report[key] = await problems(page); };
      const others = [];
      try {
        const errors = collectErrors(page);
        await enrol(page, await bootstrapLink(server), 'root-admin');

        // The authenticator policy of `mytenant`: a model both allowed and refused is shown next to its field.
        await page.goto(`${base}/admin/authenticator/mytenant/`);
        await page.getByRole('link', { name: 'Authenticator policy' }).click();
        await page.getByRole('heading', { name: 'Authenticator policy of mytenant' }).waitFor();
        await check('policy');
        await shot(page, name('portal-admin-01-policy'));
        const model = 'cb69481e-8ff7-4039-93ec-0a2729a154a8';
        await page.getByLabel('Trusted: chains to a trust anchor or the FIDO metadata').check();
        await page.getByLabel('Allowed authenticator models').fill(model);
        await page.getByLabel('Refused authenticator models').fill(model);
        await page.getByRole('button', { name: 'Save' }).click();
        await page.getByRole('alert').waitFor();
        const allow = page.getByLabel('Allowed authenticator models');
        assert.equal(await allow.getAttribute('aria-invalid'), 'true');
        assert.match(await allow.getAttribute('aria-describedby'), /error-aaguid_allow/);
        assert.match(await page.locator('#error-aaguid_allow').innerText(), /both allowed and denied/);
        await check('policyError');
        await shot(page, name('portal-admin-02-policy-error'));
        await page.getByLabel('Refused authenticator models').fill('');
        await page.getByRole('button', { name: 'Save' }).click();
        await page.waitForURL((url) => url.pathname === '/admin/authenticator/mytenant/');
        await page.getByText('Saved: new registrations and sign-ins follow the new policy.').waitFor();
        await page.goto(`${base}/admin/authenticator/mytenant/policy`);
        assert.equal(await page.getByLabel('Trusted: chains to a trust anchor or the FIDO metadata').isChecked(), true);

        // Signing keys: listed, then rotated after the confirmation page.
        await page.goto(`${base}/admin/authenticator/mytenant/`);
        await page.getByRole('link', { name: 'Signing keys' }).click();
        await page.getByRole('heading', { name: 'Signing keys of mytenant' }).waitFor();
        const before = await page.locator('#signing-keys tbody tr').count();
        await check('keys');
        await page.getByRole('link', { name: 'Rotate keys' }).click();
        await page.getByRole('heading', { name: 'Rotate the signing keys of mytenant?' }).waitFor();
        await check('rotateConfirm');
        await shot(page, name('portal-admin-03-rotate-confirm'));
        await page.getByRole('button', { name: 'Yes, rotate the keys' }).click();
        await page.waitForURL((url) => url.pathname === '/admin/authenticator/mytenant/keys');
        assert.equal(await page.locator('#signing-keys tbody tr').count(), before + 2);
        assert.match(await page.locator('#signing-keys').innerText(), /published, signs soon/);
        await shot(page, name('portal-admin-04-keys'));

        // The broker's client: edit its name, regenerate its secret (shown once).
        await page.goto(`${base}/admin/authenticator/mytenant/clients`);
        await page.getByRole('heading', { name: 'Clients of mytenant' }).waitFor();
        await check('clients');
        await page.locator('#clients-list tbody a').first().click();
        await page.getByRole('link', { name: 'Edit name and redirect URIs' }).click();
        await check('clientEdit');
        await page.getByLabel('Name', { exact: true }).fill('Contoso (identity broker)');
        await page.getByRole('button', { name: 'Save' }).click();
        await page.getByRole('heading', { name: 'Contoso (identity broker)' }).waitFor();
        await page.getByText('Saved.').waitFor();
        await page.locator('#regenerate-secret-toggle').click();
        await page.getByRole('button', { name: 'Yes, regenerate secret' }).click();
        await page.locator('#secret-value').waitFor();
        assert.ok((await page.locator('#secret-value').inputValue()).length > 20, 'the new secret, shown once');
        await check('clientSecret');
        await shot(page, name('portal-admin-05-client-secret'));

        // Invite a read-only administrator; they enrol in another browser with the link.
        await page.goto(`${base}/admin/admins`);
        await page.getByRole('link', { name: 'Invite', exact: true }).click();
        await page.getByRole('heading', { name: 'Invite an administrator' }).waitFor();
        await check('inviteForm');
        await page.getByLabel('Read-only (in their tenants, or all when none is given)').check();
        await page.getByLabel('The link works for').selectOption('60');
        await page.getByRole('button', { name: 'Create invitation' }).click();
        await page.locator('#secret-value').waitFor();
        const invitation = await page.locator('#secret-value').inputValue();
        assert.match(invitation, /\/admin\/invitation\?token=tsi_/);
        await check('invitation');
        await shot(page, name('portal-admin-06-invitation'));

        const invited = await pageWithAuthenticator(browser, {}, { autofill: false });
        others.push(invited.context);
        await enrol(invited.page, invitation, 'auditor');
        assert.match(await invited.page.locator('#signed-in-as').innerText(), /auditor \(read-only\)/);
        await invited.page.goto(invitation);
        await invited.page.getByRole('heading', { name: 'This invitation does not work' }).waitFor();

        // Without an invitation, the admin tenant's sign-up says why it refuses.
        const stranger = await pageWithAuthenticator(browser, {}, { autofill: false });
        others.push(stranger.context);
        await stranger.page.goto(`${base}/tessera-admin/signup`);
        await stranger.page.getByRole('heading', { name: 'Sign-up is by invitation only' }).waitFor();
        report.refused = await problems(stranger.page);
        await shot(stranger.page, name('portal-admin-07-signup-refused'));

        // On a phone: the policy and the keys fit the screen.
        await page.setViewportSize(PHONE);
        await page.goto(`${base}/admin/authenticator/mytenant/policy`);
        await check('policyPhone');
        await shot(page, name('portal-admin-08-policy-phone'));
        await page.goto(`${base}/admin/authenticator/mytenant/keys`);
        await check('keysPhone');

        assert.deepEqual(report, {
          policy: [], policyError: [], keys: [], rotateConfirm: [], clients: [], clientEdit: [], clientSecret: [],
          inviteForm: [], invitation: [], refused: [], policyPhone: [], keysPhone: [],
        });
        assert.deepEqual(errors, [], 'no script or console errors');
      } catch (e) {
        throw await onFailure(e, context, name('portal_admin'), server);
      } finally {
        for (const other of others) await other.close();
        await context.close();
      }
    });
  });
}
