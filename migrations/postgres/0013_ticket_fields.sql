-- A ticket's own fields: the values of its topic's [[forms]] ticket form, filled on the portal
-- (a JSON object, checked against the form when written; docs/routing.md).
ALTER TABLE tickets ADD COLUMN custom TEXT NOT NULL DEFAULT '{}';
