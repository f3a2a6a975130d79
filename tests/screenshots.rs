//! Every page the web endpoint serves, in a real browser (headless Chromium) at 1280 and 390 px
//! wide, in the light and the dark palette: each is saved as a PNG under `target/screenshots/`
//! (full page; open them and judge them as a customer or an agent would), and checked in the
//! browser: the page never scrolls sideways, every text meets WCAG AA contrast, and every class in
//! its DOM has a rule in the stylesheet. Without a browser, every class a template
//! writes must be named in `site.css`. One site, one browser session, pages in the order a
//! customer and then an agent meet them.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::browser::{Browser, shows, site_with};
use common::{Harness, Mail, created};
use mailgate::auth::token::{Claims, Participant, Purpose};
use mailgate::clock::Clock;
use mailgate::workflow::ConsoleAction;

/// The widths every page is judged at: a desktop screen and a phone.
const WIDTHS: [u32; 2] = [1280, 390];
/// The viewport height the checks run at; screenshots take the whole page.
const HEIGHT: u32 = 900;
/// Screenshots stop here (a page longer than this is cut, not shrunk).
const MAX_HEIGHT: u32 = 6000;

/// Words a template puts into a class with `prefix{{ ... }}`: the closed vocabularies stored as
/// words (statuses, priorities, entry kinds).
fn class_words(prefix: &str) -> Option<Vec<&'static str>> {
    use mailgate::core::command::Priority;
    use mailgate::core::ticket::Status;
    Some(match prefix {
        "status-" => Status::ALL.iter().map(|s| s.as_str()).collect(),
        "priority-" => Priority::ALL.iter().map(|p| p.as_str()).collect(),
        "entry-" => vec!["message", "response", "note", "system", "held"],
        _ => return None,
    })
}

#[test]
fn every_class_in_the_templates_has_a_rule_in_site_css() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/web");
    let css = std::fs::read_to_string(root.join("site.css")).unwrap();
    let named = css_classes(&css);
    assert!(named.len() > 50, "site.css names only {} classes: {named:?}", named.len());
    let attribute = regex::Regex::new(r#"class="([^"]*)""#).unwrap();
    let tag = regex::Regex::new(r"\{%.*?%\}").unwrap();
    // An expression becomes `{{}}`, so that `status-{{ row.status }}` stays one word.
    let expression = regex::Regex::new(r"\{\{.*?\}\}").unwrap();
    let mut missing = Vec::new();
    let mut files = 0;
    for path in tera_files(&root) {
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path.strip_prefix(&root).unwrap().display().to_string();
        for value in attribute.captures_iter(&text).map(|c| c[1].to_string()) {
            let value = expression.replace_all(&value, "{{}}");
            for class in tag.replace_all(&value, " ").split_whitespace() {
                let names = match class.split_once("{{") {
                    None => vec![class.to_string()],
                    Some((prefix, _)) => match class_words(prefix) {
                        Some(words) => words.iter().map(|w| format!("{prefix}{w}")).collect(),
                        None => {
                            missing.push(format!(
                                "{file}: `{class}` (add the words of `{prefix}` to class_words)"
                            ));
                            continue;
                        }
                    },
                };
                for name in names.into_iter().filter(|name| !named.contains(name)) {
                    missing.push(format!("{file}: .{name}"));
                }
            }
        }
    }
    assert!(files >= 25, "only {files} templates under {}", root.display());
    assert!(missing.is_empty(), "classes without a rule in site.css:\n{}", missing.join("\n"));
}

/// Every `.class` in the selectors of `css` (declarations and at-rule preludes are skipped).
fn css_classes(css: &str) -> BTreeSet<String> {
    let comments = regex::Regex::new(r"(?s)/\*.*?\*/").unwrap();
    let class = regex::Regex::new(r"\.(-?[_a-zA-Z][_a-zA-Z0-9-]*)").unwrap();
    let css = comments.replace_all(css, "");
    let mut names = BTreeSet::new();
    let mut text = String::new();
    for c in css.chars() {
        match c {
            '{' => {
                if !text.trim_start().starts_with('@') {
                    names.extend(class.captures_iter(&text).map(|c| c[1].to_string()));
                }
                text.clear();
            }
            '}' | ';' => text.clear(),
            c => text.push(c),
        }
    }
    names
}

