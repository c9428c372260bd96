// Drives Debian's chromium (headless, through puppeteer-core) over crated's
// web pages for tests/integration/test_web_browser.py, and prints one JSON
// document of what it saw; the Python test asserts on it.
//
//     node tests/browser/pages.mjs PLAN.json > RESULT.json
//
// PLAN: {"chromium": "/usr/bin/chromium", "origin": "http://127.0.0.1:PORT",
//        "shots": DIR, "timeout_ms": N,
//        "sessions": [{"name": S, "steps": [STEP, ...]}, ...]}
// Each session is a fresh browser context (its own cookies), with
// clipboard permissions granted to the origin; "javascript": false turns
// script off in it. A STEP is one of
//   {"op": "visit", "id", "path", "shot"?, "narrow"?, "tabs"?, "copy"?}
//   {"op": "search", "id", "path", "q"}       type q into the search form, submit
//   {"op": "signin", "id", "token"}           the form of /-/signin
//   {"op": "signout", "id", "path"}           the sign-out form on path
// and gives {"id", "op", "page": FACTS, "events": EVENTS, ...}: FACTS is
// what the page shows (collect() below), EVENTS what happened while the
// step ran (console errors, page errors, failed requests, every request's
// URL, dialogs). "shot" writes DIR/SHOT-desktop.png (1280x800) and
// DIR/SHOT-phone.png (390x844, a mobile viewport) of the whole page (and
// with "narrow": true DIR/SHOT-narrow.png, 320x640, the narrowest phones);
// "tabs": N presses Tab up to N times and records each focused element's
// focus style; "copy" clicks every copy button and reads the clipboard.
// Nothing here waits a fixed time: every wait is on an event, bounded by
// timeout_ms, and the whole run by a watchdog.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// puppeteer-core lives in tests/node/node_modules (npm ci by ./dev.sh test)
const require = createRequire(join(here, '..', 'node', 'package.json'));
const puppeteer = require('puppeteer-core');

const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const origin = plan.origin;
const timeout = plan.timeout_ms || 20000;
const watchdog = setTimeout(() => {
	process.stderr.write('pages.mjs: watchdog: the run took too long\n');
	process.exit(3);
}, plan.watchdog_ms || 240000);

function log(msg) {
	process.stderr.write('pages.mjs: ' + msg + '\n');
}

// What happened on a page: every listener appends to the current buffer.
// ev: the buffer, or a function returning the current one.
function watch(page, evOrFn) {
	const cur = typeof evOrFn === 'function' ? evOrFn : () => evOrFn;
	const ev = new Proxy({}, { get: (t, k) => cur()[k] });
	page.on('console', (m) => {
		if (m.type() === 'error' || m.type() === 'warn' || m.type() === 'warning')
			ev.console.push({ type: m.type(), text: m.text(),
			    url: (m.location() || {}).url || '' });
	});
	page.on('pageerror', (e) => ev.pageerrors.push(String(e && e.message || e)));
	page.on('request', (r) => ev.requests.push({ url: r.url(), method: r.method(),
	    type: r.resourceType(), nav: r.isNavigationRequest() }));
	page.on('requestfailed', (r) => ev.failed.push({ url: r.url(),
	    error: (r.failure() || {}).errorText || '?' }));
	page.on('response', (r) => {
		if (r.status() >= 400)
			ev.bad.push({ url: r.url(), status: r.status(),
			    nav: r.request().isNavigationRequest() });
	});
	page.on('dialog', async (d) => {
		ev.dialogs.push({ type: d.type(), message: d.message() });
		await d.dismiss().catch(() => {});
	});
}

function newEvents() {
	return { console: [], pageerrors: [], requests: [], failed: [], bad: [], dialogs: [] };
}

