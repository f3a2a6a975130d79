//! The browser harness itself (tests/common/browser.rs): headless Chromium opens a page from a
//! loopback server, types, uploads, clicks and runs scripts; and `RequestLog` sees what a page loads.

mod common;

use std::time::Duration;

use common::browser::{Browser, RequestLog, available};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `html` to every request on a loopback port; returns the page's URL.
async fn serve(html: String) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/", listener.local_addr().unwrap().port());
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let html = html.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (url, task)
}

const FORM: &str = r#"<!doctype html>
<html><head><title>start</title></head><body>
<input id="name" value="old">
<input id="file" type="file">
<button id="go" onclick="
  var name = document.getElementById('name').value;
  document.title = 'hello ' + name;
  document.getElementById('out').textContent = 'typed ' + name;
  window.__clicked = true;">Go</button>
<p id="out"></p>
</body></html>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fills_clicks_uploads_and_reads_back() {
    if !available() {
        return;
    }
    let (url, _server) = serve(FORM.to_string()).await;
    let browser = Browser::start().await;
    browser.goto(&url).await;
    assert_eq!(browser.current_url().await, url);
    assert!(browser.exists("#go").await);
    assert!(!browser.exists("#missing").await);
    assert_eq!(browser.execute("return window.__clicked === true").await, json!(false));

    browser.fill("#name", "Ada <b>").await;
    let file = tempfile::Builder::new().suffix(".txt").tempfile().unwrap();
    std::fs::write(file.path(), "attached").unwrap();
    browser.upload("#file", file.path()).await;
    browser.click("#go").await;

    assert_eq!(browser.execute("return document.title").await, json!("hello Ada <b>"));
    assert_eq!(browser.execute("return window.__clicked === true").await, json!(true));
    assert_eq!(browser.text("#out").await, "typed Ada <b>");
    let chosen = browser.execute("return document.getElementById('file').files[0].name").await;
    assert_eq!(chosen, json!(file.path().file_name().unwrap().to_str().unwrap()));
    assert!(browser.page_source().await.contains("typed Ada &lt;b&gt;"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_log_sees_what_the_page_loads() {
    if !available() {
        return;
    }
    let remote = RequestLog::start().await;
    let html = format!(
        r#"<!doctype html><html><body><p>pixel:</p><img src="{}"></body></html>"#,
        remote.url("/pixel")
    );
    let (url, _server) = serve(html).await;
    let browser = Browser::start().await;
    browser.goto(&url).await;
    // The image holds back the load event, which goto waits for; the wait is a safety margin.
    assert!(
        remote.wait_for("GET /pixel ", Duration::from_secs(5)).await,
        "no GET /pixel; requests: {:?}",
        remote.requests()
    );
    assert!(remote.requests().iter().all(|r| r.starts_with("GET /pixel ")), "{:?}", remote.requests());
}
