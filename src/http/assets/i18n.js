/*! Baton's staff pages in the reader's language. The agent console and the support
 * dashboard load this before their own script: it holds every word they show, in Chinese
 * and in English, and the reader's choice between the two.
 *
 * The language is the one last chosen on either page (localStorage 'baton.lang'), else the
 * first of the browser's languages that is Chinese or English, else English. `?lang=zh` or
 * `?lang=en` in the address chooses too (a link can open a page in a given language, and the
 * browser tests use it); it is then taken out of the address, so that a reload keeps what
 * the reader switched to since.
 *
 * Markup says which message it shows: data-i18n="key" for the text, data-i18n-placeholder,
 * data-i18n-title and data-i18n-aria-label for those attributes. A child with
 * data-i18n-slot="name" stands for {name} in its parent's message, so that markup such as a
 * <code> survives the translation. Scripts use BatonI18n.t('key', {params}).
 */
(() => {
  'use strict';
  // Strict JSON between the two markers: a unit test in src/http/pages.rs reads it to check
  // that every key the pages use is here, in both languages, with the same placeholders. A
  // pair is a singular and a plural, chosen by the parameter n.
  const MESSAGES = /* messages */ {
    "common.language": { "zh": "语言", "en": "Language" },
    "common.signin": { "zh": "登录", "en": "Sign in" },
    "common.signout": { "zh": "退出", "en": "Sign out" },
    "common.network_error": { "zh": "网络错误：Baton 没有应答。", "en": "Network error: Baton did not answer." },
    "common.server_status": { "zh": "服务器返回了 {status}。", "en": "The server answered {status}." },
    "common.list_separator": { "zh": "；", "en": "; " },

    "time.s": { "zh": "{n} 秒", "en": "{n} s" },
    "time.min": { "zh": "{n} 分钟", "en": "{n} min" },
    "time.h": { "zh": "{n} 小时", "en": "{n} h" },
    "time.d": { "zh": "{n} 天", "en": "{n} d" },

    "status.online": { "zh": "在线", "en": "Online" },
    "status.away": { "zh": "离开", "en": "Away" },
    "status.offline": { "zh": "离线", "en": "Offline" },

    "reason.requested_human": { "zh": "顾客要求人工", "en": "Asked for a person" },
    "reason.complaint": { "zh": "投诉/情绪激动", "en": "Complaint or upset" },
    "reason.low_confidence": { "zh": "机器人未理解", "en": "Bot unsure" },
    "reason.intent_policy": { "zh": "需人工处理（意图）", "en": "Needs a person (intent)" },
    "reason.action_failed": { "zh": "订单系统调用失败", "en": "Order system call failed" },
    "reason.faq_policy": { "zh": "问答后转人工跟进", "en": "Needs a person (FAQ)" },
    "reason.trigger_rule": { "zh": "触发规则", "en": "Trigger rule" },
    "reason.reception": { "zh": "人工优先接待", "en": "Person first (reception)" },

    "priority.high": { "zh": "优先", "en": "High" },
    "priority.urgent": { "zh": "紧急", "en": "Urgent" },

    "state.bot": { "zh": "机器人接待", "en": "With the bot" },
    "state.queued": { "zh": "排队中", "en": "Queued" },
    "state.assigned": { "zh": "人工接待中", "en": "With an agent" },
    "state.resolved": { "zh": "已解决", "en": "Resolved" },

    "author.shopper": { "zh": "顾客", "en": "Shopper" },
    "author.bot": { "zh": "机器人", "en": "Bot" },
    "author.agent": { "zh": "客服", "en": "Agent" },
    "author.system": { "zh": "系统", "en": "System" },

    "decision.answer": { "zh": "问答回答", "en": "FAQ answer" },
    "decision.reply": { "zh": "固定回复", "en": "fixed reply" },
    "decision.clarify": { "zh": "追问", "en": "asked what was meant" },
    "decision.escalate": { "zh": "转人工", "en": "handed to a person" },
    "decision.silent": { "zh": "人工接待中，未回复", "en": "silent: an agent holds it" },
    "decision.agent": { "zh": "客服消息", "en": "agent message" },
    "decision.notice": { "zh": "系统通知", "en": "notice" },
    "decision.task": { "zh": "订单任务", "en": "order task" },

    "entity.order_number": { "zh": "订单号", "en": "Order number" },
    "entity.phone": { "zh": "手机号", "en": "Phone" },
    "entity.email": { "zh": "邮箱", "en": "Email" },
    "entity.id_number": { "zh": "身份证号", "en": "ID number" },
    "entity.card_number": { "zh": "银行卡号", "en": "Card number" },
    "entity.address": { "zh": "地址", "en": "Address" },

    "call.order": { "zh": "订单", "en": "Order" },
    "call.recent_orders": { "zh": "最近订单", "en": "Recent orders" },
    "call.logistics": { "zh": "物流", "en": "Logistics" },
    "call.refund": { "zh": "退款", "en": "Refund" },
    "call.cancel": { "zh": "取消订单", "en": "Cancel order" },
    "call.change_address": { "zh": "修改地址", "en": "Change address" },
    "call.stock": { "zh": "库存", "en": "Stock" },

    "outcome.ok": { "zh": "成功", "en": "ok" },
    "outcome.not_found": { "zh": "未找到", "en": "not found" },
    "outcome.not_allowed": { "zh": "当前状态不允许", "en": "not allowed" },
    "outcome.timeout": { "zh": "超时", "en": "timeout" },
    "outcome.unreachable": { "zh": "无法连接", "en": "unreachable" },
    "outcome.http_error": { "zh": "HTTP 错误", "en": "HTTP error" },
    "outcome.malformed": { "zh": "应答格式有误", "en": "malformed answer" },
    "outcome.too_large": { "zh": "应答过大", "en": "answer too large" },
    "outcome.breaker_open": { "zh": "已熔断", "en": "breaker open" },
    "outcome.refused": { "zh": "地址不允许", "en": "address refused" },
    "outcome.wrong_customer": { "zh": "其他顾客的数据", "en": "another customer's data" },

    "ended.resolve": { "zh": "已解决", "en": "resolved" },
    "ended.return_to_bot": { "zh": "已交回机器人", "en": "returned to the bot" },
    "ended.transferred": { "zh": "已转接", "en": "transferred" },
    "ended.take_over": { "zh": "主管已接管", "en": "taken over by a supervisor" },
    "ended.reassign": { "zh": "主管已改派", "en": "reassigned by a supervisor" },
    "ended.erased": { "zh": "数据已删除", "en": "erased" },

    "gap.low_confidence": { "zh": "机器人没把握", "en": "bot unsure" },
    "gap.didnt_help": { "zh": "回答没有帮助", "en": "didn't help" },
    "gap.requested_human": { "zh": "要求人工", "en": "asked for a person" },

    "console.title": { "zh": "Baton · 客服工作台", "en": "Baton · Agent console" },
    "console.title.alert": { "zh": "● {what} · Baton", "en": "● {what} · Baton" },
    "console.signin.heading": { "zh": "Baton 客服工作台", "en": "Baton agent console" },
    "console.signin.hint": { "zh": "用 {cmd} 给出的令牌登录。", "en": "Sign in with the token that {cmd} gave you." },
    "console.signin.token": { "zh": "客服令牌", "en": "Agent token" },
    "console.signin.invalid": { "zh": "令牌无效。", "en": "That token is not valid." },
    "console.status": { "zh": "状态", "en": "Status" },
    "console.me.capacity": { "zh": "最多 {n} 个会话", "en": "up to {n} chats" },
    "console.conn.ok": { "zh": "● 已连接", "en": "● Connected" },
    "console.conn.retrying": { "zh": "● 重连中…", "en": "● Reconnecting…" },
    "console.notify": { "zh": "开启提醒", "en": "Turn on alerts" },
    "console.notify.on": { "zh": "提醒已开启", "en": "Alerts on" },
    "console.notify.sound": { "zh": "仅声音提醒", "en": "Sound alerts only" },
    "console.alert.offer": { "zh": "新会话", "en": "New conversation" },
    "console.alert.assigned": { "zh": "已接入", "en": "Assigned to you" },
    "console.alert.ticket": { "zh": "新留言", "en": "New message left" },
    "console.alert.rule": { "zh": "规则提醒", "en": "Rule alert" },
    "console.offers": { "zh": "待接入", "en": "Offered to you" },
    "console.mine": { "zh": "我的会话", "en": "My conversations" },
    "console.queue": { "zh": "排队中", "en": "Queued" },
    "console.tickets": { "zh": "留言", "en": "Messages left" },
    "console.guest": { "zh": "访客", "en": "Guest" },
    "console.accept": { "zh": "接入", "en": "Accept" },
    "console.skip": { "zh": "跳过", "en": "Skip" },
    "console.take": { "zh": "接入", "en": "Take" },
    "console.ticket.done": { "zh": "已处理", "en": "Done" },
    "console.badge.unverified": { "zh": "未验证", "en": "Unverified" },
    "console.badge.unverified.title": { "zh": "身份未经商城签名", "en": "Identity not signed by the shop" },
    "console.badge.verified": { "zh": "已验证", "en": "Verified" },
    "console.badge.verified.title": { "zh": "身份由商城服务器签名", "en": "Identity signed by the shop" },
    "console.badge.guest": { "zh": "未验证访客", "en": "Unverified guest" },
    "console.badge.guest.title": { "zh": "身份未经商城签名，仅供参考", "en": "Identity not signed by the shop: a claim only" },
    "console.badge.sla_wait": { "zh": "等待超时", "en": "Wait SLA missed" },
    "console.badge.sla_reply": { "zh": "回复超时", "en": "Reply SLA missed" },
    "console.badge.rule_tag": { "zh": "规则标签", "en": "Tag from a trigger rule" },
    "console.badge.returning": { "zh": "老顾客", "en": "Returning customer" },
    "console.badge.returning_yours": { "zh": "老顾客 · 上次由您接待", "en": "Returning · you helped them last" },
    "console.badge.returning.title": { "zh": "这位已验证的顾客最近联系过，先分配给上次接待的客服。", "en": "This verified customer was helped recently; it is offered first to the agent who helped them last." },
    "console.badge.waiting": { "zh": "等待 {time}", "en": "Waiting {time}" },
    "console.empty": { "zh": "选择左侧的会话开始处理。", "en": "Pick a conversation on the left." },
    "console.ended": { "zh": "这个会话已不由您处理。", "en": "This conversation is no longer yours." },
    "console.ended.why": { "zh": "这个会话已不由您处理（{why}）。", "en": "This conversation is no longer yours ({why})." },
    "console.wrap.category": { "zh": "结案分类", "en": "Wrap-up category" },
    "console.wrap.pick": { "zh": "结案分类…", "en": "Category…" },
    "console.wrap.pick_required": { "zh": "结案分类（必选）…", "en": "Category (required)…" },
    "console.wrap.summary": { "zh": "小结", "en": "Summary" },
    "console.wrap.summary_hint": { "zh": "小结（可选）", "en": "Summary (optional)" },
    "console.resolve": { "zh": "解决", "en": "Resolve" },
    "console.return": { "zh": "交回机器人", "en": "Return to bot" },
    "console.reveal": { "zh": "显示完整信息（留审计记录）", "en": "Reveal (audited)" },
    "console.typing": { "zh": "顾客正在输入…", "en": "The shopper is typing…" },
    "console.assist": { "zh": "推荐回复", "en": "Suggestions" },
    "console.assist.use": { "zh": "填入回复框", "en": "Put in the reply box" },
    "console.reply": { "zh": "回复", "en": "Reply" },
    "console.reply.hint": { "zh": "回复顾客…（Enter 发送）", "en": "Reply to the shopper (Enter to send)" },
    "console.send": { "zh": "发送", "en": "Send" },
    "console.page": { "zh": "顾客所在页面", "en": "Page" },
    "console.page.none": { "zh": "未提供", "en": "Not given" },
    "console.page.sku": { "zh": "SKU {sku}", "en": "SKU {sku}" },
    "console.page.order": { "zh": "订单 {number}", "en": "Order {number}" },
    "console.orders": { "zh": "订单", "en": "Orders" },
    "console.orders.none": { "zh": "尚未查询订单", "en": "None looked up yet" },
    "console.lookup": { "zh": "查询商城", "en": "Look up" },
    "console.lookup.call": { "zh": "查询内容", "en": "What to look up" },
    "console.lookup.key": { "zh": "订单号或 SKU", "en": "Order number or SKU" },
    "console.lookup.hint.order": { "zh": "订单号", "en": "Order number" },
    "console.lookup.hint.customer": { "zh": "按顾客账号查询，无需填写", "en": "By the customer: nothing to enter" },
    "console.lookup.hint.sku": { "zh": "SKU，例如 SKU-1001", "en": "SKU, e.g. SKU-1001" },
    "console.lookup.submit": { "zh": "查询", "en": "Look up" },
    "console.lookup.pending": { "zh": "正在查询 {what}…", "en": "Looking up {what}…" },
    "console.lookup.need_order": { "zh": "请填写订单号", "en": "Enter an order number" },
    "console.lookup.need_sku": { "zh": "请填写 SKU", "en": "Enter a SKU" },
    "console.calls": { "zh": "商城接口调用", "en": "Shop calls" },
    "console.calls.none": { "zh": "暂无", "en": "None" },
    "console.call.timing": { "zh": "{tries} 次 · {ms} 毫秒", "en": "{tries}× · {ms} ms" },
    "console.notes": { "zh": "内部备注", "en": "Notes" },
    "console.supervise": { "zh": "班组监控", "en": "Supervise" },
    "console.supervise.team": { "zh": "班组客服", "en": "Agents of your groups" },
    "console.supervise.queued": { "zh": "排队中", "en": "Waiting" },
    "console.supervise.with_bot": { "zh": "机器人接待中", "en": "With the bot" },
    "console.supervise.waiting_reply": { "zh": "顾客等回复 {time}", "en": "Shopper waiting {time} for a reply" },
    "console.supervise.load": { "zh": "{status} · {load}/{max} 个会话", "en": "{status} · {load}/{max} chats" },
    "console.supervise.watching": { "zh": "旁听中：接待客服和顾客都不会收到提示。", "en": "Watching: neither the agent nor the shopper is told." },
    "console.take_over": { "zh": "接管", "en": "Take over" },
    "console.reassign": { "zh": "改派", "en": "Reassign" },
    "console.reassign.pick": { "zh": "改派给…", "en": "Reassign to…" },
    "console.whisper": { "zh": "悄悄话", "en": "Whisper" },
    "console.whisper.hint": { "zh": "只有接待客服能看到，顾客看不到", "en": "Only the agent sees this, never the shopper" },
    "console.whisper.send": { "zh": "发送悄悄话", "en": "Whisper" },
    "console.quality": { "zh": "质检", "en": "Quality" },
    "console.quality.queue": { "zh": "待评审", "en": "To review" },
    "console.quality.mine": { "zh": "我的质检", "en": "My reviews" },
    "console.quality.sampled": { "zh": "抽检", "en": "Sampled" },
    "console.quality.title": { "zh": "{agent} 的会话 · {time} 结束", "en": "{agent}'s conversation · closed {time}" },
    "console.quality.scores": { "zh": "规则分 {auto} · 最终 {final}", "en": "Rules {auto} · final {final}" },
    "console.quality.findings": { "zh": "规则发现", "en": "What the rules found" },
    "console.quality.none": { "zh": "规则没有发现问题。", "en": "The rules found nothing." },
    "console.quality.none_sampled": { "zh": "规则没有发现问题，这条是抽检。", "en": "The rules found nothing; this one was sampled." },
    "console.quality.found.phrase": { "zh": "第 {seq} 条消息说了“{phrase}”", "en": "message {seq} says “{phrase}”" },
    "console.quality.found.slow": { "zh": "首次回复用了 {time}，上限 {limit}", "en": "first reply after {time}, limit {limit}" },
    "console.quality.found.no_reply": { "zh": "没有回复顾客", "en": "never answered the shopper" },
    "console.quality.found.no_greeting": { "zh": "第一条回复没有问候", "en": "the first reply has no greeting" },
    "console.quality.found.rating": { "zh": "顾客评分 {n}", "en": "rated {n} by the shopper" },
    "console.quality.found.returned": { "zh": "未解决就交回了机器人", "en": "handed back to the bot unresolved" },
    "console.quality.reviewed": { "zh": "{who} 评分 {score}", "en": "{who} scored {score}" },
    "console.quality.appealed": { "zh": "{who} 申诉", "en": "{who} appealed" },
    "console.quality.decided": { "zh": "{who} 复核为 {score}", "en": "{who} decided {score}" },
    "console.quality.score": { "zh": "评分（0–100）", "en": "Score (0–100)" },
    "console.quality.comment": { "zh": "评语", "en": "Comment" },
    "console.quality.comment_hint": { "zh": "给客服的说明", "en": "What the agent should know" },
    "console.quality.submit": { "zh": "提交评分", "en": "Submit the score" },
    "console.quality.decide": { "zh": "复核申诉", "en": "Decide the appeal" },
    "console.quality.appeal": { "zh": "申诉", "en": "Appeal" },
    "console.quality.appeal_hint": { "zh": "为什么这次评分不对？每条质检只能申诉一次。", "en": "Why is this score wrong? Each review can be appealed once." },
    "console.quality.appeal_send": { "zh": "申诉", "en": "Appeal" },
    "review_state.auto": { "zh": "自动评分", "en": "Scored" },
    "review_state.pending": { "zh": "待评审", "en": "To review" },
    "review_state.reviewed": { "zh": "已评审", "en": "Reviewed" },
    "review_state.appealed": { "zh": "申诉中", "en": "Appealed" },
    "review_state.closed": { "zh": "已复核", "en": "Decided" },
    "review_outcome.resolved": { "zh": "已解决", "en": "Resolved" },
    "review_outcome.returned": { "zh": "交回机器人", "en": "Returned to the bot" },
    "console.badge.whisper": { "zh": "主管悄悄话", "en": "Whisper" },
    "console.alert.whisper": { "zh": "主管发来悄悄话", "en": "A whisper from your supervisor" },
    "console.note": { "zh": "备注", "en": "Note" },
    "console.note.hint": { "zh": "仅客服可见", "en": "Only agents see this" },
    "console.note.add": { "zh": "添加备注", "en": "Add note" },
    "console.transfer": { "zh": "转接", "en": "Transfer" },
    "console.transfer.skill": { "zh": "技能组", "en": "Skill group" },
    "console.transfer.skill_hint": { "zh": "技能组，例如 billing", "en": "Skill group, e.g. billing" },
    "console.transfer.agent": { "zh": "客服", "en": "Agent" },
    "console.transfer.agent_hint": { "zh": "或客服姓名", "en": "or an agent's name" },
    "console.transfer.note": { "zh": "转接说明", "en": "Transfer note" },
    "console.transfer.note_hint": { "zh": "转接说明", "en": "A note for the next agent" },
    "console.transfer.submit": { "zh": "转接", "en": "Transfer" },

    "admin.title": { "zh": "Baton · 客服数据看板", "en": "Baton · Support dashboard" },
    "admin.signin.heading": { "zh": "Baton 客服数据看板", "en": "Baton support dashboard" },
    "admin.signin.hint": { "zh": "用管理员令牌（{env}）登录。令牌只保存在这个浏览器标签页里。", "en": "Sign in with the admin token ({env}). It is kept for this browser tab only." },
    "admin.signin.token": { "zh": "管理员令牌", "en": "Admin token" },
    "admin.signin.refused": { "zh": "这个令牌未被接受。", "en": "That token was not accepted." },
    "admin.signin.expired": { "zh": "管理员令牌未被接受（可能已更换），请重新登录。", "en": "The admin token was not accepted (it may have been changed). Sign in again." },
    "admin.signin.signed_out": { "zh": "已退出。", "en": "Signed out." },
    "admin.heading": { "zh": "客服数据看板", "en": "Support dashboard" },
    "admin.range": { "zh": "时间范围", "en": "Time range" },
    "admin.range.24h": { "zh": "最近 24 小时", "en": "Last 24 h" },
    "admin.range.7d": { "zh": "7 天", "en": "7 days" },
    "admin.range.30d": { "zh": "30 天", "en": "30 days" },
    "admin.refresh": { "zh": "刷新", "en": "Refresh" },
    "admin.loading": { "zh": "加载中…", "en": "Loading…" },
    "admin.updated": { "zh": "更新于 {time}", "en": "Updated {time}" },
    "admin.headline": { "zh": "主要指标", "en": "Headline numbers" },
    "admin.trends": { "zh": "趋势", "en": "Trends" },

    "admin.kb.title": { "zh": "知识库", "en": "Knowledge base" },
    "admin.kb.version": { "zh": "版本", "en": "version" },
    "admin.kb.loaded": { "zh": "加载于 {when}", "en": "loaded {when}" },
    "admin.kb.faqs": { "zh": "{n} 条问答", "en": ["{n} FAQ", "{n} FAQs"] },
    "admin.kb.intents": { "zh": "{n} 个意图", "en": ["{n} intent", "{n} intents"] },
    "admin.kb.examples": { "zh": "{n} 条例句", "en": ["{n} example", "{n} examples"] },
    "admin.kb.errors": { "zh": "{n} 个错误", "en": ["{n} error", "{n} errors"] },
    "admin.kb.warnings": { "zh": "{n} 个警告", "en": ["{n} warning", "{n} warnings"] },
    "admin.kb.reload_failed": { "zh": "最近一次重载（{when}）失败，仍在使用上面的版本", "en": "the last reload ({when}) failed; the version above keeps serving" },
    "admin.kb.watching": { "zh": "正在监视文件", "en": "watching files" },
    "admin.kb.unavailable": { "zh": "无法获取知识库状态：{why}", "en": "Knowledge base status unavailable: {why}" },

    "admin.tile.conversations": { "zh": "会话", "en": "Conversations" },
    "admin.tile.containment": { "zh": "机器人独立解决", "en": "Bot containment" },
    "admin.tile.escalation": { "zh": "转人工率", "en": "Escalation rate" },
    "admin.tile.queue": { "zh": "排队等待", "en": "Queue wait" },
    "admin.tile.first": { "zh": "首次回复", "en": "First response" },
    "admin.tile.handle": { "zh": "处理时长", "en": "Handle time" },
    "admin.tile.csat": { "zh": "满意度", "en": "CSAT" },
    "admin.tile.reloads": { "zh": "知识库重载", "en": "Knowledge reloads" },
    "admin.tile.since": { "zh": "自 {when} 起", "en": "since {when}" },
    "admin.tile.contained": { "zh": "{n} 个由机器人独立解决", "en": "{n} answered by the bot alone" },
    "admin.tile.escalated": { "zh": "{n} 个转给人工", "en": ["{n} handed to a person", "{n} handed to people"] },
    "admin.tile.measured": { "zh": "共 {n} 次", "en": "{n} measured" },
    "admin.tile.reloads.ok": { "zh": "成功", "en": "ok" },
    "admin.tile.reloads.failed": { "zh": "失败", "en": "failed" },
    "admin.tile.reloads.some_failed": { "zh": "有重载失败：最新的错误见上方的知识库一栏", "en": "some reloads failed: the knowledge base line above has the latest errors" },
    "admin.tile.reloads.all_applied": { "zh": "每次重载都已生效", "en": "every reload applied" },
    "admin.tile.reloads.none": { "zh": "没有重载", "en": "no reloads" },
    "admin.stats.error": { "zh": "无法加载统计数字：{why}", "en": "Could not load the numbers: {why}" },
    "admin.stats.none": { "zh": "没有数据。", "en": "No data." },

    "admin.n.conversations": { "zh": "{n} 个会话", "en": ["{n} conversation", "{n} conversations"] },
    "admin.n.escalations": { "zh": "{n} 次转人工", "en": ["{n} escalation", "{n} escalations"] },
    "admin.n.ratings": { "zh": "{n} 个评分", "en": ["{n} rating", "{n} ratings"] },
    "admin.n.messages": { "zh": "{n} 条消息", "en": ["{n} message", "{n} messages"] },
    "admin.n.hits": { "zh": "命中 {n} 次", "en": ["{n} hit", "{n} hits"] },
    "admin.n.times": { "zh": "{n} 次", "en": ["{n} time", "{n} times"] },

    "admin.legend.conversations": { "zh": "会话", "en": "Conversations" },
    "admin.legend.escalations": { "zh": "转人工", "en": "Escalations" },
    "admin.legend.confidence": { "zh": "机器人对每条顾客消息有多大把握", "en": "How sure the bot was of each shopper message" },
    "admin.legend.hits": { "zh": "命中", "en": "Hits" },
    "admin.legend.didnt_help": { "zh": "没有帮助", "en": "Didn't help" },
    "admin.chart.empty": { "zh": "这段时间没有数据。", "en": "No data in this range." },
    "admin.chart.hour": { "zh": "小时", "en": "hour" },
    "admin.chart.day": { "zh": "天", "en": "day" },
    "admin.chart.per": { "zh": "每{unit}", "en": "per {unit}" },
    "admin.chart.so_far": { "zh": "{span}（截至目前）", "en": "{span} (so far)" },
    "admin.chart.no_conversations": { "zh": "这段时间没有会话。", "en": "No conversations in this range." },
    "admin.chart.no_ratings": { "zh": "这段时间没有评分。", "en": "No ratings in this range." },
    "admin.chart.volume": { "zh": "会话与转人工", "en": "Conversations and escalations" },
    "admin.chart.volume.per": { "zh": "每{unit}的会话与转人工", "en": "Conversations and escalations per {unit}" },
    "admin.chart.reasons": { "zh": "转人工原因", "en": "Escalations by reason" },
    "admin.chart.reasons.none": { "zh": "这段时间没有转人工。", "en": "No escalations in this range." },
    "admin.chart.tags": { "zh": "按规则标签统计的会话", "en": "Conversations by rule tag" },
    "admin.chart.tags.none": { "zh": "这段时间没有会话被触发规则打上标签。", "en": "No trigger rule tagged a conversation in this range." },
    "admin.chart.containment": { "zh": "机器人独立解决率", "en": "Bot containment rate" },
    "admin.chart.containment.per": { "zh": "每{unit}的机器人独立解决率", "en": "Bot containment rate per {unit}" },
    "admin.chart.containment.axis": { "zh": "独立解决", "en": "contained" },
    "admin.chart.containment.none": { "zh": "没有会话", "en": "no conversations" },
    "admin.chart.containment.tip": { "zh": "独立解决 {pct}（{of} 个中的 {n} 个）", "en": "{pct} contained ({n} of {of})" },
    "admin.chart.csat_series": { "zh": "平均满意度", "en": "CSAT average" },
    "admin.chart.csat_series.per": { "zh": "每{unit}的平均满意度", "en": "CSAT average per {unit}" },
    "admin.chart.csat_series.axis": { "zh": "平均分", "en": "average score" },
    "admin.chart.csat_series.none": { "zh": "没有评分", "en": "no ratings" },
    "admin.chart.csat_series.tip": { "zh": "平均 {average} / 5", "en": "average {average} / 5" },
    "admin.chart.csat": { "zh": "满意度评分", "en": "CSAT ratings" },
    "admin.chart.csat.label": { "zh": "各分数的满意度评分", "en": "CSAT ratings by score" },
    "admin.chart.csat.x": { "zh": "分数", "en": "score" },
    "admin.chart.csat.y": { "zh": "评分数", "en": "ratings" },
    "admin.chart.csat.tip": { "zh": "{score} 分：{ratings}（{pct}）", "en": "Score {score}: {ratings} ({pct})" },
    "admin.chart.confidence": { "zh": "机器人置信度", "en": "Bot confidence" },
    "admin.chart.confidence.label": { "zh": "机器人置信度分布", "en": "Bot confidence distribution" },
    "admin.chart.confidence.x": { "zh": "置信度（区间起点）", "en": "confidence (bucket start)" },
    "admin.chart.confidence.y": { "zh": "消息数", "en": "messages" },
    "admin.chart.confidence.none": { "zh": "这段时间没有顾客消息。", "en": "No shopper messages in this range." },
    "admin.chart.confidence.tip": { "zh": "置信度 {from}–{to}：{messages}", "en": "Confidence {from}–{to}: {messages}" },
    "admin.chart.faqs": { "zh": "热门问答", "en": "Top FAQs" },
    "admin.chart.faqs.label": { "zh": "按命中次数排列的热门问答", "en": "Top FAQs by hits" },
    "admin.chart.faqs.none": { "zh": "这段时间没有用问答回答。", "en": "No FAQ answers in this range." },
    "admin.chart.faqs.text": { "zh": "{hits} · {n} 次没有帮助", "en": "{hits} · {n} didn't help" },
    "admin.chart.faqs.tip": { "zh": "{id}：{hits}，{n} 次没有帮助（{pct}）", "en": "{id}: {hits}, {n} didn't help ({pct})" },
    "admin.chart.intents": { "zh": "意图分布", "en": "Intent volume" },
    "admin.chart.intents.none": { "zh": "这段时间没有识别出意图。", "en": "No intents recognised in this range." },

    "admin.gaps": { "zh": "知识缺口", "en": "Knowledge gaps" },
    "admin.gaps.about": { "zh": "机器人没能答好的问题，按意思归组，最常见的在前。", "en": "Questions the bot could not answer well, grouped by meaning. Most frequent first." },
    "admin.gaps.error": { "zh": "无法加载知识缺口：{why}", "en": "Could not load the knowledge gaps: {why}" },
    "admin.gaps.none": { "zh": "这段时间没有知识缺口。", "en": "No knowledge gaps in this range." },
    "admin.gap.meta": { "zh": "在 {conversations}中被问了 {times} · 首次 {first} · 最近 {last}", "en": "Asked {times} in {conversations} · first seen {first} · last seen {last}" },
    "admin.gap.nearest": { "zh": "最接近的问答：", "en": "Nearest FAQ:" },
    "admin.gap.similarity": { "zh": "相似度 {score}", "en": "similarity {score}" },
    "admin.gap.no_nearest": { "zh": "没有相近的问答。", "en": "No FAQ comes close." },

    "admin.drafts": { "zh": "问答草稿", "en": "Drafts" },
    "admin.drafts.about": { "zh": "等待审核的问答草稿。通过后草稿按原文写成问答文件；驳回则删除。", "en": "FAQ drafts waiting for review. Approving writes the draft, with its own text, as an FAQ file; rejecting drops it." },
    "admin.drafts.error": { "zh": "无法加载草稿：{why}", "en": "Could not load the drafts: {why}" },
    "admin.drafts.none": { "zh": "没有等待审核的草稿。", "en": "No drafts waiting for review." },
    "admin.words": { "zh": "敏感词", "en": "Word lists" },
    "admin.words.about": { "zh": "敏感词在顾客和客服消息中的命中：哪个词表、哪个词、谁发的。这里不保存消息本身。", "en": "What the word lists caught in shoppers' and agents' messages: which list, which word, who wrote it. The messages themselves are not kept here." },
    "admin.words.error": { "zh": "无法加载敏感词命中：{why}", "en": "Could not load the word-list matches: {why}" },
    "admin.words.none": { "zh": "这段时间没有命中。", "en": "Nothing caught in this period." },
    "admin.words.count": { "zh": "{list} · {action}：{n}", "en": "{list} · {action}: {n}" },
    "admin.words.hit": { "zh": "{when} · {author} · 会话 {id}", "en": "{when} · {author} · conversation {id}" },
    "admin.words.author.shopper": { "zh": "顾客", "en": "shopper" },
    "admin.words.author.agent": { "zh": "客服 {agent}", "en": "agent {agent}" },
    "word_action.mask": { "zh": "打码", "en": "masked" },
    "word_action.block": { "zh": "拦截", "en": "blocked" },
    "word_action.alert": { "zh": "提醒", "en": "alerted" },
    "admin.quality": { "zh": "质检", "en": "Quality review" },
    "admin.quality.about": { "zh": "客服结束的会话，按质检规则文件评分。主管在工作台里评审；数字是等待评审的会话数。", "en": "Conversations agents closed, scored by the rules of quality.yaml. Supervisors review them in the console; the number is how many wait for a reviewer." },
    "admin.quality.agent": { "zh": "{agent}：{n} 条，平均 {average} 分，{findings} 项发现", "en": "{agent}: {n} reviewed, average {average}, {findings} findings" },
    "admin.quality.none": { "zh": "这段时间没有结束的人工会话。", "en": "No conversation with an agent closed in this period." },
    "admin.quality.error": { "zh": "质检数据读取失败：{why}", "en": "Could not read the quality reviews: {why}" },
    "admin.quality.export": { "zh": "导出 CSV", "en": "Export as CSV" },
    "admin.rules": { "zh": "规则", "en": "Rules" },
    "admin.rules.about": { "zh": "负责人的规则文件。保存时先按检查命令的方式检查，再写入并记入审计日志，几秒内生效；有错误的文件会被拒绝并指出行号，什么都不会改变。", "en": "The support lead's files under intents/rules/. Saving checks the file as baton lint does, writes it, records it in the audit log, and it is live within seconds; a broken file is refused with its lines and nothing changes." },
    "admin.rules.file": { "zh": "规则文件", "en": "Rules file" },
    "admin.rules.file.triggers": { "zh": "触发规则", "en": "Trigger rules" },
    "admin.rules.file.reception": { "zh": "接待模式", "en": "Who answers first" },
    "admin.rules.file.wrap_up": { "zh": "结案分类", "en": "Wrap-up categories" },
    "admin.rules.file.words": { "zh": "敏感词", "en": "Word lists" },
    "admin.rules.file.welcome": { "zh": "猜你想问", "en": "Welcome card" },
    "admin.rules.file.quality": { "zh": "质检规则", "en": "Quality review" },
    "admin.rules.text": { "zh": "文件内容", "en": "The file (YAML)" },
    "admin.rules.save": { "zh": "保存", "en": "Save" },
    "admin.rules.revert": { "zh": "放弃修改", "en": "Discard changes" },
    "admin.rules.saved": { "zh": "已保存 {path}，几秒内生效。", "en": "Saved {path}; live within seconds." },
    "admin.rules.conflict": { "zh": "这个文件在你打开后被别人改过了。先放弃修改，重新打开再改。", "en": "Someone changed this file since you opened it. Discard your changes and edit it again." },
    "admin.rules.refused": { "zh": "没有保存：{why}", "en": "Not saved: {why}" },
    "admin.rules.error": { "zh": "无法读取规则文件：{why}", "en": "Could not read the rules file: {why}" },
    "admin.rules.at_line": { "zh": "第 {line} 行：{message}", "en": "line {line}: {message}" },
    "admin.blocks": { "zh": "黑名单", "en": "Blacklist" },
    "admin.blocks.about": { "zh": "被拉黑的顾客（按已验证的顾客编号）和网络会收到礼貌的拒绝，消息不会到达客服。每次拉黑和解除都记入审计日志。", "en": "Blocked customers (their verified id) and networks get a polite refusal; nothing of theirs reaches an agent. Every block and lift is audited." },
    "admin.blocks.kind": { "zh": "拉黑对象", "en": "What to block" },
    "admin.blocks.kind.customer": { "zh": "顾客编号", "en": "Customer id" },
    "admin.blocks.kind.network": { "zh": "IP 或网段", "en": "Address or range" },
    "admin.blocks.target": { "zh": "如 10086 或 203.0.113.0/24", "en": "e.g. 10086 or 203.0.113.0/24" },
    "admin.blocks.reason": { "zh": "原因（仅团队可见）", "en": "Reason (the team only)" },
    "admin.blocks.hours": { "zh": "小时（留空为永久）", "en": "Hours (empty: until lifted)" },
    "admin.blocks.add": { "zh": "拉黑", "en": "Block" },
    "admin.blocks.lift": { "zh": "解除", "en": "Lift" },
    "admin.blocks.none": { "zh": "黑名单为空。", "en": "Nobody is blocked." },
    "admin.blocks.error": { "zh": "操作失败：{why}", "en": "That did not work: {why}" },
    "admin.blocks.meta": { "zh": "{reason} · {by} 于 {when} 拉黑 · {until}", "en": "{reason} · by {by} on {when} · {until}" },
    "admin.blocks.forever": { "zh": "直到解除", "en": "until lifted" },
    "admin.blocks.until": { "zh": "到 {when} 为止", "en": "until {when}" },
    "admin.draft.approve": { "zh": "通过", "en": "Approve" },
    "admin.draft.reject": { "zh": "驳回", "en": "Reject" },
    "admin.draft.approve_failed": { "zh": "无法通过这条草稿：{why}", "en": "Could not approve this draft: {why}" },
    "admin.draft.reject_failed": { "zh": "无法驳回这条草稿：{why}", "en": "Could not reject this draft: {why}" },
    "admin.draft.approved": { "zh": "已通过“{question}”，作为问答 {id}（{lang}）写入 {path}。", "en": "Approved “{question}” as FAQ {id} ({lang}), written to {path}." },
    "admin.draft.rejected": { "zh": "已驳回“{question}”。", "en": "Rejected “{question}”." },
    "admin.draft.suggested_id": { "zh": "建议的问答 id", "en": "Suggested FAQ id" },
    "admin.draft.alternates": { "zh": "其他问法：{questions}", "en": "Also asked as: {questions}" },
    "admin.draft.drafted": { "zh": "起草于 {when}", "en": "Drafted {when}" },
    "admin.draft.drafted_from": { "zh": "起草于 {when}，来自会话 {id}", "en": "Drafted {when} from conversation {id}" }
  } /* /messages */;

  const STORE = 'baton.lang';
  const LOCALES = { zh: 'zh-CN', en: 'en-GB' };
  const listeners = [];
  const unknown = new Set();
  /** Elements a script filled with say(): translated again on a switch, while they still
   * show what say() put there. */
  const said = new Map();

  const known = (l) => {
    const s = String(l || '').toLowerCase();
    return s.startsWith('zh') ? 'zh' : s.startsWith('en') ? 'en' : null;
  };
  // Storage can be switched off; the choice then lasts as long as the page.
  const load = () => { try { return localStorage.getItem(STORE); } catch (_) { return null; } };
  const save = (l) => { try { localStorage.setItem(STORE, l); } catch (_) { /* not kept */ } };

  function chosen() {
    const params = new URLSearchParams(location.search);
    if (params.has('lang')) {
      const asked = known(params.get('lang'));
      if (asked) save(asked);
      params.delete('lang');
      const rest = params.toString();
      history.replaceState(history.state, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
    }
    const saved = known(load());
    if (saved) return saved;
    for (const l of navigator.languages || [navigator.language]) if (known(l)) return known(l);
    return 'en';
  }
  let lang = chosen();

  const has = (key) => Object.prototype.hasOwnProperty.call(MESSAGES, key);
  const show = (v) => (typeof v === 'number' ? v.toLocaleString(LOCALES[lang]) : String(v));
  /** The message `key` in the current language, {name}s filled from `params`; a name
   * without a value stays as it is. An unknown key shows as itself. */
  function t(key, params) {
    let text = has(key) ? MESSAGES[key][lang] : undefined;
    if (text === undefined) { unknown.add(key); return key; }
    if (Array.isArray(text)) text = text[params && Number(params.n) === 1 ? 0 : 1];
    return text.replace(/\{(\w+)\}/g, (all, name) => (params && params[name] !== undefined && params[name] !== null ? show(params[name]) : all));
  }
  /** A code the server sends (a reason, a status…) in words, or the code itself when it is
   * one this page does not know. */
  const code = (kind, value) => (value === undefined || value === null ? ''
    : has(`${kind}.${value}`) ? t(`${kind}.${value}`) : String(value));
  /** Sets an element's text to a message that follows later switches (until the page puts
   * something else there). No key empties it. */
  function say(el, key, params) {
    if (!key) { said.delete(el); el.textContent = ''; return; }
    const text = t(key, params);
    el.textContent = text;
    said.set(el, { key, params, text });
  }

  function fillSlots(el, key) {
    const slots = new Map([...el.children].filter((c) => c.hasAttribute('data-i18n-slot')).map((c) => [c.getAttribute('data-i18n-slot'), c]));
    if (!slots.size) { el.textContent = t(key); return; }
    el.replaceChildren(...t(key).split(/(\{\w+\})/).filter(Boolean)
      .map((part) => slots.get(part.slice(1, -1)) || document.createTextNode(part)));
  }
  const ATTRIBUTES = [['data-i18n-placeholder', 'placeholder'], ['data-i18n-title', 'title'], ['data-i18n-aria-label', 'aria-label']];
  function apply() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    for (const el of document.querySelectorAll('[data-i18n]')) fillSlots(el, el.getAttribute('data-i18n'));
    for (const [from, to] of ATTRIBUTES) for (const el of document.querySelectorAll(`[${from}]`)) el.setAttribute(to, t(el.getAttribute(from)));
    for (const [el, s] of said) {
      if (el.isConnected && el.textContent === s.text) say(el, s.key, s.params);
      else said.delete(el);
    }
    for (const sw of document.querySelectorAll('select.lang-switch')) sw.value = lang;
  }
  /** Switches at once: the markup, then whatever each page draws itself. */
  function setLang(l) {
    const next = known(l);
    if (!next) return;
    save(next);
    if (next === lang) return;
    lang = next;
    apply();
    for (const fn of listeners) fn(lang);
  }

  for (const sw of document.querySelectorAll('select.lang-switch')) sw.addEventListener('change', () => setLang(sw.value));
  // Another tab of the console or the dashboard switched: this one follows.
  window.addEventListener('storage', (e) => { if (e.key === STORE && e.newValue) setLang(e.newValue); });
  apply();

  window.BatonI18n = Object.freeze({
    t, code, say, setLang,
    lang: () => lang,
    /** For dates and numbers: the locale of the language shown. */
    locale: () => LOCALES[lang],
    onChange: (fn) => { listeners.push(fn); },
    /** Keys asked for that have no message: what the browser tests expect to be none. */
    unknown: () => [...unknown],
  });
})();
