//! A real OpenID Connect provider for tests: PyPI's oidc-provider-mock (Flask + Authlib) run by
//! tests/support/oidc_provider.py (PKCE and nonce required) from the venv that
//! `scripts/test-services.sh install` makes, on a loopback port, plain or over TLS with the test
//! services' CA. Stopped (killed by its pid) on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `scripts/test-services.sh install` puts the provider's venv (`MG_OIDC_VENV` overrides).
const DEFAULT_VENV: &str = "/opt/mailgate-test/oidc-provider";

fn python() -> PathBuf {
    let venv = std::env::var("MG_OIDC_VENV").unwrap_or_else(|_| DEFAULT_VENV.to_string());
    PathBuf::from(venv).join("bin/python")
}

/// Whether the provider is installed; see `super::require` for what a missing one does.
pub fn available() -> bool {
    let ok = Command::new(python())
        .args(["-c", "import oidc_provider_mock"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    super::require(
        ok,
        &format!("OIDC provider: oidc-provider-mock is not installed in {}", python().display()),
        "`scripts/test-services.sh install` installs it (PyPI, in a venv)",
    )
}

pub struct OidcProvider {
    child: Child,
    pub port: u16,
    /// `http://localhost:PORT` or `https://localhost:PORT`.
    pub issuer: String,
    log: tempfile::NamedTempFile,
}

/// A user the provider knows: subject, address, whether it vouches for the address.
pub fn claims(sub: &str, email: &str, verified: bool) -> String {
    serde_json::json!({ "sub": sub, "email": email, "email_verified": verified, "name": format!("{sub} Example") })
        .to_string()
}

impl OidcProvider {
    /// Over plain HTTP (allowed for a loopback issuer), with `users` (from [`claims`]).
    pub fn start(users: &[String]) -> OidcProvider {
        Self::spawn(users, None, super::ports::free_port())
    }

    /// [`OidcProvider::start`] on `port` (the same issuer again, with new signing keys).
    pub fn start_on(port: u16, users: &[String]) -> OidcProvider {
        Self::spawn(users, None, port)
    }

    /// Over TLS as `localhost`, with the test services' leaf certificate (signed by `ca`, the
    /// file `MG_IMAP_CA` names; its directory holds server.pem and server.key).
    pub fn start_tls(users: &[String], ca: &std::path::Path) -> OidcProvider {
        let dir = ca.parent().expect("the CA file's directory");
        Self::spawn(users, Some((dir.join("server.pem"), dir.join("server.key"))), super::ports::free_port())
    }

    fn spawn(users: &[String], tls: Option<(PathBuf, PathBuf)>, port: u16) -> OidcProvider {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/oidc_provider.py");
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut command = Command::new(python());
        command.args(["-W", "ignore", script, "--port", &port.to_string()]);
        for user in users {
            command.args(["--user-claims", user]);
        }
        if let Some((cert, key)) = &tls {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("start the OIDC provider");
        let issuer = match tls {
            Some(_) => format!("https://localhost:{port}"),
            // `localhost`, not 127.0.0.1 like mailgate: another site to the browser, as a real
            // provider is (its redirect back is a cross-site navigation).
            None => format!("http://localhost:{port}"),
        };
        let mut provider = OidcProvider { child, port, issuer, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = provider.child.try_wait() {
                panic!("the OIDC provider exited ({status}):\n{}", provider.log());
            }
            assert!(
                Instant::now() < deadline,
                "the OIDC provider did not listen on {port}:\n{}",
                provider.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        provider
    }

    /// Adds or replaces a user (`PUT /users/<sub>`); plain HTTP providers only.
    pub fn set_user(&self, sub: &str, email: &str, verified: bool) {
        let body = serde_json::json!({ "email": email, "email_verified": verified, "name": format!("{sub} Example") })
            .to_string();
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let request = format!(
            "PUT /users/{sub} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.lines().next().is_some_and(|l| l.contains(" 204")), "PUT /users/{sub}: {answer}");
    }

    /// What the provider printed (its request log), for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An `[[oidc]]` table for `provider` named `name`, open to `for_` (`"users"`, `"agents"`), with a
/// client secret written to `secret_file`.
pub fn config(name: &str, issuer: &str, for_: &[&str], secret_file: &std::path::Path) -> String {
    std::fs::write(secret_file, "test-client-secret\n").unwrap();
    let for_: Vec<String> = for_.iter().map(|w| format!("{w:?}")).collect();
    format!(
        "[[oidc]]\nname = \"{name}\"\nlabel = \"Sign in with {name}\"\nissuer = \"{issuer}\"\nclient_id = \"mailgate-test\"\n\
         client_secret_file = \"{}\"\nfor = [{}]\n",
        secret_file.display(),
        for_.join(", ")
    )
}
