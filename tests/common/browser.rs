//! A real browser for page tests: Debian's headless Chromium driven over WebDriver (fantoccini) by
//! Debian's chromedriver, which each `Browser` starts on its own loopback port and stops on drop.
//! `RequestLog` is a loopback HTTP listener that records requests: point "remote" URLs (images,
//! stylesheets, links a page must not load) at it and check what the browser fetched.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Backend, Harness};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The browser binary itself: Debian's /usr/bin/chromium is a shell wrapper that sources
/// /etc/chromium.d (extensions, flags, and a /dev/shm check that prints a shell error here).
const CHROMIUM_BINARY: &str = "/usr/lib/chromium/chromium";

/// How long one page operation (navigation, finding an element, a script) may take.
pub const TIMEOUT: Duration = Duration::from_secs(20);
/// Our own deadline around each WebDriver call: a little longer, so that chromedriver's timeout
/// error (which says more) normally comes first.
const CALL_TIMEOUT: Duration = Duration::from_secs(25);
/// How long chromedriver may take to listen and Chromium to open a session.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether Debian's chromium and chromium-driver are installed; see `super::require` for what a
/// missing browser does.
pub fn available() -> bool {
    let ok = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    super::require(
        ok,
        &format!("browser: {CHROMIUM} or {CHROMEDRIVER} is missing"),
        "`scripts/test-services.sh install` installs Debian's chromium and chromium-driver",
    )
}