fn tera_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(tera_files(&path));
        } else if path.extension().is_some_and(|e| e == "tera") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Takes each page at every width and keeps what was wrong with them.
struct Shots {
    dir: PathBuf,
    taken: usize,
    problems: Vec<String>,
}

impl Shots {
    fn new() -> Shots {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let dir = tmp.parent().unwrap_or(tmp).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        eprintln!("screenshots: {}", dir.display());
        Shots { dir, taken: 0, problems: Vec::new() }
    }

    /// The page the browser shows now, as `NAME-1280.png`, `NAME-390.png` and, in the dark
    /// palette, `NAME-1280-dark.png` and `NAME-390-dark.png`. Leaves the browser dark, at the
    /// phone's width (the next page is taken from the start again).
    async fn take(&mut self, browser: &Browser, name: &str) {
        for dark in [false, true] {
            browser.prefer_dark(dark).await;
            let scheme = if dark { "-dark" } else { "" };
            for width in WIDTHS {
                browser.set_viewport(width, HEIGHT).await;
                for problem in browser.layout_problems().await {
                    self.problems.push(format!("{name} at {width}px{scheme}: {problem}"));
                }
                let height = browser.page_height().await.clamp(HEIGHT / 2, MAX_HEIGHT);
                browser.set_viewport(width, height).await;
                browser.screenshot(&self.dir.join(format!("{name}-{width}{scheme}.png"))).await;
                self.taken += 1;
            }
        }
    }

    /// Opens `url`, then takes it.
    async fn visit(&mut self, browser: &Browser, name: &str, url: &str) {
        browser.goto(url).await;
        self.take(browser, name).await;
    }
}

/// A mail with a text part and a small attached file.
fn with_attachment(from: &str, subject: &str, id: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: support@example.com\r\nSubject: {subject}\r\nMessage-ID: {id}\r\n\
         Date: Mon, 23 Nov 2026 09:12:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--b1\r\n\
         Content-Type: text/plain; name=\"printer-status-page.txt\"\r\n\
         Content-Disposition: attachment; filename=\"printer-status-page.txt\"\r\n\r\n\
         Toner: 12%\r\nFuser: 231 C (too hot)\r\n--b1--\r\n"
    )
}

/// An HTML-only mail (its ticket entry offers "Show the original formatting").
fn html_mail(from: &str, subject: &str) -> String {
    format!(
        "From: {from}\r\nTo: support@example.com\r\nSubject: {subject}\r\nMessage-ID: <news@globex.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <html><body><h2>Invoice 2026-114</h2><p>Hello,</p><p>The invoice below lists <b>three</b> \
         licences, but we ordered two:</p><table border=\"1\"><tr><th>Item</th><th>Qty</th><th>Price</th></tr>\
         <tr><td>Help desk licence</td><td>3</td><td>EUR 1,200.00</td></tr></table>\
         <p>Could you send a corrected one?</p><blockquote>On Monday, billing wrote: ...</blockquote>\
         <p>Regards,<br>Carol</p></body></html>\r\n"
    )
}

/// The `link` in the newest outbox row of `template` (account mail carries it in its context).
async fn mailed_link(h: &Harness, template: &str) -> String {
    let contexts =
        h.strings("SELECT context FROM outbox WHERE template = $1 ORDER BY id DESC", template).await;
    let context = contexts.first().unwrap_or_else(|| panic!("no {template} mail was queued"));
    let context: serde_json::Value = serde_json::from_str(context).unwrap();
    context["link"].as_str().unwrap_or_else(|| panic!("no link in {context}")).to_string()
}

/// A view link for `email`'s user on `ticket`, valid until `expires_at_ms`.
async fn view_link(
    h: &Harness,
    base: &str,
    ticket: mailgate::core::ids::TicketId,
    email: &str,
    expires_at_ms: i64,
) -> String {
    let user = id_of(h, "SELECT CAST(id AS TEXT) FROM users WHERE email = $1", email).await;
    let claims = Claims {
        purpose: Purpose::View,
        ticket,
        participant: Participant::User(mailgate::core::ids::UserId(user)),
        expires_at_ms,
        epoch: 0,
    };
    format!("{base}/t/{}", h.app.settings().keyring.link(&claims))
}

