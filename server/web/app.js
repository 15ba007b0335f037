// pyprof-server web page: app picker, time range, label filters, timeline, flame graph (the
// server's interactive SVG in an iframe), top-functions table and a diff view. Plain JS, no
// dependencies; everything it needs is served by pyprof-server itself.
'use strict';

const $ = (id) => document.getElementById(id);
const VIEWS = ['both', 'flame', 'table', 'diff'];
const STATE_KEYS = ['query', 'from', 'until', 'view', 'lfrom', 'luntil', 'rfrom', 'runtil', 'fg'];
const UNIT = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

const state = {
    query: '', from: 'now-1h', until: 'now', view: 'both',
    lfrom: '', luntil: '', rfrom: '', runtil: '', fg: '',
};
let apps = [];
let fb = null;          // last flamebearer response
let rows = [];          // top-functions rows
let sortKey = 'self', sortDir = -1;
let loadSeq = 0, jsonAbort = null;
let labelApp = null;

// ---- Time ---------------------------------------------------------------------------------

const nowSec = () => Math.floor(Date.now() / 1000);

// A time spec (now, now-1h, unix s/ms/us/ns) as unix seconds, or NaN.
function resolveTime(spec, now = nowSec()) {
    spec = String(spec).trim();
    if (spec === 'now' || spec === '')
        return now;
    let m = /^now-(\d+)([smhdw])$/.exec(spec);
    if (m)
        return now - Number(m[1]) * UNIT[m[2]];
    if (/^\d+$/.test(spec)) {
        let v = Number(spec);
        while (v > 1e11)      // ms, us, ns -> s
            v /= 1000;
        return Math.floor(v);
    }
    return NaN;
}

// What the user typed in a time box, normalised for the API: "now-1h", unix seconds; null if bad.
function parseTimeInput(text) {
    const s = text.trim().replace(/\s+/g, ' ');
    if (s === '' || s === 'now')
        return 'now';
    const m = /^now ?- ?(\d+) ?([smhdw])$/.exec(s);
    if (m)
        return `now-${m[1]}${m[2]}`;
    if (/^\d{9,}$/.test(s))
        return s;
    const iso = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?$/.test(s) ? s.replace(' ', 'T') : s;
    const ms = Date.parse(iso);
    return Number.isFinite(ms) ? String(Math.floor(ms / 1000)) : null;
}

const pad = (n) => String(n).padStart(2, '0');
function fmtDate(sec, withSec = true) {
    const d = new Date(sec * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
        `${pad(d.getHours())}:${pad(d.getMinutes())}` +
        `${withSec && d.getSeconds() ? ':' + pad(d.getSeconds()) : ''}`;
}
// How a spec is shown in a time box: relative specs as they are, absolute ones as local time.
const showTime = (spec) => (/^\d+$/.test(spec) ? fmtDate(resolveTime(spec)) : spec);

function fmtSpan(sec) {
    sec = Math.round(sec);
    const parts = [];
    for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]]) {
        if (sec >= n || (n === 1 && !parts.length)) {
            parts.push(`${Math.floor(sec / n)}${u}`);
            sec %= n;
        }
        if (parts.length === 2 || (parts.length && sec === 0)) break;
    }
    return parts.join(' ');
}

function fmtNum(n) {
    return n.toLocaleString('en-US');
}

// ---- FlameQL ------------------------------------------------------------------------------

