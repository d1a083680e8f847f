//! The conformance suite: the storage contract's tests, written against the traits, so that
//! every backend runs the same ones.
//!
//! Each case is a `pub async fn` taking a fresh, empty [`Database`] of the backend under test;
//! [`conformance_suite!`](crate::conformance_suite) expands to one `#[tokio::test]` per case,
//! named after it. A backend's integration test implements [`Database`] and invokes the macro:
//!
//! ```ignore
//! struct Fresh(tempfile::TempDir);
//!
//! #[async_trait::async_trait]
//! impl callside_store::conformance::Database for Fresh {
//!     async fn open(&self) -> std::sync::Arc<dyn callside_store::Store> {
//!         callside_store::sqlite::open(&self.0.path().join("t.sqlite"), Default::default())
//!             .unwrap()
//!     }
//! }
//!
//! callside_store::conformance_suite!(async { Fresh(tempfile::tempdir().unwrap()) });
//! ```
//!
//! Compiled only with the cargo feature `conformance` (and in this crate's own tests). What a
//! test cannot provoke the same way on every backend (a transaction failing underneath the
//! store, WAL behaviour, migrations from old schema versions) is tested in the backend's module.

mod blobs;
mod browsers;
mod calls;
mod cards;
mod components;
pub mod fixtures;
mod identity;
mod invitations;
mod merchants;
mod personal;
pub mod postgres;
mod retention;
mod sessions;
mod writes;

pub use blobs::*;
pub use browsers::*;
pub use calls::*;
pub use cards::*;
pub use components::*;
pub use identity::*;
pub use invitations::*;
pub use merchants::*;
pub use personal::*;
pub use retention::*;
pub use sessions::*;
pub use writes::*;

use crate::Store;
use std::sync::Arc;

/// A fresh, empty database of the backend under test, one per case.
#[async_trait::async_trait]
pub trait Database: Send + Sync {
    /// Opens a store on this database. A case may drop its store and open the database again:
    /// the new store must see everything the old one committed.
    async fn open(&self) -> Arc<dyn Store>;
}

/// Expands to one `#[tokio::test]` per conformance case, each named after its case.
///
/// `$database` is an expression whose value is a future of a fresh [`Database`] (anything
/// that derefs to one); it is evaluated once per case. The calling crate needs `tokio` with
/// its `macros` and `rt` features.
#[macro_export]
macro_rules! conformance_suite {
    ($database:expr) => {
        $crate::conformance_suite!(@cases $database;
            principals_are_found_by_token_hash_only,
            token_use_is_recorded_and_unused_tokens_are_listed,
            browsers_link_once_refresh_once_and_go_with_their_device,
            sms_bindings_refresh_and_stale_ones_are_replaced,
            sms_bindings_lapse_unless_proven_again,
            devices_get_network_calls_as_they_are_coupled,
            proofs_are_found_by_id_and_code_hash_and_purged_when_old,
            messages_append_in_order_and_client_ids_are_unique,
            a_taken_sequence_number_conflicts_and_breaks_its_chain,
            a_sessions_sequence_and_activity_come_from_its_newest_message,
            sessions_round_trip_with_state_and_acks,
            screens_are_kept_per_session_and_replaced_by_id,
            one_failing_request_does_not_fail_its_batch,
            pending_legs_come_back_in_report_order,
            network_calls_end_once_and_follow_a_diversion,
            a_conference_maps_to_its_newest_session,
            call_notes_reach_a_number_only_from_when_the_device_owns_it,
            blobs_are_readable_by_uploader_and_participants_only,
            a_later_participant_reads_a_blob_only_if_a_message_it_may_see_names_it,
            messages_committed_together_keep_their_order_and_the_newest_blob_reference,
            invitations_keep_their_devices_and_ring_until_settled,
            cards_audiences_and_the_ledger_round_trip,
            catalogue_and_capabilities_round_trip,
            a_systems_predetermined_screen_is_replaced_and_deleted,
            merchants_links_pages_and_routing_round_trip,
            clicks_are_the_merchants_own_newest_first_and_end_once,
            agents_belong_to_one_merchant_and_waiting_calls_come_back_oldest_first,
            old_records_are_purged_in_bounded_batches_and_new_ones_kept,
            a_devices_data_is_exported_whole_and_erased_without_touching_others,
            only_unreferenced_blobs_are_collected,
            transformer_work_is_kept_until_done,
            a_restart_knows_whom_to_wake_again,
        );
    };
    (@cases $database:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let database = $database.await;
                $crate::conformance::$case(&database).await;
            }
        )+
    };
}
