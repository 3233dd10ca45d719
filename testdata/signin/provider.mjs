#!/usr/bin/env node
// A real OpenID Connect provider for Gatehouse's end-to-end sign-in tests, standing in for
// Kubeflow's Dex. It listens on 127.0.0.1 only, serves the OpenID Connect endpoints under the
// issuer URL's path (`/dex/...` for `http://dex.auth.svc.cluster.local:5556/dex`), knows one
// client and one user, and stops by itself after --max-seconds. See README.md beside this file.
//
// stdout carries exactly one line, {"ready": true, "port": P, "issuer": "..."}, once the
// socket listens; everything else goes to stderr.

import http from 'node:http';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

// The library prints notices with console.info (stdout). Keep stdout for the ready line alone.
for (const name of ['log', 'info', 'debug']) {
  console[name] = (...args) => console.error(...args);
}

function fail(message) {
  process.stderr.write(`provider: ${message}\n`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      port: { type: 'string' },
      issuer: { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      user: { type: 'string' },
      groups: { type: 'string', default: 'ml-team' },
      password: { type: 'string' },
      'consent-page': { type: 'boolean', default: false },
      'max-seconds': { type: 'string', default: '600' },
      'key-file': { type: 'string' },
      kid: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail(err.message);
}

if (args.help) {
  process.stderr.write(`usage: node provider.mjs --port P --issuer URL --client-id ID --client-secret S
         --redirect-uri URI [--redirect-uri URI ...] [--post-logout-redirect-uri URI ...]
         --user EMAIL [--groups a,b] [--password X] [--consent-page]
         [--max-seconds N] [--key-file PATH [--kid KID]]
`);
  process.exit(0);
}

for (const required of ['port', 'issuer', 'client-id', 'client-secret', 'redirect-uri', 'user']) {
  if (args[required] === undefined) fail(`--${required} is required (--help for usage)`);
}
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port: not a port: ${args.port}`);
const maxSeconds = Number(args['max-seconds']);
if (!(maxSeconds > 0)) fail(`--max-seconds: not a positive number: ${args['max-seconds']}`);

let issuerUrl;
try {
  issuerUrl = new URL(args.issuer);
} catch {
  fail(`--issuer: not a URL: ${args.issuer}`);
}
if (issuerUrl.search || issuerUrl.hash) fail('--issuer: no query or fragment allowed');
// The issuer as given, byte for byte: it is what the `iss` claim and discovery carry.
const issuer = args.issuer;
// Where the provider's routes live on this listener: the issuer's path, without a trailing slash.
const mount = issuerUrl.pathname.replace(/\/$/, '');

const email = args.user;
if (!/^[^@\s]+@[^@\s]+$/.test(email)) fail(`--user: not an email address: ${email}`);
// An opaque, stable subject: the first 32 hex digits of SHA-256 over the email address.
const sub = crypto.createHash('sha256').update(email).digest('hex').slice(0, 32);
const groups = args.groups.split(',').map((g) => g.trim()).filter(Boolean);
const localPart = email.split('@')[0];

// ---------------------------------------------------------------- the signing key

function thumbprint(jwk) {
  // RFC 7638: the required members of an RSA key, in lexicographic order, no whitespace.
  const canonical = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  return crypto.createHash('sha256').update(canonical).digest('base64url');
}

function loadSigningKey() {
  let key;
  if (args['key-file']) {
    const text = readFileSync(args['key-file'], 'utf8');
    if (text.trimStart().startsWith('{')) {
      let parsed = JSON.parse(text);
      if (Array.isArray(parsed.keys)) [parsed] = parsed.keys;
      key = crypto.createPrivateKey({ key: parsed, format: 'jwk' });
      if (!args.kid && parsed.kid) args.kid = parsed.kid;
    } else {
      key = crypto.createPrivateKey(text);
    }
    if (key.asymmetricKeyType !== 'rsa') fail('--key-file: an RSA private key is needed (RS256)');
  } else {
    ({ privateKey: key } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }));
  }
  const jwk = key.export({ format: 'jwk' });
  return { ...jwk, kid: args.kid || thumbprint(jwk), alg: 'RS256', use: 'sig' };
}

// ---------------------------------------------------------------- request counts

const counts = { total: 0, token: 0, jwks: 0, authorization: 0, by_path: {} };

function count(pathname) {
  counts.total += 1;
  counts.by_path[pathname] = (counts.by_path[pathname] || 0) + 1;
  if (pathname === `${mount}/token`) counts.token += 1;
  if (pathname === `${mount}/jwks`) counts.jwks += 1;
  if (pathname === `${mount}/auth` || pathname.startsWith(`${mount}/auth/`)) counts.authorization += 1;
}

// ---------------------------------------------------------------- pages

function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Plain pages with no outside resources: the test machine has no network, and a page that
// loads fonts from elsewhere would make Chromium try.
function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:28em;margin:3em auto}label,input,button{display:block;margin:.4em 0}</style>
</head><body>
<h1>${esc(title)}</h1>
${body}
</body></html>
`;
}

function loginPage(uid, error, login) {
  const action = `${mount}/interaction/${encodeURIComponent(uid)}/login`;
  return page('Sign in', `
<p>Gatehouse test provider (issuer ${esc(issuer)}).</p>
${error ? `<p id="login-error" role="alert">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="${esc(action)}">
<label for="login">Email address</label>
<input id="login" name="login" type="email" autocomplete="username" value="${esc(login || '')}" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<button id="submit-login" type="submit">Sign in</button>
</form>`);
}

function consentPage(uid, clientId, scopes) {
  const action = `${mount}/interaction/${encodeURIComponent(uid)}/confirm`;
  return page('Grant access', `
<p id="consent">The application <b>${esc(clientId)}</b> asks for: ${esc(scopes.join(' '))}.</p>
<form id="consent-form" method="post" action="${esc(action)}">
<button id="submit-consent" type="submit" name="approve" value="yes">Allow</button>
</form>`);
}

async function logoutSource(ctx, form) {
  ctx.body = page('Sign out', `
<p id="logout-confirm">Sign out of the Gatehouse test provider?</p>
${form}
<button id="logout-yes" type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button id="logout-no" type="submit" form="op.logoutForm">No, stay signed in</button>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = page('Signed out', '<p id="logout-success">You are signed out of the Gatehouse test provider.</p>');
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('Error', `<pre id="error">${esc(JSON.stringify(out, null, 2))}</pre>`);
}

// ---------------------------------------------------------------- the provider

const { default: Provider } = await import('oidc-provider');

const configuration = {
  clients: [{
    client_id: args['client-id'],
    client_secret: args['client-secret'],
    redirect_uris: args['redirect-uri'],
    post_logout_redirect_uris: args['post-logout-redirect-uri'] || [],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    // client_secret_post is accepted too: the library takes either method for a client
    // registered with one of the two.
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [loadSigningKey()] },
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // Put the scopes' claims into the ID token itself (as Dex does), not only behind userinfo.
  conformIdTokenClaims: false,
  async findAccount(_ctx, id) {
    if (id !== sub) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub, email, email_verified: true, groups, name: localPart, preferred_username: localPart,
        };
      },
    };
  },
  interactions: {
    url: (_ctx, interaction) => `${mount}/interaction/${interaction.uid}`,
  },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    revocation: { enabled: true },
  },
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
    // The session cookie is scoped to the issuer's path so that, on the gateway's origin
    // (cookies ignore ports), it reaches /dex/... only and never mixes with the gateway's own.
    // The short-lived interaction cookies keep the library's paths, one per interaction
    // (<mount>/interaction/<uid>, <mount>/auth/<uid>), so two sign-ins under way at once (a
    // page and its /favicon.ico, say) do not overwrite each other's.
    long: { httpOnly: true, sameSite: 'lax', path: mount || '/' },
    short: { httpOnly: true, sameSite: 'lax' },
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 86400,
    Interaction: 600,
    Session: 3600,
    Grant: 86400,
  },
  clientBasedCORS: () => false,
  renderError,
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => process.stderr.write(`provider: server_error: ${err.stack || err}\n`));
provider.on('grant.error', (_ctx, err) => process.stderr.write(`provider: grant.error: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}\n`));
const providerHandler = provider.callback();

