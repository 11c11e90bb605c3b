// The admin surfaces the browser tests drive besides the portal: `tessera admin ...` as a subprocess (with a
// profile file of its own) and the REST API at /admin/api/v1 with fetch; and the one normalised view of a broker
// tenant's configuration the three are compared by.
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { tesseraBin } from './harness.mjs';

/**
 * A `tessera admin` runner whose profile file is `profiles` (created by `login`). Resolves to stdout (parsed as JSON
 * with `{ json: true }`, which adds `-o json`); rejects with the exit code and stderr.
 */
export function adminCli(profiles) {
  return (args, { stdin = null, json = false } = {}) => new Promise((resolve, reject) => {
    const env = { ...process.env, TESSERA_ADMIN_PROFILES: profiles, RUST_LOG: 'warn' };
    // Only the profile file speaks for the CLI here.
    for (const key of ['TESSERA_ADMIN_TOKEN', 'TESSERA_ADMIN_URL', 'TESSERA_ADMIN_PROFILE']) delete env[key];
    const child = spawn(tesseraBin(), ['admin', ...(json ? ['-o', 'json'] : []), ...args], {
      stdio: ['pipe', 'pipe', 'pipe'], env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`tessera admin ${args.join(' ')} exited ${code}: ${stderr}`));
        return;
      }
      try {
        resolve(json ? JSON.parse(stdout) : stdout);
      } catch (e) {
        reject(new Error(`tessera admin ${args.join(' ')} printed no JSON (${e.message}): ${stdout}`));
      }
    });
    child.stdin.end(stdin ?? '');
  });
}

/**
 * A client of the REST API with `token`: `api(method, path, { body, ifMatch })` resolves to
 * `{ status, etag, body }` and fails the test on anything but a 2xx (the problem document in the message).
 */
export function adminApi(base, token) {
  return async (method, path, { body, ifMatch } = {}) => {
    const headers = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (ifMatch) headers['if-match'] = ifMatch;
    const res = await fetch(`${base}/admin/api/v1${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return { status: res.status, etag: res.headers.get('etag'), body: text ? JSON.parse(text) : null };
  };
}

/** Keys that differ between two identical configurations: generated ids, times, version tags. */
const VOLATILE = new Set(['client_id', 'created_at', 'updated_at', 'metadata_fetched_at', 'last_used_at', 'etag']);

/**
 * `value` with the volatile keys removed and the tenant's id and display name replaced by `{tenant}` and
 * `{tenant name}` in every string (a redirect URI, a client's name), so two tenants configured alike compare equal.
 */
export function normalise(value, { id, displayName }) {
  if (Array.isArray(value)) return value.map((v) => normalise(v, { id, displayName }));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value)
      .filter(([k]) => !VOLATILE.has(k))
      .map(([k, v]) => [k, normalise(v, { id, displayName })]));
  }
  if (typeof value === 'string') {
    if (value === id) return '{tenant}';
    const renamed = value.split(`/${id}/`).join('/{tenant}/');
    return displayName ? renamed.split(displayName).join('{tenant name}') : renamed;
  }
  return value;
}

/**
 * Everything the tutorial configures for broker tenant `tenant`, read through the API: the tenant, its identity
 * providers (with their claim mapping), applications, user flows with every version, and the broker's client at the
 * authenticator tenant `mytenant` (each provider's `client_id` names it). Normalised with `normalise`.
 */
export async function tenantConfiguration(api, tenant) {
  const { body: tenantView } = await api('GET', `/broker/tenants/${tenant}`);
  const list = async (path) => (await api('GET', `${path}?limit=200`)).body.items;
  const providers = await list(`/broker/tenants/${tenant}/identity-providers`);
  const clients = [];
  for (const provider of providers) {
    clients.push((await api('GET', `/tenants/mytenant/clients/${provider.client_id}`)).body);
  }
  const flows = await list(`/broker/tenants/${tenant}/user-flows`);
  const versions = {};
  for (const flow of flows) {
    versions[flow.name] = await list(`/broker/tenants/${tenant}/user-flows/${flow.name}/versions`);
  }
  const applications = await list(`/broker/tenants/${tenant}/applications`);
  return normalise({ tenant: tenantView, providers, clients, flows, versions, applications },
    { id: tenant, displayName: tenantView.display_name });
}
