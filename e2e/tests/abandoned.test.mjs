// Run 5 of the scenario at the authenticator service: a sign-up abandoned before its passkey exists leaves no user,
// so the same username is free for the next person.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo, launchBrowser, pageWithAuthenticator, shot, onFailure } from '../lib/harness.mjs';
import {
  TENANT, uniqueUser, hasSession, startAtDemo, signUpFromLogin, demoClaims, fillSignUp,
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

test('abandoned_signup_leaves_no_user', async () => {
  const username = uniqueUser('abandoned');

  // First person: the authenticator waits for a touch that never comes, and the tab is closed.
  const first = await pageWithAuthenticator(browser, { automaticPresenceSimulation: false }, { autofill: false });
  try {
    await startAtDemo(first.page, server);
    const options = first.page.waitForResponse((r) => r.url().endsWith(`/${TENANT}/webauthn/register/options`));
    await signUpFromLogin(first.page, { username, displayName: 'First Person', email: `first-${username}@example.com` });
    assert.equal((await options).status(), 200, 'the server started the registration ceremony');
    await first.page.getByText('Follow your browser').waitFor();
    await shot(first.page, 'abandoned_signup_leaves_no_user-01-waiting-for-passkey');
    assert.equal((await first.credentials()).length, 0, 'no passkey was created');
    assert.equal(await hasSession(first.context), false);
    await first.page.close();
  } catch (e) {
    throw await onFailure(e, first.context, 'abandoned_signup_leaves_no_user', server);
  } finally {
    await first.context.close();
  }

  // Someone else, on another device, takes the same username.
  const second = await pageWithAuthenticator(browser, {}, { autofill: false });
  try {
    await startAtDemo(second.page, server);
    await signUpFromLogin(second.page, {
      username, displayName: 'Second Person', email: `second-${username}@example.com`,
    });
    const claims = await demoClaims(second.page);
    await shot(second.page, 'abandoned_signup_leaves_no_user-02-username-taken-by-someone-else');
    assert.equal(claims.preferred_username, username);
    assert.equal(claims.name, 'Second Person', 'the new user is the second person, not a half-written first one');
    assert.equal(claims.email, `second-${username}@example.com`);
    assert.equal((await second.credentials()).length, 1);

    // And now the name is taken: a third sign-up with it is refused with a human message.
    await second.context.clearCookies();
    await second.page.goto(`${server.base}/${TENANT}/signup`);
    await fillSignUp(second.page, { username, displayName: 'Third Person' });
    const status = second.page.locator('#status.error');
    await status.waitFor();
    await shot(second.page, 'abandoned_signup_leaves_no_user-03-username-taken');
    assert.match(await status.innerText(), /taken|already|in use|exists/i);
  } catch (e) {
    throw await onFailure(e, second.context, 'abandoned_signup_leaves_no_user', server);
  } finally {
    await second.context.close();
  }
});