// A grant for everything the authorization request asked for: no consent screen, as Dex with
// skipApprovalScreen (Kubeflow's setting). With --consent-page the user clicks "Allow" first.
async function grantAll(interaction) {
  const { params, session, grantId, prompt } = interaction;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session?.accountId ?? sub, clientId: params.client_id });
  grant.addOIDCScope(params.scope || 'openid');
  if (prompt.details?.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  return grant.save();
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

// The login and consent pages (the library's "interactions"), at <mount>/interaction/<uid>.
async function interaction(req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    send(res, 400, page('Error', `<p id="error">${esc(err.message)}</p>`));
    return;
  }
  if (details.uid !== uid) {
    send(res, 400, page('Error', '<p id="error">interaction mismatch</p>'));
    return;
  }
  const { prompt, params } = details;

  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') {
      send(res, 200, loginPage(uid));
    } else if (prompt.name === 'consent' && args['consent-page']) {
      send(res, 200, consentPage(uid, params.client_id, String(params.scope || '').split(' ')));
    } else if (prompt.name === 'consent') {
      await provider.interactionFinished(req, res, { consent: { grantId: await grantAll(details) } });
    } else {
      send(res, 501, page('Error', `<p id="error">prompt ${esc(prompt.name)} not supported</p>`));
    }
    return;
  }

  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const form = await readForm(req);
    const login = (form.get('login') || '').trim();
    const password = form.get('password') || '';
    const passwordOk = args.password === undefined || password === args.password;
    if (login.toLowerCase() !== email.toLowerCase() || !passwordOk) {
      process.stderr.write(`provider: refused the login of ${JSON.stringify(login)}\n`);
      send(res, 401, loginPage(uid, 'Invalid email address or password.', login));
      return;
    }
    const result = { login: { accountId: sub } };
    if (!args['consent-page']) {
      // Login and consent in one go: the grant is made now, so no consent round trip follows.
      result.consent = { grantId: await grantAll(details) };
    }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    return;
  }

  if (req.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
    await readForm(req);
    await provider.interactionFinished(req, res, { consent: { grantId: await grantAll(details) } });
    return;
  }

  send(res, 405, page('Error', '<p id="error">not allowed here</p>'));
}

