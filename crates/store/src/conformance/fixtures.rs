//! Records and helpers the cases share (and backends' own tests may use).

use crate::prelude::*;
use crate::{MessageRecord, ParticipantRecord, PrincipalRecord, SessionRecord, Write};
use callside_core::principal::{Principal, PrincipalId, PrincipalKind};
use callside_core::session::{Lifecycle, Origin, Session};
use callside_core::{PhoneNumber, SessionKey, Token};
use std::ops::Deref;

/// A number known to be valid.
pub fn n(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s, None).unwrap()
}

/// Device `id` (named "`id` phone") owning `number`, created at 1.
pub fn device(id: &str, number: &str) -> PrincipalRecord {
    PrincipalRecord {
        principal: Principal {
            id: PrincipalId(id.into()),
            name: format!("{id} phone"),
            kind: PrincipalKind::Device {
                numbers: vec![n(number)],
            },
        },
        created_at: 1,
    }
}

/// Creates a device for each of `ids` (the `i`th owning +44207946000`i`) in one commit.
pub async fn seed(store: &impl Deref<Target: Store>, ids: &[&str]) {
    let writes = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            Write::Principal(
                device(id, &format!("+44207946000{i}")),
                Token::generate("d").hash(),
            )
        })
        .collect();
    store.apply(writes).await.unwrap();
}

/// Session `key` of paired legs created at 10, kept after the call, with `who` taking part.
pub fn session(key: &SessionKey, who: &[&str]) -> SessionRecord {
    let participants: Vec<ParticipantRecord> = who
        .iter()
        .map(|p| ParticipantRecord {
            principal: PrincipalId((*p).into()),
            name: format!("{p} phone"),
            number: None,
            acked_seq: 0,
            joined_seq: 0,
            history: None,
        })
        .collect();
    SessionRecord {
        session: Session::new(
            key.clone(),
            Origin::PairedLegs,
            Lifecycle::KeepAfterCall,
            participants.iter().map(|p| p.principal.clone()).collect(),
            10,
        ),
        call_id: None,
        participants,
        last_seq: 0,
        last_activity: 10,
    }
}

/// Text message `seq` of `key` from `sender` with client id `id`, sent at 20 + `seq`.
pub fn msg(key: &SessionKey, seq: u64, sender: &str, id: &str) -> MessageRecord {
    MessageRecord {
        session: key.clone(),
        seq,
        sender: sender.into(),
        client_id: Some(id.into()),
        kind: "text".into(),
        body: format!("{{\"text\":\"m{seq}\"}}"),
        sent_at: 20 + seq as i64,
        blob: None,
    }
}

/// Appends `n` messages to `key`, one commit each, with bodies large enough to dirty a page.
pub async fn append(store: &impl Deref<Target: Store>, key: &SessionKey, from: u64, n: u64) {
    for seq in from..from + n {
        let mut m = msg(key, seq, "a", &format!("c{seq}"));
        m.body = format!("{{\"text\":\"{}\"}}", "x".repeat(3000));
        store.apply(vec![Write::Message(m)]).await.unwrap();
    }
}
