//! The demo shop: an in-memory order API implementing the reference contract, so a fresh
//! Baton install has a shop to talk to (Baton mounts [`router`] under `/demo/api`).
//!
//! A request flows: extractors parse the path, query and JSON body, rejecting with the
//! contract's error shape `{"error", "message"}` → the handler locks the shop → the caller's
//! identity is checked against the order (`customer_id` must own it, or else `phone_last4`
//! must match its phone; a mismatch answers exactly like an unknown number) → reads answer
//! from the record; writes first look up their `Idempotency-Key`, then check the order's
//! status, change it and keep the answer for replays.
//!
//! Sample orders (scripts and tests rely on exactly these):
//!
//! | number         | customer | phone | status    | item                | extras                 |
//! | -------------- | -------- | ----- | --------- | ------------------- | ---------------------- |
//! | MM202611110001 | c1001    | 5678  | shipped   | 轻薄羽绒服 399.00   | SF1400000001, 4 events |
//! | MM202611110002 | c1001    | 5678  | paid      | 空气炸锅 299.00     | cancellable            |
//! | MM202611110003 | c1001    | 5678  | unpaid    | 保温杯 89.00        |                        |
//! | MM202610250317 | c1002    | 4321  | delivered | AirPods Pro 1899.00 | SF1400000317, 5 events |
//! | MM202611020456 | c1002    | 4321  | refunding | 跑步鞋 529.00       | ZT7800000456, refund   |
//! | MM202610010001 | c1001    | 5678  | cancelled | 台灯 129.00         |                        |
//! | MM202611120007 | c1002    | 4321  | paid      | 电动牙刷 199.00     | cancellable            |
//!
//! Products with stock: SKU-1001 (12), SKU-1002 (0, restock 2026-12-10), SKU-1003 (5),
//! SKU-1004 (40).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How many write answers are kept for replays; the demo is reachable by anyone, so the
/// memory a stream of fresh keys can take is bounded (the oldest answers go first).
const REPLAYS_KEPT: usize = 10_000;
const ADDRESS_MAX_CHARS: usize = 200;
const KEY_MAX_CHARS: usize = 200;

/// The demo shop's routes, with fresh sample data for every call.
pub fn router() -> Router {
    Router::new()
        .route("/orders/{number}", get(order))
        .route("/customers/{customer_id}/orders", get(recent_orders))
        .route("/orders/{number}/logistics", get(logistics))
        .route("/orders/{number}/refund", get(refund))
        .route("/orders/{number}/cancel", post(cancel))
        .route("/orders/{number}/address", post(change_address))
        .route("/products/{sku}/stock", get(stock))
        .fallback(|| async { Failure::new(StatusCode::NOT_FOUND, "not_found", "no such call") })
        .with_state(Arc::new(Mutex::new(sample())))
}

/// The customer a sample order belongs to (what `baton eval dialogues` checks replies
/// against: a shopper must never be shown an order that is not theirs).
pub fn owner_of(number: &str) -> Option<String> {
    sample()
        .records
        .iter()
        .find(|r| r.order.number == number)
        .map(|r| r.order.customer_id.clone())
}

/// The sample order numbers that occur in `text`.
pub fn order_numbers_in(text: &str) -> Vec<String> {
    sample()
        .records
        .iter()
        .map(|r| r.order.number.clone())
        .filter(|n| text.contains(n.as_str()))
        .collect()
}

type Shared = Arc<Mutex<Shop>>;
type Answer = (StatusCode, Value);
/// Call, order number, `Idempotency-Key`.
type ReplayKey = (&'static str, String, String);

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Unpaid,
    Paid,
    Shipped,
    Delivered,
    Refunding,
    Cancelled,
}

impl Status {
    /// Cancelling and changing the address are only possible before the warehouse has it.
    fn before_dispatch(self) -> bool {
        matches!(self, Status::Unpaid | Status::Paid)
    }
}

/// An order exactly as the contract answers it.
#[derive(Clone, Serialize)]
struct Order {
    number: String,
    customer_id: String,
    status: Status,
    created_at: String,
    amount: String,
    currency: String,
    items: Vec<Item>,
    address: String,
    carrier: Option<String>,
    tracking_number: Option<String>,
}

