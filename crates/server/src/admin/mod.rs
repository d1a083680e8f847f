//! Administration: what the operator's admin token may do — provision devices bound to numbers,
//! create service accounts (network elements, automated systems, SMS gateways, enrolment and
//! caller-data accounts) with scopes and number ranges, delete them, replace their tokens, and
//! read the audit log.
//!
//! May touch: the store, and `identity` (new principals, replacing and revoking tokens). Every
//! operation here assumes the caller was checked to be the operator (`http.rs` does).

pub(crate) mod http;

use crate::identity::systems::Systems;
use crate::identity::{self, check_name, new_principal, token_prefix, Identity};
use crate::Store;
use callside_core::principal::Scope;
use callside_core::{
    NumberError, NumberRange, PhoneNumber, PrincipalId, PrincipalKind, Region, Token,
};
use callside_store::{AuditRecord, PrincipalRecord, StoreError, Write};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("a device needs 1 to 16 numbers")]
    DeviceNumbers,
    #[error("give at least one scope")]
    NoScope,
    #[error("give 1 to 256 number ranges (only a device_enrollment account needs none)")]
    Ranges,
    #[error("a merchant's account comes with its merchant (POST /v1/admin/merchants, `callside admin merchant create`), an agent's with its agent (PUT /v1/merchant/agents/{{id}}), and a visitor's with its web call")]
    MerchantScope,
    #[error(transparent)]
    InvalidNumber(#[from] NumberError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Identity(#[from] identity::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which kind of principal an operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Device,
    ServiceAccount,
}

impl Kind {
    fn stored(self) -> &'static str {
        match self {
            Kind::Device => "device",
            Kind::ServiceAccount => "service",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Device => "device",
            Kind::ServiceAccount => "service account",
        }
    }

    fn is(self, k: &PrincipalKind) -> bool {
        matches!(
            (k, self),
            (PrincipalKind::Device { .. }, Kind::Device)
                | (PrincipalKind::Service { .. }, Kind::ServiceAccount)
        )
    }
}

/// A service account to create, as the operator asked for it.
pub(crate) struct NewAccount {
    pub(crate) name: String,
    pub(crate) scopes: Vec<Scope>,
    pub(crate) ranges: Vec<String>,
}

pub(crate) struct Admin {
    store: Store,
    identity: Arc<Identity>,
    systems: Arc<Systems>,
    region: Region,
}

impl Admin {
    pub(crate) fn new(
        store: Store,
        identity: Arc<Identity>,
        systems: Arc<Systems>,
        region: Region,
    ) -> Self {
        Admin {
            store,
            identity,
            systems,
            region,
        }
    }

    /// A device bound to `numbers` (any format the default region reads); its first token.
    pub(crate) async fn create_device(
        &self,
        name: &str,
        numbers: &[String],
    ) -> Result<(PrincipalRecord, Token), Error> {
        let name = check_name(name)?;
        if numbers.is_empty() || numbers.len() > 16 {
            return Err(Error::DeviceNumbers);
        }
        let mut parsed: Vec<PhoneNumber> = Vec::new();
        for n in numbers {
            let n = PhoneNumber::parse(n, Some(self.region))?;
            if !parsed.contains(&n) {
                parsed.push(n);
            }
        }
        let (rec, token) = new_principal(name, "dev", PrincipalKind::Device { numbers: parsed });
        self.store
            .apply(vec![Write::Principal(rec.clone(), token.hash())])
            .await?;
        Ok((rec, token))
    }

