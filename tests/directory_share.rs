//! `[[orgs]] share_tickets`: who sees an organization's tickets on the portal besides each
//! ticket's own people: nobody (`none`, the default), its primary contacts, or all its members;
//! never a member of another organization. Checked on the "my tickets" list and on the ticket page
//! a link of it opens. Both backends.

mod common;

use common::{Backend, Harness, Mail, T0, created};
use mailgate::auth::token::{Claims, Participant, Purpose};
use mailgate::core::ids::{TicketId, UserId};
use mailgate::store::web as web_store;

on_both_backends!(
    nothing_is_shared_by_default,
    primary_contacts_see_every_ticket,
    all_members_see_every_ticket
);

/// Initech, with a primary contact and `share` (a `share_tickets = ...` line or nothing).
fn initech(share: &str) -> String {
    format!(
        "[[orgs]]\nkey = \"initech\"\ndomains = [\"initech.com\"]\nprimary_contacts = [\"lead@initech.com\"]\n{share}\n"
    )
}

struct World {
    h: Harness,
    /// Ann's ticket (Initech); the primary contact was taken off it.
    ann_ticket: TicketId,
    cy: UserId,
    lead: UserId,
    /// Of Globex, another organization.
    bob: UserId,
}

async fn world(backend: Backend, share: &str) -> Option<World> {
    let h = Harness::with_config(backend, &initech(share)).await?;
    let (ann_ticket, _) =
        created(&h.pipe(&Mail::new("Ann <ann@initech.com>", "VPN down", "Since 9.").build()).await);
    created(&h.pipe(&Mail::new("Cy <cy@initech.com>", "New laptop", "Please.").build()).await);
    created(&h.pipe(&Mail::new("Bob <bob@globex.com>", "Invoice", "Wrong.").build()).await);
    let id = |email: &'static str| {
        let h = &h;
        async move {
            UserId(
                h.read(move |tx| {
                    tx.query_one("SELECT id FROM users WHERE email = $1", mailgate::params![email], |r| {
                        r.i64(0)
                    })
                })
                .await,
            )
        }
    };
    let (cy, lead, bob) =
        (id("cy@initech.com").await, id("lead@initech.com").await, id("bob@globex.com").await);
    h.write(move |tx| {
        tx.execute(
            "DELETE FROM participants WHERE ticket_id = $1 AND user_id = $2",
            mailgate::params![ann_ticket.0, lead.0],
        )?;
        Ok(())
    })
    .await;
    Some(World { h, ann_ticket, cy, lead, bob })
}

/// The subjects of the tickets shared with `user` (not their own).
async fn shared_with(h: &Harness, user: UserId) -> Vec<String> {
    let tickets = h.read(move |tx| web_store::shared_tickets(tx, user, 50)).await;
    tickets.into_iter().map(|t| t.subject).collect()
}

/// The status of Ann's ticket page opened by a link minted for `user`.
async fn page_status(w: &World, user: UserId) -> u16 {
    let claims = Claims {
        purpose: Purpose::View,
        ticket: w.ann_ticket,
        participant: Participant::User(user),
        expires_at_ms: T0 + 3_600_000,
        epoch: 0,
    };
    let token = w.h.app.settings().keyring.link(&claims);
    let address = common::http::serve(&w.h).await;
    let page = common::http::Client::new(address).get(&format!("/t/{token}")).await;
    if page.status == 200 {
        assert!(page.body.contains("VPN down") && page.body.contains("Since 9."), "{}", page.body);
        assert!(!page.body.contains("name=\"text\""), "a shared reader cannot reply on the page");
    }
    page.status
}

/// Cy's "My tickets" page on the portal, signed in with a password set through a reset link.
async fn cys_portal_list(w: &World) -> String {
    let now = T0;
    w.h.write(move |tx| {
        tx.execute(
            "INSERT INTO account_tokens (token_hash, purpose, email, created_at, expires_at) VALUES ($1, 'reset', 'cy@initech.com', $2, $3)",
            mailgate::params![mailgate::auth::secret::token_hash("cy-reset").as_str(), now, now + 600_000],
        )?;
        Ok(())
    })
    .await;
    let accounts = mailgate::accounts::Accounts::new(&w.h.config, w.h.app.clone());
    let reset = accounts.set_password_by_link(
        "cy-reset",
        mailgate::store::accounts::TokenPurpose::Reset,
        "quiet harbour lanterns",
    );
    assert_eq!(reset.await.unwrap(), Some(w.cy));
    let mut client = common::http::Client::new(common::http::serve(&w.h).await);
    let signed =
        client.submit("/login", "/login", "email=cy%40initech.com&password=quiet+harbour+lanterns").await;
    assert_eq!(signed.location(), "/tickets");
    let list = client.get("/tickets").await.body;
    // Every link on the list opens its ticket.
    for link in list.split("href=\"/t/").skip(1).filter_map(|rest| rest.split('"').next()) {
        assert_eq!(client.get(&format!("/t/{link}")).await.status, 200, "{list}");
    }
    list
}

async fn nothing_is_shared_by_default(backend: Backend) {
    let Some(w) = world(backend, "").await else { return };
    for user in [w.cy, w.lead, w.bob] {
        assert!(shared_with(&w.h, user).await.is_empty());
        assert_eq!(page_status(&w, user).await, 410, "no link of theirs opens Ann's ticket");
    }
    let explicit = world(backend, "share_tickets = \"none\"").await.unwrap();
    assert!(shared_with(&explicit.h, explicit.cy).await.is_empty());
    let list = cys_portal_list(&w).await;
    assert!(list.contains("New laptop") && !list.contains("VPN down"), "{list}");
}

async fn primary_contacts_see_every_ticket(backend: Backend) {
    let Some(w) = world(backend, "share_tickets = \"primary_contacts\"").await else { return };
    assert_eq!(shared_with(&w.h, w.lead).await, ["VPN down"], "the ticket they were taken off");
    assert_eq!(page_status(&w, w.lead).await, 200);
    assert!(shared_with(&w.h, w.cy).await.is_empty(), "a member is not a primary contact");
    assert_eq!(page_status(&w, w.cy).await, 410);
    assert!(shared_with(&w.h, w.bob).await.is_empty());
    assert_eq!(page_status(&w, w.bob).await, 410);
}

async fn all_members_see_every_ticket(backend: Backend) {
    let Some(w) = world(backend, "share_tickets = \"all_members\"").await else { return };
    assert_eq!(shared_with(&w.h, w.cy).await, ["VPN down"], "Ann's, not Cy's own");
    assert_eq!(page_status(&w, w.cy).await, 200);
    let list = cys_portal_list(&w).await;
    assert!(list.contains("New laptop") && list.contains("VPN down"), "{list}");
    assert_eq!(
        list.matches("your organization&#x27;s").count() + list.matches("your organization's").count(),
        1,
        "{list}"
    );
    assert_eq!(shared_with(&w.h, w.lead).await, ["VPN down"], "primary contacts too");
    assert!(shared_with(&w.h, w.bob).await.is_empty(), "another organization's member sees nothing");
    assert_eq!(page_status(&w, w.bob).await, 410);
    // Moving to another organization ends the sharing, and the links with it.
    let cy = w.cy;
    w.h.write(move |tx| {
        tx.execute(
            "UPDATE users SET org_id = (SELECT id FROM orgs WHERE key = 'globex') WHERE id = $1",
            mailgate::params![cy.0],
        )?;
        Ok(())
    })
    .await;
    assert!(shared_with(&w.h, w.cy).await.is_empty());
    assert_eq!(page_status(&w, w.cy).await, 410);
}