#[derive(Clone, Serialize)]
struct Item {
    sku: String,
    name: String,
    name_en: String,
    qty: u32,
    price: String,
}

#[derive(Clone, Serialize)]
struct Event {
    time: String,
    text: String,
    text_en: String,
}

#[derive(Clone, Serialize)]
struct Refund {
    status: &'static str,
    amount: String,
    currency: String,
    updated_at: String,
    steps: Vec<Event>,
}

#[derive(Clone, Serialize)]
struct Product {
    sku: String,
    name: String,
    name_en: String,
    stock: u32,
    restock_date: Option<String>,
}

/// What the shop keeps about an order; only `order` is ever answered, so the phone cannot
/// leak by accident.
struct Record {
    order: Order,
    phone: String,
    /// Newest first, as answered.
    trace: Vec<Event>,
    refund: Option<Refund>,
}

struct Shop {
    records: Vec<Record>,
    products: Vec<Product>,
    /// Keyed by call, order number and key, so a reused key never answers for another order.
    replays: HashMap<ReplayKey, Answer>,
    replay_order: VecDeque<ReplayKey>,
}

/// The contract's error answer.
struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Failure::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn conflict(code: &'static str, message: &str) -> Self {
        Failure::new(StatusCode::CONFLICT, code, message)
    }

    /// One answer for unknown numbers and wrong identities, so numbers cannot be probed.
    fn order_not_found() -> Self {
        Failure::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such order for this customer",
        )
    }

    fn answer(&self) -> Answer {
        (
            self.status,
            json!({ "error": self.code, "message": self.message }),
        )
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, body) = self.answer();
        (status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for Failure {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonSyntaxError(e) => {
                Failure::bad_request("malformed_json", e.body_text())
            }
            JsonRejection::MissingJsonContentType(e) => Failure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                e.body_text(),
            ),
            other => Failure::bad_request("invalid_request", other.body_text()),
        }
    }
}

impl From<QueryRejection> for Failure {
    fn from(r: QueryRejection) -> Self {
        Failure::bad_request("invalid_request", r.body_text())
    }
}

impl From<PathRejection> for Failure {
    fn from(r: PathRejection) -> Self {
        Failure::bad_request("invalid_request", r.body_text())
    }
}

// axum's own extractors, answering in the contract's error shape instead of plain text.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Failure))]
struct Body<T>(T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Failure))]
struct Params<T>(T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Failure))]
struct Segment<T>(T);

/// Who asks: a query on reads, part of the JSON body on writes. Empty values count as
/// absent, because templates render a missing value as `customer_id=`.
#[derive(Deserialize)]
struct Identity {
    customer_id: Option<String>,
    phone_last4: Option<String>,
}

enum Who<'a> {
    Customer(&'a str),
    Guest(&'a str),
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Identity {
    fn who(&self) -> Result<Who<'_>, Failure> {
        // A verified customer id wins: the shop answers a customer only with their own orders.
        match (given(&self.customer_id), given(&self.phone_last4)) {
            (Some(customer), _) => Ok(Who::Customer(customer)),
            (None, Some(last4)) => Ok(Who::Guest(last4)),
            (None, None) => Err(Failure::bad_request(
                "identity_required",
                "customer_id or phone_last4 is required",
            )),
        }
    }
}

impl Who<'_> {
    fn owns(&self, record: &Record) -> bool {
        match self {
            Who::Customer(id) => record.order.customer_id == *id,
            Who::Guest(last4) => last4.len() == 4 && record.phone.ends_with(last4),
        }
    }
}

/// The caller's order, or the one 404 for unknown numbers and wrong identities alike.
fn find<'a>(
    records: &'a mut [Record],
    number: &str,
    identity: &Identity,
) -> Result<&'a mut Record, Failure> {
    let who = identity.who()?;
    records
        .iter_mut()
        .find(|r| r.order.number == number && who.owns(r))
        .ok_or_else(Failure::order_not_found)
}

impl Shop {
    fn remember(&mut self, key: ReplayKey, answer: Answer) {
        if self.replay_order.len() >= REPLAYS_KEPT
            && let Some(oldest) = self.replay_order.pop_front()
        {
            self.replays.remove(&oldest);
        }
        self.replay_order.push_back(key.clone());
        self.replays.insert(key, answer);
    }
}