/// One headless Chromium session behind its own chromedriver. Dropping it ends the session and
/// kills chromedriver and every Chromium process (they share chromedriver's process group), then
/// removes the profile.
pub struct Browser {
    client: Client,
    driver: Child,
    port: u16,
    session: Option<String>,
    /// Chromium's profile (`--user-data-dir`), HOME for both processes, chromedriver's log.
    dir: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        let started = Instant::now();
        let dir = tempfile::Builder::new().prefix("mailgate-browser.").tempdir().expect("temp dir");
        let profile = dir.path().join("profile");
        let log = dir.path().join("chromedriver.log");
        // A port taken between free_port() and chromedriver's bind: try again on another one.
        let mut attempt = 0;
        let (driver, port) = loop {
            attempt += 1;
            let port = super::ports::free_port();
            let mut driver = spawn_driver(port, dir.path(), &log);
            match wait_listening(&mut driver, port).await {
                Ok(()) => break (driver, port),
                Err(why) if attempt < 3 => eprintln!("browser: chromedriver on {port}: {why}; retrying"),
                Err(why) => panic!("browser: chromedriver on {port}: {why}\n{}", tail(&log)),
            }
        };
        let binary = if Path::new(CHROMIUM_BINARY).exists() { CHROMIUM_BINARY } else { CHROMIUM };
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {
                "pageLoad": TIMEOUT.as_millis() as u64,
                "script": TIMEOUT.as_millis() as u64,
                "implicit": 0,
            },
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless=new",
                    // Root in CI: Chromium refuses to start sandboxed as root.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.display()),
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-background-networking",
                    "--window-size=1280,900",
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        let url = format!("http://127.0.0.1:{port}");
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let connect = within(START_TIMEOUT, builder.connect(&url)).await;
        let client = match connect {
            Ok(client) => client,
            Err(e) => {
                let mut driver = driver;
                kill_group(&mut driver);
                panic!("browser: no Chromium session from chromedriver on {port}: {e}\n{}", tail(&log))
            }
        };
        let mut browser = Browser { client, driver, port, session: None, dir };
        browser.session = browser.client.session_id().await.ok().flatten();
        eprintln!("browser: Chromium session up in {:?}", started.elapsed());
        browser
    }

    /// The fantoccini client, for what the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits for the page's load event.
    pub async fn goto(&self, url: &str) {
        let result = within(CALL_TIMEOUT, self.client.goto(url)).await;
        result.unwrap_or_else(|e| panic!("browser: goto {url}: {e}"));
    }

    pub async fn current_url(&self) -> String {
        let url = within(CALL_TIMEOUT, self.client.current_url()).await;
        url.unwrap_or_else(|e| panic!("browser: current url: {e}")).to_string()
    }

    /// The HTML of the current page as the browser has it now (after scripts ran).
    pub async fn page_source(&self) -> String {
        within(CALL_TIMEOUT, self.client.source())
            .await
            .unwrap_or_else(|e| panic!("browser: page source: {e}"))
    }

    /// Whether `css` matches anything on the page now (no waiting).
    pub async fn exists(&self, css: &str) -> bool {
        let found = within(CALL_TIMEOUT, self.client.find_all(Locator::Css(css))).await;
        !found.unwrap_or_else(|e| panic!("browser: find `{css}`: {e}")).is_empty()
    }

    /// The rendered text of the first element matching `css`, waiting for one to appear.
    pub async fn text(&self, css: &str) -> String {
        let element = self.element(css).await;
        let text = within(CALL_TIMEOUT, element.text()).await;
        text.unwrap_or_else(|e| panic!("browser: text of `{css}`: {e}"))
    }

    /// Replaces the value of the input or textarea matching `css` by typing `value`.
    pub async fn fill(&self, css: &str, value: &str) {
        let element = self.element(css).await;
        let cleared = within(CALL_TIMEOUT, element.clear()).await;
        cleared.unwrap_or_else(|e| panic!("browser: clear `{css}`: {e}"));
        let typed = within(CALL_TIMEOUT, element.send_keys(value)).await;
        typed.unwrap_or_else(|e| panic!("browser: type into `{css}`: {e}"));
    }

    /// Chooses `path` in the file input matching `css` (a local file; chromedriver runs here).
    pub async fn upload(&self, css: &str, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let path: PathBuf =
            path.canonicalize().unwrap_or_else(|e| panic!("browser: upload {}: {e}", path.display()));
        let element = self.element(css).await;
        let sent = within(CALL_TIMEOUT, element.send_keys(&path.to_string_lossy())).await;
        sent.unwrap_or_else(|e| panic!("browser: upload {} into `{css}`: {e}", path.display()));
    }

    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        let clicked = within(CALL_TIMEOUT, element.click()).await;
        clicked.unwrap_or_else(|e| panic!("browser: click `{css}`: {e}"));
    }

    /// Runs `js` as a function body in the page and returns what it `return`s (JSON; `null` when
    /// nothing), e.g. `browser.execute("return window.__xss === true").await`.
    pub async fn execute(&self, js: &str) -> Value {
        let result = within(CALL_TIMEOUT, self.client.execute(js, vec![])).await;
        result.unwrap_or_else(|e| panic!("browser: script `{js}`: {e}"))
    }

    /// The first element matching `css`, waiting up to `TIMEOUT` for it to appear.
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        let wait = self.client.wait().at_most(TIMEOUT).every(Duration::from_millis(50));
        let found = within(CALL_TIMEOUT, wait.for_element(Locator::Css(css))).await;
        found.unwrap_or_else(|e| panic!("browser: no element matches `{css}` after {TIMEOUT:?}: {e}"))
    }

    /// Makes the page's viewport `width` x `height` CSS pixels: sets the window size, then corrects
    /// it by what the page reports (the window may be larger than its viewport).
    pub async fn set_viewport(&self, width: u32, height: u32) {
        let mut window = (width, height);
        for _ in 0..5 {
            let resized = within(CALL_TIMEOUT, self.client.set_window_size(window.0, window.1)).await;
            resized.unwrap_or_else(|e| panic!("browser: window size {window:?}: {e}"));
            let inner = self.settled_viewport((i64::from(width), i64::from(height))).await;
            if inner == (i64::from(width), i64::from(height)) {
                return;
            }
            let fix = |window: u32, want: u32, got: i64| {
                u32::try_from(i64::from(window) + i64::from(want) - got).unwrap_or(window)
            };
            window = (fix(window.0, width, inner.0), fix(window.1, height, inner.1));
        }
        let inner = self.execute("return [window.innerWidth, window.innerHeight]").await;
        panic!("browser: cannot make the viewport {width}x{height}; it is {inner}");
    }

    /// Presses Tab `times` times, as a keyboard user moving through the page; returns the text of
    /// the element that has focus then.
    pub async fn press_tab(&self, times: usize) -> String {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        use fantoccini::key::Key;
        let mut keys = KeyActions::new("keyboard".to_string());
        for _ in 0..times {
            keys = keys
                .then(KeyAction::Down { value: Key::Tab.into() })
                .then(KeyAction::Up { value: Key::Tab.into() });
        }
        let pressed = within(CALL_TIMEOUT, self.client.perform_actions(keys)).await;
        pressed.unwrap_or_else(|e| panic!("browser: press Tab: {e}"));
        let focused =
            self.execute("return document.activeElement ? document.activeElement.textContent : ''").await;
        focused.as_str().unwrap_or_default().trim().to_string()
    }

    /// Makes the page match `prefers-color-scheme: dark` (or light), as a system set to dark mode
    /// would: Chrome DevTools' `Emulation.setEmulatedMedia`, sent through chromedriver.
    pub async fn prefer_dark(&self, dark: bool) {
        let session = self.session.clone().expect("browser: no session id");
        let body = json!({
            "cmd": "Emulation.setEmulatedMedia",
            "params": { "features": [{ "name": "prefers-color-scheme", "value": if dark { "dark" } else { "light" } }] },
        });
        let (port, path) = (self.port, format!("/session/{session}/goog/cdp/execute"));
        let answer =
            tokio::task::spawn_blocking(move || driver_request(port, "POST", &path, &body.to_string()))
                .await
                .expect("browser: CDP request task");
        let answer = answer.unwrap_or_else(|e| panic!("browser: CDP Emulation.setEmulatedMedia: {e}"));
        assert!(answer.starts_with("HTTP/1.1 200"), "browser: CDP Emulation.setEmulatedMedia: {answer}");
        let matches = self.execute("return matchMedia('(prefers-color-scheme: dark)').matches").await;
        assert_eq!(matches, json!(dark), "browser: the page does not see the emulated colour scheme");
    }

    /// The viewport's size once the page has taken a resize in (the renderer learns it a moment
    /// after the window changed): `want` as soon as it shows, else the same answer twice in a
    /// row, 20 ms apart, or the last one after a second.
    async fn settled_viewport(&self, want: (i64, i64)) -> (i64, i64) {
        let mut last = (-1, -1);
        for _ in 0..50 {
            let inner = self.execute("return [window.innerWidth, window.innerHeight]").await;
            let inner = (inner[0].as_i64().unwrap_or(0), inner[1].as_i64().unwrap_or(0));
            if inner == want || inner == last {
                return inner;
            }
            last = inner;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        last
    }

    /// The height of the whole page at the current width, in CSS pixels.
    pub async fn page_height(&self) -> u32 {
        let height = self.execute("return document.scrollingElement.scrollHeight").await;
        height.as_u64().and_then(|h| u32::try_from(h).ok()).unwrap_or(0)
    }

    /// A PNG of the viewport, written to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = within(CALL_TIMEOUT, self.client.screenshot()).await;
        let png = png.unwrap_or_else(|e| panic!("browser: screenshot: {e}"));
        std::fs::write(path, png).unwrap_or_else(|e| panic!("browser: write {}: {e}", path.display()));
    }

    /// What is wrong with the current page's layout at the current width, in words (empty when
    /// nothing): the page scrolls sideways (with the elements that stick out), text is fainter
    /// against its background than WCAG AA allows, a class in the DOM has no rule in the page's
    /// stylesheets, or no stylesheet loaded at all.
    pub async fn layout_problems(&self) -> Vec<String> {
        let found = self.execute(LAYOUT_CHECK).await;
        let list = |key: &str| -> Vec<String> {
            found[key].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect()
        };
        let mut problems = Vec::new();
        if found["rules"].as_u64().unwrap_or(0) == 0 {
            problems.push("no stylesheet rule loaded".to_string());
        }
        let overflow = found["overflow"].as_i64().unwrap_or(0);
        if overflow > 0 {
            problems.push(format!(
                "the page is {overflow}px wider than the viewport; sticking out: {}",
                list("wide").join(", ")
            ));
        }
        let faint = list("faint");
        if !faint.is_empty() {
            problems.push(format!("text below WCAG AA contrast (4.5:1, large 3:1): {}", faint.join("; ")));
        }
        let unstyled = list("unstyled");
        if !unstyled.is_empty() {
            problems.push(format!("classes without a rule in the stylesheets: {}", unstyled.join(", ")));
        }
        problems
    }

    /// chromedriver's log so far (for a failing test's message).
    pub fn driver_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session makes chromedriver close Chromium gracefully. fantoccini would send the
        // same when its client drops, but from a task on a runtime that may already be gone; this is
        // a blocking HTTP request of our own.
        if let Some(session) = &self.session {
            let _ = delete_session(self.port, session);
        }
        // Whatever is left: chromedriver and Chromium share a process group. (Chromium's crashpad
        // handlers run in their own sessions and exit with Chromium.)
        kill_group(&mut self.driver);
    }
}