    /// A network element or automated system (or gateway, enrolment or caller-data account).
    pub(crate) async fn create_account(
        &self,
        req: NewAccount,
    ) -> Result<(PrincipalRecord, Token), Error> {
        let name = check_name(&req.name)?;
        if req.scopes.is_empty() {
            return Err(Error::NoScope);
        }
        if req
            .scopes
            .iter()
            .any(|s| matches!(s, Scope::Merchant | Scope::Agent | Scope::Visitor))
        {
            return Err(Error::MerchantScope);
        }
        let only_enrollment = req.scopes.iter().all(|s| *s == Scope::DeviceEnrollment);
        if (req.ranges.is_empty() && !only_enrollment) || req.ranges.len() > 256 {
            return Err(Error::Ranges);
        }
        let ranges = req
            .ranges
            .iter()
            .map(|r| NumberRange::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        let mut scopes = req.scopes;
        scopes.dedup();
        let (rec, token) = new_principal(name, "svc", PrincipalKind::Service { scopes, ranges });
        self.store
            .apply(vec![Write::Principal(rec.clone(), token.hash())])
            .await?;
        self.systems.forget();
        Ok((rec, token))
    }

    /// Live principals of a kind, oldest first.
    pub(crate) async fn list(&self, kind: Kind) -> Result<Vec<PrincipalRecord>, Error> {
        Ok(self.store.principals(kind.stored()).await?)
    }

    async fn principal_of_kind(&self, id: &str, kind: Kind) -> Result<PrincipalRecord, Error> {
        match self.store.principal(PrincipalId(id.to_owned())).await? {
            Some(r) if kind.is(&r.principal.kind) => Ok(r),
            _ => Err(Error::NotFound(kind.noun())),
        }
    }

    /// Deletes a device or account: its tokens stop working at once and its sockets close.
    pub(crate) async fn delete(&self, kind: Kind, id: &str) -> Result<(), Error> {
        let rec = self.principal_of_kind(id, kind).await?;
        self.store
            .apply(vec![Write::DeletePrincipal(rec.principal.id.clone())])
            .await?;
        self.systems.forget();
        self.identity
            .revoke(&rec.principal.id, "the device or account was deleted");
        Ok(())
    }

    /// Everything kept about a device, table by table ([`callside_store::personal`]).
    pub(crate) async fn personal_data(
        &self,
        id: &str,
    ) -> Result<Vec<callside_store::personal::PersonalTable>, Error> {
        let rec = self.principal_of_kind(id, Kind::Device).await?;
        Ok(self.store.personal_data(rec.principal.id).await?)
    }

    /// Erases a device's personal data ([`Write::ErasePrincipal`]): its tokens stop and its
    /// sockets close first, so it sends nothing more. Answers what the erasure found (from the
    /// export just before it) and the blobs the device uploaded or was granted, for the caller
    /// to delete those now unused.
    pub(crate) async fn erase(
        &self,
        id: &str,
    ) -> Result<
        (
            Vec<callside_store::personal::PersonalTable>,
            Vec<callside_core::message::BlobId>,
        ),
        Error,
    > {
        let rec = self.principal_of_kind(id, Kind::Device).await?;
        let id = rec.principal.id;
        self.identity.revoke(&id, "the device was erased");
        let before = self.store.personal_data(id.clone()).await?;
        let blobs = self.store.blobs_of(id.clone()).await?;
        self.store
            .apply(vec![Write::ErasePrincipal {
                id: id.clone(),
                at: crate::clock::now_ms(),
            }])
            .await?;
        self.systems.forget();
        // A request authenticated just before the revocation may have queued a write behind
        // the erasure: erasing again (it is idempotent) catches what was queued meanwhile.
        self.store
            .apply(vec![Write::ErasePrincipal {
                id,
                at: crate::clock::now_ms(),
            }])
            .await?;
        Ok((before, blobs))
    }

    /// A new token for a device or account; the old one stops working.
    pub(crate) async fn rotate(&self, kind: Kind, id: &str) -> Result<Token, Error> {
        let rec = self.principal_of_kind(id, kind).await?;
        let prefix = token_prefix(&rec.principal.kind);
        Ok(self
            .identity
            .replace_token(&rec.principal.id, prefix)
            .await?)
    }

    /// The newest `limit` lines of the audit log, newest first.
    pub(crate) async fn audit(&self, limit: u32) -> Result<Vec<AuditRecord>, Error> {
        Ok(self.store.audit(limit).await?)
    }

    /// Devices and service accounts whose token was not presented for `days` days.
    pub(crate) async fn unused_tokens(
        &self,
        days: u32,
        now: callside_core::Millis,
    ) -> Result<Vec<callside_store::UnusedToken>, Error> {
        let before = now - callside_core::Millis::from(days) * 86_400_000;
        Ok(self.store.unused_tokens(before).await?)
    }
}
