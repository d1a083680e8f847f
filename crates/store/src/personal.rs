//! Where one device's personal data lives, and what erasing it does: one list for every
//! backend, so an export shows everything an erasure touches and both backends erase alike.
//!
//! Each [`Holding`] names a table, the SQL condition picking the device's rows in it (`?1` is
//! the device's id, `?2` the erasure's time) and what [`Write::ErasePrincipal`](crate::Write)
//! does to them. Conditions that need the device's numbers read them from `numbers`, which is
//! why `numbers` goes last but one (and `principals`, whose row the others may name, last).
//! The SQLite backend checks that every table of its schema is either here or in
//! [`NOT_PERSONAL`], so a new table cannot be forgotten.

/// What an erasure does to a table's rows of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnErase {
    /// The rows are deleted.
    Delete,
    /// The rows stay with these columns overwritten (an SQL `SET` list): messages keep their
    /// place in a log others read, as `erased`.
    Redact(&'static str),
    /// The rows stay, for the reason given (they are exported all the same), until retention
    /// removes them.
    Keep(&'static str),
}

/// One table holding a device's data.
#[derive(Debug, Clone, Copy)]
pub struct Holding {
    pub table: &'static str,
    /// An SQL condition on the table's rows (no alias); `?1` is the device, `?2` the time.
    pub rows: &'static str,
    pub on_erase: OnErase,
}

/// The device's own numbers (not ranges), for conditions on the numbers a row names.
macro_rules! their_numbers {
    () => {
        "(SELECT number FROM numbers WHERE principal = ?1 AND NOT is_range)"
    };
}

/// The device's data, in erasure order.
pub const HOLDINGS: &[Holding] = &[
    Holding {
        table: "emails",
        rows: "principal = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "email_validations",
        rows: "device = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "number_proofs",
        rows: "device = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "card_fields",
        rows: "principal = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "audiences",
        rows: "principal = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "card_policies",
        rows: "principal = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "card_policy_contacts",
        rows: "principal = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "card_ledger",
        rows: "sender = ?1 OR receiver = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "capabilities",
        rows: "principal = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "capability_components",
        rows: "principal = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "couplings",
        rows: "principal = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "push_subscriptions",
        rows: "device = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "browser_links",
        rows: "device = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "browsers",
        rows: "device = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "legs",
        rows: "principal = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "call_notes",
        rows: concat!(
            "sender = ?1 OR to_number IN ",
            their_numbers!(),
            " OR from_number IN ",
            their_numbers!()
        ),
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "invitation_devices",
        rows: concat!(
            "device = ?1 OR invitation IN (SELECT id FROM invitations WHERE inviter = ?1 \
             OR answered_by = ?1 OR invitee IN ",
            their_numbers!(),
            ")"
        ),
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "invitations",
        rows: concat!(
            "inviter = ?1 OR answered_by = ?1 OR invitee IN ",
            their_numbers!()
        ),
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "blob_refs",
        rows: "EXISTS (SELECT 1 FROM messages m WHERE m.session = blob_refs.session \
               AND m.seq = blob_refs.seq AND m.sender = ?1)",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "blob_uploaders",
        // Its uploads and grants, and the grants of what it uploaded to others.
        rows: "principal = ?1 OR (granted AND blob IN \
               (SELECT blob FROM blob_uploaders WHERE principal = ?1 AND NOT granted))",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "screens",
        rows: "sender = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "system_screens",
        rows: "principal = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        // Transformer work for its messages: not posted after the erasure.
        table: "derived_jobs",
        rows: "EXISTS (SELECT 1 FROM messages m WHERE m.session = derived_jobs.session \
               AND m.seq = derived_jobs.seq AND m.sender = ?1)",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "messages",
        rows: "sender = ?1",
        on_erase: OnErase::Redact("kind = 'erased', body = '{}', client_id = NULL"),
    },
    Holding {
        table: "participants",
        rows: "principal = ?1",
        on_erase: OnErase::Redact("number = NULL"),
    },
    Holding {
        table: "calls",
        rows: concat!(
            "caller IN ",
            their_numbers!(),
            " OR callee IN ",
            their_numbers!(),
            " OR diverted_to IN ",
            their_numbers!()
        ),
        on_erase: OnErase::Keep(
            "the network's record of a call, which the other party shares; \
             [retention] calls_days removes it",
        ),
    },
    Holding {
        table: "audit_log",
        rows: concat!("actor = ?1 OR subject IN ", their_numbers!()),
        on_erase: OnErase::Keep(
            "the operator's record of what it did on the device's behalf (an SMS sent); \
             [retention] audit_days removes it",
        ),
    },
    Holding {
        table: "tokens",
        rows: "principal = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "numbers",
        rows: "principal = ?1",
        on_erase: OnErase::Delete,
    },
    Holding {
        table: "principals",
        rows: "id = ?1",
        on_erase: OnErase::Redact("name = '', deleted_at = COALESCE(deleted_at, ?2)"),
    },
];

/// Tables with nothing about one device beyond ids the holdings above cover, and why.
pub const NOT_PERSONAL: &[(&str, &str)] = &[
    (
        "sessions",
        "keys, times and states; who took part is in participants",
    ),
    (
        "conferences",
        "a bridge number and the session a conference id opened",
    ),
    (
        "blobs",
        "size and type by content hash; unreferenced ones are deleted with their bytes",
    ),
    ("components", "the operator's catalogue"),
    (
        "retired_tokens",
        "hashes of tokens that no longer work, to say so",
    ),
    ("merchants", "merchants' accounts (services, not devices)"),
    ("merchant_links", "merchants' buttons"),
    ("merchant_pages", "merchants' pages"),
    (
        "merchant_agents",
        "merchants' call-centre agents (service accounts, not devices)",
    ),
    ("merchant_routing", "merchants' routing rules"),
    (
        "merchant_webhooks",
        "merchants' webhook addresses and secrets",
    ),
    (
        "merchant_clicks",
        "merchants' call records, by their own customer ids",
    ),
    ("callside_schema", "the PostgreSQL schema's version"),
];

/// Columns never exported: hashes of secrets (tokens, codes) and values that only identify
/// them.
pub const SECRET_COLUMNS: &[&str] = &[
    "hash",
    "code_hash",
    "token_hash",
    "access_hash",
    "refresh_hash",
    "previous_refresh_hash",
    "identity",
    "nonce",
];

/// Columns holding JSON text, exported as JSON rather than as a string of it.
pub const JSON_COLUMNS: &[&str] = &["body", "data", "offer", "answer", "context", "rules"];

/// The device's rows of one table, as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonalTable {
    pub table: &'static str,
    /// Each row's columns by name (secrets left out).
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    pub on_erase: OnErase,
}

/// A column's value for the export: JSON columns parsed, the rest as they are.
pub(crate) fn exported(column: &str, value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) if JSON_COLUMNS.contains(&column) => {
            serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))
        }
        v => v,
    }
}
