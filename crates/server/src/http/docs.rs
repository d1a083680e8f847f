//! `GET /docs`: the OpenAPI document as a page a person can browse — operations grouped by tag,
//! their parameters, bodies and answers, and every schema — rendered on the server from the same
//! document `/v1/openapi.json` serves. No script; a CSP that allows only its own inline style.

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

/// `GET /docs` (no authentication, like the document it shows).
pub(crate) async fn page() -> impl IntoResponse {
    static PAGE: OnceLock<String> = OnceLock::new();
    let html = PAGE.get_or_init(|| {
        let doc: Value =
            serde_json::from_str(&super::openapi::document()).expect("the document is JSON");
        render(&doc)
    });
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
            ),
        ],
        html.as_str(),
    )
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An anchor id from free text: letters, digits and dashes.
fn anchor(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// A schema, briefly: a link to a named one, or its type.
fn schema_ref(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{}\">{}</a>", anchor(name), esc(name));
    }
    if let Some(items) = s.get("items") {
        return format!("array of {}", schema_ref(items));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = list.iter().map(schema_ref).collect();
            return parts.join(" | ");
        }
    }
    match s.get("type") {
        Some(Value::String(t)) => esc(t),
        Some(Value::Array(ts)) => esc(&ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | ")),
        _ => "object".into(),
    }
}

/// Escaped prose with its `code` spans (the doc comments' Markdown) shown as code.
fn prose(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .map(prose)
        .unwrap_or_default()
}

