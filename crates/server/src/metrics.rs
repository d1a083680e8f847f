//! What `/metrics` shows, in the OpenMetrics text format through `prometheus-client`: counters
//! of what happens, gauges of what is open, and latency histograms — HTTP requests by route and
//! status, store commits, and message delivery (from arrival to a recipient's socket) — with
//! error answers counted by their code.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Latency buckets: 0.25 ms doubling to about 8 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// An HTTP request's route (the pattern, never the path: ids and keys stay out), method and status
/// class (`2xx`…`5xx`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) method: String,
    pub(crate) route: String,
    pub(crate) status: &'static str,
}

/// An error answer's stable code (`rate_limited`, `not_participant`, …).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ErrorLabels {
    pub(crate) code: String,
}

type Latencies<L> = Family<L, Histogram, fn() -> Histogram>;

pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) legs_reported: Counter,
    pub(crate) legs_matched: Counter,
    pub(crate) legs_no_match: Counter,
    pub(crate) sessions_created: Counter,
    pub(crate) sessions_closed: Counter,
    /// Appends that lost their sequence number to another node of a cluster.
    pub(crate) sequence_conflicts: Counter,
    pub(crate) messages: Counter,
    pub(crate) blob_bytes: Counter,
    pub(crate) blobs_collected: Counter,
    pub(crate) sms_received: Counter,
    pub(crate) sms_sent: Counter,
    pub(crate) sms_failed: Counter,
    pub(crate) numbers_proven: Counter,
    pub(crate) invitations: Counter,
    pub(crate) push_sent: Counter,
    pub(crate) push_failed: Counter,
    pub(crate) push_gone: Counter,
    pub(crate) push_dropped: Counter,
    pub(crate) card_deliveries_dropped: Counter,
    pub(crate) screen_deliveries_dropped: Counter,
    pub(crate) calls_reconciled: Counter,
    pub(crate) derived_dropped: Counter,
    pub(crate) derived_expired: Counter,
    pub(crate) webhook_errors: Counter,
    connections: Gauge,
    pending_legs: Gauge,
    resident_bytes: Gauge,
    pub(crate) requests: Latencies<RequestLabels>,
    pub(crate) errors: Family<ErrorLabels, Counter>,
    pub(crate) commits: Histogram,
    pub(crate) deliveries: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            registry: Registry::default(),
            legs_reported: Counter::default(),
            legs_matched: Counter::default(),
            legs_no_match: Counter::default(),
            sessions_created: Counter::default(),
            sessions_closed: Counter::default(),
            sequence_conflicts: Counter::default(),
            messages: Counter::default(),
            blob_bytes: Counter::default(),
            blobs_collected: Counter::default(),
            sms_received: Counter::default(),
            sms_sent: Counter::default(),
            sms_failed: Counter::default(),
            numbers_proven: Counter::default(),
            invitations: Counter::default(),
            push_sent: Counter::default(),
            push_failed: Counter::default(),
            push_gone: Counter::default(),
            push_dropped: Counter::default(),
            card_deliveries_dropped: Counter::default(),
            screen_deliveries_dropped: Counter::default(),
            calls_reconciled: Counter::default(),
            derived_dropped: Counter::default(),
            derived_expired: Counter::default(),
            webhook_errors: Counter::default(),
            connections: Gauge::default(),
            pending_legs: Gauge::default(),
            resident_bytes: Gauge::default(),
            requests: Family::new_with_constructor(latency as fn() -> Histogram),
            errors: Family::default(),
            commits: latency(),
            deliveries: latency(),
        };
        let mut reg = Registry::default();
        reg.register(
            "callside_legs_reported",
            "Call legs reported.",
            m.legs_reported.clone(),
        );
        reg.register(
            "callside_legs_matched",
            "Call legs that joined a session.",
            m.legs_matched.clone(),
        );
        reg.register(
            "callside_legs_no_match",
            "Call legs that ended without a session.",
            m.legs_no_match.clone(),
        );
        reg.register(
            "callside_sessions_created",
            "Sessions created.",
            m.sessions_created.clone(),
        );
        reg.register(
            "callside_sessions_closed",
            "Sessions closed.",
            m.sessions_closed.clone(),
        );
        reg.register(
            "callside_sequence_conflicts",
            "Appends that lost their sequence number to another node of the cluster and were numbered again (or sent again by the client).",
            m.sequence_conflicts.clone(),
        );
        reg.register(
            "callside_messages",
            "Messages persisted.",
            m.messages.clone(),
        );
        reg.register(
            "callside_blob_bytes",
            "Bytes uploaded to the blob store (whether or not the same bytes were there already).",
            m.blob_bytes.clone(),
        );
        reg.register(
            "callside_blobs_collected",
            "Files deleted because nothing referenced them any more ([retention] unreferenced_files_days).",
            m.blobs_collected.clone(),
        );
        reg.register(
            "callside_sms_received",
            "Registration SMS accepted from gateways.",
            m.sms_received.clone(),
        );
        reg.register(
            "callside_sms_sent",
            "Proof SMS handed to the SMS provider.",
            m.sms_sent.clone(),
        );
        reg.register(
            "callside_sms_failed",
            "Proof SMS that could not be sent after retries.",
            m.sms_failed.clone(),
        );
        reg.register(
            "callside_numbers_proven",
            "Numbers bound to devices by SMS proof.",
            m.numbers_proven.clone(),
        );
        reg.register(
            "callside_invitations",
            "Invitations sent.",
            m.invitations.clone(),
        );
        reg.register(
            "callside_push_sent",
            "Wake-up pushes the push services accepted.",
            m.push_sent.clone(),
        );
        reg.register(
            "callside_push_failed",
            "Wake-up pushes that failed after retries.",
            m.push_failed.clone(),
        );
        reg.register(
            "callside_push_gone",
            "Push subscriptions removed because the service said they are gone.",
            m.push_gone.clone(),
        );
        reg.register(
            "callside_push_dropped",
            "Wake-up requests dropped because the push queue was full.",
            m.push_dropped.clone(),
        );
        reg.register(
            "callside_card_deliveries_dropped",
            "Sessions whose cards were not delivered because the delivery queue was full.",
            m.card_deliveries_dropped.clone(),
        );
        reg.register(
            "callside_screen_deliveries_dropped",
            "Sessions whose predetermined screens were not sent because the queue was full.",
            m.screen_deliveries_dropped.clone(),
        );
        reg.register(
            "callside_calls_reconciled",
            "Network calls ended because the SIP proxy no longer had them (a lost end event).",
            m.calls_reconciled.clone(),
        );
        reg.register(
            "callside_derived_dropped",
            "app/* messages whose transformer work did not fit in memory (it waits in the store).",
            m.derived_dropped.clone(),
        );
        reg.register(
            "callside_derived_expired",
            "Transformer work given up because it waited longer than 10 minutes.",
            m.derived_expired.clone(),
        );
        reg.register(
            "callside_webhook_errors",
            "Calls to the operator's transformers that failed or were refused.",
            m.webhook_errors.clone(),
        );
        reg.register(
            "callside_http_errors",
            "HTTP requests answered with an error, by its code.",
            m.errors.clone(),
        );
        reg.register(
            "callside_http_request_duration_seconds",
            "Time to answer an HTTP request, by route, method and status class.",
            m.requests.clone(),
        );
        reg.register(
            "callside_commit_duration_seconds",
            "Time from queueing a session's writes to their commit in the store.",
            m.commits.clone(),
        );
        reg.register(
            "callside_delivery_duration_seconds",
            "Time from a message's arrival to its write on a recipient's socket.",
            m.deliveries.clone(),
        );
        reg.register(
            "callside_ws_connections",
            "Open WebSocket connections.",
            m.connections.clone(),
        );
        reg.register(
            "callside_pending_legs",
            "Legs waiting for a match.",
            m.pending_legs.clone(),
        );
        reg.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            m.resident_bytes.clone(),
        );
        m.registry = reg;
        m
    }
}

