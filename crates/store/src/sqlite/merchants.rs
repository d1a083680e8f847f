//! Merchants (S4): their buttons' links, pages, routing rules, and the call records of clicks.

use super::is_constraint;
use crate::{AgentRecord, ClickRecord, LinkRecord, MerchantRecord, PageRecord, Result, StoreError};
use callside_core::{Millis, PrincipalId, SessionKey};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// An insert whose violated constraint (a known id or principal) means
/// [`StoreError::Duplicate`].
fn duplicate(e: rusqlite::Error) -> StoreError {
    if is_constraint(&e) {
        StoreError::Duplicate
    } else {
        e.into()
    }
}

/// [`Write::Merchant`](crate::Write::Merchant).
pub(super) fn insert_merchant(c: &Connection, m: &MerchantRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO merchants (id, name, principal, button_secret, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        m.id,
        m.name,
        m.principal.as_str(),
        m.button_secret,
        m.created_at
    ])
    .map_err(duplicate)?;
    Ok(())
}

/// [`Write::MerchantSecret`](crate::Write::MerchantSecret).
pub(super) fn set_secret(c: &Connection, merchant: &str, secret: &str) -> Result<()> {
    c.prepare_cached("UPDATE merchants SET button_secret = ?2 WHERE id = ?1")?
        .execute(params![merchant, secret])?;
    Ok(())
}

/// [`Write::Link`](crate::Write::Link).
pub(super) fn put_link(c: &Connection, l: &LinkRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO merchant_links (merchant, id, name) VALUES (?1, ?2, ?3)
         ON CONFLICT (merchant, id) DO UPDATE SET name = excluded.name",
    )?
    .execute(params![l.merchant, l.id, l.name])?;
    Ok(())
}

/// [`Write::DeleteLink`](crate::Write::DeleteLink).
pub(super) fn delete_link(c: &Connection, merchant: &str, id: &str) -> Result<()> {
    c.prepare_cached("DELETE FROM merchant_links WHERE merchant = ?1 AND id = ?2")?
        .execute(params![merchant, id])?;
    Ok(())
}

/// [`Write::Page`](crate::Write::Page).
pub(super) fn put_page(c: &Connection, p: &PageRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO merchant_pages (merchant, code, url) VALUES (?1, ?2, ?3)
         ON CONFLICT (merchant, code) DO UPDATE SET url = excluded.url",
    )?
    .execute(params![p.merchant, p.code, p.url])?;
    Ok(())
}

/// [`Write::DeletePage`](crate::Write::DeletePage).
pub(super) fn delete_page(c: &Connection, merchant: &str, code: &str) -> Result<()> {
    c.prepare_cached("DELETE FROM merchant_pages WHERE merchant = ?1 AND code = ?2")?
        .execute(params![merchant, code])?;
    Ok(())
}

/// [`Write::Routing`](crate::Write::Routing).
pub(super) fn put_routing(c: &Connection, merchant: &str, rules: &str, at: Millis) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO merchant_routing (merchant, rules, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (merchant) DO UPDATE SET rules = excluded.rules,
         updated_at = excluded.updated_at",
    )?
    .execute(params![merchant, rules, at])?;
    Ok(())
}

/// [`Write::MerchantWebhook`](crate::Write::MerchantWebhook).
pub(super) fn put_webhook(
    c: &Connection,
    merchant: &str,
    hook: Option<&(String, String)>,
    at: Millis,
) -> Result<()> {
    match hook {
        Some((url, secret)) => c
            .prepare_cached(
                "INSERT INTO merchant_webhooks (merchant, url, secret, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (merchant) DO UPDATE SET url = excluded.url,
                 secret = excluded.secret, updated_at = excluded.updated_at",
            )?
            .execute(params![merchant, url, secret, at])?,
        None => c
            .prepare_cached("DELETE FROM merchant_webhooks WHERE merchant = ?1")?
            .execute([merchant])?,
    };
    Ok(())
}

pub(super) fn webhook(c: &Connection, merchant: &str) -> Result<Option<(String, String)>> {
    Ok(
        c.prepare_cached("SELECT url, secret FROM merchant_webhooks WHERE merchant = ?1")?
            .query_row([merchant], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?,
    )
}

/// [`Write::Click`](crate::Write::Click).
pub(super) fn insert_click(c: &Connection, k: &ClickRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO merchant_clicks (id, merchant, link, customer, button_destination, context,
         destination, rule, state, agent, outcome, created_at, answered_at, ended_at, session,
         channel)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        k.id,
        k.merchant,
        k.link,
        k.customer,
        k.button_destination,
        k.context,
        k.destination,
        k.rule,
        k.state,
        k.agent,
        k.outcome,
        k.created_at,
        k.answered_at,
        k.ended_at,
        k.session.as_ref().map(SessionKey::as_str),
        k.channel
    ])
    .map_err(duplicate)?;
    Ok(())
}

