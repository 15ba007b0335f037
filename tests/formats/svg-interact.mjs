// SPDX-License-Identifier: MIT
// svg-interact: drive a pyprof flame graph SVG in headless Chromium and check its behaviour.
//
// Usage: node svg-interact.mjs SPEC.json
// SPEC (written by check_svg.py): {
//   "name": "small", "svg": "/abs/x.svg", "screenshot": "/abs/x.png" or null,
//   "total": 71,                                   samples of the root frame
//   "click":    {"label", "x", "w", "depth"},      a frame with an ancestor and a sibling
//   "ancestor": {"label", "x", "w", "depth"},      an ancestor of "click" (to be dimmed)
//   "sibling":  {"label", "x", "w", "depth"},      a frame outside the clicked subtree (hidden)
//   "title": "label (N samples, P%)",              the expected <title> of "click"
//   "searches": [{"regex", "expect"}]              expect: the "Matched: X%" text
// }
// Frames are told apart by label, sample offset (pp:x), samples (pp:w) and depth (the rank of
// their rect's y among all distinct y values, root 0), so the checks do not depend on pixel
// geometry. Prints PASS name / FAIL name: why per check; exits 1 if any failed.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let failed = 0;
function report(check, ok, why) {
    const name = `svg-${spec.name}-${check}`;
    if (ok)
        console.log(`PASS ${name}`);
    else {
        console.log(`FAIL ${name}: ${why}`);
        failed++;
    }
}

// Every frame as {i, label, title, x, w, y, cls, width, display, opacity, depth}.
async function frames(page) {
    const fs = await page.evaluate(() => {
        const out = [];
        const gs = document.getElementById('frames').children;
        for (let i = 0; i < gs.length; i++) {
            const g = gs[i], t = g.querySelector('title').textContent, r = g.querySelector('rect');
            const cs = getComputedStyle(g);
            out.push({
                i, title: t, label: t.slice(0, t.lastIndexOf(' (')),
                x: +g.getAttribute('pp:x'), w: +g.getAttribute('pp:w'), y: +r.getAttribute('y'),
                cls: g.getAttribute('class') || '', width: +r.getAttribute('width'),
                fill: r.getAttribute('fill'), display: cs.display, opacity: +cs.opacity,
            });
        }
        return out;
    });
    // Depth: the root is the widest frame; the y values step away from it.
    const root = fs.reduce((a, b) => (b.w > a.w ? b : a), fs[0]);
    const ys = [...new Set(fs.map((f) => f.y))].sort((a, b) => a - b);
    const flame = root && root.y === ys[ys.length - 1];
    if (flame)
        ys.reverse();
    for (const f of fs)
        f.depth = ys.indexOf(f.y);
    return fs;
}

function find(fs, want) {
    return fs.find((f) => f.label === want.label && f.x === want.x && f.w === want.w &&
        f.depth === want.depth);
}

function desc(f) {
    return f ? `${JSON.stringify(f.label)} cls=${JSON.stringify(f.cls)} width=${f.width} ` +
        `display=${f.display} opacity=${f.opacity}` : 'missing';
}

