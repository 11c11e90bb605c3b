// What a screen reader and a phone user need from a page, shared by the accessibility and the broker tests.

export const PHONE = { width: 390, height: 844 };

/**
 * Script errors and console errors of a page (a missing /favicon.ico counts). Not counted: the console line Chromium
 * writes when the page itself is an error page (its status is checked elsewhere).
 */
export function collectErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const from = m.location().url;
    if (m.type() !== 'error' || from === page.url()) return;
    errors.push(`console: ${m.text()} (${from})`);
  });
  return errors;
}

/** What a screen reader and a phone user need from the page in view; returns a list of problems. */
export async function problems(page) {
  return page.evaluate(() => {
    const found = [];
    const visible = (el) => {
      const r = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      return r.width > 0 && r.height > 0 && style.visibility !== 'hidden' && style.display !== 'none';
    };
    if (!document.documentElement.lang) found.push('html has no lang');
    if (!document.title.trim()) found.push('no title');
    if (document.querySelectorAll('h1').length !== 1) found.push(`${document.querySelectorAll('h1').length} h1`);
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden' || !visible(el)) continue;
      const named = el.labels?.length > 0 || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
      if (!named) found.push(`unlabelled ${el.tagName.toLowerCase()}#${el.id || '?'}`);
    }
    for (const el of document.querySelectorAll('button, a[href]')) {
      if (!visible(el)) continue;
      const name = (el.getAttribute('aria-label') || el.textContent || '').trim();
      if (!name) found.push(`nameless ${el.tagName.toLowerCase()}#${el.id || '?'}`);
      const r = el.getBoundingClientRect();
      const inline = el.tagName === 'A' && getComputedStyle(el).display === 'inline';
      if (!inline && (r.width < 24 || r.height < 24)) {
        found.push(`small target ${el.tagName.toLowerCase()}#${el.id || '?'} ${Math.round(r.width)}x${Math.round(r.height)}`);
      }
    }
    const status = document.getElementById('status');
    if (status && !status.textContent.trim() && status.getBoundingClientRect().height > 0) {
      found.push(`the empty status line takes ${Math.round(status.getBoundingClientRect().height)} px`);
    }
    if (document.documentElement.scrollWidth > window.innerWidth) {
      found.push(`wider than the screen: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
    }
    return found;
  });
}

