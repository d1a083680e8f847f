//! Leases on PostgreSQL (the throw-away cluster of `scripts/with-postgres`): two stores on one
//! database, as two nodes have; one holds a role at a time, and a holder's connection ending
//! gives the role to the other.

use callside_store::conformance::postgres::fresh_database;
use callside_store::prelude::*;
use callside_store::PgOptions;
use std::time::Duration;

#[tokio::test]
async fn one_store_holds_a_role_at_a_time_and_gives_it_up_with_its_connection() {
    let url = fresh_database().await;
    let one = callside_store::postgres::open(&url, None, PgOptions::default())
        .await
        .unwrap();
    let two = callside_store::postgres::open(&url, None, PgOptions::default())
        .await
        .unwrap();
    let held = one
        .try_lease("matcher")
        .await
        .unwrap()
        .expect("free at first");
    assert!(held.holds().await);
    assert!(two.try_lease("matcher").await.unwrap().is_none(), "taken");
    assert!(
        two.try_lease("another role").await.unwrap().is_some(),
        "roles are independent"
    );
    // The holder goes (its connection with it): the other store takes the role.
    drop(held);
    let mut taken = None;
    for _ in 0..100 {
        taken = two.try_lease("matcher").await.unwrap();
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let taken = taken.expect("given up with its connection");
    assert!(taken.holds().await);
    assert!(one.try_lease("matcher").await.unwrap().is_none());
}