const interactionPath = new RegExp(`^${mount.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/interaction/([^/]+)(?:/(login|confirm))?$`);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const { pathname } = url;
  if (pathname === '/__counts') {
    send(res, 200, `${JSON.stringify(counts)}\n`, 'application/json');
    return;
  }
  count(pathname);
  res.on('finish', () => {
    process.stderr.write(`provider: ${req.method} ${pathname} ${res.statusCode} host=${req.headers.host}\n`);
  });
  try {
    const match = interactionPath.exec(pathname);
    if (match) {
      await interaction(req, res, decodeURIComponent(match[1]), match[2]);
      return;
    }
    if (mount === '' || pathname === mount || pathname.startsWith(`${mount}/`)) {
      // Mounted under the issuer's path: the library routes on the rest, and rebuilds its own
      // URLs from originalUrl's prefix and the request's Host.
      req.originalUrl = req.url;
      req.url = req.url.slice(mount.length) || '/';
      providerHandler(req, res);
      return;
    }
    send(res, 404, 'not found\n', 'text/plain');
  } catch (err) {
    process.stderr.write(`provider: ${err.stack || err}\n`);
    if (!res.headersSent) send(res, 500, 'internal error\n', 'text/plain');
    else res.destroy();
  }
});

let stopping = false;
function stop(reason) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`provider: stopping (${reason})\n`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
setTimeout(() => stop(`--max-seconds ${maxSeconds} reached`), maxSeconds * 1000).unref();

server.on('error', (err) => fail(`listen: ${err.message}`));
server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  process.stdout.write(`{"ready": true, "port": ${actual}, "issuer": ${JSON.stringify(issuer)}}\n`);
  process.stderr.write(`provider: listening on 127.0.0.1:${actual}, routes under ${mount || '/'}, user ${email} (sub ${sub}, groups ${groups.join(',')})\n`);
});
