// Run 1 and 2 of the scenario, in a real browser: sign up through the demo relying party, then sign in by username.
import { test, before, after } from 'node:test';
import { startDemo, launchBrowser } from '../lib/harness.mjs';
import { signupThenSigninByUsername } from '../lib/scenarios.mjs';

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

test('signup_then_signin_by_username', () =>
  signupThenSigninByUsername({ browser, server, name: 'signup_then_signin_by_username' }));
