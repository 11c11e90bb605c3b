// A small OpenID Connect relying party in Node, with no library: what a customer's application does against a
// Tessera started with `tessera serve`. It mirrors the demo relying party's pages (`/demo/`, `/demo/login`,
// `/demo/callback`, the "Signed in" table of claims), so the same browser steps drive both, but it asks for
// `response_mode=query` (the demo uses `form_post`) and checks the ID token itself with node:crypto against the JWKS.
import http from 'node:http';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';

const b64url = (buf) => Buffer.from(buf).toString('base64url');

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

  async function discover() {
    const res = await fetch(`${settings.issuer}/.well-known/openid-configuration`);
    const metadata = await res.json();
    if (metadata.issuer !== settings.issuer) throw new Error('discovery names another issuer');
    return metadata;
  }

  async function handle(req, res) {
    const url = new URL(req.url, base);
    if (url.pathname === '/demo/') {
      return page(res, 200, 'E2E relying party', '<p><a href="/demo/login">Sign in with passkey</a></p>');
    }
    if (url.pathname === '/demo/login') {
      const metadata = await discover();
      const state = b64url(randomBytes(16));
      const nonce = b64url(randomBytes(16));
      const verifier = b64url(randomBytes(32));
      pending.set(state, { nonce, verifier });
      const auth = new URL(metadata.authorization_endpoint);
      const params = {
        response_type: 'code', client_id: settings.clientId, redirect_uri: redirectUri, scope: 'openid profile email',
        state, nonce, code_challenge: b64url(createHash('sha256').update(verifier).digest()),
        code_challenge_method: 'S256', response_mode: 'query',
      };
      for (const [k, v] of Object.entries(params)) auth.searchParams.set(k, v);
      res.writeHead(303, { location: auth.toString() });
      return res.end();
    }
    if (url.pathname === '/demo/callback') {
      const q = Object.fromEntries(url.searchParams);
      const flow = pending.get(q.state);
      if (!flow) return page(res, 400, 'Sign-in did not complete', '<p>unknown or used state</p>');
      pending.delete(q.state);
      if (q.iss !== settings.issuer) return page(res, 400, 'Sign-in did not complete', '<p>wrong or missing iss</p>');
      if (q.error) {
        return page(res, 400, 'Sign-in did not complete',
          `<p>the provider answered ${escapeHtml(q.error)}: ${escapeHtml(q.error_description ?? '')}</p>`);
      }
      const metadata = await discover();
      const basic = Buffer.from(`${encodeURIComponent(settings.clientId)}:${encodeURIComponent(settings.clientSecret)}`);
      const tokenRes = await fetch(metadata.token_endpoint, {
        method: 'POST',
        headers: { authorization: `Basic ${basic.toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code', code: q.code, redirect_uri: redirectUri, code_verifier: flow.verifier,
        }),
      });
      const tokens = await tokenRes.json();
      if (!tokenRes.ok) {
        return page(res, 400, 'Sign-in did not complete', `<p>token request failed: ${escapeHtml(JSON.stringify(tokens))}</p>`);
      }
      const jwks = await (await fetch(metadata.jwks_uri)).json();
      const { claims } = verifyIdToken(tokens.id_token, jwks, {
        issuer: settings.issuer, clientId: settings.clientId, nonce: flow.nonce,
      });
      const rows = Object.entries(claims).map(([k, v]) =>
        `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(typeof v === 'string' ? v : JSON.stringify(v))}</td></tr>`).join('');
      const logout = new URL(metadata.end_session_endpoint);
      logout.searchParams.set('id_token_hint', tokens.id_token);
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
