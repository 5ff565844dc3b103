/*! Baton agent console. Signs in with an agent token (kept for the browser tab only), then
 * follows the agent's WebSocket: offers, assignments with their whole context, messages,
 * notes, assist suggestions, SLA flags. Several conversations stay open at once; each keeps
 * its last message seq, so a reconnect syncs exactly what was missed. Beside the transcript:
 * the page the shopper is on, the orders looked up so far, every call made to the shop's
 * API (failed ones marked) and a look-up form for reads of the agent's own. A supervisor also
 * sees their groups (agents and their load, the queue, who holds what and how long the
 * shopper has waited for an answer, what the bot holds), reads any of those conversations
 * without anyone being told, whispers to the agent, takes over or reassigns. Everything is
 * rendered as text. Its words come from i18n.js, in the agent's language.
 */
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const { t, code, say } = window.BatonI18n;
  const h = (tag, props, ...children) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false)
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  };
  /** FAQ Markdown as plain text: what an agent reads, and what a suggestion sends. */
  const plain = (md) => String(md)
    .replace(/\*\*([^*]+)\*\*/g, '$1').replace(/\*([^*]+)\*/g, '$1').replace(/`([^`]+)`/g, '$1')
    .replace(/\[([^\]]+)\]\([^)\s]+\)/g, '$1').replace(/^#+\s*/gm, '').replace(/^\s*[-*]\s+/gm, '• ');
  /** replaceChildren without the `false`s of conditional children. */
  const fill = (el, ...children) => el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false && c !== ''));
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : 'c' + Date.now() + Math.random());
  const minutes = (ms) => (ms < 60000 ? t('time.s', { n: Math.max(0, Math.round(ms / 1000)) }) : t('time.min', { n: Math.round(ms / 60000) }));
  /** A value from the shop as one line of text. */
  const show = (v) => (v === null || v === undefined ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  /** An object as `key: value` lines; a list (a parcel's events: time and text) as lines
   * under its key. */
  const fieldList = (obj) => h('ul', { class: 'fields' }, Object.entries(obj || {}).map(([k, v]) => (Array.isArray(v)
    ? h('li', null, `${k}:`, h('ul', null, v.map((e) => h('li', null, !e || typeof e !== 'object' ? show(e)
      : e.text !== undefined ? [e.time, e.text].filter(Boolean).join('  ') : Object.values(e).map(show).join(' · ')))))
    : h('li', null, `${k}: ${show(v)}`))));
  /** A time in ms (or s) since the epoch, or already a string, as the local clock time. */
  const clock = (at) => {
    if (typeof at !== 'number') return at ? String(at) : '';
    const d = new Date(at < 1e11 ? at * 1000 : at);
    return d.toLocaleString(window.BatonI18n.locale(), { hour12: false, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  };
  const money = (amount, currency) => (!currency || currency === 'CNY' ? `¥${amount}` : `${amount} ${currency}`);
  /** What the look-up's box asks for, by call (the order calls take an order number). */
  const lookupHint = (call) => t(call === 'recent_orders' ? 'console.lookup.hint.customer' : call === 'stock' ? 'console.lookup.hint.sku' : 'console.lookup.hint.order');

  let token = sessionStorage.getItem('baton-agent-token');
  let me = null;
  let ws = null;
  let retry = 0;
  let current = null;
  let lists = { assigned: [], offered: [], queued: [], open_tickets: 0 };
  let tickets = [];
  let audio = null;
  const convs = new Map(); // id → { view, cursor, unread, assist, revealed, lookup }
  let typingTimer = null;
  let reloadTimer = null;
  let wrapUp = null; // the wrap-up categories, kept to draw the picker again in another language
  let alerted = null; // the alert the tab's title shows, until no offer is left
  let overview = null; // a supervisor's view of their groups

  async function api(method, path, body) {
    try {
      const r = await fetch(path, {
        method,
        headers: Object.assign({ authorization: 'Bearer ' + token }, body ? { 'content-type': 'application/json' } : {}),
        body: body ? JSON.stringify(body) : undefined,
      });
      let json = null;
      try { json = await r.json(); } catch (_) { /* 204 */ }
      return { status: r.status, body: json };
    } catch (_) {
      return { status: 0, body: { message: t('common.network_error') } };
    }
  }

  // ---- sign-in ---------------------------------------------------------------------------
  async function signIn(candidate) {
    token = candidate;
    const r = await api('GET', '/v1/agent/me');
    if (r.status !== 200) {
      sessionStorage.removeItem('baton-agent-token');
      $('signin').hidden = false; $('app').hidden = true;
      say($('signin-error'), candidate ? 'console.signin.invalid' : null);
      return;
    }
    sessionStorage.setItem('baton-agent-token', candidate);
    me = r.body;
    $('signin').hidden = true; $('app').hidden = false;
    renderMe();
    $('status').value = me.status;
    const w = await api('GET', '/v1/agent/wrap-up');
    if (w.status === 200) { wrapUp = w.body; renderWrapUp(); }
    connect();
    refresh();
    refreshOverview();
    refreshReviews();
  }
  $('signin-form').addEventListener('submit', (e) => { e.preventDefault(); unlockAudio(); signIn($('token').value.trim()); });
  function renderMe() {
    $('me-name').textContent = me.name;
    $('me-skills').textContent = me.skills.join(' · ') + ' · ' + t('console.me.capacity', { n: me.max_chats });
  }
  /** The wrap-up picker; the categories' labels are the server's, as they come. */
  function renderWrapUp() {
    if (!wrapUp) return;
    const picked = $('wrap-category').value;
    fill($('wrap-category'), h('option', { value: '' }, t(wrapUp.required ? 'console.wrap.pick_required' : 'console.wrap.pick')),
      ...wrapUp.categories.map((c) => h('option', { value: c.id }, c.label)));
    $('wrap-category').value = picked;
  }
  $('signout').addEventListener('click', () => { sessionStorage.removeItem('baton-agent-token'); location.reload(); });
  $('status').addEventListener('change', async () => {
    const r = await api('POST', '/v1/agent/status', { status: $('status').value });
    if (r.status === 200) { me = r.body; refresh(); }
  });
  $('notify').addEventListener('click', async () => {
    unlockAudio();
    if ('Notification' in window) await Notification.requestPermission();
    say($('notify'), 'Notification' in window && Notification.permission === 'granted' ? 'console.notify.on' : 'console.notify.sound');
  });

  // ---- alerts: a desktop notification and a short chime -----------------------------------
  function unlockAudio() {
    try { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); } catch (_) { audio = null; }
  }
  function alertAgent(key, body) {
    if ('Notification' in window && Notification.permission === 'granted' && document.hidden !== false) {
      try { new Notification(t(key), { body }); } catch (_) { /* not allowed here */ }
    }
    if (audio) {
      const o = audio.createOscillator(); const g = audio.createGain();
      o.frequency.value = 880; g.gain.value = 0.08;
      o.connect(g); g.connect(audio.destination); o.start(); o.stop(audio.currentTime + 0.18);
    }
    alerted = key;
    showTitle();
  }
  function showTitle() {
    document.title = alerted ? t('console.title.alert', { what: t(alerted) }) : t('console.title');
  }

  // ---- live updates ----------------------------------------------------------------------
  let connecting = false;
  /** Opens the live socket with a one-time ticket: the agent token never goes in a URL. */
  async function connect() {
    if (connecting || (ws && ws.readyState <= 1)) return;
    connecting = true;
    const r = await api('POST', '/v1/agent/ws-ticket');
    connecting = false;
    if (ws && ws.readyState <= 1) return;
    if (r.status === 401) { signIn(null); return; }
    if (r.status !== 201 || !r.body || !r.body.ticket) { setConn(false); reconnectLater(); return; }
    const url = location.origin.replace(/^http/, 'ws') + '/v1/agent/ws?ticket=' + encodeURIComponent(r.body.ticket);
    const sock = new WebSocket(url);
    ws = sock;
    sock.onopen = () => {
      retry = 0; setConn(true);
      const cursors = {};
      for (const [id, c] of convs) cursors[id] = c.cursor;
      if (Object.keys(cursors).length) sock.send(JSON.stringify({ type: 'sync', cursors }));
    };
    sock.onmessage = (ev) => { let e; try { e = JSON.parse(ev.data); } catch (_) { return; } onEvent(e); };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null; setConn(false);
      // 4401: the token was rotated or the agent disabled; reconnecting with it cannot work.
      if (ev.code === 4401) { sessionStorage.removeItem('baton-agent-token'); token = ''; me = null; signIn(''); return; }
      reconnectLater();
    };
  }
  /** Exponential backoff with jitter, up to 30 s. */
  function reconnectLater() {
    const delay = Math.min(30000, 1000 * 2 ** retry) * (0.75 + Math.random() / 2);
    retry = Math.min(retry + 1, 5);
    setTimeout(connect, delay);
  }
  function setConn(ok) {
    say($('conn'), ok ? 'console.conn.ok' : 'console.conn.retrying');
    $('conn').className = 'conn ' + (ok ? 'ok' : 'bad');
  }

  function onEvent(e) {
    switch (e.type) {
      case 'hello': lists = e.queue; renderLists(); break;
      case 'offer':
        alertAgent('console.alert.offer', e.summary || '');
        refresh();
        break;
      case 'assigned':
        convs.set(e.conversation_id, { view: e.view, cursor: e.view.last_seq, unread: current !== e.conversation_id, assist: [], revealed: null, lookup: null });
        alertAgent('console.alert.assigned', e.view.summary || '');
        refresh();
        if (!current || current === e.conversation_id) open(e.conversation_id);
        break;
      case 'message': {
        const c = convs.get(e.conversation_id);
        if (!c || e.message.seq <= c.cursor) break;
        c.cursor = e.message.seq;
        c.view.transcript.push({ seq: e.message.seq, author: e.message.author, text: e.message.text, at: e.message.created_at, agent: e.message.meta && e.message.meta.agent_name });
        if (current !== e.conversation_id) { c.unread = true; renderLists(); } else renderDetail();
        if (e.message.author === 'shopper') {
          $('c-typing').hidden = true;
          // The stored view adds what the bot understood of the new message.
          if (current === e.conversation_id) { clearTimeout(reloadTimer); reloadTimer = setTimeout(() => open(e.conversation_id), 300); }
        }
        break;
      }
      case 'typing':
        if (e.conversation_id === current && e.from === 'shopper') {
          $('c-typing').hidden = false; clearTimeout(typingTimer);
          typingTimer = setTimeout(() => { $('c-typing').hidden = true; }, 4000);
        }
        break;
      case 'note': {
        const c = convs.get(e.conversation_id);
        if (c && !c.view.notes.some((n) => n.id === e.note.id)) { c.view.notes.push(e.note); if (current === e.conversation_id) renderDetail(); }
        if (e.note.whisper && e.note.agent_id !== me.id) alertAgent('console.alert.whisper', e.note.text);
        break;
      }
      case 'assist': {
        const c = convs.get(e.conversation_id);
        if (c) { c.assist = e.suggestions; if (current === e.conversation_id) renderDetail(); }
        break;
      }
      case 'unassigned': ended(e.conversation_id, e.reason); break;
      case 'ticket': alertAgent('console.alert.ticket', e.ticket.text); refresh(); break;
      case 'alert': alertAgent('console.alert.rule', `${e.label} · ${e.conversation_id.slice(0, 8)}`); refreshOverview(); break;
      case 'sla': case 'offer_withdrawn': case 'queue_changed': refresh(); refreshOverview(); break;
      default: break;
    }
  }

  // ---- lists -----------------------------------------------------------------------------
  async function refresh() {
    const r = await api('GET', '/v1/agent/queue');
    if (r.status === 401) { signIn(''); return; }
    if (r.status !== 200) return;
    lists = r.body;
    if (lists.open_tickets) {
      const left = await api('GET', '/v1/agent/tickets');
      tickets = left.status === 200 ? left.body.tickets : [];
    } else tickets = [];
    renderLists();
  }
  setInterval(() => { if (me) refresh(); }, 15000);

  function badges(item) {
    return [
      item.vip && h('span', { class: 'badge vip' }, 'VIP'),
      !item.verified && h('span', { class: 'badge guest', title: t('console.badge.unverified.title') }, t('console.badge.unverified')),
      item.priority !== 'normal' && h('span', { class: 'badge ' + item.priority }, code('priority', item.priority)),
      (item.sla_wait_breached || item.sla_reply_breached) && h('span', { class: 'badge sla' }, t(item.sla_reply_breached ? 'console.badge.sla_reply' : 'console.badge.sla_wait')),
    ];
  }
  function itemNode(item, buttons, show = open) {
    const c = convs.get(item.conversation_id);
    return h('li', {
      class: 'item' + (current === item.conversation_id ? ' active' : '') + (c && c.unread ? ' unread' : ''),
      tabindex: '0', 'data-conversation': item.conversation_id,
      onclick: (ev) => { if (ev.target.tagName !== 'BUTTON') show(item.conversation_id); },
      onkeydown: (ev) => { if (ev.key === 'Enter' && ev.target.tagName !== 'BUTTON') show(item.conversation_id); },
    },
    h('div', { class: 'line1' }, h('span', null, item.customer_name || t('console.guest')), h('span', { class: 'muted' }, minutes(item.waiting_ms))),
    h('div', null, badges(item), h('span', { class: 'badge' }, item.skill), item.reason && h('span', { class: 'badge' }, code('reason', item.reason))),
    h('div', { class: 'line2' }, item.summary),
    buttons && h('div', { class: 'row' }, buttons));
  }
  function renderLists() {
    $('offers').replaceChildren(...lists.offered.map((i) => itemNode(i, [
      h('button', { class: 'primary', type: 'button', onclick: () => accept(i.conversation_id) }, t('console.accept')),
      h('button', { class: 'secondary', type: 'button', onclick: () => decline(i.conversation_id) }, t('console.skip')),
    ])));
    $('mine').replaceChildren(...lists.assigned.map((i) => itemNode(i)));
    $('queue').replaceChildren(...lists.queued.map((i) => itemNode(i, [
      h('button', { class: 'secondary', type: 'button', onclick: () => accept(i.conversation_id) }, t('console.take')),
    ])));
    $('tickets').replaceChildren(...tickets.map((ticket) => h('li', { class: 'item' },
      h('div', { class: 'line1' }, h('span', null, ticket.contact), h('span', { class: 'muted' }, ticket.skill)),
      h('div', { class: 'line2' }, ticket.text),
      h('div', { class: 'row' }, h('button', { class: 'secondary', type: 'button', onclick: async () => {
        await api('POST', `/v1/agent/tickets/${ticket.id}/close`); refresh();
      } }, t('console.ticket.done'))))));
    $('offer-count').textContent = lists.offered.length;
    $('mine-count').textContent = lists.assigned.length;
    $('queue-count').textContent = lists.queued.length;
    $('ticket-count').textContent = lists.open_tickets;
    if (!lists.offered.length) alerted = null;
    showTitle();
  }

  // ---- a supervisor's groups: who is on, what waits, who holds what, what the bot holds ---
  const supervises = () => !!(me && me.supervises && me.supervises.length);
  async function refreshOverview() {
    if (!supervises()) { overview = null; renderOverview(); return; }
    const r = await api('GET', '/v1/supervisor/overview');
    if (r.status !== 200) return;
    overview = r.body;
    renderOverview();
  }
  setInterval(() => { if (supervises()) refreshOverview(); }, 5000);
  function renderOverview() {
    $('supervise').hidden = !overview;
    if (!overview) return;
    $('watch-count').textContent = overview.assigned.length + overview.queued.length + overview.bot.length;
    $('team').replaceChildren(...overview.agents.map((a) => h('li', { class: 'agent ' + a.status },
      h('span', null, a.name), h('span', { class: 'muted' }, t('console.supervise.load', { status: code('status', a.status), load: a.load, max: a.max_chats })))));
    $('watch').replaceChildren(
      ...overview.assigned.map((i) => itemNode(Object.assign({}, i, {
        summary: [i.agent_name, i.awaiting_reply_ms !== null && i.awaiting_reply_ms !== undefined && t('console.supervise.waiting_reply', { time: minutes(i.awaiting_reply_ms) })].filter(Boolean).join(' · '),
      }), null, watch)),
      ...overview.queued.map((i) => itemNode(Object.assign({}, i, { summary: t('console.supervise.queued') + (i.summary ? ' · ' + i.summary : '') }), null, watch)),
      ...overview.bot.map((b) => itemNode({
        conversation_id: b.conversation_id, customer_name: b.customer_name, waiting_ms: b.idle_ms, skill: b.skill,
        verified: b.verified, priority: 'normal', summary: t('console.supervise.with_bot'),
      }, null, watch)));
    const picker = $('reassign-to'); const picked = picker.value;
    fill(picker, h('option', { value: '' }, t('console.reassign.pick')),
      ...overview.agents.filter((a) => a.status === 'online').map((a) => h('option', { value: a.name }, `${a.name} (${a.load}/${a.max_chats})`)));
    picker.value = picked;
  }
  /** Reads a conversation of a supervised group: nobody is told. */
  async function watch(id) {
    current = id;
    reviewing = null; renderReview();
    const r = await api('GET', `/v1/supervisor/conversations/${id}`);
    if (r.status !== 200) { $('c-error').textContent = r.body && r.body.message; renderLists(); renderOverview(); return; }
    // Once the supervisor holds it, it is theirs like any other.
    if (r.body.status === 'assigned' && r.body.agent_id === me.id) { open(id); return; }
    const old = convs.get(id);
    convs.set(id, { view: r.body, cursor: r.body.last_seq, unread: false, assist: [], revealed: null, lookup: null, calls: old ? old.calls : null, watched: true });
    $('c-error').textContent = '';
    renderLists(); renderOverview(); renderDetail();
  }
  // What is watched has no socket of its own: read again while it is on screen.
  setInterval(() => { const c = current && convs.get(current); if (c && c.watched && !document.hidden) watch(current); }, 3000);
  const supervise = (path, body) => post(`/v1/supervisor/conversations/${current}/${path}`, body);
  $('take-over').addEventListener('click', async () => {
    const id = current;
    if (!(await supervise('take-over'))) return;
    convs.delete(id);
    await refresh(); await refreshOverview();
    open(id);
  });
  $('reassign').addEventListener('click', async () => {
    const agent = $('reassign-to').value;
    if (!agent) { $('reassign-to').focus(); return; }
    if (await supervise('reassign', { agent })) { await refreshOverview(); watch(current); }
  });
  $('whisper-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('whisper').value.trim();
    if (!text) return;
    const r = await supervise('whisper', { text });
    if (!r) return;
    $('whisper').value = '';
    const c = convs.get(current);
    if (c && !c.view.notes.some((n) => n.id === r.body.id)) c.view.notes.push(r.body);
    renderDetail();
  });

  // ---- quality review: a supervisor's queue, the agent's own reviews, one review open ------
  let reviews = { mine: [], queue: [] };
  let reviewing = null; // { detail, asReviewer } of the review open in the main pane
  async function refreshReviews() {
    const mine = await api('GET', '/v1/agent/reviews?days=30');
    if (mine.status === 200) reviews.mine = mine.body.reviews;
    if (supervises()) {
      const queue = await api('GET', '/v1/quality/reviews');
      if (queue.status === 200) reviews.queue = queue.body.reviews;
    } else reviews.queue = [];
    renderReviews();
  }
  setInterval(() => { if (me && !document.hidden) refreshReviews(); }, 30000);
  /** What a rule found, in words: the file's label, then the evidence. */
  function findingText(f) {
    const what = f.check === 'forbidden_phrases' ? t('console.quality.found.phrase', { phrase: f.phrase, seq: f.seq })
      : f.check === 'first_response' ? (f.seconds === undefined ? t('console.quality.found.no_reply')
        : t('console.quality.found.slow', { time: minutes(f.seconds * 1000), limit: minutes(f.limit_seconds * 1000) }))
        : f.check === 'greeting' ? t('console.quality.found.no_greeting')
          : f.check === 'rating' ? t('console.quality.found.rating', { n: f.rating })
            : t('console.quality.found.returned');
    return `${f.label} (−${f.points}) · ${what}`;
  }
  function reviewNode(r, asReviewer) {
    const active = reviewing && reviewing.detail.handoff_id === r.handoff_id;
    return h('li', {
      class: 'item' + (active ? ' active' : ''), tabindex: '0', 'data-review': r.handoff_id,
      onclick: () => openReview(r.handoff_id, asReviewer),
      onkeydown: (ev) => { if (ev.key === 'Enter') openReview(r.handoff_id, asReviewer); },
    },
    h('div', { class: 'line1' }, h('span', null, asReviewer ? r.agent_name : clock(r.closed_at)),
      h('span', { class: 'score' + (r.final_score < 60 ? ' low' : '') }, r.final_score)),
    h('div', null, h('span', { class: 'badge state-' + r.state }, code('review_state', r.state)), h('span', { class: 'badge' }, r.skill),
      r.sampled && h('span', { class: 'badge' }, t('console.quality.sampled'))),
    h('div', { class: 'line2' }, r.findings.map((f) => f.label).join(t('common.list_separator'))));
  }
  function renderReviews() {
    $('review-queue-title').hidden = !supervises();
    $('review-queue').replaceChildren(...reviews.queue.map((r) => reviewNode(r, true)));
    $('my-reviews').replaceChildren(...reviews.mine.map((r) => reviewNode(r, false)));
    $('review-count').textContent = supervises() ? reviews.queue.length : '';
  }
  async function openReview(id, asReviewer) {
    const r = await api('GET', asReviewer ? `/v1/quality/reviews/${id}` : `/v1/agent/reviews/${id}`);
    if (r.status !== 200) { $('r-error').textContent = r.body && r.body.message; return; }
    reviewing = { detail: r.body, asReviewer };
    current = null;
    $('r-score').value = ''; $('r-comment').value = ''; $('r-appeal').value = ''; $('r-error').textContent = '';
    renderLists(); renderDetail(); renderReviews(); renderReview();
  }
  function renderReview() {
    $('review').hidden = !reviewing;
    if (!reviewing) return;
    const d = reviewing.detail;
    $('r-title').textContent = t('console.quality.title', { agent: d.agent_name, time: clock(d.closed_at) });
    fill($('r-badges'), h('span', { class: 'badge state-' + d.state }, code('review_state', d.state)),
      h('span', { class: 'badge' }, d.skill), h('span', { class: 'badge' }, code('review_outcome', d.outcome)),
      h('span', { class: 'badge' }, t('console.quality.scores', { auto: d.auto_score, final: d.final_score })),
      d.rating && h('span', { class: 'badge' }, t('console.quality.found.rating', { n: d.rating })));
    $('r-transcript').replaceChildren(...d.transcript.map((m) => {
      const who = m.author === 'agent' ? ((m.meta && m.meta.agent_name) || t('author.agent')) : code('author', m.author === 'shopper' || m.author === 'bot' ? m.author : 'system');
      return h('li', { class: 'line ' + m.author, 'data-seq': m.seq }, h('span', { class: 'who' }, `#${m.seq} ${who}`), m.author === 'bot' ? plain(m.text) : m.text);
    }));
    fill($('r-findings'), d.findings.length ? d.findings.map((f) => h('li', null, findingText(f)))
      : h('li', { class: 'muted' }, t(d.sampled ? 'console.quality.none_sampled' : 'console.quality.none')));
    const verdict = (key, by, score, text, at) => h('p', { class: 'verdict' }, h('strong', null, t(key, { who: by, score })), ' ', clock(at), text && h('span', { class: 'said' }, text));
    fill($('r-verdicts'),
      d.reviewed_at && verdict('console.quality.reviewed', d.reviewed_by_name, d.score, d.comment, d.reviewed_at),
      d.appealed_at && verdict('console.quality.appealed', d.agent_name, null, d.appeal, d.appealed_at),
      d.decided_at && verdict('console.quality.decided', d.decided_by_name, d.decision_score, d.decision_comment, d.decided_at));
    const scoring = reviewing.asReviewer && ['auto', 'pending', 'appealed'].includes(d.state);
    $('r-score-form').hidden = !scoring;
    const submit = $('r-score-submit');
    submit.dataset.i18n = d.state === 'appealed' ? 'console.quality.decide' : 'console.quality.submit';
    submit.textContent = t(submit.dataset.i18n);
    $('r-appeal-form').hidden = !(!reviewing.asReviewer && d.state === 'reviewed');
  }
  $('r-score-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = reviewing && reviewing.detail;
    if (!d) return;
    const body = { score: Number($('r-score').value) };
    const comment = $('r-comment').value.trim();
    if (comment) body.comment = comment;
    const r = await api('POST', `/v1/quality/reviews/${d.handoff_id}`, body);
    if (r.status !== 200) { $('r-error').textContent = r.body && r.body.message; return; }
    await refreshReviews();
    openReview(d.handoff_id, true);
  });
  $('r-appeal-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = reviewing && reviewing.detail;
    const text = $('r-appeal').value.trim();
    if (!d || !text) return;
    const r = await api('POST', `/v1/agent/reviews/${d.handoff_id}/appeal`, { text });
    if (r.status !== 200) { $('r-error').textContent = r.body && r.body.message; return; }
    await refreshReviews();
    openReview(d.handoff_id, false);
  });

  // ---- one conversation --------------------------------------------------------------------
  async function open(id) {
    current = id;
    reviewing = null; renderReview(); renderReviews();
    const r = await api('GET', `/v1/agent/conversations/${id}`);
    if (r.status === 403 || r.status === 404) {
      // Not (or no longer) readable: show the copy this console has, if any, read-only.
      if (!convs.has(id)) current = null;
      renderLists(); renderDetail();
      $('c-error').textContent = r.body && r.body.message;
      return;
    }
    if (r.status !== 200) { $('c-error').textContent = r.body && r.body.message; renderLists(); return; }
    const old = convs.get(id);
    convs.set(id, { view: r.body, cursor: r.body.last_seq, unread: false, assist: old ? old.assist : [], revealed: old ? old.revealed : null, lookup: old ? old.lookup : null, calls: old ? old.calls : null });
    $('c-error').textContent = '';
    renderLists();
    renderDetail();
  }
  async function accept(id) {
    const r = await api('POST', `/v1/agent/conversations/${id}/accept`);
    if (r.status !== 200) { $('c-error').textContent = r.body && r.body.message; return; }
    await refresh();
    open(id);
  }
  // A conversation that left this agent (resolved, returned, transferred, taken back): the
  // server no longer shows it to them, so the console keeps the copy it has, read-only, and
  // forgets what was revealed.
  function ended(id, why) {
    const c = convs.get(id);
    if (c) { c.view.status = 'closed'; c.view.agent_id = null; c.assist = []; c.revealed = null; }
    if (current === id) {
      renderDetail();
      // The reason is a code for the agent's own actions, words from the server otherwise.
      say($('c-error'), why ? 'console.ended.why' : 'console.ended', { why: code('ended', why) });
    }
    refresh();
  }
  async function decline(id) { await api('POST', `/v1/agent/conversations/${id}/decline`); refresh(); }

  function renderDetail() {
    const c = current && convs.get(current);
    $('empty').hidden = !!c || !!reviewing; $('detail').hidden = !c;
    if (!c) return;
    const v = c.view;
    const mine = v.status === 'assigned' && v.agent_id === me.id;
    const cust = v.customer || {};
    // Only a verified customer's id is theirs; a guest's is what their browser claimed.
    $('c-customer').textContent = (cust.name || t('console.guest'))
      + (cust.verified && cust.id ? ` · ${cust.id}` : cust.claimed_id ? ` · ${cust.claimed_id}?` : '');
    fill($('c-badges'),
      cust.verified
        ? h('span', { class: 'badge verified', title: t('console.badge.verified.title') }, t('console.badge.verified'))
        : h('span', { class: 'badge guest', title: t('console.badge.guest.title') }, t('console.badge.guest')),
      cust.verified && cust.vip && h('span', { class: 'badge vip' }, 'VIP'),
      v.priority && v.priority !== 'normal' && h('span', { class: 'badge ' + v.priority }, code('priority', v.priority)),
      v.reason && h('span', { class: 'badge' }, code('reason', v.reason)),
      v.skill && h('span', { class: 'badge' }, v.skill),
      h('span', { class: 'badge' }, v.channel), h('span', { class: 'badge' }, v.lang),
      ...(cust.tags || []).map((tag) => h('span', { class: 'badge' }, tag)),
      ...(v.tags || []).map((tag) => h('span', { class: 'badge rule-tag', title: t('console.badge.rule_tag') }, '#' + tag)),
      // Sticky routing offered it first to the agent who last helped this customer.
      v.routing && v.routing.returning_to && h('span', { class: 'badge returning', title: t('console.badge.returning.title') },
        t(me && v.routing.returning_to === me.id ? 'console.badge.returning_yours' : 'console.badge.returning')),
      h('span', { class: 'badge' }, t('console.badge.waiting', { time: minutes(v.waiting_ms) })),
      v.routing && (v.routing.sla_wait_breached || v.routing.sla_reply_breached) && h('span', { class: 'badge sla' }, 'SLA'),
      h('span', { class: 'badge' }, code('state', v.state)));
    $('c-summary').textContent = v.summary || '';
    const entities = c.revealed || v.entities;
    fill($('c-entities'), ...entities.map((e) => h('span', { class: 'badge' }, `${code('entity', e.kind)}: ${e.value || e.masked}`)),
      mine && v.entities.some((e) => e.kind !== 'order_number') && !c.revealed && h('button', { class: 'secondary', type: 'button', onclick: async () => {
        const r = await api('POST', `/v1/agent/conversations/${current}/reveal`);
        if (r.status === 200) { c.revealed = r.body.entities.concat(v.entities.filter((e) => e.kind === 'order_number')); renderDetail(); }
      } }, t('console.reveal')));
    $('c-transcript').replaceChildren(...v.transcript.map((l) => {
      const who = l.author === 'agent' ? (l.agent_name || l.agent || t('author.agent')) : code('author', l.author === 'shopper' || l.author === 'bot' ? l.author : 'system');
      const why = l.intent ? `${l.intent} ${Math.round((l.confidence || 0) * 100)}%` + (l.faq_candidates && l.faq_candidates.length ? ` · FAQ ${l.faq_candidates.slice(0, 3).map((f) => f[0]).join(', ')}` : '') + (l.decision ? ` · ${code('decision', l.decision)}` : '') : null;
      return h('li', { class: 'line ' + l.author }, h('span', { class: 'who' }, who), l.author === 'bot' ? plain(l.text) : l.text, why && h('span', { class: 'why' }, why));
    }));
    const tr = $('c-transcript'); tr.scrollTop = tr.scrollHeight;
    $('c-notes').replaceChildren(...v.notes.map((n) => h('li', { class: n.whisper ? 'whisper' : null },
      h('span', { class: 'by' }, n.agent_name), n.whisper && h('span', { class: 'badge whisper' }, t('console.badge.whisper')), n.text)));
    $('sup-tools').hidden = !(c.watched && !mine && supervises());
    $('take-over').disabled = v.state === 'bot';
    $('reassign').disabled = v.state === 'bot';
    for (const el of document.querySelectorAll('#whisper-form *')) el.disabled = v.state === 'bot';
    $('c-assist').replaceChildren(...(mine ? c.assist : []).map((s) => h('button', { type: 'button', title: t('console.assist.use'), onclick: () => { $('reply').value = plain(s.answer); $('reply').focus(); } },
      h('span', { class: 'q' }, `${s.question} · ${Math.round(s.confidence * 100)}%`), plain(s.answer))));
    renderShop(c);
    $('accept').hidden = v.status !== 'queued';
    for (const id of ['resolve', 'return', 'wrap-category', 'wrap-summary']) $(id).disabled = !mine;
    for (const el of document.querySelectorAll('#reply-form *, #transfer-form *, #note-form *, #lookup-form *')) el.disabled = !mine;
    lookupState();
  }

  // ---- the shop: the shopper's page, their orders, the calls made, the agent's look-ups ----
  function renderShop(c) {
    const v = c.view;
    const p = v.page && typeof v.page === 'object' ? v.page : null;
    const url = p && p.url && /^https?:\/\//i.test(p.url) ? p.url : null;
    fill($('c-page'), !p ? h('span', { class: 'muted' }, t('console.page.none'))
      : [p.title && h('span', { class: 'title' }, p.title),
        p.sku && h('span', { class: 'badge' }, t('console.page.sku', { sku: p.sku })),
        p.order_number && h('span', { class: 'badge' }, t('console.page.order', { number: p.order_number })),
        url ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url) : p.url && h('span', { class: 'muted' }, p.url)]);

    const orders = Array.isArray(v.orders) ? v.orders : [];
    fill($('c-orders'), !orders.length ? h('li', { class: 'muted' }, t('console.orders.none')) : orders.map((o) => h('li', { 'data-order': o.number },
      h('div', { class: 'line1' },
        h('span', { class: 'number' }, o.number),
        h('span', { class: 'badge status-' + String(o.status || '').replace(/[^a-z_]/g, '') }, o.status_label || o.status)),
      h('div', null, o.amount !== undefined && o.amount !== null ? money(o.amount, o.currency) : ''),
      h('div', { class: 'items' }, (Array.isArray(o.items) ? o.items : []).map((i) => (i && typeof i === 'object'
        ? `${i.name} × ${i.qty === undefined ? 1 : i.qty}` + (i.price ? ` ${money(i.price, o.currency)}` : '')
        : String(i))).join(t('common.list_separator'))))));

    // Order numbers to pick from in the look-up: those looked up, and those the shopper wrote.
    const known = new Set(orders.map((o) => o.number));
    if (p && p.order_number) known.add(p.order_number);
    for (const e of v.entities || []) if (e.kind === 'order_number' && e.value) known.add(e.value);
    if (p && p.sku) known.add(p.sku);
    $('l-known').replaceChildren(...[...known].map((n) => h('option', { value: n })));

    const calls = Array.isArray(v.shop_calls) ? v.shop_calls : [];
    $('c-calls-count').textContent = calls.length || '';
    // Which calls the agent opened (or closed) stays so across re-renders.
    c.calls = c.calls || new Map();
    fill($('c-calls'), !calls.length ? h('li', { class: 'muted' }, t('console.calls.none')) : calls.slice().reverse().map((sc) => {
      const failed = callFailed(sc);
      const key = `${sc.at}|${sc.call}|${sc.url}`;
      const opened = c.calls.has(key) ? c.calls.get(key) : failed;
      return h('li', { class: failed ? 'failed' : '', 'data-call': sc.call, 'data-outcome': sc.outcome },
        h('details', { open: opened || null, ontoggle: (ev) => c.calls.set(key, ev.target.open) },
          h('summary', null,
            h('span', { class: 'name' }, sc.call ? code('call', sc.call) : '?'),
            h('span', { class: 'outcome' }, `${sc.outcome ? code('outcome', sc.outcome) : '?'}${sc.status ? ' · ' + sc.status : ''}`),
            h('span', { class: 'muted' }, t('console.call.timing', { tries: sc.tries || 1, ms: sc.ms === undefined || sc.ms === null ? '?' : sc.ms }))),
          h('div', { class: 'muted' }, clock(sc.at)),
          sc.url && h('div', { class: 'url' }, `${sc.method || 'GET'} ${sc.url}`),
          sc.values && typeof sc.values === 'object' && Object.keys(sc.values).length ? fieldList(sc.values) : null,
          sc.excerpt ? h('pre', null, show(sc.excerpt)) : null));
    }));
    renderLookup(c);
  }
  /** A call that did not get a usable answer: the shop's "no such order" or "not in this
   * state" are answers; a timeout, an error, an open breaker or another customer's data not. */
  function callFailed(sc) {
    return !['ok', 'not_found', 'not_allowed'].includes(sc.outcome);
  }
  function renderLookup(c) {
    const l = c && c.lookup;
    if (!l) { fill($('l-result')); return; }
    const what = `${code('call', l.call)}${l.key ? ' ' + l.key : ''}`;
    if (l.pending) fill($('l-result'), h('span', { class: 'muted' }, t('console.lookup.pending', { what })));
    else if (l.need) fill($('l-result'), h('p', { class: 'error' }, `${what}: ${t(l.need)}`));
    else if (l.error) fill($('l-result'), h('p', { class: 'error' }, `${what}: ${l.error}`));
    else fill($('l-result'), h('div', { class: 'muted' }, `${what} · ${code('outcome', l.outcome || 'ok')}`), fieldList(l.fields));
  }
  /** Only the agent holding the conversation looks up; recent orders need no number. */
  function lookupState() {
    const call = $('l-call').value;
    const c = current && convs.get(current);
    const mine = !!(c && me && c.view.status === 'assigned' && c.view.agent_id === me.id);
    $('l-key').placeholder = lookupHint(call);
    $('l-key').disabled = !mine || call === 'recent_orders';
  }
  $('l-call').addEventListener('change', lookupState);
  lookupState();
  $('lookup-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const id = current;
    const c = id && convs.get(id);
    if (!c) return;
    const call = $('l-call').value;
    const key = call === 'recent_orders' ? '' : $('l-key').value.trim();
    const body = { call };
    if (call === 'stock') body.sku = key;
    else if (call !== 'recent_orders') body.order_number = key;
    if (call !== 'recent_orders' && !key) {
      c.lookup = { call, key, need: call === 'stock' ? 'console.lookup.need_sku' : 'console.lookup.need_order' };
      renderLookup(c); $('l-key').focus(); return;
    }
    c.lookup = { call, key, pending: true };
    renderLookup(c);
    const r = await api('POST', `/v1/agent/conversations/${id}/lookup`, body);
    c.lookup = r.status === 200 && r.body
      ? { call, key, outcome: r.body.outcome, fields: r.body.fields || {} }
      : { call, key, error: (r.body && (r.body.message || r.body.error)) || t('common.server_status', { status: r.status }) };
    if (current !== id) return;
    renderLookup(c);
    // The look-up is one of the conversation's shop calls now.
    open(id);
  });

  /** An action on the open conversation; the server's reason shows when it is refused. */
  async function post(path, body) {
    const r = await api('POST', path, body);
    if (r.status >= 300) {
      if (r.body && r.body.message) $('c-error').textContent = r.body.message;
      else say($('c-error'), 'common.server_status', { status: r.status });
      return null;
    }
    $('c-error').textContent = '';
    return r;
  }
  const act = (path, body) => post(`/v1/agent/conversations/${current}/${path}`, body);
  $('accept').addEventListener('click', () => accept(current));
  $('resolve').addEventListener('click', async () => {
    const category = $('wrap-category').value; const summary = $('wrap-summary').value.trim();
    if (await act('resolve', category ? { category, summary: summary || undefined } : undefined)) {
      $('wrap-category').value = ''; $('wrap-summary').value = '';
      ended(current, 'resolve');
    }
  });
  $('return').addEventListener('click', async () => { if (await act('return-to-bot')) ended(current, 'return_to_bot'); });
  $('reply-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('reply').value.trim();
    if (!text) return;
    const r = await act('messages', { text, client_msg_id: uuid() });
    if (!r) return;
    $('reply').value = '';
    const c = convs.get(current);
    for (const m of r.body.messages) if (m.seq > c.cursor) {
      c.cursor = m.seq;
      c.view.transcript.push({ seq: m.seq, author: m.author, text: m.text, at: m.created_at, agent: m.meta && m.meta.agent_name });
    }
    c.assist = [];
    renderDetail();
  });
  $('reply').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); $('reply-form').requestSubmit(); }
    else if (ws && ws.readyState === 1 && current) ws.send(JSON.stringify({ type: 'typing', conversation_id: current }));
  });
  $('note-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('note').value.trim();
    if (!text) return;
    const r = await act('notes', { text });
    if (!r) return;
    $('note').value = '';
    const c = convs.get(current);
    if (!c.view.notes.some((n) => n.id === r.body.id)) c.view.notes.push(r.body);
    renderDetail();
  });
  $('transfer-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const skill = $('t-skill').value.trim(); const agent = $('t-agent').value.trim(); const note = $('t-note').value.trim();
    const body = skill ? { skill } : { agent };
    if (note) body.note = note;
    if (await act('transfer', body)) { $('t-skill').value = ''; $('t-agent').value = ''; $('t-note').value = ''; ended(current, 'transferred'); }
  });

  // Another language: everything drawn here is drawn again; i18n.js did the markup.
  window.BatonI18n.onChange(() => {
    renderWrapUp();
    lookupState();
    if (me) { renderMe(); renderLists(); renderOverview(); renderReviews(); } else showTitle();
    if (current) renderDetail();
    renderReview();
  });

  if (token) signIn(token); else $('signin').hidden = false;
})();
