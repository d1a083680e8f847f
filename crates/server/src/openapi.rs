//! The OpenAPI 3.1 document, generated from the handlers and wire types.

use crate::routes;
use callside_proto as proto;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "callside",
        description = "The data side of phone calls: call-paired sessions with an ordered, durable message log. \
                       The WebSocket protocol at /v1/ws is described in docs/PROTOCOL.md.",
        license(name = "Apache-2.0")
    ),
    paths(
        routes::me,
        routes::create_device, routes::list_devices, routes::delete_device, routes::rotate_device_token,
        routes::create_service_account, routes::list_service_accounts, routes::delete_service_account, routes::rotate_service_token,
        routes::report_leg, routes::get_leg, routes::answer_leg, routes::end_leg, routes::network_call,
        routes::list_sessions, routes::get_session, routes::close_session,
        routes::send_message, routes::list_messages, routes::ack,
        routes::upload_blob, routes::download_blob,
    ),
    components(schemas(
        proto::Problem, proto::message::TextBody, proto::message::FileBody, proto::message::CallBody,
        proto::message::JoinedBody, proto::message::ClosedBody, proto::ws::ClientFrame, proto::ws::ServerFrame,
    )),
    modifiers(&Bearer),
    security(("bearer" = [])),
)]
pub(crate) struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
}

/// `GET /v1/openapi.json` (no authentication: it describes, it reveals nothing).
pub(crate) async fn serve() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
}