fn lock(shop: &Shared) -> MutexGuard<'_, Shop> {
    // Every change is a single field assignment, so a panicking holder leaves no half-written
    // order behind and the data stays usable.
    shop.lock().unwrap_or_else(|e| e.into_inner())
}

async fn order(
    State(shop): State<Shared>,
    Segment(number): Segment<String>,
    Params(identity): Params<Identity>,
) -> Result<Json<Value>, Failure> {
    let mut shop = lock(&shop);
    let record = find(&mut shop.records, &number, &identity)?;
    Ok(Json(json!({ "order": record.order })))
}

#[derive(Deserialize)]
struct RecentQuery {
    // A string, so that an empty `limit=` from a template means the default, not an error.
    limit: Option<String>,
}

async fn recent_orders(
    State(shop): State<Shared>,
    Segment(customer_id): Segment<String>,
    Params(query): Params<RecentQuery>,
) -> Result<Json<Value>, Failure> {
    let limit = match query
        .limit
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => 5,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| Failure::bad_request("invalid_request", "limit must be a whole number"))?,
    }
    .min(20);
    let shop = lock(&shop);
    let mut orders: Vec<&Order> = shop
        .records
        .iter()
        .map(|r| &r.order)
        .filter(|o| o.customer_id == customer_id)
        .collect();
    // "YYYY-MM-DD HH:MM" sorts as text in time order.
    orders.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    orders.truncate(limit);
    Ok(Json(json!({ "orders": orders })))
}

async fn logistics(
    State(shop): State<Shared>,
    Segment(number): Segment<String>,
    Params(identity): Params<Identity>,
) -> Result<Json<Value>, Failure> {
    let mut shop = lock(&shop);
    let record = find(&mut shop.records, &number, &identity)?;
    match (&record.order.carrier, &record.order.tracking_number) {
        (Some(carrier), Some(tracking)) => Ok(Json(json!({ "logistics": {
            "carrier": carrier,
            "tracking_number": tracking,
            "events": record.trace,
        }}))),
        _ => Err(Failure::conflict(
            "not_shipped",
            "the order has not been shipped yet",
        )),
    }
}

async fn refund(
    State(shop): State<Shared>,
    Segment(number): Segment<String>,
    Params(identity): Params<Identity>,
) -> Result<Json<Value>, Failure> {
    let mut shop = lock(&shop);
    let record = find(&mut shop.records, &number, &identity)?;
    match &record.refund {
        Some(refund) => Ok(Json(json!({ "refund": refund }))),
        None => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "no_refund",
            "the order has no refund",
        )),
    }
}

async fn stock(
    State(shop): State<Shared>,
    Segment(sku): Segment<String>,
) -> Result<Json<Value>, Failure> {
    let shop = lock(&shop);
    match shop.products.iter().find(|p| p.sku == sku) {
        Some(product) => Ok(Json(json!({ "product": product }))),
        None => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such product",
        )),
    }
}

/// A cancel's body is just the identity; an optional `reason` is accepted and not kept,
/// since the contract's order has no place for it (unknown fields are ignored).
async fn cancel(
    State(shop): State<Shared>,
    Segment(number): Segment<String>,
    headers: HeaderMap,
    Body(identity): Body<Identity>,
) -> Response {
    write(&shop, "cancel", &number, &headers, &identity, |record| {
        if !record.order.status.before_dispatch() {
            return Err(Failure::conflict(
                "not_cancellable",
                "the order can no longer be cancelled",
            ));
        }
        record.order.status = Status::Cancelled;
        Ok(())
    })
}

#[derive(Deserialize)]
struct AddressBody {
    #[serde(flatten)]
    identity: Identity,
    address: String,
}

async fn change_address(
    State(shop): State<Shared>,
    Segment(number): Segment<String>,
    headers: HeaderMap,
    Body(body): Body<AddressBody>,
) -> Response {
    let address = body.address.trim().to_owned();
    if address.is_empty() || address.chars().count() > ADDRESS_MAX_CHARS {
        let message = format!("the address must have 1 to {ADDRESS_MAX_CHARS} characters");
        return Failure::bad_request("invalid_address", message).into_response();
    }
    write(
        &shop,
        "address",
        &number,
        &headers,
        &body.identity,
        |record| {
            if !record.order.status.before_dispatch() {
                // A cancelled order has no parcel either, but the contract has one code for "too late".
                return Err(Failure::conflict(
                    "already_dispatched",
                    "the address can no longer change",
                ));
            }
            record.order.address = address;
            Ok(())
        },
    )
}