/// The id the query finds for `bind`.
async fn id_of(h: &Harness, sql: &'static str, bind: &str) -> i64 {
    let ids = h.strings(sql, bind).await;
    ids.first().and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("nothing for {bind}: {sql}"))
}

/// A ticket's id and number.
type Ticket = (mailgate::core::ids::TicketId, String);

/// Tickets enough for a queue that looks like a working day, and one ticket with every kind of
/// entry. Returns the busy ticket and the HTML one.
async fn a_working_day(h: &Harness) -> (Ticket, Ticket) {
    use mailgate::core::command::Priority;
    use mailgate::core::ticket::Status;
    let busy = created(
        &h.pipe(&with_attachment(
            "Ann Example <ann@acme.com>",
            "The printer in room 4 is on fire again and nobody in facilities answers the phone",
            "<printer-1@acme.com>",
            "Hello,\n\nthe big printer in room 4 smells of burnt toner again and the status page says the \
             fuser is too hot. Facilities do not answer.\n\nCan someone come and look at it today? \
             The status page is attached.\n\nAnn",
        ))
        .await,
    );
    let number = busy.1.parse().unwrap();
    h.clock.advance_ms(7 * 60_000);
    h.workflows
        .console_write(
            &number,
            "alice",
            mailgate::auth::token::Purpose::Note,
            "Facilities say the service contract covers the fuser. Calling the vendor.",
            Vec::new(),
        )
        .await
        .unwrap();
    h.clock.advance_ms(3 * 60_000);
    h.workflows
        .console_write(
            &number,
            "alice",
            mailgate::auth::token::Purpose::Reply,
            "Hi Ann,\n\nthanks for the status page. Please switch the printer off at the wall; a technician \
             from the vendor comes this afternoon.\n\nAlice",
            vec![mailgate::outbox::compose::File {
                name: "service-contract.pdf".into(),
                content_type: "application/pdf".into(),
                content: b"%PDF-1.4 a service contract".to_vec(),
            }],
        )
        .await
        .unwrap();
    h.workflows.console_change(&number, ConsoleAction::Priority(Priority::High)).await.unwrap();
    h.workflows.console_change(&number, ConsoleAction::Status(Status::Pending)).await.unwrap();
    h.clock.advance_ms(25 * 60_000);
    let answer = Mail::new(
        "Ann Example <ann@acme.com>",
        "Re: The printer in room 4",
        "Switched off. Thank you!\n\nAnn",
    )
    .in_reply_to("<printer-1@acme.com>");
    h.pipe(&answer.build()).await;
    h.clock.advance_ms(60_000);
    let outsider = Mail::new(
        "Zed <zed@example.org>",
        "Re: The printer in room 4",
        "Our printer does the same. Any news?",
    )
    .in_reply_to("<printer-1@acme.com>");
    h.pipe(&outsider.build()).await;
    let claimed = Mail::new("Alice Agent <alice@example.com>", "Re: The printer in room 4", "#close\nFixed.")
        .in_reply_to("<printer-1@acme.com>");
    h.pipe(&claimed.build()).await;

    let html = created(
        &h.pipe(&html_mail("Carol Jones <carol@globex.com>", "Invoice lists three licences, we ordered two"))
            .await,
    );
    let others: [(&str, &str, Option<Priority>, Option<Status>); 9] = [
        ("boss@acme.com", "VPN drops every 20 minutes since the update", Some(Priority::Urgent), None),
        ("Gus Grant <gus@globex.com>", "Password reset link does not arrive", None, None),
        (
            "Tom <tom@example.org>",
            "Question about the annual plan",
            Some(Priority::Low),
            Some(Status::Pending),
        ),
        (
            "Maximilian Alexander von Wolkenstein-Trostburg <maximilian.alexander.von.wolkenstein@very-long-company-name.example.com>",
            "Re: Fwd: Re: AW: Lieferung 4711 – die Ware ist beschädigt angekommen, bitte um Rückruf wegen Ersatzlieferung und Gutschrift",
            None,
            None,
        ),
        ("Ann Example <ann@acme.com>", "New laptop for the new colleague", None, Some(Status::Resolved)),
        ("lee@example.net", "Can't log in", Some(Priority::High), None),
        ("Ivy <ivy@globex.com>", "Invoice 2026-114", None, None),
        ("Bo <bo@example.org>", "Thanks!", Some(Priority::Low), Some(Status::Closed)),
        (
            "Superlongwordwithoutspaces <x@example.org>",
            "Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            None,
            None,
        ),
    ];
    for (from, subject, priority, status) in others {
        h.clock.advance_ms(11 * 60_000);
        let (_, number) = created(&h.pipe(&Mail::new(from, subject, "Details in the mail.").build()).await);
        let number = number.parse().unwrap();
        if let Some(priority) = priority {
            h.workflows.console_change(&number, ConsoleAction::Priority(priority)).await.unwrap();
        }
        if let Some(status) = status {
            h.workflows.console_change(&number, ConsoleAction::Status(status)).await.unwrap();
        }
    }
    (busy, html)
}

