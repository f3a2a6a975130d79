//! The tests' own IMAP client, for the throwaway Dovecot of scripts/test-services.sh (any user name
//! logs in with `MG_IMAP_PASSWORD` and has its own empty mailbox): seeds folders and reads back
//! what the daemon under test did. Built on async-imap over plain TCP, separately from the
//! daemon's IMAP code. Every command has a 10 s timeout (async-imap has none) and every response
//! stream is read to its end (async-imap misreads the next command's answer otherwise).
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use async_imap::Session;
use async_imap::error::Error;
use async_imap::types::{Fetch, Flag};
use futures::TryStreamExt;
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Awaits `fut`, panicking when the server has not answered within [`TIMEOUT`].
async fn within<T>(what: impl FnOnce() -> String, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(TIMEOUT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("IMAP {}: no answer from the test Dovecot within {TIMEOUT:?}", what()),
    }
}

/// The test Dovecot, as `scripts/test-services.sh start` exported it.
#[derive(Clone, Debug)]
pub struct TestImap {
    pub host: String,
    /// Plain IMAP (STARTTLS offered).
    pub port: u16,
    /// Implicit TLS.
    pub tls_port: u16,
    /// The CA that signed the server's certificate (for localhost and 127.0.0.1).
    pub ca: PathBuf,
    /// The password of every user.
    pub password: String,
}

impl TestImap {
    /// `None` after `super::require` said skip when `MAILGATE_TEST_IMAP` is unset; panics when it
    /// is set but `MG_IMAP_*` are missing.
    pub fn from_env() -> Option<TestImap> {
        let set = std::env::var_os("MAILGATE_TEST_IMAP").is_some();
        if !super::require(
            set,
            "IMAP: MAILGATE_TEST_IMAP is not set",
            "scripts/test.sh starts Dovecot and sets it",
        ) {
            return None;
        }
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!(
                    "MAILGATE_TEST_IMAP is set but {name} is not (eval \"$(scripts/test-services.sh start)\")"
                )
            })
        };
        let port = |name: &str| var(name).parse::<u16>().unwrap_or_else(|e| panic!("{name}: {e}"));
        Some(TestImap {
            host: var("MG_IMAP_HOST"),
            port: port("MG_IMAP_PORT"),
            tls_port: port("MG_IMAPS_PORT"),
            ca: var("MG_IMAP_CA").into(),
            password: var("MG_IMAP_PASSWORD"),
        })
    }

    /// A `[[mailbox]]` named `support` reading `user`'s INBOX over plain loopback IMAP, with the
    /// password unless `with_password` is false; more keys of the table may follow.
    pub fn mailbox_toml(&self, user: &str, with_password: bool) -> String {
        let password =
            if with_password { format!("password = \"{}\"\n", self.password) } else { String::new() };
        format!(
            "[[mailbox]]\nname = \"support\"\naddresses = [\"support@example.com\"]\nhost = \"{}\"\nport = {}\n\
             tls = \"none\"\nusername = \"{user}\"\n{password}",
            self.host, self.port
        )
    }

    /// A `[[mailbox]]` named `name` for support address `address`, reading `user`'s INBOX over
    /// plain loopback IMAP with the password; for configs with several mailboxes.
    pub fn named_mailbox_toml(&self, name: &str, address: &str, user: &str) -> String {
        format!(
            "[[mailbox]]\nname = \"{name}\"\naddresses = [\"{address}\"]\nhost = \"{}\"\nport = {}\n\
             tls = \"none\"\nusername = \"{user}\"\npassword = \"{}\"\n",
            self.host, self.port, self.password
        )
    }

    /// A new user name, `t<16 hex>@example.test`: its own, empty mailbox.
    pub fn fresh_user(&self) -> String {
        format!("t{:016x}@example.test", rand::random::<u64>())
    }

    /// A session of `user`, logged in over plain TCP.
    pub async fn client(&self, user: &str) -> ImapClient {
        let at = format!("{user} at {}:{}", self.host, self.port);
        let tcp = within(|| format!("connect ({at})"), TcpStream::connect((self.host.as_str(), self.port)))
            .await
            .unwrap_or_else(|e| panic!("IMAP connect ({at}): {e} (is the test Dovecot running?)"));
        let mut client = async_imap::Client::new(tcp);
        let greeting = within(|| format!("greeting ({at})"), client.read_response()).await;
        match greeting {
            Ok(Some(_)) => {}
            Ok(None) => panic!("IMAP greeting ({at}): connection closed"),
            Err(e) => panic!("IMAP greeting ({at}): {e}"),
        }
        let session = within(|| format!("LOGIN ({at})"), client.login(user, &self.password))
            .await
            .unwrap_or_else(|(e, _)| panic!("IMAP LOGIN ({at}): {e}"));
        ImapClient { session, user: user.to_string() }
    }
}

/// One logged-in session of one user.
pub struct ImapClient {
    session: Session<TcpStream>,
    user: String,
}

impl ImapClient {
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The raw async-imap session, for what the helpers below do not cover. Wrap every command in
    /// a timeout and read every returned stream to its end.
    pub fn session(&mut self) -> &mut Session<TcpStream> {
        &mut self.session
    }

