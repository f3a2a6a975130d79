-- Full-text search over tickets (issue 18): one FTS5 row per entry (rowid = entries.id) holding
-- its subject, its text (the reply without quoted history) and its author's name and address.
-- Contentless: the text lives in `entries`; search reads ticket ids back through the rowid, so an
-- entry moving to another ticket (a merge) needs no change here. The trigger fills it in the
-- transaction that stores the entry.
CREATE VIRTUAL TABLE entry_search USING fts5(
    subject, body, people,
    content = '',
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
