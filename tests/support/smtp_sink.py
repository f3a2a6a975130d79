"""A real SMTP server for mailgate's tests: aiosmtpd writing every accepted mail into a Maildir,
or, with --reject, answering every DATA with a permanent 554. With --auth-user and --auth-password
it requires AUTH (PLAIN or LOGIN, offered without TLS on loopback) and refuses mail before it."""
import argparse
import asyncio
import mailbox

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, maildir):
        self.box = mailbox.Maildir(maildir, create=True)

    async def handle_DATA(self, server, session, envelope):
        self.box.add(envelope.original_content or envelope.content)
        return "250 2.0.0 OK: queued"


class Reject:
    async def handle_DATA(self, server, session, envelope):
        return "554 5.7.1 Message rejected by test policy"


def authenticator_for(user, password):
    """Accepts exactly `user` with `password`; anything else gets aiosmtpd's 535 5.7.8."""

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    return authenticate


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--reject", action="store_true")
    parser.add_argument("--auth-user")
    parser.add_argument("--auth-password")
    args = parser.parse_args()
    handler = Reject() if args.reject else Sink(args.maildir)
    options = {}
    if args.auth_user is not None:
        options = dict(
            auth_required=True,
            auth_require_tls=False,
            authenticator=authenticator_for(args.auth_user, args.auth_password or ""),
        )
    controller = Controller(handler, hostname="127.0.0.1", port=args.port, **options)
    controller.start()
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