/// The shared path of writes: key, identity, replay, change, and keeping the answer.
fn write(
    shop: &Shared,
    call: &'static str,
    number: &str,
    headers: &HeaderMap,
    identity: &Identity,
    change: impl FnOnce(&mut Record) -> Result<(), Failure>,
) -> Response {
    let (status, body) = match idempotency_key(headers) {
        Err(failure) => failure.answer(),
        Ok(key) => {
            let mut shop = lock(shop);
            apply(&mut shop, (call, number.to_owned(), key), identity, change)
        }
    };
    (status, Json(body)).into_response()
}

fn apply(
    shop: &mut Shop,
    key: ReplayKey,
    identity: &Identity,
    change: impl FnOnce(&mut Record) -> Result<(), Failure>,
) -> Answer {
    // The identity is checked before the replay, so a key seen before answers nobody else;
    // 400s and 404s are not kept, as nothing was tried (a corrected retry may reuse the key).
    let record = match find(&mut shop.records, &key.1, identity) {
        Ok(record) => record,
        Err(failure) => return failure.answer(),
    };
    if let Some(first) = shop.replays.get(&key) {
        return first.clone();
    }
    let answer = match change(record) {
        Ok(()) => (StatusCode::OK, json!({ "order": record.order })),
        Err(failure) => failure.answer(),
    };
    shop.remember(key, answer.clone());
    answer
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, Failure> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= KEY_MAX_CHARS)
        .map(str::to_owned)
        .ok_or_else(|| {
            Failure::bad_request(
                "idempotency_key_required",
                format!("writes need an Idempotency-Key header of 1 to {KEY_MAX_CHARS} characters"),
            )
        })
}

struct Customer {
    id: &'static str,
    phone: &'static str,
    address: &'static str,
}

/// An order of one item (every sample order has one), before shipping.
fn record(
    number: &str,
    customer: &Customer,
    status: Status,
    created_at: &str,
    (sku, name, name_en, price): (&str, &str, &str, &str),
) -> Record {
    Record {
        order: Order {
            number: number.into(),
            customer_id: customer.id.into(),
            status,
            created_at: created_at.into(),
            amount: price.into(),
            currency: "CNY".into(),
            items: vec![Item {
                sku: sku.into(),
                name: name.into(),
                name_en: name_en.into(),
                qty: 1,
                price: price.into(),
            }],
            address: customer.address.into(),
            carrier: None,
            tracking_number: None,
        },
        phone: customer.phone.into(),
        trace: Vec::new(),
        refund: None,
    }
}

impl Record {
    fn shipped(mut self, carrier: &str, tracking_number: &str, trace: &[Step]) -> Self {
        self.order.carrier = Some(carrier.into());
        self.order.tracking_number = Some(tracking_number.into());
        self.trace = events(trace);
        self
    }
}

/// Time, Chinese text, English text.
type Step<'a> = (&'a str, &'a str, &'a str);

fn events(steps: &[Step]) -> Vec<Event> {
    let event = |&(time, text, text_en): &Step| Event {
        time: time.into(),
        text: text.into(),
        text_en: text_en.into(),
    };
    steps.iter().map(event).collect()
}

fn product(sku: &str, name: &str, name_en: &str, stock: u32, restock: Option<&str>) -> Product {
    Product {
        sku: sku.into(),
        name: name.into(),
        name_en: name_en.into(),
        stock,
        restock_date: restock.map(Into::into),
    }
}

