// The main flows against `tessera serve --config FILE` as an operator deploys it: tenant and client created with the
// CLI, a relying party not written in Rust (lib/rp.mjs: query response mode, ID token checked with node:crypto).
// On SQLite always; on PostgreSQL when TEST_PG_URL is set (a fresh schema per run, dropped afterwards).
import { describe, test, before, after } from 'node:test';
import { startServe, launchBrowser } from '../lib/harness.mjs';
import {
  signupThenSigninByUsername, signinWithoutUsernameDiscoverable, accountAddAndDeletePasskey, refusedUserVerification,
} from '../lib/scenarios.mjs';

const PG_SKIP = process.env.TEST_PG_URL
  ? false
  : 'PostgreSQL browser tests skipped: TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)';

for (const [store, skip] of [['sqlite', false], ['postgres', PG_SKIP]]) {
  describe(`tessera serve on ${store}`, { skip }, () => {
    let server;
    let browser;

    before(async () => {
      server = await startServe({ store });
      browser = await launchBrowser();
    });

    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    for (const [name, scenario] of [
      ['signup_then_signin_by_username', signupThenSigninByUsername],
      ['signin_without_username_discoverable', signinWithoutUsernameDiscoverable],
      ['account_add_and_delete_passkey', accountAddAndDeletePasskey],
      ['refused_user_verification', refusedUserVerification],
    ]) {
      const full = `${name}_on_serve_${store}`;
      test(full, () => scenario({ browser, server, name: full }));
    }
  });
}
