//! Router tests: the HTTP API through `tower::ServiceExt::oneshot`, against a real SQLite store
//! in a temporary directory — or, with `CALLSIDE_TEST_DATABASE=postgres`, against a fresh
//! PostgreSQL database on the cluster of `scripts/with-postgres` (scripts/test runs them both
//! ways).

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use callside_server::config::Config;
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use tower::ServiceExt as _;

mod access;
mod browsers;
mod calls;
mod cards;
mod centre;
mod conferences;
mod coupling;
mod history;
mod merchants;
mod numbers;
mod screens;
mod sessions;
mod systems;
mod webcall;

struct Api {
    router: Router,
    admin: String,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    body: Value,
    headers: axum::http::HeaderMap,
    bytes: Vec<u8>,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

const ALICE: &str = "+44 20 7946 0001";

const BOB: &str = "+44 20 7946 0002";

const CAROL: &str = "+44 20 7946 0003";

async fn api() -> Api {
    api_with(|_| {}).await
}

async fn api_with(tweak: impl FnOnce(&mut Config)) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_dir(dir.path());
    if std::env::var("CALLSIDE_TEST_DATABASE").as_deref() == Ok("postgres") {
        // Over TLS when the cluster offers it (scripts/with-postgres does), as a deployment
        // reaching its database across a network would.
        let url = callside_store::conformance::postgres::fresh_database().await;
        let ca_file = std::env::var("CALLSIDE_TEST_POSTGRES_CA").ok();
        config.database = callside_server::config::Database::Postgres {
            url: match ca_file {
                Some(_) => format!("{url} sslmode=require"),
                None => url,
            },
            password: None,
            ca_file: ca_file.map(Into::into),
        };
    }
    tweak(&mut config);
    let (app, admin) = callside_server::build(config).await.unwrap();
    Api {
        router: callside_server::router(app),
        admin,
        _dir: dir,
    }
}

impl Api {
    async fn raw(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
            bytes,
        }
    }

    async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if !token.is_empty() {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        self.raw(req.unwrap()).await
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    /// Stores `bytes` as a blob.
    async fn upload(&self, token: &str, bytes: &[u8]) -> Reply {
        let req = Request::post("/v1/blobs")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(bytes.to_vec()))
            .unwrap();
        self.raw(req).await
    }

    async fn device(&self, name: &str, numbers: &[&str]) -> (String, String) {
        let r = self
            .post(
                "/v1/admin/devices",
                &self.admin,
                json!({"name": name, "numbers": numbers}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (
            r.body["device"]["id"].as_str().unwrap().to_owned(),
            r.body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// A service account; returns its token.
    async fn service(&self, name: &str, scopes: &[&str], ranges: &[&str]) -> String {
        let r = self
            .post(
                "/v1/admin/service-accounts",
                &self.admin,
                json!({"name": name, "scopes": scopes, "ranges": ranges}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    }

    async fn leg(&self, token: &str, own: &str, other: Option<&str>, direction: &str) -> Reply {
        self.post(
            "/v1/legs",
            token,
            json!({"self": own, "other": other, "direction": direction}),
        )
        .await
    }

    /// Two devices, paired on a call; returns (alice token, bob token, session key).
    async fn paired(&self) -> (String, String, String) {
        let (_, a) = self.device("Alice", &[ALICE]).await;
        let (_, b) = self.device("Bob", &[BOB]).await;
        assert_eq!(
            self.leg(&a, ALICE, Some(BOB), "outgoing").await.status,
            StatusCode::ACCEPTED
        );
        let r = self.leg(&b, BOB, Some(ALICE), "incoming").await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let key = r.body["session"]["key"].as_str().unwrap().to_owned();
        (a, b, key)
    }

    async fn send(&self, token: &str, key: &str, id: &str, kind: &str, body: Value) -> Reply {
        self.post(
            &format!("/v1/sessions/{key}/messages"),
            token,
            json!({"id": id, "kind": kind, "body": body}),
        )
        .await
    }

    async fn messages(&self, token: &str, key: &str, after: u64) -> Vec<Value> {
        let r = self
            .get(&format!("/v1/sessions/{key}/messages?after={after}"), token)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["messages"].as_array().unwrap().clone()
    }
}