/// [`Write::Agent`](crate::Write::Agent).
pub(super) fn put_agent(c: &Connection, a: &AgentRecord) -> Result<()> {
    let groups = serde_json::to_string(&a.groups).expect("strings serialise");
    c.prepare_cached(
        "INSERT INTO merchant_agents (merchant, id, principal, name, groups, created_at, supervisor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (merchant, id) DO UPDATE SET name = excluded.name, groups = excluded.groups,
         supervisor = excluded.supervisor",
    )?
    .execute(params![
        a.merchant,
        a.id,
        a.principal.as_str(),
        a.name,
        groups,
        a.created_at,
        a.supervisor
    ])
    .map_err(duplicate)?;
    Ok(())
}

/// [`Write::DeleteAgent`](crate::Write::DeleteAgent).
pub(super) fn delete_agent(c: &Connection, merchant: &str, id: &str) -> Result<()> {
    c.prepare_cached("DELETE FROM merchant_agents WHERE merchant = ?1 AND id = ?2")?
        .execute(params![merchant, id])?;
    Ok(())
}

const AGENT_COLUMNS: &str = "merchant, id, principal, name, groups, created_at, supervisor";

fn agent_row(r: &Row<'_>) -> rusqlite::Result<(AgentRecord, String)> {
    Ok((
        AgentRecord {
            merchant: r.get(0)?,
            id: r.get(1)?,
            principal: PrincipalId(r.get(2)?),
            name: r.get(3)?,
            groups: Vec::new(),
            supervisor: r.get(6)?,
            created_at: r.get(5)?,
        },
        r.get(4)?,
    ))
}

fn with_groups((mut a, groups): (AgentRecord, String)) -> Result<AgentRecord> {
    a.groups = serde_json::from_str(&groups)
        .map_err(|e| StoreError::Corrupt(format!("groups of agent {}: {e}", a.id)))?;
    Ok(a)
}

/// A merchant's agents, by id.
pub(super) fn agents(c: &Connection, merchant: &str) -> Result<Vec<AgentRecord>> {
    c.prepare_cached(&format!(
        "SELECT {AGENT_COLUMNS} FROM merchant_agents WHERE merchant = ?1 ORDER BY id"
    ))?
    .query_map([merchant], agent_row)?
    .map(|r| with_groups(r?))
    .collect()
}

/// The agent whose account `principal` is.
pub(super) fn agent_of(c: &Connection, principal: &PrincipalId) -> Result<Option<AgentRecord>> {
    c.prepare_cached(&format!(
        "SELECT {AGENT_COLUMNS} FROM merchant_agents WHERE principal = ?1"
    ))?
    .query_row([principal.as_str()], agent_row)
    .optional()?
    .map(with_groups)
    .transpose()
}

/// Calls still `queued`, `ringing` or `answered`, oldest first.
pub(super) fn open_clicks(c: &Connection) -> Result<Vec<ClickRecord>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {CLICK_COLUMNS} FROM merchant_clicks
             WHERE state IN ('queued', 'ringing', 'answered') ORDER BY created_at, id"
    ))?
    .query_map([], click_row)?
    .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// [`Write::ClickState`](crate::Write::ClickState): `answered` sets `answered_at` (and the
/// agent, when one is given), `ended` sets `ended_at` and the outcome; an ended click stays as
/// it is.
pub(super) fn click_state(
    c: &Connection,
    id: &str,
    state: &str,
    agent: Option<&str>,
    outcome: Option<&str>,
    at: Millis,
) -> Result<()> {
    c.prepare_cached(
        "UPDATE merchant_clicks SET state = ?2,
         answered_at = CASE WHEN ?2 = 'answered' THEN ?5 ELSE answered_at END,
         agent = CASE WHEN ?2 = 'answered' THEN COALESCE(?3, agent) ELSE agent END,
         ended_at = CASE WHEN ?2 = 'ended' THEN ?5 ELSE ended_at END,
         outcome = CASE WHEN ?2 = 'ended' THEN ?4 ELSE outcome END
         WHERE id = ?1 AND state != 'ended'",
    )?
    .execute(params![id, state, agent, outcome, at])?;
    Ok(())
}

/// [`Write::ClickSession`](crate::Write::ClickSession).
pub(super) fn click_session(c: &Connection, id: &str, session: &SessionKey) -> Result<()> {
    c.prepare_cached("UPDATE merchant_clicks SET session = ?2 WHERE id = ?1")?
        .execute(params![id, session.as_str()])?;
    Ok(())
}

const MERCHANT_COLUMNS: &str = "id, name, principal, button_secret, created_at";

