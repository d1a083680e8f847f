//! SQL both backends run as written (with `?N` placeholders, which [`pg`] turns into
//! PostgreSQL's `$N`): the blob conditions erasure and collection share, and who a restarted
//! server wakes again.

/// `sql` with SQLite's `?1`…`?9` written as PostgreSQL's `$1`…`$9`.
pub(crate) fn pg(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// The condition under which blob `?1` is unused: nobody uploaded it or was granted it, no
/// session references it, no automated system's screen shows it.
pub(crate) const BLOB_UNUSED: &str = "NOT EXISTS (SELECT 1 FROM blob_uploaders WHERE blob = ?1) \
     AND NOT EXISTS (SELECT 1 FROM blob_refs WHERE blob = ?1) \
     AND NOT EXISTS (SELECT 1 FROM system_screens WHERE image = ?1)";

/// The condition under which blob `b` (a column or a placeholder) is unreferenced: no message
/// references it, it was granted to nobody, no automated system's screen and no card's photo
/// shows it — only its uploaders hold it ([`Write::CollectBlob`](crate::Write::CollectBlob)).
fn blob_unreferenced(b: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM blob_refs r WHERE r.blob = {b}) \
         AND NOT EXISTS (SELECT 1 FROM blob_uploaders g WHERE g.blob = {b} AND g.granted) \
         AND NOT EXISTS (SELECT 1 FROM system_screens s WHERE s.image = {b}) \
         AND NOT EXISTS (SELECT 1 FROM card_fields f WHERE f.kind = 'photo' AND f.value = {b})"
    )
}

/// [`Write::CollectBlob`](crate::Write::CollectBlob)'s first step: blob `?1`'s uploaders'
/// rows, when it is unreferenced and was last uploaded before `?2` (then
/// `DELETE FROM blobs WHERE id = ?1 AND` [`BLOB_UNUSED`]).
pub(crate) fn collect_uploaders() -> String {
    format!(
        "DELETE FROM blob_uploaders WHERE blob = ?1 AND {}
           AND EXISTS (SELECT 1 FROM blobs WHERE id = ?1 AND created_at < ?2)",
        blob_unreferenced("?1")
    )
}

/// Blobs last uploaded before `?1` that nothing references, oldest first, at most `?2`.
pub(crate) fn unreferenced_blobs() -> String {
    format!(
        "SELECT id FROM blobs WHERE created_at < ?1 AND {} ORDER BY created_at, id LIMIT ?2",
        blob_unreferenced("blobs.id")
    )
}

/// [`PushStore::wakes_due`](crate::PushStore::wakes_due): subscribed devices behind on open
/// sessions (`?1`: messages sent after this time count).
pub(crate) const BEHIND_DEVICES: &str = "SELECT DISTINCT p.principal FROM participants p
     JOIN sessions s ON s.key = p.session
     WHERE s.closed IS NULL
       AND EXISTS (SELECT 1 FROM push_subscriptions ps WHERE ps.device = p.principal)
       AND EXISTS (SELECT 1 FROM messages m WHERE m.session = p.session AND m.seq > p.acked_seq
                   AND m.sender != p.principal AND m.sent_at > ?1)
     ORDER BY p.principal LIMIT 10000";

/// The pending invitations running at `?1` with the subscribed devices they ring.
pub(crate) const RINGING_DEVICES: &str = "SELECT i.id, d.device FROM invitations i
     JOIN invitation_devices d ON d.invitation = i.id
     WHERE i.state = 'pending' AND i.expires_at > ?1
       AND EXISTS (SELECT 1 FROM push_subscriptions ps WHERE ps.device = d.device)
     ORDER BY i.id, d.device LIMIT 10000";

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_become_postgres_ones_and_nothing_else_changes() {
        assert_eq!(
            super::pg("a = ?1 AND b = ?2 AND c = '?' AND d ? e"),
            "a = $1 AND b = $2 AND c = '?' AND d ? e"
        );
    }
}
