// A relying party in Node, built on `oauth4webapi` (panva's OpenID-certified client library, not written here): what
// a customer's application does against a Tessera started with `tessera serve`. It mirrors the demo relying party's
// pages (`/demo/`, `/demo/login`, `/demo/callback`, the "Signed in" table of claims), so the same browser steps drive
// both, but it asks for `response_mode=query` (the demo uses `form_post`). The library checks discovery, the
// authorization response (state, RFC 9207 `iss`), the token response and the ID token claims (iss, aud, exp, iat,
// nonce); the ID token's signature is checked here against the JWKS with node:crypto.
import http from 'node:http';
import { createPublicKey, verify } from 'node:crypto';
import * as oauth from 'oauth4webapi';

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function page(res, status, title, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`
    + `<body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`);
}

/** Verifies a compact JWS against the issuer's JWKS (RS256 or ES256) and returns its claims. */
export function verifyIdToken(token, jwks, { issuer, clientId, nonce, now = Math.floor(Date.now() / 1000) }) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('the ID token is not a compact JWS');
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error(`no key ${header.kid} in the JWKS`);
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2], 'base64url');
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  let ok;
  if (header.alg === 'RS256') ok = verify('sha256', signed, key, signature);
  else if (header.alg === 'ES256') ok = verify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, signature);
  else throw new Error(`unexpected alg ${header.alg}`);
  if (!ok) throw new Error('the ID token signature does not verify');
  if (claims.iss !== issuer) throw new Error(`iss ${claims.iss} is not ${issuer}`);
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(clientId)) throw new Error('the ID token is not for this client');
  if (!(claims.exp > now)) throw new Error('the ID token has expired');
  if (claims.nonce !== nonce) throw new Error('the nonce does not match');
  return { header, claims };
}

/**
 * Starts the relying party on 127.0.0.1 (a loopback IP, as RFC 8252 wants for http redirect URIs). Call
 * `configure({ issuer, clientId, clientSecret })` once the client is registered.
 */
export async function startRelyingParty() {
  const pending = new Map();
  let settings = null;
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => page(res, 500, 'Relying party error', `<p>${escapeHtml(e.message)}</p>`));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  const redirectUri = `${base}/demo/callback`;
  const homeUri = `${base}/demo/`;

  // Loopback http: the library wants https unless told otherwise.
  const insecure = { [oauth.allowInsecureRequests]: true };

  async function discover() {
    const issuer = new URL(settings.issuer);
    return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  }

  function failed(res, message) {
    return page(res, 400, 'Sign-in did not complete', `<p>${escapeHtml(message)}</p>`);
  }

  async function handle(req, res) {
    const url = new URL(req.url, base);
    if (url.pathname === '/demo/') {
      return page(res, 200, 'E2E relying party', '<p><a href="/demo/login">Sign in with passkey</a></p>');
    }
    if (url.pathname === '/demo/login') {
      const as = await discover();
      const state = oauth.generateRandomState();
      const nonce = oauth.generateRandomNonce();
      const verifier = oauth.generateRandomCodeVerifier();
      pending.set(state, { nonce, verifier });
      const auth = new URL(as.authorization_endpoint);
      const params = {
        response_type: 'code', client_id: settings.clientId, redirect_uri: redirectUri, scope: 'openid profile email',
        state, nonce, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
        response_mode: 'query',
      };
      for (const [k, v] of Object.entries(params)) auth.searchParams.set(k, v);
      res.writeHead(303, { location: auth.toString() });
      return res.end();
    }
    if (url.pathname === '/demo/callback') {
      const flow = pending.get(url.searchParams.get('state'));
      if (!flow) return failed(res, 'unknown or used state; start again');
      pending.delete(url.searchParams.get('state'));
      const as = await discover();
      const client = { client_id: settings.clientId };
      let params;
      try {
        params = oauth.validateAuthResponse(as, client, url, url.searchParams.get('state'));
      } catch (e) {
        if (e instanceof oauth.AuthorizationResponseError) {
          return failed(res, `the provider answered ${e.error}: ${e.error_description ?? ''}`);
        }
        return failed(res, `the authorization response was refused: ${e.message}`);
      }
      let result;
      try {
        const response = await oauth.authorizationCodeGrantRequest(as, client,
          oauth.ClientSecretBasic(settings.clientSecret), params, redirectUri, flow.verifier, insecure);
        result = await oauth.processAuthorizationCodeResponse(as, client, response,
          { expectedNonce: flow.nonce, requireIdToken: true });
      } catch (e) {
        return failed(res, `the token response was refused: ${e.message}`);
      }
      oauth.getValidatedIdTokenClaims(result);
      const jwks = await (await fetch(as.jwks_uri)).json();
      const { claims } = verifyIdToken(result.id_token, jwks, {
        issuer: settings.issuer, clientId: settings.clientId, nonce: flow.nonce,
      });
      const rows = Object.entries(claims).map(([k, v]) =>
        `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(typeof v === 'string' ? v : JSON.stringify(v))}</td></tr>`).join('');
      const logout = new URL(as.end_session_endpoint);
      logout.searchParams.set('id_token_hint', result.id_token);
      logout.searchParams.set('post_logout_redirect_uri', homeUri);
      logout.searchParams.set('client_id', settings.clientId);
      return page(res, 200, 'Signed in', `<table>${rows}</table><p><a href="${escapeHtml(logout)}">Sign out</a></p>`);
    }
    return page(res, 404, 'Not found', '');
  }

  return {
    base,
    redirectUri,
    homeUri,
    configure: (s) => { settings = s; },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
