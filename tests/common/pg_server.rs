//! A private PostgreSQL server for one test (Debian's binaries, a temp dir, a free loopback port),
//! for what the shared one must not suffer: being stopped and started, or a certificate of the
//! test's own. Runs as `nobody` when the tests run as root (PostgreSQL refuses root).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl PgServer {
    /// Starts a server; with `tls`, a throwaway CA (`ca.pem`) signs its certificate for the name
    /// `localhost` only (not 127.0.0.1), and a second, unrelated CA is in `other-ca.pem`.
    /// `None` after `super::require` said skip when the binaries are missing.
    pub fn start(tls: bool) -> Option<PgServer> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|dirs| dirs.filter_map(Result::ok).map(|d| d.path().join("bin")).max());
        let found = bin.as_ref().is_some_and(|b| b.join("initdb").exists());
        if !super::require(found, "PostgreSQL server binaries", "`scripts/test-services.sh install`") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let server = PgServer { dir, bin: bin.unwrap(), port: super::ports::free_port() };
        std::fs::write(server.path("pwfile"), "mailgate\n").unwrap();
        if tls {
            server.make_certificates();
        }
        server.own_by_service_user();
        let data = server.path("data");
        server.run_as_service_user(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "mailgate",
                "--pwfile",
                server.path("pwfile").to_str().unwrap(),
                "-A",
                "scram-sha-256",
                "--no-sync",
            ],
        );
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            server.port,
            server.dir.path().display()
        );
        if tls {
            options += &format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                server.path("server.pem").display(),
                server.path("server.key").display()
            );
        }
        std::fs::write(server.path("options"), options).unwrap();
        server.start_again();
        Some(server)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The URL of database `postgres` (always there) with `query` appended after `?`.
    pub fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://mailgate:mailgate@{host}:{}/postgres?{query}", self.port)
    }

    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    pub fn other_ca(&self) -> PathBuf {
        self.path("other-ca.pem")
    }

    /// `pg_ctl stop -m fast`: open connections are closed at once, transactions roll back.
    pub fn stop(&self) {
        let data = self.path("data");
        self.run_as_service_user("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"]);
    }

    pub fn start_again(&self) {
        let (data, log) = (self.path("data"), self.path("server.log"));
        let options = std::fs::read_to_string(self.path("options")).unwrap();
        self.run_as_service_user(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-o", &options, "-w", "start"],
        );
    }

    /// `program` from the server's bin directory, as the service user.
    fn service_command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("setpriv");
            command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        }
    }

    fn run_as_service_user(&self, program: &str, args: &[&str]) {
        let out = self.service_command(program).args(args).stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.path("server.log")).unwrap_or_default()
        );
    }

    fn own_by_service_user(&self) {
        if !is_root() {
            return;
        }
        let status =
            Command::new("chown").args(["-R", "nobody:nogroup"]).arg(self.dir.path()).status().unwrap();
        assert!(status.success());
    }

    fn make_certificates(&self) {
        let dir = self.dir.path();
        super::test_ca::make_certificates(dir, "/CN=mailgate-test-pg-ca", "DNS:localhost");
        super::test_ca::make_ca(dir, "other-ca.pem", "other-ca.key", "/CN=another-ca");
        set_private(&dir.join("server.key"));
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.path("data");
        let _ = self
            .service_command("pg_ctl")
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// PostgreSQL refuses a key file that others may read.
fn set_private(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
}