/// Run in the page by [`Browser::layout_problems`]: the number of style rules, how far the page
/// scrolls sideways and which elements reach past the viewport (outside boxes that clip or scroll
/// them), the classes used in the DOM that no selector of the stylesheets names, and text whose
/// contrast with the background behind it (background colours composed up the tree) is below AA.
const LAYOUT_CHECK: &str = include_str!("layout_check.js");

fn spawn_driver(port: u16, home: &Path, log: &Path) -> Child {
    std::fs::create_dir_all(home.join("tmp")).expect("browser temp dir");
    let log_file = std::fs::File::create(log).expect("chromedriver log file");
    Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        // Chromium writes its crash database and caches under $HOME and XDG dirs, and scratch dirs
        // under $TMPDIR (left behind if it is killed): keep them all in the temp dir.
        .env("HOME", home)
        .env("TMPDIR", home.join("tmp"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("chromedriver log file"))
        .stderr(log_file)
        // Its own process group, so that drop can kill Chromium with it.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("browser: start {CHROMEDRIVER}: {e}"))
}

async fn wait_listening(driver: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = driver.try_wait() {
            return Err(format!("exited with {status}"));
        }
        if Instant::now() > deadline {
            kill_group(driver);
            return Err(format!("not listening after {START_TIMEOUT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGKILL to the child's process group (the child leads it), then reap the child.
fn kill_group(child: &mut Child) {
    let _ = Command::new("/bin/kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// `DELETE /session/{id}` to chromedriver with plain blocking I/O; returns once chromedriver has
/// answered (it answers when Chromium has quit).
fn delete_session(port: u16, session: &str) -> std::io::Result<()> {
    driver_request(port, "DELETE", &format!("/session/{session}"), "").map(drop)
}

/// One request to chromedriver with plain blocking I/O; returns the whole response (head and
/// body). chromedriver keeps the connection open despite `Connection: close`, so this reads the
/// response up to its Content-Length, not to EOF.
fn driver_request(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if response.len() >= end + 4 + length {
                return Ok(String::from_utf8_lossy(&response).into_owned());
            }
        }
        match stream.read(&mut buf)? {
            0 => return Ok(String::from_utf8_lossy(&response).into_owned()),
            n => response.extend_from_slice(&buf[..n]),
        }
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!("chromedriver log (last lines):\n{}", lines[lines.len().saturating_sub(30)..].join("\n"))
}

/// `fut` with a deadline; a timeout is an error naming the duration (the caller names the action).
async fn within<T, E: std::fmt::Display>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("timed out after {limit:?}")),
    }
}

/// A loopback HTTP listener that records the request line of everything it receives ("GET /pixel
/// HTTP/1.1") and answers each with an empty 200. Stops on drop.
pub struct RequestLog {
    pub port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RequestLog {
    pub async fn start() -> RequestLog {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind request log");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head);
                    if let Some(line) = text.lines().next().filter(|l| !l.is_empty()) {
                        log.lock().unwrap().push(line.to_string());
                    }
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        RequestLog { port, requests, task }
    }

    /// `http://127.0.0.1:PORT{path}`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request line received so far, in arrival order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Whether a request line starting with `prefix` (e.g. "GET /pixel ") arrives within `limit`.
    pub async fn wait_for(&self, prefix: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.requests().iter().any(|r| r.starts_with(prefix)) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A harness whose links point at a web endpoint served on a loopback port.
pub async fn site() -> Option<(Harness, String)> {
    site_with("").await
}

/// Like [`site`], with `extra` configuration.
pub async fn site_with(extra: &str) -> Option<(Harness, String)> {
    if !available() || !super::smtp::available() {
        return None;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let h = Harness::with_config(Backend::Sqlite, &format!("[web]\nbase_url = \"{base}\"\n{extra}")).await?;
    let app = mailgate::app::open_with_clock(&h.config, Arc::new(h.clock.clone())).await.unwrap();
    let router = mailgate::app::web_router(&h.config, app).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _keep = stop;
        mailgate::web::serve(listener, router, stopped).await.unwrap();
    });
    Some((h, base))
}

/// Whether the page shows `text` within a few seconds (a submitted form navigates asynchronously).
pub async fn shows(browser: &Browser, text: &str) -> bool {
    for _ in 0..100 {
        if browser.page_source().await.contains(text) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The first `base`/t/... link in a delivered mail (quoted-printable soft breaks undone).
pub fn link_in(mail: &str, base: &str) -> String {
    url_in(mail, &format!("{base}/t/"))
}

/// The first URL starting with `prefix` in a delivered mail (quoted-printable soft breaks undone).
pub fn url_in(mail: &str, prefix: &str) -> String {
    let text = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let start = text.find(prefix).unwrap_or_else(|| panic!("no link to {prefix} in\n{mail}"));
    text[start..].split(|c: char| c.is_whitespace() || c == '"' || c == '<').next().unwrap().to_string()
}
