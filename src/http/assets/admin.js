/*! Baton support dashboard. Signs in with the admin token (kept for the browser tab only),
 * then reads the admin API for the chosen range: headline numbers and charts from
 * /v1/admin/stats, knowledge gaps, FAQ drafts (approve or reject), what the word lists
 * caught, the blacklist (block, lift) and the knowledge base's
 * status. Charts are SVG built here with DOM calls and styled by admin.css, so the page
 * runs under a policy that allows nothing inline. Everything from the server is rendered
 * as text; the page's own words come from i18n.js, in the reader's language.
 */
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const { t, code, say } = window.BatonI18n;
  const SVG = 'http://www.w3.org/2000/svg';
  function build(el, props, children) {
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false && c !== '')
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }
  const h = (tag, props, ...children) => build(document.createElement(tag), props, children);
  const s = (tag, props, ...children) => build(document.createElementNS(SVG, tag), props, children);

  // ---- formatting ------------------------------------------------------------------------
  const missing = (v) => v === null || v === undefined || Number.isNaN(v);
  const locale = () => window.BatonI18n.locale();
  const num = (n) => (missing(n) ? '—' : Number(n).toLocaleString(locale()));
  const pct = (f, digits = 1) => (missing(f) ? '—' : (f * 100).toLocaleString(locale(), { maximumFractionDigits: digits }) + '%');
  /** A count with its noun: `key` is a message with a singular and a plural. */
  const count = (key, n) => t(key, { n: missing(n) ? '—' : n });
  function duration(ms) {
    if (missing(ms)) return '—';
    if (ms < 1000) return t('time.s', { n: (ms / 1000).toLocaleString(locale(), { maximumFractionDigits: 1 }) });
    const total = Math.round(ms / 1000);
    if (total < 60) return t('time.s', { n: total });
    const d = Math.floor(total / 86400); const hr = Math.floor((total % 86400) / 3600);
    const mi = Math.floor((total % 3600) / 60); const se = total % 60;
    const part = (unit, n, next, m) => t(unit, { n }) + (m ? ' ' + t(next, { n: m }) : '');
    if (d) return part('time.d', d, 'time.h', hr);
    if (hr) return part('time.h', hr, 'time.min', mi);
    return part('time.min', mi, 'time.s', se);
  }
  // Dates in the page's language, not the browser's; made again when the reader switches.
  let fmt = null;
  function formats() {
    const l = locale();
    fmt = {
      hour: new Intl.DateTimeFormat(l, { hour: '2-digit', minute: '2-digit' }),
      day: new Intl.DateTimeFormat(l, { day: 'numeric', month: 'short' }),
      full: new Intl.DateTimeFormat(l, { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' }),
      weekday: new Intl.DateTimeFormat(l, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' }),
    };
  }
  formats();
  const when = (ms) => (missing(ms) ? '—' : fmt.full.format(new Date(ms)));
  /** The escalation reasons the server knows, in the order the chart lists them. */
  const REASONS = ['requested_human', 'complaint', 'low_confidence', 'intent_policy', 'action_failed', 'faq_policy', 'trigger_rule', 'reception'];
  // The server cuts [from, to) into hours (up to two days) or days counted from `from`, so
  // starting on a whole hour or a local midnight makes every bar an hour or a calendar day
  // of the reader: the current hour and the 23 before it, or today and the days before.
  const RANGES = {
    '24h': { start: (now) => { const d = new Date(now); d.setMinutes(0, 0, 0); return d.getTime() - 23 * 3600000; } },
    '7d': { start: (now) => { const d = new Date(now); d.setHours(0, 0, 0, 0); d.setDate(d.getDate() - 6); return d.getTime(); } },
    '30d': { start: (now) => { const d = new Date(now); d.setHours(0, 0, 0, 0); d.setDate(d.getDate() - 29); return d.getTime(); } },
  };
  /** The word-list log counts whole days back from now. */
  const RANGE_DAYS = { '24h': 1, '7d': 7, '30d': 30 };
  const query = () => { const to = Date.now(); return `?from=${RANGES[range].start(to)}&to=${to}`; };

  let token = sessionStorage.getItem('baton-admin-token');
  let range = RANGES[sessionStorage.getItem('baton-admin-range')] ? sessionStorage.getItem('baton-admin-range') : '7d';
  let lastStats = null;
  let loadSeq = 0;
  // The last answers, drawn again when the reader switches language.
  const shown = { kb: null, stats: null, gaps: null, drafts: null, words: null, blocks: null, quality: null };
  let updatedAt = null;

  async function api(method, path, body, headers) {
    try {
      const r = await fetch(path, {
        method,
        headers: Object.assign({ authorization: 'Bearer ' + token }, body ? { 'content-type': 'application/json' } : {}, headers || {}),
        body: body ? JSON.stringify(body) : undefined,
        cache: 'no-store',
      });
      let json = null;
      try { json = await r.json(); } catch (_) { /* empty body */ }
      return { status: r.status, body: json };
    } catch (_) {
      return { status: 0, body: { message: t('common.network_error') } };
    }
  }
  const why = (r) => (r.body && r.body.message) || t('common.server_status', { status: r.status });

  // ---- signing in and out ----------------------------------------------------------------
  /** The sign-in card, with a message (a key) or none. */
  function showSignin(message) {
    token = null;
    // Answers still on their way belong to the old token: drop them.
    loadSeq += 1;
    result(null);
    sessionStorage.removeItem('baton-admin-token');
    $('app').hidden = true; $('signin').hidden = false;
    say($('signin-error'), message);
    $('token').value = '';
    $('token').focus();
  }
  const expired = () => showSignin('admin.signin.expired');

  async function signIn(candidate) {
    token = candidate;
    const r = await api('GET', '/v1/admin/kb/status');
    if (r.status === 401) { showSignin('admin.signin.refused'); return; }
    if (r.status !== 200) { showSignin(null); $('signin-error').textContent = why(r); return; }
    sessionStorage.setItem('baton-admin-token', candidate);
    $('signin').hidden = true; $('app').hidden = false;
    say($('signin-error'), null);
    renderKb(r);
    load();
    openRules();
  }
  $('signin-form').addEventListener('submit', (e) => { e.preventDefault(); signIn($('token').value.trim()); });
  $('signout').addEventListener('click', () => showSignin('admin.signin.signed_out'));
  $('refresh').addEventListener('click', () => load());
  for (const b of document.querySelectorAll('.range button')) {
    b.addEventListener('click', () => {
      range = b.dataset.range;
      sessionStorage.setItem('baton-admin-range', range);
      load();
    });
  }

  // ---- loading ---------------------------------------------------------------------------
  async function load() {
    const seq = ++loadSeq;
    for (const b of document.querySelectorAll('.range button')) b.setAttribute('aria-pressed', String(b.dataset.range === range));
    const q = query();
    updatedAt = null;
    say($('updated'), 'admin.loading');
    const [stats, gaps, drafts, kb, words, blocks, quality] = await Promise.all([
      api('GET', '/v1/admin/stats' + q), api('GET', '/v1/admin/kb/gaps' + q),
      api('GET', '/v1/admin/kb/drafts'), api('GET', '/v1/admin/kb/status'),
      api('GET', '/v1/admin/word-hits?days=' + RANGE_DAYS[range]), api('GET', '/v1/admin/blocks'),
      api('GET', '/v1/quality/reviews?state=all&limit=500&days=' + RANGE_DAYS[range]),
    ]);
    // A newer range or refresh started meanwhile: its answers win.
    if (seq !== loadSeq) return;
    if ([stats, gaps, drafts, kb, words, blocks, quality].some((r) => r.status === 401)) { expired(); return; }
    renderKb(kb);
    renderStats(stats);
    renderGaps(gaps);
    renderDrafts(drafts);
    renderWords(words);
    renderBlocks(blocks);
    renderQuality(quality);
    updatedAt = new Date();
    showUpdated();
  }
  function showUpdated() {
    if (updatedAt) say($('updated'), 'admin.updated', { time: fmt.hour.format(updatedAt) });
  }

  /** Lists and status again after an approve or reject; the numbers do not change. */
  async function reloadLists() {
    const q = query();
    const [gaps, drafts, kb] = await Promise.all([
      api('GET', '/v1/admin/kb/gaps' + q), api('GET', '/v1/admin/kb/drafts'), api('GET', '/v1/admin/kb/status'),
    ]);
    if ([gaps, drafts, kb].some((r) => r.status === 401)) { expired(); return; }
    renderKb(kb); renderGaps(gaps); renderDrafts(drafts);
  }

  // ---- knowledge base status ---------------------------------------------------------------
  function renderKb(r) {
    shown.kb = r;
    const box = $('kb');
    if (r.status !== 200 || !r.body) {
      box.className = 'kb bad';
      $('kb-line').replaceChildren(h('span', { class: 'dot' }, '● '), t('admin.kb.unavailable', { why: why(r) }));
      $('kb-errors').replaceChildren();
      return;
    }
    const k = r.body;
    const errors = k.errors || [];
    const warnings = k.warnings || [];
    box.className = 'kb ' + (errors.length || k.ok === false ? 'bad' : 'ok');
    const version = String(k.version || '');
    $('kb-line').replaceChildren(
      h('span', { class: 'dot' }, '● '),
      h('strong', null, t('admin.kb.title') + ' '),
      t('admin.kb.version') + ' ', h('code', { title: version }, version.slice(0, 12) || '—'),
      ` · ${t('admin.kb.loaded', { when: when(k.loaded_at) })} · ${count('admin.kb.faqs', k.faqs)} · ${count('admin.kb.intents', k.intents)} · ${count('admin.kb.examples', k.examples)} · `,
      h('span', { class: errors.length ? 'error' : '' }, count('admin.kb.errors', errors.length)),
      warnings.length ? ` · ${count('admin.kb.warnings', warnings.length)}` : '',
      k.ok === false && k.last_attempt_at ? ` · ${t('admin.kb.reload_failed', { when: when(k.last_attempt_at) })}` : '',
      k.watching ? ` · ${t('admin.kb.watching')}` : '');
    $('kb-errors').replaceChildren(...errors.map((d) => h('li', null,
      h('code', null, d.path + (d.line ? ':' + d.line : '')), ' ', d.message)));
  }

  // ---- headline tiles ----------------------------------------------------------------------
  function tile(id, value, sub, warn) {
    const el = $(id);
    el.classList.toggle('warn', !!warn);
    el.querySelector('.value').replaceChildren(...value.map((v) => (Array.isArray(v) ? h('span', { class: 'unit' }, v[0]) : v)));
    el.querySelector('.sub').textContent = sub || '';
  }
  const percentiles = (p) => (p && !missing(p.p50) ? [duration(p.p50), ['p50']] : ['—']);
  const percentileSub = (p) => `p90 ${duration(p && p.p90)} · ${count('admin.tile.measured', p ? p.count : 0)}`;

  function renderStats(r) {
    shown.stats = r;
    if (r.status !== 200 || !r.body) {
      $('stats-error').textContent = t('admin.stats.error', { why: why(r) });
      lastStats = null;
      for (const el of document.querySelectorAll('.tile')) tile(el.id, ['—'], '');
      for (const p of document.querySelectorAll('.plot')) p.replaceChildren(h('p', { class: 'empty' }, t('admin.stats.none')));
      return;
    }
    $('stats-error').textContent = '';
    const st = r.body;
    lastStats = st;
    tile('t-conversations', [num(st.conversations)], t('admin.tile.since', { when: when(st.from) }));
    tile('t-containment', [pct(st.containment_rate)], t('admin.tile.contained', { n: num(st.contained) }));
    tile('t-escalation', [pct(st.escalation_rate)], count('admin.tile.escalated', st.escalations));
    tile('t-queue', percentiles(st.queue_wait_ms), percentileSub(st.queue_wait_ms));
    tile('t-first', percentiles(st.first_response_ms), percentileSub(st.first_response_ms));
    tile('t-handle', percentiles(st.handle_ms), percentileSub(st.handle_ms));
    const csat = st.csat || {};
    tile('t-csat', missing(csat.average) ? ['—'] : [csat.average.toLocaleString(locale(), { minimumFractionDigits: 1, maximumFractionDigits: 2 }), ['/ 5']],
      count('admin.n.ratings', csat.count || 0));
    const rl = st.reloads || { ok: 0, failed: 0 };
    tile('t-reloads', [num(rl.ok), [t('admin.tile.reloads.ok')], num(rl.failed), [t('admin.tile.reloads.failed')]],
      t(rl.failed ? 'admin.tile.reloads.some_failed' : rl.ok ? 'admin.tile.reloads.all_applied' : 'admin.tile.reloads.none'), rl.failed > 0);
    renderCharts();
  }

  // ---- charts ------------------------------------------------------------------------------
  function svgRoot(w, height, label) {
    return s('svg', { class: 'chart-svg', width: w, height, viewBox: `0 0 ${w} ${height}`, role: 'img', 'aria-label': label });
  }
  /** Charts are drawn at the width they get, so text stays legible on a phone. */
  const widthOf = (box) => Math.max(240, Math.floor(box.clientWidth || 0));
  const empty = (box, text) => box.replaceChildren(h('p', { class: 'empty' }, text || t('admin.chart.empty')));
  function niceStep(raw, integer) {
    if (!(raw > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(raw));
    const m = (integer ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10]).find((k) => k * p >= raw * (1 - 1e-9));
    return integer ? Math.max(1, Math.round(m * p)) : m * p;
  }
  /** Shortens an SVG text until it fits `room` pixels; the full text stays in the tooltip. */
  function fit(text, room) {
    if (!text.getComputedTextLength || text.getComputedTextLength() <= room) return;
    const full = text.textContent;
    let n = full.length;
    while (n > 1 && text.getComputedTextLength() > room) { n -= 1; text.textContent = full.slice(0, n) + '…'; }
  }

  /** Vertical bars, one group per category, one bar per series. */
  function columns(box, o) {
    const n = o.labels.length;
    const max = Math.max(0, ...o.series.flatMap((se) => se.values.map((v) => v || 0)));
    if (!n || (o.hideEmpty !== false && max === 0)) { empty(box, o.empty); return; }
    const W = widthOf(box); const H = o.height || 220;
    const m = { l: o.yTitle ? 54 : 40, r: 8, t: 10, b: o.xTitle ? 40 : 24 };
    const pw = W - m.l - m.r; const ph = H - m.t - m.b;
    const step = niceStep(max / 4, true);
    const top = Math.max(step, Math.ceil(max / step) * step);
    const y = (v) => m.t + ph - (v / top) * ph;
    const svg = svgRoot(W, H, o.label);
    for (let v = 0; v <= top; v += step) {
      svg.append(s('line', { class: 'grid', x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }),
        s('text', { x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, num(v)));
    }
    const band = pw / n; const gap = Math.min(band * 0.25, 14);
    const bw = (band - gap) / o.series.length;
    const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(pw / (o.labelWidth || 46)))));
    for (let i = 0; i < n; i++) {
      const g = s('g', null, s('title', null, o.tip(i)),
        s('rect', { class: 'hit', x: m.l + i * band, y: m.t, width: band, height: ph }));
      o.series.forEach((se, j) => {
        const v = se.values[i] || 0;
        const bh = v > 0 ? Math.max(1.5, (v / top) * ph) : 0;
        if (bh) g.append(s('rect', { class: 'bar ' + se.cls, x: m.l + i * band + gap / 2 + j * bw, y: m.t + ph - bh, width: Math.max(1, bw - (o.series.length > 1 ? 1 : 0)), height: bh, rx: Math.min(3, bw / 4) }));
      });
      svg.append(g);
      if (i % every === 0) svg.append(s('text', { x: m.l + i * band + band / 2, y: m.t + ph + 15, 'text-anchor': 'middle' }, o.labels[i]));
    }
    svg.append(s('line', { class: 'axis', x1: m.l, x2: W - m.r, y1: m.t + ph, y2: m.t + ph }));
    if (o.xTitle) svg.append(s('text', { class: 'axis-title', x: m.l + pw / 2, y: H - 4, 'text-anchor': 'middle' }, o.xTitle));
    if (o.yTitle) svg.append(s('text', { class: 'axis-title', x: -(m.t + ph / 2), y: 11, transform: 'rotate(-90)', 'text-anchor': 'middle' }, o.yTitle));
    box.replaceChildren(svg);
  }

  /** A line over time with a point per bucket that has a value; gaps where it has none. */
  function lineChart(box, o) {
    const n = o.labels.length;
    if (!n || o.values.every(missing)) { empty(box, o.empty); return; }
    const W = widthOf(box); const H = o.height || 200;
    const m = { l: o.yTitle ? 54 : 40, r: 8, t: 10, b: 24 };
    const pw = W - m.l - m.r; const ph = H - m.t - m.b;
    const y = (v) => m.t + ph - ((v - o.min) / (o.max - o.min)) * ph;
    const band = pw / n; const x = (i) => m.l + i * band + band / 2;
    const svg = svgRoot(W, H, o.label);
    for (const v of o.ticks) {
      svg.append(s('line', { class: 'grid', x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }),
        s('text', { x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, o.fmt(v)));
    }
    let d = ''; let pen = false;
    o.values.forEach((v, i) => {
      if (missing(v)) { pen = false; return; }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)} ${y(v).toFixed(1)} `;
      pen = true;
    });
    svg.append(s('path', { class: 'line ' + o.cls, d: d.trim() }));
    const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(pw / (o.labelWidth || 46)))));
    for (let i = 0; i < n; i++) {
      const v = o.values[i];
      const g = s('g', null, s('title', null, o.tip(i)),
        s('rect', { class: 'hit', x: m.l + i * band, y: m.t, width: band, height: ph }));
      if (!missing(v)) g.append(s('circle', { class: 'point ' + o.cls, cx: x(i), cy: y(v), r: n > 40 ? 2.5 : 3.5 }));
      svg.append(g);
      if (i % every === 0) svg.append(s('text', { x: x(i), y: m.t + ph + 15, 'text-anchor': 'middle' }, o.labels[i]));
    }
    svg.append(s('line', { class: 'axis', x1: m.l, x2: W - m.r, y1: m.t + ph, y2: m.t + ph }));
    if (o.yTitle) svg.append(s('text', { class: 'axis-title', x: -(m.t + ph / 2), y: 11, transform: 'rotate(-90)', 'text-anchor': 'middle' }, o.yTitle));
    box.replaceChildren(svg);
  }

  /** Horizontal bars, label and value above each bar: reads the same at any width. */
  function hbars(box, o) {
    const rows = o.rows;
    if (!rows.length || rows.every((r) => !r.value)) { empty(box, o.empty); return; }
    const W = widthOf(box); const rowH = 38;
    const H = rows.length * rowH + 4;
    const max = Math.max(1, ...rows.map((r) => r.value));
    const svg = svgRoot(W, H, o.label);
    const pairs = [];
    rows.forEach((r, i) => {
      const y0 = i * rowH + 2;
      const label = s('text', { class: 'row-label', x: 0, y: y0 + 13 }, r.label);
      const value = s('text', { x: W, y: y0 + 13, 'text-anchor': 'end' }, r.text);
      const g = s('g', null, s('title', null, r.tip),
        s('rect', { class: 'hit', x: 0, y: y0, width: W, height: rowH }),
        label, value,
        s('rect', { class: 'track', x: 0, y: y0 + 19, width: W, height: 12, rx: 3 }));
      if (r.value > 0) g.append(s('rect', { class: 'bar ' + o.cls, x: 0, y: y0 + 19, width: Math.max(2, (r.value / max) * W), height: 12, rx: 3 }));
      if (r.part > 0) g.append(s('rect', { class: 'bar ' + o.partCls, x: 0, y: y0 + 19, width: Math.max(2, (r.part / max) * W), height: 12, rx: 3 }));
      svg.append(g);
      pairs.push([label, value]);
    });
    box.replaceChildren(svg);
    for (const [label, value] of pairs) fit(label, W - value.getComputedTextLength() - 12);
  }

  function renderCharts() {
    const st = lastStats;
    if (!st) return;
    const series = st.series || [];
    const hourly = st.bucket_ms && st.bucket_ms < 86400000;
    // Days by their middle: a bucket a DST change shifted by an hour keeps its own date.
    const labels = series.map((b) => (hourly ? fmt.hour.format(new Date(b.start)) : fmt.day.format(new Date(b.start + 43200000))));
    const span = (b) => {
      const end = b.start + (st.bucket_ms || 0);
      const text = hourly ? `${when(b.start)} – ${fmt.hour.format(new Date(end))}` : fmt.weekday.format(new Date(b.start + 43200000));
      return end > st.to ? t('admin.chart.so_far', { span: text }) : text;
    };
    const unit = t(hourly ? 'admin.chart.hour' : 'admin.chart.day');
    const noConversations = t('admin.chart.no_conversations');
    const noRatings = t('admin.chart.no_ratings');
    columns($('ch-volume'), {
      label: t('admin.chart.volume.per', { unit }), labels, labelWidth: hourly ? 44 : 52,
      series: [
        { cls: 'blue', values: series.map((b) => b.conversations) },
        { cls: 'orange', values: series.map((b) => b.escalations) },
      ],
      yTitle: t('admin.chart.per', { unit }), empty: noConversations,
      tip: (i) => `${span(series[i])}\n${count('admin.n.conversations', series[i].conversations)}\n${count('admin.n.escalations', series[i].escalations)}`,
    });
    const rate = series.map((b) => (b.conversations ? b.contained / b.conversations : null));
    lineChart($('ch-containment'), {
      label: t('admin.chart.containment.per', { unit }), labels, values: rate, min: 0, max: 1,
      ticks: [0, 0.25, 0.5, 0.75, 1], fmt: (v) => pct(v, 0), cls: 'green', yTitle: t('admin.chart.containment.axis'),
      empty: noConversations, labelWidth: hourly ? 44 : 52,
      tip: (i) => `${span(series[i])}\n` + (missing(rate[i]) ? t('admin.chart.containment.none')
        : t('admin.chart.containment.tip', { pct: pct(rate[i]), n: num(series[i].contained), of: num(series[i].conversations) })),
    });
    lineChart($('ch-csat-series'), {
      label: t('admin.chart.csat_series.per', { unit }), labels, values: series.map((b) => b.csat_average), min: 1, max: 5,
      ticks: [1, 2, 3, 4, 5], fmt: (v) => v.toLocaleString(locale()), cls: 'purple', yTitle: t('admin.chart.csat_series.axis'),
      empty: noRatings, labelWidth: hourly ? 44 : 52,
      tip: (i) => `${span(series[i])}\n` + (missing(series[i].csat_average) ? t('admin.chart.csat_series.none')
        : t('admin.chart.csat_series.tip', { average: series[i].csat_average.toLocaleString(locale(), { maximumFractionDigits: 2 }) })),
    });

    const byReason = st.escalations_by_reason || {};
    const reasonKeys = REASONS.concat(Object.keys(byReason).filter((k) => !REASONS.includes(k)));
    const escalations = reasonKeys.reduce((a, k) => a + (byReason[k] || 0), 0);
    hbars($('ch-reasons'), {
      label: t('admin.chart.reasons'), cls: 'orange', empty: t('admin.chart.reasons.none'),
      rows: reasonKeys.map((k) => {
        const n = byReason[k] || 0;
        const share = escalations ? n / escalations : null;
        return { label: code('reason', k), value: n, text: `${num(n)} · ${pct(share, 0)}`, tip: `${code('reason', k)} (${k}): ${count('admin.n.escalations', n)}, ${pct(share)}` };
      }),
    });

    const tags = st.tags || {};
    hbars($('ch-tags'), {
      label: t('admin.chart.tags'), cls: 'blue', empty: t('admin.chart.tags.none'),
      rows: Object.keys(tags).sort((a, b) => tags[b] - tags[a]).map((k) => ({
        label: '#' + k, value: tags[k], text: num(tags[k]), tip: `#${k}: ${count('admin.n.conversations', tags[k])}`,
      })),
    });

    const dist = (st.csat && st.csat.distribution) || {};
    const scores = ['1', '2', '3', '4', '5'];
    const ratings = scores.reduce((a, k) => a + (dist[k] || 0), 0);
    columns($('ch-csat'), {
      label: t('admin.chart.csat.label'), labels: scores.map((k) => k + ' ★'),
      series: [{ cls: 'purple', values: scores.map((k) => dist[k] || 0) }],
      xTitle: t('admin.chart.csat.x'), yTitle: t('admin.chart.csat.y'), height: 200, empty: noRatings,
      tip: (i) => t('admin.chart.csat.tip', { score: scores[i], ratings: count('admin.n.ratings', dist[scores[i]] || 0), pct: pct(ratings ? (dist[scores[i]] || 0) / ratings : null) }),
    });

    const conf = st.confidence || [];
    const fmt1 = (v) => Number(v).toLocaleString(locale(), { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    columns($('ch-confidence'), {
      label: t('admin.chart.confidence.label'), labels: conf.map((c) => fmt1(c.lower)), labelWidth: 30,
      series: [{ cls: 'blue', values: conf.map((c) => c.count) }],
      xTitle: t('admin.chart.confidence.x'), yTitle: t('admin.chart.confidence.y'), height: 200, empty: t('admin.chart.confidence.none'),
      tip: (i) => t('admin.chart.confidence.tip', { from: fmt1(conf[i].lower), to: fmt1(conf[i].upper), messages: count('admin.n.messages', conf[i].count) }),
    });

    const faqs = (st.faqs || []).slice().sort((a, b) => b.hits - a.hits || b.didnt_help - a.didnt_help).slice(0, 10);
    hbars($('ch-faqs'), {
      label: t('admin.chart.faqs.label'), cls: 'blue', partCls: 'red', empty: t('admin.chart.faqs.none'),
      rows: faqs.map((f) => ({
        label: f.faq_id, value: f.hits, part: f.didnt_help,
        text: t('admin.chart.faqs.text', { hits: num(f.hits), n: num(f.didnt_help) }),
        tip: t('admin.chart.faqs.tip', { id: f.faq_id, hits: count('admin.n.hits', f.hits), n: num(f.didnt_help), pct: pct(f.hits ? f.didnt_help / f.hits : null) }),
      })),
    });

    const intents = (st.intents || []).slice().sort((a, b) => b.count - a.count).slice(0, 12);
    hbars($('ch-intents'), {
      label: t('admin.chart.intents'), cls: 'teal', empty: t('admin.chart.intents.none'),
      rows: intents.map((it) => ({ label: it.intent, value: it.count, text: num(it.count), tip: `${it.intent}: ${count('admin.n.messages', it.count)}` })),
    });
  }
  // Redrawn when the space changes (a rotated phone, a scrollbar appearing), not only on
  // window resizes: SVG text is laid out in pixels.
  let drawnWidth = 0;
  let redraw = 0;
  new ResizeObserver((entries) => {
    const w = Math.round(entries[0].contentRect.width);
    if (!w || w === drawnWidth) return;
    drawnWidth = w;
    cancelAnimationFrame(redraw);
    redraw = requestAnimationFrame(renderCharts);
  }).observe($('charts'));

  // ---- knowledge gaps ----------------------------------------------------------------------
  function renderGaps(r) {
    shown.gaps = r;
    if (r.status !== 200 || !r.body) {
      $('gaps-error').textContent = t('admin.gaps.error', { why: why(r) });
      $('gaps').replaceChildren(); $('gap-count').textContent = '';
      return;
    }
    $('gaps-error').textContent = '';
    const groups = r.body.groups || [];
    $('gap-count').textContent = num(groups.length);
    if (!groups.length) { $('gaps').replaceChildren(h('li', { class: 'none' }, t('admin.gaps.none'))); return; }
    $('gaps').replaceChildren(...groups.map((g) => {
      const reasons = Object.entries(g.reasons || {}).filter(([, n]) => n > 0);
      const nearest = g.nearest_faq;
      return h('li', { class: 'card gap' },
        h('div', { class: 'card-head' }, h('q', { class: 'rep' }, g.representative), h('span', { class: 'badge' }, g.lang)),
        h('div', { class: 'meta' }, t('admin.gap.meta', { times: count('admin.n.times', g.count), conversations: count('admin.n.conversations', g.conversations), first: when(g.first_seen), last: when(g.last_seen) })),
        reasons.length && h('div', { class: 'badges' }, ...reasons.map(([k, n]) => h('span', { class: 'badge reason', title: k }, `${code('gap', k)} × ${num(n)}`))),
        (g.examples || []).length && h('ul', { class: 'examples' }, ...(g.examples || []).slice(0, 3).map((ex) => h('li', null,
          ex.text, ' ', h('span', { class: 'muted' }, `· ${when(ex.at)} · ${code('gap', ex.reason)} · ${ex.conversation_id}`)))),
        nearest
          ? h('div', { class: 'nearest' }, t('admin.gap.nearest') + ' ', h('span', { class: 'badge id' }, nearest.faq_id), ' ', nearest.question,
            h('span', { class: 'muted' }, ' · ' + t('admin.gap.similarity', { score: Number(nearest.score).toLocaleString(locale(), { maximumFractionDigits: 2 }) })))
          : h('div', { class: 'nearest none' }, t('admin.gap.no_nearest')));
    }));
  }

  // ---- drafts ------------------------------------------------------------------------------
  /** The outcome of the last approve or reject: a key and its parameters, or none. */
  function result(key, params) {
    say($('draft-result'), key, params);
    $('draft-result').className = 'result';
  }
  function renderDrafts(r) {
    shown.drafts = r;
    if (r.status !== 200 || !r.body) {
      $('drafts-error').textContent = t('admin.drafts.error', { why: why(r) });
      $('drafts').replaceChildren(); $('draft-count').textContent = '';
      return;
    }
    $('drafts-error').textContent = '';
    const drafts = (r.body.drafts || []).filter((d) => !d.status || d.status === 'pending');
    $('draft-count').textContent = num(drafts.length);
    if (!drafts.length) { $('drafts').replaceChildren(h('li', { class: 'none' }, t('admin.drafts.none'))); return; }
    $('drafts').replaceChildren(...drafts.map((d) => {
      const error = h('p', { class: 'error', role: 'alert' });
      const buttons = [];
      const act = async (verb) => {
        for (const b of buttons) b.disabled = true;
        error.textContent = '';
        const r2 = await api('POST', `/v1/admin/kb/drafts/${encodeURIComponent(d.id)}/${verb}`, {});
        if (r2.status === 401) { expired(); return; }
        if (r2.status < 200 || r2.status >= 300) {
          error.textContent = t(verb === 'approve' ? 'admin.draft.approve_failed' : 'admin.draft.reject_failed', { why: why(r2) });
          for (const b of buttons) b.disabled = false;
          return;
        }
        if (verb === 'approve') {
          const b = r2.body || {};
          result('admin.draft.approved', { question: d.question, id: b.faq_id, lang: b.lang, path: b.path });
        } else result('admin.draft.rejected', { question: d.question });
        await reloadLists();
      };
      buttons.push(
        h('button', { type: 'button', class: 'primary', 'data-action': 'approve', onclick: () => act('approve') }, t('admin.draft.approve')),
        h('button', { type: 'button', class: 'danger', 'data-action': 'reject', onclick: () => act('reject') }, t('admin.draft.reject')));
      const alternates = d.alternates || [];
      return h('li', { class: 'card draft', 'data-draft': d.id },
        h('div', { class: 'card-head' }, h('span', { class: 'question' }, d.question), h('span', { class: 'badge' }, d.lang),
          d.suggested_id && h('span', { class: 'badge id', title: t('admin.draft.suggested_id') }, d.suggested_id)),
        h('p', { class: 'answer' }, d.answer),
        alternates.length && h('div', { class: 'meta' }, t('admin.draft.alternates', { questions: alternates.join(' · ') })),
        h('div', { class: 'meta' }, d.conversation_id ? t('admin.draft.drafted_from', { when: when(d.created_at), id: d.conversation_id }) : t('admin.draft.drafted', { when: when(d.created_at) })),
        h('div', { class: 'actions' }, buttons),
        error);
    }));
  }

  // ---- word lists and the blacklist --------------------------------------------------------
  function renderWords(r) {
    shown.words = r;
    if (r.status !== 200 || !r.body) {
      $('words-error').textContent = t('admin.words.error', { why: why(r) });
      $('word-hits').replaceChildren(); $('word-counts').replaceChildren(); $('word-count').textContent = '';
      return;
    }
    $('words-error').textContent = '';
    const labels = r.body.labels || {};
    const counts = r.body.counts || [];
    $('word-count').textContent = num(counts.reduce((n, c) => n + c.hits, 0));
    $('word-counts').replaceChildren(...counts.map((c) => h('span', { class: 'badge reason', 'data-list': c.list },
      t('admin.words.count', { list: labels[c.list] || c.list, action: code('word_action', c.action), n: num(c.hits) }))));
    const hits = r.body.hits || [];
    if (!hits.length) { $('word-hits').replaceChildren(h('li', { class: 'none' }, t('admin.words.none'))); return; }
    $('word-hits').replaceChildren(...hits.map((x) => h('li', { class: 'card word-hit' },
      h('div', { class: 'card-head' }, h('span', { class: 'badge id' }, x.term), ' ', labels[x.list] || x.list,
        h('span', { class: 'badge' }, code('word_action', x.action))),
      h('div', { class: 'meta' }, t('admin.words.hit', {
        when: when(x.at), id: x.conversation_id,
        author: x.author === 'agent' ? t('admin.words.author.agent', { agent: x.agent_id || '' }) : t('admin.words.author.shopper'),
      })))));
  }
  // ---- quality review: each agent's average, what waits, the CSV -----------------------------
  function renderQuality(r) {
    shown.quality = r;
    if (r.status !== 200 || !r.body) {
      $('quality-error').textContent = t('admin.quality.error', { why: why(r) });
      $('quality-agents').replaceChildren(); $('quality-count').textContent = '';
      return;
    }
    $('quality-error').textContent = '';
    const waiting = r.body.reviews.filter((x) => x.state === 'pending' || x.state === 'appealed').length;
    $('quality-count').textContent = num(waiting);
    const agents = r.body.by_agent;
    if (!agents.length) { $('quality-agents').replaceChildren(h('span', { class: 'muted' }, t('admin.quality.none'))); return; }
    $('quality-agents').replaceChildren(...agents.map((a) => h('span', { class: 'badge reason', 'data-agent': a.agent_name },
      t('admin.quality.agent', { agent: a.agent_name, n: num(a.reviews), average: a.average, findings: num(a.findings) }))));
  }
  /** The CSV comes through fetch (it needs the token), then is saved as a file. */
  $('quality-export').addEventListener('click', async () => {
    try {
      const r = await fetch('/v1/quality/export?days=' + RANGE_DAYS[range], { headers: { authorization: 'Bearer ' + token } });
      if (!r.ok) { $('quality-error').textContent = t('admin.quality.error', { why: t('common.server_status', { status: r.status }) }); return; }
      const url = URL.createObjectURL(await r.blob());
      const a = h('a', { href: url, download: 'quality-reviews.csv' });
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (_) {
      $('quality-error').textContent = t('common.network_error');
    }
  });
  // ---- the rules files: read, edit, save with the ETag read, problems by line ----------------
  let rulesEtag = null; // of the file as read; none while there is no file yet
  async function openRules() {
    const r = await api('GET', '/v1/admin/rules/' + $('rules-file').value);
    $('rules-problems').replaceChildren();
    if (r.status !== 200) { say($('rules-result'), 'admin.rules.error', { why: why(r) }); $('rules-result').classList.add('bad'); return; }
    rulesEtag = r.body.etag || null;
    $('rules-text').value = r.body.text;
    $('rules-path').textContent = r.body.path;
    say($('rules-result'), null);
  }
  $('rules-file').addEventListener('change', openRules);
  $('rules-revert').addEventListener('click', openRules);
  $('rules-save').addEventListener('click', async () => {
    const r = await api('PUT', '/v1/admin/rules/' + $('rules-file').value, { text: $('rules-text').value },
      rulesEtag ? { 'if-match': rulesEtag } : {});
    const problems = (r.body && r.body.diagnostics) || [];
    $('rules-problems').replaceChildren(...problems.map((d) => h('li', null,
      d.line ? t('admin.rules.at_line', { line: d.line, message: d.message }) : d.message)));
    $('rules-result').classList.toggle('bad', r.status !== 200 && r.status !== 201);
    if (r.status === 200 || r.status === 201) {
      rulesEtag = r.body.etag;
      say($('rules-result'), 'admin.rules.saved', { path: r.body.path });
    } else if (r.status === 401) expired();
    else if (r.status === 409) say($('rules-result'), 'admin.rules.conflict');
    else say($('rules-result'), 'admin.rules.refused', { why: why(r) });
  });

  function renderBlocks(r) {
    shown.blocks = r;
    if (r.status !== 200 || !r.body) {
      $('blocks-error').textContent = t('admin.blocks.error', { why: why(r) });
      $('blocks').replaceChildren(); $('block-count').textContent = '';
      return;
    }
    const blocks = r.body.blocks || [];
    $('block-count').textContent = num(blocks.length);
    if (!blocks.length) { $('blocks').replaceChildren(h('li', { class: 'none' }, t('admin.blocks.none'))); return; }
    $('blocks').replaceChildren(...blocks.map((b) => h('li', { class: 'card block', 'data-block': b.id },
      h('div', { class: 'card-head' }, h('span', { class: 'badge id' }, b.target), ' ',
        t(b.kind === 'customer' ? 'admin.blocks.kind.customer' : 'admin.blocks.kind.network')),
      h('div', { class: 'meta' }, t('admin.blocks.meta', {
        reason: b.reason, by: b.created_by, when: when(b.created_at),
        until: b.expires_at ? t('admin.blocks.until', { when: when(b.expires_at) }) : t('admin.blocks.forever'),
      })),
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', 'data-action': 'lift', onclick: () => changeBlocks('DELETE', `/v1/admin/blocks/${encodeURIComponent(b.id)}`) }, t('admin.blocks.lift'))))));
  }
  async function changeBlocks(method, path, body) {
    const r = await api(method, path, body);
    if (r.status === 401) { expired(); return false; }
    if (r.status < 200 || r.status >= 300) { $('blocks-error').textContent = t('admin.blocks.error', { why: why(r) }); return false; }
    $('blocks-error').textContent = '';
    renderBlocks(await api('GET', '/v1/admin/blocks'));
    return true;
  }
  $('block-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { [$('block-kind').value]: $('block-target').value.trim(), reason: $('block-reason').value.trim() };
    const hours = parseInt($('block-hours').value, 10);
    if (hours > 0) body.hours = hours;
    if (await changeBlocks('POST', '/v1/admin/blocks', body)) $('block-form').reset();
  });

  // Another language: the dates' formats and everything drawn here; i18n.js did the markup.
  window.BatonI18n.onChange(() => {
    formats();
    showUpdated();
    for (const [what, draw] of [['kb', renderKb], ['stats', renderStats], ['gaps', renderGaps], ['drafts', renderDrafts], ['words', renderWords], ['blocks', renderBlocks], ['quality', renderQuality]]) {
      if (shown[what]) draw(shown[what]);
    }
  });

  if (token) signIn(token); else showSignin(null);
})();