function parseQuery(q) {
    q = q.trim();
    const i = q.indexOf('{');
    if (i < 0)
        return { app: q, matchers: [] };
    const app = q.slice(0, i).trim(), body = q.slice(i + 1, q.lastIndexOf('}') < 0 ? q.length :
        q.lastIndexOf('}'));
    const matchers = [];
    const re = /\s*([A-Za-z_][\w.]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?/g;
    let m;
    while ((m = re.exec(body)) !== null)
        matchers.push({ k: m[1], op: m[2], v: m[3].replace(/\\(.)/g, '$1') });
    return { app, matchers };
}

function buildQuery(app, matchers) {
    if (!matchers.length)
        return app;
    const esc = (v) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
    return `${app}{${matchers.map((m) => `${m.k}${m.op}"${esc(m.v)}"`).join(',')}}`;
}

// ---- URL state ----------------------------------------------------------------------------

function readURL() {
    const p = new URLSearchParams(location.search);
    for (const k of STATE_KEYS)
        state[k] = p.get(k) || '';
    if (!state.from) state.from = 'now-1h';
    if (!state.until) state.until = 'now';
    if (!VIEWS.includes(state.view)) state.view = 'both';
    // Pyroscope-style links: ?name=app or ?app=app.
    if (!state.query)
        state.query = p.get('app') || p.get('name') || '';
}

function writeURL(push) {
    const p = new URLSearchParams();
    const app = parseQuery(state.query).app;
    if (app) p.set('app', app);
    for (const k of STATE_KEYS) {
        if (!state[k]) continue;
        if (k === 'view' && state.view === 'both') continue;
        if ((k === 'lfrom' || k === 'luntil' || k === 'rfrom' || k === 'runtil') &&
            state.view !== 'diff') continue;
        p.set(k, state[k]);
    }
    const url = `${location.pathname}?${p.toString()}`;
    if (url === location.pathname + location.search)
        return;
    if (push) history.pushState(null, '', url);
    else history.replaceState(null, '', url);
}

// ---- Helpers ------------------------------------------------------------------------------

function status(text, isError) {
    const s = $('status');
    s.textContent = text || '';
    s.classList.toggle('error', !!isError);
}

async function getJSON(path, signal) {
    const r = await fetch(path, { signal });
    if (!r.ok) {
        const t = (await r.text()).trim();
        throw new Error(`${r.status} ${t || r.statusText}`);
    }
    return r.json();
}

const qs = (o) => new URLSearchParams(o).toString();
const renderURL = (format) => `/render?${qs({ query: state.query, from: state.from,
    until: state.until, format })}`;
function diffURL(format) {
    return `/render-diff?${qs({
        leftQuery: state.query, leftFrom: state.lfrom, leftUntil: state.luntil,
        rightQuery: state.query, rightFrom: state.rfrom, rightUntil: state.runtil, format,
    })}`;
}

function fileBase() {
    const { app } = parseQuery(state.query);
    return (app || 'profile').replace(/[^\w.-]+/g, '_');
}

function escapeRe(s) {
    return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
// A case-insensitive pattern without flags (the SVG's search builds its own RegExp).
function caseless(s) {
    return escapeRe(s).replace(/[a-z]/gi, (c) => `[${c.toLowerCase()}${c.toUpperCase()}]`);
}

// ---- Controls -----------------------------------------------------------------------------

function syncControls() {
    const { app, matchers } = parseQuery(state.query);
    const sel = $('app');
    if (app && !apps.includes(app) && ![...sel.options].some((o) => o.value === app)) {
        const o = new Option(app, app);
        sel.add(o);
    }
    sel.value = app;
    $('query').value = state.query;
    $('from').value = showTime(state.from);
    $('until').value = showTime(state.until);
    for (const el of [$('from'), $('until'), $('query')])
        el.removeAttribute('aria-invalid');
    for (const b of document.querySelectorAll('.presets button'))
        b.setAttribute('aria-pressed', String(state.until === 'now' &&
            state.from === `now-${b.dataset.range}`));

    const chips = $('chips');
    chips.textContent = '';
    matchers.forEach((m, i) => {
        const li = document.createElement('li');
        li.className = 'chip';
        const t = document.createElement('span');
        t.textContent = `${m.k}${m.op}"${m.v}"`;
        const x = document.createElement('button');
        x.type = 'button';
        x.className = 'x';
        x.textContent = '×';
        x.setAttribute('aria-label', `Remove filter ${m.k}${m.op}${m.v}`);
        x.addEventListener('click', () => {
            matchers.splice(i, 1);
            state.query = buildQuery(app, matchers);
            changed(true);
        });
        li.append(t, x);
        chips.append(li);
    });

    for (const b of document.querySelectorAll('#tabs [role=tab]')) {
        const on = b.dataset.view === state.view;
        b.setAttribute('aria-selected', String(on));
        b.tabIndex = on ? 0 : -1;
    }
    $('main').setAttribute('aria-labelledby', `tab-${state.view}`);
    document.body.dataset.view = state.view;
    $('diffctl').hidden = state.view !== 'diff';
    $('tablebox').hidden = state.view === 'flame' || state.view === 'diff';
    $('flamebox').hidden = state.view === 'table';
    $('flametitle').textContent = state.view === 'diff' ? 'Differential flame graph' : 'Flame graph';
    $('lfrom').value = showTime(state.lfrom);
    $('luntil').value = showTime(state.luntil);
    $('rfrom').value = showTime(state.rfrom);
    $('runtil').value = showTime(state.runtil);

    const dl = { svg: 'svg', folded: 'folded', speedscope: 'speedscope.json', pprof: 'pb.gz',
        json: 'json' };
    const ok = !!state.query;
    for (const [f, ext] of Object.entries(dl)) {
        const a = $(`dl-${f}`);
        if (ok) {
            a.href = renderURL(f);
            a.download = `${fileBase()}.${ext}`;
            a.removeAttribute('aria-disabled');
        } else {
            a.removeAttribute('href');
            a.setAttribute('aria-disabled', 'true');
        }
    }
    const d = $('dl-diff');
    d.hidden = state.view !== 'diff' || !ok;
    if (ok) {
        d.href = diffURL('svg');
        d.download = `${fileBase()}.diff.svg`;
    }
    const f = resolveTime(state.from), u = resolveTime(state.until);
    $('range').textContent = Number.isFinite(f) && Number.isFinite(u)
        ? `${fmtDate(f, false)} — ${fmtDate(u, false)} (${fmtSpan(Math.max(0, u - f))})` : '';
    document.title = app ? `${app} · pyprof` : 'pyprof';
}

// Something in the state changed: record it in the URL and render again.
function changed(push, opts = {}) {
    if (!opts.keepZoom)
        state.fg = '';
    writeURL(push);
    load(opts);
}

async function loadApps() {
    try {
        apps = await getJSON('/api/apps');
    } catch (e) {
        status(`Could not list apps: ${e.message}`, true);
        apps = [];
    }
    const sel = $('app');
    sel.textContent = '';
    if (!apps.length)
        sel.add(new Option('(no apps yet)', ''));
    for (const a of apps)
        sel.add(new Option(a, a));
    if (!state.query && apps.length)
        state.query = apps[0];
}

async function loadLabels() {
    const { app } = parseQuery(state.query);
    if (!app || app === labelApp)
        return;
    labelApp = app;
    const sel = $('lkey');
    sel.length = 1;
    $('lvals').textContent = '';
    try {
        const keys = await getJSON(`/labels?${qs({ query: app })}`);
        for (const k of keys)
            if (!k.startsWith('__'))
                sel.add(new Option(k, k));
    } catch (e) {
        status(`Could not list labels: ${e.message}`, true);
    }
}

async function loadValues() {
    const k = $('lkey').value, { app } = parseQuery(state.query);
    const dl = $('lvals');
    dl.textContent = '';
    if (!k || !app)
        return;
    try {
        const vals = await getJSON(`/label-values?${qs({ label: k, query: app })}`);
        for (const v of vals) {
            const o = document.createElement('option');
            o.value = v;
            dl.append(o);
        }
        if (vals.length && !$('lval').value)
            $('lval').placeholder = vals.slice(0, 3).join(', ') + (vals.length > 3 ? ', …' : '');
    } catch (e) {
        status(`Could not list values of ${k}: ${e.message}`, true);
    }
}

// ---- Loading ------------------------------------------------------------------------------

function load(opts = {}) {
    syncControls();
    loadLabels();
    if (!state.query) {
        status('No app selected.');
        return;
    }
    if (state.view === 'diff')
        ensureDiffRanges();
    loadFlame(opts.force);
    loadJSON();
}

async function loadJSON() {
    const seq = ++loadSeq;
    if (jsonAbort) jsonAbort.abort();
    jsonAbort = new AbortController();
    status('Loading…');
    try {
        const r = await getJSON(renderURL('json'), jsonAbort.signal);
        if (seq !== loadSeq) return;
        fb = r;
        const f = r.flamebearer || {};
        const md = r.metadata || {};
        rows = topFunctions(f);
        const units = md.units || 'samples';
        $('stats').textContent = f.numTicks
            ? `${fmtNum(f.numTicks)} ${units}${md.sampleRate ? ` · ${md.sampleRate} Hz` : ''} · ` +
              `${fmtNum(rows.length)} functions`
            : 'no samples in this range';
        status('');
        renderTable();
        drawTimeline();
    } catch (e) {
        if (e.name === 'AbortError') return;
        if (seq !== loadSeq) return;
        fb = null;
        rows = [];
        renderTable();
        drawTimeline();
        $('stats').textContent = '';
        status(`Render failed: ${e.message}`, true);
    }
}

// ---- Flame graph (the server's SVG in an iframe) -----------------------------------------

function loadFlame(force) {
    const frame = $('flame');
    const base = state.view === 'diff' ? diffURL('svg') : renderURL('svg');
    const src = base + (state.fg && state.view !== 'diff' ? `#${state.fg}` : '');
    const cur = frame.dataset.base;
    frame.title = state.view === 'diff' ? 'Differential flame graph' : 'Flame graph';
    if (cur === base && !force)
        return;
    frame.dataset.base = base;
    frame.dataset.loaded = '';
    $('flamebox').setAttribute('aria-busy', 'true');
    if (cur === base) {
        try {
            frame.contentWindow.location.reload();
            return;
        } catch (e) { /* fall through */ }
    }
    frame.src = src;
}

function fitFlame() {
    const frame = $('flame');
    let doc;
    try {
        doc = frame.contentDocument;
    } catch (e) {
        return;
    }
    const svg = doc && doc.documentElement;
    if (!svg || svg.localName !== 'svg')
        return;
    const vb = svg.viewBox && svg.viewBox.baseVal;
    const w0 = vb && vb.width ? vb.width : svg.width.baseVal.value;
    const h0 = vb && vb.height ? vb.height : svg.height.baseVal.value;
    const w = Math.max(320, frame.parentElement.clientWidth - 2);
    const h = Math.ceil(w * h0 / w0);
    svg.setAttribute('width', String(w));
    svg.setAttribute('height', String(h));
    frame.style.height = `${h}px`;
}

function flameLoaded() {
    const frame = $('flame');
    const msg = $('flamemsg');
    $('flamebox').removeAttribute('aria-busy');
    let doc = null;
    try {
        doc = frame.contentDocument;
    } catch (e) { /* cross-origin: leave as is */ }
    if (!doc || !doc.documentElement || frame.src === '' || frame.src === 'about:blank')
        return;
    const root = doc.documentElement;
    if (root.localName !== 'svg') {
        // An error answer (text) instead of an SVG.
        msg.textContent = `Flame graph: ${(doc.body ? doc.body.textContent : root.textContent)
            .trim().slice(0, 500) || 'no data'}`;
        msg.hidden = false;
        frame.hidden = true;
        frame.dataset.loaded = 'error';
        return;
    }
    msg.hidden = true;
    frame.hidden = false;
    fitFlame();
    frame.dataset.loaded = state.view === 'diff' ? 'diff' : 'flame';
    // Keep the graph's own zoom/search state (its URL hash) in the page URL.
    const w = frame.contentWindow;
    const sync = () => setTimeout(() => {
        if (state.view === 'diff') return;
        const h = w.location.hash.replace(/^#/, '');
        if (h !== state.fg) {
            state.fg = h;
            writeURL(false);
        }
    }, 0);
    w.addEventListener('click', sync);
    w.addEventListener('keyup', sync);
    const term = $('filter').value.trim();
    if (term && state.view !== 'diff')
        highlight(term);
}

// Highlight functions matching a filter (substring, any case) in the flame graph.
function highlight(text, exact) {
    if (state.view === 'diff' || state.view === 'table') return;
    let w;
    try {
        w = $('flame').contentWindow;
    } catch (e) {
        return;
    }
    if (!w || typeof w.search !== 'function') return;
    if (!text) {
        if (typeof w.resetSearch === 'function') w.resetSearch();
    } else {
        w.search(exact ? `^${escapeRe(text)}$` : caseless(text));
    }
    state.fg = w.location.hash.replace(/^#/, '');
    writeURL(false);
}

// ---- Top functions ------------------------------------------------------------------------

// Self and total per function name from a flamebearer. A name's total counts each stack once:
// a node whose name already appears among its ancestors (recursion) adds nothing more.
function topFunctions(f) {
    const levels = f.levels || [], names = f.names || [];
    if (!levels.length) return [];
    // Absolute x of every node, per level.
    const L = levels.map((lv) => {
        const out = [];
        let x = 0;
        for (let i = 0; i + 3 < lv.length; i += 4) {
            x += lv[i];
            out.push({ x, total: lv[i + 1], self: lv[i + 2], name: lv[i + 3], kids: [] });
            x += lv[i + 1];
        }
        return out;
    });
    for (let d = 0; d + 1 < L.length; d++) {
        const up = L[d];
        let p = 0;
        for (const n of L[d + 1]) {
            while (p < up.length && up[p].x + up[p].total <= n.x) p++;
            if (p < up.length && up[p].x <= n.x) up[p].kids.push(n);
        }
    }
    const self = new Map(), total = new Map(), onPath = new Map();
    const walk = (n, depth) => {
        if (depth > 0) {
            self.set(n.name, (self.get(n.name) || 0) + n.self);
            const c = onPath.get(n.name) || 0;
            if (c === 0) total.set(n.name, (total.get(n.name) || 0) + n.total);
            onPath.set(n.name, c + 1);
        }
        for (const k of n.kids) walk(k, depth + 1);
        if (depth > 0) onPath.set(n.name, onPath.get(n.name) - 1);
    };
    for (const r of L[0]) walk(r, 0);
    const out = [];
    for (const [i, t] of total)
        out.push({ name: String(names[i] ?? `#${i}`), self: self.get(i) || 0, total: t });
    return out;
}

const MAX_ROWS = 500;
function renderTable() {
    const tb = document.querySelector('#top tbody');
    const ticks = (fb && fb.flamebearer && fb.flamebearer.numTicks) || 0;
    const text = $('filter').value.trim().toLowerCase();
    let list = text ? rows.filter((r) => r.name.toLowerCase().includes(text)) : rows.slice();
    list.sort((a, b) => {
        if (sortKey === 'name') return sortDir * a.name.localeCompare(b.name);
        return sortDir * (a[sortKey] - b[sortKey]) || b.total - a.total ||
            a.name.localeCompare(b.name);
    });
    const shown = list.slice(0, MAX_ROWS);
    const frag = document.createDocumentFragment();
    const pct = (v) => (ticks ? (100 * v / ticks).toFixed(2) : '0.00');
    for (const r of shown) {
        const tr = document.createElement('tr');
        const name = document.createElement('td');
        name.className = 'name';
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'fn';
        b.textContent = r.name;
        b.title = `Highlight ${r.name} in the flame graph`;
        b.addEventListener('click', () => highlight(r.name, true));
        name.append(b);
        tr.append(name);
        for (const [v, cls] of [[r.self, 'self'], [null, 'pct self'], [r.total, 'total'],
            [null, 'pct total']]) {
            const td = document.createElement('td');
            td.className = `num ${cls}`;
            if (v === null) {
                const val = cls.includes('self') ? r.self : r.total;
                const p = pct(val);
                td.innerHTML = `<span class="pbar" style="width:${Math.min(100, +p)}%"></span>` +
                    `<span class="v">${p}%</span>`;
            } else {
                td.textContent = fmtNum(v);
            }
            tr.append(td);
        }
        frag.append(tr);
    }
    tb.textContent = '';
    tb.append(frag);
    if (!shown.length) {
        const tr = document.createElement('tr');
        const td = document.createElement('td');
        td.colSpan = 5;
        td.className = 'empty';
        td.textContent = rows.length ? 'No function matches the filter.' : 'No samples.';
        tr.append(td);
        tb.append(tr);
    }
    $('tcount').textContent = list.length > MAX_ROWS
        ? `showing ${MAX_ROWS} of ${fmtNum(list.length)}` : `${fmtNum(list.length)} functions`;
    for (const th of document.querySelectorAll('#top th[data-key]'))
        th.setAttribute('aria-sort', th.dataset.key === sortKey
            ? (sortDir < 0 ? 'descending' : 'ascending') : 'none');
}

// ---- Timeline -----------------------------------------------------------------------------

let tlAxis = null;      // {a0, a1} in unix seconds, for the drawn chart
let drag = null;        // {x0, x1} in CSS pixels while dragging

function timelineData() {
    const tl = fb && fb.timeline;
    let a0 = resolveTime(state.from), a1 = resolveTime(state.until);
    if (!(a1 > a0)) a1 = a0 + 1;
    if (!tl || !tl.samples) return { a0, a1, pts: [], step: 10 };
    const step = tl.durationDelta || 10;
    const pts = tl.samples.map((v, i) => [tl.startTime + i * step, v || 0]);
    return { a0, a1, pts, step };
}

function niceStep(span, px) {
    const steps = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
        86400, 172800, 604800];
    const want = span / Math.max(1, px / 110);
    return steps.find((s) => s >= want) || steps[steps.length - 1];
}

function drawTimeline() {
    const c = $('timeline');
    const dpr = window.devicePixelRatio || 1;
    const W = c.clientWidth, H = c.clientHeight;
    if (!W || !H) return;
    c.width = Math.round(W * dpr);
    c.height = Math.round(H * dpr);
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    const { a0, a1, pts, step } = timelineData();
    tlAxis = { a0, a1, pts, step };
    const axisH = 16, top = 6, ph = H - axisH - top;
    const X = (t) => ((t - a0) / (a1 - a0)) * W;
    const css = getComputedStyle(document.documentElement);
    const col = (n, d) => css.getPropertyValue(n).trim() || d;

    // Compare ranges under the chart.
    if (state.view === 'diff') {
        const band = (f, u, color) => {
            const x0 = X(resolveTime(f)), x1 = X(resolveTime(u));
            if (!(x1 > x0)) return;
            g.fillStyle = color;
            g.fillRect(x0, 0, x1 - x0, H - axisH);
        };
        band(state.lfrom, state.luntil, 'rgba(40,110,220,.16)');
        band(state.rfrom, state.runtil, 'rgba(220,60,40,.16)');
    }

    // Grid and time axis.
    const span = a1 - a0, tick = niceStep(span, W);
    const off = new Date().getTimezoneOffset() * 60;
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = col('--muted', '#667');
    g.strokeStyle = col('--grid', '#e4e6eb');
    g.lineWidth = 1;
    g.textBaseline = 'alphabetic';
    for (let t = Math.ceil((a0 - off) / tick) * tick + off; t <= a1; t += tick) {
        const x = Math.round(X(t)) + 0.5;
        g.beginPath();
        g.moveTo(x, top);
        g.lineTo(x, H - axisH);
        g.stroke();
        const d = new Date(t * 1000);
        let s = tick < 60 ? `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
            : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
        if (tick >= 86400 || (span > 86400 && d.getHours() === 0 && d.getMinutes() === 0))
            s = `${pad(d.getMonth() + 1)}-${pad(d.getDate())}` + (tick >= 86400 ? '' : ` ${s}`);
        const tw = g.measureText(s).width;
        if (x - tw / 2 > 0 && x + tw / 2 < W) g.fillText(s, x - tw / 2, H - 4);
    }

    // Samples.
    const max = pts.reduce((m, p) => Math.max(m, p[1]), 0);
    if (max > 0) {
        const bw = Math.max(1, (step / span) * W);
        const y = (v) => top + ph - (v / max) * ph;
        g.fillStyle = col('--accent-soft', 'rgba(234,100,30,.35)');
        g.strokeStyle = col('--accent', '#e8601c');
        g.beginPath();
        g.moveTo(X(pts[0][0]), top + ph);
        for (const [t, v] of pts) {
            g.lineTo(X(t), y(v));
            g.lineTo(X(t) + bw, y(v));
        }
        g.lineTo(X(pts[pts.length - 1][0]) + bw, top + ph);
        g.closePath();
        g.fill();
        g.beginPath();
        let first = true;
        for (const [t, v] of pts) {
            if (first) g.moveTo(X(t), y(v)); else g.lineTo(X(t), y(v));
            g.lineTo(X(t) + bw, y(v));
            first = false;
        }
        g.stroke();
        const lab = `peak ${fmtNum(max)} / ${fmtSpan(step)}`;
        g.fillStyle = 'rgba(255,255,255,.85)';
        g.fillRect(2, top, g.measureText(lab).width + 6, 14);
        g.fillStyle = col('--muted', '#667');
        g.fillText(lab, 5, top + 11);
    } else {
        g.fillStyle = col('--muted', '#667');
        g.fillText(fb ? 'no samples in this range' : '', W / 2 - 60, top + ph / 2);
    }
    g.strokeStyle = col('--border', '#d0d4da');
    g.beginPath();
    g.moveTo(0, H - axisH + 0.5);
    g.lineTo(W, H - axisH + 0.5);
    g.stroke();

    if (drag) {
        const x0 = Math.min(drag.x0, drag.x1), x1 = Math.max(drag.x0, drag.x1);
        g.fillStyle = 'rgba(30,80,160,.18)';
        g.fillRect(x0, 0, x1 - x0, H - axisH);
        g.strokeStyle = 'rgba(30,80,160,.7)';
        g.strokeRect(x0 + 0.5, 0.5, x1 - x0 - 1, H - axisH - 1);
    }
    const total = pts.reduce((s, p) => s + p[1], 0);
    c.setAttribute('aria-label', `Samples over time, ${fmtDate(a0, false)} to ` +
        `${fmtDate(a1, false)}: ${fmtNum(total)} in total, peak ${fmtNum(max)} per ` +
        `${fmtSpan(step)}. Drag to select a range; arrow keys pan, minus zooms out.`);
}

function tlTime(x) {
    const W = $('timeline').clientWidth;
    return tlAxis.a0 + (Math.min(Math.max(x, 0), W) / W) * (tlAxis.a1 - tlAxis.a0);
}

function setRange(target, f, u) {
    f = Math.floor(f / 10) * 10;     // storage buckets are 10 s
    u = Math.ceil(u / 10) * 10;
    if (u - f < 10) u = f + 10;
    if (target === 'left') {
        state.lfrom = String(f);
        state.luntil = String(u);
        changed(true, { keepZoom: true });
    } else if (target === 'right') {
        state.rfrom = String(f);
        state.runtil = String(u);
        changed(true, { keepZoom: true });
    } else {
        state.from = String(f);
        state.until = u >= nowSec() ? 'now' : String(u);
        changed(true);
    }
}

function setupTimeline() {
    const c = $('timeline'), tip = $('tltip');
    const px = (e) => e.clientX - c.getBoundingClientRect().left;
    c.addEventListener('pointerdown', (e) => {
        if (e.button !== 0 || !tlAxis) return;
        c.setPointerCapture(e.pointerId);
        drag = { x0: px(e), x1: px(e) };
        drawTimeline();
    });
    c.addEventListener('pointermove', (e) => {
        if (!tlAxis) return;
        const x = px(e);
        if (drag) {
            drag.x1 = x;
            drawTimeline();
        }
        const t = tlTime(x);
        const p = tlAxis.pts.find((q) => t >= q[0] && t < q[0] + tlAxis.step);
        tip.textContent = drag
            ? `${fmtDate(tlTime(Math.min(drag.x0, drag.x1)))} — ${fmtDate(tlTime(Math.max(drag.x0, drag.x1)))}`
            : `${fmtDate(t)}${p ? ` · ${fmtNum(p[1])} samples` : ''}`;
        tip.hidden = false;
        const W = c.clientWidth;
        tip.style.left = `${Math.min(Math.max(0, x + 12), W - tip.offsetWidth)}px`;
    });
    c.addEventListener('pointerleave', () => { tip.hidden = true; });
    const end = (e) => {
        if (!drag) return;
        const d = drag;
        drag = null;
        tip.hidden = true;
        drawTimeline();
        if (e.type === 'pointercancel' || Math.abs(d.x1 - d.x0) < 4) return;
        const f = tlTime(Math.min(d.x0, d.x1)), u = tlTime(Math.max(d.x0, d.x1));
        const target = state.view === 'diff' ? $('dragsets').value : 'range';
        setRange(target, f, u);
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    c.addEventListener('keydown', (e) => {
        const f = resolveTime(state.from), u = resolveTime(state.until), s = u - f;
        if (e.key === 'ArrowLeft') setRange('range', f - s / 4, u - s / 4);
        else if (e.key === 'ArrowRight') setRange('range', f + s / 4, Math.min(nowSec(), u + s / 4));
        else if (e.key === '-') zoomOut();
        else return;
        e.preventDefault();
    });
}

function zoomOut() {
    const f = resolveTime(state.from), u = resolveTime(state.until), s = Math.max(10, u - f);
    const now = nowSec();
    let nu = u + s / 2, nf = f - s / 2;
    if (nu > now) {
        nf -= nu - now;
        nu = now;
    }
    setRange('range', nf, nu);
}

// ---- Diff ---------------------------------------------------------------------------------

// Compare defaults: the selected range against the same-length range just before it.
function ensureDiffRanges() {
    if (state.lfrom && state.luntil && state.rfrom && state.runtil) return;
    prevPeriod();
    writeURL(false);
}

function prevPeriod() {
    const f = resolveTime(state.from), u = resolveTime(state.until), s = u - f;
    const rel = /^now-(\d+)([smhdw])$/.exec(state.from);
    state.rfrom = state.from;
    state.runtil = state.until;
    if (rel && state.until === 'now') {
        state.lfrom = `now-${2 * Number(rel[1])}${rel[2]}`;
        state.luntil = state.from;
    } else {
        state.lfrom = String(f - s);
        state.luntil = String(f);
    }
}

function halves() {
    const f = Math.floor(resolveTime(state.from) / 10) * 10;
    const u = Math.ceil(resolveTime(state.until) / 10) * 10, m = Math.round((f + u) / 20) * 10;
    state.lfrom = String(f);
    state.luntil = String(m);
    state.rfrom = String(m);
    state.runtil = String(u);
}

// ---- Wiring -------------------------------------------------------------------------------

function setView(v, push = true) {
    if (v === state.view) return;
    state.view = v;
    changed(push, { keepZoom: true });
}

function setup() {
    $('queryform').addEventListener('submit', (e) => {
        e.preventDefault();
        const f = parseTimeInput($('from').value), u = parseTimeInput($('until').value);
        $('from').setAttribute('aria-invalid', String(f === null));
        $('until').setAttribute('aria-invalid', String(u === null));
        if (f === null || u === null) {
            status('Times: now, now-1h, unix seconds or YYYY-MM-DD HH:MM.', true);
            return;
        }
        if (resolveTime(f) >= resolveTime(u)) {
            status('"From" must be before "until".', true);
            $('from').setAttribute('aria-invalid', 'true');
            return;
        }
        const q = $('query').value.trim();
        if (!q) {
            $('query').setAttribute('aria-invalid', 'true');
            status('Enter a query, e.g. app.cpu{env="prod"}.', true);
            return;
        }
        const force = q === state.query && f === state.from && u === state.until;
        state.query = q;
        state.from = f;
        state.until = u;
        changed(true, { force });
    });
    $('app').addEventListener('change', () => {
        if (!$('app').value) return;
        state.query = $('app').value;
        changed(true);
    });
    for (const b of document.querySelectorAll('.presets button')) {
        b.addEventListener('click', () => {
            state.from = `now-${b.dataset.range}`;
            state.until = 'now';
            changed(true);
        });
    }
    $('refresh').addEventListener('click', () => load({ force: true }));
    $('zoomout').addEventListener('click', zoomOut);

    $('lkey').addEventListener('change', () => {
        $('lval').value = '';
        loadValues();
        $('lval').focus();
    });
    $('labelform').addEventListener('submit', (e) => {
        e.preventDefault();
        const k = $('lkey').value, op = $('lop').value, v = $('lval').value;
        if (!k) {
            status('Pick a label key first.', true);
            $('lkey').focus();
            return;
        }
        const q = parseQuery(state.query);
        const i = q.matchers.findIndex((m) => m.k === k && m.op === op);
        if (i >= 0) q.matchers[i].v = v;
        else q.matchers.push({ k, op, v });
        state.query = buildQuery(q.app, q.matchers);
        $('lval').value = '';
        changed(true);
    });

    const tabs = [...document.querySelectorAll('#tabs [role=tab]')];
    tabs.forEach((b, i) => {
        b.addEventListener('click', () => setView(b.dataset.view));
        b.addEventListener('keydown', (e) => {
            let j = null;
            if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
            else if (e.key === 'ArrowLeft') j = (i + tabs.length - 1) % tabs.length;
            else if (e.key === 'Home') j = 0;
            else if (e.key === 'End') j = tabs.length - 1;
            if (j === null) return;
            e.preventDefault();
            tabs[j].focus();
            setView(tabs[j].dataset.view);
        });
    });

    $('diffapply').addEventListener('click', () => {
        const vals = ['lfrom', 'luntil', 'rfrom', 'runtil'].map((k) => parseTimeInput($(k).value));
        ['lfrom', 'luntil', 'rfrom', 'runtil'].forEach((k, i) =>
            $(k).setAttribute('aria-invalid', String(vals[i] === null)));
        if (vals.includes(null)) {
            status('Times: now, now-1h, unix seconds or YYYY-MM-DD HH:MM.', true);
            return;
        }
        [state.lfrom, state.luntil, state.rfrom, state.runtil] = vals;
        changed(true, { keepZoom: true });
    });
    $('dprev').addEventListener('click', () => { prevPeriod(); changed(true, { keepZoom: true }); });
    $('dhalves').addEventListener('click', () => { halves(); changed(true, { keepZoom: true }); });

    for (const th of document.querySelectorAll('#top th[data-key]')) {
        th.querySelector('button').addEventListener('click', () => {
            const k = th.dataset.key;
            if (sortKey === k) sortDir = -sortDir;
            else {
                sortKey = k;
                sortDir = k === 'name' ? 1 : -1;
            }
            renderTable();
        });
    }
    let ft = 0;
    $('filter').addEventListener('input', () => {
        renderTable();
        clearTimeout(ft);
        ft = setTimeout(() => highlight($('filter').value.trim()), 200);
    });

    $('flame').addEventListener('load', flameLoaded);
    setupTimeline();
    let rt = 0;
    window.addEventListener('resize', () => {
        clearTimeout(rt);
        rt = setTimeout(() => { fitFlame(); drawTimeline(); }, 100);
    });
    window.addEventListener('popstate', () => {
        readURL();
        load();
    });
}

async function main() {
    readURL();
    setup();
    syncControls();
    drawTimeline();
    await loadApps();
    writeURL(false);
    load();
}

main();
