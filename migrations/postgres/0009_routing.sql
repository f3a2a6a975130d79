-- Help topics, the address a ticket was written to, and due dates (docs/routing.md).
-- `topic` is a `[[topics]]` key (kept as text: topics live in the TOML, not in a table);
-- `reply_from` is our address the customer wrote to, the From of mail to them;
-- `sla` the `[[sla]]` plan, `due_at` when the ticket is due (NULL: no plan or paused),
-- `overdue_at` when the janitor marked it overdue (once).
ALTER TABLE tickets ADD COLUMN topic TEXT;
ALTER TABLE tickets ADD COLUMN reply_from TEXT;
ALTER TABLE tickets ADD COLUMN sla TEXT;
ALTER TABLE tickets ADD COLUMN due_at BIGINT;
ALTER TABLE tickets ADD COLUMN overdue_at BIGINT;
CREATE INDEX tickets_due ON tickets(due_at) WHERE due_at IS NOT NULL AND overdue_at IS NULL;
