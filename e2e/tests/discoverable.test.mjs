// Run 3 of the scenario: sign in without typing a username (a discoverable credential), by the "Sign in with a
// passkey" button and by the browser's autofill (conditional mediation).
import { test, before, after } from 'node:test';
import { startDemo, launchBrowser } from '../lib/harness.mjs';
import { signinWithoutUsernameDiscoverable, signinByAutofillConditionalMediation } from '../lib/scenarios.mjs';

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

test('signin_without_username_discoverable', () =>
  signinWithoutUsernameDiscoverable({ browser, server, name: 'signin_without_username_discoverable' }));

test('signin_by_autofill_conditional_mediation', () =>
  signinByAutofillConditionalMediation({ browser, server, name: 'signin_by_autofill_conditional_mediation' }));
