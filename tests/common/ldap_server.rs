//! A private OpenLDAP `slapd` for one test (Debian's package, a temp dir, free loopback ports):
//! `ldap://` (plain and StartTLS) and `ldaps://` with a leaf certificate for localhost/127.0.0.1
//! from a throwaway CA (`ca.pem`), an mdb database seeded offline with `slapadd` from [`SEED`].
//! Stopped (SIGTERM, then SIGKILL) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SLAPD: &str = "/usr/sbin/slapd";
pub const SLAPADD: &str = "/usr/sbin/slapadd";
pub const BASE: &str = "dc=example,dc=org";
pub const SERVICE_DN: &str = "cn=mailgate,ou=services,dc=example,dc=org";
pub const SERVICE_PASSWORD: &str = "service-secret-1";

/// The people in the directory: `uid`, password, `mail`, `cn`, `telephoneNumber`,
/// `departmentNumber`.
pub const PEOPLE: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("carol", "carol-directory-pw", "carol@customer.test", "Carol Customer", "+1 555 0100", "Sales"),
    ("dave", "dave-directory-pw", "dave@customer.test", "Dave From Mail", "+1 555 0101", "Support"),
    ("alice", "alice-directory-pw", "alice@example.com", "Alice In The Directory", "+1 555 0102", "Ops"),
    ("bob", "bob-directory-pw", "bob@example.com", "Bob In The Directory", "+1 555 0103", "Ops"),
    ("mallory", "mallory-directory-pw", "boss@acme.com", "Mallory", "+1 555 0104", "Sales"),
    ("zed", "zed-directory-pw", "zed@nowhere.test", "Zed Not An Agent", "+1 555 0105", "Ops"),
];

pub struct LdapServer {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    pub tls_port: u16,
}

impl LdapServer {
    /// `None` after `super::require` said skip when slapd is not installed.
    pub fn start() -> Option<LdapServer> {
        let found = Path::new(SLAPD).exists() && Path::new(SLAPADD).exists();
        if !super::require(found, "OpenLDAP slapd", "`scripts/test-services.sh install` (Debian's slapd)") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        super::test_ca::make_certificates(
            dir.path(),
            "/CN=mailgate-test-ldap-ca",
            "DNS:localhost,IP:127.0.0.1",
        );
        std::fs::create_dir(dir.path().join("db")).unwrap();
        std::fs::write(dir.path().join("slapd.conf"), slapd_conf(dir.path())).unwrap();
        std::fs::write(dir.path().join("seed.ldif"), seed()).unwrap();
        std::fs::write(dir.path().join("service-password"), format!("{SERVICE_PASSWORD}\n")).unwrap();
        let conf = dir.path().join("slapd.conf");
        let out = Command::new(SLAPADD)
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(dir.path().join("seed.ldif"))
            .output()
            .unwrap();
        assert!(out.status.success(), "slapadd: {}", String::from_utf8_lossy(&out.stderr));
        let (port, tls_port) = (super::ports::free_port(), super::ports::free_port());
        let urls = format!("ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/");
        // `-d 0`: stay in the foreground (no fork), so the child is the server and dies by its pid.
        let child = Command::new(SLAPD)
            .arg("-f")
            .arg(&conf)
            .args(["-h", &urls, "-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("slapd.log")).unwrap())
            .spawn()
            .unwrap();
        let mut server = LdapServer { dir, child, port, tls_port };
        server.wait_until_listening();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn tls_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port)
    }

    /// The CA that signed the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A file holding [`SERVICE_PASSWORD`].
    pub fn service_password_file(&self) -> PathBuf {
        self.dir.path().join("service-password")
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let plain = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok();
            let tls = std::net::TcpStream::connect(("127.0.0.1", self.tls_port)).is_ok();
            if plain && tls {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("slapd exited ({status}): {}", self.log());
            }
            assert!(Instant::now() < deadline, "slapd did not listen within 10 s: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }
}

impl Drop for LdapServer {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn slapd_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key

database mdb
maxsize 16777216
suffix "{BASE}"
rootdn "cn=admin,{BASE}"
rootpw admin-secret
directory {d}/db
access to attrs=userPassword
  by self =xw
  by anonymous auth
  by * none
access to *
  by * read
"#
    )
}

/// The directory: the base, `ou=people` with [`PEOPLE`] (passwords stored as given: slapd compares
/// them on bind), a second entry with carol's address in `ou=others` (for an ambiguous search),
/// and the service account.
fn seed() -> String {
    let mut ldif = format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
         dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=services,{BASE}\nobjectClass: organizationalUnit\nou: services\n\n\
         dn: ou=others,{BASE}\nobjectClass: organizationalUnit\nou: others\n\n\
         dn: {SERVICE_DN}\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: mailgate\nsn: service\n\
         userPassword: {SERVICE_PASSWORD}\n\n"
    );
    for (uid, password, mail, cn, phone, department) in PEOPLE {
        let sn = cn.rsplit(' ').next().unwrap_or(cn);
        ldif += &format!(
            "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\nsn: {sn}\n\
             mail: {mail}\ntelephoneNumber: {phone}\ndepartmentNumber: {department}\nuserPassword: {password}\n\n"
        );
    }
    ldif += &format!(
        "dn: uid=twin1,ou=others,{BASE}\nobjectClass: inetOrgPerson\nuid: twin1\ncn: Twin\nsn: One\n\
         mail: twin@customer.test\nuserPassword: twin-directory-pw\n\n\
         dn: uid=twin2,ou=others,{BASE}\nobjectClass: inetOrgPerson\nuid: twin2\ncn: Twin\nsn: Two\n\
         mail: twin@customer.test\nuserPassword: twin-directory-pw\n\n"
    );
    ldif
}
