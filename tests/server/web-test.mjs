// SPDX-License-Identifier: MIT
// web-test: drive pyprof-server's web page (GET /) in headless Chromium.
//
// Usage: node web-test.mjs BASE OUTDIR [APP]
//   BASE    the server, e.g. http://127.0.0.1:4040 (it already holds data for APP)
//   OUTDIR  where screenshots go (web-flame.png, web-table.png, web-diff.png, web-final.png)
//   APP     the app to pick (default: the first one the picker offers)
// Checks: the page loads without script errors; picking the app renders the flame graph SVG in
// its frame; clicking a frame zooms it to the full width (and the zoom lands in the page URL);
// the top-functions table has rows whose self counts add up to the profile total, sorts and
// filters (highlighting in the graph); a label filter rebuilds the FlameQL query; the Compare
// view loads a differential SVG; every download link answers 200 with the right kind of body;
// dragging on the timeline selects an absolute range; the page URL reproduces the view.
// Prints PASS name / FAIL name: why per check; exits 1 if any failed.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// playwright-core lives in tests/formats/node_modules.
const require = createRequire(fileURLToPath(new URL('../formats/package.json', import.meta.url)));
const { chromium } = require('playwright-core');

const [BASE, OUT, APP_ARG] = process.argv.slice(2);
if (!BASE || !OUT) {
    console.error('usage: node web-test.mjs BASE OUTDIR [APP]');
    process.exit(2);
}
mkdirSync(OUT, { recursive: true });
const T = 15000;
let failed = 0;
function report(name, ok, why) {
    if (ok)
        console.log(`PASS web-${name}`);
    else {
        console.log(`FAIL web-${name}: ${why}`);
        failed++;
    }
    return ok;
}
async function check(name, fn) {
    try {
        const r = await fn();
        return report(name, r === true || r === undefined, r);
    } catch (e) {
        return report(name, false, String(e && e.message ? e.message.split('\n')[0] : e));
    }
}

