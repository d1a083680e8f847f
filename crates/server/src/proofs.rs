//! Number proof by SMS (S2-R) and device self-enrolment: the service behind `/v1/me/numbers/…`,
//! `/v1/sms/inbound` and `/v1/devices`. The rules and SMS texts live in `callside_core::proof`.

use crate::app::AppState;
use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::http::wire as mapping;
use callside_core::proof::{self, ProofState};
use callside_core::ratelimit::{Limiter, Rate};
use callside_core::{Millis, PhoneNumber, Principal, PrincipalId, PrincipalKind, Scope, Token};
use callside_proto as proto;
use callside_proto::numbers::{MoRequest, MtProof};
use callside_store::{NumberSource, ProofRecord, Write};
use std::net::IpAddr;
use std::sync::Mutex;

/// The rate limits of this service, per key.
pub(crate) struct Proofs {
    limits: Mutex<Limiters>,
    /// Serialises the state changes of proofs (inbound SMS, completions): no lost updates.
    serial: tokio::sync::Mutex<()>,
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

impl Proofs {
    pub(crate) fn new(l: &crate::config::Limits) -> Self {
        Proofs {
            serial: tokio::sync::Mutex::new(()),
            limits: Mutex::new(Limiters {
                starts_per_device: Limiter::new(Rate::per_hour(l.proofs_per_device_hour)),
                starts_per_source: Limiter::new(Rate::per_hour(l.proofs_per_source_hour)),
                sms_per_number: Limiter::new(Rate::per_hour(l.sms_per_number_hour)),
                sms_per_prefix: Limiter::new(Rate::per_hour(l.sms_per_prefix_hour)),
                inbound_per_source: Limiter::new(Rate::per_minute(l.inbound_sms_per_source_minute)),
                enrollments_per_source: Limiter::new(Rate::per_hour(l.enrollments_per_source_hour)),
                prefix_digits: l.prefix_digits,
            }),
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

    /// A device starts proving a number: a single-use code to send by SMS.
    pub(crate) async fn start(
        &self,
        app: &AppState,
        device: &Principal,
        source: Option<IpAddr>,
    ) -> Result<proto::numbers::NumberProof, ApiError> {
        if !matches!(device.kind, PrincipalKind::Device { .. }) {
            return Err(ApiError::Forbidden(
                "devices_only",
                "only a device can prove a phone number".into(),
            ));
        }
        let sms_to =
            match (&app.config.sms.number, app.sms.is_configured()) {
                (Some(n), true) => n.clone(),
                _ => return Err(ApiError::Disabled(
                    "sms_not_configured",
                    "this deployment has no SMS gateway; ask the operator to provision your number"
                        .into(),
                )),
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
        let rec = ProofRecord {
            id: callside_core::secret::new_id("prf", now),
            device: device.id.clone(),
            code_hash: Token::from_presented(&code).hash(),
            number: None,
            nonce: None,
            state: ProofState::AwaitingSms,
            failures: 0,
            created_at: now,
            expires_at: now + app.config.sms.proof_ttl.as_millis() as Millis,
        };
        app.store.apply(vec![Write::Proof(rec.clone())]).await?;
        let mut view = mapping::proof(&rec, &sms_to, now);
        view.sms_body = Some(
            MoRequest {
                device: device.id.to_string(),
                code: code.clone(),
            }
            .text(),
        );
        view.code = Some(code);
        Ok(view)
    }

    /// A proof of the calling device.
    pub(crate) async fn get(
        &self,
        app: &AppState,
        device: &Principal,
        id: String,
    ) -> Result<proto::numbers::NumberProof, ApiError> {
        let rec = self.own(app, device, id).await?;
        let sms_to = app
            .config
            .sms
            .number
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default();
        Ok(mapping::proof(
            &rec,
            &PhoneNumber::from_stored(sms_to),
            now_ms(),
        ))
    }

    async fn own(
        &self,
        app: &AppState,
        device: &Principal,
        id: String,
    ) -> Result<ProofRecord, ApiError> {
        match app.store.proof(id).await? {
            Some(r) if r.device == device.id => Ok(r),
            _ => Err(ApiError::NotFound("number proof")),
        }
    }

    /// An SMS gateway forwards a mobile-originated SMS. A registration SMS gets the signature
    /// back by SMS, to the sender's number only.
    pub(crate) async fn inbound(
        &self,
        app: &AppState,
        gateway: &Principal,
        source: Option<IpAddr>,
        sms: proto::numbers::InboundSms,
    ) -> Result<(), ApiError> {
        let now = now_ms();
        if !gateway.has_scope(Scope::SmsGateway) {
            return Err(ApiError::Forbidden(
                "not_sms_gateway",
                "this needs an account with the sms_gateway scope".into(),
            ));
        }
        let allowed = source.is_some_and(|ip| {
            app.config
                .sms
                .inbound_allow
                .iter()
                .any(|net| net.contains(&ip))
        });
        if !allowed {
            return Err(ApiError::Forbidden(
                "source_not_allowed",
                "inbound SMS are accepted only from the addresses in sms.inbound_allow".into(),
            ));
        }
        self.limits()
            .inbound_per_source
            .check(source.unwrap_or(UNKNOWN_SOURCE), now)?;
        let mo = MoRequest::parse(&sms.text)
            .map_err(|e| ApiError::bad("not_registration", e.to_string()))?;
        let sender = PhoneNumber::parse(&sms.from, Some(app.config.default_region))?;
        if !gateway.may_attest_sender(&sender) {
            return Err(ApiError::Forbidden(
                "sender_out_of_range",
                format!("{sender} is outside this gateway's number ranges"),
            ));
        }
        let unknown = || ApiError::NotFound("number proof (the code is unknown, used or expired)");
        // One SMS at a time: two copies of a code from different numbers cannot both win.
        let _serial = self.serial.lock().await;
        let mut rec = app
            .store
            .proof_by_code(Token::from_presented(&mo.code).hash())
            .await?
            .filter(|r| r.device.as_str() == mo.device && r.expires_at > now)
            .ok_or_else(unknown)?;
        match (rec.state, &rec.number) {
            (ProofState::Proven | ProofState::Failed, _) => return Err(unknown()),
            (ProofState::SmsSent, Some(n)) if *n != sender => {
                return Err(ApiError::Conflict(
                    "proof_claimed",
                    "this code already came from another number".into(),
                ))
            }
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
                app.store.apply(vec![Write::Proof(rec.clone())]).await?;
            }
            // The same SMS again (a handset retry, a gateway duplicate): the same answer again.
            (ProofState::SmsSent, Some(n)) if *n == sender => {}
            (ProofState::SmsSent, _) => {
                return Err(ApiError::Conflict(
                    "proof_claimed",
                    "this code already came from another number".into(),
                ))
            }
            (ProofState::Proven | ProofState::Failed, _) => return Err(unknown()),
        }
        let signature = proof::signature(
            &app.server_key,
            &sender,
            &mo.code,
            rec.device.as_str(),
            rec.nonce.as_deref().unwrap_or_default(),
        );
        let text = MtProof {
            number: sender.as_str().to_owned(),
            signature,
        }
        .text();
        crate::metrics::Metrics::inc(&app.metrics.sms_received);
        let app = app.clone();
        app.supervisor.tasks().spawn(async move {
            match app.sms.send(&sender, &text).await {
                Ok(()) => crate::metrics::Metrics::inc(&app.metrics.sms_sent),
                Err(e) => {
                    crate::metrics::Metrics::inc(&app.metrics.sms_failed);
                    tracing::error!(to = %sender, error = %e, "the proof SMS could not be sent");
                }
            }
        });
        Ok(())
    }

    /// The device submits what the SMS told it. On a match the number is bound to the device.
    pub(crate) async fn complete(
        &self,
        app: &AppState,
        device: &Principal,
        id: String,
        req: proto::numbers::CompleteProof,
    ) -> Result<proto::numbers::ProvenNumber, ApiError> {
        let now = now_ms();
        let _serial = self.serial.lock().await;
        let mut rec = self.own(app, device, id).await?;
        if rec.expires_at <= now {
            return Err(ApiError::Gone(
                "proof_expired",
                "this proof expired; start a new one".into(),
            ));
        }
        match rec.state {
            ProofState::AwaitingSms => {
                return Err(ApiError::Conflict(
                    "sms_not_received",
                    "the registration SMS has not reached the gateway yet".into(),
                ))
            }
            ProofState::Proven => {
                return Err(ApiError::Gone(
                    "proof_used",
                    "this proof was already used; start a new one".into(),
                ))
            }
            ProofState::Failed => {
                return Err(ApiError::Gone(
                    "proof_failed",
                    "this proof failed after too many wrong signatures; start a new one".into(),
                ))
            }
            ProofState::SmsSent => {}
        }
        let number = rec.number.clone().ok_or_else(|| {
            ApiError::Internal(format!("proof {} was sent without a number", rec.id))
        })?;
        let presented = PhoneNumber::parse(&req.number, Some(app.config.default_region)).ok();
        let code_ok = Token::from_presented(&req.code).hash() == rec.code_hash;
        let ok = code_ok
            && presented.as_ref() == Some(&number)
            && proof::verify(
                &app.server_key,
                &number,
                &req.code,
                rec.device.as_str(),
                rec.nonce.as_deref().unwrap_or_default(),
                &req.signature,
            );
        if !ok {
            rec.failures += 1;
            let left = proof::MAX_WRONG_SIGNATURES.saturating_sub(rec.failures);
            if left == 0 {
                rec.state = ProofState::Failed;
            }
            app.store.apply(vec![Write::Proof(rec)]).await?;
            return Err(ApiError::bad(
                "wrong_signature",
                format!("the code, number or signature does not match (tries left: {left})"),
            ));
        }
        let stale_before = now - app.config.sms.stale_after.as_millis() as Millis;
        let stale = app
            .store
            .stale_bindings(number.clone(), device.id.clone(), stale_before)
            .await?;
        rec.state = ProofState::Proven;
        app.store
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
        app.auth.evict(&device.id);
        for d in &stale {
            app.auth.evict(d);
            tracing::info!(device = %d, number = %number, "stale SMS binding replaced");
        }
        crate::metrics::Metrics::inc(&app.metrics.numbers_proven);
        app.invitations.number_bound(app, &device.id, &number).await;
        Ok(proto::numbers::ProvenNumber {
            number: number.as_str().to_owned(),
            replaced: stale.len() as u32,
        })
    }

    /// The device gives up one of its numbers.
    pub(crate) async fn unbind(
        &self,
        app: &AppState,
        device: &Principal,
        number: &str,
    ) -> Result<(), ApiError> {
        let PrincipalKind::Device { numbers } = &device.kind else {
            return Err(ApiError::Forbidden(
                "devices_only",
                "only a device owns numbers".into(),
            ));
        };
        let number = PhoneNumber::parse(number, Some(app.config.default_region))?;
        if !numbers.contains(&number) {
            return Err(ApiError::NotFound("number of this device"));
        }
        app.store
            .apply(vec![Write::UnbindNumber {
                device: device.id.clone(),
                number,
            }])
            .await?;
        app.auth.evict(&device.id);
        Ok(())
    }

    /// An enrolment account creates a device that owns no number yet.
    pub(crate) async fn enroll(
        &self,
        app: &AppState,
        account: &Principal,
        source: Option<IpAddr>,
        name: String,
    ) -> Result<proto::admin::CreatedDevice, ApiError> {
        if !account.has_scope(Scope::DeviceEnrollment) {
            return Err(ApiError::Forbidden(
                "not_enrollment",
                "this needs an account with the device_enrollment scope".into(),
            ));
        }
        self.limits()
            .enrollments_per_source
            .check(source.unwrap_or(UNKNOWN_SOURCE), now_ms())?;
        let (rec, token) = crate::routes::new_principal(
            name,
            "dev",
            PrincipalKind::Device {
                numbers: Vec::new(),
            },
        );
        app.store
            .apply(vec![Write::Principal(rec.clone(), token.hash())])
            .await?;
        Ok(proto::admin::CreatedDevice {
            device: mapping::device(&rec).expect("a device"),
            token: token.expose().to_owned(),
        })
    }
}
