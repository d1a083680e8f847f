//! Leases: one node at a time holds a role among the nodes sharing a database (the cluster's
//! call matching, whose pending legs live in one node's memory).

use crate::Result;

/// Takes roles that only one node may hold at once.
#[async_trait::async_trait]
pub trait Leases: Send + Sync {
    /// Takes `role` if no other holder has it: `Some` for as long as the lease [`holds`]
    /// (dropping it gives the role up), `None` when another holder has it now.
    ///
    /// A backend that only one process opens (SQLite: the data directory is locked) grants every
    /// role at once. PostgreSQL holds a session-level advisory lock on a connection of the
    /// lease's own, which the database releases when that connection ends, so a node killed
    /// with SIGKILL loses its roles as soon as its connection is gone.
    ///
    /// [`holds`]: Lease::holds
    async fn try_lease(&self, role: &str) -> Result<Option<Box<dyn Lease>>>;
}

/// A role held (see [`Leases::try_lease`]).
#[async_trait::async_trait]
pub trait Lease: Send + Sync {
    /// Whether the role is still held (for PostgreSQL: its connection still answers). Once
    /// `false`, it stays `false`: the holder must stop acting in the role at once.
    async fn holds(&self) -> bool;
}

/// A lease nobody else can contend for.
pub(crate) struct Sole;

#[async_trait::async_trait]
impl Lease for Sole {
    async fn holds(&self) -> bool {
        true
    }
}

/// The advisory lock key of `role`: FNV-1a, the same on every node and every build.
pub(crate) fn lock_key(role: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in role.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}
