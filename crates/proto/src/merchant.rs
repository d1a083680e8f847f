//! Merchants and click-to-call (S4): the operator creates merchants; a merchant's server manages
//! its links, pages and routing rules and reads the calls started from its own pages; a visitor's
//! click on a signed button is routed and recorded.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/admin/merchants`: a new merchant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMerchant {
    pub name: String,
}

/// A merchant as the operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Merchant {
    /// `mer_…`: what buttons name as their issuer (`iss`).
    pub id: String,
    pub name: String,
    /// The merchant's API account (service account with the `merchant` scope).
    pub account: String,
    pub created_at: i64,
}

/// The answer to creating a merchant: its API token and button secret, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MerchantCreated {
    pub merchant: Merchant,
    /// Bearer token of the merchant's API account.
    pub token: String,
    /// The HMAC-SHA256 key the merchant's server signs buttons with (HS256 JWT).
    pub button_secret: String,
}

/// `POST /v1/admin/merchants/{id}/button-secret`: a new button secret (buttons signed with the
/// old one stop working).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ButtonSecret {
    pub button_secret: String,
}

/// `PUT /v1/merchant/links/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutLink {
    pub name: String,
}

/// One of the merchant's buttons ("sales", "billing", "returns").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Link {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LinkList {
    pub links: Vec<Link>,
}

/// `PUT /v1/merchant/pages/{code}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPage {
    /// http(s) only.
    pub url: String,
}

/// A page an agent pushes by its code (`*76`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page {
    pub code: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PageList {
    pub pages: Vec<Page>,
}

/// One routing rule: every condition given must hold; the first rule that fits a click sends it
/// to `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// Link ids it serves (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    /// Local days: `mon` … `sun` (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<String>>,
    /// `09:00`: with `until`, a local time window (may run over midnight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// IANA zone of `days`/`from`/`until` (`America/New_York`); needed when they are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// The visitor's country as the button says (`US`), any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countries: Option<Vec<String>>,
    /// The rule stops applying at this time (ms since 1970): a temporary redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// `+12125550100` (through the telephone network), `agents:<group>`, or `button` (the
    /// number in the button).
    pub to: String,
}

/// `PUT /v1/merchant/routing`: the whole rule list, replaced at once (a redirect is a new list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    #[serde(default)]
    pub rules: Vec<RoutingRule>,
    /// Where calls go when no rule fits (then the number in the button, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// `POST /v1/merchant/routing/dry-run`: where a click would go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    /// The number in the button, if it carries one.
    #[serde(default)]
    pub destination: Option<String>,
    /// When (ms since 1970); now when absent.
    #[serde(default)]
    pub at: Option<i64>,
    /// Rules to try instead of the stored ones (check a change before making it).
    #[serde(default)]
    pub routing: Option<Routing>,
}

/// Where a click goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Route {
    /// `+12125550100` or `agents:<group>`.
    pub destination: String,
    /// The rule that chose it (its position), absent for the default or the button's number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<u32>,
}

/// What the merchant's page chose to share with the agent (screen pop, S4).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickContext {
    /// The page the button is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// Recently visited pages, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_pages: Vec<String>,
    /// Form contents the page shares (name → value).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub form: std::collections::BTreeMap<String, String>,
}

/// `POST /v1/clicks`: a visitor clicked a button. No bearer token: the button, signed by the
/// merchant's server, is the credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickRequest {
    /// The merchant id (the button's `iss`).
    pub merchant: String,
    /// HS256 JWT signed with the merchant's button secret: `iss` (merchant id), `exp`, and any of
    /// `lnk` (link id), `cus` (customer or session id), `dst` (a number, E.164), `cty` (country).
    pub button: String,
    #[serde(default)]
    pub context: ClickContext,
}

/// The answer to a click.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClickAccepted {
    /// The call record's id (`clk_…`).
    pub id: String,
    pub destination: String,
    /// The visitor's token for following the call (`GET /v1/clicks/{id}`), hanging up
    /// (`POST /v1/clicks/{id}/hangup`) and, once an agent answers, its session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_token: Option<String>,
    /// For a call to a number: the short channel id the visitor gives the agent, who keys it
    /// (`POST /v1/agent/channels`) to open the call's chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// For a call to a number, when the operator runs a WebRTC-to-SIP gateway
    /// (`browsers.sip_gateway`): its WebSocket URL, through which the call window dials
    /// `sip:<destination>@<its host>` with the call id as the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_gateway: Option<String>,
}

/// `POST /v1/merchant/calls/{id}/state`: the call centre reports the call's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallState {
    /// `answered` or `ended`.
    pub state: String,
    #[serde(default)]
    pub agent: Option<String>,
    /// With `ended`: `completed`, `abandoned`, `no_answer`, `failed`.
    #[serde(default)]
    pub outcome: Option<String>,
}

/// A call started from the merchant's pages (S4's "call posting database" and records).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallRecord {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button_destination: Option<String>,
    pub context: ClickContext,
    pub destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<u32>,
    /// `routed`, `answered` or `ended`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// From answer to end, when both happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallRecordList {
    pub calls: Vec<CallRecord>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// `PUT /v1/merchant/webhook`: where callside posts the merchant's calls' progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookIn {
    /// An https URL on a public address (the operator may allow private ones).
    pub url: String,
}

/// A merchant's webhook. Deliveries are `{"event": "call.created" | "call.answered" |
/// "call.ended", "call": CallRecord}`, signed: `X-Callside-Signature: t=<unix seconds>,
/// id=<delivery>,v1=<hex HMAC-SHA256(secret, "<t>.<id>.<url>.<body>")>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub url: String,
    /// The signing secret: answered once, when the webhook is set (each set makes a new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}
