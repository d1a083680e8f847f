//! The writer thread: group commit, a savepoint per request only when one fails, `on_commit`
//! callbacks in commit order, fail-stop, and the hand-over that lets the WAL start over.

use super::checkpoint::checkpoint;
use super::{
    audit, blobs, calls, cards, components, identity, invitations, merchants, push, retention,
    sessions,
};
use super::{Health, BUSY_TIMEOUT};
use crate::{OnCommit, Result, StoreError, Write};
use rusqlite::Connection;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// How long the writer's own checkpoint waits for readers of the old log to finish.
const RESTART_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// One `submit` call: its writes commit together or not at all.
pub(super) struct Job {
    pub(super) writes: Vec<Write>,
    pub(super) on_commit: Option<OnCommit>,
    pub(super) done: oneshot::Sender<Result<()>>,
}

thread_local! {
    /// Frames in the WAL after the writer thread's last commit (from SQLite's WAL hook).
    static WAL_FRAMES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

pub(super) fn count_wal_frames(
    _: &rusqlite::hooks::Wal,
    frames: std::ffi::c_int,
) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(frames));
    Ok(())
}

pub(super) fn write_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    reset_frames: i32,
    health: Arc<Health>,
    nudge: std::sync::mpsc::SyncSender<()>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    // Whether the checkpoint thread was asked to copy the log since it last started over.
    let mut asked = false;
    let mut last_frames = 0;
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = match commit_batch(&mut conn, &batch) {
            Ok(results) => results,
            Err(e) => {
                // Fail-stop: callers number messages and match legs in memory assuming every
                // queued write lands. After a failed commit nothing more is written; the
                // server stops and restarts from what is durable.
                tracing::error!(error = %e, "commit failed; the store stops accepting writes");
                health.failed.store(true, Ordering::SeqCst);
                let why = e.to_string();
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(StoreError::Failed(why.clone())));
                }
                rx.close();
                while let Some(job) = rx.blocking_recv() {
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
        health.commits.fetch_add(1, Ordering::Relaxed);
        let frames = WAL_FRAMES.with(|f| f.get());
        if frames < last_frames {
            health.wal_restarts.fetch_add(1, Ordering::Relaxed);
        }
        last_frames = frames;
        if frames < reset_frames {
            asked = false; // the log started over, or is not big yet
        } else if !asked {
            // Ask the checkpoint thread to copy the log now rather than at the next interval.
            // A hand-over it signalled for an earlier log is stale: acting on it would make the
            // writer copy this whole log itself.
            health.reset_wanted.store(false, Ordering::Relaxed);
            let _ = nudge.try_send(());
            asked = true;
        } else if health.reset_wanted.load(Ordering::Relaxed) && restart_log(&conn) {
            health.reset_wanted.store(false, Ordering::Relaxed);
            asked = false;
        }
    }
}

/// Between batches nothing else writes, so this copies the few frames the checkpoint thread
/// left, then waits (at most [`RESTART_WAIT`]) until no reader is still reading the old log: only
/// then can the next commit start the log from the beginning. (A passive checkpoint copies as
/// much but does not wait, and a reader that began before the copy finished silently keeps the
/// log from starting over; under steady reads that held the WAL growing.) When a reader or the
/// checkpoint thread is still in the way after the wait, it is tried again after the next batch.
fn restart_log(conn: &Connection) -> bool {
    let _ = conn.busy_timeout(RESTART_WAIT);
    let done = matches!(checkpoint(conn, "RESTART"), Ok((0, log, copied)) if log == copied);
    let _ = conn.busy_timeout(BUSY_TIMEOUT);
    done
}

