//! The OpenAPI document is part of the public protocol: it must not change by accident (a moved
//! handler, a renamed function — utoipa takes operation ids from function names — or a doc comment
//! edited in passing). `openapi.json` beside this file is the document as it was committed; a
//! deliberate change of the API updates it in the same commit.

#[test]
fn the_openapi_document_is_the_committed_one() {
    let now = callside_server::openapi_document();
    let committed = include_str!("openapi.json");
    if now != committed {
        let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("openapi.json");
        std::fs::write(&out, &now).expect("the temporary directory is writable");
        panic!(
            "the OpenAPI document changed: compare {} with crates/server/tests/openapi.json; \
             if the change is meant, copy it over in the same commit",
            out.display()
        );
    }
}
