/*! Baton chat widget. One script tag, no build step:
 *
 *   <script src="https://shop.example/baton/widget.js" data-lang="zh" data-title="…" defer></script>
 *
 * It talks to the Baton API next to it (or data-api), lives in a shadow root so the shop's
 * CSS cannot reach it, keeps the conversation across reloads (localStorage), resends
 * unacknowledged messages with the same client_msg_id, reconnects its WebSocket with
 * backoff and a cursor, and never shows a message twice. Everything shoppers, agents and
 * the knowledge base write is rendered as text; FAQ Markdown goes through a renderer that
 * only ever creates text nodes and a few plain elements.
 *
 * data-*: api, lang (zh|en; default: the page's), title, channel, customer-token, open
 * ("true": open on load); customer-id, customer-name and vip ("true") are unsigned claims
 * that only ever make an unverified guest.
 *
 * Signed-in shoppers: the shop's server signs who they are (see the README, "Verified
 * customers") and the page passes the token, as data-customer-token or, before or after this
 * script loads, with a call:
 *
 *   window.Baton = window.Baton || { q: [], identify(t) { this.q.push(['identify', t]); } };
 *   Baton.identify(token);   // Baton.identify(null) on sign-out
 *
 * The token goes with the conversation's creation. A conversation keeps the identity it was
 * created with: identifying as someone else, or signing out, starts a new one.
 *
 * The page the shopper is on (a product, an order), so the bot and the agent know what
 * "this one" is: data-page-sku, data-page-order-number, data-page-title, data-page-url, or
 * a call (queued like identify before the script loads), e.g. on a single-page shop:
 *
 *   Baton.setPage({ sku: 'SKU-1001', title: '轻薄羽绒服' });   // or { order_number, url }
 *
 * (the stub above then also needs `setPage(p) { this.q.push(['setPage', p]); }`). It goes
 * with the conversation once it exists, and again whenever it changes.
 */