    /// Creates `folder`; fine when it exists already.
    pub async fn create(&mut self, folder: &str) {
        let user = self.user.clone();
        let created = within(|| format!("CREATE {folder} ({user})"), self.session.create(folder)).await;
        if let Err(e) = created
            && self.messages(folder).await.is_none()
        {
            panic!("IMAP CREATE {folder} ({user}): {e}");
        }
    }

    /// Appends one message (no flags) to `folder`, which must exist (INBOX always does).
    pub async fn append(&mut self, folder: &str, raw: &[u8]) {
        let user = &self.user;
        within(|| format!("APPEND to {folder} ({user})"), self.session.append(folder, None, None, raw))
            .await
            .unwrap_or_else(|e| panic!("IMAP APPEND to {folder} ({user}): {e}"));
    }

    /// Appends many messages over this one session, in order.
    pub async fn append_many(&mut self, folder: &str, raws: &[Vec<u8>]) {
        for raw in raws {
            self.append(folder, raw).await;
        }
    }

    /// How many messages `folder` holds (STATUS); 0 when it does not exist.
    pub async fn count(&mut self, folder: &str) -> u32 {
        self.messages(folder).await.unwrap_or(0)
    }

    /// The Message-ID of every message in `folder`, in UID order, trimmed, angle brackets kept;
    /// messages without one are left out. Empty when the folder does not exist.
    pub async fn message_ids(&mut self, folder: &str) -> Vec<String> {
        let fetches = self.fetch_all(folder, "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])").await;
        fetches.iter().filter_map(|f| f.header().and_then(message_id)).collect()
    }

    /// UID and flags of every message in `folder`, in UID order; flags as IMAP spells them
    /// (`\Seen`, `\Deleted`, keywords verbatim), sorted, without the session-bound `\Recent`.
    /// Empty when the folder does not exist.
    pub async fn flags(&mut self, folder: &str) -> Vec<(u32, Vec<String>)> {
        let fetches = self.fetch_all(folder, "(UID FLAGS)").await;
        fetches
            .iter()
            .map(|f| {
                let uid = f.uid.unwrap_or_else(|| panic!("IMAP FETCH in {folder}: no UID in {f:?}"));
                let mut flags: Vec<String> = f.flags().filter_map(|flag| flag_name(&flag)).collect();
                flags.sort();
                (uid, flags)
            })
            .collect()
    }

    pub async fn logout(mut self) {
        let user = self.user.clone();
        within(|| format!("LOGOUT ({user})"), self.session.logout())
            .await
            .unwrap_or_else(|e| panic!("IMAP LOGOUT ({user}): {e}"));
    }

    /// STATUS (MESSAGES); `None` when the folder does not exist.
    async fn messages(&mut self, folder: &str) -> Option<u32> {
        let user = &self.user;
        match within(|| format!("STATUS {folder} ({user})"), self.session.status(folder, "(MESSAGES)")).await
        {
            Ok(mailbox) => Some(mailbox.exists),
            Err(Error::No(_)) => None,
            Err(e) => panic!("IMAP STATUS {folder} ({user}): {e}"),
        }
    }

    /// EXAMINE `folder`, then `UID FETCH 1:* query` read to the end, sorted by UID. Empty (and no
    /// FETCH sent) when the folder is missing or empty.
    async fn fetch_all(&mut self, folder: &str, query: &str) -> Vec<Fetch> {
        let user = &self.user;
        let mailbox =
            match within(|| format!("EXAMINE {folder} ({user})"), self.session.examine(folder)).await {
                Ok(mailbox) => mailbox,
                Err(Error::No(_)) => return Vec::new(),
                Err(e) => panic!("IMAP EXAMINE {folder} ({user}): {e}"),
            };
        if mailbox.exists == 0 {
            return Vec::new();
        }
        let session = &mut self.session;
        let fetched = within(|| format!("UID FETCH 1:* {query} in {folder} ({user})"), async move {
            session.uid_fetch("1:*", query).await?.try_collect::<Vec<Fetch>>().await
        })
        .await;
        let mut fetches =
            fetched.unwrap_or_else(|e| panic!("IMAP UID FETCH 1:* {query} in {folder} ({user}): {e}"));
        fetches.sort_by_key(|f| f.uid);
        fetches
    }
}

/// The value of the Message-ID field in `header` (the fetched header lines), unfolded and trimmed.
fn message_id(header: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else { continue };
        if !name.trim().eq_ignore_ascii_case("message-id") {
            continue;
        }
        let mut value = value.to_string();
        for more in lines.by_ref() {
            if !more.starts_with([' ', '\t']) {
                break;
            }
            value.push_str(more);
        }
        let value = value.trim();
        return (!value.is_empty()).then(|| value.to_string());
    }
    None
}

fn flag_name(flag: &Flag<'_>) -> Option<String> {
    Some(
        match flag {
            Flag::Seen => "\\Seen",
            Flag::Answered => "\\Answered",
            Flag::Flagged => "\\Flagged",
            Flag::Deleted => "\\Deleted",
            Flag::Draft => "\\Draft",
            Flag::Recent => return None,
            Flag::MayCreate => "\\*",
            Flag::Custom(name) => name.as_ref(),
        }
        .to_string(),
    )
}
