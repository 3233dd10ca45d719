#!/usr/bin/env node
// Drives headless Chromium (Debian's /usr/bin/chromium, through the DevTools protocol with
// playwright-core) through one browser sign-in against Gatehouse, and prints ONE JSON object on
// stdout. Exit 0 when the scenario ran to its end (the test judges the recorded results), 1 on
// a failure with {"error", "steps", "url", "html"}, 2 on bad arguments. See README.md.
//
// The scenario: (a) open --start, land on the provider's login page (reached through the
// gateway), sign in, come back to --start; (b) record the cookies of the start URL's host;
// (c) open --start again; (d) with --sign-out: open it (confirming on the provider's page if it
// asks), record where that ends and the cookies left, then open --start once more.

import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

function usage(message) {
  process.stderr.write(`browser: ${message}
usage: node browser.mjs --start URL --login EMAIL [--password X] [--sign-out URL]
         [--timeout-ms N] [--chromium PATH] [--screenshots DIR] [--counts URL]
         [--keep-favicon]
`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      start: { type: 'string' },
      login: { type: 'string' },
      password: { type: 'string', default: 'password' },
      'sign-out': { type: 'string' },
      'timeout-ms': { type: 'string', default: '20000' },
      chromium: { type: 'string', default: '/usr/bin/chromium' },
      screenshots: { type: 'string' },
      counts: { type: 'string' },
      'keep-favicon': { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  usage(err.message);
}
if (!args.start) usage('--start is required');
if (!args.login) usage('--login is required');
const timeoutMs = Number(args['timeout-ms']);
if (!(timeoutMs > 0)) usage(`--timeout-ms: not a positive number: ${args['timeout-ms']}`);
let startUrl;
try {
  startUrl = new URL(args.start);
} catch {
  usage(`--start: not a URL: ${args.start}`);
}

const began = Date.now();
const steps = [];
// Long URLs (an id_token_hint, say) are cut in the log; the phases' "hops" keep them whole.
function step(text) {
  const short = text.replace(/https?:\/\/\S{150,}/g, (url) => `${url.slice(0, 140)}…`);
  steps.push(`${((Date.now() - began) / 1000).toFixed(2)}s ${short}`);
}

let browser;
let page;
let finished = false;

async function failure(message) {
  if (finished) return;
  finished = true;
  const out = { error: message, steps, url: null, html: null };
  try {
    out.url = page ? page.url() : null;
    out.html = page ? (await withDeadline(page.content(), 1000)).slice(0, 2000) : null;
  } catch {
    // The page may be gone; the error and the steps still say what happened.
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  await closeBrowser();
  process.exit(1);
}

function withDeadline(promise, ms) {
  return Promise.race([promise, new Promise((_, reject) => {
    setTimeout(() => reject(new Error('deadline')), ms).unref();
  })]);
}

async function closeBrowser() {
  if (!browser) return;
  try {
    await withDeadline(browser.close(), 3000);
  } catch {
    // playwright-core also kills the browser it launched when this process exits.
  }
}

// The whole run is bounded: past --timeout-ms it reports what it has and stops.
setTimeout(() => {
  failure(`timed out after ${timeoutMs} ms`);
}, timeoutMs).unref();

const { chromium } = await import('playwright-core');

// Every main-frame navigation response (redirects included) lands here; each phase takes the
// ones that happened during it.
let hops = [];
function takeHops() {
  const taken = hops;
  hops = [];
  return taken;
}
let navigations = 0;

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// Waits until the main frame stops navigating (auto-submitting forms included), bounded.
async function settle() {
  for (let i = 0; i < 20; i += 1) {
    const seen = navigations;
    await page.waitForLoadState('load');
    await sleep(150);
    if (navigations === seen) return;
  }
}

async function bodyText(response) {
  try {
    return response ? await response.text() : await page.evaluate(() => document.body?.innerText ?? '');
  } catch {
    return page.evaluate(() => document.body?.innerText ?? '');
  }
}

async function snapshot(name, response) {
  const last = response ?? null;
  const body = await bodyText(last);
  let json;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  const out = {
    url: page.url(),
    status: last ? last.status() : null,
    title: await page.title(),
    body: body.length > 8000 ? `${body.slice(0, 8000)}…` : body,
    hops: takeHops(),
  };
  if (json !== undefined) out.json = json;
  if (args.counts) out.provider_counts = await providerCounts();
  if (args.screenshots) {
    mkdirSync(args.screenshots, { recursive: true });
    await page.screenshot({ path: path.join(args.screenshots, `${name}.png`), fullPage: true });
  }
  return out;
}

// The provider's request counts (provider.mjs's GET /__counts), fetched by this script itself,
// not by the browser, so that a test can tell which phase called the provider.
async function providerCounts() {
  try {
    const response = await fetch(args.counts, { signal: AbortSignal.timeout(2000) });
    return await response.json();
  } catch (err) {
    return { error: err.message };
  }
}

// The last main-frame document response, after the page settled.
let lastDocument = null;

async function visit(url) {
  lastDocument = null;
  await page.goto(url, { waitUntil: 'load' });
  await settle();
  return lastDocument;
}

async function clickAndSettle(selector) {
  lastDocument = null;
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(selector)]);
  await settle();
  return lastDocument;
}

function cookieView(c) {
  return {
    name: c.name,
    value: c.value,
    domain: c.domain,
    path: c.path,
    httpOnly: c.httpOnly,
    secure: c.secure,
    sameSite: c.sameSite,
    expires: c.expires,
  };
}

// All cookies the browser holds for the start URL's host, whatever their path (cookies do not
// separate ports: the provider's, scoped to its issuer path, are there too).
async function hostCookies(context) {
  const all = await context.cookies();
  return all.filter((c) => c.domain.replace(/^\./, '') === startUrl.hostname).map(cookieView);
}

const isLoginPage = async () => (await page.locator('input[name="login"]').count()) > 0
  && (await page.locator('input[name="password"]').count()) > 0;

try {
  step(`launching ${args.chromium}`);
  browser = await chromium.launch({
    executablePath: args.chromium,
    headless: true,
    chromiumSandbox: false,
    timeout: Math.min(timeoutMs, 15000),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: false });
  if (!args['keep-favicon']) {
    // Chromium asks every origin it shows a page from for /favicon.ico. Through the gateway
    // that request is itself a protected request that starts a sign-in (a stray authorization
    // request at the provider, counted in /__counts). Answer it here, in the browser, instead.
    await context.route('**/favicon.ico', (route) => route.fulfill({ status: 404, body: '' }));
  }
  page = await context.newPage();
  page.setDefaultTimeout(timeoutMs);
  page.setDefaultNavigationTimeout(timeoutMs);
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && response.frame() === page.mainFrame()) {
      hops.push({ method: request.method(), url: response.url(), status: response.status() });
      if (response.status() < 300 || response.status() >= 400) lastDocument = response;
    }
  });
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations += 1;
  });

  const result = {};

  // (a) the protected page sends the browser to the provider's login page
  step(`goto ${args.start}`);
  let response = await visit(args.start);
  result.login_page = await snapshot('1-login-page', response);
  delete result.login_page.body;
  result.login_page.via_gateway = new URL(page.url()).origin === startUrl.origin;
  step(`landed on ${page.url()} (${result.login_page.status})`);
  if (!(await isLoginPage())) {
    await failure(`expected the provider's login page, got ${page.url()}`);
  }

  step(`signing in as ${args.login}`);
  await page.fill('input[name="login"]', args.login);
  await page.fill('input[name="password"]', args.password);
  response = await clickAndSettle('form:has(input[name="login"]) [type="submit"]');
  step(`after the login form: ${page.url()} (${response ? response.status() : '?'})`);

  if (await isLoginPage()) {
    const error = await page.locator('#login-error').textContent().catch(() => null);
    await failure(`the provider refused the login${error ? `: ${error.trim()}` : ''}`);
  }
  // A consent page, when the provider shows one (provider.mjs --consent-page).
  for (let i = 0; i < 2 && await page.locator('#submit-consent, button[name="approve"]').count() > 0; i += 1) {
    result.consent_page = true;
    step('consent page: allowing');
    response = await clickAndSettle('#submit-consent, button[name="approve"]');
    step(`after consent: ${page.url()} (${response ? response.status() : '?'})`);
  }
  result.first = await snapshot('2-first', response);
  result.first.at_start = page.url() === args.start;

  // (b) the cookies a test replays
  result.cookies = await hostCookies(context);
  step(`cookies for ${startUrl.hostname}: ${result.cookies.map((c) => `${c.name}@${c.path}`).join(', ') || 'none'}`);

  // (c) the same page again, on the session cookie
  step(`goto ${args.start} again`);
  response = await visit(args.start);
  result.second = await snapshot('3-second', response);
  result.second.at_start = page.url() === args.start;
  step(`second visit: ${page.url()} (${result.second.status})`);

  // (d) sign out, then the protected page once more
  if (args['sign-out']) {
    step(`goto ${args['sign-out']}`);
    response = await visit(args['sign-out']);
    let confirmed = false;
    if (await page.locator('#logout-yes, button[name="logout"][value="yes"]').count() > 0) {
      step(`the provider asks to confirm the sign-out at ${page.url()}: confirming`);
      response = await clickAndSettle('#logout-yes, button[name="logout"][value="yes"]');
      confirmed = true;
    }
    result.signed_out = await snapshot('4-signed-out', response);
    result.signed_out.confirm_page = confirmed;
    result.signed_out.cookies = await hostCookies(context);
    step(`signed out: ${page.url()} (${result.signed_out.status}); cookies left: ${result.signed_out.cookies.map((c) => `${c.name}@${c.path}`).join(', ') || 'none'}`);

    step(`goto ${args.start} after signing out`);
    response = await visit(args.start);
    result.after_sign_out = await snapshot('5-after-sign-out', response);
    delete result.after_sign_out.body;
    result.after_sign_out.login_page = await isLoginPage();
    step(`after sign-out: ${page.url()} (${result.after_sign_out.status})${result.after_sign_out.login_page ? ', the login page' : ''}`);
  }

  step('done');
  result.steps = steps;
  result.elapsed_ms = Date.now() - began;
  finished = true;
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await closeBrowser();
  process.exit(0);
} catch (err) {
  await failure(err && err.message ? err.message.split('\n')[0] : String(err));
}