const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const errors = [];
const bad = [];
try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    page.setDefaultTimeout(T);
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
    page.on('response', (r) => {
        if (r.status() >= 400) bad.push(`${r.status()} ${r.url()}`);
    });

    const flameFrame = async () => (await page.locator('#flame').elementHandle()).contentFrame();
    const waitFlame = (kind) => page.waitForFunction((k) => {
        const f = document.getElementById('flame');
        return f.dataset.loaded === k && f.contentDocument &&
            f.contentDocument.querySelectorAll('#frames > g').length > 0;
    }, kind, { timeout: T });
    const param = async (k) => new URL(page.url()).searchParams.get(k);
    const statsReady = () => page.waitForFunction(() =>
        /\d/.test(document.getElementById('stats').textContent), null, { timeout: T });

    // --- Load and pick the app.
    let app = APP_ARG;
    await check('load', async () => {
        await page.goto(`${BASE}/`);
        await page.waitForFunction(() => document.querySelectorAll('#app option[value]:not([value=""])').length > 0);
        const opts = await page.locator('#app option').allTextContents();
        if (!app) app = opts[0];
        if (!opts.includes(app)) return `app ${app} not offered: ${JSON.stringify(opts)}`;
        const title = await page.title();
        return errors.length === 0 && /pyprof/.test(title) ? true :
            `errors ${JSON.stringify(errors)}, title ${JSON.stringify(title)}`;
    });
    await check('pick-app', async () => {
        // Pick another app first (if any) so that choosing ours is a real change.
        const opts = await page.locator('#app option').evaluateAll((os) => os.map((o) => o.value));
        const other = opts.find((o) => o && o !== app);
        if (other) {
            await page.selectOption('#app', other);
            await page.waitForFunction((a) => new URL(location.href).searchParams.get('app') === a, other);
        }
        await page.selectOption('#app', app);
        await page.waitForFunction((a) => new URL(location.href).searchParams.get('app') === a &&
            document.getElementById('flame').dataset.base.includes(encodeURIComponent(a)), app);
        const q = await page.inputValue('#query');
        return q === app ? true : `query box ${JSON.stringify(q)}`;
    });

    // --- Flame graph.
    let fullWidth = 0;
    await check('flame-graph', async () => {
        await waitFlame('flame');
        const fr = await flameFrame();
        const n = await fr.locator('#frames > g').count();
        fullWidth = Number(await fr.locator('#frames > g rect').first().getAttribute('width'));
        const h = await page.locator('#flame').evaluate((e) => e.getBoundingClientRect().height);
        return n > 2 && fullWidth > 0 && h > 100 ? true : `${n} frames, root width ${fullWidth}, frame height ${h}`;
    });
    await statsReady().catch(() => {});
    await page.screenshot({ path: join(OUT, 'web-flame.png') });

    await check('flame-zoom', async () => {
        const fr = await flameFrame();
        // The widest frame that is not (nearly) full width: a real zoom.
        const info = await fr.evaluate(() => {
            const gs = [...document.querySelectorAll('#frames > g')];
            const ws = gs.map((g) => +g.querySelector('rect').getAttribute('width'));
            const full = Math.max(...ws);
            let best = -1;
            ws.forEach((w, i) => { if (w < full * 0.9 && (best < 0 || w > ws[best])) best = i; });
            return { best, full, w: ws[best], label: best >= 0 ? gs[best].querySelector('title').textContent : '' };
        });
        if (info.best < 0) return 'no frame narrower than the root to click';
        await fr.locator('#frames > g').nth(info.best).click();
        const after = await fr.evaluate((i) => ({
            w: +document.querySelectorAll('#frames > g')[i].querySelector('rect').getAttribute('width'),
            unzoom: getComputedStyle(document.getElementById('unzoom')).display !== 'none',
            hash: location.hash,
        }), info.best);
        await page.waitForFunction(() => /x=\d+/.test(new URL(location.href).searchParams.get('fg') || ''),
            null, { timeout: 3000 }).catch(() => {});
        const fg = await param('fg');
        return Math.abs(after.w - info.full) < 0.01 && after.unzoom && /x=\d+/.test(fg || '') ? true :
            `clicked ${JSON.stringify(info.label)} (width ${info.w}): width now ${after.w}, want ` +
            `${info.full}; Reset Zoom shown ${after.unzoom}; frame hash ${after.hash}; page fg ${fg}`;
    });
    await check('flame-zoom-link', async () => {
        // The page URL carries the zoom: a new page opened on it starts zoomed.
        const p2 = await ctx.newPage();
        try {
            await p2.goto(page.url());
            await p2.waitForFunction(() => {
                const f = document.getElementById('flame');
                const d = f.contentDocument;
                return f.dataset.loaded === 'flame' && d && d.getElementById('unzoom') &&
                    getComputedStyle(d.getElementById('unzoom')).display !== 'none';
            }, null, { timeout: T });
            return true;
        } finally {
            await p2.close();
        }
    });
    await check('flame-unzoom', async () => {
        const fr = await flameFrame();
        await fr.locator('#unzoom').click();
        const w = await fr.evaluate(() => Math.max(...[...document.querySelectorAll('#frames > g rect')]
            .map((r) => +r.getAttribute('width'))));
        return Math.abs(w - fullWidth) < 0.01 ? true : `widest frame ${w}, want ${fullWidth}`;
    });

    // --- Top functions.
    const tableRows = () => page.locator('#top tbody tr').evaluateAll((trs) => trs.map((tr) => {
        const td = tr.querySelectorAll('td');
        const num = (s) => Number(s.replace(/[,%\s]/g, ''));
        return td.length < 5 ? null : {
            name: td[0].textContent, self: num(td[1].textContent), selfPct: num(td[2].textContent),
            total: num(td[3].textContent), totalPct: num(td[4].textContent),
        };
    }).filter(Boolean));
    await check('table', async () => {
        await page.waitForFunction(() => document.querySelectorAll('#top tbody td.num').length > 0);
        const rs = await tableRows();
        const ticks = Number((await page.textContent('#stats')).replace(/,/g, '').match(/\d+/)[0]);
        const sumSelf = rs.reduce((s, r) => s + r.self, 0);
        const okNums = rs.every((r) => Number.isFinite(r.self) && Number.isFinite(r.total) &&
            r.total >= r.self && r.total <= ticks && r.name.length > 0);
        const sorted = rs.every((r, i) => i === 0 || rs[i - 1].self >= r.self);
        return rs.length > 0 && okNums && sorted && sumSelf === ticks ? true :
            `${rs.length} rows, numbers ok ${okNums}, sorted by self ${sorted}, sum of self ` +
            `${sumSelf} vs total ${ticks}; first ${JSON.stringify(rs[0])}`;
    });
    await check('table-sort', async () => {
        await page.click('#top th[data-key=total] button');
        const rs = await tableRows();
        const sorted = rs.every((r, i) => i === 0 || rs[i - 1].total >= r.total);
        const aria = await page.getAttribute('#top th[data-key=total]', 'aria-sort');
        return sorted && aria === 'descending' ? true : `sorted ${sorted}, aria-sort ${aria}`;
    });
    await check('table-filter', async () => {
        const rs = await tableRows();
        // A word from the name of the second row (the first is often the outermost frame).
        const name = (rs[1] || rs[0]).name;
        const word = (name.match(/[A-Za-z_]{3,}/) || [name])[0];
        await page.fill('#filter', word);
        const fr = await flameFrame();
        await fr.waitForFunction(() => /Matched: [\d.]+%/.test(
            document.getElementById('matched').textContent), null, { timeout: 5000 });
        const got = await tableRows();
        const all = got.every((r) => r.name.toLowerCase().includes(word.toLowerCase()));
        const matched = await fr.evaluate(() => document.getElementById('matched').textContent);
        await page.screenshot({ path: join(OUT, 'web-table.png') });
        await page.fill('#filter', '');
        return got.length > 0 && got.length <= rs.length && all ? true :
            `filter ${JSON.stringify(word)}: ${got.length} rows (of ${rs.length}), all match ${all}, ${matched}`;
    });

    // --- Label filter: key -> value -> FlameQL.
    await check('label-filter', async () => {
        await page.waitForFunction(() => document.querySelectorAll('#lkey option').length > 1);
        const keys = await page.locator('#lkey option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
        const key = keys.includes('env') ? 'env' : keys[0];
        await page.selectOption('#lkey', key);
        await page.waitForFunction(() => document.querySelectorAll('#lvals option').length > 0);
        const vals = await page.locator('#lvals option').evaluateAll((os) => os.map((o) => o.value));
        await page.fill('#lval', vals[0]);
        await page.click('#ladd');
        const want = `${app}{${key}="${vals[0]}"}`;
        await page.waitForFunction((w) => new URL(location.href).searchParams.get('query') === w, want);
        await waitFlame('flame');
        await statsReady();
        const chips = await page.locator('#chips li').count();
        const q = await page.inputValue('#query');
        return q === want && chips === 1 ? true : `query ${JSON.stringify(q)}, ${chips} chips`;
    });

    // --- Compare: a differential flame graph of the two halves of the range.
    await check('diff', async () => {
        await page.click('#tab-diff');
        await page.click('#dhalves');
        await waitFlame('diff');
        const src = await page.locator('#flame').getAttribute('src');
        const fr = await flameFrame();
        const fills = await fr.evaluate(() => [...document.querySelectorAll('#frames > g rect')]
            .map((r) => r.getAttribute('fill')));
        const view = await param('view');
        const rgb = (f) => {
            let m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(f || '');
            if (m) return m.slice(1).map((v) => parseInt(v, 16));
            m = /^rgb\((\d+),\s*(\d+),\s*(\d+)\)$/.exec(f || '');
            return m ? m.slice(1).map(Number) : null;
        };
        // Red or blue frames: something grew or shrank between the halves.
        const coloured = fills.map(rgb).filter((c) => c && Math.abs(c[0] - c[2]) > 20).length;
        await page.screenshot({ path: join(OUT, 'web-diff.png') });
        return /\/render-diff\?/.test(src) && fills.length > 0 && coloured > 0 && view === 'diff' &&
            (await param('lfrom')) && (await param('runtil')) ? true :
            `src ${src}, ${fills.length} frames, ${coloured} red/blue, view ${view}, url ${page.url()}`;
    });

    // --- Downloads: every link answers 200 with the format it names.
    const links = await page.locator('a.dl:not([hidden])').evaluateAll((as) =>
        as.map((a) => ({ id: a.id, href: a.href, download: a.getAttribute('download') })));
    await check('download-links', async () =>
        (links.length >= 6 ? true : `only ${links.length} links: ${JSON.stringify(links)}`));
    for (const l of links) {
        await check(`download-${l.id.replace(/^dl-/, '')}`, async () => {
            const r = await page.request.get(l.href);
            const body = await r.body();
            if (r.status() !== 200) return `${l.href}: ${r.status()} ${body.toString().slice(0, 200)}`;
            if (!l.download) return 'no download file name';
            const text = body.toString('utf8');
            const kind = l.id.replace(/^dl-/, '');
            if ((kind === 'svg' || kind === 'diff') && !/<svg[\s>]/.test(text)) return 'not an SVG';
            if (kind === 'folded' && !/^\S.* \d+$/m.test(text)) return `not folded: ${text.slice(0, 80)}`;
            if (kind === 'pprof' && !(body.length > 2 && body[0] === 0x1f && body[1] === 0x8b))
                return `not gzipped (${body.length} bytes)`;
            if (kind === 'json' && !JSON.parse(text).flamebearer) return 'no flamebearer';
            if (kind === 'speedscope' && !/speedscope/.test(JSON.parse(text).$schema || ''))
                return 'no speedscope $schema';
            return body.length > 0 ? true : 'empty body';
        });
    }

    // --- Timeline: drag selects an absolute range and renders it.
    await check('timeline-drag', async () => {
        await page.click('#tab-both');
        await waitFlame('flame');
        const box = await page.locator('#timeline').boundingBox();
        const y = box.y + box.height / 2;
        await page.mouse.move(box.x + box.width * 0.05, y);
        await page.mouse.down();
        await page.mouse.move(box.x + box.width * 0.5, y, { steps: 5 });
        await page.mouse.move(box.x + box.width * 0.97, y, { steps: 5 });
        await page.mouse.up();
        await page.waitForFunction(() => /^\d+$/.test(new URL(location.href).searchParams.get('from') || ''));
        const f = Number(await param('from')), u = await param('until');
        await waitFlame('flame');
        await statsReady();
        const base = await page.locator('#flame').getAttribute('data-base');
        return base.includes(`from=${f}`) && (u === 'now' || Number(u) > f) ? true :
            `from ${f} until ${u}, frame ${base}`;
    });

    // --- The URL reproduces the view.
    await check('url-state', async () => {
        const url = page.url();
        const p2 = await ctx.newPage();
        try {
            await p2.goto(url);
            await p2.waitForFunction(() => document.getElementById('flame').dataset.loaded === 'flame');
            const same = await p2.evaluate(() => ({
                q: document.getElementById('query').value,
                src: document.getElementById('flame').dataset.base,
                tab: document.querySelector('#tabs [aria-selected=true]').dataset.view,
            }));
            const mine = await page.evaluate(() => ({
                q: document.getElementById('query').value,
                src: document.getElementById('flame').dataset.base,
                tab: document.querySelector('#tabs [aria-selected=true]').dataset.view,
            }));
            return JSON.stringify(same) === JSON.stringify(mine) ? true :
                `reopened ${JSON.stringify(same)} vs ${JSON.stringify(mine)}`;
        } finally {
            await p2.close();
        }
    });
    await page.screenshot({ path: join(OUT, 'web-final.png'), fullPage: true });

    await check('no-errors', async () => (errors.length === 0 && bad.length === 0 ? true :
        `script errors ${JSON.stringify(errors)}; failed requests ${JSON.stringify(bad)}`));
} catch (e) {
    report('run', false, String(e && e.stack || e));
} finally {
    await browser.close();
}
process.exit(failed ? 1 : 0);