impl Metrics {
    pub(crate) fn inc(c: &Counter) {
        c.inc();
    }

    /// Counts an error answer by its code.
    pub(crate) fn error(&self, code: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                code: code.to_owned(),
            })
            .inc();
    }

    /// Records one answered HTTP request.
    pub(crate) fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .observe(took.as_secs_f64());
    }

    /// The OpenMetrics text, with the gauges read now.
    pub(crate) fn render(&self, connections: u64, pending_legs: usize) -> String {
        self.connections.set(connections as i64);
        self.pending_legs.set(pending_legs as i64);
        self.resident_bytes
            .set(resident_bytes().unwrap_or(0) as i64);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String does not fail");
        out
    }
}

/// Resident set size of this process (Linux: from /proc/self/statm).
pub(crate) fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_histograms_render_as_openmetrics() {
        let m = Metrics::default();
        Metrics::inc(&m.sessions_created);
        m.legs_matched.inc_by(2);
        m.error("rate_limited");
        m.request("GET", "/v1/sessions/{key}", 200, Duration::from_millis(3));
        m.commits.observe(0.001);
        let text = m.render(7, 2);
        for line in [
            "callside_sessions_created_total 1",
            "callside_legs_matched_total 2",
            "callside_http_errors_total{code=\"rate_limited\"} 1",
            "callside_ws_connections 7",
            "callside_pending_legs 2",
            "callside_commit_duration_seconds_count 1",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(text.contains(
            "callside_http_request_duration_seconds_bucket{le=\"0.004\",method=\"GET\",route=\"/v1/sessions/{key}\",status=\"2xx\"} 1"
        ) || text.contains("route=\"/v1/sessions/{key}\""), "{text}");
    }
}