// Everything the tests look at on a loaded page, read in the page.
function collect(page) {
	return page.evaluate(() => {
		const txt = (e) => (e ? e.textContent.replace(/\s+/g, ' ').trim() : null);
		const all = Array.from(document.querySelectorAll('*'));
		const onAttrs = [], jsUrls = [];
		for (const el of all) {
			for (const a of Array.from(el.attributes)) {
				const n = a.name.toLowerCase();
				if (n.startsWith('on'))
					onAttrs.push(el.tagName.toLowerCase() + '@' + n + '=' + a.value);
				if (['href', 'src', 'action', 'formaction', 'xlink:href', 'data']
				    .includes(n) && /^\s*(javascript|vbscript|data:text\/html)/i.test(a.value))
					jsUrls.push(el.tagName.toLowerCase() + '@' + n + '=' + a.value);
			}
		}
		const comments = [];
		const w = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_COMMENT);
		for (let n = w.nextNode(); n && comments.length < 50; n = w.nextNode())
			comments.push(n.nodeValue);
		const readme = document.querySelector('article.readme');
		// figures for people (never asserted): the document's wait and the load
		const nav = performance.getEntriesByType('navigation')[0];
		return {
			timing: nav ? { ttfb_ms: Math.round((nav.responseStart - nav.requestStart) * 100) / 100,
			    load_ms: Math.round(nav.loadEventEnd - nav.startTime),
			    server: (nav.serverTiming || []).map((t) => ({ name: t.name,
				ms: t.duration })) } : null,
			url: location.href,
			title: document.title,
			lang: document.documentElement.getAttribute('lang'),
			viewport_meta: !!document.querySelector('meta[name="viewport"]'),
			h1: Array.from(document.querySelectorAll('h1')).map(txt),
			crates: Array.from(document.querySelectorAll('li.crate')).map((li) => ({
				name: li.getAttribute('data-name'), text: txt(li),
				href: (li.querySelector('a[href]') || {}).href || null })),
			versions: Array.from(document.querySelectorAll('table.versions tr[data-version]'))
			    .map((tr) => ({ version: tr.getAttribute('data-version'),
				yanked: tr.classList.contains('yanked'), text: txt(tr),
				links: Array.from(tr.querySelectorAll('a[href]')).map((a) => a.href) })),
			pres: Array.from(document.querySelectorAll('pre')).map((p) => ({
				id: p.id || null, text: p.textContent })),
			copy_buttons: Array.from(document.querySelectorAll('button.copy')).map((b) => ({
				target: b.getAttribute('data-copy'), text: txt(b),
				shown: b.getClientRects().length > 0 })),
			links: Array.from(document.querySelectorAll('a[href]')).map((a) => ({
				href: a.href, text: txt(a) })),
			forms: Array.from(document.querySelectorAll('form')).map((f) => ({
				action: f.getAttribute('action'), method: (f.getAttribute('method') || 'get')
				    .toLowerCase(), role: f.getAttribute('role'),
				inputs: Array.from(f.querySelectorAll('input,button,select,textarea'))
				    .map((i) => ({ tag: i.tagName.toLowerCase(), name: i.name || null,
					type: i.getAttribute('type') })) })),
			readme: readme ? { text: txt(readme), html: readme.innerHTML } : null,
			scripts: Array.from(document.scripts).map((s) => ({ src: s.src || null,
				inline: !s.src, text: s.src ? '' : s.textContent.slice(0, 200) })),
			styles_inline: document.querySelectorAll('style').length,
			style_attrs: document.querySelectorAll('[style]').length,
			stylesheets: Array.from(document.querySelectorAll('link[rel~="stylesheet"]'))
			    .map((l) => l.href),
			on_attrs: onAttrs,
			js_urls: jsUrls,
			imgs: Array.from(document.querySelectorAll('img')).map((i) => i.getAttribute('src')),
			embeds: document.querySelectorAll('iframe,object,embed,frame,base,meta[http-equiv]').length,
			comments: comments,
			charts: document.querySelectorAll('svg.chart').length,
			body_text: document.body ? document.body.innerText.slice(0, 30000) : '',
		};
	});
}

