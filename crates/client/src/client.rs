//! [`Client`]: typed async methods for every HTTP route of the server.

use crate::{id::new_message_id, Error};
use bytes::Bytes;
use callside_proto::admin::{CreatedDevice, Me, RotatedToken};
use callside_proto::blob::BlobInfo;
use callside_proto::call::{LegState, LegStatus, ReportLeg};
use callside_proto::connect::ConnectionData;
use callside_proto::email::{EmailValidation, ValidatedEmail};
use callside_proto::invitation::{AcceptInvitation, CreateInvitation, Invitation, InvitationList};
use callside_proto::message::{Accepted, AckRequest, FileBody, MessagePage, SendMessage, TextBody};
use callside_proto::numbers::{CompleteProof, EnrollDevice, MtProof, NumberProof, ProvenNumber};
use callside_proto::push::{PushList, PushSubscription, RegisteredPush};
use callside_proto::session::{SessionInfo, SessionList};
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use url::Url;

/// The longest long-poll the server accepts, in seconds.
pub const MAX_WAIT_SECS: u64 = 60;

/// Time allowed for an ordinary request, on top of any long-poll wait.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A handle on one callside server, authenticated with one token.
///
/// Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// Which messages [`Client::messages`] reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageQuery {
    /// Only messages with a sequence number greater than this.
    pub after: Option<u64>,
    /// At most this many messages (the server caps it).
    pub limit: Option<u32>,
    /// Long-poll: wait up to this long for a message after `after` (capped at 60 s).
    pub wait: Option<Duration>,
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8080`) using `token`.
    pub fn new(base_url: &str, token: &str) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Self::with_http_client(base_url, token, http)
    }

    /// Like [`Client::new`] with a `reqwest::Client` of your own (proxies, TLS roots, …).
    pub fn with_http_client(
        base_url: &str,
        token: &str,
        http: reqwest::Client,
    ) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let base = Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if base.cannot_be_a_base() {
            return Err(invalid("the URL cannot take a path"));
        }
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| Error::InvalidToken)?;
        auth.set_sensitive(true);
        Ok(Client { http, base, auth })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The `Authorization` header value this client sends.
    pub(crate) fn auth_header(&self) -> &HeaderValue {
        &self.auth
    }

    /// `base` + the given path segments (each percent-encoded as one segment).
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A request without this client's token (its credential is in the body).
    pub(crate) fn request_anonymous(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.http.request(method, self.url(segments))
    }

    pub(crate) fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.http
            .request(method, self.url(segments))
            .header(AUTHORIZATION, self.auth.clone())
    }

    // ---------------------------------------------------------------- identity

    /// `GET /v1/me`: who this token belongs to.
    pub async fn me(&self) -> Result<Me, Error> {
        let req = self.request(Method::GET, &["v1", "me"]);
        json(send(req, REQUEST_TIMEOUT).await?, "me").await
    }

    /// `POST /v1/me/token`: a new token for this device or account; the old one (the one this
    /// client holds) stops working at once, so make a new [`Client`] with the answer.
    pub async fn rotate_own_token(&self) -> Result<RotatedToken, Error> {
        let req = self.request(Method::POST, &["v1", "me", "token"]);
        json(send(req, REQUEST_TIMEOUT).await?, "token").await
    }

    /// `POST /v1/devices`: with an app's `device_enrollment` token, create a device that owns no
    /// number yet (it proves one by SMS). The device token in the answer is shown only once.
    pub async fn enroll_device(&self, name: &str) -> Result<CreatedDevice, Error> {
        let req = self
            .request(Method::POST, &["v1", "devices"])
            .json(&EnrollDevice { name: name.into() });
        json(send(req, REQUEST_TIMEOUT).await?, "created device").await
    }

    /// `GET /v1/connection-data`: STUN/TURN servers with short-lived TURN credentials.
    pub async fn connection_data(&self) -> Result<ConnectionData, Error> {
        let req = self.request(Method::GET, &["v1", "connection-data"]);
        json(send(req, REQUEST_TIMEOUT).await?, "connection data").await
    }

    // ---------------------------------------------------------------- invitations (S2-I/M)

    /// `POST /v1/legs/{id}/note`: a note or picture after a missed or rejected call.
    pub async fn leave_note(
        &self,
        leg: &str,
        note: &callside_proto::call::PostCallNote,
    ) -> Result<callside_proto::call::CallNote, Error> {
        let req = self
            .request(Method::POST, &["v1", "legs", leg, "note"])
            .json(note);
        json(send(req, REQUEST_TIMEOUT).await?, "call note").await
    }

    /// `POST /v1/passports`: sign caller data (a `caller_data` account).
    pub async fn sign_caller_data(
        &self,
        data: &callside_proto::rcd::SignCallerData,
    ) -> Result<callside_proto::rcd::Passport, Error> {
        let req = self.request(Method::POST, &["v1", "passports"]).json(data);
        json(send(req, REQUEST_TIMEOUT).await?, "passport").await
    }

    /// `GET /.well-known/jwks.json`: the keys caller data is signed with, as JSON text for
    /// [`crate::rcd::verify`].
    pub async fn jwks(&self) -> Result<String, Error> {
        let req = self.request(Method::GET, &[".well-known", "jwks.json"]);
        Ok(send(req, REQUEST_TIMEOUT).await?.text().await?)
    }

    /// `GET /v1/me/call-log`: composer data and notes left for this device's numbers.
    pub async fn call_log(&self) -> Result<callside_proto::call::CallLog, Error> {
        let req = self.request(Method::GET, &["v1", "me", "call-log"]);
        json(send(req, REQUEST_TIMEOUT).await?, "call log").await
    }

    // ---------------------------------------------------------------- components (S1-F6–F8)

    /// `PUT /v1/admin/components/{id}` (admin): publish or update a catalogue entry.
    pub async fn put_component(
        &self,
        id: &str,
        component: &callside_proto::component::PutComponent,
    ) -> Result<callside_proto::component::Component, Error> {
        let req = self
            .request(Method::PUT, &["v1", "admin", "components", id])
            .json(component);
        json(send(req, REQUEST_TIMEOUT).await?, "component").await
    }

    /// `DELETE /v1/admin/components/{id}` (admin).
    pub async fn delete_component(&self, id: &str) -> Result<(), Error> {
        let req = self.request(Method::DELETE, &["v1", "admin", "components", id]);
        send(req, REQUEST_TIMEOUT).await.map(drop)
    }

    /// `GET /v1/components`: the catalogue.
    pub async fn components(&self) -> Result<callside_proto::component::ComponentList, Error> {
        let req = self.request(Method::GET, &["v1", "components"]);
        json(send(req, REQUEST_TIMEOUT).await?, "components").await
    }

    /// `GET /v1/components/{id}`.
    pub async fn component(&self, id: &str) -> Result<callside_proto::component::Component, Error> {
        let req = self.request(Method::GET, &["v1", "components", id]);
        json(send(req, REQUEST_TIMEOUT).await?, "component").await
    }

    /// `GET /v1/me/capabilities`.
    pub async fn capabilities(&self) -> Result<callside_proto::component::Capabilities, Error> {
        let req = self.request(Method::GET, &["v1", "me", "capabilities"]);
        json(send(req, REQUEST_TIMEOUT).await?, "capabilities").await
    }

    /// `PUT /v1/me/capabilities`: declare what this device can do (replaces the declaration).
    pub async fn declare_capabilities(
        &self,
        caps: &callside_proto::component::Capabilities,
    ) -> Result<callside_proto::component::Capabilities, Error> {
        let req = self
            .request(Method::PUT, &["v1", "me", "capabilities"])
            .json(caps);
        json(send(req, REQUEST_TIMEOUT).await?, "capabilities").await
    }

    /// `GET /v1/sessions/{key}/capabilities`: the capability check by registry.
    pub async fn session_capabilities(
        &self,
        key: &str,
    ) -> Result<callside_proto::component::SessionCapabilities, Error> {
        let req = self.request(Method::GET, &["v1", "sessions", key, "capabilities"]);
        json(send(req, REQUEST_TIMEOUT).await?, "capabilities").await
    }

    /// `POST /v1/sessions/{key}/components`: offer a component; `consent` is the fee a
    /// previous `consent_required` answer stated.
    pub async fn offer_component(
        &self,
        key: &str,
        component: &str,
        consent: Option<callside_proto::component::Fee>,
    ) -> Result<callside_proto::component::ComponentOffer, Error> {
        let body = callside_proto::component::OfferComponent {
            component: component.to_owned(),
            consent,
        };
        let req = self
            .request(Method::POST, &["v1", "sessions", key, "components"])
            .json(&body);
        json(send(req, REQUEST_TIMEOUT).await?, "component offer").await
    }

    /// `POST /v1/sessions/{key}/components/{id}/installed`: the installation confirmation.
    pub async fn confirm_installed(
        &self,
        key: &str,
        component: &str,
        version: &str,
    ) -> Result<(), Error> {
        let body = callside_proto::component::ConfirmInstalled {
            version: version.to_owned(),
        };
        let req = self
            .request(
                Method::POST,
                &["v1", "sessions", key, "components", component, "installed"],
            )
            .json(&body);
        send(req, REQUEST_TIMEOUT).await.map(drop)
    }

    /// `POST /v1/legs/{id}/component`: offer a component to the other party of a call only
    /// this device reported (their devices are invited, or the number gets an SMS link).
    pub async fn offer_component_on_leg(
        &self,
        leg: &str,
        component: &str,
    ) -> Result<Invitation, Error> {
        let body = callside_proto::component::LegComponent {
            component: component.to_owned(),
        };
        let req = self
            .request(Method::POST, &["v1", "legs", leg, "component"])
            .json(&body);
        json(send(req, REQUEST_TIMEOUT).await?, "invitation").await
    }

    // ---------------------------------------------------------------- cards (S3)

    /// `GET /v1/me/card` as JSON.
    pub async fn card(&self) -> Result<callside_proto::card::Card, Error> {
        let req = self.request(Method::GET, &["v1", "me", "card"]);
        json(send(req, REQUEST_TIMEOUT).await?, "card").await
    }

    /// `GET /v1/me/card` as vCard 4.0 (`text/vcard`) or jCard (`application/vcard+json`).
    pub async fn card_as(&self, media_type: &str) -> Result<String, Error> {
        let req = self
            .request(Method::GET, &["v1", "me", "card"])
            .header(reqwest::header::ACCEPT, media_type);
        Ok(send(req, REQUEST_TIMEOUT).await?.text().await?)
    }

    /// `PUT /v1/me/card` with fields.
    pub async fn put_card(
        &self,
        card: &callside_proto::card::PutCard,
    ) -> Result<callside_proto::card::Card, Error> {
        let req = self.request(Method::PUT, &["v1", "me", "card"]).json(card);
        json(send(req, REQUEST_TIMEOUT).await?, "card").await
    }

    /// `DELETE /v1/me/card`: the card is gone (nothing more is delivered).
    pub async fn delete_card(&self) -> Result<(), Error> {
        let req = self.request(Method::DELETE, &["v1", "me", "card"]);
        send(req, REQUEST_TIMEOUT).await.map(drop)
    }

    /// `PUT /v1/me/card` importing a vCard 4.0 (`text/vcard`) or jCard (`application/vcard+json`).
    pub async fn import_card(
        &self,
        media_type: &str,
        body: String,
    ) -> Result<callside_proto::card::Card, Error> {
        let req = self
            .request(Method::PUT, &["v1", "me", "card"])
            .header(CONTENT_TYPE, media_type)
            .body(body);
        json(send(req, REQUEST_TIMEOUT).await?, "card").await
    }

    /// `PUT /v1/me/card-cache`: which versions of another participant's card this device holds.
    pub async fn report_card_cache(
        &self,
        cache: &callside_proto::card::CardCache,
    ) -> Result<(), Error> {
        let req = self
            .request(Method::PUT, &["v1", "me", "card-cache"])
            .json(cache);
        send(req, REQUEST_TIMEOUT).await.map(drop)
    }

    /// `GET /v1/me/card-policy`.
    pub async fn card_policy(&self) -> Result<callside_proto::card::ReceivePolicy, Error> {
        let req = self.request(Method::GET, &["v1", "me", "card-policy"]);
        json(send(req, REQUEST_TIMEOUT).await?, "card policy").await
    }

    /// `PUT /v1/me/card-policy`.
    pub async fn put_card_policy(
        &self,
        policy: &callside_proto::card::ReceivePolicy,
    ) -> Result<callside_proto::card::ReceivePolicy, Error> {
        let req = self
            .request(Method::PUT, &["v1", "me", "card-policy"])
            .json(policy);
        json(send(req, REQUEST_TIMEOUT).await?, "card policy").await
    }

    /// Sets one contact rule of the receiving policy (after [`crate::contacts::Decision`]),
    /// keeping the others: reads the policy, replaces the rule for that number, writes it back.
    pub async fn apply_contact_rule(
        &self,
        rule: callside_proto::card::ContactRule,
    ) -> Result<callside_proto::card::ReceivePolicy, Error> {
        let mut policy = self.card_policy().await?;
        policy.contacts.retain(|r| r.number != rule.number);
        policy.contacts.push(rule);
        self.put_card_policy(&policy).await
    }

    /// `GET /v1/me/audiences`.
    pub async fn audiences(&self) -> Result<callside_proto::card::Audiences, Error> {
        let req = self.request(Method::GET, &["v1", "me", "audiences"]);
        json(send(req, REQUEST_TIMEOUT).await?, "audiences").await
    }

    /// `PUT /v1/me/audiences`.
    pub async fn put_audiences(
        &self,
        audiences: &callside_proto::card::Audiences,
    ) -> Result<callside_proto::card::Audiences, Error> {
        let req = self
            .request(Method::PUT, &["v1", "me", "audiences"])
            .json(audiences);
        json(send(req, REQUEST_TIMEOUT).await?, "audiences").await
    }

    // ---------------------------------------------------------------- email identities (S2-E/V)

    /// `POST /v1/me/emails`: mail a validation token to `email`.
    pub async fn add_email(&self, email: &str) -> Result<EmailValidation, Error> {
        let req = self.request(Method::POST, &["v1", "me", "emails"]).json(
            &callside_proto::email::AddEmail {
                email: email.into(),
            },
        );
        json(send(req, REQUEST_TIMEOUT).await?, "email validation").await
    }

    /// `GET /v1/me/emails/validations/{id}`.
    pub async fn email_validation(&self, id: &str) -> Result<EmailValidation, Error> {
        let req = self.request(Method::GET, &["v1", "me", "emails", "validations", id]);
        json(send(req, REQUEST_TIMEOUT).await?, "email validation").await
    }

    /// `POST /v1/me/emails/validations/{id}/complete` with the token from the mail.
    pub async fn complete_email(&self, id: &str, token: &str) -> Result<ValidatedEmail, Error> {
        let req = self
            .request(
                Method::POST,
                &["v1", "me", "emails", "validations", id, "complete"],
            )
            .json(&callside_proto::email::CompleteEmail {
                token: token.into(),
            });
        json(send(req, REQUEST_TIMEOUT).await?, "validated email").await
    }

    /// S2-V in one call: ask for the mail, find it in the user's mailbox, submit its token.
    pub async fn validate_email_automatically(
        &self,
        email: &str,
        mailbox: &crate::email::ImapAccount,
        timeout: Duration,
    ) -> Result<ValidatedEmail, Error> {
        let validation = self.add_email(email).await?;
        let token = crate::email::find_token(mailbox, &validation, timeout).await?;
        self.complete_email(&validation.id, &token).await
    }

    /// `DELETE /v1/me/emails/{email}`.
    pub async fn remove_email(&self, email: &str) -> Result<(), Error> {
        let req = self.request(Method::DELETE, &["v1", "me", "emails", email]);
        send(req, REQUEST_TIMEOUT).await.map(drop)
    }

    // ---------------------------------------------------------------- push (wake-ups)

    /// `POST /v1/me/push`: register a push subscription; the device is woken (`{"t":"wake",…}`,
    /// no content) when something arrives while it is not connected.
    pub async fn register_push(&self, sub: &PushSubscription) -> Result<RegisteredPush, Error> {
        let req = self.request(Method::POST, &["v1", "me", "push"]).json(sub);
        json(send(req, REQUEST_TIMEOUT).await?, "push subscription").await
    }

    /// `GET /v1/me/push`: this device's subscriptions and the server's VAPID public key.
    pub async fn push_subscriptions(&self) -> Result<PushList, Error> {
        let req = self.request(Method::GET, &["v1", "me", "push"]);
        json(send(req, REQUEST_TIMEOUT).await?, "push subscriptions").await
    }

    /// `DELETE /v1/me/push/{id}`.
    pub async fn delete_push(&self, id: &str) -> Result<(), Error> {
        let req = self.request(Method::DELETE, &["v1", "me", "push", id]);
        send(req, REQUEST_TIMEOUT).await.map(drop)
    }

    /// `POST /v1/invitations`: ring every device of a number. `Error::Api` with code
    /// `not_registered` when the number has none.
    pub async fn invite(&self, invitation: &CreateInvitation) -> Result<Invitation, Error> {
        let req = self
            .request(Method::POST, &["v1", "invitations"])
            .json(invitation);
        json(send(req, REQUEST_TIMEOUT).await?, "invitation").await
    }

    /// `GET /v1/invitations`: invitations ringing on this device.
    pub async fn ringing_invitations(&self) -> Result<Vec<Invitation>, Error> {
        let req = self.request(Method::GET, &["v1", "invitations"]);
        let list: InvitationList = json(send(req, REQUEST_TIMEOUT).await?, "invitations").await?;
        Ok(list.invitations)
    }

    /// `GET /v1/invitations/{id}`.
    pub async fn invitation(&self, id: &str) -> Result<Invitation, Error> {
        let req = self.request(Method::GET, &["v1", "invitations", id]);
        json(send(req, REQUEST_TIMEOUT).await?, "invitation").await
    }

    /// `POST /v1/invitations/{id}/accept`: the first device to accept joins the session
    /// (`Invitation::session`); later ones get `invitation_accepted`.
    pub async fn accept_invitation(
        &self,
        id: &str,
        answer: &AcceptInvitation,
    ) -> Result<Invitation, Error> {
        let req = self
            .request(Method::POST, &["v1", "invitations", id, "accept"])
            .json(answer);
        json(send(req, REQUEST_TIMEOUT).await?, "invitation").await
    }

    /// `POST /v1/invitations/{id}/decline`.
    pub async fn decline_invitation(&self, id: &str) -> Result<Invitation, Error> {
        let req = self.request(Method::POST, &["v1", "invitations", id, "decline"]);
        json(send(req, REQUEST_TIMEOUT).await?, "invitation").await
    }

    /// `POST /v1/invitations/{id}/cancel` (the inviter).
    pub async fn cancel_invitation(&self, id: &str) -> Result<Invitation, Error> {
        let req = self.request(Method::POST, &["v1", "invitations", id, "cancel"]);
        json(send(req, REQUEST_TIMEOUT).await?, "invitation").await
    }

    // ---------------------------------------------------------------- number proof (S2-R)

    /// `POST /v1/me/numbers/proofs`: start proving a number. Send
    /// [`NumberProof::sms_body`] by SMS to [`NumberProof::sms_to`] from the phone whose number
    /// is to be proven, then pass the SMS that comes back to [`Client::complete_number_proof`].
    pub async fn start_number_proof(&self) -> Result<NumberProof, Error> {
        let req = self
            .request(Method::POST, &["v1", "me", "numbers", "proofs"])
            .json(&serde_json::json!({}));
        json(send(req, REQUEST_TIMEOUT).await?, "number proof").await
    }

    /// `GET /v1/me/numbers/proofs/{id}`: where a proof stands.
    pub async fn number_proof(&self, id: &str) -> Result<NumberProof, Error> {
        let req = self.request(Method::GET, &["v1", "me", "numbers", "proofs", id]);
        json(send(req, REQUEST_TIMEOUT).await?, "number proof").await
    }

    /// `POST /v1/me/numbers/proofs/{id}/complete`: `sms` is the text of the SMS received (the
    /// proof is found in it), `code` the one [`Client::start_number_proof`] returned.
    pub async fn complete_number_proof(
        &self,
        id: &str,
        code: &str,
        sms: &str,
    ) -> Result<ProvenNumber, Error> {
        let mt = MtProof::parse(sms)?;
        let req = self
            .request(
                Method::POST,
                &["v1", "me", "numbers", "proofs", id, "complete"],
            )
            .json(&CompleteProof {
                code: code.into(),
                number: mt.number,
                signature: mt.signature,
            });
        json(send(req, REQUEST_TIMEOUT).await?, "proven number").await
    }

    /// `DELETE /v1/me/numbers/{number}`: this device gives up a number.
    pub async fn remove_number(&self, number: &str) -> Result<(), Error> {
        let req = self.request(Method::DELETE, &["v1", "me", "numbers", number]);
        send(req, REQUEST_TIMEOUT).await.map(drop)
    }

    // ---------------------------------------------------------------- calls

    /// `POST /v1/legs?wait=…`: report this party's leg of a call.
    ///
    /// The server holds the request up to `wait` (capped at 60 s) while the leg is pending; the
    /// answer is `pending`, `matched` (with the session) or `no_match`. Use [`Client::wait_leg`]
    /// to keep waiting.
    pub async fn report_leg(&self, leg: &ReportLeg, wait: Duration) -> Result<LegStatus, Error> {
        let secs = wait_secs(wait);
        let req = self
            .request(Method::POST, &["v1", "legs"])
            .query(&[("wait", secs)])
            .json(leg);
        json(
            send(req, REQUEST_TIMEOUT + Duration::from_secs(secs)).await?,
            "leg status",
        )
        .await
    }

    /// `GET /v1/legs/{id}?wait=…`: one long-poll for a leg's state.
    pub async fn leg(&self, id: &str, wait: Duration) -> Result<LegStatus, Error> {
        let secs = wait_secs(wait);
        let req = self
            .request(Method::GET, &["v1", "legs", id])
            .query(&[("wait", secs)]);
        json(
            send(req, REQUEST_TIMEOUT + Duration::from_secs(secs)).await?,
            "leg status",
        )
        .await
    }

    /// Long-polls a leg until it is `matched` or `no_match`, or until `timeout` has passed; in the
    /// latter case the last (pending) status is returned, so check [`LegStatus::state`].
    pub async fn wait_leg(&self, id: &str, timeout: Duration) -> Result<LegStatus, Error> {
        /// Never poll faster than this, even if the server answers at once.
        const MIN_POLL: Duration = Duration::from_millis(250);
        let deadline = Instant::now() + timeout;
        loop {
            let started = Instant::now();
            let left = deadline.saturating_duration_since(started);
            let status = self.leg(id, left).await?;
            if status.state != LegState::Pending {
                return Ok(status);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(status);
            }
            let spent = now - started;
            if spent < MIN_POLL {
                tokio::time::sleep_until((started + MIN_POLL).min(deadline)).await;
            }
        }
    }

    /// `POST /v1/legs/{id}/answer`: the call was answered.
    pub async fn answer_leg(&self, id: &str) -> Result<LegStatus, Error> {
        let req = self.request(Method::POST, &["v1", "legs", id, "answer"]);
        json(send(req, REQUEST_TIMEOUT).await?, "leg status").await
    }

    /// `POST /v1/legs/{id}/end`: hang up. A pending leg is withdrawn; a matched one ends the call.
    pub async fn end_leg(&self, id: &str) -> Result<LegStatus, Error> {
        let req = self.request(Method::POST, &["v1", "legs", id, "end"]);
        json(send(req, REQUEST_TIMEOUT).await?, "leg status").await
    }

    // ---------------------------------------------------------------- sessions

    /// `GET /v1/sessions`: the caller's open sessions, or all of them (closed too) with `all`.
    pub async fn sessions(&self, all: bool) -> Result<Vec<SessionInfo>, Error> {
        let mut req = self.request(Method::GET, &["v1", "sessions"]);
        if all {
            req = req.query(&[("all", "true")]);
        }
        let list: SessionList = json(send(req, REQUEST_TIMEOUT).await?, "session list").await?;
        Ok(list.sessions)
    }

    /// `GET /v1/sessions/{key}`.
    pub async fn session(&self, key: &str) -> Result<SessionInfo, Error> {
        let req = self.request(Method::GET, &["v1", "sessions", key]);
        json(send(req, REQUEST_TIMEOUT).await?, "session").await
    }

    /// `POST /v1/sessions/{key}/close`.
    pub async fn close_session(&self, key: &str) -> Result<SessionInfo, Error> {
        let req = self.request(Method::POST, &["v1", "sessions", key, "close"]);
        json(send(req, REQUEST_TIMEOUT).await?, "session").await
    }

    /// `POST /v1/sessions/{key}/messages`: append a message. Re-sending the same `id` is
    /// harmless: the answer then has `duplicate: true` and the first message's `seq`.
    pub async fn send_message(&self, key: &str, message: &SendMessage) -> Result<Accepted, Error> {
        let req = self
            .request(Method::POST, &["v1", "sessions", key, "messages"])
            .json(message);
        json(send(req, REQUEST_TIMEOUT).await?, "accepted").await
    }

    /// Sends a `text` message with a fresh id.
    pub async fn send_text(&self, key: &str, text: &str) -> Result<Accepted, Error> {
        let body = to_value(&TextBody {
            text: text.to_owned(),
        })?;
        self.send_message(
            key,
            &SendMessage {
                id: new_message_id(),
                kind: "text".to_owned(),
                body,
            },
        )
        .await
    }

    /// Sends a `file` message for a blob uploaded before (the server fills in size and type).
    pub async fn send_file(&self, key: &str, blob: &str, name: &str) -> Result<Accepted, Error> {
        let body = to_value(&FileBody {
            blob: blob.to_owned(),
            name: name.to_owned(),
            size: 0,
            mime: String::new(),
        })?;
        self.send_message(
            key,
            &SendMessage {
                id: new_message_id(),
                kind: "file".to_owned(),
                body,
            },
        )
        .await
    }

    /// `GET /v1/sessions/{key}/messages`: a page of the log (long-polls with `query.wait`).
    pub async fn messages(&self, key: &str, query: MessageQuery) -> Result<MessagePage, Error> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(after) = query.after {
            params.push(("after", after.to_string()));
        }
        if let Some(limit) = query.limit {
            params.push(("limit", limit.to_string()));
        }
        let mut timeout = REQUEST_TIMEOUT;
        if let Some(wait) = query.wait {
            let secs = wait_secs(wait);
            params.push(("wait", secs.to_string()));
            timeout += Duration::from_secs(secs);
        }
        let req = self
            .request(Method::GET, &["v1", "sessions", key, "messages"])
            .query(&params);
        json(send(req, timeout).await?, "message page").await
    }

    /// `POST /v1/sessions/{key}/ack`: every message up to `seq` has been processed.
    pub async fn ack(&self, key: &str, seq: u64) -> Result<(), Error> {
        let req = self
            .request(Method::POST, &["v1", "sessions", key, "ack"])
            .json(&AckRequest { seq });
        send(req, REQUEST_TIMEOUT).await.map(drop)
    }

    // ---------------------------------------------------------------- blobs

    /// `POST /v1/blobs` with bytes in memory.
    pub async fn upload_bytes(&self, bytes: impl Into<Bytes>) -> Result<BlobInfo, Error> {
        let bytes: Bytes = bytes.into();
        let req = self
            .request(Method::POST, &["v1", "blobs"])
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        json(send_untimed(req).await?, "blob").await
    }

    /// `POST /v1/blobs` streaming a local file (never held in memory whole).
    pub async fn upload_file(&self, path: impl AsRef<Path>) -> Result<BlobInfo, Error> {
        self.upload_file_with_progress(path, |_, _| {}).await
    }

    /// [`Client::upload_file`], calling `progress(sent, total)` as bytes go out.
    pub async fn upload_file_with_progress(
        &self,
        path: impl AsRef<Path>,
        mut progress: impl FnMut(u64, u64) + Send + 'static,
    ) -> Result<BlobInfo, Error> {
        let file = tokio::fs::File::open(path.as_ref()).await?;
        let total = file.metadata().await?.len();
        let mut sent = 0u64;
        let stream = tokio_util::io::ReaderStream::new(file).inspect_ok(move |chunk| {
            sent += chunk.len() as u64;
            progress(sent, total);
        });
        let req = self
            .request(Method::POST, &["v1", "blobs"])
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, total)
            .body(reqwest::Body::wrap_stream(stream));
        json(send_untimed(req).await?, "blob").await
    }

    /// `GET /v1/blobs/{id}` into memory.
    pub async fn download_bytes(&self, id: &str) -> Result<Bytes, Error> {
        let req = self.request(Method::GET, &["v1", "blobs", id]);
        Ok(send_untimed(req).await?.bytes().await?)
    }

    /// `GET /v1/blobs/{id}` streamed into a file at `path` (created or truncated). Returns the
    /// number of bytes written. On error the partial file is removed.
    pub async fn download_to(&self, id: &str, path: impl AsRef<Path>) -> Result<u64, Error> {
        self.download_to_with_progress(id, path, |_, _| {}).await
    }

    /// [`Client::download_to`], calling `progress(received, total)` as bytes arrive (`total`
    /// when the server said it).
    pub async fn download_to_with_progress(
        &self,
        id: &str,
        path: impl AsRef<Path>,
        mut progress: impl FnMut(u64, Option<u64>),
    ) -> Result<u64, Error> {
        let path = path.as_ref();
        let req = self.request(Method::GET, &["v1", "blobs", id]);
        let resp = send_untimed(req).await?;
        let total = resp.content_length();
        let mut file = tokio::fs::File::create(path).await?;
        let result = async {
            let mut written = 0u64;
            let mut body = resp.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                file.write_all(&chunk).await?;
                written += chunk.len() as u64;
                progress(written, total);
            }
            file.flush().await?;
            Ok::<u64, Error>(written)
        }
        .await;
        if result.is_err() {
            drop(file);
            let _ = tokio::fs::remove_file(path).await;
        }
        result
    }
}

fn wait_secs(wait: Duration) -> u64 {
    wait.as_secs().min(MAX_WAIT_SECS)
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, Error> {
    serde_json::to_value(value).map_err(|source| Error::Decode {
        what: "message body",
        source,
    })
}

/// Sends a request with a timeout; non-2xx answers become [`Error::Api`].
pub(crate) async fn send(req: RequestBuilder, timeout: Duration) -> Result<Response, Error> {
    send_untimed(req.timeout(timeout)).await
}

/// Sends a request without an overall timeout (for transfers of any size).
async fn send_untimed(req: RequestBuilder) -> Result<Response, Error> {
    let resp = req.send().await?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.bytes().await.unwrap_or_default();
    Err(Error::from_response_body(status.as_u16(), &body))
}

pub(crate) async fn json<T: DeserializeOwned>(
    resp: Response,
    what: &'static str,
) -> Result<T, Error> {
    let body = resp.bytes().await?;
    serde_json::from_slice(&body).map_err(|source| Error::Decode { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_escape_segments_and_keep_prefix() {
        let c = Client::new("http://example.test:8080/api/", "t").unwrap();
        assert_eq!(
            c.url(&["v1", "blobs", "sha256:ab/cd"]).as_str(),
            "http://example.test:8080/api/v1/blobs/sha256:ab%2Fcd"
        );
        let c = Client::new("http://example.test", "t").unwrap();
        assert_eq!(c.url(&["v1", "me"]).as_str(), "http://example.test/v1/me");
    }

    #[test]
    fn bad_urls_and_tokens_are_refused() {
        assert!(matches!(
            Client::new("ftp://x", "t"),
            Err(Error::InvalidUrl { .. })
        ));
        assert!(matches!(
            Client::new("not a url", "t"),
            Err(Error::InvalidUrl { .. })
        ));
        assert!(matches!(
            Client::new("http://x", "bad\ntoken"),
            Err(Error::InvalidToken)
        ));
    }

    #[test]
    fn debug_hides_the_token() {
        let c = Client::new("http://x", "secret-token").unwrap();
        assert!(!format!("{c:?}").contains("secret"));
    }
}
