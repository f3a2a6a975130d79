-- The search index is written once per transaction instead of once per entry (docs/performance.md,
-- fourth pass). FTS5 writes its pending terms to disk at every statement savepoint, and in a
-- transaction that writes more than one row nearly every statement opens one: an IMAP drain's batch
-- of 50 messages made a segment per statement and spent a fifth of its time flushing and merging
-- them. The trigger now only notes the entry; `Tx::commit` indexes the noted entries in one
-- statement just before the commit (`store::db::INDEX_NOTED_ENTRIES`), in the same transaction.
CREATE TABLE entry_search_pending (entry_id INTEGER PRIMARY KEY);

DROP TRIGGER entry_search_insert;
CREATE TRIGGER entry_search_insert AFTER INSERT ON entries
WHEN NEW.kind IN ('message', 'response', 'note', 'held')
BEGIN
    INSERT INTO entry_search_pending (entry_id) VALUES (NEW.id);
END;

-- The governor's per-address count (`store::outbox::count_answers_to_since`) reads the template of
-- each mail in the window: in the index, it no longer looks up every row.
DROP INDEX outbox_recipient;
CREATE INDEX outbox_recipient ON outbox(recipient, created_at, template);