// Width overflow and text contrast (WCAG: 4.5:1, 3:1 for large text) of the
// page as laid out now.
function layout(page) {
	return page.evaluate(() => {
		const parse = (c) => {
			const m = c.match(/rgba?\(([^)]+)\)/);
			if (!m) return null;
			const p = m[1].split(/[ ,/]+/).filter((x) => x).map(Number);
			return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
		};
		const lum = (c) => {
			const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
			return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
		};
		const blend = (fg, bg) => ({ r: fg.r * fg.a + bg.r * (1 - fg.a),
			g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a), a: 1 });
		const background = (el) => {
			const stack = [];
			for (let e = el; e; e = e.parentElement) {
				const c = parse(getComputedStyle(e).backgroundColor);
				if (c && c.a > 0) stack.push(c);
				if (c && c.a >= 1) break;
			}
			let bg = { r: 255, g: 255, b: 255, a: 1 };
			for (let i = stack.length - 1; i >= 0; i--) bg = blend(stack[i], bg);
			return bg;
		};
		const low = [];
		let checked = 0;
		for (const el of Array.from(document.body ? document.body.querySelectorAll('*') : [])) {
			const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.nodeValue.trim());
			if (!own) continue;
			const r = el.getBoundingClientRect();
			const cs = getComputedStyle(el);
			if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden') continue;
			checked++;
			const bg = background(el);
			const fg = blend(parse(cs.color) || { r: 0, g: 0, b: 0, a: 1 }, bg);
			const l1 = lum(fg), l2 = lum(bg);
			const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
			const size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
			const need = (size >= 24 || (size >= 18.66 && bold)) ? 3 : 4.5;
			if (ratio < need && low.length < 20)
				low.push({ tag: el.tagName.toLowerCase(), cls: el.className && String(el.className),
				    text: el.textContent.trim().slice(0, 40), color: cs.color,
				    background: 'rgb(' + [bg.r, bg.g, bg.b].map(Math.round) + ')',
				    ratio: Math.round(ratio * 100) / 100, need });
		}
		const d = document.documentElement;
		// the smallest chart label as drawn, in CSS px (its font size in
		// the viewBox's units times the SVG's scale)
		let chartPx = null;
		for (const t of Array.from(document.querySelectorAll('svg.chart text'))) {
			const m = t.getScreenCTM();
			const px = parseFloat(getComputedStyle(t).fontSize) * (m ? Math.abs(m.a) : 1);
			if (chartPx === null || px < chartPx) chartPx = Math.round(px * 10) / 10;
		}
		return { scroll_width: d.scrollWidth, client_width: d.clientWidth,
		    low_contrast: low, contrast_checked: checked, chart_label_px: chartPx };
	});
}

async function goto(page, path) {
	const resp = await page.goto(origin + path, { waitUntil: 'load', timeout });
	return resp ? resp.status() : 0;
}

async function shots(ctx, path, name, ev, narrow) {
	const out = {};
	const kinds = [['desktop', { width: 1280, height: 800 }],
	    ['phone', { width: 390, height: 844, isMobile: true, hasTouch: true,
		deviceScaleFactor: 2 }]];
	if (narrow)
		kinds.push(['narrow', { width: 320, height: 640, isMobile: true,
		    hasTouch: true, deviceScaleFactor: 2 }]);
	for (const [kind, vp] of kinds) {
		const p = await ctx.newPage();
		watch(p, ev);
		p.setDefaultTimeout(timeout);
		await p.setViewport(vp);
		await goto(p, path);
		const file = join(plan.shots, name + '-' + kind + '.png');
		await p.screenshot({ path: file, fullPage: true });
		// and what fits on the screen, legible where the whole page is long
		const top = join(plan.shots, name + '-' + kind + '-screen.png');
		await p.screenshot({ path: top });
		out[kind] = Object.assign({ file, screen: top }, await layout(p));
		await p.close();
	}
	return out;
}

