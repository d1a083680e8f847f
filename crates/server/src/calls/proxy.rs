//! What callside asks the SIP proxy (Kamailio's JSON-RPC, `[kamailio]`; S1-F3–F5): it checks
//! the calls its account reported against the proxy's own dialogs and ends those the proxy no
//! longer has (a lost `ended` event); it places click-to-dial calls for devices; and it ends the
//! call of a session for an automated system taking part (S1-F15: apps cannot end calls; the
//! voicemail does, through the network).

use super::{Calls, Error};
use crate::adapters::kamailio::Kamailio;
use crate::clock::now_ms;
use crate::metrics::Metrics;
use callside_core::principal::{Principal, Scope};
use callside_core::ratelimit::{Limiter, Rate};
use callside_core::session::{CallState, Event};
use callside_core::{Millis, PhoneNumber, PrincipalId, PrincipalKind, SessionKey};
use callside_store::{CallRecord, Write};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// A call younger than this is never ended for being missing from the proxy's dialogs. The proxy
/// tracks a dialog from the INVITE on, before it reports the call, so this only covers clocks
/// and a dialog the proxy is just removing as its end event is on the way.
const RECONCILE_GRACE: Millis = 5_000;

/// The proxy and how callside uses it.
pub(crate) struct Proxy {
    rpc: Kamailio,
    /// The network-element account the proxy reports calls as.
    account: PrincipalId,
    /// The proxy's SIP host:port, for click-to-dial URIs.
    sip_address: String,
    pub(crate) reconcile_every: Duration,
    click_to_dial: Mutex<Limiter<PrincipalId>>,
}

impl Proxy {
    pub(crate) fn new(
        rpc: Kamailio,
        account: PrincipalId,
        sip_address: String,
        reconcile_every: Duration,
        click_to_dial_per_hour: u32,
    ) -> Self {
        Proxy {
            rpc,
            account,
            sip_address,
            reconcile_every,
            click_to_dial: Mutex::new(Limiter::new(Rate::per_hour(click_to_dial_per_hour))),
        }
    }

    fn uri(&self, number: &PhoneNumber) -> String {
        format!("sip:{number}@{}", self.sip_address)
    }
}

impl Calls {
    fn proxy(&self) -> Result<&Proxy, Error> {
        self.proxy.as_ref().ok_or(Error::NoProxy)
    }

    /// Ends the live calls the proxy's account reported that the proxy no longer has; how many.
    pub(crate) async fn reconcile(&self) -> Result<usize, Error> {
        let proxy = self.proxy()?;
        let now = now_ms();
        let candidates: Vec<CallRecord> = self
            .store
            .live_calls()
            .await?
            .into_iter()
            .filter(|c| c.reporter == proxy.account && c.created_at < now - RECONCILE_GRACE)
            .collect();
        if candidates.is_empty() {
            return Ok(0);
        }
        let dialogs: HashSet<String> = proxy
            .rpc
            .dialogs()
            .await
            .map_err(|e| Error::ProxyDown(e.0))?
            .into_iter()
            .map(|d| d.call_id)
            .collect();
        let mut ended = 0;
        for call in candidates {
            if dialogs.contains(&call.call_ref) {
                continue;
            }
            tracing::info!(call = %call.id, call_ref = %call.call_ref,
                "the proxy no longer has this call: ending it");
            self.end_network_call(call).await?;
            Metrics::inc(&self.metrics.calls_reconciled);
            ended += 1;
        }
        Ok(ended)
    }

    /// Marks a network call ended and tells its session, as an `ended` event would.
    async fn end_network_call(&self, mut call: CallRecord) -> Result<(), Error> {
        use std::hash::BuildHasher as _;
        let stripe = self
            .stripe_hasher
            .hash_one((&call.reporter, &call.call_ref)) as usize
            % super::CALL_STRIPES;
        let _one_at_a_time = self.call_stripes[stripe].lock().await;
        // It may have ended meanwhile.
        match self.store.call(call.id.clone()).await? {
            Some(now) if now.state != CallState::Ended => call = now,
            _ => return Ok(()),
        }
        call.state = CallState::Ended;
        {
            let mut st = self.state.lock().await;
            st.matcher.remove_call(&call.id);
            st.calls.remove(&call.id);
        }
        self.sessions
            .transition(
                &call.session,
                Event::CallEnded,
                None,
                vec![Write::Call(call.clone())],
            )
            .await?;
        Ok(())
    }

    /// Click-to-dial (S1-F3): a device asks the proxy to call its own number `from` (default: its
    /// only one) and, once answered, to connect it to `to`. The session follows from the proxy's
    /// events like any call's.
    pub(crate) async fn click_to_dial(
        &self,
        who: &Principal,
        from: Option<&str>,
        to: &str,
    ) -> Result<(PhoneNumber, PhoneNumber), Error> {
        // Bad input is refused whether or not a proxy is configured.
        let PrincipalKind::Device { numbers } = &who.kind else {
            return Err(Error::DevicesOnly);
        };
        let from = match from {
            Some(f) => self.numbers.parse_for(f, who)?,
            None if numbers.len() == 1 => numbers[0].clone(),
            None => return Err(Error::WhichNumber),
        };
        if !numbers.contains(&from) {
            return Err(Error::NotYourNumber {
                own: from,
                who: who.id.clone(),
            });
        }
        let to = self.numbers.parse_for(to, who)?;
        if to == from {
            return Err(Error::InvalidLeg("a number cannot call itself".into()));
        }
        let proxy = self.proxy()?;
        proxy
            .click_to_dial
            .lock()
            .expect("limiter poisoned")
            .check(who.id.clone(), now_ms())?;
        proxy
            .rpc
            .bridge(
                &proxy.uri(&from),
                &proxy.uri(&to),
                &format!("sip:{}", proxy.sip_address),
            )
            .await
            .map_err(|e| Error::ProxyDown(e.0))?;
        Ok((from, to))
    }

    /// Ends the call of session `key` through the proxy, for an automated system taking part
    /// (the voicemail's "end call", S1-F15).
    pub(crate) async fn end_call(&self, who: &Principal, key: &SessionKey) -> Result<(), Error> {
        if !who.has_scope(Scope::AutomatedSystem) {
            return Err(Error::SystemsOnly);
        }
        let session = self.sessions.record_for(key, &who.id).await?;
        let proxy = self.proxy()?;
        // The session says the call is over (its record may follow a moment later).
        if session.session.call == CallState::Ended {
            return Err(Error::NoNetworkCall);
        }
        let call = match &session.call_id {
            Some(id) => self.store.call(id.clone()).await?,
            None => None,
        };
        let Some(call) = call.filter(|c| c.reporter == proxy.account && &c.session == key) else {
            return Err(Error::NoNetworkCall);
        };
        if call.state == CallState::Ended {
            return Err(Error::NoNetworkCall);
        }
        let found = proxy
            .rpc
            .end(&call.call_ref)
            .await
            .map_err(|e| Error::ProxyDown(e.0))?;
        if !found {
            // The proxy has no such call any more: it ended without us hearing of it.
            self.end_network_call(call).await?;
        }
        Ok(())
    }
}

/// The reconciliation loop (when a proxy is configured), until `stop`.
pub(crate) async fn run(calls: std::sync::Arc<Calls>, stop: tokio_util::sync::CancellationToken) {
    let Some(every) = calls.proxy.as_ref().map(|p| p.reconcile_every) else {
        return;
    };
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        match calls.reconcile().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(ended = n, "reconciled network calls with the SIP proxy"),
            Err(e) => tracing::warn!(error = %e, "could not reconcile calls with the SIP proxy"),
        }
    }
}
