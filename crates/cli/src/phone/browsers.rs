//! `callside phone link-browser`, `browsers`, `unlink-browser`: a browser acts as this device
//! without ever holding its token (issue 14).

use crate::output::Output;
use callside_client::Client;

/// Asks for a one-time code and shows it.
pub(super) async fn link(client: &Client, out: &Output) -> anyhow::Result<()> {
    let code = client.create_browser_link().await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let minutes = ((code.expires_at - now) as f64 / 60_000.0).round().max(1.0);
    let url = format!("{}app/#link={}", client.base_url(), code.code);
    out.result(
        &serde_json::json!({"code": code.code, "expires_at": code.expires_at, "url": url}),
        || {
            format!(
                "link code: {}\nit works once, for the next {minutes} minute(s): open {url} in the browser \
                 (or open {}app/ and type the code)",
                code.code,
                client.base_url()
            )
        },
    );
    Ok(())
}

/// Lists the browsers linked to this device.
pub(super) async fn list(client: &Client, out: &Output) -> anyhow::Result<()> {
    let browsers = client.browsers().await?;
    out.result(&serde_json::json!({ "browsers": browsers }), || {
        if browsers.is_empty() {
            return "no browser is linked to this device".into();
        }
        browsers
            .iter()
            .map(|b| format!("{}  {}", b.id, b.name))
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

/// Unlinks one: its tokens stop working and its sockets close.
pub(super) async fn unlink(client: &Client, id: &str, out: &Output) -> anyhow::Result<()> {
    client.unlink_browser(id).await?;
    out.result(&serde_json::json!({ "unlinked": id }), || {
        format!("browser {id} is unlinked")
    });
    Ok(())
}
