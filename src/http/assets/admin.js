/*! Baton support dashboard. Signs in with the admin token (kept for the browser tab only),
 * then reads the admin API for the chosen range: headline numbers and charts from
 * /v1/admin/stats, knowledge gaps, FAQ drafts (approve or reject) and the knowledge base's
 * status. Charts are SVG built here with DOM calls and styled by admin.css, so the page
 * runs under a policy that allows nothing inline. Everything from the server is rendered
 * as text.
 */
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
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
  const num = (n) => (missing(n) ? '—' : Number(n).toLocaleString());
  const pct = (f, digits = 1) => (missing(f) ? '—' : (f * 100).toLocaleString(undefined, { maximumFractionDigits: digits }) + '%');
  const plural = (n, one, many) => `${num(n)} ${n === 1 ? one : many}`;
  function duration(ms) {
    if (missing(ms)) return '—';
    if (ms < 1000) return `${(ms / 1000).toLocaleString(undefined, { maximumFractionDigits: 1 })} s`;
    const t = Math.round(ms / 1000);
    if (t < 60) return `${t} s`;
    const d = Math.floor(t / 86400); const hr = Math.floor((t % 86400) / 3600);
    const mi = Math.floor((t % 3600) / 60); const se = t % 60;
    if (d) return hr ? `${d} d ${hr} h` : `${d} d`;
    if (hr) return mi ? `${hr} h ${mi} min` : `${hr} h`;
    return se ? `${mi} min ${se} s` : `${mi} min`;
  }
  // Dates in English whatever the browser's language, like the rest of the page.
  const hourFmt = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });
  const dayFmt = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short' });
  const fullFmt = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });
  const weekdayFmt = new Intl.DateTimeFormat('en-GB', { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
  const when = (ms) => (missing(ms) ? '—' : fullFmt.format(new Date(ms)));
  const REASONS = {
    requested_human: 'Asked for a person', complaint: 'Complaint or upset',
    low_confidence: 'Bot unsure', intent_policy: 'Needs a person (intent)',
    action_failed: 'Order system call failed', faq_policy: 'Needs a person (FAQ)', trigger_rule: 'Trigger rule', reception: 'Person first (reception)',
  };
  const GAP_REASONS = { low_confidence: 'bot unsure', didnt_help: "didn't help", requested_human: 'asked for a person' };
  // The server cuts [from, to) into hours (up to two days) or days counted from `from`, so
  // starting on a whole hour or a local midnight makes every bar an hour or a calendar day
  // of the reader: the current hour and the 23 before it, or today and the days before.
  const RANGES = {
    '24h': { start: (now) => { const d = new Date(now); d.setMinutes(0, 0, 0); return d.getTime() - 23 * 3600000; } },
    '7d': { start: (now) => { const d = new Date(now); d.setHours(0, 0, 0, 0); d.setDate(d.getDate() - 6); return d.getTime(); } },
    '30d': { start: (now) => { const d = new Date(now); d.setHours(0, 0, 0, 0); d.setDate(d.getDate() - 29); return d.getTime(); } },
  };
  const query = () => { const to = Date.now(); return `?from=${RANGES[range].start(to)}&to=${to}`; };

  let token = sessionStorage.getItem('baton-admin-token');
  let range = RANGES[sessionStorage.getItem('baton-admin-range')] ? sessionStorage.getItem('baton-admin-range') : '7d';
  let lastStats = null;
  let loadSeq = 0;

  async function api(method, path, body) {
    try {
      const r = await fetch(path, {
        method,
        headers: Object.assign({ authorization: 'Bearer ' + token }, body ? { 'content-type': 'application/json' } : {}),
        body: body ? JSON.stringify(body) : undefined,
        cache: 'no-store',
      });
      let json = null;
      try { json = await r.json(); } catch (_) { /* empty body */ }
      return { status: r.status, body: json };
    } catch (_) {
      return { status: 0, body: { message: 'Network error: Baton did not answer.' } };
    }
  }
  const why = (r) => (r.body && r.body.message) || `The server answered ${r.status}.`;

  // ---- signing in and out ----------------------------------------------------------------
  function showSignin(message) {
    token = null;
    // Answers still on their way belong to the old token: drop them.
    loadSeq += 1;
    result('');
    sessionStorage.removeItem('baton-admin-token');
    $('app').hidden = true; $('signin').hidden = false;
    $('signin-error').textContent = message || '';
    $('token').value = '';
    $('token').focus();
  }
  const expired = () => showSignin('The admin token was not accepted (it may have been changed). Sign in again.');

  async function signIn(t) {
    token = t;
    const r = await api('GET', '/v1/admin/kb/status');
    if (r.status === 401) { showSignin('That token was not accepted.'); return; }
    if (r.status !== 200) { showSignin(why(r)); return; }
    sessionStorage.setItem('baton-admin-token', t);
    $('signin').hidden = true; $('app').hidden = false;
    $('signin-error').textContent = '';
    renderKb(r);
    load();
  }
  $('signin-form').addEventListener('submit', (e) => { e.preventDefault(); signIn($('token').value.trim()); });
  $('signout').addEventListener('click', () => showSignin('Signed out.'));
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
    $('updated').textContent = 'Loading…';
    const [stats, gaps, drafts, kb] = await Promise.all([
      api('GET', '/v1/admin/stats' + q), api('GET', '/v1/admin/kb/gaps' + q),
      api('GET', '/v1/admin/kb/drafts'), api('GET', '/v1/admin/kb/status'),
    ]);
    // A newer range or refresh started meanwhile: its answers win.
    if (seq !== loadSeq) return;
    if ([stats, gaps, drafts, kb].some((r) => r.status === 401)) { expired(); return; }
    renderKb(kb);
    renderStats(stats);
    renderGaps(gaps);
    renderDrafts(drafts);
    $('updated').textContent = 'Updated ' + hourFmt.format(new Date());
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
    const box = $('kb');
    if (r.status !== 200 || !r.body) {
      box.className = 'kb bad';
      $('kb-line').replaceChildren(h('span', { class: 'dot' }, '● '), 'Knowledge base status unavailable: ' + why(r));
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
      h('strong', null, 'Knowledge base '),
      'version ', h('code', { title: version }, version.slice(0, 12) || '—'),
      ` · loaded ${when(k.loaded_at)} · ${plural(k.faqs, 'FAQ', 'FAQs')} · ${plural(k.intents, 'intent', 'intents')} · ${plural(k.examples, 'example', 'examples')} · `,
      h('span', { class: errors.length ? 'error' : '' }, plural(errors.length, 'error', 'errors')),
      warnings.length ? ` · ${plural(warnings.length, 'warning', 'warnings')}` : '',
      k.ok === false && k.last_attempt_at ? ` · the last reload (${when(k.last_attempt_at)}) failed; the version above keeps serving` : '',
      k.watching ? ' · watching files' : '');
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
  const percentileSub = (p) => `p90 ${duration(p && p.p90)} · ${plural(p ? p.count : 0, 'measured', 'measured')}`;

  function renderStats(r) {
    if (r.status !== 200 || !r.body) {
      $('stats-error').textContent = 'Could not load the numbers: ' + why(r);
      lastStats = null;
      for (const t of document.querySelectorAll('.tile')) tile(t.id, ['—'], '');
      for (const p of document.querySelectorAll('.plot')) p.replaceChildren(h('p', { class: 'empty' }, 'No data.'));
      return;
    }
    $('stats-error').textContent = '';
    const st = r.body;
    lastStats = st;
    tile('t-conversations', [num(st.conversations)], `since ${when(st.from)}`);
    tile('t-containment', [pct(st.containment_rate)], `${num(st.contained)} answered by the bot alone`);
    tile('t-escalation', [pct(st.escalation_rate)], `${plural(st.escalations, 'handed to a person', 'handed to people')}`);
    tile('t-queue', percentiles(st.queue_wait_ms), percentileSub(st.queue_wait_ms));
    tile('t-first', percentiles(st.first_response_ms), percentileSub(st.first_response_ms));
    tile('t-handle', percentiles(st.handle_ms), percentileSub(st.handle_ms));
    const csat = st.csat || {};
    tile('t-csat', missing(csat.average) ? ['—'] : [csat.average.toLocaleString(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 2 }), ['/ 5']],
      plural(csat.count || 0, 'rating', 'ratings'));
    const rl = st.reloads || { ok: 0, failed: 0 };
    tile('t-reloads', [num(rl.ok), ['ok'], num(rl.failed), ['failed']],
      rl.failed ? 'some reloads failed: the knowledge base line above has the latest errors'
        : rl.ok ? 'every reload applied' : 'no reloads', rl.failed > 0);
    renderCharts();
  }

  // ---- charts ------------------------------------------------------------------------------
  function svgRoot(w, height, label) {
    return s('svg', { class: 'chart-svg', width: w, height, viewBox: `0 0 ${w} ${height}`, role: 'img', 'aria-label': label });
  }
  /** Charts are drawn at the width they get, so text stays legible on a phone. */
  const widthOf = (box) => Math.max(240, Math.floor(box.clientWidth || 0));
  const empty = (box, text) => box.replaceChildren(h('p', { class: 'empty' }, text || 'No data in this range.'));
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
    const labels = series.map((b) => (hourly ? hourFmt.format(new Date(b.start)) : dayFmt.format(new Date(b.start + 43200000))));
    const span = (b) => {
      const end = b.start + (st.bucket_ms || 0);
      const text = hourly ? `${when(b.start)} – ${hourFmt.format(new Date(end))}` : weekdayFmt.format(new Date(b.start + 43200000));
      return end > st.to ? text + ' (so far)' : text;
    };
    const unit = hourly ? 'hour' : 'day';
    columns($('ch-volume'), {
      label: `Conversations and escalations per ${unit}`, labels, labelWidth: hourly ? 44 : 52,
      series: [
        { cls: 'blue', values: series.map((b) => b.conversations) },
        { cls: 'orange', values: series.map((b) => b.escalations) },
      ],
      yTitle: `per ${unit}`, empty: 'No conversations in this range.',
      tip: (i) => `${span(series[i])}\n${plural(series[i].conversations, 'conversation', 'conversations')}\n${plural(series[i].escalations, 'escalation', 'escalations')}`,
    });
    const rate = series.map((b) => (b.conversations ? b.contained / b.conversations : null));
    lineChart($('ch-containment'), {
      label: `Bot containment rate per ${unit}`, labels, values: rate, min: 0, max: 1,
      ticks: [0, 0.25, 0.5, 0.75, 1], fmt: (v) => pct(v, 0), cls: 'green', yTitle: 'contained',
      empty: 'No conversations in this range.', labelWidth: hourly ? 44 : 52,
      tip: (i) => `${span(series[i])}\n` + (missing(rate[i]) ? 'no conversations'
        : `${pct(rate[i])} contained (${num(series[i].contained)} of ${num(series[i].conversations)})`),
    });
    lineChart($('ch-csat-series'), {
      label: `CSAT average per ${unit}`, labels, values: series.map((b) => b.csat_average), min: 1, max: 5,
      ticks: [1, 2, 3, 4, 5], fmt: (v) => v.toLocaleString(), cls: 'purple', yTitle: 'average score',
      empty: 'No ratings in this range.', labelWidth: hourly ? 44 : 52,
      tip: (i) => `${span(series[i])}\n` + (missing(series[i].csat_average) ? 'no ratings'
        : `average ${series[i].csat_average.toLocaleString(undefined, { maximumFractionDigits: 2 })} / 5`),
    });

    const byReason = st.escalations_by_reason || {};
    const reasonKeys = Object.keys(REASONS).concat(Object.keys(byReason).filter((k) => !(k in REASONS)));
    const escalations = reasonKeys.reduce((a, k) => a + (byReason[k] || 0), 0);
    hbars($('ch-reasons'), {
      label: 'Escalations by reason', cls: 'orange', empty: 'No escalations in this range.',
      rows: reasonKeys.map((k) => {
        const n = byReason[k] || 0;
        const share = escalations ? n / escalations : null;
        return { label: REASONS[k] || k, value: n, text: `${num(n)} · ${pct(share, 0)}`, tip: `${REASONS[k] || k} (${k}): ${plural(n, 'escalation', 'escalations')}, ${pct(share)}` };
      }),
    });

    const tags = st.tags || {};
    hbars($('ch-tags'), {
      label: 'Conversations by rule tag', cls: 'blue', empty: 'No trigger rule tagged a conversation in this range.',
      rows: Object.keys(tags).sort((a, b) => tags[b] - tags[a]).map((k) => ({
        label: '#' + k, value: tags[k], text: num(tags[k]), tip: `#${k}: ${plural(tags[k], 'conversation', 'conversations')}`,
      })),
    });

    const dist = (st.csat && st.csat.distribution) || {};
    const scores = ['1', '2', '3', '4', '5'];
    const ratings = scores.reduce((a, k) => a + (dist[k] || 0), 0);
    columns($('ch-csat'), {
      label: 'CSAT ratings by score', labels: scores.map((k) => k + ' ★'),
      series: [{ cls: 'purple', values: scores.map((k) => dist[k] || 0) }],
      xTitle: 'score', yTitle: 'ratings', height: 200, empty: 'No ratings in this range.',
      tip: (i) => `Score ${scores[i]}: ${plural(dist[scores[i]] || 0, 'rating', 'ratings')} (${pct(ratings ? (dist[scores[i]] || 0) / ratings : null)})`,
    });

    const conf = st.confidence || [];
    const fmt1 = (v) => Number(v).toLocaleString(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    columns($('ch-confidence'), {
      label: 'Bot confidence distribution', labels: conf.map((c) => fmt1(c.lower)), labelWidth: 30,
      series: [{ cls: 'blue', values: conf.map((c) => c.count) }],
      xTitle: 'confidence (bucket start)', yTitle: 'messages', height: 200, empty: 'No shopper messages in this range.',
      tip: (i) => `Confidence ${fmt1(conf[i].lower)}–${fmt1(conf[i].upper)}: ${plural(conf[i].count, 'message', 'messages')}`,
    });

    const faqs = (st.faqs || []).slice().sort((a, b) => b.hits - a.hits || b.didnt_help - a.didnt_help).slice(0, 10);
    hbars($('ch-faqs'), {
      label: 'Top FAQs by hits', cls: 'blue', partCls: 'red', empty: 'No FAQ answers in this range.',
      rows: faqs.map((f) => ({
        label: f.faq_id, value: f.hits, part: f.didnt_help,
        text: `${num(f.hits)} · ${num(f.didnt_help)} didn't help`,
        tip: `${f.faq_id}: ${plural(f.hits, 'hit', 'hits')}, ${num(f.didnt_help)} didn't help (${pct(f.hits ? f.didnt_help / f.hits : null)})`,
      })),
    });

    const intents = (st.intents || []).slice().sort((a, b) => b.count - a.count).slice(0, 12);
    hbars($('ch-intents'), {
      label: 'Intent volume', cls: 'teal', empty: 'No intents recognised in this range.',
      rows: intents.map((it) => ({ label: it.intent, value: it.count, text: num(it.count), tip: `${it.intent}: ${plural(it.count, 'message', 'messages')}` })),
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
    if (r.status !== 200 || !r.body) {
      $('gaps-error').textContent = 'Could not load the knowledge gaps: ' + why(r);
      $('gaps').replaceChildren(); $('gap-count').textContent = '';
      return;
    }
    $('gaps-error').textContent = '';
    const groups = r.body.groups || [];
    $('gap-count').textContent = num(groups.length);
    if (!groups.length) { $('gaps').replaceChildren(h('li', { class: 'none' }, 'No knowledge gaps in this range.')); return; }
    $('gaps').replaceChildren(...groups.map((g) => {
      const reasons = Object.entries(g.reasons || {}).filter(([, n]) => n > 0);
      const nearest = g.nearest_faq;
      return h('li', { class: 'card gap' },
        h('div', { class: 'card-head' }, h('q', { class: 'rep' }, g.representative), h('span', { class: 'badge' }, g.lang)),
        h('div', { class: 'meta' }, `Asked ${plural(g.count, 'time', 'times')} in ${plural(g.conversations, 'conversation', 'conversations')} · first seen ${when(g.first_seen)} · last seen ${when(g.last_seen)}`),
        reasons.length && h('div', { class: 'badges' }, ...reasons.map(([k, n]) => h('span', { class: 'badge reason', title: k }, `${GAP_REASONS[k] || k} × ${num(n)}`))),
        (g.examples || []).length && h('ul', { class: 'examples' }, ...(g.examples || []).slice(0, 3).map((ex) => h('li', null,
          ex.text, ' ', h('span', { class: 'muted' }, `· ${when(ex.at)} · ${GAP_REASONS[ex.reason] || ex.reason || ''} · ${ex.conversation_id}`)))),
        nearest
          ? h('div', { class: 'nearest' }, 'Nearest FAQ: ', h('span', { class: 'badge id' }, nearest.faq_id), ' ', nearest.question,
            h('span', { class: 'muted' }, ` · similarity ${Number(nearest.score).toLocaleString(undefined, { maximumFractionDigits: 2 })}`))
          : h('div', { class: 'nearest none' }, 'No FAQ comes close.'));
    }));
  }

  // ---- drafts ------------------------------------------------------------------------------
  function result(text, bad) {
    $('draft-result').textContent = text;
    $('draft-result').className = 'result' + (bad ? ' bad' : '');
  }
  function renderDrafts(r) {
    if (r.status !== 200 || !r.body) {
      $('drafts-error').textContent = 'Could not load the drafts: ' + why(r);
      $('drafts').replaceChildren(); $('draft-count').textContent = '';
      return;
    }
    $('drafts-error').textContent = '';
    const drafts = (r.body.drafts || []).filter((d) => !d.status || d.status === 'pending');
    $('draft-count').textContent = num(drafts.length);
    if (!drafts.length) { $('drafts').replaceChildren(h('li', { class: 'none' }, 'No drafts waiting for review.')); return; }
    $('drafts').replaceChildren(...drafts.map((d) => {
      const error = h('p', { class: 'error', role: 'alert' });
      const buttons = [];
      const act = async (verb) => {
        for (const b of buttons) b.disabled = true;
        error.textContent = '';
        const r2 = await api('POST', `/v1/admin/kb/drafts/${encodeURIComponent(d.id)}/${verb}`, {});
        if (r2.status === 401) { expired(); return; }
        if (r2.status < 200 || r2.status >= 300) {
          error.textContent = `Could not ${verb} this draft: ${why(r2)}`;
          for (const b of buttons) b.disabled = false;
          return;
        }
        if (verb === 'approve') {
          const b = r2.body || {};
          result(`Approved “${d.question}” as FAQ ${b.faq_id} (${b.lang}), written to ${b.path}.`);
        } else result(`Rejected “${d.question}”.`);
        await reloadLists();
      };
      buttons.push(
        h('button', { type: 'button', class: 'primary', 'data-action': 'approve', onclick: () => act('approve') }, 'Approve'),
        h('button', { type: 'button', class: 'danger', 'data-action': 'reject', onclick: () => act('reject') }, 'Reject'));
      const alternates = d.alternates || [];
      return h('li', { class: 'card draft', 'data-draft': d.id },
        h('div', { class: 'card-head' }, h('span', { class: 'question' }, d.question), h('span', { class: 'badge' }, d.lang),
          d.suggested_id && h('span', { class: 'badge id', title: 'Suggested FAQ id' }, d.suggested_id)),
        h('p', { class: 'answer' }, d.answer),
        alternates.length && h('div', { class: 'meta' }, 'Also asked as: ' + alternates.join(' · ')),
        h('div', { class: 'meta' }, `Drafted ${when(d.created_at)}` + (d.conversation_id ? ` from conversation ${d.conversation_id}` : '')),
        h('div', { class: 'actions' }, buttons),
        error);
    }));
  }

  if (token) signIn(token); else showSignin('');
})();
