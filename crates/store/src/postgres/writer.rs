//! The writer task: group commit on a connection of its own, a savepoint per request only when
//! one fails, `on_commit` callbacks in commit order, and fail-stop.

use super::sql::Db;
use super::{
    audit, blobs, calls, cards, components, identity, invitations, merchants, push, retention,
    sessions,
};
use crate::{OnCommit, Result, StoreError, Write};
use deadpool_postgres::ClientWrapper;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// One `submit` call: its writes commit together or not at all.
pub(super) struct Job {
    pub(super) writes: Vec<Write>,
    pub(super) on_commit: Option<OnCommit>,
    pub(super) done: oneshot::Sender<Result<()>>,
}

pub(super) async fn write_loop(
    mut conn: ClientWrapper,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    failed: Arc<AtomicBool>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // The writes only: a job's callback is `Send` but not `Sync`, so no reference to a job
        // may be held across an await.
        let lists: Vec<&[Write]> = batch.iter().map(|j| j.writes.as_slice()).collect();
        let results = match commit_batch(&mut conn, &lists).await {
            Ok(results) => results,
            Err(e) => {
                // Fail-stop, as in the SQLite writer: callers number messages and match legs in
                // memory assuming every queued write lands, so after a failed transaction (the
                // connection lost, the database refusing commits) nothing more is written; the
                // server stops and restarts from what is durable.
                tracing::error!(error = %e, "commit failed; the store stops accepting writes");
                failed.store(true, Ordering::SeqCst);
                let why = e.to_string();
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(StoreError::Failed(why.clone())));
                }
                rx.close();
                while let Some(job) = rx.recv().await {
                    let _ = job.done.send(Err(StoreError::Failed(why.clone())));
                }
                return;
            }
        };
        for (job, result) in batch.drain(..).zip(results) {
            if result.is_ok() {
                if let Some(f) = job.on_commit {
                    f();
                }
            }
            let _ = job.done.send(result);
        }
    }
}

/// Commits a batch in one transaction. The common case — every request succeeds — runs without
/// savepoints (each costs two more round trips). If any request fails, the transaction is rolled
/// back and the batch is run again with a savepoint per request, so one bad request fails alone.
/// An `Err` means the transaction itself failed.
async fn commit_batch(conn: &mut ClientWrapper, batch: &[&[Write]]) -> Result<Vec<Result<()>>> {
    let tx = conn.transaction().await?;
    let clean = apply_all(&tx, batch).await.is_ok();
    if clean {
        tx.commit().await?;
        return Ok(batch.iter().map(|_| Ok(())).collect());
    }
    tx.rollback().await?;
    let mut results = Vec::with_capacity(batch.len());
    let mut tx = conn.transaction().await?;
    for writes in batch {
        let sp = tx.savepoint("job").await?;
        let r = apply(&sp, writes).await;
        match r {
            Ok(()) => sp.commit().await?,
            Err(_) => sp.rollback().await?,
        }
        results.push(r);
    }
    tx.commit().await?;
    Ok(results)
}

/// Every request's writes, in order, with runs of consecutive messages (what a busy relay
/// queues) inserted by one statement each. Any failure fails the whole batch.
async fn apply_all(c: &impl Db, batch: &[&[Write]]) -> Result<()> {
    let mut run: Vec<&crate::MessageRecord> = Vec::new();
    for w in batch.iter().flat_map(|writes| writes.iter()) {
        if let Write::Message(m) = w {
            run.push(m);
            continue;
        }
        if !run.is_empty() {
            sessions::append_messages(c, &run).await?;
            run.clear();
        }
        write(c, w).await?;
    }
    if !run.is_empty() {
        sessions::append_messages(c, &run).await?;
    }
    Ok(())
}

