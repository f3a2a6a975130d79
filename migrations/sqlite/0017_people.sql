-- The directory's actions (issue 16): deleting a user erases their search rows, so the contentless
-- full-text index is rebuilt with `contentless_delete = 1` (SQLite 3.43+; a plain contentless
-- table can only forget a row given its exact original text); a phone number per user; indexes
-- that find what a deletion erases (their entries, the raw mail of a ticket) without a full scan.
DROP TRIGGER entry_search_insert;
DROP TABLE entry_search;
CREATE VIRTUAL TABLE entry_search USING fts5(
    subject, body, people,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER entry_search_insert AFTER INSERT ON entries
WHEN NEW.kind IN ('message', 'response', 'note', 'held')
BEGIN
    INSERT INTO entry_search (rowid, subject, body, people)
    VALUES (
        NEW.id,
        NEW.subject,
        COALESCE(NEW.stripped_text, NEW.body_text),
        COALESCE((SELECT COALESCE(name, '') || ' ' || email FROM users WHERE id = NEW.author_user_id),
                 (SELECT name || ' ' || key FROM agents WHERE id = NEW.author_agent_id), '')
    );
END;

INSERT INTO entry_search (rowid, subject, body, people)
SELECT e.id, e.subject, COALESCE(e.stripped_text, e.body_text),
       COALESCE((SELECT COALESCE(u.name, '') || ' ' || u.email FROM users u WHERE u.id = e.author_user_id),
                (SELECT a.name || ' ' || a.key FROM agents a WHERE a.id = e.author_agent_id), '')
  FROM entries e WHERE e.kind IN ('message', 'response', 'note', 'held');

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
    user_id INTEGER NOT NULL REFERENCES users(id)
);
CREATE INDEX user_emails_user ON user_emails(user_id);