// Tab through the page from its start; each focused element and its style.
async function tabs(page, n) {
	await page.evaluate(() => { if (document.activeElement) document.activeElement.blur(); });
	const seen = [];
	for (let i = 0; i < n; i++) {
		await page.keyboard.press('Tab');
		const f = await page.evaluate(() => {
			const e = document.activeElement;
			if (!e || e === document.body) return null;
			const cs = getComputedStyle(e);
			// the outline's contrast with what is behind it (the parent's
			// background: the ring is drawn outside the element)
			const parse = (c) => {
				const m = c.match(/rgba?\(([^)]+)\)/);
				if (!m) return null;
				const p = m[1].split(/[ ,/]+/).filter((x) => x).map(Number);
				return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
			};
			const lum = (c) => {
				const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
				return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
			};
			let bg = { r: 255, g: 255, b: 255, a: 1 };
			for (let a = e.parentElement; a; a = a.parentElement) {
				const c = parse(getComputedStyle(a).backgroundColor);
				if (c && c.a >= 1) { bg = c; break; }
			}
			const oc = parse(cs.outlineColor);
			const ring = oc ? (Math.max(lum(oc), lum(bg)) + 0.05) /
			    (Math.min(lum(oc), lum(bg)) + 0.05) : 0;
			return { tag: e.tagName.toLowerCase(), href: e.href || null,
				ring_contrast: Math.round(ring * 100) / 100,
				name: e.getAttribute('name'), cls: e.className && String(e.className),
				text: e.textContent.replace(/\s+/g, ' ').trim().slice(0, 40),
				focus_visible: e.matches(':focus-visible'),
				outline_style: cs.outlineStyle, outline_width: cs.outlineWidth,
				outline_color: cs.outlineColor, box_shadow: cs.boxShadow };
		});
		if (!f) break;
		if (seen.length && f.tag === seen[0].tag && f.href === seen[0].href &&
		    f.text === seen[0].text && f.name === seen[0].name)
			break;	// wrapped round
		seen.push(f);
	}
	return seen;
}

// From the top, Tab to the first button (else the third stop) and
// photograph the screen round it: what the focus looks like.
async function focusShot(page, name) {
	await page.evaluate(() => { if (document.activeElement) document.activeElement.blur(); });
	await page.evaluate(() => window.scrollTo(0, 0));
	for (let i = 0; i < 40; i++) {
		await page.keyboard.press('Tab');
		const tag = await page.evaluate(() => document.activeElement &&
		    document.activeElement.tagName.toLowerCase());
		if (tag === 'button' || (i >= 2 && tag !== 'a' && tag !== 'body'))
			break;
		if (!tag || tag === 'body')
			break;
	}
	const file = join(plan.shots, name + '-focus.png');
	await page.screenshot({ path: file });
	return file;
}

// Clicks each copy button; what the clipboard then holds.
async function copies(page) {
	const out = [];
	const buttons = await page.$$('button.copy');
	// Several pages are open: the clipboard wants the focused one.
	await page.bringToFront();
	for (const b of buttons) {
		const target = await b.evaluate((e) => e.getAttribute('data-copy'));
		const expected = await page.evaluate((sel) => {
			const t = sel && document.querySelector(sel);
			return t ? t.textContent : null;
		}, target);
		// Tab may have left the page for the browser's own UI: a click on
		// the copied text itself gives the document focus back
		if (!(await page.evaluate(() => document.hasFocus())) && target)
			await page.click(target);
		await page.evaluate(() => navigator.clipboard.writeText('(nothing copied)'));
		await b.click();
		// the button's handler is async: wait until the clipboard changed
		let clip = null;
		try {
			await page.waitForFunction(async () => (await navigator.clipboard.readText()) !==
			    '(nothing copied)', { timeout, polling: 50 });
		} catch (e) { /* stays '(nothing copied)': reported below */ }
		clip = await page.evaluate(() => navigator.clipboard.readText());
		const label = await b.evaluate((e) => e.textContent.replace(/\s+/g, ' ').trim());
		out.push({ target, expected, clipboard: clip, label_after: label });
	}
	return out;
}

