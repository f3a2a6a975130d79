//! Throwaway TLS material for the test servers (PostgreSQL, slapd): a CA and a leaf for
//! `localhost`, made with `openssl` in the server's temp dir, valid two days.

use std::path::Path;
use std::process::Command;

/// Runs `openssl ARGS` in `dir`; fails the test with its message otherwise.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

const EC: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/// A self-signed CA `CA.pem` with its key `KEY`, named `subject`.
pub fn make_ca(dir: &Path, ca: &str, key: &str, subject: &str) {
    let mut args = vec!["req", "-x509"];
    args.extend(EC);
    args.extend(["-days", "2", "-subj", subject, "-keyout", key, "-out", ca]);
    openssl(dir, &args);
}

/// `ca.pem`/`ca.key` named `ca_subject`, and `server.pem`/`server.key` signed by it for the
/// subject alternative names `san` (e.g. `DNS:localhost,IP:127.0.0.1`).
pub fn make_certificates(dir: &Path, ca_subject: &str, san: &str) {
    make_ca(dir, "ca.pem", "ca.key", ca_subject);
    let mut args = vec!["req"];
    args.extend(EC);
    args.extend(["-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"]);
    openssl(dir, &args);
    let ext =
        format!("subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n");
    std::fs::write(dir.join("leaf.ext"), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "server.pem",
        ],
    );
}
