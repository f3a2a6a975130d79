//! Account mail (confirmation, invitation, reset, "you already have an account"): queued in the
//! same transaction as the token it carries. Not ticket mail: no reply address, no governor (the
//! pages that cause it are rate-limited).

use super::Accounts;
use crate::app::App;
use crate::core::address::EmailAddress;
use crate::core::notify::Mail;
use crate::outbox::context::Queued;
use crate::store::outbox::{self as outbox_store, NewOutbound};
use crate::store::{Result, Tx};

/// The longest name a greeting shows.
const GREETING_NAME_CHARS: usize = 40;

/// Queues account mail inside a store transaction (a `'static` handle for `Store::write`).
#[derive(Clone)]
pub(super) struct Mailer {
    app: App,
}

impl Mailer {
    pub(super) fn queue_mail(
        &self,
        tx: &mut Tx<'_>,
        mail: Mail,
        to: &EmailAddress,
        name: &str,
        link: &str,
        valid_ms: i64,
    ) -> Result<()> {
        // Account mail may go to an address nobody has verified yet: the greeting is at most a
        // short single-line name, whatever was typed.
        let name = super::signup::single_line(name, GREETING_NAME_CHARS);
        let context = Queued {
            link: Some(link.to_string()),
            link_valid: Some(duration_words(valid_ms)),
            ..Queued::to(mail, to).named(name)
        };
        outbox_store::enqueue(
            tx,
            &NewOutbound {
                message_id: &self.app.mint_message_id(),
                ticket: None,
                recipient: to,
                template: mail.template(),
                context_json: &context.to_json(),
                now_ms: self.app.now_ms(),
            },
        )?;
        Ok(())
    }
}

impl Accounts {
    pub(super) fn mailer(&self) -> Mailer {
        Mailer { app: self.app.clone() }
    }

    pub(super) fn link(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// "1 hour", "24 hours", "7 days", "30 minutes".
fn duration_words(ms: i64) -> String {
    let minutes = ms / 60_000;
    let (count, unit) = if minutes % (24 * 60) == 0 && minutes >= 48 * 60 {
        (minutes / (24 * 60), "day")
    } else if minutes % 60 == 0 {
        (minutes / 60, "hour")
    } else {
        (minutes, "minute")
    };
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_naturally() {
        assert_eq!(super::duration_words(60 * 60_000), "1 hour");
        assert_eq!(super::duration_words(24 * 60 * 60_000), "24 hours");
        assert_eq!(super::duration_words(7 * 24 * 60 * 60_000), "7 days");
        assert_eq!(super::duration_words(90 * 60_000), "90 minutes");
    }
}
