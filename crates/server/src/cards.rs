//! Cards (S3-F11–F17): the owner's card and audiences (`/v1/me/card`, `/v1/me/audiences`, JSON or
//! vCard 4.0 / jCard), and automatic delivery: when a session is established (or someone joins),
//! each device participant's card goes to the others as a `card` message from it, with only the
//! fields the receivers' audience allows and that the delivery ledger says they lack.

use crate::app::{App, AppState};
use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::sessions::{Outgoing, PendingSend};
use callside_core::card::{self, Audience, Card, FieldKind, NewField};
use callside_core::message::MessageKind;
use callside_core::{NumberRange, Principal, PrincipalId, PrincipalKind, SessionKey};
use callside_proto as proto;
use callside_store::Write;
use std::collections::HashMap;
use tokio::sync::mpsc;

/// Sessions waiting for their cards to be delivered.
pub(crate) const QUEUE: usize = 16_384;

pub(crate) struct Cards {
    /// Devices that have a card: a session none of whose participants has one needs no store
    /// read at all (most sessions, on most deployments). Loaded when delivery starts, kept up to
    /// date by `put` and `delete`; a superset is harmless (delivery then finds an empty card).
    owners: std::sync::RwLock<std::collections::HashSet<PrincipalId>>,
}

pub(crate) fn kind_in(k: proto::card::FieldKind) -> FieldKind {
    use proto::card::FieldKind as P;
    match k {
        P::Name => FieldKind::Name,
        P::Photo => FieldKind::Photo,
        P::Organization => FieldKind::Organization,
        P::Title => FieldKind::Title,
        P::Email => FieldKind::Email,
        P::Phone => FieldKind::Phone,
        P::Address => FieldKind::Address,
        P::Birthday => FieldKind::Birthday,
        P::Url => FieldKind::Url,
        P::Social => FieldKind::Social,
        P::Note => FieldKind::Note,
    }
}

pub(crate) fn kind_out(k: FieldKind) -> proto::card::FieldKind {
    use proto::card::FieldKind as P;
    match k {
        FieldKind::Name => P::Name,
        FieldKind::Photo => P::Photo,
        FieldKind::Organization => P::Organization,
        FieldKind::Title => P::Title,
        FieldKind::Email => P::Email,
        FieldKind::Phone => P::Phone,
        FieldKind::Address => P::Address,
        FieldKind::Birthday => P::Birthday,
        FieldKind::Url => P::Url,
        FieldKind::Social => P::Social,
        FieldKind::Note => P::Note,
    }
}

fn field_out(f: &card::CardField) -> proto::card::CardField {
    proto::card::CardField {
        id: f.id.clone(),
        kind: kind_out(f.kind),
        value: match &f.value {
            card::FieldValue::Text(t) => proto::card::FieldValue::Text(t.clone()),
            card::FieldValue::Address(a) => {
                proto::card::FieldValue::Address(proto::card::Address {
                    street: a.street.clone(),
                    locality: a.locality.clone(),
                    region: a.region.clone(),
                    postal_code: a.postal_code.clone(),
                    country: a.country.clone(),
                })
            }
        },
        label: f.label.clone(),
        version: f.version,
        updated_at: f.updated_at,
    }
}

pub(crate) fn card_out(c: &Card) -> proto::card::Card {
    proto::card::Card {
        fields: c.fields.iter().map(field_out).collect(),
    }
}

fn new_field_in(f: proto::card::NewCardField) -> NewField {
    NewField {
        id: f.id,
        kind: kind_in(f.kind),
        value: match f.value {
            proto::card::FieldValue::Text(t) => card::FieldValue::Text(t),
            proto::card::FieldValue::Address(a) => card::FieldValue::Address(card::Address {
                street: a.street,
                locality: a.locality,
                region: a.region,
                postal_code: a.postal_code,
                country: a.country,
            }),
        },
        label: f.label,
    }
}

fn card_error(e: card::CardError) -> ApiError {
    ApiError::bad("invalid_card", e.to_string())
}

fn devices_only(p: &Principal) -> Result<(), ApiError> {
    match p.kind {
        PrincipalKind::Device { .. } => Ok(()),
        _ => Err(ApiError::Forbidden(
            "devices_only",
            "cards belong to devices".into(),
        )),
    }
}

impl Cards {
    pub(crate) fn new() -> Self {
        Cards {
            owners: Default::default(),
        }
    }

