-- Full-text search over tickets (issue 18): each entry's subject (weight A), text without quoted
-- history (B) and author's name and address (C) as a tsvector, kept by a trigger in the
-- transaction that stores the entry, under a GIN index. The 'simple' configuration: support mail
-- comes in every language, so words are not stemmed for one of them.
ALTER TABLE entries ADD COLUMN search tsvector;

CREATE FUNCTION entries_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind IN ('message', 'response', 'note', 'held') THEN
        NEW.search :=
            setweight(to_tsvector('simple', COALESCE(NEW.subject, '')), 'A')
            || setweight(to_tsvector('simple', COALESCE(NEW.stripped_text, NEW.body_text, '')), 'B')
            || setweight(to_tsvector('simple', COALESCE(
                   (SELECT COALESCE(name, '') || ' ' || email FROM users WHERE id = NEW.author_user_id),
                   (SELECT name || ' ' || key FROM agents WHERE id = NEW.author_agent_id), '')), 'C');
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER entries_search BEFORE INSERT OR UPDATE OF subject, body_text, stripped_text ON entries
FOR EACH ROW EXECUTE FUNCTION entries_search();

UPDATE entries SET subject = subject WHERE kind IN ('message', 'response', 'note', 'held');

CREATE INDEX entries_search_idx ON entries USING GIN (search);
