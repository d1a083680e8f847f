//! `callside phone link-browser`, `browsers` and `unlink-browser` as a person uses them: the code
//! the CLI prints links a browser, which then acts as the device until it is unlinked.

mod support;

use callside_client::Client;
use support::{create_device, run, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_links_lists_and_unlinks_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut serve, server) = serve(&data, &[]);
    let alice = create_device(&server, &data, "Alice", "+442079460001");
    let phone = |args: &[&str]| {
        let mut all = vec!["phone", "--token", &alice];
        all.extend_from_slice(args);
        run(&server, &all)
    };

    let code = phone(&["link-browser"]).remove(0);
    assert_eq!(
        code["url"].as_str().unwrap(),
        format!("{server}/app/#link={}", code["code"].as_str().unwrap())
    );
    let code = code["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 11, "{code}");
    // As a person types it: lower case, a space for the dash.
    let typed = code.to_lowercase().replace('-', " ");
    let (browser, tokens) = Client::link_browser(&server, &typed, Some("office PC"))
        .await
        .unwrap();
    let me = browser.me().await.unwrap();
    assert_eq!(me.numbers, ["+442079460001"]);

    let listed = phone(&["browsers"]).remove(0);
    assert_eq!(listed["browsers"][0]["name"], "office PC");
    assert_eq!(listed["browsers"][0]["id"], tokens.browser.id.as_str());

    let unlinked = phone(&["unlink-browser", &tokens.browser.id]).remove(0);
    assert_eq!(unlinked["unlinked"], tokens.browser.id.as_str());
    let err = browser.me().await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(phone(&["browsers"]).remove(0)["browsers"]
        .as_array()
        .unwrap()
        .is_empty());

    let _ = serve.kill();
    let _ = serve.wait();
}
