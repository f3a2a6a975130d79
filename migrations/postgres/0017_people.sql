-- The directory's actions (issue 16): a phone number per user; indexes that find what deleting a
-- user erases (their entries, the raw mail of a ticket) without a full scan. (SQLite also rebuilds
-- its full-text table so rows can be deleted; here the tsvector is a column of `entries`.)
ALTER TABLE users ADD COLUMN phone TEXT NOT NULL DEFAULT '';
CREATE INDEX entries_author_user ON entries(author_user_id) WHERE author_user_id IS NOT NULL;
CREATE INDEX inbound_ticket ON inbound(ticket_id) WHERE ticket_id IS NOT NULL;
CREATE INDEX attachments_blob ON attachments(blob_id);
-- Who sees an organization's tickets on the portal (`[[orgs]] share_tickets`), written by the directory sync.
ALTER TABLE orgs ADD COLUMN share_tickets TEXT NOT NULL DEFAULT 'none';
-- A user's additional addresses: mail from any of them is theirs (`users.email` stays the one
-- mail goes to). An address is one user's only: the key here, checked against `users.email` by
-- the workflow that adds it.
CREATE TABLE user_emails (
    email   TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id)
);
CREATE INDEX user_emails_user ON user_emails(user_id);
