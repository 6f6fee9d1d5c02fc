// Debian's Chromium (apt-get install chromium), headless, driven by playwright-core: no browser
// is downloaded, and the flags keep Chromium itself from calling any host (updates, sync,
// background fetches), so every request seen is one a page made.
import { chromium } from 'playwright-core';

export const EXECUTABLE = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launch() {
  return chromium.launch({
    executablePath: EXECUTABLE,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A fresh context (1280x800, light, English) that records what its pages do.
 * `requests`: every URL requested, by any page or worker of the context.
 * `violations(page)`: the Content-Security-Policy violations the page reported.
 * `errors`: uncaught exceptions in its pages.
 */
export async function recordingContext(browser) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    deviceScaleFactor: 1,
    colorScheme: 'light',
    locale: 'en-US',
    reducedMotion: 'reduce',
  });
  const requests = [];
  const errors = [];
  context.on('request', (request) => requests.push(request.url()));
  context.on('page', (page) => page.on('pageerror', (error) => errors.push(error)));
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push({
        directive: e.effectiveDirective,
        blocked: e.blockedURI,
        source: `${e.sourceFile}:${e.lineNumber}`,
      });
    });
  });
  return {
    context,
    requests,
    errors,
    violations: (page) => page.evaluate(() => window.__cspViolations),
  };
}

/** The requests that went anywhere but `origin` (data: and blob: URLs stay in the page). */
export function foreignRequests(requests, origin) {
  return requests.filter((url) => {
    if (url.startsWith('data:') || url.startsWith('blob:')) return false;
    return new URL(url).origin !== origin;
  });
}