/// One request's writes, in order; the first failure fails the request, and a conflict breaks
/// the request's chain ([`Write::Fence`]).
async fn apply(c: &impl Db, writes: &[Write]) -> Result<()> {
    for w in writes {
        if let Err(e) = write(c, w).await {
            if matches!(e, StoreError::Conflict) {
                crate::writes::break_chains(writes);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// One write, handed to the aggregate whose tables it changes.
async fn write(c: &impl Db, w: &Write) -> Result<()> {
    match w {
        Write::Fence(chain) => crate::writes::fence(chain),
        Write::Principal(rec, hash) => identity::insert_principal(c, rec, hash).await,
        Write::DeletePrincipal(id) => {
            identity::delete_principal(c, id).await?;
            super::browsers::delete_of(c, id).await
        }
        Write::RenamePrincipal { id, name } => identity::rename_principal(c, id, name).await,
        Write::ErasePrincipal { id, at } => super::personal::erase(c, id, *at).await,
        Write::BrowserLink(l) => super::browsers::put_link(c, l).await,
        Write::UseBrowserLink(h) => super::browsers::use_link(c, h).await,
        Write::Browser(b) => super::browsers::insert(c, b).await,
        Write::RefreshBrowser {
            id,
            expected,
            access_hash,
            access_expires_at,
            refresh_hash,
            refresh_expires_at,
            at,
        } => {
            super::browsers::refresh(
                c,
                id,
                expected,
                super::browsers::Refresh {
                    access_hash,
                    access_expires_at: *access_expires_at,
                    refresh_hash,
                    refresh_expires_at: *refresh_expires_at,
                    at: *at,
                },
            )
            .await
        }
        Write::DeleteBrowser(id) => super::browsers::delete(c, id).await,
        Write::ReplaceToken(id, hash) => identity::replace_token(c, id, hash).await,
        Write::TokensUsed(used) => identity::tokens_used(c, used).await,
        Write::Proof(p) => identity::put_proof(c, p).await,
        Write::PurgeProofs { expired_before } => identity::purge_proofs(c, expired_before).await,
        Write::BindNumber {
            device,
            number,
            source,
            at,
            stale_before,
        } => identity::bind_number(c, device, number, source, at, stale_before).await,
        Write::UnbindNumber { device, number } => identity::unbind_number(c, device, number).await,
        Write::EmailValidation(v) => identity::put_email_validation(c, v).await,
        Write::BindEmail { device, email, at } => identity::bind_email(c, device, email, at).await,
        Write::UnbindEmail { device, email } => identity::unbind_email(c, device, email).await,
        Write::Session(r) => sessions::insert_session(c, r).await,
        Write::SessionState {
            key,
            call,
            closed,
            call_id,
        } => sessions::session_state(c, key, call, closed, call_id).await,
        Write::Participant {
            session,
            principal,
            number,
            joined_at,
            joined_seq,
        } => {
            let joined = sessions::Joined {
                number: number.as_ref(),
                at: *joined_at,
                seq: *joined_seq,
            };
            sessions::insert_participant(c, session, principal, joined).await
        }
        Write::Screen(screen) => sessions::put_screen(c, screen).await,
        Write::Coupling { principal, mode } => identity::set_coupling(c, principal, *mode).await,
        Write::Near { principal, until } => identity::set_near(c, principal, *until).await,
        Write::Conference {
            bridge,
            id,
            session,
            at,
        } => calls::put_conference(c, bridge, id, session, *at).await,
        Write::SystemScreen(screen) => components::put_system_screen(c, screen).await,
        Write::DeleteSystemScreen(principal) => {
            components::delete_system_screen(c, principal).await
        }
        Write::History {
            session,
            principal,
            consent,
        } => sessions::history(c, session, principal, consent).await,
        Write::RemoveParticipant { session, principal } => {
            sessions::remove_participant(c, session, principal).await
        }
        Write::Message(m) => sessions::append_message(c, m).await,
        Write::Ack {
            session,
            principal,
            seq,
        } => sessions::ack(c, session, principal, seq).await,
        Write::Leg(r) => calls::put_leg(c, r).await,
        Write::LegOutcome {
            id,
            state,
            reason,
            session,
        } => calls::leg_outcome(c, id, state, reason, session).await,
        Write::Call(r) => calls::put_call(c, r).await,
        Write::CallNote(n) => calls::put_call_note(c, n).await,
        Write::Invitation(r) => invitations::put_invitation(c, r).await,
        Write::InvitationDevice { invitation, device } => {
            invitations::add_device(c, invitation, device).await
        }
        Write::Card { principal, card } => cards::replace_card(c, principal, card).await,
        Write::Audiences {
            principal,
            audiences,
        } => cards::replace_audiences(c, principal, audiences).await,
        Write::ReceivePolicy { principal, policy } => {
            cards::replace_receive_policy(c, principal, policy).await
        }
        Write::ForgetContactRule { principal, number } => {
            cards::forget_contact_rule(c, principal, number).await
        }
        Write::ResetLedger {
            sender,
            receiver,
            has,
            at,
        } => cards::reset_ledger(c, sender, receiver, has, at).await,
        Write::Delivered {
            sender,
            receiver,
            field,
            version,
            at,
        } => cards::delivered(c, sender, receiver, field, version, at).await,
        Write::Component { component: m, at } => components::put_component(c, m, at).await,
        Write::DeleteComponent(id) => components::delete_component(c, id).await,
        Write::Capabilities {
            principal,
            capabilities,
            at,
        } => components::replace_capabilities(c, principal, capabilities, at).await,
        Write::Installed {
            principal,
            component,
            version,
            at,
        } => components::installed(c, principal, component, version, at).await,
        Write::Push(p) => push::put_subscription(c, p).await,
        Write::DeletePush { id } => push::delete_subscription(c, id).await,
        Write::Blob(b, uploader) => blobs::insert_blob(c, b, uploader).await,
        Write::BlobGrant { blob, principal } => blobs::grant(c, blob, principal).await,
        Write::DeleteBlobIfUnused(id) => blobs::delete_if_unused(c, id).await,
        Write::DerivedJob {
            session,
            seq,
            app,
            at,
        } => super::derived::queue(c, session, *seq, app, *at).await,
        Write::DerivedDone { session, seq } => super::derived::done(c, session, *seq).await,
        Write::CollectBlob { id, before } => blobs::collect(c, id, *before).await,
        Write::Audit(a) => audit::append(c, a).await,
        Write::Merchant(m) => merchants::insert_merchant(c, m).await,
        Write::MerchantSecret { merchant, secret } => {
            merchants::set_secret(c, merchant, secret).await
        }
        Write::Link(l) => merchants::put_link(c, l).await,
        Write::DeleteLink { merchant, id } => merchants::delete_link(c, merchant, id).await,
        Write::Agent(a) => merchants::put_agent(c, a).await,
        Write::DeleteAgent { merchant, id } => merchants::delete_agent(c, merchant, id).await,
        Write::Page(p) => merchants::put_page(c, p).await,
        Write::DeletePage { merchant, code } => merchants::delete_page(c, merchant, code).await,
        Write::Routing {
            merchant,
            rules,
            at,
        } => merchants::put_routing(c, merchant, rules, *at).await,
        Write::Click(k) => merchants::insert_click(c, k).await,
        Write::ClickState {
            id,
            state,
            agent,
            outcome,
            at,
        } => merchants::click_state(c, id, state, agent.as_deref(), outcome.as_deref(), *at).await,
        Write::ClickSession { id, session } => merchants::click_session(c, id, session).await,
        Write::MerchantWebhook { merchant, hook, at } => {
            merchants::put_webhook(c, merchant, hook.as_ref(), *at).await
        }
        Write::Purge {
            what,
            before,
            limit,
        } => retention::purge(c, *what, *before, *limit).await,
    }
}
