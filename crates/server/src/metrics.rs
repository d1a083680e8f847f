//! Counters exposed at `/metrics` in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) legs_reported: AtomicU64,
    pub(crate) legs_matched: AtomicU64,
    pub(crate) legs_no_match: AtomicU64,
    pub(crate) sessions_created: AtomicU64,
    pub(crate) sessions_closed: AtomicU64,
    pub(crate) messages: AtomicU64,
    pub(crate) blob_bytes: AtomicU64,
    pub(crate) http_errors: AtomicU64,
    pub(crate) sms_received: AtomicU64,
    pub(crate) sms_sent: AtomicU64,
    pub(crate) sms_failed: AtomicU64,
    pub(crate) numbers_proven: AtomicU64,
    pub(crate) invitations: AtomicU64,
    pub(crate) push_sent: AtomicU64,
    pub(crate) push_failed: AtomicU64,
    pub(crate) push_gone: AtomicU64,
    pub(crate) push_dropped: AtomicU64,
    pub(crate) card_deliveries_dropped: AtomicU64,
    pub(crate) screen_deliveries_dropped: AtomicU64,
    pub(crate) calls_reconciled: AtomicU64,
    pub(crate) derived_dropped: AtomicU64,
}

impl Metrics {
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn render(&self, connections: u64, pending_legs: usize) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP callside_{name} {help}\n# TYPE callside_{name} counter\ncallside_{name} {v}");
        };
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            "legs_reported_total",
            "Call legs reported.",
            get(&self.legs_reported),
        );
        counter(
            "legs_matched_total",
            "Call legs that joined a session.",
            get(&self.legs_matched),
        );
        counter(
            "legs_no_match_total",
            "Call legs that ended without a session.",
            get(&self.legs_no_match),
        );
        counter(
            "sessions_created_total",
            "Sessions created.",
            get(&self.sessions_created),
        );
        counter(
            "sessions_closed_total",
            "Sessions closed.",
            get(&self.sessions_closed),
        );
        counter("messages_total", "Messages persisted.", get(&self.messages));
        counter(
            "blob_bytes_total",
            "Bytes uploaded to the blob store (whether or not the same bytes were there already).",
            get(&self.blob_bytes),
        );
        counter(
            "http_errors_total",
            "HTTP requests answered with an error.",
            get(&self.http_errors),
        );
        counter(
            "sms_received_total",
            "Registration SMS accepted from gateways.",
            get(&self.sms_received),
        );
        counter(
            "sms_sent_total",
            "Proof SMS handed to the SMS provider.",
            get(&self.sms_sent),
        );
        counter(
            "sms_failed_total",
            "Proof SMS that could not be sent after retries.",
            get(&self.sms_failed),
        );
        counter(
            "numbers_proven_total",
            "Numbers bound to devices by SMS proof.",
            get(&self.numbers_proven),
        );
        counter(
            "invitations_total",
            "Invitations sent.",
            get(&self.invitations),
        );
        counter(
            "push_sent_total",
            "Wake-up pushes the push services accepted.",
            get(&self.push_sent),
        );
        counter(
            "push_failed_total",
            "Wake-up pushes that failed after retries.",
            get(&self.push_failed),
        );
        counter(
            "push_gone_total",
            "Push subscriptions removed because the service said they are gone.",
            get(&self.push_gone),
        );
        counter(
            "push_dropped_total",
            "Wake-up requests dropped because the push queue was full.",
            get(&self.push_dropped),
        );
        counter(
            "card_deliveries_dropped_total",
            "Sessions whose cards were not delivered because the delivery queue was full.",
            get(&self.card_deliveries_dropped),
        );
        counter(
            "calls_reconciled_total",
            "Network calls ended because the SIP proxy no longer had them (a lost end event).",
            get(&self.calls_reconciled),
        );
        counter(
            "screen_deliveries_dropped_total",
            "Sessions whose predetermined screens were not sent because the queue was full.",
            get(&self.screen_deliveries_dropped),
        );
        counter(
            "derived_dropped_total",
            "app/* messages not sent to their transformer because its queue was full.",
            get(&self.derived_dropped),
        );
        let _ = writeln!(out, "# HELP callside_ws_connections Open WebSocket connections.\n# TYPE callside_ws_connections gauge\ncallside_ws_connections {connections}");
        if let Some(rss) = resident_bytes() {
            let _ = writeln!(out, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}");
        }
        let _ = writeln!(out, "# HELP callside_pending_legs Legs waiting for a match.\n# TYPE callside_pending_legs gauge\ncallside_pending_legs {pending_legs}");
        out
    }
}

/// Resident set size of this process (Linux: from /proc/self/statm).
pub(crate) fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
