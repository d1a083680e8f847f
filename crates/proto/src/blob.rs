//! Files: content-addressed blobs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A stored blob. `id` is `sha256:<hex>` of its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlobInfo {
    pub id: String,
    pub size: u64,
    /// Detected from the bytes (`application/octet-stream` when unknown).
    pub mime: String,
}
