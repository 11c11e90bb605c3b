// A Node app that signs users in with Microsoft's @azure/msal-node exactly as it would against an Azure AD B2C user
// flow: the authority https://HOST/{tenant}/{policy} with HOST in knownAuthorities, nothing else changed. The Rust
// interop test (crates/server/tests/broker_runs.rs, msal_node_signs_in_through_the_broker) drives the browser part
// and runs this script twice:
//
//   node msal_node_app.mjs url                 → {"url": authorization URL, "verifier": PKCE verifier}
//   node msal_node_app.mjs redeem CODE VERIFIER → {"idTokenClaims", "account", "scopes"}
//
// Settings come from the environment: MSAL_AUTHORITY, MSAL_KNOWN_AUTHORITY, MSAL_CLIENT_ID, MSAL_REDIRECT_URI (and
// NODE_EXTRA_CA_CERTS for the test's certificate).
import { PublicClientApplication, CryptoProvider } from '@azure/msal-node';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const app = new PublicClientApplication({
  auth: {
    clientId: env('MSAL_CLIENT_ID'),
    authority: env('MSAL_AUTHORITY'),
    knownAuthorities: [env('MSAL_KNOWN_AUTHORITY')],
  },
});
const scopes = ['openid', 'offline_access'];
const redirectUri = env('MSAL_REDIRECT_URI');

const [command, code, verifier] = process.argv.slice(2);
if (command === 'url') {
  const pkce = await new CryptoProvider().generatePkceCodes();
  const url = await app.getAuthCodeUrl({
    scopes,
    redirectUri,
    codeChallenge: pkce.challenge,
    codeChallengeMethod: 'S256',
    state: 'msal-state',
  });
  process.stdout.write(JSON.stringify({ url, verifier: pkce.verifier }));
} else if (command === 'redeem') {
  const result = await app.acquireTokenByCode({ code, scopes, redirectUri, codeVerifier: verifier });
  process.stdout.write(JSON.stringify({
    idTokenClaims: result.idTokenClaims,
    account: result.account,
    scopes: result.scopes,
  }));
} else {
  throw new Error(`unknown command ${command}`);
}
