//! Number proof by SMS (S2-R) and device self-enrolment: a device asks for a single-use code,
//! the phone texts it to the operator's SMS number, the SMS gateway forwards it with the sender's
//! number, callside texts a keyed signature back to that number only, and the device submits it.
//! The rules and the signature live in `callside_core::proof`.

use super::auth::Auth;
use super::{check_name, new_principal, NumberBound};
use crate::adapters::sms::SmsSender;
use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::supervisor::Tasks;
use crate::Store;
use callside_core::proof::{self, ProofState};
use callside_core::ratelimit::{Limited, Limiter, Rate};
use callside_core::{
    Millis, NumberError, PhoneNumber, Principal, PrincipalId, PrincipalKind, Scope, Token,
};
use callside_store::{AuditRecord, NumberSource, PrincipalRecord, ProofRecord, StoreError, Write};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// The SMS texts of a proof, in the format devices read (implemented in `http.rs`).
pub(crate) trait Wire: Send + Sync {
    /// The answer SMS: the number and the signature the device submits.
    fn proof_sms(&self, number: &PhoneNumber, signature: &str) -> String;
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("only a device can prove a phone number")]
    DevicesOnly,
    #[error("only a device owns numbers")]
    DevicesOwnNumbers,
    #[error("this deployment has no SMS gateway; ask the operator to provision your number")]
    SmsNotConfigured,
    #[error(transparent)]
    RateLimited(#[from] Limited),
    #[error("number proof not found")]
    NotFound,
    #[error("number proof (the code is unknown, used or expired) not found")]
    UnknownCode,
    #[error("this needs an account with the sms_gateway scope")]
    NotSmsGateway,
    #[error("inbound SMS are accepted only from the addresses in sms.inbound_allow")]
    SourceNotAllowed,
    #[error("{0}")]
    NotRegistration(String),
    #[error(transparent)]
    InvalidNumber(#[from] NumberError),
    #[error("{0} is outside this gateway's number ranges")]
    SenderOutOfRange(PhoneNumber),
    #[error("this code already came from another number")]
    Claimed,
    #[error("this proof expired; start a new one")]
    Expired,
    #[error("the registration SMS has not reached the gateway yet")]
    SmsNotReceived,
    #[error("this proof was already used; start a new one")]
    Used,
    #[error("this proof failed after too many wrong signatures; start a new one")]
    Failed,
    #[error("the code, number or signature does not match (tries left: {0})")]
    WrongSignature(u32),
    #[error("number of this device not found")]
    NotYourNumber,
    #[error("this needs an account with the device_enrollment scope")]
    NotEnrollment,
    #[error(transparent)]
    Name(#[from] super::Error),
    #[error("proof {0} was sent without a number")]
    Inconsistent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a proof service needs to know of the deployment.
pub(crate) struct Settings {
    pub(crate) region: crate::numbers::Regions,
    /// The operator's SMS number devices text.
    pub(crate) sms_number: Option<PhoneNumber>,
    pub(crate) proof_ttl: Duration,
    pub(crate) stale_after: Duration,
    /// SMS bindings not proven again within this long lapse; `None`: never.
    pub(crate) lapse_after: Option<Duration>,
    pub(crate) inbound_allow: Vec<ipnet::IpNet>,
    pub(crate) limits: crate::config::Limits,
    /// Keys the server's SMS signatures.
    pub(crate) server_key: [u8; 32],
}

/// A proof just started: the record and the code the device texts (kept only as its hash).
pub(crate) struct Started {
    pub(crate) proof: ProofRecord,
    pub(crate) code: String,
    pub(crate) sms_to: PhoneNumber,
}

/// An SMS a gateway forwards: the sender as the gateway wrote it, and what the text said, read
/// by the edge (a registration's device and code, or why it is not one).
pub(crate) struct InboundSms {
    pub(crate) from: String,
    pub(crate) registration: Result<(String, String), String>,
}

/// What the device submits from the answer SMS.
pub(crate) struct Submission {
    pub(crate) code: String,
    pub(crate) number: String,
    pub(crate) signature: String,
}

struct Limiters {
    starts_per_device: Limiter<PrincipalId>,
    starts_per_source: Limiter<IpAddr>,
    sms_per_number: Limiter<PhoneNumber>,
    sms_per_prefix: Limiter<String>,
    inbound_per_source: Limiter<IpAddr>,
    enrollments_per_source: Limiter<IpAddr>,
    prefix_digits: usize,
}

/// A request without a known peer address (in-process tests) is limited as one source.
const UNKNOWN_SOURCE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

pub(crate) struct Proofs {
    store: Store,
    auth: Arc<Auth>,
    sms: Arc<SmsSender>,
    tasks: Tasks,
    wire: Arc<dyn Wire>,
    metrics: Arc<Metrics>,
    settings: Settings,
    /// Tells invitations about numbers just proven.
    bound: mpsc::Sender<NumberBound>,
    limits: Mutex<Limiters>,
    /// Serialises the state changes of proofs (inbound SMS, completions): no lost updates.
    serial: tokio::sync::Mutex<()>,
}

impl Proofs {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Store,
        auth: Arc<Auth>,
        sms: Arc<SmsSender>,
        tasks: Tasks,
        wire: Arc<dyn Wire>,
        metrics: Arc<Metrics>,
        settings: Settings,
        bound: mpsc::Sender<NumberBound>,
    ) -> Self {
        let l = &settings.limits;
        let limits = Limiters {
            starts_per_device: Limiter::new(Rate::per_hour(l.proofs_per_device_hour)),
            starts_per_source: Limiter::new(Rate::per_hour(l.proofs_per_source_hour)),
            sms_per_number: Limiter::new(Rate::per_hour(l.sms_per_number_hour)),
            sms_per_prefix: Limiter::new(Rate::per_hour(l.sms_per_prefix_hour)),
            inbound_per_source: Limiter::new(Rate::per_minute(l.inbound_sms_per_source_minute)),
            enrollments_per_source: Limiter::new(Rate::per_hour(l.enrollments_per_source_hour)),
            prefix_digits: l.prefix_digits,
        };
        Proofs {
            store,
            auth,
            sms,
            tasks,
            wire,
            metrics,
            settings,
            bound,
            limits: Mutex::new(limits),
            serial: tokio::sync::Mutex::new(()),
        }
    }

    fn limits(&self) -> std::sync::MutexGuard<'_, Limiters> {
        self.limits.lock().expect("rate limits poisoned")
    }

    /// Forgets rate-limit keys that are idle again (housekeeping).
    pub(crate) fn prune(&self, now: Millis) {
        let mut l = self.limits();
        l.starts_per_device.prune(now);
        l.starts_per_source.prune(now);
        l.sms_per_number.prune(now);
        l.sms_per_prefix.prune(now);
        l.inbound_per_source.prune(now);
        l.enrollments_per_source.prune(now);
    }

    /// Ends the SMS bindings not proven again within `sms.lapse_after_days` (housekeeping): the
    /// number may have been recycled to someone else, who must not get the earlier holder's
    /// invitations, notes and sessions — nor the earlier holder theirs. Each lapse is audited and
    /// the device's cached token is evicted, so its next request sees its numbers as they are.
    pub(crate) async fn lapse_bindings(&self, now: Millis) {
        let Some(after) = self.settings.lapse_after else {
            return;
        };
        let lapsed = match self
            .store
            .lapsed_bindings(now - after.as_millis() as Millis)
            .await
        {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for lapsed number bindings");
                return;
            }
        };
        let days = after.as_secs() / 86_400;
        for chunk in lapsed.chunks(256) {
            let writes = chunk
                .iter()
                .flat_map(|(device, number)| {
                    [
                        Write::UnbindNumber {
                            device: device.clone(),
                            number: number.clone(),
                        },
                        Write::Audit(AuditRecord {
                            at: now,
                            actor: device.clone(),
                            action: "binding_lapsed".into(),
                            subject: number.to_string(),
                            detail: format!("not proven again by SMS within {days} days"),
                        }),
                    ]
                })
                .collect();
            if let Err(e) = self.store.apply(writes).await {
                tracing::warn!(error = %e, "could not end lapsed number bindings");
                return;
            }
            for (device, number) in chunk {
                self.auth.evict(device);
                tracing::info!(%device, %number, "SMS binding lapsed");
            }
        }
    }

    /// Drops proofs that expired before `before` (housekeeping).
    pub(crate) async fn purge_expired(&self, before: Millis) {
        let purge = Write::PurgeProofs {
            expired_before: before,
        };
        if let Err(e) = self.store.apply(vec![purge]).await {
            tracing::warn!(error = %e, "could not purge old number proofs");
        }
    }

    /// The operator's SMS number as the device should text it ("" when there is none).
    pub(crate) fn sms_to(&self) -> PhoneNumber {
        PhoneNumber::from_stored(
            self.settings
                .sms_number
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
        )
    }

    /// A device starts proving a number: a single-use code to send by SMS.
    pub(crate) async fn start(
        &self,
        device: &Principal,
        source: Option<IpAddr>,
    ) -> Result<Started, Error> {
        if !matches!(device.kind, PrincipalKind::Device { .. }) {
            return Err(Error::DevicesOnly);
        }
        let sms_to = match (&self.settings.sms_number, self.sms.is_configured()) {
            (Some(n), true) => n.clone(),
            _ => return Err(Error::SmsNotConfigured),
        };
        let now = now_ms();
        {
            let mut l = self.limits();
            let source = source.unwrap_or(UNKNOWN_SOURCE);
            if !l.starts_per_source.would_allow(&source, now) {
                return Err(l.starts_per_source.check(source, now).unwrap_err().into());
            }
            l.starts_per_device.check(device.id.clone(), now)?;
            l.starts_per_source.check(source, now)?;
        }
        let code = callside_core::secret::random_b64(6);
        let proof = ProofRecord {
            id: callside_core::secret::new_id("prf", now),
            device: device.id.clone(),
            code_hash: Token::from_presented(&code).hash(),
            number: None,
            nonce: None,
            state: ProofState::AwaitingSms,
            failures: 0,
            created_at: now,
            expires_at: now + self.settings.proof_ttl.as_millis() as Millis,
        };
        self.store.apply(vec![Write::Proof(proof.clone())]).await?;
        Ok(Started {
            proof,
            code,
            sms_to,
        })
    }

    /// A proof of the calling device.
    pub(crate) async fn get(&self, device: &Principal, id: String) -> Result<ProofRecord, Error> {
        match self.store.proof(id).await? {
            Some(r) if r.device == device.id => Ok(r),
            _ => Err(Error::NotFound),
        }
    }

    /// An SMS gateway forwards a mobile-originated SMS. A registration SMS gets the signature
    /// back by SMS, to the sender's number only.
    pub(crate) async fn inbound(
        &self,
        gateway: &Principal,
        source: Option<IpAddr>,
        sms: InboundSms,
    ) -> Result<(), Error> {
        let now = now_ms();
        if !gateway.has_scope(Scope::SmsGateway) {
            return Err(Error::NotSmsGateway);
        }
        let allowed = source.is_some_and(|ip| {
            self.settings
                .inbound_allow
                .iter()
                .any(|net| net.contains(&ip))
        });
        if !allowed {
            return Err(Error::SourceNotAllowed);
        }
        self.limits()
            .inbound_per_source
            .check(source.unwrap_or(UNKNOWN_SOURCE), now)?;
        let (device, code) = sms.registration.map_err(Error::NotRegistration)?;
        let sender = PhoneNumber::parse(&sms.from, Some(self.settings.region.default()))?;
        if !gateway.may_attest_sender(&sender) {
            return Err(Error::SenderOutOfRange(sender));
        }
        // One SMS at a time: two copies of a code from different numbers cannot both win.
        let _serial = self.serial.lock().await;
        let mut rec = self
            .store
            .proof_by_code(Token::from_presented(&code).hash())
            .await?
            .filter(|r| r.device.as_str() == device && r.expires_at > now)
            .ok_or(Error::UnknownCode)?;
        match (rec.state, &rec.number) {
            (ProofState::Proven | ProofState::Failed, _) => return Err(Error::UnknownCode),
            (ProofState::SmsSent, Some(n)) if *n != sender => return Err(Error::Claimed),
            _ => {}
        }
        // Counted only for SMS that will be answered: junk SMS from a few SIMs cannot spend a
        // whole number block's budget.
        {
            let mut l = self.limits();
            let prefix: String = sender.as_str().chars().take(1 + l.prefix_digits).collect();
            if !l.sms_per_prefix.would_allow(&prefix, now) {
                return Err(l.sms_per_prefix.check(prefix, now).unwrap_err().into());
            }
            l.sms_per_number.check(sender.clone(), now)?;
            l.sms_per_prefix.check(prefix, now)?;
        }
        match (rec.state, &rec.number) {
            (ProofState::AwaitingSms, _) => {
                let mut nonce = vec![0u8; 16];
                getrandom::fill(&mut nonce).expect("the operating system's random source failed");
                rec.number = Some(sender.clone());
                rec.nonce = Some(nonce);
                rec.state = ProofState::SmsSent;
                self.store.apply(vec![Write::Proof(rec.clone())]).await?;
            }
            // The same SMS again (a handset retry, a gateway duplicate): the same answer again.
            (ProofState::SmsSent, Some(n)) if *n == sender => {}
            (ProofState::SmsSent, _) => return Err(Error::Claimed),
            (ProofState::Proven | ProofState::Failed, _) => return Err(Error::UnknownCode),
        }
        let signature = proof::signature(
            &self.settings.server_key,
            &sender,
            &code,
            rec.device.as_str(),
            rec.nonce.as_deref().unwrap_or_default(),
        );
        let text = self.wire.proof_sms(&sender, &signature);
        Metrics::inc(&self.metrics.sms_received);
        let (sms, metrics) = (self.sms.clone(), self.metrics.clone());
        self.tasks.spawn(async move {
            match sms.send(&sender, &text).await {
                Ok(()) => Metrics::inc(&metrics.sms_sent),
                Err(e) => {
                    Metrics::inc(&metrics.sms_failed);
                    tracing::error!(to = %sender, error = %e, "the proof SMS could not be sent");
                }
            }
        });
        Ok(())
    }

    /// The device submits what the SMS told it. On a match the number is bound to the device;
    /// the number and how many stale bindings of it were replaced.
    pub(crate) async fn complete(
        &self,
        device: &Principal,
        id: String,
        sub: Submission,
    ) -> Result<(PhoneNumber, u32), Error> {
        let now = now_ms();
        let _serial = self.serial.lock().await;
        let mut rec = self.get(device, id).await?;
        if rec.expires_at <= now {
            return Err(Error::Expired);
        }
        match rec.state {
            ProofState::AwaitingSms => return Err(Error::SmsNotReceived),
            ProofState::Proven => return Err(Error::Used),
            ProofState::Failed => return Err(Error::Failed),
            ProofState::SmsSent => {}
        }
        let number = rec
            .number
            .clone()
            .ok_or_else(|| Error::Inconsistent(rec.id.clone()))?;
        let presented = PhoneNumber::parse(&sub.number, Some(self.settings.region.default())).ok();
        let code_ok = Token::from_presented(&sub.code).hash() == rec.code_hash;
        let ok = code_ok
            && presented.as_ref() == Some(&number)
            && proof::verify(
                &self.settings.server_key,
                &number,
                &sub.code,
                rec.device.as_str(),
                rec.nonce.as_deref().unwrap_or_default(),
                &sub.signature,
            );
        if !ok {
            rec.failures += 1;
            let left = proof::MAX_WRONG_SIGNATURES.saturating_sub(rec.failures);
            if left == 0 {
                rec.state = ProofState::Failed;
            }
            self.store.apply(vec![Write::Proof(rec)]).await?;
            return Err(Error::WrongSignature(left));
        }
        let stale_before = now - self.settings.stale_after.as_millis() as Millis;
        let stale = self
            .store
            .stale_bindings(number.clone(), device.id.clone(), stale_before)
            .await?;
        rec.state = ProofState::Proven;
        self.store
            .apply(vec![
                Write::Proof(rec),
                Write::BindNumber {
                    device: device.id.clone(),
                    number: number.clone(),
                    source: NumberSource::Sms,
                    at: now,
                    stale_before: Some(stale_before),
                },
            ])
            .await?;
        self.auth.evict(&device.id);
        for d in &stale {
            self.auth.evict(d);
            tracing::info!(device = %d, number = %number, "stale SMS binding replaced");
        }
        Metrics::inc(&self.metrics.numbers_proven);
        let bound = NumberBound {
            device: device.id.clone(),
            number: number.clone(),
        };
        if self.bound.send(bound).await.is_err() {
            tracing::debug!("nobody listens for proven numbers (shutting down)");
        }
        Ok((number, stale.len() as u32))
    }

    /// The device gives up one of its numbers.
    pub(crate) async fn unbind(&self, device: &Principal, number: &str) -> Result<(), Error> {
        let PrincipalKind::Device { numbers } = &device.kind else {
            return Err(Error::DevicesOwnNumbers);
        };
        let number = self.settings.region.parse(number, device)?;
        if !numbers.contains(&number) {
            return Err(Error::NotYourNumber);
        }
        self.store
            .apply(vec![Write::UnbindNumber {
                device: device.id.clone(),
                number,
            }])
            .await?;
        self.auth.evict(&device.id);
        Ok(())
    }

    /// An enrolment account creates a device that owns no number yet.
    pub(crate) async fn enroll(
        &self,
        account: &Principal,
        source: Option<IpAddr>,
        name: &str,
    ) -> Result<(PrincipalRecord, Token), Error> {
        let name = check_name(name)?;
        if !account.has_scope(Scope::DeviceEnrollment) {
            return Err(Error::NotEnrollment);
        }
        self.limits()
            .enrollments_per_source
            .check(source.unwrap_or(UNKNOWN_SOURCE), now_ms())?;
        let (rec, token) = new_principal(
            name,
            "dev",
            PrincipalKind::Device {
                numbers: Vec::new(),
            },
        );
        self.store
            .apply(vec![Write::Principal(rec.clone(), token.hash())])
            .await?;
        Ok((rec, token))
    }
}
