-- IMAP intake: per mailbox, the folder's UIDVALIDITY and the highest UID whose message was
-- ingested and then moved, flagged or deleted. Everything above it is fetched on the next pass.
CREATE TABLE imap_checkpoints (
    mailbox      TEXT PRIMARY KEY,
    uid_validity INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