/// Commits a batch in one transaction. The common case — every request succeeds — runs without
/// savepoints (a savepoint makes SQLite journal every page it touches). If any request fails, the
/// transaction is rolled back and the batch is run again with a savepoint per request, so one bad
/// request fails alone. An `Err` means the transaction itself failed (I/O, disk full).
fn commit_batch(conn: &mut Connection, batch: &[Job]) -> Result<Vec<Result<()>>> {
    let fast = (|| -> Result<bool> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for job in batch {
            if job.writes.iter().try_for_each(|w| write(&tx, w)).is_err() {
                // Run again one by one (below), where a conflict breaks its chain.
                return Ok(false); // dropping `tx` rolls back
            }
        }
        tx.commit()?;
        Ok(true)
    })();
    match fast? {
        true => Ok(batch.iter().map(|_| Ok(())).collect()),
        false => commit_with_savepoints(conn, batch),
    }
}

fn commit_with_savepoints(conn: &mut Connection, batch: &[Job]) -> Result<Vec<Result<()>>> {
    let mut results = Vec::with_capacity(batch.len());
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for job in batch {
        let mut sp = tx.savepoint()?;
        let r = request(&sp, &job.writes);
        match r {
            Ok(()) => sp.commit()?,
            Err(_) => sp.rollback()?,
        }
        results.push(r);
    }
    tx.commit()?;
    Ok(results)
}

/// One request's writes, in order; the first failure fails it, and a conflict breaks the
/// request's chain ([`Write::Fence`]).
fn request(c: &Connection, writes: &[Write]) -> Result<()> {
    let r = writes.iter().try_for_each(|w| write(c, w));
    if matches!(r, Err(StoreError::Conflict)) {
        crate::writes::break_chains(writes);
    }
    r
}

