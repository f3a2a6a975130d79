//! The web endpoint of a harness on a loopback port, and a small HTTP/1.1 client that keeps
//! cookies and reads the CSRF token out of forms, like a browser would.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Harness;

/// The agent console signed in as alice (password set through `Accounts`), served for a harness
/// with `extra` config; `None` when the backend is not available here.
pub async fn agent_console(backend: super::Backend, extra: &str) -> Option<(Harness, Client)> {
    let h = Harness::with_config(backend, extra).await?;
    let address = serve(&h).await;
    let clock = std::sync::Arc::new(h.clock.clone());
    let app = mailgate::app::open_with_clock(&h.config, clock).await.unwrap();
    mailgate::accounts::Accounts::new(&h.config, app)
        .set_agent_password("alice", "blue velvet staircase")
        .await
        .unwrap();
    let mut client = Client::new(address);
    let signed =
        client.submit("/agent/login", "/agent/login", "login=alice&password=blue+velvet+staircase").await;
    assert_eq!(signed.location(), "/agent");
    Some((h, client))
}

/// Serves the web endpoint of `h` on a free loopback port (the harness's fixed clock).
pub async fn serve(h: &Harness) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = mailgate::app::open_with_clock(&h.config, std::sync::Arc::new(h.clock.clone())).await.unwrap();
    let router = mailgate::app::web_router(&h.config, app).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _keep = stop;
        mailgate::web::serve(listener, router, stopped).await.unwrap();
    });
    address
}

pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The `csrf` hidden field of the page's (first) form.
    pub fn csrf(&self) -> String {
        let start = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no csrf field in\n{}", self.body));
        let rest = &self.body[start + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    /// Where a redirect points.
    pub fn location(&self) -> &str {
        self.header("location").unwrap_or_else(|| panic!("no redirect: {} {}", self.status, self.body))
    }
}

/// A client with a cookie jar (paths ignored: every cookie goes with every request).
pub struct Client {
    pub address: SocketAddr,
    pub cookies: BTreeMap<String, String>,
}

impl Client {
    pub fn new(address: SocketAddr) -> Client {
        Client { address, cookies: BTreeMap::new() }
    }

    /// Another client with the same cookies (a second tab, or one of many requests at once).
    pub fn clone_jar(&self) -> Client {
        Client { address: self.address, cookies: self.cookies.clone() }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: help.example.com\r\nConnection: close\r\n{}\r\n",
            self.cookie_line()
        );
        self.send(&head).await
    }

    /// A form POST (urlencoded `form`).
    pub async fn post(&mut self, path: &str, form: &str) -> Page {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: help.example.com\r\nConnection: close\r\n{}\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            self.cookie_line(),
            form.len()
        );
        self.send(&head).await
    }

    /// GETs `path`, then POSTs `form` to `action` with the page's CSRF token added.
    pub async fn submit(&mut self, path: &str, action: &str, form: &str) -> Page {
        let page = self.get(path).await;
        let csrf = page.csrf();
        self.post(action, &format!("{form}&csrf={}", encode(&csrf))).await
    }

    /// GETs `path`, then POSTs `fields` and `files` (`(name, content)`) to `action` as
    /// multipart/form-data with the page's CSRF token added.
    pub async fn submit_multipart(
        &mut self,
        path: &str,
        action: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Page {
        let csrf = self.get(path).await.csrf();
        let mut fields = fields.to_vec();
        fields.push(("csrf", &csrf));
        let body = multipart_body(&fields, files);
        let head = format!(
            "POST {action} HTTP/1.1\r\nHost: help.example.com\r\nConnection: close\r\n{}\
             Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n{body}",
            self.cookie_line(),
            body.len()
        );
        self.send(&head).await
    }

    fn cookie_line(&self) -> String {
        if self.cookies.is_empty() {
            return String::new();
        }
        let pairs: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("Cookie: {}\r\n", pairs.join("; "))
    }

    async fn send(&mut self, request: &str) -> Page {
        let page = request_raw(self.address, request).await;
        for (name, value) in &page.headers {
            if name.eq_ignore_ascii_case("set-cookie") {
                let pair = value.split(';').next().unwrap();
                let (key, value) = pair.split_once('=').unwrap();
                if value.is_empty() || value.contains("Max-Age=0") {
                    self.cookies.remove(key);
                } else {
                    self.cookies.insert(key.to_string(), value.to_string());
                }
            }
        }
        page
    }
}

/// Form-urlencodes `text`.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn request_raw(address: SocketAddr, request: &str) -> Page {
    request_from("127.0.0.1".parse().unwrap(), address, request).await
}

/// Like [`request_raw`], from the loopback address `source` (any of 127.0.0.0/8 works on Linux).
pub async fn request_from(source: std::net::IpAddr, address: SocketAddr, request: &str) -> Page {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Page { status, headers, body: body.to_string() }
}

/// A multipart/form-data POST of text fields and at most one file `(name, content)`.
pub async fn post_multipart(
    address: SocketAddr,
    path: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &str)>,
) -> Page {
    let body = multipart_body(fields, file.as_slice());
    request_raw(
        address,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: help.example.com\r\nConnection: close\r\n\
             Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

/// A multipart/form-data body (boundary `XyZ`) of text fields and text files `(name, content)`.
fn multipart_body(fields: &[(&str, &str)], files: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (name, value) in fields {
        body += &format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
    }
    for (name, content) in files {
        body += &format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n\
             Content-Type: text/plain\r\n\r\n{content}\r\n"
        );
    }
    body + "--XyZ--\r\n"
}

/// The hidden form tag on a ticket page.
pub fn form_tag(page: &Page) -> String {
    let marker = "name=\"form_tag\" value=\"";
    let at = page.body.find(marker).unwrap_or_else(|| panic!("no form on\n{}", page.body)) + marker.len();
    page.body[at..].split('"').next().unwrap().to_string()
}