    pub(crate) async fn get(&self, app: &App, p: &Principal) -> Result<Card, ApiError> {
        devices_only(p)?;
        Ok(app.store.card(p.id.clone()).await?)
    }

    /// Replaces the card with `fields` (validated); versions move only for changed fields.
    pub(crate) async fn put(
        &self,
        app: &App,
        p: &Principal,
        fields: Vec<NewField>,
    ) -> Result<Card, ApiError> {
        devices_only(p)?;
        let region = Some(app.config.default_region);
        let fields = fields
            .into_iter()
            .map(|f| f.validate(region))
            .collect::<Result<Vec<_>, _>>()
            .map_err(card_error)?;
        let old = app.store.card(p.id.clone()).await?;
        let card = old.replaced(fields, now_ms()).map_err(card_error)?;
        app.store
            .apply(vec![Write::Card {
                principal: p.id.clone(),
                card: card.clone(),
            }])
            .await?;
        let mut owners = self.owners.write().expect("card owners poisoned");
        if card.fields.is_empty() {
            owners.remove(&p.id);
        } else {
            owners.insert(p.id.clone());
        }
        Ok(card)
    }

    /// S3-F13: imports the vCard or jCard at a URL (public https only, at most 256 KiB, within
    /// `cards.fetch_timeout`, `text/vcard` or `application/vcard+json`).
    pub(crate) async fn fetch(
        &self,
        app: &App,
        p: &Principal,
        url: &str,
    ) -> Result<Card, ApiError> {
        devices_only(p)?;
        let bad = |why: String| ApiError::bad("invalid_card_url", why);
        let url =
            crate::adapters::net::check_public_url(url, app.config.cards_allow_private_urls, false)
                .await
                .map_err(|why| bad(format!("the URL {why}")))?;
        let client = crate::adapters::net::client(
            app.config.cards_allow_private_urls,
            app.config.cards_fetch_timeout,
        );
        let mut res = client
            .get(url)
            .header(
                reqwest::header::ACCEPT,
                "text/vcard, application/vcard+json",
            )
            .send()
            .await
            .map_err(|e| bad(format!("cannot fetch it: {}", e.without_url())))?;
        if !res.status().is_success() {
            return Err(bad(format!("the server answered {}", res.status())));
        }
        let media = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !matches!(
            media.as_str(),
            "text/vcard" | "text/x-vcard" | "application/vcard+json"
        ) {
            return Err(bad(format!(
                "it is `{media}`, not text/vcard or application/vcard+json"
            )));
        }
        const MAX: usize = 256 * 1024;
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| bad(format!("the download failed: {}", e.without_url())))?
        {
            if body.len() + chunk.len() > MAX {
                return Err(bad("it is larger than 256 KiB".into()));
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(body).map_err(|_| bad("it is not UTF-8".into()))?;
        let fields = if media == "application/vcard+json" {
            card::vcard::from_jcard(&text)
        } else {
            card::vcard::from_vcard(&text)
        }
        .map_err(card_error)?;
        self.put(app, p, fields).await
    }

    pub(crate) fn from_json(put: proto::card::PutCard) -> Vec<NewField> {
        put.fields.into_iter().map(new_field_in).collect()
    }

    pub(crate) async fn delete(&self, app: &App, p: &Principal) -> Result<(), ApiError> {
        devices_only(p)?;
        app.store
            .apply(vec![Write::Card {
                principal: p.id.clone(),
                card: Card::default(),
            }])
            .await?;
        self.owners
            .write()
            .expect("card owners poisoned")
            .remove(&p.id);
        Ok(())
    }

    pub(crate) async fn audiences(
        &self,
        app: &App,
        p: &Principal,
    ) -> Result<proto::card::Audiences, ApiError> {
        devices_only(p)?;
        let list = app.store.audiences(p.id.clone()).await?;
        Ok(proto::card::Audiences {
            audiences: list
                .iter()
                .map(|a| proto::card::Audience {
                    name: a.name.clone(),
                    members: a.members.iter().map(|m| m.to_string()).collect(),
                    fields: a.fields.iter().copied().map(kind_out).collect(),
                })
                .collect(),
            default_fields: card::DEFAULT_FIELDS.iter().copied().map(kind_out).collect(),
        })
    }

    pub(crate) async fn put_audiences(
        &self,
        app: &App,
        p: &Principal,
        req: proto::card::Audiences,
    ) -> Result<proto::card::Audiences, ApiError> {
        devices_only(p)?;
        if req.audiences.len() > 32 {
            return Err(ApiError::bad("invalid_audience", "at most 32 audiences"));
        }
        let mut names = std::collections::HashSet::new();
        let mut list = Vec::new();
        for a in req.audiences {
            let name = a.name.trim().to_owned();
            if name.is_empty() || name.len() > 64 || !names.insert(name.clone()) {
                return Err(ApiError::bad(
                    "invalid_audience",
                    "audience names are 1-64 characters and unique",
                ));
            }
            if a.members.is_empty() || a.members.len() > 1000 {
                return Err(ApiError::bad(
                    "invalid_audience",
                    format!("audience `{name}` needs 1 to 1,000 members"),
                ));
            }
            let members = a
                .members
                .iter()
                .map(|m| {
                    // A whole number in any format, or an E.164 prefix.
                    callside_core::PhoneNumber::parse(m, Some(app.config.default_region))
                        .map(|n| NumberRange::parse(n.as_str()).expect("E.164 is a range"))
                        .or_else(|_| NumberRange::parse(m))
                        .map_err(|e| ApiError::bad("invalid_audience", e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut fields: Vec<FieldKind> = a.fields.into_iter().map(kind_in).collect();
            fields.sort();
            fields.dedup();
            list.push(Audience {
                name,
                members,
                fields,
            });
        }
        app.store
            .apply(vec![Write::Audiences {
                principal: p.id.clone(),
                audiences: list,
            }])
            .await?;
        self.audiences(app, p).await
    }

    pub(crate) async fn policy(
        &self,
        app: &App,
        p: &Principal,
    ) -> Result<proto::card::ReceivePolicy, ApiError> {
        devices_only(p)?;
        let policy = app.store.receive_policy(p.id.clone()).await?;
        Ok(proto::card::ReceivePolicy {
            known_only: policy.known_only,
            contacts: policy
                .contacts
                .iter()
                .map(|(n, r)| proto::card::ContactRule {
                    number: n.to_string(),
                    policy: match r {
                        card::ContactPolicy::Block => proto::card::ContactPolicy::Block,
                        card::ContactPolicy::Once => proto::card::ContactPolicy::Once,
                        card::ContactPolicy::Always => proto::card::ContactPolicy::Always,
                    },
                })
                .collect(),
        })
    }

    pub(crate) async fn put_policy(
        &self,
        app: &App,
        p: &Principal,
        req: proto::card::ReceivePolicy,
    ) -> Result<proto::card::ReceivePolicy, ApiError> {
        devices_only(p)?;
        if req.contacts.len() > 10_000 {
            return Err(ApiError::bad(
                "invalid_policy",
                "at most 10,000 contact rules",
            ));
        }
        let mut contacts = Vec::with_capacity(req.contacts.len());
        for c in req.contacts {
            let n = callside_core::PhoneNumber::parse(&c.number, Some(app.config.default_region))
                .map_err(|e| ApiError::bad("invalid_policy", e.to_string()))?;
            let rule = match c.policy {
                proto::card::ContactPolicy::Block => card::ContactPolicy::Block,
                proto::card::ContactPolicy::Once => card::ContactPolicy::Once,
                proto::card::ContactPolicy::Always => card::ContactPolicy::Always,
            };
            contacts.retain(|(m, _)| m != &n);
            contacts.push((n, rule));
        }
        app.store
            .apply(vec![Write::ReceivePolicy {
                principal: p.id.clone(),
                policy: card::ReceivePolicy {
                    known_only: req.known_only,
                    contacts,
                },
            }])
            .await?;
        self.policy(app, p).await
    }

    /// The device reports which versions of `sender`'s card it holds (device-side check).
    pub(crate) async fn report_cache(
        &self,
        app: &App,
        p: &Principal,
        cache: proto::card::CardCache,
    ) -> Result<(), ApiError> {
        devices_only(p)?;
        if cache.fields.len() > card::MAX_FIELDS {
            return Err(ApiError::bad(
                "invalid_card_cache",
                "more fields than a card has",
            ));
        }
        let sender = PrincipalId(cache.sender);
        if app.store.principal(sender.clone()).await?.is_none() {
            return Err(ApiError::NotFound("card owner"));
        }
        app.store
            .apply(vec![Write::ResetLedger {
                sender,
                receiver: p.id.clone(),
                has: cache.fields.into_iter().collect(),
                at: now_ms(),
            }])
            .await?;
        Ok(())
    }

    /// The delivery task: for each session it is told about, delivers the cards.
    pub(crate) async fn run(app: AppState, mut rx: mpsc::Receiver<SessionKey>) {
        // Cards written meanwhile are in the set already; the store adds the older ones.
        loop {
            match app.store.card_owners().await {
                Ok(owners) => {
                    app.cards
                        .owners
                        .write()
                        .expect("card owners poisoned")
                        .extend(owners);
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read who has a card; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        _ = app.supervisor.token().cancelled() => return,
                    }
                }
            }
        }
        loop {
            let key = tokio::select! {
                k = rx.recv() => match k { Some(k) => k, None => return },
                _ = app.supervisor.token().cancelled() => return,
            };
            if let Err(e) = deliver(&app, &key).await {
                tracing::warn!(session = %key, error = %e, "card delivery failed");
            }
        }
    }
}

/// Delivers every device participant's card to the others on `key` (S3-F11/F12/F15/F16).
async fn deliver(app: &App, key: &SessionKey) -> Result<(), ApiError> {
    let rec = app.sessions.record(key).await?;
    if rec.session.closed.is_some() {
        return Ok(());
    }
    {
        let owners = app.cards.owners.read().expect("card owners poisoned");
        if !rec
            .participants
            .iter()
            .any(|p| owners.contains(&p.principal))
        {
            return Ok(());
        }
    }
    for sender in &rec.participants {
        let card = app.store.card(sender.principal.clone()).await?;
        if card.fields.is_empty() {
            continue;
        }
        let others: Vec<_> = rec
            .participants
            .iter()
            .filter(|p| p.principal != sender.principal)
            .collect();
        if others.is_empty() {
            continue;
        }
        // Receiving policies (S3-F17): one receiver's block keeps the card off the shared log.
        let mut used_once = Vec::new();
        let mut admitted = true;
        for o in &others {
            let policy = app.store.receive_policy(o.principal.clone()).await?;
            let (admit, once) = policy.admits(sender.number.as_ref());
            admitted &= admit;
            if once {
                if let Some(n) = &sender.number {
                    used_once.push(Write::ForgetContactRule {
                        principal: o.principal.clone(),
                        number: n.clone(),
                    });
                }
            }
        }
        if !admitted {
            continue;
        }
        let audiences = app.store.audiences(sender.principal.clone()).await?;
        // The log is shared: send only what every receiver may have (the intersection of
        // their audiences), and what at least one receiver lacks.
        let mut allowed: Vec<FieldKind> = FieldKind::ALL.to_vec();
        let mut ledgers: Vec<(PrincipalId, HashMap<String, u64>)> = Vec::new();
        for o in &others {
            let mine = card::allowed_for(&audiences, &card::DEFAULT_FIELDS, o.number.as_ref());
            allowed.retain(|k| mine.contains(k));
            ledgers.push((
                o.principal.clone(),
                app.store
                    .ledger(sender.principal.clone(), o.principal.clone())
                    .await?,
            ));
        }
        let mut fields: Vec<&card::CardField> = Vec::new();
        for f in card.fields.iter().filter(|f| allowed.contains(&f.kind)) {
            if ledgers.iter().any(|(_, has)| {
                !card::to_deliver(
                    &Card {
                        fields: vec![f.clone()],
                    },
                    &allowed,
                    has,
                )
                .is_empty()
            }) {
                fields.push(f);
            }
        }
        if fields.is_empty() {
            continue;
        }
        let name = card.name().map(str::to_owned);
        let body = proto::card::CardBody {
            fields: fields.iter().map(|f| field_out(f)).collect(),
            display: proto::card::Display {
                replace_number: name.is_some(),
                name,
            },
        };
        let now = now_ms();
        let out = Outgoing {
            client_id: callside_core::secret::new_id("card", now),
            kind: MessageKind::Card,
            body: serde_json::to_string(&body).expect("card bodies serialise"),
            blob: None,
            tracking: None,
        };
        match app.sessions.send(&sender.principal, key, out).await? {
            PendingSend::Written { commit, .. } => {
                commit.await.map_err(|_| ApiError::Unavailable)??;
            }
            PendingSend::Duplicate { .. } => {}
        }
        let writes = used_once
            .into_iter()
            .chain(ledgers.iter().flat_map(|(receiver, _)| {
                fields.iter().map(move |f| Write::Delivered {
                    sender: sender.principal.clone(),
                    receiver: receiver.clone(),
                    field: f.id.clone(),
                    version: f.version,
                    at: now,
                })
            }))
            .collect();
        app.store.apply(writes).await?;
    }
    Ok(())
}
