"""A real SMTP server for mailgate's tests: aiosmtpd writing every accepted mail into a Maildir,
or, with --reject, answering every DATA with a permanent 554."""
import argparse
import asyncio
import mailbox

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, maildir):
        self.box = mailbox.Maildir(maildir, create=True)

    async def handle_DATA(self, server, session, envelope):
        self.box.add(envelope.original_content or envelope.content)
        return "250 2.0.0 OK: queued"


class Reject:
    async def handle_DATA(self, server, session, envelope):
        return "554 5.7.1 Message rejected by test policy"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--reject", action="store_true")
    args = parser.parse_args()
    handler = Reject() if args.reject else Sink(args.maildir)
    controller = Controller(handler, hostname="127.0.0.1", port=args.port)
    controller.start()
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