/// Public topics, one with a ticket form: the portal's new-ticket page asks for the topic first.
const TOPIC_FORM: &str = r#"
[[forms]]
key = "hardware"
applies_to = "ticket"
fields = [
  { key = "product", label = "Product", type = "choice", choices = ["Router", "Switch"], required = true, editable_by = "user" },
  { key = "ports", label = "Ports affected", type = "multi_choice", choices = ["WAN", "LAN", "Wi-Fi"], editable_by = "user" },
  { key = "serial", label = "Serial number", type = "text", editable_by = "user" },
  { key = "since", label = "Broken since", type = "date", editable_by = "user" },
  { key = "onsite", label = "Someone is on site to help", type = "bool", editable_by = "user" },
]

[[topics]]
key = "hardware"
name = "Hardware fault"
form = "hardware"

[[forms]]
key = "customer"
applies_to = "user"
fields = [
  { key = "nickname", label = "What we call you", type = "text", editable_by = "user" },
  { key = "contact", label = "Best time to call", type = "choice", choices = ["Mornings", "Afternoons"], editable_by = "user" },
  { key = "plan", label = "Support plan", type = "choice", choices = ["Basic", "Gold"] },
]

[[topics]]
key = "billing"
name = "Billing questions"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_at_desktop_and_phone_width() {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("totp.key");
    std::fs::write(&key, "fedcba9876543210fedcba9876543210fedcba9876543210").unwrap();
    let templates = keys.path().join("templates");
    std::fs::create_dir_all(templates.join("canned")).unwrap();
    let restart = "Hello {{ customer.first_name }},\n\nplease restart the printer and tell us what it says.\n\n{{ agent.name }}\n";
    std::fs::write(templates.join("canned/restart.tera"), restart).unwrap();
    let extra = format!(
        "[auth]\ntotp_key_file = \"{}\"\n[templates]\ndir = \"{}\"\n{TOPIC_FORM}\n\
         [[canned]]\nkey = \"restart\"\ntitle = \"Restart the printer\"\n\
         [[oidc]]\nname = \"example\"\nlabel = \"Sign in with Example ID\"\nissuer = \"https://id.example.com\"\n\
         client_id = \"mailgate\"\nfor = [\"users\", \"agents\"]\n",
        key.display(),
        templates.display()
    );
    let Some((h, base)) = site_with(&extra).await else { return };
    let (busy, html) = a_working_day(&h).await;
    let accounts = mailgate::accounts::Accounts::new(&h.config, h.app.clone());
    accounts.set_agent_password("alice", "blue velvet staircase").await.unwrap();
    let url = |path: &str| format!("{base}{path}");

    let browser = Browser::start().await;
    let mut shots = Shots::new();

    // A visitor: the portal, its forms and what they answer.
    shots.visit(&browser, "portal-home", &url("/")).await;
    let home = "return document.querySelector('.brand').getAttribute('href')";
    assert_eq!(browser.execute(home).await, "/", "customer pages lead home to the portal");
    shots.visit(&browser, "login", &url("/login")).await;
    browser.fill("input[name=email]", "ann@acme.com").await;
    browser.fill("input[name=password]", "not her password").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "role=\"alert\"").await, "{}", browser.page_source().await);
    shots.take(&browser, "login-error").await;
    shots.visit(&browser, "register", &url("/register")).await;
    browser.fill("input[name=name]", "Ann Example").await;
    browser.fill("input[name=email]", "ann@acme.com").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "Check your mail").await, "{}", browser.page_source().await);
    shots.take(&browser, "register-sent").await;
    shots.visit(&browser, "reset", &url("/reset")).await;
    shots.visit(&browser, "access", &url("/access")).await;
    browser.fill("input[name=number]", &busy.1).await;
    browser.fill("input[name=email]", "ann@acme.com").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "Check your mail").await);
    shots.take(&browser, "access-sent").await;
    shots.visit(&browser, "new-ticket-guest", &url("/tickets/new")).await;
    shots.visit(&browser, "new-ticket-topic-form", &url("/tickets/new?topic=hardware")).await;
    shots.visit(&browser, "not-found", &url("/no/such/page")).await;

    // A customer's ticket by its link, its original formatting, an expired link, a stale form.
    let now = h.clock.now_ms();
    let ann_link = view_link(&h, &base, busy.0, "ann@acme.com", now + 3_600_000).await;
    shots.visit(&browser, "ticket-link", &ann_link).await;
    let carol_link = view_link(&h, &base, html.0, "carol@globex.com", now + 3_600_000).await;
    browser.goto(&carol_link).await;
    browser.click(".original a").await;
    assert!(shows(&browser, "class=\"formatted\"").await, "{}", browser.page_source().await);
    shots.take(&browser, "ticket-formatted").await;
    // Links expire on the hour (token.rs): one that ended two hours ago is gone.
    browser.goto(&view_link(&h, &base, busy.0, "ann@acme.com", now - 2 * 3_600_000).await).await;
    assert!(shows(&browser, "This link has expired").await, "{}", browser.page_source().await);
    shots.take(&browser, "link-gone").await;
    browser.goto(&ann_link).await;
    browser
        .execute(
            "const form = document.querySelector('form.reply'); \
             form.querySelector('input[name=form_tag]').value = 'stale'; form.submit();",
        )
        .await;
    assert!(shows(&browser, "did not go through").await, "{}", browser.page_source().await);
    shots.take(&browser, "bad-request").await;
    // The access form, asked about one address too often.
    // (Each answer is awaited by a text the form page lacks: a `goto` while the form's POST is
    // still under way would be overtaken by its answer.)
    for answer in ["Check your mail", "Check your mail", "Check your mail", "Too many requests"] {
        browser.goto(&url("/access")).await;
        browser.fill("input[name=number]", "1").await;
        browser.fill("input[name=email]", "eve@example.org").await;
        browser.click("form.access button[type=submit]").await;
        assert!(shows(&browser, answer).await, "{answer}: {}", browser.page_source().await);
    }
    shots.take(&browser, "too-many").await;

    // Ann confirms her account from the mail, sees her tickets, opens one, resets her password.
    let confirm = mailed_link(&h, "account_confirm").await;
    shots.visit(&browser, "confirm", &confirm).await;
    browser.fill("input[name=password]", "correct horse battery").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "My tickets").await, "{}", browser.page_source().await);
    shots.take(&browser, "my-tickets").await;
    shots.visit(&browser, "profile", &url("/account")).await;
    browser.fill("input[name=phone]", "call me maybe").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "not a phone number").await, "{}", browser.page_source().await);
    shots.take(&browser, "profile-refused").await;
    browser.fill("input[name=phone]", "+1 555 0100").await;
    browser.fill("input[name='field.nickname']", "Annie").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "Your profile was saved").await, "{}", browser.page_source().await);
    shots.take(&browser, "profile-saved").await;
    shots.visit(&browser, "change-password", &url("/account/password")).await;
    browser.fill("input[name=current]", "not her password").await;
    browser.fill("input[name=password]", "a brand new passphrase").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "current password is wrong").await, "{}", browser.page_source().await);
    shots.take(&browser, "change-password-wrong").await;
    shots.visit(&browser, "portal-home-signed-in", &url("/")).await;
    shots.visit(&browser, "new-ticket-signed-in", &url("/tickets/new")).await;
    browser.goto(&url("/tickets")).await;
    browser.click(".signout button").await;
    assert!(shows(&browser, "How can we help?").await);
    browser.goto(&url("/reset")).await;
    browser.fill("input[name=email]", "ann@acme.com").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "Check your mail").await);
    shots.take(&browser, "reset-sent").await;
    shots.visit(&browser, "password-reset", &mailed_link(&h, "password_reset").await).await;

    // An agent: sign-in, the console, two-factor sign-in.
    shots.visit(&browser, "agent-login", &url("/agent/login")).await;
    assert_eq!(browser.execute(home).await, "/agent", "staff pages lead home to the console");
    browser.fill("input[name=login]", "alice@example.com").await;
    browser.fill("input[name=password]", "blue velvet staircase").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "class=\"tabs\"").await, "{}", browser.page_source().await);
    shots.take(&browser, "console-queue").await;
    // A keyboard user: the first Tab shows the skip link, the next ones walk the bar to the tabs.
    browser.goto(&url("/agent")).await;
    assert_eq!(browser.press_tab(1).await, "Skip to content");
    shots.take(&browser, "keyboard-skip-link").await;
    assert!(browser.press_tab(9).await.starts_with("Open"), "the queue tabs follow the bar");
    shots.take(&browser, "keyboard-queue-tab").await;
    // An empty queue: "My teams" (alice is in no team).
    browser.click(".tabs li:nth-child(3) a").await;
    assert!(shows(&browser, "class=\"empty\"").await, "{}", browser.page_source().await);
    shots.take(&browser, "console-queue-empty").await;
    shots.visit(&browser, "console-ticket", &url(&format!("/agent/t/{}?done=reply", busy.1))).await;
    shots
        .visit(&browser, "console-ticket-canned", &url(&format!("/agent/t/{}?canned=restart", busy.1)))
        .await;
    shots.visit(&browser, "console-users", &url("/agent/users")).await;
    let carol = id_of(&h, "SELECT CAST(id AS TEXT) FROM users WHERE email = $1", "carol@globex.com").await;
    browser.goto(&url(&format!("/agent/users/{carol}"))).await;
    browser.click("form[action$='/invite'] button").await;
    assert!(shows(&browser, "class=\"notice\"").await, "{}", browser.page_source().await);
    shots.take(&browser, "console-user").await;
    let ann = id_of(&h, "SELECT CAST(id AS TEXT) FROM users WHERE email = $1", "ann@acme.com").await;
    shots.visit(&browser, "console-user-refused", &url(&format!("/agent/users/{ann}?error=invite"))).await;
    // A temporary password for Ann, from her record.
    browser.goto(&url(&format!("/agent/users/{ann}"))).await;
    browser.fill("input[name=password]", "lilac umbrella seventeen").await;
    browser.click("form.temporary-password button").await;
    assert!(shows(&browser, "temporary password is set").await, "{}", browser.page_source().await);
    shots.take(&browser, "console-user-temporary").await;
    // The directory's actions: a lockout on the record, a refused and a done "Add a user", a
    // deleted user's tombstone.
    let (key, now) = (format!("login:user:{ann}@192.0.2.7"), h.clock.now_ms());
    h.write(move |tx| {
        tx.execute(
            "INSERT INTO rate_limits (key, failures, window_start, blocked_until) VALUES ($1, 6, $2, $3)",
            mailgate::params![key.as_str(), now, now + 900_000],
        )?;
        Ok(())
    })
    .await;
    shots.visit(&browser, "console-user-lockout", &url(&format!("/agent/users/{ann}"))).await;
    browser.goto(&url("/agent/users")).await;
    browser.fill("form.add-user input[name=email]", "ann@acme.com").await;
    browser.fill("form.add-user input[name=name]", "Ann Again").await;
    browser.click("form.add-user button[type=submit]").await;
    assert!(shows(&browser, "already a user").await, "{}", browser.page_source().await);
    shots.take(&browser, "console-users-add-refused").await;
    browser.goto(&url("/agent/users")).await;
    browser.fill("form.add-user input[name=email]", "kim@example.org").await;
    browser.fill("form.add-user input[name=name]", "Kim Lee").await;
    browser.fill("form.add-user input[name=phone]", "+49 30 1234").await;
    browser.click("form.add-user button[type=submit]").await;
    assert!(shows(&browser, "The user was added.").await, "{}", browser.page_source().await);
    browser.click("form.delete-user input[value=anonymize]").await;
    browser.fill("form.delete-user input[name=confirm]", "kim@example.org").await;
    browser.click("form.delete-user button[type=submit]").await;
    assert!(shows(&browser, "This user was deleted").await, "{}", browser.page_source().await);
    shots.take(&browser, "console-user-deleted").await;
    shots.visit(&browser, "console-search", &url("/agent/search?q=printer")).await;
    shots.visit(&browser, "console-search-nothing", &url("/agent/search?q=zebra&status=closed")).await;
    shots.visit(&browser, "console-new-ticket", &url("/agent/new")).await;
    browser.fill("input[name=to]", "bob@example.com").await;
    browser.fill("input[name=subject]", "Your order").await;
    browser.fill("textarea[name=text]", "It ships on Monday.").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "role=\"alert\"").await, "{}", browser.page_source().await);
    shots.take(&browser, "console-new-ticket-refused").await;
    shots.visit(&browser, "console-orgs", &url("/agent/orgs")).await;
    shots.visit(&browser, "console-org", &url("/agent/orgs/acme")).await;
    shots.visit(&browser, "agent-2fa-enroll", &url("/agent/2fa")).await;
    let secret = browser.text("code.secret").await;
    let secret = data_encoding::BASE32_NOPAD.decode(secret.trim().as_bytes()).unwrap();
    browser.fill("input[name=code]", &mailgate::auth::totp::code_at(&secret, h.clock.now_ms())).await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "recovery codes").await, "{}", browser.page_source().await);
    shots.take(&browser, "agent-2fa-codes").await;
    shots.visit(&browser, "agent-2fa-on", &url("/agent/2fa")).await;
    // Her own account: new recovery codes, then a new authenticator (each with a fresh code).
    shots.visit(&browser, "console-account", &url("/agent/account")).await;
    h.clock.advance_ms(30_000);
    let code = mailgate::auth::totp::code_at(&secret, h.clock.now_ms());
    browser.fill("form[action$='/recovery-codes'] input[name=code]", &code).await;
    browser.click("form[action$='/recovery-codes'] button").await;
    assert!(shows(&browser, "New recovery codes").await, "{}", browser.page_source().await);
    shots.take(&browser, "console-account-codes").await;
    h.clock.advance_ms(30_000);
    let code = mailgate::auth::totp::code_at(&secret, h.clock.now_ms());
    browser.fill("form[action$='/account/totp'] input[name=code]", &code).await;
    browser.click("form[action$='/account/totp'] button").await;
    assert!(shows(&browser, "new authenticator").await, "{}", browser.page_source().await);
    shots.take(&browser, "console-account-renew").await;
    browser.goto(&url("/agent")).await;
    browser.click(".logout button").await;
    assert!(shows(&browser, "Staff sign-in").await, "signed out: {}", browser.page_source().await);
    h.clock.advance_ms(30_000);
    browser.fill("input[name=login]", "alice@example.com").await;
    browser.fill("input[name=password]", "blue velvet staircase").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "Enter your code").await, "{}", browser.page_source().await);
    shots.take(&browser, "agent-code").await;

    // Ann signs in with the temporary password: choosing her own comes first.
    browser.goto(&url("/login")).await;
    browser.fill("input[name=email]", "ann@acme.com").await;
    browser.fill("input[name=password]", "lilac umbrella seventeen").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "Choose your password").await, "{}", browser.page_source().await);
    shots.take(&browser, "change-password-forced").await;
    browser.goto(&url("/tickets")).await;
    assert!(shows(&browser, "Choose your password").await, "every page leads there first");
    browser.fill("input[name=password]", "seventh orchard lantern").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "My tickets").await, "{}", browser.page_source().await);

    // Carol's invitation from the console, opened by Carol.
    shots.visit(&browser, "password-invite", &mailed_link(&h, "account_invite").await).await;

    assert!(shots.taken >= 120, "only {} screenshots", shots.taken);
    assert!(shots.problems.is_empty(), "layout problems:\n{}", shots.problems.join("\n"));
}