/// The sample data of the reference contract; traces and refund steps are newest first.
// Laid out by hand as tables: one order, event or product per line reads like the spec.
#[rustfmt::skip]
fn sample() -> Shop {
    let c1001 = Customer { id: "c1001", phone: "13800005678", address: "上海市浦东新区世纪大道100号" };
    let c1002 = Customer { id: "c1002", phone: "13900004321", address: "北京市朝阳区建国路88号" };
    let jacket =     ("SKU-1001", "轻薄羽绒服",  "Light down jacket",   "399.00");
    let fryer =      ("SKU-1002", "空气炸锅",    "Air fryer",           "299.00");
    let airpods =    ("SKU-1003", "AirPods Pro", "AirPods Pro",         "1899.00");
    let thermos =    ("SKU-1004", "保温杯",      "Thermos cup",         "89.00");
    let shoes =      ("SKU-1005", "跑步鞋",      "Running shoes",       "529.00");
    let lamp =       ("SKU-1006", "台灯",        "Desk lamp",           "129.00");
    let toothbrush = ("SKU-1007", "电动牙刷",    "Electric toothbrush", "199.00");

    let mut returned_shoes = record("MM202611020456", &c1002, Status::Refunding, "2026-11-02 14:20", shoes)
        .shipped("中通快递", "ZT7800000456", &[
            ("2026-11-04 16:05", "【北京市】快件已签收，签收人：快递柜", "[Beijing] Delivered to a parcel locker"),
            ("2026-11-04 08:30", "【北京市】快件派送中", "[Beijing] Out for delivery"),
            ("2026-11-03 11:47", "【廊坊市】快件已到达 廊坊转运中心", "[Langfang] Arrived at the Langfang transit centre"),
            ("2026-11-02 20:10", "【泉州市】中通快递 已揽收", "[Quanzhou] Picked up by ZTO Express"),
        ]);
    returned_shoes.refund = Some(Refund {
        status: "processing",
        amount: "529.00".into(),
        currency: "CNY".into(),
        updated_at: "2026-11-08 10:20".into(),
        steps: events(&[
            ("2026-11-08 10:20", "商家已收到退货，退款处理中", "The shop has received the return; refund in progress"),
            ("2026-11-06 15:42", "退货已寄出，运单号 ZT7800009921", "Return parcel sent, tracking number ZT7800009921"),
            ("2026-11-05 09:15", "退款申请已提交：尺码不合适", "Refund requested: wrong size"),
        ]),
    });

    let records = vec![
        record("MM202611110001", &c1001, Status::Shipped, "2026-11-11 00:05", jacket)
            .shipped("顺丰速运", "SF1400000001", &[
                ("2026-11-13 08:40", "【上海市】快件派送中，快递员王师傅正在为您派件", "[Shanghai] Out for delivery with courier Wang"),
                ("2026-11-12 21:15", "【上海市】快件已到达 上海转运中心", "[Shanghai] Arrived at the Shanghai transit centre"),
                ("2026-11-11 22:30", "【杭州市】快件运输中，发往 上海转运中心", "[Hangzhou] In transit to the Shanghai transit centre"),
                ("2026-11-11 18:02", "【杭州市】顺丰速运 已收取快件", "[Hangzhou] Picked up by SF Express"),
            ]),
        record("MM202611110002", &c1001, Status::Paid, "2026-11-11 00:12", fryer),
        record("MM202611110003", &c1001, Status::Unpaid, "2026-11-11 09:30", thermos),
        record("MM202610250317", &c1002, Status::Delivered, "2026-10-25 10:03", airpods)
            .shipped("顺丰速运", "SF1400000317", &[
                ("2026-10-27 14:26", "【北京市】快件已签收，签收人：本人", "[Beijing] Delivered, signed for by the recipient"),
                ("2026-10-27 09:12", "【北京市】快件派送中", "[Beijing] Out for delivery"),
                ("2026-10-27 03:40", "【北京市】快件已到达 北京顺义集散中心", "[Beijing] Arrived at the Beijing Shunyi hub"),
                ("2026-10-26 07:55", "【深圳市】快件运输中，发往 北京", "[Shenzhen] In transit to Beijing"),
                ("2026-10-25 19:20", "【深圳市】顺丰速运 已收取快件", "[Shenzhen] Picked up by SF Express"),
            ]),
        returned_shoes,
        record("MM202610010001", &c1001, Status::Cancelled, "2026-10-01 20:48", lamp),
        record("MM202611120007", &c1002, Status::Paid, "2026-11-12 21:07", toothbrush),
    ];
    let products = vec![
        product("SKU-1001", "轻薄羽绒服",  "Light down jacket", 12, None),
        product("SKU-1002", "空气炸锅",    "Air fryer",         0,  Some("2026-12-10")),
        product("SKU-1003", "AirPods Pro", "AirPods Pro",       5,  None),
        product("SKU-1004", "保温杯",      "Thermos cup",       40, None),
    ];
    Shop { records, products, replays: HashMap::new(), replay_order: VecDeque::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body as HttpBody;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn call(
        app: &Router,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(HttpBody::from(body.to_owned())),
            None => request.body(HttpBody::empty()),
        }
        .expect("request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("a JSON body"))
    }

    async fn fetch(app: &Router, uri: &str) -> (StatusCode, Value) {
        call(app, "GET", uri, None, None).await
    }

    async fn send(app: &Router, uri: &str, key: &str, body: &str) -> (StatusCode, Value) {
        call(app, "POST", uri, Some(key), Some(body)).await
    }

    #[tokio::test]
    async fn identity_is_the_owner_or_the_guest_phone() {
        let app = router();
        let (status, body) = fetch(&app, "/orders/MM202611110001?customer_id=c1001").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["order"]["status"], "shipped");
        assert_eq!(body["order"]["tracking_number"], "SF1400000001");
        assert_eq!(body["order"]["items"][0]["name_en"], "Light down jacket");
        assert!(
            !body.to_string().contains("13800005678"),
            "the phone is never answered"
        );

        let (status, _) = fetch(&app, "/orders/MM202611110001?customer_id=&phone_last4=5678").await;
        assert_eq!(status, StatusCode::OK);

        let (wrong_phone, wrong_body) =
            fetch(&app, "/orders/MM202611110001?phone_last4=0000").await;
        let (other_customer, _) = fetch(&app, "/orders/MM202611110001?customer_id=c1002").await;
        let (unknown, unknown_body) = fetch(&app, "/orders/MM209900000000?phone_last4=0000").await;
        assert_eq!(wrong_phone, StatusCode::NOT_FOUND);
        assert_eq!(other_customer, StatusCode::NOT_FOUND);
        assert_eq!(unknown, StatusCode::NOT_FOUND);
        assert_eq!(
            wrong_body, unknown_body,
            "a wrong phone must look like an unknown number"
        );
        assert_eq!(wrong_body["error"], "not_found");

        let (status, body) = fetch(&app, "/orders/MM202611110001?customer_id=&phone_last4=").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "identity_required");
        let (status, _) = fetch(&app, "/orders/MM209900000000").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn recent_orders_are_newest_first_and_limited() {
        let app = router();
        let (status, body) = fetch(&app, "/customers/c1001/orders").await;
        assert_eq!(status, StatusCode::OK);
        let numbers: Vec<&str> = body["orders"]
            .as_array()
            .expect("orders")
            .iter()
            .filter_map(|o| o["number"].as_str())
            .collect();
        assert_eq!(
            numbers,
            [
                "MM202611110003",
                "MM202611110002",
                "MM202611110001",
                "MM202610010001"
            ]
        );
        let (_, body) = fetch(&app, "/customers/c1001/orders?limit=2").await;
        assert_eq!(body["orders"].as_array().map(Vec::len), Some(2));
        let (status, _) = fetch(&app, "/customers/c1001/orders?limit=many").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (_, body) = fetch(&app, "/customers/c9999/orders").await;
        assert_eq!(body["orders"], json!([]));
    }

    #[tokio::test]
    async fn logistics_exist_once_shipped() {
        let app = router();
        let (status, body) =
            fetch(&app, "/orders/MM202611110002/logistics?customer_id=c1001").await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"], "not_shipped");

        let (status, body) = fetch(&app, "/orders/MM202611110001/logistics?phone_last4=5678").await;
        assert_eq!(status, StatusCode::OK);
        let logistics = &body["logistics"];
        assert_eq!(logistics["carrier"], "顺丰速运");
        assert_eq!(logistics["events"].as_array().map(Vec::len), Some(4));
        assert_eq!(logistics["events"][0]["time"], "2026-11-13 08:40");
        let (_, body) = fetch(&app, "/orders/MM202610250317/logistics?customer_id=c1002").await;
        assert_eq!(
            body["logistics"]["events"].as_array().map(Vec::len),
            Some(5)
        );
    }

    #[tokio::test]
    async fn refund_of_the_returned_shoes() {
        let app = router();
        let (status, body) = fetch(&app, "/orders/MM202611020456/refund?customer_id=c1002").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["refund"]["status"], "processing");
        assert_eq!(body["refund"]["amount"], "529.00");
        assert_eq!(body["refund"]["steps"].as_array().map(Vec::len), Some(3));
        let (status, body) = fetch(&app, "/orders/MM202611110001/refund?customer_id=c1001").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "no_refund");
    }

    #[tokio::test]
    async fn cancel_is_idempotent_per_key() {
        let app = router();
        let uri = "/orders/MM202611110002/cancel";
        let first = send(
            &app,
            uri,
            "k1",
            r#"{"customer_id":"c1001","reason":"买错了"}"#,
        )
        .await;
        assert_eq!(first.0, StatusCode::OK);
        assert_eq!(first.1["order"]["status"], "cancelled");

        let again = send(&app, uri, "k1", r#"{"customer_id":"c1001"}"#).await;
        assert_eq!(again, first, "a repeated key answers the first answer");
        let (status, body) = send(&app, uri, "k2", r#"{"phone_last4":"5678"}"#).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"], "not_cancellable");

        let (status, _) = send(&app, uri, "k1", r#"{"phone_last4":"0000"}"#).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "a known key answers nobody else"
        );

        let (_, fresh) = fetch(&router(), "/orders/MM202611110002?customer_id=c1001").await;
        assert_eq!(
            fresh["order"]["status"], "paid",
            "every router starts from the sample"
        );
    }

    #[tokio::test]
    async fn shipped_orders_cannot_be_cancelled() {
        let app = router();
        let uri = "/orders/MM202611110001/cancel";
        let (status, body) = send(&app, uri, "k1", r#"{"customer_id":"c1001"}"#).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"], "not_cancellable");
        let (_, body) = fetch(&app, "/orders/MM202611110001?customer_id=c1001").await;
        assert_eq!(body["order"]["status"], "shipped");
    }

    #[tokio::test]
    async fn address_changes_before_dispatch_only() {
        let app = router();
        let uri = "/orders/MM202611110003/address";
        let new = "上海市徐汇区漕溪北路201号";
        let body = json!({ "phone_last4": "5678", "address": new }).to_string();
        let (status, answer) = send(&app, uri, "a1", &body).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer["order"]["address"], new);
        let (_, read) = fetch(&app, "/orders/MM202611110003?customer_id=c1001").await;
        assert_eq!(read["order"]["address"], new);

        for address in ["  ", &"路".repeat(201)] {
            let body = json!({ "customer_id": "c1001", "address": address }).to_string();
            let (status, answer) = send(&app, uri, "a2", &body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(answer["error"], "invalid_address");
        }

        let body = json!({ "customer_id": "c1001", "address": new }).to_string();
        let (status, answer) = send(&app, "/orders/MM202611110001/address", "a3", &body).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(answer["error"], "already_dispatched");
    }

    #[tokio::test]
    async fn writes_need_an_idempotency_key() {
        let app = router();
        let (status, body) = call(
            &app,
            "POST",
            "/orders/MM202611120007/cancel",
            None,
            Some(r#"{"customer_id":"c1002"}"#),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "idempotency_key_required");
        let (_, body) = fetch(&app, "/orders/MM202611120007?customer_id=c1002").await;
        assert_eq!(body["order"]["status"], "paid");
    }

    #[tokio::test]
    async fn stock_of_products() {
        let app = router();
        let (status, body) = fetch(&app, "/products/SKU-1002/stock").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["product"]["stock"], 0);
        assert_eq!(body["product"]["restock_date"], "2026-12-10");
        let (_, body) = fetch(&app, "/products/SKU-1001/stock").await;
        assert_eq!(body["product"]["stock"], 12);
        assert_eq!(body["product"]["restock_date"], Value::Null);
        let (status, body) = fetch(&app, "/products/SKU-9999/stock").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "not_found");
    }

    #[tokio::test]
    async fn bad_bodies_are_json_errors() {
        let app = router();
        let uri = "/orders/MM202611110002/cancel";
        let (status, body) = send(&app, uri, "m1", r#"{"customer_id":"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "malformed_json");
        let (status, body) = send(&app, "/orders/MM202611110002/address", "m2", "{}").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_request");
        let (status, body) = fetch(&app, "/no/such/call").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "not_found");
    }
}
