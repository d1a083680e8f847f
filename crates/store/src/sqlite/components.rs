//! The component catalogue and devices' declared capabilities.

use super::corrupt;
use crate::Result;
use callside_core::component::{Capabilities, Component, ComponentId};
use callside_core::principal::PrincipalId;
use callside_core::Millis;
use rusqlite::{params, Connection, OptionalExtension, Row};

/// [`Write::Component`].
pub(super) fn put_component(c: &Connection, m: &Component, at: &Millis) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO components (id, name, version, url, sha256, authorization, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = excluded.version,
         url = excluded.url, sha256 = excluded.sha256,
         authorization = excluded.authorization, updated_at = excluded.updated_at",
    )?
    .execute(params![
        m.id.as_str(),
        m.name,
        m.version,
        m.url,
        m.sha256,
        m.authorization,
        at
    ])?;
    Ok(())
}

/// [`Write::DeleteComponent`].
pub(super) fn delete_component(c: &Connection, id: &ComponentId) -> Result<()> {
    c.prepare_cached("DELETE FROM components WHERE id = ?1")?
        .execute([id.as_str()])?;
    Ok(())
}

/// [`Write::Capabilities`].
pub(super) fn replace_capabilities(
    c: &Connection,
    principal: &PrincipalId,
    capabilities: &Capabilities,
    at: &Millis,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO capabilities (principal, features, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (principal) DO UPDATE SET features = excluded.features,
         updated_at = excluded.updated_at",
    )?
    .execute(params![
        principal.as_str(),
        capabilities.features.join(","),
        at
    ])?;
    c.prepare_cached("DELETE FROM capability_components WHERE principal = ?1")?
        .execute([principal.as_str()])?;
    let mut ins = c.prepare_cached(
        "INSERT INTO capability_components (principal, component, version) VALUES (?1, ?2, ?3)",
    )?;
    for (id, version) in &capabilities.components {
        ins.execute(params![principal.as_str(), id.as_str(), version])?;
    }
    Ok(())
}

/// [`Write::Installed`].
pub(super) fn installed(
    c: &Connection,
    principal: &PrincipalId,
    component: &ComponentId,
    version: &String,
    at: &Millis,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO capabilities (principal, features, updated_at) VALUES (?1, '', ?2)
         ON CONFLICT (principal) DO UPDATE SET updated_at = excluded.updated_at",
    )?
    .execute(params![principal.as_str(), at])?;
    c.prepare_cached(
        "INSERT OR REPLACE INTO capability_components (principal, component, version)
         VALUES (?1, ?2, ?3)",
    )?
    .execute(params![principal.as_str(), component.as_str(), version])?;
    Ok(())
}

type ComponentRow = (String, String, String, String, Option<String>, bool);

fn component_row(r: &Row<'_>) -> rusqlite::Result<ComponentRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn component_from(row: ComponentRow) -> Result<callside_core::component::Component> {
    let (id, name, version, url, sha256, authorization) = row;
    Ok(callside_core::component::Component {
        id: callside_core::component::ComponentId::parse(&id)
            .map_err(|_| corrupt("component id", &id))?,
        name,
        version,
        url,
        sha256,
        authorization,
    })
}

const COMPONENT_COLUMNS: &str = "id, name, version, url, sha256, authorization";

/// One catalogue entry.
pub(super) fn component(
    c: &Connection,
    id: &str,
) -> Result<Option<callside_core::component::Component>> {
    c.prepare_cached(&format!(
        "SELECT {COMPONENT_COLUMNS} FROM components WHERE id = ?1"
    ))?
    .query_row([id], component_row)
    .optional()?
    .map(component_from)
    .transpose()
}

/// The whole catalogue, by id.
pub(super) fn components(c: &Connection) -> Result<Vec<callside_core::component::Component>> {
    c.prepare_cached(&format!(
        "SELECT {COMPONENT_COLUMNS} FROM components ORDER BY id"
    ))?
    .query_map([], component_row)?
    .map(|r| component_from(r?))
    .collect()
}

/// A device's declared capabilities; `None` if it never declared any.
pub(super) fn capabilities(
    c: &Connection,
    principal: &PrincipalId,
) -> Result<Option<callside_core::component::Capabilities>> {
    let Some(features) = c
        .prepare_cached("SELECT features FROM capabilities WHERE principal = ?1")?
        .query_row([principal.as_str()], |r| r.get::<_, String>(0))
        .optional()?
    else {
        return Ok(None);
    };
    let mut components = std::collections::BTreeMap::new();
    let rows = c
        .prepare_cached(
            "SELECT component, version FROM capability_components WHERE principal = ?1",
        )?
        .query_map([principal.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (id, version) in rows {
        let id = callside_core::component::ComponentId::parse(&id)
            .map_err(|_| corrupt("component id", &id))?;
        components.insert(id, version);
    }
    Ok(Some(callside_core::component::Capabilities {
        features: features
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect(),
        components,
    }))
}

/// [`Write::SystemScreen`](crate::Write::SystemScreen).
pub(super) fn put_system_screen(c: &Connection, s: &crate::SystemScreenRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO system_screens (principal, id, regions, body, image, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (principal)
         DO UPDATE SET id = ?2, regions = ?3, body = ?4, image = ?5, updated_at = ?6",
    )?
    .execute(rusqlite::params![
        s.principal.as_str(),
        s.id,
        s.regions.join("\n"),
        s.body,
        s.image.as_ref().map(|b| b.as_str()),
        s.updated_at
    ])?;
    Ok(())
}

/// [`Write::DeleteSystemScreen`](crate::Write::DeleteSystemScreen).
pub(super) fn delete_system_screen(c: &Connection, principal: &PrincipalId) -> Result<()> {
    c.prepare_cached("DELETE FROM system_screens WHERE principal = ?1")?
        .execute([principal.as_str()])?;
    Ok(())
}

pub(super) fn system_screen(
    c: &Connection,
    principal: &PrincipalId,
) -> Result<Option<crate::SystemScreenRecord>> {
    type Row = (String, String, String, Option<String>, Millis);
    let row: Option<Row> = c
        .prepare_cached(
            "SELECT id, regions, body, image, updated_at FROM system_screens WHERE principal = ?1",
        )?
        .query_row([principal.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((id, regions, body, image, updated_at)) = row else {
        return Ok(None);
    };
    let image = image
        .map(|i| callside_core::message::BlobId::parse(&i).map_err(|_| corrupt("blob id", &i)))
        .transpose()?;
    Ok(Some(crate::SystemScreenRecord {
        principal: principal.clone(),
        id,
        regions: regions.split('\n').map(str::to_owned).collect(),
        body,
        image,
        updated_at,
    }))
}