async function step(ctx, page, s, ev) {
	const r = { id: s.id, op: s.op };
	// the clipboard wants a focused document: this tab in front (the
	// screenshots' pages were in front last)
	await page.bringToFront();
	if (s.op === 'visit') {
		r.status = await goto(page, s.path);
	} else if (s.op === 'search') {
		await goto(page, s.path);
		const input = await page.$('form[role="search"] input[name="q"]');
		if (!input) {
			r.error = 'no form[role=search] input[name=q] on ' + s.path;
			return r;
		}
		await input.click({ count: 3 });
		await input.type(s.q);
		const [resp] = await Promise.all([page.waitForNavigation({ timeout }),
		    page.keyboard.press('Enter')]);
		r.status = resp ? resp.status() : 0;
	} else if (s.op === 'signin') {
		r.form_status = await goto(page, '/-/signin');
		const input = await page.$('form[action="/-/signin"] input[name="token"]');
		if (!input) {
			r.error = 'no form[action="/-/signin"] input[name=token] on /-/signin';
			r.page = await collect(page);
			return r;
		}
		await input.type(s.token);
		const [resp] = await Promise.all([page.waitForNavigation({ timeout }),
		    page.keyboard.press('Enter')]);
		r.status = resp ? resp.status() : 0;
		r.cookies = (await page.cookies()).map((c) => ({ name: c.name, httpOnly: c.httpOnly,
			sameSite: c.sameSite, secure: c.secure, path: c.path, session: c.session,
			expires: c.expires, value_length: c.value.length }));
		r.cookie_visible_to_script = await page.evaluate(() => document.cookie);
	} else if (s.op === 'signout') {
		await goto(page, s.path);
		const btn = await page.$('form[action="/-/signout"] button, ' +
		    'form[action="/-/signout"] input[type="submit"]');
		if (!btn) {
			r.error = 'no sign-out form with a button on ' + s.path;
			return r;
		}
		const [resp] = await Promise.all([page.waitForNavigation({ timeout }), btn.click()]);
		r.status = resp ? resp.status() : 0;
	} else {
		r.error = 'unknown op ' + s.op;
		return r;
	}
	r.page = await collect(page);
	// Tab first: a click moves the start of sequential focus navigation
	if (s.tabs) {
		r.tabs = await tabs(page, s.tabs);
		if (s.shot)
			r.focus_shot = await focusShot(page, s.shot);
	}
	if (s.copy)
		r.copies = await copies(page);
	if (s.shot)
		r.shots = await shots(ctx, s.path || new URL(r.page.url).pathname +
		    new URL(r.page.url).search, s.shot, ev, s.narrow);
	return r;
}

async function main() {
	const browser = await puppeteer.launch({
		executablePath: plan.chromium,
		args: ['--no-sandbox', '--headless=new', '--disable-gpu',
		    '--no-first-run', '--disable-background-networking',
		    '--disable-component-update', '--disable-sync'],
		defaultViewport: { width: 1280, height: 800 },
		timeout,
	});
	const result = { browser: await browser.version(), sessions: [] };
	try {
		for (const sess of plan.sessions) {
			const ctx = await browser.createBrowserContext();
			await ctx.overridePermissions(origin, ['clipboard-read',
			    'clipboard-write', 'clipboard-sanitized-write']);
			const page = await ctx.newPage();
			page.setDefaultTimeout(timeout);
			if (sess.javascript === false)
				await page.setJavaScriptEnabled(false);
			const out = { name: sess.name, steps: [] };
			let ev = newEvents();
			watch(page, () => ev);
			for (const s of sess.steps) {
				ev = newEvents();
				log(sess.name + ': ' + s.op + ' ' + (s.path || '') + ' (' + s.id + ')');
				let r;
				try {
					r = await step(ctx, page, s, ev);
				} catch (e) {
					r = { id: s.id, op: s.op, error: String(e && e.stack || e) };
				}
				r.events = ev;
				out.steps.push(r);
			}
			result.sessions.push(out);
			await ctx.close();
		}
	} finally {
		await browser.close();
	}
	process.stdout.write(JSON.stringify(result) + '\n');
	clearTimeout(watchdog);
}

main().catch((e) => {
	process.stderr.write('pages.mjs: ' + (e && e.stack || e) + '\n');
	process.exit(2);
});