fn merchant_row(r: &Row<'_>) -> rusqlite::Result<MerchantRecord> {
    Ok(MerchantRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        principal: PrincipalId(r.get(2)?),
        button_secret: r.get(3)?,
        created_at: r.get(4)?,
    })
}

pub(super) fn merchant(c: &Connection, id: &str) -> Result<Option<MerchantRecord>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {MERCHANT_COLUMNS} FROM merchants WHERE id = ?1"
    ))?
    .query_row([id], merchant_row)
    .optional()?)
}

/// The merchant whose API account `principal` is.
pub(super) fn merchant_of(
    c: &Connection,
    principal: &PrincipalId,
) -> Result<Option<MerchantRecord>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {MERCHANT_COLUMNS} FROM merchants WHERE principal = ?1"
    ))?
    .query_row([principal.as_str()], merchant_row)
    .optional()?)
}

/// A merchant's links, by id.
pub(super) fn links(c: &Connection, merchant: &str) -> Result<Vec<LinkRecord>> {
    Ok(c.prepare_cached(
        "SELECT merchant, id, name FROM merchant_links WHERE merchant = ?1 ORDER BY id",
    )?
    .query_map([merchant], |r| {
        Ok(LinkRecord {
            merchant: r.get(0)?,
            id: r.get(1)?,
            name: r.get(2)?,
        })
    })?
    .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// A merchant's pages, by code.
pub(super) fn pages(c: &Connection, merchant: &str) -> Result<Vec<PageRecord>> {
    Ok(c.prepare_cached(
        "SELECT merchant, code, url FROM merchant_pages WHERE merchant = ?1 ORDER BY code",
    )?
    .query_map([merchant], |r| {
        Ok(PageRecord {
            merchant: r.get(0)?,
            code: r.get(1)?,
            url: r.get(2)?,
        })
    })?
    .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The routing rules last stored for `merchant`.
pub(super) fn routing(c: &Connection, merchant: &str) -> Result<Option<String>> {
    Ok(
        c.prepare_cached("SELECT rules FROM merchant_routing WHERE merchant = ?1")?
            .query_row([merchant], |r| r.get(0))
            .optional()?,
    )
}

const CLICK_COLUMNS: &str = "id, merchant, link, customer, button_destination, context,
    destination, rule, state, agent, outcome, created_at, answered_at, ended_at, session, channel";

fn click_row(r: &Row<'_>) -> rusqlite::Result<ClickRecord> {
    Ok(ClickRecord {
        id: r.get(0)?,
        merchant: r.get(1)?,
        link: r.get(2)?,
        customer: r.get(3)?,
        button_destination: r.get(4)?,
        context: r.get(5)?,
        destination: r.get(6)?,
        rule: r.get(7)?,
        state: r.get(8)?,
        agent: r.get(9)?,
        outcome: r.get(10)?,
        created_at: r.get(11)?,
        answered_at: r.get(12)?,
        ended_at: r.get(13)?,
        session: r
            .get::<_, Option<String>>(14)?
            .map(|k| {
                SessionKey::parse(&k).ok_or(rusqlite::Error::InvalidColumnType(
                    14,
                    "session".into(),
                    rusqlite::types::Type::Text,
                ))
            })
            .transpose()?,
        channel: r.get(15)?,
    })
}

pub(super) fn click(c: &Connection, id: &str) -> Result<Option<ClickRecord>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {CLICK_COLUMNS} FROM merchant_clicks WHERE id = ?1"
    ))?
    .query_row([id], click_row)
    .optional()?)
}

/// The newest call to a number of `merchant` with channel id `channel`, still `routed`, made
/// after `since`.
pub(super) fn click_by_channel(
    c: &Connection,
    merchant: &str,
    channel: &str,
    since: Millis,
) -> Result<Option<ClickRecord>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {CLICK_COLUMNS} FROM merchant_clicks
             WHERE merchant = ?1 AND channel = ?2 AND state = 'routed' AND created_at > ?3
             ORDER BY created_at DESC, id DESC LIMIT 1"
    ))?
    .query_row(params![merchant, channel, since], click_row)
    .optional()?)
}

/// A merchant's clicks, newest first (ties by id, larger first): at most `limit` created before
/// `before` (all when `None`).
pub(super) fn clicks(
    c: &Connection,
    merchant: &str,
    before: Option<Millis>,
    limit: u32,
) -> Result<Vec<ClickRecord>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {CLICK_COLUMNS} FROM merchant_clicks
             WHERE merchant = ?1 AND (?2 IS NULL OR created_at < ?2)
             ORDER BY created_at DESC, id DESC LIMIT ?3"
    ))?
    .query_map(params![merchant, before, limit], click_row)?
    .collect::<rusqlite::Result<Vec<_>>>()?)
}
