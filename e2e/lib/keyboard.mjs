// Driving a page with the keyboard only (Tab, Shift+Tab, Enter, Space, arrow keys and typing; never a click) and
// checking what a keyboard user needs: every control reachable with Tab, and a visible focus indicator on each.
import assert from 'node:assert/strict';

/** What has focus: tag, id, type, the name a person sees (its label or text), value, and whether focus shows. */
export async function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body || el === document.documentElement) return null;
    const text = (node) => (node?.textContent ?? '').trim().replace(/\s+/g, ' ');
    const name = el.getAttribute('aria-label') || (el.labels?.length ? text(el.labels[0]) : '') || text(el);
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
    const ring = el.matches(':focus-visible') && (outline || style.boxShadow !== 'none');
    return {
      tag: el.tagName.toLowerCase(), id: el.id, type: el.type ?? '', name, value: el.value ?? '', ring,
      key: `${el.tagName.toLowerCase()}#${el.id}|${el.type === 'radio' ? el.name : ''}|${el.getAttribute('href') ?? ''}|${name}`,
    };
  });
}

function matches(f, want) {
  if (!f) return false;
  if (typeof want === 'function') return want(f);
  if (want instanceof RegExp) return want.test(f.name);
  return f.id === want || f.name === want;
}

/**
 * Presses Tab (or Shift+Tab with `back`) until the focused element matches `want` (its id or name, a RegExp of its
 * name, or a predicate); every element passed on the way must show its focus. Returns the focused element.
 */
export async function tabTo(page, want, { back = false, max = 120 } = {}) {
  const seen = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const f = await focused(page);
    if (f) {
      assert.ok(f.ring, `focus is visible on ${f.key} (${page.url()})`);
      seen.push(f.key);
    }
    if (matches(f, want)) return f;
  }
  throw new Error(`Tab never reached ${want} on ${page.url()}; passed ${seen.join(', ')}`);
}

/** Focuses the control `want` with Tab and types `text` into it (after selecting what it held). */
export async function typeInto(page, want, text) {
  await tabTo(page, want);
  await page.keyboard.press('ControlOrMeta+A');
  if (text === '') await page.keyboard.press('Delete');
  else await page.keyboard.type(text);
}

/** Focuses the checkbox `want` with Tab and sets it to `on` with Space. */
export async function tick(page, want, on = true) {
  const f = await tabTo(page, want);
  assert.equal(f.type, 'checkbox', `${want} is a checkbox`);
  const checked = () => page.evaluate(() => document.activeElement.checked);
  if ((await checked()) !== on) await page.keyboard.press('Space');
  assert.equal(await checked(), on, `${want} ${on ? 'ticked' : 'unticked'}`);
}

/** Focuses the select `want` with Tab and moves its choice with the arrow keys until its value is `value`. */
export async function choose(page, want, value) {
  const f = await tabTo(page, want);
  assert.equal(f.tag, 'select', `${want} is a select`);
  const current = () => page.evaluate(() => document.activeElement.value);
  for (const key of ['ArrowDown', 'ArrowUp']) {
    for (let i = 0; i < 50 && (await current()) !== value; i++) {
      const before = await current();
      await page.keyboard.press(key);
      if ((await current()) === before) break;
    }
  }
  assert.equal(await current(), value, `${want}: ${value} chosen with the arrow keys`);
}

/** Focuses the link or button `want` with Tab and presses Enter on it. */
export async function press(page, want) {
  const f = await tabTo(page, want);
  assert.ok(['a', 'button'].includes(f.tag), `${want} is a link or button, not ${f.tag}`);
  await page.keyboard.press('Enter');
}

/**
 * Every visible control of the page is reached by Tab from the top of the page, in one round, each with a visible
 * focus (a radio group is one stop). Leaves focus back at the start of the round. Returns the number of stops.
 */
export async function everyControlReachable(page) {
  const controls = await page.evaluate(() => {
    const visible = (el) => {
      const r = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      return r.width > 0 && r.height > 0 && style.visibility !== 'hidden' && style.display !== 'none';
    };
    const text = (node) => (node?.textContent ?? '').trim().replace(/\s+/g, ' ');
    const selector = 'a[href], button, input:not([type="hidden"]), select, textarea, summary, [tabindex]:not([tabindex="-1"])';
    return [...document.querySelectorAll(selector)]
      .filter((el) => !el.disabled && visible(el) && !el.closest('details:not([open]) > :not(summary)'))
      .map((el) => {
        const name = el.getAttribute('aria-label') || (el.labels?.length ? text(el.labels[0]) : '') || text(el);
        return `${el.tagName.toLowerCase()}#${el.id}|${el.type === 'radio' ? el.name : ''}|${el.getAttribute('href') ?? ''}|${name}`;
      });
  });
  const wanted = new Set(controls.map((k) => (k.split('|')[1] ? k.replace(/#[^|]*\|/, '#|').replace(/\|[^|]*$/, '|') : k)));
  const reached = new Set();
  let first = null;
  for (let i = 0; i < controls.length + 10; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    if (!f) continue;
    assert.ok(f.ring, `focus is visible on ${f.key} (${page.url()})`);
    if (f.key === first) break;
    first ??= f.key;
    reached.add(f.key.split('|')[1] ? f.key.replace(/#[^|]*\|/, '#|').replace(/\|[^|]*$/, '|') : f.key);
  }
  const missing = [...wanted].filter((k) => !reached.has(k));
  assert.deepEqual(missing, [], `every control reachable with Tab on ${page.url()}`);
  return reached.size;
}
