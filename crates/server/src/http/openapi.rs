//! The OpenAPI 3.1 document, generated from the handlers and wire types.

use crate::admin::http as admin;
use crate::blobs::http as blobs;
use crate::calls::http as calls;
use crate::cards::http as cards;
use crate::components::http as components;
use crate::connect::http as connect;
use crate::identity::http as identity;
use crate::invitations::http as invitations;
use crate::merchants::centre::http as centre;
use crate::merchants::http as merchants;
use crate::push::http as push;
use crate::screens::http as screens;
use crate::sessions::http as sessions;
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
        identity::me, identity::rotate_own_token,
        identity::create_browser_link, identity::admin_browser_link, identity::link_browser, identity::refresh_browser,
        identity::sign_out_browser, identity::list_browsers, identity::unlink_browser, identity::ws_ticket,
        identity::start_proof, identity::get_proof, identity::complete_proof, identity::unbind_number,
        identity::enroll_device, identity::inbound_sms_query, identity::inbound_sms_json,
        connect::connection_data, admin::audit_log, admin::unused_tokens,
        identity::add_email, identity::get_email_validation, identity::complete_email, identity::remove_email,
        calls::leave_note, calls::call_log, cards::get_card_policy, cards::put_card_policy, cards::fetch_card, calls::sign_passport, cards::put_card_cache,
        cards::get_card, cards::put_card, cards::delete_card, cards::get_audiences, cards::put_audiences, push::register_push, push::list_push, push::delete_push,
        screens::put_screen, screens::get_screen, screens::delete_screen,
        identity::get_coupling, identity::put_coupling, identity::post_near,
        invitations::create_invitation, invitations::list_invitations, invitations::get_invitation,
        invitations::accept_invitation, invitations::decline_invitation, invitations::cancel_invitation,
        admin::create_device, admin::list_devices, admin::delete_device, admin::rotate_device_token,
        admin::export_device, admin::erase_device, admin::export_me,
        admin::create_service_account, admin::list_service_accounts, admin::delete_service_account, admin::rotate_service_token,
        calls::report_leg, calls::get_leg, calls::answer_leg, calls::end_leg, calls::network_call, calls::network_calls,
        calls::click_to_dial, calls::end_call,
        sessions::list_sessions, sessions::get_session, sessions::close_session, sessions::transfer_session, sessions::set_history,
        sessions::send_message, sessions::list_messages, sessions::ack,
        blobs::upload_blob, blobs::download_blob,
        merchants::create_merchant, merchants::get_merchant, merchants::rotate_button_secret,
        merchants::me, merchants::list_links, merchants::put_link, merchants::delete_link,
        merchants::list_pages, merchants::put_page, merchants::delete_page, merchants::get_routing,
        merchants::put_routing, merchants::dry_run, merchants::list_calls, merchants::get_call,
        merchants::call_state, merchants::click,
        centre::put_agent, centre::list_agents, centre::delete_agent, centre::set_presence,
        centre::agent_call, centre::accept_call, centre::decline_call, centre::end_call,
        centre::push_page, centre::agent_pages, centre::agent_board, centre::merchant_board, centre::join_channel,
        merchants::put_webhook, merchants::get_webhook, merchants::delete_webhook,
        centre::visitor_page, centre::visitor_call, centre::visitor_hangup,
        components::put_component, components::delete_component, components::list_components,
        components::get_component, components::get_capabilities, components::put_capabilities,
        components::session_capabilities, components::offer_component,
        components::confirm_installed, components::leg_component,
    ),
    components(schemas(
        proto::Problem, proto::message::TextBody, proto::message::FileBody, proto::message::CallBody,
        proto::message::JoinedBody, proto::message::ClosedBody, proto::message::TransferredBody, proto::card::CardBody, proto::message::LocationBody, proto::message::LocationRequestBody, proto::message::LocationDeclineBody, proto::message::PageViewBody, proto::message::MediaControlBody, proto::message::SystemPageBody, proto::message::SystemLocationBody, proto::component::SystemComponentBody, proto::component::SystemInstalledBody, proto::component::CapabilityQueryBody, proto::component::CapabilityAnswerBody, proto::component::SystemCapabilityBody, proto::component::PurchaseClaims, proto::screen::ScreenBody, proto::screen::ScreenAckBody, proto::screen::ScreenActionBody, proto::rtc::RtcOfferBody, proto::rtc::RtcAnswerBody, proto::rtc::RtcCandidateBody, proto::rtc::RtcEndBody, proto::ws::ClientFrame, proto::ws::ServerFrame,
    )),
    modifiers(&Bearer, &Problems),
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

/// Every operation may answer with a problem document (`application/problem+json`): the
/// statuses any request can meet are added where a handler does not list them, and listed error
/// responses get the problem media type.
struct Problems;

impl Modify for Problems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use callside_proto::problem::PROBLEM_JSON;
        use utoipa::openapi::{Content, Ref, RefOr, Response};
        let problem = |what: &str| {
            let mut r = Response::new(what);
            r.content.insert(
                PROBLEM_JSON.into(),
                Content::new(Some(Ref::from_schema_name("Problem"))),
            );
            RefOr::T(r)
        };
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                for (status, response) in op.responses.responses.iter_mut() {
                    if let (true, RefOr::T(r)) =
                        (status.starts_with('4') || status.starts_with('5'), response)
                    {
                        if let Some(c) = r.content.shift_remove("application/json") {
                            r.content.insert(PROBLEM_JSON.into(), c);
                        }
                    }
                }
                for (status, what) in [
                    ("400", "The request is malformed; nothing changed."),
                    ("401", "No bearer token, or one that is malformed, unknown, revoked or expired (the `code` says which)."),
                    ("403", "The token may not do this."),
                    ("404", "No such resource, or not one you may see."),
                    ("503", "Shutting down or overloaded; retry."),
                ] {
                    op.responses
                        .responses
                        .entry(status.into())
                        .or_insert_with(|| problem(what));
                }
            }
        }
    }
}

/// The document as JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
}
