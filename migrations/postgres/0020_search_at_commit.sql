-- PostgreSQL's tsvector is a column of the entry, written by the trigger of 0008_search with the
-- row: the SQLite half of this migration (the search index written at commit) does not apply.

-- The governor's per-address count (`store::outbox::count_answers_to_since`) reads the template of
-- each mail in the window: in the index, it no longer looks up every row.
DROP INDEX outbox_recipient;
CREATE INDEX outbox_recipient ON outbox(recipient, created_at, template);