/// A schema's properties as a table, when it has any.
fn properties(schema: &Value) -> String {
    let Some(props) = schema["properties"].as_object() else {
        return String::new();
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = String::from("<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>");
    for (name, p) in props {
        let req = if required.contains(&name.as_str()) {
            " (required)"
        } else {
            ""
        };
        let description = match p.get("description") {
            Some(_) => text(p, "description"),
            None => p["oneOf"]
                .as_array()
                .and_then(|l| l.iter().find_map(|x| x.get("description")?.as_str()))
                .map(prose)
                .unwrap_or_default(),
        };
        let _ = write!(
            out,
            "<tr><td><code>{}</code>{req}</td><td>{}</td><td>{description}</td></tr>",
            esc(name),
            schema_ref(p)
        );
    }
    out.push_str("</table>");
    out
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d232a}
nav{position:fixed;top:0;bottom:0;left:0;width:18rem;overflow:auto;background:#f4f6f8;padding:1rem;box-sizing:border-box;font-size:13px}
nav a{display:block;color:#1d4ed8;text-decoration:none;padding:1px 0}nav h4{margin:1rem 0 .25rem}
main{margin-left:18rem;padding:1rem 2rem;max-width:60rem}
section.op{border-top:1px solid #dde2e8;padding:.5rem 0 1rem}
h3 code{font-size:15px}.m{display:inline-block;min-width:4rem;font-weight:700}
.get{color:#047857}.post{color:#1d4ed8}.put{color:#b45309}.delete{color:#b91c1c}
table{border-collapse:collapse;margin:.25rem 0}td,th{border:1px solid #dde2e8;padding:2px 8px;text-align:left;vertical-align:top}
pre{background:#f4f6f8;padding:.5rem;overflow:auto;font-size:12px}";

/// The page for an OpenAPI 3.1 document.
pub(crate) fn render(doc: &Value) -> String {
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let version = doc["info"]["version"].as_str().unwrap_or("");
    // Operations by tag, in path order.
    let mut by_tag: BTreeMap<String, Vec<(String, String, &Value)>> = BTreeMap::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "post", "put", "delete", "patch"] {
                if let Some(op) = item.get(method) {
                    let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
                    by_tag
                        .entry(tag)
                        .or_default()
                        .push((method.to_owned(), path.clone(), op));
                }
            }
        }
    }
    let mut nav = String::new();
    let mut body = String::new();
    for (tag, ops) in &by_tag {
        let _ = write!(nav, "<h4>{}</h4>", esc(tag));
        let _ = write!(body, "<h2 id=\"tag-{}\">{}</h2>", anchor(tag), esc(tag));
        for (method, path, op) in ops {
            let id = anchor(&format!("{method}-{path}"));
            let upper = method.to_uppercase();
            let _ = write!(
                nav,
                "<a href=\"#{id}\"><span class=\"m {method}\">{upper}</span>{}</a>",
                esc(path)
            );
            let _ = write!(
                body,
                "<section class=\"op\" id=\"{id}\"><h3><code><span class=\"m {method}\">{upper}</span>{}</code></h3>",
                esc(path)
            );
            let summary = text(op, "summary");
            let description = text(op, "description");
            if !summary.is_empty() {
                let _ = write!(body, "<p><strong>{summary}</strong></p>");
            }
            if !description.is_empty() && description != summary {
                let _ = write!(body, "<p>{}</p>", description.replace("\n\n", "</p><p>"));
            }
            if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
                body.push_str("<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr>");
                for p in params {
                    let required = if p["required"].as_bool() == Some(true) {
                        " (required)"
                    } else {
                        ""
                    };
                    let _ = write!(
                        body,
                        "<tr><td><code>{}</code>{required}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        text(p, "name"),
                        text(p, "in"),
                        schema_ref(&p["schema"]),
                        text(p, "description")
                    );
                }
                body.push_str("</table>");
            }
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for (mime, c) in content {
                    let _ = write!(
                        body,
                        "<p>Body: <code>{}</code> {}</p>",
                        esc(mime),
                        schema_ref(&c["schema"])
                    );
                }
            }
            if let Some(responses) = op["responses"].as_object() {
                body.push_str("<table><tr><th>Answer</th><th>Meaning</th><th>Body</th></tr>");
                for (status, r) in responses {
                    let schema = r["content"]
                        .as_object()
                        .and_then(|c| c.values().next())
                        .map(|c| schema_ref(&c["schema"]))
                        .unwrap_or_default();
                    let _ = write!(
                        body,
                        "<tr><td>{}</td><td>{}</td><td>{schema}</td></tr>",
                        esc(status),
                        text(r, "description")
                    );
                }
                body.push_str("</table>");
            }
            body.push_str("</section>");
        }
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        nav.push_str("<h4><a href=\"#schemas\">Schemas</a></h4>");
        body.push_str("<h2 id=\"schemas\">Schemas</h2>");
        for (name, schema) in schemas {
            let pretty = serde_json::to_string_pretty(schema).unwrap_or_default();
            let _ = write!(
                body,
                "<section id=\"schema-{}\"><h3>{}</h3><p>{}</p>{}<details><summary>JSON Schema</summary><pre tabindex=\"0\">{}</pre></details></section>",
                anchor(name),
                esc(name),
                text(schema, "description"),
                properties(schema),
                esc(&pretty)
            );
        }
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>{t} {v}</title><style>{STYLE}</style></head><body><nav tabindex=\"0\" aria-label=\"Operations\"><strong>{t}</strong> {v}<br>\
<a href=\"/v1/openapi.json\">openapi.json</a>{nav}</nav><main><h1>{t} {v}</h1>\
<p>Every request but these pages needs <code>Authorization: Bearer &lt;token&gt;</code>. \
Errors are RFC 9457 problem documents with a stable <code>code</code>.</p>{body}</main></body></html>",
        t = esc(title),
        v = esc(version),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_lists_operations_and_schemas_and_escapes_what_it_shows() {
        let doc = serde_json::json!({
            "info": {"title": "callside", "version": "1"},
            "paths": {"/v1/legs": {"post": {"tags": ["calls"], "summary": "Report a <leg>",
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReportLeg"}}}},
                "responses": {"200": {"description": "matched"}}}}},
            "components": {"schemas": {"ReportLeg": {"type": "object", "required": ["own"],
                "properties": {"own": {"type": "string", "description": "Your `number`"}}}}}
        });
        let html = render(&doc);
        assert!(html.contains("href=\"#post--v1-legs\""), "{html}");
        assert!(html.contains("Report a &lt;leg&gt;"), "escaped: {html}");
        assert!(
            html.contains("<td><code>own</code> (required)</td><td>string</td><td>Your <code>number</code></td>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"#schema-ReportLeg\">ReportLeg</a>"),
            "{html}"
        );
        assert!(html.contains("id=\"schema-ReportLeg\""), "{html}");
        assert!(!html.contains("<script"), "no script");
    }
}
