-- Merged tickets (issue 18): a merged ticket is closed and points at the ticket that took its
-- entries, people, Message-IDs and mail; its number, links and reply addresses lead there.
-- Pointers are kept one hop long: merging a ticket re-points the tickets merged into it.
ALTER TABLE tickets ADD COLUMN merged_into INTEGER REFERENCES tickets(id);
CREATE INDEX tickets_merged_into ON tickets(merged_into) WHERE merged_into IS NOT NULL;