(() => {
  'use strict';
  if (window.__batonWidget) return;
  window.__batonWidget = true;

  const script = document.currentScript;
  const data = (script && script.dataset) || {};
  const api = (data.api || (script ? script.src : location.origin + '/widget.js'))
    .replace(/\/widget\.js(\?.*)?$/, '')
    .replace(/\/$/, '');
  const storeKey = 'baton:' + api;
  const langOf = (s) => (String(s || '').toLowerCase().startsWith('en') ? 'en' : 'zh');

  const TEXT = {
    zh: {
      launcher: '在线客服', title: data.title || '在线客服', close: '关闭', switchTo: 'English',
      placeholder: '请输入您的问题…', send: '发送', human: '转人工', typing: '对方正在输入…',
      sending: '发送中…', retrying: '网络不稳定，正在重试…', failed: '发送失败：',
      bot: '智能助手', queued: '排队中', assigned: (n) => `客服 ${n} 为您服务`,
      position: (p, m) => (p <= 1 ? '马上轮到您' : `前面还有 ${p - 1} 位`) + (m ? `，预计等待约 ${m} 分钟` : ''),
      leave: '留言', leaveTitle: '留言给客服', contact: '手机号或邮箱', message: '留言内容',
      submit: '提交', cancel: '取消', rateTitle: '请为本次服务打分', comment: '意见或建议（选填）',
      star: (n) => `${n} 分`, offline: '连接中断，正在重连…', didYouMean: '您是不是想问：',
      rated: '已评价，谢谢！', order: '订单', total: '合计', trace: '进度', options: '可选操作',
      welcome: '猜你想问', others: '换一批',
    },
    en: {
      launcher: 'Chat with us', title: data.title || 'Customer service', close: 'Close', switchTo: '中文',
      placeholder: 'Type your question…', send: 'Send', human: 'Talk to a person', typing: 'Typing…',
      sending: 'Sending…', retrying: 'Connection is unstable, retrying…', failed: 'Not sent: ',
      bot: 'Assistant', queued: 'In the queue', assigned: (n) => `${n} is helping you`,
      position: (p, m) => (p <= 1 ? "You're next" : `Number ${p} in the queue`) + (m ? `, about ${m} min` : ''),
      leave: 'Leave a message', leaveTitle: 'Leave a message for our team', contact: 'Phone or e-mail',
      message: 'Your message', submit: 'Send', cancel: 'Cancel', rateTitle: 'How did we do?',
      comment: 'Comment (optional)', star: (n) => `${n} out of 5`, offline: 'Reconnecting…',
      didYouMean: 'Did you mean:', rated: 'Thanks for rating!', order: 'Order', total: 'Total',
      trace: 'Progress', options: 'Options', welcome: 'You may want to ask', others: 'Show others',
    },
  };

  // ---- state (persisted) ----------------------------------------------------------------
  const saved = (() => {
    try { return JSON.parse(localStorage.getItem(storeKey) || 'null') || {}; } catch (_) { return {}; }
  })();
  const state = {
    id: saved.id || null,
    token: saved.token || null,
    // The verified customer id the stored conversation was created for (null: a guest's).
    customerId: saved.customerId || null,
    // The signed identity to create the next conversation with; kept in memory only.
    customerToken: null,
    lang: saved.lang || langOf(data.lang || document.documentElement.lang || navigator.language),
    outbox: Array.isArray(saved.outbox) ? saved.outbox : [],
    open: saved.open === true || data.open === 'true',
    convState: 'bot',
    agentName: null,
    queue: null,
    lastSeq: 0,
    messages: new Map(),
    failed: [],
    // The page the shopper is on ({order_number, sku, title, url}), and the one last sent
    // with the stored conversation (JSON), so a reload on the same page sends nothing.
    page: null,
    pageSent: typeof saved.pageSent === 'string' ? saved.pageSent : null,
    // Which button the shopper tapped, per message seq (shown as pressed).
    tapped: new Map(),
    // The welcome card shown before the first message: {lang, questions, page, pages}.
    welcome: null,
    welcomeLoading: false,
  };
  const persist = () => {
    try {
      localStorage.setItem(storeKey, JSON.stringify({
        id: state.id, token: state.token, customerId: state.customerId, lang: state.lang,
        outbox: state.outbox, open: state.open, pageSent: state.pageSent,
      }));
    } catch (_) { /* private mode: the conversation lasts as long as the page */ }
  };
  const t = (k, ...a) => { const v = TEXT[state.lang][k]; return typeof v === 'function' ? v(...a) : v; };
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID()
    : 'm' + Date.now().toString(36) + Math.random().toString(36).slice(2));
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // ---- DOM helpers: text only, never HTML strings ----------------------------------------
  const h = (tag, props, ...children) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k in el && k !== 'list') el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false)
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  };

  /** Markdown subset → DOM (paragraphs, lists, **bold**, *italic*, `code`, links). Only text
   * nodes and plain elements are created; links must be http(s) and open in a new tab. */
  const markdown = (src) => {
    const frag = document.createDocumentFragment();
    const inline = (text, into) => {
      const re = /(\*\*([^*]+)\*\*|\*([^*]+)\*|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\))/g;
      let at = 0; let m;
      while ((m = re.exec(text))) {
        if (m.index > at) into.append(document.createTextNode(text.slice(at, m.index)));
        if (m[2]) into.append(h('strong', null, m[2]));
        else if (m[3]) into.append(h('em', null, m[3]));
        else if (m[4]) into.append(h('code', null, m[4]));
        else if (/^https?:\/\//i.test(m[6])) into.append(h('a', { href: m[6], target: '_blank', rel: 'noopener noreferrer' }, m[5]));
        else into.append(document.createTextNode(m[5]));
        at = re.lastIndex;
      }
      if (at < text.length) into.append(document.createTextNode(text.slice(at)));
    };
    for (const block of String(src).replace(/\r/g, '').split(/\n{2,}/)) {
      const lines = block.split('\n').filter((l) => l.trim() !== '');
      if (!lines.length) continue;
      const bullet = lines.every((l) => /^\s*[-*•]\s+/.test(l));
      const numbered = lines.every((l) => /^\s*\d+[.)、]\s*/.test(l));
      if (bullet || numbered) {
        const list = h(bullet ? 'ul' : 'ol');
        for (const l of lines) { const li = h('li'); inline(l.replace(/^\s*([-*•]|\d+[.)、])\s*/, ''), li); list.append(li); }
        frag.append(list);
      } else {
        const p = h('p');
        lines.forEach((l, i) => { if (i) p.append(h('br')); inline(l.replace(/^#+\s*/, ''), p); });
        frag.append(p);
      }
    }
    return frag;
  };

  // ---- the widget's DOM, inside a shadow root ------------------------------------------
  const host = h('div', { id: 'baton-chat' });
  const root = host.attachShadow({ mode: 'open' });
  const css = `
:host{all:initial}
*{box-sizing:border-box;font-family:-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif}
.launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:28px;padding:14px 20px;background:#1f6feb;color:#fff;font-size:15px;box-shadow:0 6px 20px rgba(0,0,0,.2);cursor:pointer}
.launcher:focus-visible,button:focus-visible,textarea:focus-visible,input:focus-visible{outline:3px solid #f0b429;outline-offset:2px}
.panel{position:fixed;right:20px;bottom:20px;z-index:2147483001;width:380px;height:min(620px,calc(100vh - 40px));display:flex;flex-direction:column;background:#fff;color:#1c2128;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);overflow:hidden;font-size:14px}
.panel[hidden],.launcher[hidden],[hidden]{display:none!important}
header{background:#1f6feb;color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}
header .who{flex:1;min-width:0}
header .title{font-weight:600;font-size:15px}
header .status{font-size:12px;opacity:.9;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
header button{background:rgba(255,255,255,.15);color:#fff;border:0;border-radius:6px;padding:6px 8px;cursor:pointer;font-size:12px}
.banner{background:#fff8e1;color:#5c4400;padding:8px 14px;font-size:13px;border-bottom:1px solid #f3e2a9}
.net{background:#fdecea;color:#8a1c13;padding:6px 14px;font-size:12px}
.log{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:10px;background:#f6f8fa}
.msg{max-width:82%;padding:9px 12px;border-radius:12px;line-height:1.5;white-space:pre-wrap;word-wrap:break-word;overflow-wrap:anywhere}
.msg p{margin:0 0 6px;white-space:normal}.msg p:last-child{margin:0}.msg ul,.msg ol{margin:4px 0;padding-left:20px;white-space:normal}
.msg a{color:#1f6feb}
.shopper{align-self:flex-end;background:#1f6feb;color:#fff;border-bottom-right-radius:4px}
.bot,.agent{align-self:flex-start;background:#fff;border:1px solid #e1e4e8;border-bottom-left-radius:4px}
.agent{border-color:#b6e3c6;background:#effaf2}
.by{display:block;font-size:11px;color:#57606a;margin-bottom:2px}
.system{align-self:center;max-width:92%;background:transparent;color:#57606a;font-size:12px;text-align:center;padding:2px 8px}
.pending{opacity:.7}.note{font-size:11px;margin-top:3px;opacity:.85}
.suggest{display:flex;flex-wrap:wrap;gap:6px;align-self:flex-start;max-width:92%}
.suggest button,.chip{border:1px solid #1f6feb;color:#1f6feb;background:#fff;border-radius:16px;padding:6px 10px;cursor:pointer;font-size:13px;text-align:left}
.msg.has-card{align-self:stretch;max-width:none}
.order{margin-top:8px;border:1px solid #e1e4e8;border-radius:8px;padding:10px;background:#fafbfc;white-space:normal;display:flex;flex-direction:column;gap:6px}
.order .title{font-weight:600;font-size:13px;color:#1c2128}
.order .head{display:flex;justify-content:space-between;align-items:center;gap:8px;font-size:13px}
.order .number{font-variant-numeric:tabular-nums;color:#57606a}
.order .state{border-radius:10px;padding:1px 8px;font-size:12px;background:#ddf4ff;color:#0550ae;white-space:nowrap}
.order .state.cancelled,.order .state.refunding{background:#ffe1de;color:#b42318}
.order .state.delivered{background:#dafbe1;color:#116329}
.order .state.unpaid{background:#fff1c2;color:#7a5a00}
.order ul{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:2px}
.order .item{display:flex;justify-content:space-between;gap:8px;font-size:13px}
.order .amount{text-align:right;font-weight:600}
.trace{list-style:none;margin:4px 0 0;padding:0 0 0 14px;border-left:2px solid #d0d7de;display:flex;flex-direction:column;gap:8px}
.trace li{position:relative;font-size:13px;line-height:1.4}
.trace li::before{content:"";position:absolute;left:-20px;top:4px;width:10px;height:10px;border-radius:50%;background:#d0d7de}
.trace li:first-child::before{background:#1f6feb}
.trace li:first-child .text{font-weight:600}
.trace time{display:block;font-size:11px;color:#57606a}
.choices{display:flex;flex-wrap:wrap;gap:6px;align-self:flex-start;max-width:92%;margin-top:-4px}
.choices button{border:1px solid #1f6feb;color:#1f6feb;background:#fff;border-radius:16px;padding:6px 12px;cursor:pointer;font-size:13px}
.choices button[aria-pressed=true]{background:#1f6feb;color:#fff}
.choices button:disabled{cursor:default;opacity:.55}
.choices button[aria-pressed=true]:disabled{opacity:.8}
.welcome{align-self:stretch;display:flex;flex-direction:column;gap:8px;background:#fff;border:1px solid #e1e4e8;border-radius:10px;padding:12px}
.welcome h3{margin:0;font-size:14px}.welcome .suggest{max-width:none}
.welcome .others{align-self:flex-end;border:0;background:none;color:#1f6feb;cursor:pointer;font-size:13px;padding:2px 4px}
.typing{font-size:12px;color:#57606a;padding:0 14px 6px;background:#f6f8fa}
.card{align-self:stretch;background:#fff;border:1px solid #e1e4e8;border-radius:10px;padding:12px;display:flex;flex-direction:column;gap:8px}
.card h3{margin:0;font-size:14px}
.card input,.card textarea{width:100%;border:1px solid #d0d7de;border-radius:6px;padding:8px;font-size:14px;resize:vertical}
.row{display:flex;gap:8px;justify-content:flex-end}
.stars{display:flex;gap:6px}.stars button{flex:1;border:1px solid #d0d7de;background:#fff;border-radius:6px;padding:8px 0;cursor:pointer;font-size:15px}
.stars button[aria-pressed=true]{background:#f0b429;border-color:#d39e00;color:#1c2128}
.primary{background:#1f6feb;color:#fff;border:0;border-radius:6px;padding:8px 14px;cursor:pointer}
.secondary{background:#fff;color:#1c2128;border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;cursor:pointer}
.actions{display:flex;gap:8px;padding:8px 10px 0;background:#fff;border-top:1px solid #e1e4e8}
.composer{display:flex;gap:8px;padding:8px 10px 10px;background:#fff}
.composer textarea{flex:1;border:1px solid #d0d7de;border-radius:8px;padding:8px 10px;font-size:14px;resize:none;height:42px;max-height:120px}
@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100vh;border-radius:0}.launcher{right:12px;bottom:12px}}
`;
  if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === 'function' && 'replaceSync' in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet(); sheet.replaceSync(css); root.adoptedStyleSheets = [sheet];
  } else {
    root.append(h('style', null, css));
  }

  const ui = {};
  ui.launcher = h('button', { class: 'launcher', type: 'button', 'aria-haspopup': 'dialog', 'aria-expanded': 'false', onclick: () => setOpen(true) });
  ui.title = h('div', { class: 'title' });
  ui.status = h('div', { class: 'status', 'aria-live': 'polite' });
  ui.langBtn = h('button', { type: 'button', onclick: () => { state.lang = state.lang === 'zh' ? 'en' : 'zh'; persist(); render(); } });
  ui.closeBtn = h('button', { type: 'button', onclick: () => setOpen(false) });
  ui.banner = h('div', { class: 'banner', hidden: true, 'aria-live': 'polite' });
  ui.net = h('div', { class: 'net', hidden: true, role: 'status' });
  ui.log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', tabindex: '0' });
  ui.typing = h('div', { class: 'typing', hidden: true });
  ui.humanBtn = h('button', { class: 'chip', type: 'button', onclick: () => requestHuman() });
  ui.leaveBtn = h('button', { class: 'chip', type: 'button', hidden: true, onclick: () => { ui.leaveCard.hidden = false; render(); } });
  ui.input = h('textarea', { rows: 1, maxLength: 2000, onkeydown: onKey, oninput: onInput });
  ui.sendBtn = h('button', { class: 'primary', type: 'button', onclick: () => submitInput() });
  ui.leaveCard = buildLeaveCard();
  ui.rateCard = buildRateCard();
  ui.panel = h('div', { class: 'panel', role: 'dialog', 'aria-modal': 'false', hidden: true, onkeydown: (e) => { if (e.key === 'Escape') setOpen(false); } },
    h('header', null, h('div', { class: 'who' }, ui.title, ui.status), ui.langBtn, ui.closeBtn),
    ui.banner, ui.net, ui.log, ui.typing,
    h('div', { class: 'actions' }, ui.humanBtn, ui.leaveBtn),
    h('div', { class: 'composer' }, ui.input, ui.sendBtn));
  root.append(ui.launcher, ui.panel);

  function buildLeaveCard() {
    const contact = h('input', { type: 'text', maxLength: 200, autocomplete: 'tel' });
    const text = h('textarea', { rows: 3, maxLength: 2000 });
    const status = h('div', { class: 'note', role: 'status' });
    const card = h('form', { class: 'card', hidden: true, onsubmit: async (e) => {
      e.preventDefault();
      if (!contact.value.trim() || !text.value.trim()) return;
      const r = await call('POST', `/v1/conversations/${state.id}/tickets`, { contact: contact.value, text: text.value });
      if (r && r.ok) { const b = await r.json(); addAll(b.replies); contact.value = ''; text.value = ''; card.hidden = true; render(); }
      else status.textContent = t('failed') + (r ? await errorText(r) : t('retrying'));
    } });
    card.refs = { contact, text, status };
    card.append(h('h3'), contact, text, status,
      h('div', { class: 'row' }, h('button', { class: 'secondary', type: 'button', onclick: () => { card.hidden = true; render(); } }), h('button', { class: 'primary', type: 'submit' })));
    return card;
  }

  function buildRateCard() {
    let score = 0;
    const stars = [1, 2, 3, 4, 5].map((n) => h('button', { type: 'button', 'aria-pressed': 'false', onclick: () => {
      score = n; stars.forEach((s, i) => s.setAttribute('aria-pressed', String(i + 1 === n)));
    } }, `${n} ★`));
    const comment = h('textarea', { rows: 2, maxLength: 1000 });
    const card = h('form', { class: 'card', hidden: true, onsubmit: async (e) => {
      e.preventDefault();
      if (!score) return;
      const r = await call('POST', `/v1/conversations/${state.id}/rating`, { score, comment: comment.value || null });
      if (r && (r.ok || r.status === 409)) { if (r.ok) addAll((await r.json()).replies); card.hidden = true; render(); }
    } });
    card.refs = { stars, comment };
    card.append(h('h3'), h('div', { class: 'stars', role: 'group' }, stars), comment,
      h('div', { class: 'row' }, h('button', { class: 'primary', type: 'submit' })));
    return card;
  }

  // ---- API -------------------------------------------------------------------------------
  async function call(method, path, body) {
    try {
      return await fetch(api + path, {
        method,
        headers: Object.assign({ 'content-type': 'application/json' }, state.token ? { authorization: 'Bearer ' + state.token } : {}),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (_) { return null; }
  }
  // The welcome card ("猜你想问"): fetched when an empty chat is open, again on "show
  // others" (the next page) and when the shopper switches language.
  async function loadWelcome(page) {
    if (state.welcomeLoading) return;
    state.welcomeLoading = true;
    const lang = state.lang;
    try {
      const r = await fetch(`${api}/v1/welcome?lang=${lang}&page=${page}`);
      if (r.ok) state.welcome = Object.assign(await r.json(), { lang });
    } catch (_) { /* no card: the shopper can still type */ }
    state.welcomeLoading = false;
    render();
  }
  function welcomeNode() {
    const w = state.welcome;
    if (!w || w.lang !== state.lang || !w.questions.length) return [];
    return [h('div', { class: 'welcome', role: 'group', 'aria-label': t('welcome') },
      h('h3', null, t('welcome')),
      h('div', { class: 'suggest' }, w.questions.map((q) => h('button', { type: 'button', onclick: () => sendText(q.text) }, q.text))),
      w.pages > 1 && h('button', { class: 'others', type: 'button', onclick: () => loadWelcome(w.page + 1) }, t('others')))];
  }
  async function errorText(r) { try { return (await r.json()).message || r.status; } catch (_) { return r.status; } }

  async function ensureConversation() {
    if (state.id && state.token) return true;
    const customer = {};
    if (data.customerId) customer.id = data.customerId;
    if (data.customerName) customer.name = data.customerName;
    if (data.vip === 'true') customer.vip = true;
    const body = { channel: data.channel || 'web', locale: state.lang };
    const guest = () => { delete body.customer_token; if (Object.keys(customer).length) body.customer = customer; };
    if (state.customerToken) body.customer_token = state.customerToken; else guest();
    let r = await call('POST', '/v1/conversations', body);
    if (r && body.customer_token && (r.status === 401 || r.status === 422)) {
      // An expired or wrongly signed token: the shopper still gets help, as a guest.
      let e = {}; try { e = await r.json(); } catch (_) { /* not JSON */ }
      if (e.error !== 'invalid_customer_token') return false;
      console.warn('Baton: the customer token was refused (' + e.message + '); chatting as a guest');
      state.customerToken = null; guest();
      r = await call('POST', '/v1/conversations', body);
    }
    if (!r || !r.ok) return false;
    const c = await r.json();
    state.id = c.conversation_id; state.token = c.token; state.lastSeq = 0; state.messages.clear();
    state.customerId = body.customer_token ? tokenCustomer(body.customer_token) : null;
    state.pageSent = null;
    persist();
    connect();
    // Before the first message, so the bot already knows which product or order it is about.
    await sendPage();
    return true;
  }

  /** A page object with only the fields Baton knows, as trimmed strings (null: none). */
  function cleanPage(p) {
    if (!p || typeof p !== 'object') return null;
    const out = {};
    for (const [k, max] of [['order_number', 64], ['sku', 64], ['title', 200], ['url', 500]]) {
      if (p[k] === undefined || p[k] === null) continue;
      const v = String(p[k]).trim().slice(0, max);
      if (v) out[k] = v;
    }
    return Object.keys(out).length ? out : null;
  }
  /** Tells the conversation which page the shopper is on, unless it already knows. */
  async function sendPage() {
    if (!state.id || !state.token || !state.page) return;
    const json = JSON.stringify(state.page);
    if (json === state.pageSent) return;
    const id = state.id;
    const r = await call('PUT', `/v1/conversations/${id}/page`, state.page);
    // Sent once per change; a refusal is not retried (the next change tries again).
    if (r && state.id === id && JSON.stringify(state.page) === json) { state.pageSent = json; persist(); }
  }
  /** The host page says where the shopper is now (null: nowhere in particular). */
  function setPage(page) {
    state.page = cleanPage(page);
    sendPage();
  }

  async function loadHistory() {
    if (!state.id) return;
    for (;;) {
      const r = await call('GET', `/v1/conversations/${state.id}/messages?after=${state.lastSeq}&limit=200`);
      if (!r) return;
      if (r.status === 401 || r.status === 404) { forget(); return; }
      if (!r.ok) return;
      const page = await r.json();
      state.convState = page.state;
      addAll(page.messages);
      if (!page.more) break;
    }
    const s = await call('GET', `/v1/conversations/${state.id}`);
    if (s && s.ok) { const c = await s.json(); state.convState = c.state; state.agentName = c.agent_name; state.queue = c.queue; }
    render();
  }

  /** The customer id a signed token names (its payload is readable; only Baton can check it). */
  function tokenCustomer(token) {
    try {
      const part = String(token).split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
      const bytes = Uint8Array.from(atob(part), (ch) => ch.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes)).id || null;
    } catch (_) { return null; }
  }

  /** Who the shopper is, signed by the shop's server (null: signed out). Sent when the next
   * conversation is created; a stored conversation of someone else is left behind. */
  function identify(token) {
    const next = token ? String(token) : null;
    state.customerToken = next;
    if (state.id && state.customerId !== (next ? tokenCustomer(next) : null)) forget();
  }

  /** The stored conversation is gone or its token no longer works: start afresh. Unsent
   * messages stay in the outbox and go to the new conversation. */
  function forget() {
    state.id = null; state.token = null; state.customerId = null; state.lastSeq = 0; state.messages.clear();
    state.pageSent = null; state.tapped.clear();
    persist(); if (ws) ws.close(); render();
  }

  function addAll(list) { for (const m of list || []) add(m); render(); }
  function add(m) {
    if (!m || typeof m.seq !== 'number' || state.messages.has(m.seq)) return;
    state.messages.set(m.seq, m);
    if (m.seq > state.lastSeq) state.lastSeq = m.seq;
    if (m.client_msg_id) {
      const before = state.outbox.length;
      state.outbox = state.outbox.filter((o) => o.client_msg_id !== m.client_msg_id);
      if (state.outbox.length !== before) persist();
    }
    if (m.meta && m.meta.agent_name && m.meta.notice === 'assigned') state.agentName = m.meta.agent_name;
  }

  // ---- sending: an outbox that survives reloads and flaky networks ------------------------
  let flushing = false;
  async function flush() {
    if (flushing) return;
    flushing = true;
    let backoff = 500;
    try {
      while (state.outbox.length) {
        if (!(await ensureConversation())) { await sleep(backoff); backoff = Math.min(backoff * 2, 15000); continue; }
        const item = state.outbox[0];
        const r = await call('POST', `/v1/conversations/${state.id}/messages`, { text: item.text, client_msg_id: item.client_msg_id });
        if (r && (r.status === 200 || r.status === 201)) {
          const out = await r.json();
          add(out.message); addAll(out.replies);
          state.convState = out.state;
          state.outbox = state.outbox.filter((o) => o.client_msg_id !== item.client_msg_id);
          persist(); backoff = 500; item.retrying = false;
        } else if (r && (r.status === 401 || r.status === 404)) {
          forget();
        } else if (r && r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 409 && r.status !== 429) {
          state.outbox.shift(); persist();
          state.failed.push({ text: item.text, why: await errorText(r) });
        } else {
          item.retrying = true; render();
          await sleep(backoff + Math.random() * 250);
          backoff = Math.min(backoff * 2, 15000);
        }
        render();
      }
    } finally { flushing = false; }
  }
  function submitInput() {
    const text = ui.input.value.trim();
    if (!text) return;
    ui.input.value = '';
    sendText(text);
  }
  function sendText(text) {
    state.outbox.push({ client_msg_id: uuid(), text });
    persist(); render(); flush();
  }
  async function requestHuman() {
    if (!(await ensureConversation())) return;
    await flush();
    const r = await call('POST', `/v1/conversations/${state.id}/handoff`);
    if (r && r.ok) { const out = await r.json(); state.convState = out.state; addAll(out.replies); }
  }
  function onKey(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submitInput(); }
  }
  let lastTyping = 0;
  function onInput() {
    const now = Date.now();
    if (ws && ws.readyState === 1 && now - lastTyping > 3000) { lastTyping = now; ws.send(JSON.stringify({ type: 'typing' })); }
  }

  // ---- live updates ----------------------------------------------------------------------
  let ws = null; let retry = 0; let typingTimer = null; let connected = false; let connecting = false;
  /** Opens the live socket. The token never goes in the URL (URLs end up in logs): it buys
   * a one-time ticket first, and the socket URL carries that. */
  async function connect() {
    if (!state.id || !state.token || connecting || (ws && ws.readyState <= 1)) return;
    const id = state.id;
    connecting = true;
    const r = await call('POST', `/v1/conversations/${id}/ws-ticket`);
    let ticket = null;
    if (r && r.ok) { try { ticket = (await r.json()).ticket; } catch (_) { /* retried below */ } }
    connecting = false;
    if (state.id !== id || (ws && ws.readyState <= 1)) return;
    if (r && (r.status === 401 || r.status === 404)) { forget(); return; }
    if (!ticket) { reconnectLater(); return; }
    const url = api.replace(/^http/, 'ws') + `/v1/conversations/${id}/ws?after=${state.lastSeq}&ticket=${encodeURIComponent(ticket)}`;
    const sock = new WebSocket(url);
    ws = sock;
    sock.onopen = () => { retry = 0; connected = true; render(); flush(); };
    sock.onmessage = (ev) => {
      let e; try { e = JSON.parse(ev.data); } catch (_) { return; }
      if (e.type === 'hello') { state.convState = e.state; state.agentName = e.agent_name; state.queue = e.queue; }
      else if (e.type === 'message') { add(e.message); if (e.message.author !== 'shopper') ui.typing.hidden = true; }
      else if (e.type === 'state') { state.convState = e.state; if (e.agent_name) state.agentName = e.agent_name; if (e.state !== 'queued') state.queue = null; if (e.state === 'bot' || e.state === 'resolved') state.agentName = null; }
      else if (e.type === 'queue') { state.queue = { position: e.position, eta_seconds: e.eta_seconds }; }
      else if (e.type === 'typing' && e.from === 'agent') {
        ui.typing.hidden = false; clearTimeout(typingTimer);
        typingTimer = setTimeout(() => { ui.typing.hidden = true; }, 4000);
      }
      render();
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      connected = false; ws = null;
      if (!state.id) return;
      render();
      reconnectLater();
    };
  }
  /** Exponential backoff with jitter; catches up over HTTP before the socket reopens. */
  function reconnectLater() {
    const delay = Math.min(30000, 1000 * 2 ** retry) * (0.75 + Math.random() / 2);
    retry = Math.min(retry + 1, 5);
    setTimeout(() => { if (!ws) { loadHistory().then(connect); } }, delay);
  }
  window.addEventListener('online', () => { flush(); if (!ws) connect(); });

  // ---- rendering ---------------------------------------------------------------------
  function setOpen(open) {
    state.open = open; persist(); render();
    if (open) { ui.input.focus(); if (state.id && !ws) loadHistory().then(connect); }
    else ui.launcher.focus();
  }

  function messageNode(m, answered) {
    const meta = m.meta || {};
    if (m.author === 'system') return h('div', { class: 'msg system' }, m.text);
    const cls = 'msg ' + m.author;
    if (m.author === 'shopper') return h('div', { class: cls }, m.text);
    const by = m.author === 'agent' ? (meta.agent_name || '') : t('bot');
    const card = meta.card && typeof meta.card === 'object' ? orderCard(meta.card) : null;
    const el = h('div', { class: cls + (card ? ' has-card' : '') }, h('span', { class: 'by' }, by));
    if (m.author === 'bot' && meta.kind === 'answer') el.append(markdown(m.text));
    else el.append(document.createTextNode(m.text));
    if (card) el.append(card);
    const buttons = Array.isArray(meta.buttons) ? meta.buttons.filter((b) => b && b.label && b.value) : [];
    if (!buttons.length) return el;
    // Buttons answer this message only: once the shopper has said anything after it (a tap
    // or typing), they are spent.
    const chosen = state.tapped.get(m.seq);
    const row = h('div', { class: 'choices', role: 'group', 'aria-label': t('options') },
      buttons.map((b) => h('button', {
        type: 'button', disabled: answered, 'aria-pressed': chosen === b.value ? 'true' : null,
        onclick: () => tap(m.seq, b.value, row),
      }, b.label)));
    return [el, row];
  }

  function tap(seq, value, row) {
    if (state.tapped.has(seq)) return;
    state.tapped.set(seq, value);
    for (const b of row.querySelectorAll('button')) b.disabled = true;
    sendText(String(value));
  }

  /** An order card: number, status, items, amount, and an optional timeline. Text only. */
  function orderCard(card) {
    const o = card.order && typeof card.order === 'object' ? card.order : null;
    const trace = Array.isArray(card.trace) ? card.trace.filter((e) => e && (e.time || e.text)) : [];
    const el = h('div', { class: 'order', role: 'group', 'aria-label': t('order') + (o && o.number ? ' ' + o.number : '') });
    if (card.title) el.append(h('div', { class: 'title' }, card.title));
    if (o) {
      el.append(h('div', { class: 'head' },
        h('span', { class: 'number' }, (o.number ? t('order') + ' ' + o.number : '')),
        (o.status_label || o.status) && h('span', { class: 'state ' + String(o.status || '').replace(/[^a-z_]/g, '') }, o.status_label || o.status)));
      const items = Array.isArray(o.items) ? o.items.filter((i) => i && i.name) : [];
      if (items.length) {
        el.append(h('ul', null, items.map((i) => h('li', { class: 'item' },
          h('span', { class: 'name' }, `${i.name} × ${i.qty === undefined || i.qty === null ? 1 : i.qty}`),
          i.price !== undefined && i.price !== null && h('span', { class: 'price' }, money(i.price, o.currency))))));
      }
      if (o.amount !== undefined && o.amount !== null) el.append(h('div', { class: 'amount' }, `${t('total')} ${money(o.amount, o.currency)}`));
    }
    if (trace.length) {
      el.append(h('ol', { class: 'trace', 'aria-label': t('trace') }, trace.map((e) => h('li', null,
        e.time && h('time', null, e.time), h('span', { class: 'text' }, e.text || '')))));
    }
    return el;
  }
  function money(amount, currency) {
    const c = String(currency || '');
    return c === 'CNY' || c === 'RMB' || c === '' ? `¥${amount}` : `${amount} ${c}`;
  }

  function render() {
    ui.launcher.textContent = t('launcher');
    ui.launcher.hidden = state.open;
    ui.launcher.setAttribute('aria-expanded', String(state.open));
    ui.panel.hidden = !state.open;
    ui.panel.setAttribute('aria-label', t('title'));
    ui.title.textContent = t('title');
    ui.langBtn.textContent = t('switchTo');
    ui.langBtn.setAttribute('lang', state.lang === 'zh' ? 'en' : 'zh');
    ui.closeBtn.textContent = '×';
    ui.closeBtn.setAttribute('aria-label', t('close'));
    ui.status.textContent = state.convState === 'assigned' && state.agentName ? t('assigned', state.agentName)
      : state.convState === 'queued' ? t('queued') : t('bot');
    const q = state.convState === 'queued' && state.queue;
    ui.banner.hidden = !q;
    if (q) ui.banner.textContent = t('position', q.position, q.eta_seconds ? Math.max(1, Math.ceil(q.eta_seconds / 60)) : 0);
    ui.net.hidden = connected || !state.id;
    ui.net.textContent = t('offline');
    ui.typing.textContent = t('typing');
    ui.humanBtn.textContent = t('human');
    ui.humanBtn.hidden = state.convState === 'queued' || state.convState === 'assigned';
    ui.leaveBtn.textContent = t('leave');
    ui.input.placeholder = t('placeholder');
    ui.input.setAttribute('aria-label', t('placeholder'));
    ui.sendBtn.textContent = t('send');
    const lc = ui.leaveCard;
    lc.querySelector('h3').textContent = t('leaveTitle');
    lc.refs.contact.placeholder = t('contact'); lc.refs.contact.setAttribute('aria-label', t('contact'));
    lc.refs.text.placeholder = t('message'); lc.refs.text.setAttribute('aria-label', t('message'));
    lc.querySelector('.secondary').textContent = t('cancel');
    lc.querySelector('.primary').textContent = t('submit');
    const rc = ui.rateCard;
    rc.querySelector('h3').textContent = t('rateTitle');
    rc.refs.stars.forEach((s, i) => s.setAttribute('aria-label', t('star', i + 1)));
    rc.refs.comment.placeholder = t('comment'); rc.refs.comment.setAttribute('aria-label', t('comment'));
    rc.querySelector('.primary').textContent = t('submit');

    const sorted = [...state.messages.values()].sort((a, b) => a.seq - b.seq);
    let lastShopper = 0;
    for (const m of sorted) if (m.author === 'shopper') lastShopper = m.seq;
    const nodes = sorted.flatMap((m) => messageNode(m, state.outbox.length > 0 || lastShopper > m.seq || state.tapped.has(m.seq)));
    // What the last notices ask for: a leave-a-message form, a rating.
    let offerLeave = false; let askRating = false;
    for (const m of sorted) {
      const meta = m.meta || {};
      if (meta.leave_message) offerLeave = true;
      if (meta.notice === 'ticket_received' || meta.notice === 'assigned') offerLeave = false;
      if (meta.notice === 'resolved') askRating = true;
      if (meta.notice === 'rated' || (m.author === 'shopper' && askRating && m.seq > lastResolvedSeq(sorted))) askRating = false;
    }
    ui.leaveBtn.hidden = !offerLeave || !lc.hidden;
    const last = sorted[sorted.length - 1];
    if (last && last.meta && last.meta.suggestions && last.meta.suggestions.length && !state.outbox.length) {
      nodes.push(h('div', { class: 'suggest', role: 'group', 'aria-label': t('didYouMean') },
        last.meta.suggestions.map((s) => h('button', { type: 'button', onclick: () => sendText(s.question) }, s.question))));
    }
    for (const o of state.outbox) {
      nodes.push(h('div', { class: 'msg shopper pending' }, o.text, h('div', { class: 'note' }, o.retrying ? t('retrying') : t('sending'))));
    }
    for (const f of state.failed) nodes.push(h('div', { class: 'msg system' }, t('failed') + f.why));
    const empty = !sorted.length && !state.outbox.length;
    if (empty && state.open && (!state.welcome || state.welcome.lang !== state.lang)) loadWelcome(0);
    if (empty) nodes.unshift(...welcomeNode());
    if (!lc.hidden) nodes.push(lc);
    if (askRating) { rc.hidden = false; nodes.push(rc); } else rc.hidden = true;
    ui.log.replaceChildren(...nodes);
    ui.log.scrollTop = ui.log.scrollHeight;
  }
  function lastResolvedSeq(sorted) {
    let s = 0; for (const m of sorted) if (m.meta && m.meta.notice === 'resolved') s = m.seq; return s;
  }

  // The page's identity, from the script tag and from calls made before this script ran.
  const early = window.Baton && Array.isArray(window.Baton.q) ? window.Baton.q : [];
  window.Baton = { identify, setPage };
  if (data.customerToken) identify(data.customerToken);
  state.page = cleanPage({ order_number: data.pageOrderNumber, sku: data.pageSku, title: data.pageTitle, url: data.pageUrl });
  for (const [name, ...args] of early) {
    if (name === 'identify') identify(...args);
    else if (name === 'setPage') state.page = cleanPage(args[0]);
  }

  const start = () => {
    document.body.append(host);
    render();
    if (state.id) loadHistory().then(() => { connect(); flush(); sendPage(); });
  };
  if (document.body) start(); else document.addEventListener('DOMContentLoaded', start);
})();
