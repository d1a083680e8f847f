//! The component catalogue and devices' declared capabilities.

use super::sql::{col, corrupt, exec, row, rows, Db, Row};
use crate::Result;
use callside_core::component::{Capabilities, Component, ComponentId};
use callside_core::principal::PrincipalId;
use callside_core::Millis;

/// [`Write::Component`].
pub(super) async fn put_component(c: &impl Db, m: &Component, at: &Millis) -> Result<()> {
    exec(
        c,
        "INSERT INTO components (id, name, version, url, sha256, needs_authorization, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, version = EXCLUDED.version,
         url = EXCLUDED.url, sha256 = EXCLUDED.sha256,
         needs_authorization = EXCLUDED.needs_authorization, updated_at = EXCLUDED.updated_at",
        &[
            &m.id.as_str(),
            &m.name,
            &m.version,
            &m.url,
            &m.sha256,
            &m.authorization,
            at,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::DeleteComponent`].
pub(super) async fn delete_component(c: &impl Db, id: &ComponentId) -> Result<()> {
    exec(c, "DELETE FROM components WHERE id = $1", &[&id.as_str()]).await?;
    Ok(())
}

/// [`Write::Capabilities`].
pub(super) async fn replace_capabilities(
    c: &impl Db,
    principal: &PrincipalId,
    capabilities: &Capabilities,
    at: &Millis,
) -> Result<()> {
    let features = capabilities.features.join(",");
    exec(
        c,
        "INSERT INTO capabilities (principal, features, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (principal) DO UPDATE SET features = EXCLUDED.features,
         updated_at = EXCLUDED.updated_at",
        &[&principal.as_str(), &features, at],
    )
    .await?;
    exec(
        c,
        "DELETE FROM capability_components WHERE principal = $1",
        &[&principal.as_str()],
    )
    .await?;
    if capabilities.components.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = capabilities
        .components
        .keys()
        .map(|id| id.as_str())
        .collect();
    let versions: Vec<&str> = capabilities
        .components
        .values()
        .map(|v| v.as_str())
        .collect();
    exec(
        c,
        "INSERT INTO capability_components (principal, component, version)
         SELECT $1::TEXT, u.component, u.version
         FROM UNNEST($2::TEXT[], $3::TEXT[]) AS u(component, version)",
        &[&principal.as_str(), &ids, &versions],
    )
    .await?;
    Ok(())
}

/// [`Write::Installed`].
pub(super) async fn installed(
    c: &impl Db,
    principal: &PrincipalId,
    component: &ComponentId,
    version: &String,
    at: &Millis,
) -> Result<()> {
    exec(
        c,
        "INSERT INTO capabilities (principal, features, updated_at) VALUES ($1, '', $2)
         ON CONFLICT (principal) DO UPDATE SET updated_at = EXCLUDED.updated_at",
        &[&principal.as_str(), at],
    )
    .await?;
    exec(
        c,
        "INSERT INTO capability_components (principal, component, version)
         VALUES ($1, $2, $3)
         ON CONFLICT (principal, component) DO UPDATE SET version = EXCLUDED.version",
        &[&principal.as_str(), &component.as_str(), version],
    )
    .await?;
    Ok(())
}

type ComponentRow = (String, String, String, String, Option<String>, bool);

fn component_row(r: &Row) -> Result<ComponentRow> {
    Ok((
        col(r, 0)?,
        col(r, 1)?,
        col(r, 2)?,
        col(r, 3)?,
        col(r, 4)?,
        col(r, 5)?,
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

const COMPONENT_COLUMNS: &str = "id, name, version, url, sha256, needs_authorization";

/// One catalogue entry.
pub(super) async fn component(
    c: &impl Db,
    id: &str,
) -> Result<Option<callside_core::component::Component>> {
    row(
        c,
        &format!("SELECT {COMPONENT_COLUMNS} FROM components WHERE id = $1"),
        &[&id],
    )
    .await?
    .map(|r| component_from(component_row(&r)?))
    .transpose()
}

/// The whole catalogue, by id.
pub(super) async fn components(c: &impl Db) -> Result<Vec<callside_core::component::Component>> {
    rows(
        c,
        &format!("SELECT {COMPONENT_COLUMNS} FROM components ORDER BY id"),
        &[],
    )
    .await?
    .iter()
    .map(|r| component_from(component_row(r)?))
    .collect()
}

/// A device's declared capabilities; `None` if it never declared any.
pub(super) async fn capabilities(
    c: &impl Db,
    principal: &PrincipalId,
) -> Result<Option<callside_core::component::Capabilities>> {
    let Some(r) = row(
        c,
        "SELECT features FROM capabilities WHERE principal = $1",
        &[&principal.as_str()],
    )
    .await?
    else {
        return Ok(None);
    };
    let features: String = col(&r, 0)?;
    let mut components = std::collections::BTreeMap::new();
    let rows = rows(
        c,
        "SELECT component, version FROM capability_components WHERE principal = $1",
        &[&principal.as_str()],
    )
    .await?;
    for r in &rows {
        let id: String = col(r, 0)?;
        let version: String = col(r, 1)?;
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
pub(super) async fn put_system_screen(c: &impl Db, s: &crate::SystemScreenRecord) -> Result<()> {
    let regions = s.regions.join("\n");
    let image = s.image.as_ref().map(|b| b.as_str());
    exec(
        c,
        "INSERT INTO system_screens (principal, id, regions, body, image, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (principal)
         DO UPDATE SET id = $2, regions = $3, body = $4, image = $5, updated_at = $6",
        &[
            &s.principal.as_str(),
            &s.id,
            &regions,
            &s.body,
            &image,
            &s.updated_at,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::DeleteSystemScreen`](crate::Write::DeleteSystemScreen).
pub(super) async fn delete_system_screen(c: &impl Db, principal: &PrincipalId) -> Result<()> {
    exec(
        c,
        "DELETE FROM system_screens WHERE principal = $1",
        &[&principal.as_str()],
    )
    .await?;
    Ok(())
}

pub(super) async fn system_screen(
    c: &impl Db,
    principal: &PrincipalId,
) -> Result<Option<crate::SystemScreenRecord>> {
    let Some(r) = row(
        c,
        "SELECT id, regions, body, image, updated_at FROM system_screens WHERE principal = $1",
        &[&principal.as_str()],
    )
    .await?
    else {
        return Ok(None);
    };
    let id: String = col(&r, 0)?;
    let regions: String = col(&r, 1)?;
    let body: String = col(&r, 2)?;
    let image: Option<String> = col(&r, 3)?;
    let updated_at: Millis = col(&r, 4)?;
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