const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
    const page = await browser.newPage();
    const errors = [];
    let dialogAnswer = null;
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('dialog', async (d) => {
        if (d.type() === 'prompt' && dialogAnswer !== null)
            await d.accept(dialogAnswer);
        else
            await d.dismiss();
    });
    const url = pathToFileURL(spec.svg).href;
    await page.goto(url);
    const size = await page.evaluate(() => [document.documentElement.width.baseVal.value,
        document.documentElement.height.baseVal.value]);
    await page.setViewportSize({ width: Math.ceil(size[0]), height: Math.ceil(size[1]) });

    let fs = await frames(page);
    const root = fs.find((f) => f.depth === 0);
    const full = root.width;
    report('load', errors.length === 0 && root && root.w === spec.total,
        `errors ${JSON.stringify(errors)}, root ${desc(root)}`);

    // Tooltip text (works without JS: it is the <title>).
    const target = find(fs, spec.click);
    report('title', target && target.title === spec.title,
        `got ${JSON.stringify(target && target.title)}, want ${JSON.stringify(spec.title)}`);

    // Click to zoom: the frame fills the width, an ancestor is dimmed, a sibling is hidden.
    await page.locator('#frames > g').nth(target.i).click();
    fs = await frames(page);
    const z = find(fs, spec.click), anc = find(fs, spec.ancestor), sib = find(fs, spec.sibling);
    const unzoomShown = await page.evaluate(() =>
        getComputedStyle(document.getElementById('unzoom')).display !== 'none');
    report('zoom-width', z && Math.abs(z.width - full) < 0.01 && z.cls === '',
        `clicked ${desc(z)}, full width ${full}`);
    report('zoom-ancestor', anc && anc.cls === 'parent' && anc.opacity === 0.5 &&
        Math.abs(anc.width - full) < 0.01, `ancestor ${desc(anc)}`);
    report('zoom-sibling', sib && sib.cls === 'hide' && sib.display === 'none',
        `sibling ${desc(sib)}`);
    report('zoom-button', unzoomShown, 'Reset Zoom not shown after zooming');
    const zoomHash = await page.evaluate(() => location.hash);
    report('zoom-hash', zoomHash === `#x=${spec.click.x}&y=${spec.click.depth}`,
        `hash ${JSON.stringify(zoomHash)}`);

    // Reset Zoom restores every frame.
    await page.locator('#unzoom').click();
    fs = await frames(page);
    const moved = fs.filter((f) => f.cls !== '' || f.display === 'none');
    const z2 = find(fs, spec.click);
    report('unzoom', moved.length === 0 && z2 && z2.width === target.width &&
        (await page.evaluate(() => location.hash)) === '',
        `${moved.length} frames still zoomed; clicked width ${z2 && z2.width} (was ${target.width})`);

    // Search through the page's function: "Matched: X%" without double counting nesting.
    for (const s of spec.searches) {
        await page.evaluate((re) => search(re), s.regex);
        const m = await page.evaluate(() => document.getElementById('matched').textContent);
        const hits = (await frames(page)).filter((f) => f.fill === '#e600e6').length;
        report(`search-${s.regex}`, m === `Matched: ${s.expect}%` && hits > 0,
            `got ${JSON.stringify(m)} with ${hits} highlighted, want "Matched: ${s.expect}%"`);
        await page.evaluate(() => resetSearch());
    }

    // The Search button asks with prompt(); the case toggle makes it case-insensitive.
    const s0 = spec.searches[0];
    await page.locator('#ic').click();
    dialogAnswer = s0.regex.toUpperCase();
    await page.locator('#search').click();
    const mIc = await page.evaluate(() => document.getElementById('matched').textContent);
    const btn = await page.evaluate(() => document.getElementById('search').textContent);
    report('search-button-ic', mIc === `Matched: ${s0.expect}%` && btn === 'Reset Search',
        `got ${JSON.stringify(mIc)}, button ${JSON.stringify(btn)}`);
    await page.locator('#search').click(); // resets
    await page.locator('#ic').click();
    const afterReset = await page.evaluate(() => [
        getComputedStyle(document.getElementById('matched')).display, location.hash]);
    report('search-reset', afterReset[0] === 'none' && afterReset[1] === '',
        `matched display ${afterReset[0]}, hash ${JSON.stringify(afterReset[1])}`);

    // Ctrl-F opens the same prompt.
    dialogAnswer = s0.regex;
    await page.keyboard.press('Control+f');
    const mKey = await page.evaluate(() => document.getElementById('matched').textContent);
    report('search-ctrl-f', mKey === `Matched: ${s0.expect}%`, `got ${JSON.stringify(mKey)}`);

    // Zoom and search survive a reload through the URL hash.
    await page.locator('#frames > g').nth(target.i).click();
    await page.reload();
    fs = await frames(page);
    const z3 = find(fs, spec.click), sib3 = find(fs, spec.sibling);
    const m3 = await page.evaluate(() => document.getElementById('matched').textContent);
    const hash3 = await page.evaluate(() => decodeURIComponent(location.hash));
    report('hash-restore', z3 && Math.abs(z3.width - full) < 0.01 && sib3 &&
        sib3.cls === 'hide' && m3.startsWith('Matched: ') && hash3.includes(`s=${s0.regex}`),
        `after reload: clicked ${desc(z3)}, sibling ${desc(sib3)}, matched ${JSON.stringify(m3)}, ` +
        `hash ${JSON.stringify(hash3)}`);

    if (spec.screenshot) {
        await page.goto('about:blank');
        await page.goto(url);
        await page.screenshot({ path: spec.screenshot });
    }
    report('no-errors', errors.length === 0, JSON.stringify(errors));
} finally {
    await browser.close();
}
process.exit(failed ? 1 : 0);
