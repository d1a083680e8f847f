//! Merchants (S4): their buttons' links, pages, routing rules, and the call records of clicks.

use super::sql::{col, corrupt, exec, exec_insert, row, rows, Db, Row};
use crate::{AgentRecord, ClickRecord, LinkRecord, MerchantRecord, PageRecord, Result};
use callside_core::{Millis, PrincipalId, SessionKey};

/// [`Write::Merchant`](crate::Write::Merchant).
pub(super) async fn insert_merchant(c: &impl Db, m: &MerchantRecord) -> Result<()> {
    exec_insert(
        c,
        "INSERT INTO merchants (id, name, principal, button_secret, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &m.id,
            &m.name,
            &m.principal.as_str(),
            &m.button_secret,
            &m.created_at,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::MerchantSecret`](crate::Write::MerchantSecret).
pub(super) async fn set_secret(c: &impl Db, merchant: &str, secret: &str) -> Result<()> {
    exec(
        c,
        "UPDATE merchants SET button_secret = $2 WHERE id = $1",
        &[&merchant, &secret],
    )
    .await?;
    Ok(())
}

/// [`Write::Link`](crate::Write::Link).
pub(super) async fn put_link(c: &impl Db, l: &LinkRecord) -> Result<()> {
    exec(
        c,
        "INSERT INTO merchant_links (merchant, id, name) VALUES ($1, $2, $3)
         ON CONFLICT (merchant, id) DO UPDATE SET name = EXCLUDED.name",
        &[&l.merchant, &l.id, &l.name],
    )
    .await?;
    Ok(())
}

/// [`Write::DeleteLink`](crate::Write::DeleteLink).
pub(super) async fn delete_link(c: &impl Db, merchant: &str, id: &str) -> Result<()> {
    exec(
        c,
        "DELETE FROM merchant_links WHERE merchant = $1 AND id = $2",
        &[&merchant, &id],
    )
    .await?;
    Ok(())
}

/// [`Write::Agent`](crate::Write::Agent).
pub(super) async fn put_agent(c: &impl Db, a: &AgentRecord) -> Result<()> {
    let groups = serde_json::to_string(&a.groups).expect("strings serialise");
    exec_insert(
        c,
        "INSERT INTO merchant_agents (merchant, id, principal, name, groups, created_at, supervisor)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (merchant, id) DO UPDATE SET name = EXCLUDED.name, groups = EXCLUDED.groups,
         supervisor = EXCLUDED.supervisor",
        &[
            &a.merchant,
            &a.id,
            &a.principal.as_str(),
            &a.name,
            &groups,
            &a.created_at,
            &a.supervisor,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::DeleteAgent`](crate::Write::DeleteAgent).
pub(super) async fn delete_agent(c: &impl Db, merchant: &str, id: &str) -> Result<()> {
    exec(
        c,
        "DELETE FROM merchant_agents WHERE merchant = $1 AND id = $2",
        &[&merchant, &id],
    )
    .await?;
    Ok(())
}

const AGENT_COLUMNS: &str = "merchant, id, principal, name, groups, created_at, supervisor";

fn agent_from(r: &Row) -> Result<AgentRecord> {
    let id: String = col(r, 1)?;
    let groups: String = col(r, 4)?;
    Ok(AgentRecord {
        merchant: col(r, 0)?,
        groups: serde_json::from_str(&groups).map_err(|_| corrupt("agent groups", &groups))?,
        id,
        principal: PrincipalId(col(r, 2)?),
        name: col(r, 3)?,
        created_at: col(r, 5)?,
        supervisor: col(r, 6)?,
    })
}

/// A merchant's agents, by id.
pub(super) async fn agents(c: &impl Db, merchant: &str) -> Result<Vec<AgentRecord>> {
    rows(
        c,
        &format!(
            "SELECT {AGENT_COLUMNS} FROM merchant_agents WHERE merchant = $1
             ORDER BY id COLLATE \"C\""
        ),
        &[&merchant],
    )
    .await?
    .iter()
    .map(agent_from)
    .collect()
}

/// The agent whose account `principal` is.
pub(super) async fn agent_of(c: &impl Db, principal: &PrincipalId) -> Result<Option<AgentRecord>> {
    row(
        c,
        &format!("SELECT {AGENT_COLUMNS} FROM merchant_agents WHERE principal = $1"),
        &[&principal.as_str()],
    )
    .await?
    .map(|r| agent_from(&r))
    .transpose()
}

/// Calls still `queued`, `ringing` or `answered`, oldest first.
pub(super) async fn open_clicks(c: &impl Db) -> Result<Vec<ClickRecord>> {
    rows(
        c,
        &format!(
            "SELECT {CLICK_COLUMNS} FROM merchant_clicks
             WHERE state IN ('queued', 'ringing', 'answered') ORDER BY created_at, id COLLATE \"C\""
        ),
        &[],
    )
    .await?
    .iter()
    .map(click_from)
    .collect()
}

/// [`Write::Page`](crate::Write::Page).
pub(super) async fn put_page(c: &impl Db, p: &PageRecord) -> Result<()> {
    exec(
        c,
        "INSERT INTO merchant_pages (merchant, code, url) VALUES ($1, $2, $3)
         ON CONFLICT (merchant, code) DO UPDATE SET url = EXCLUDED.url",
        &[&p.merchant, &p.code, &p.url],
    )
    .await?;
    Ok(())
}

/// [`Write::DeletePage`](crate::Write::DeletePage).
pub(super) async fn delete_page(c: &impl Db, merchant: &str, code: &str) -> Result<()> {
    exec(
        c,
        "DELETE FROM merchant_pages WHERE merchant = $1 AND code = $2",
        &[&merchant, &code],
    )
    .await?;
    Ok(())
}

/// [`Write::Routing`](crate::Write::Routing).
pub(super) async fn put_routing(
    c: &impl Db,
    merchant: &str,
    rules: &str,
    at: Millis,
) -> Result<()> {
    exec(
        c,
        "INSERT INTO merchant_routing (merchant, rules, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (merchant) DO UPDATE SET rules = EXCLUDED.rules,
         updated_at = EXCLUDED.updated_at",
        &[&merchant, &rules, &at],
    )
    .await?;
    Ok(())
}

/// [`Write::Click`](crate::Write::Click).
pub(super) async fn insert_click(c: &impl Db, k: &ClickRecord) -> Result<()> {
    let rule: Option<i64> = k.rule.map(i64::from);
    let session = k.session.as_ref().map(SessionKey::as_str);
    exec_insert(
        c,
        "INSERT INTO merchant_clicks (id, merchant, link, customer, button_destination, context,
         destination, rule, state, agent, outcome, created_at, answered_at, ended_at, session,
         channel)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        &[
            &k.id,
            &k.merchant,
            &k.link,
            &k.customer,
            &k.button_destination,
            &k.context,
            &k.destination,
            &rule,
            &k.state,
            &k.agent,
            &k.outcome,
            &k.created_at,
            &k.answered_at,
            &k.ended_at,
            &session,
            &k.channel,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::MerchantWebhook`](crate::Write::MerchantWebhook).
pub(super) async fn put_webhook(
    c: &impl Db,
    merchant: &str,
    hook: Option<&(String, String)>,
    at: Millis,
) -> Result<()> {
    match hook {
        Some((url, secret)) => {
            exec(
                c,
                "INSERT INTO merchant_webhooks (merchant, url, secret, updated_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (merchant) DO UPDATE SET url = EXCLUDED.url,
                 secret = EXCLUDED.secret, updated_at = EXCLUDED.updated_at",
                &[&merchant, url, secret, &at],
            )
            .await?
        }
        None => {
            exec(
                c,
                "DELETE FROM merchant_webhooks WHERE merchant = $1",
                &[&merchant],
            )
            .await?
        }
    };
    Ok(())
}

pub(super) async fn webhook(c: &impl Db, merchant: &str) -> Result<Option<(String, String)>> {
    row(
        c,
        "SELECT url, secret FROM merchant_webhooks WHERE merchant = $1",
        &[&merchant],
    )
    .await?
    .map(|r| Ok((col(&r, 0)?, col(&r, 1)?)))
    .transpose()
}

/// [`Write::ClickState`](crate::Write::ClickState): `answered` sets `answered_at` (and the
/// agent, when one is given), `ended` sets `ended_at` and the outcome; an ended click stays as
/// it is.
pub(super) async fn click_state(
    c: &impl Db,
    id: &str,
    state: &str,
    agent: Option<&str>,
    outcome: Option<&str>,
    at: Millis,
) -> Result<()> {
    exec(
        c,
        "UPDATE merchant_clicks SET state = $2::TEXT,
         answered_at = CASE WHEN $2::TEXT = 'answered' THEN $5::BIGINT ELSE answered_at END,
         agent = CASE WHEN $2::TEXT = 'answered' THEN COALESCE($3::TEXT, agent) ELSE agent END,
         ended_at = CASE WHEN $2::TEXT = 'ended' THEN $5::BIGINT ELSE ended_at END,
         outcome = CASE WHEN $2::TEXT = 'ended' THEN $4::TEXT ELSE outcome END
         WHERE id = $1 AND state <> 'ended'",
        &[&id, &state, &agent, &outcome, &at],
    )
    .await?;
    Ok(())
}

/// [`Write::ClickSession`](crate::Write::ClickSession).
pub(super) async fn click_session(c: &impl Db, id: &str, session: &SessionKey) -> Result<()> {
    exec(
        c,
        "UPDATE merchant_clicks SET session = $2 WHERE id = $1",
        &[&id, &session.as_str()],
    )
    .await?;
    Ok(())
}

const MERCHANT_COLUMNS: &str = "id, name, principal, button_secret, created_at";

fn merchant_from(r: &Row) -> Result<MerchantRecord> {
    Ok(MerchantRecord {
        id: col(r, 0)?,
        name: col(r, 1)?,
        principal: PrincipalId(col(r, 2)?),
        button_secret: col(r, 3)?,
        created_at: col(r, 4)?,
    })
}

pub(super) async fn merchant(c: &impl Db, id: &str) -> Result<Option<MerchantRecord>> {
    row(
        c,
        &format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE id = $1"),
        &[&id],
    )
    .await?
    .map(|r| merchant_from(&r))
    .transpose()
}

/// The merchant whose API account `principal` is.
pub(super) async fn merchant_of(
    c: &impl Db,
    principal: &PrincipalId,
) -> Result<Option<MerchantRecord>> {
    row(
        c,
        &format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE principal = $1"),
        &[&principal.as_str()],
    )
    .await?
    .map(|r| merchant_from(&r))
    .transpose()
}

/// A merchant's links, by id (in byte order, as SQLite compares text).
pub(super) async fn links(c: &impl Db, merchant: &str) -> Result<Vec<LinkRecord>> {
    rows(
        c,
        "SELECT merchant, id, name FROM merchant_links WHERE merchant = $1
         ORDER BY id COLLATE \"C\"",
        &[&merchant],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(LinkRecord {
            merchant: col(r, 0)?,
            id: col(r, 1)?,
            name: col(r, 2)?,
        })
    })
    .collect()
}

/// A merchant's pages, by code (in byte order, as SQLite compares text).
pub(super) async fn pages(c: &impl Db, merchant: &str) -> Result<Vec<PageRecord>> {
    rows(
        c,
        "SELECT merchant, code, url FROM merchant_pages WHERE merchant = $1
         ORDER BY code COLLATE \"C\"",
        &[&merchant],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(PageRecord {
            merchant: col(r, 0)?,
            code: col(r, 1)?,
            url: col(r, 2)?,
        })
    })
    .collect()
}

/// The routing rules last stored for `merchant`.
pub(super) async fn routing(c: &impl Db, merchant: &str) -> Result<Option<String>> {
    row(
        c,
        "SELECT rules FROM merchant_routing WHERE merchant = $1",
        &[&merchant],
    )
    .await?
    .map(|r| col(&r, 0))
    .transpose()
}

const CLICK_COLUMNS: &str = "id, merchant, link, customer, button_destination, context,
    destination, rule, state, agent, outcome, created_at, answered_at, ended_at, session, channel";

fn click_from(r: &Row) -> Result<ClickRecord> {
    let rule: Option<i64> = col(r, 7)?;
    let rule = rule
        .map(|n| u32::try_from(n).map_err(|_| corrupt("click rule", &n.to_string())))
        .transpose()?;
    Ok(ClickRecord {
        id: col(r, 0)?,
        merchant: col(r, 1)?,
        link: col(r, 2)?,
        customer: col(r, 3)?,
        button_destination: col(r, 4)?,
        context: col(r, 5)?,
        destination: col(r, 6)?,
        rule,
        state: col(r, 8)?,
        agent: col(r, 9)?,
        outcome: col(r, 10)?,
        created_at: col(r, 11)?,
        answered_at: col(r, 12)?,
        ended_at: col(r, 13)?,
        session: col::<Option<String>>(r, 14)?
            .map(|k| SessionKey::parse(&k).ok_or_else(|| corrupt("session key", &k)))
            .transpose()?,
        channel: col(r, 15)?,
    })
}

/// The newest call to a number of `merchant` with channel id `channel`, still `routed`, made
/// after `since`.
pub(super) async fn click_by_channel(
    c: &impl Db,
    merchant: &str,
    channel: &str,
    since: Millis,
) -> Result<Option<ClickRecord>> {
    row(
        c,
        &format!(
            "SELECT {CLICK_COLUMNS} FROM merchant_clicks
             WHERE merchant = $1 AND channel = $2 AND state = 'routed' AND created_at > $3
             ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT 1"
        ),
        &[&merchant, &channel, &since],
    )
    .await?
    .map(|r| click_from(&r))
    .transpose()
}

pub(super) async fn click(c: &impl Db, id: &str) -> Result<Option<ClickRecord>> {
    row(
        c,
        &format!("SELECT {CLICK_COLUMNS} FROM merchant_clicks WHERE id = $1"),
        &[&id],
    )
    .await?
    .map(|r| click_from(&r))
    .transpose()
}

/// A merchant's clicks, newest first (ties by id, larger first): at most `limit` created before
/// `before` (all when `None`).
pub(super) async fn clicks(
    c: &impl Db,
    merchant: &str,
    before: Option<Millis>,
    limit: u32,
) -> Result<Vec<ClickRecord>> {
    let limit = i64::from(limit);
    rows(
        c,
        &format!(
            "SELECT {CLICK_COLUMNS} FROM merchant_clicks
             WHERE merchant = $1 AND ($2::BIGINT IS NULL OR created_at < $2::BIGINT)
             ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $3"
        ),
        &[&merchant, &before, &limit],
    )
    .await?
    .iter()
    .map(click_from)
    .collect()
}