/// One write, handed to the aggregate whose tables it changes.
fn write(c: &Connection, w: &Write) -> Result<()> {
    match w {
        Write::Fence(chain) => crate::writes::fence(chain),
        Write::Principal(rec, hash) => identity::insert_principal(c, rec, hash),
        Write::DeletePrincipal(id) => {
            identity::delete_principal(c, id)?;
            super::browsers::delete_of(c, id)
        }
        Write::RenamePrincipal { id, name } => identity::rename_principal(c, id, name),
        Write::ErasePrincipal { id, at } => super::personal::erase(c, id, *at),
        Write::BrowserLink(l) => super::browsers::put_link(c, l),
        Write::UseBrowserLink(h) => super::browsers::use_link(c, h),
        Write::Browser(b) => super::browsers::insert(c, b),
        Write::RefreshBrowser {
            id,
            expected,
            access_hash,
            access_expires_at,
            refresh_hash,
            refresh_expires_at,
            at,
        } => super::browsers::refresh(
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
        ),
        Write::DeleteBrowser(id) => super::browsers::delete(c, id),
        Write::ReplaceToken(id, hash) => identity::replace_token(c, id, hash),
        Write::TokensUsed(used) => identity::tokens_used(c, used),
        Write::Proof(p) => identity::put_proof(c, p),
        Write::PurgeProofs { expired_before } => identity::purge_proofs(c, expired_before),
        Write::BindNumber {
            device,
            number,
            source,
            at,
            stale_before,
        } => identity::bind_number(c, device, number, source, at, stale_before),
        Write::UnbindNumber { device, number } => identity::unbind_number(c, device, number),
        Write::EmailValidation(v) => identity::put_email_validation(c, v),
        Write::BindEmail { device, email, at } => identity::bind_email(c, device, email, at),
        Write::UnbindEmail { device, email } => identity::unbind_email(c, device, email),
        Write::Session(r) => sessions::insert_session(c, r),
        Write::SessionState {
            key,
            call,
            closed,
            call_id,
        } => sessions::session_state(c, key, call, closed, call_id),
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
            sessions::insert_participant(c, session, principal, joined)
        }
        Write::Screen(screen) => sessions::put_screen(c, screen),
        Write::Coupling { principal, mode } => identity::set_coupling(c, principal, *mode),
        Write::Near { principal, until } => identity::set_near(c, principal, *until),
        Write::Conference {
            bridge,
            id,
            session,
            at,
        } => calls::put_conference(c, bridge, id, session, *at),
        Write::SystemScreen(screen) => components::put_system_screen(c, screen),
        Write::DeleteSystemScreen(principal) => components::delete_system_screen(c, principal),
        Write::History {
            session,
            principal,
            consent,
        } => sessions::history(c, session, principal, consent),
        Write::RemoveParticipant { session, principal } => {
            sessions::remove_participant(c, session, principal)
        }
        Write::Message(m) => sessions::append_message(c, m),
        Write::Ack {
            session,
            principal,
            seq,
        } => sessions::ack(c, session, principal, seq),
        Write::Leg(r) => calls::put_leg(c, r),
        Write::LegOutcome {
            id,
            state,
            reason,
            session,
        } => calls::leg_outcome(c, id, state, reason, session),
        Write::Call(r) => calls::put_call(c, r),
        Write::CallNote(n) => calls::put_call_note(c, n),
        Write::Invitation(r) => invitations::put_invitation(c, r),
        Write::InvitationDevice { invitation, device } => {
            invitations::add_device(c, invitation, device)
        }
        Write::Card { principal, card } => cards::replace_card(c, principal, card),
        Write::Audiences {
            principal,
            audiences,
        } => cards::replace_audiences(c, principal, audiences),
        Write::ReceivePolicy { principal, policy } => {
            cards::replace_receive_policy(c, principal, policy)
        }
        Write::ForgetContactRule { principal, number } => {
            cards::forget_contact_rule(c, principal, number)
        }
        Write::ResetLedger {
            sender,
            receiver,
            has,
            at,
        } => cards::reset_ledger(c, sender, receiver, has, at),
        Write::Delivered {
            sender,
            receiver,
            field,
            version,
            at,
        } => cards::delivered(c, sender, receiver, field, version, at),
        Write::Component { component: m, at } => components::put_component(c, m, at),
        Write::DeleteComponent(id) => components::delete_component(c, id),
        Write::Capabilities {
            principal,
            capabilities,
            at,
        } => components::replace_capabilities(c, principal, capabilities, at),
        Write::Installed {
            principal,
            component,
            version,
            at,
        } => components::installed(c, principal, component, version, at),
        Write::Push(p) => push::put_subscription(c, p),
        Write::DeletePush { id } => push::delete_subscription(c, id),
        Write::Blob(b, uploader) => blobs::insert_blob(c, b, uploader),
        Write::BlobGrant { blob, principal } => blobs::grant(c, blob, principal),
        Write::DeleteBlobIfUnused(id) => blobs::delete_if_unused(c, id),
        Write::DerivedJob {
            session,
            seq,
            app,
            at,
        } => super::derived::queue(c, session, *seq, app, *at),
        Write::DerivedDone { session, seq } => super::derived::done(c, session, *seq),
        Write::CollectBlob { id, before } => blobs::collect(c, id, *before),
        Write::Audit(a) => audit::append(c, a),
        Write::Merchant(m) => merchants::insert_merchant(c, m),
        Write::MerchantSecret { merchant, secret } => merchants::set_secret(c, merchant, secret),
        Write::Link(l) => merchants::put_link(c, l),
        Write::DeleteLink { merchant, id } => merchants::delete_link(c, merchant, id),
        Write::Agent(a) => merchants::put_agent(c, a),
        Write::DeleteAgent { merchant, id } => merchants::delete_agent(c, merchant, id),
        Write::Page(p) => merchants::put_page(c, p),
        Write::DeletePage { merchant, code } => merchants::delete_page(c, merchant, code),
        Write::Routing {
            merchant,
            rules,
            at,
        } => merchants::put_routing(c, merchant, rules, *at),
        Write::Click(k) => merchants::insert_click(c, k),
        Write::ClickState {
            id,
            state,
            agent,
            outcome,
            at,
        } => merchants::click_state(c, id, state, agent.as_deref(), outcome.as_deref(), *at),
        Write::ClickSession { id, session } => merchants::click_session(c, id, session),
        Write::MerchantWebhook { merchant, hook, at } => {
            merchants::put_webhook(c, merchant, hook.as_ref(), *at)
        }
        Write::Purge {
            what,
            before,
            limit,
        } => retention::purge(c, *what, *before, *limit),
    }
}
