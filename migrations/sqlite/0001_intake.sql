-- The intake schema: directory (orgs, users, agents, teams), tickets and their thread, the raw
-- inbound record of every accepted message, and the outbox. Times are unix milliseconds.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE agents (
    id     INTEGER PRIMARY KEY,
    key    TEXT NOT NULL UNIQUE,
    name   TEXT NOT NULL,
    -- The address alerts go to (the first of the agent's configured addresses).
    email  TEXT NOT NULL DEFAULT '',
    active INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE agent_emails (
    email    TEXT PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents(id)
);

CREATE TABLE teams (
    id     INTEGER PRIMARY KEY,
    key    TEXT NOT NULL UNIQUE,
    name   TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE team_members (
    team_id  INTEGER NOT NULL REFERENCES teams(id),
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    PRIMARY KEY (team_id, agent_id)
);

CREATE TABLE orgs (
    id                 INTEGER PRIMARY KEY,
    key                TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    manager_agent_id   INTEGER REFERENCES agents(id),
    manager_team_id    INTEGER REFERENCES teams(id),
    manager_mode       TEXT NOT NULL DEFAULT 'assign',
    custom             TEXT NOT NULL DEFAULT '{}',
    active             INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE org_domains (
    domain TEXT PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES orgs(id)
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    org_id        INTEGER REFERENCES orgs(id),
    password_hash TEXT,
    status        TEXT NOT NULL DEFAULT 'guest',
    custom        TEXT NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX users_org ON users(org_id);
CREATE INDEX users_name ON users(name);

CREATE TABLE org_contacts (
    org_id  INTEGER NOT NULL REFERENCES orgs(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (org_id, user_id)
);

CREATE TABLE tickets (
    id                INTEGER PRIMARY KEY,
    number            TEXT NOT NULL UNIQUE,
    subject           TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'open',
    user_id           INTEGER NOT NULL REFERENCES users(id),
    org_id            INTEGER REFERENCES orgs(id),
    assignee_agent_id INTEGER REFERENCES agents(id),
    assignee_team_id  INTEGER REFERENCES teams(id),
    alert_agent_id    INTEGER REFERENCES agents(id),
    alert_team_id     INTEGER REFERENCES teams(id),
    priority          TEXT NOT NULL DEFAULT 'normal',
    mailbox           TEXT,
    linked_ticket_id  INTEGER REFERENCES tickets(id),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    closed_at         INTEGER
);
CREATE INDEX tickets_user ON tickets(user_id);
CREATE INDEX tickets_org ON tickets(org_id);
CREATE INDEX tickets_status_updated ON tickets(status, updated_at);

CREATE TABLE participants (
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    role       TEXT NOT NULL,
    link_epoch INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
);
CREATE INDEX participants_user ON participants(user_id);

CREATE TABLE inbound (
    id          INTEGER PRIMARY KEY,
    dedupe_key  TEXT NOT NULL UNIQUE,
    source      TEXT NOT NULL,
    mailbox     TEXT,
    uidvalidity INTEGER,
    uid         INTEGER,
    raw         BLOB NOT NULL,
    size        INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    ticket_id   INTEGER REFERENCES tickets(id),
    trace       TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
-- Only quarantine listings filter by outcome; a partial index is not rewritten per message.
CREATE INDEX inbound_quarantined ON inbound(id) WHERE outcome = 'quarantined';

CREATE TABLE entries (
    id              INTEGER PRIMARY KEY,
    ticket_id       INTEGER NOT NULL REFERENCES tickets(id),
    kind            TEXT NOT NULL,
    author_user_id  INTEGER REFERENCES users(id),
    author_agent_id INTEGER REFERENCES agents(id),
    class           TEXT NOT NULL DEFAULT 'normal',
    subject         TEXT NOT NULL DEFAULT '',
    body_text       TEXT NOT NULL,
    body_html       TEXT,
    stripped_text   TEXT, -- NULL when stripping removed nothing (read as body_text)
    source          TEXT NOT NULL,
    inbound_id      INTEGER REFERENCES inbound(id),
    created_at      INTEGER NOT NULL
);
CREATE INDEX entries_ticket ON entries(ticket_id, id);

CREATE TABLE blobs (
    id      INTEGER PRIMARY KEY,
    sha256  TEXT NOT NULL UNIQUE,
    size    INTEGER NOT NULL,
    content BLOB NOT NULL
);

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    entry_id     INTEGER NOT NULL REFERENCES entries(id),
    blob_id      INTEGER NOT NULL REFERENCES blobs(id),
    filename     TEXT,
    content_type TEXT NOT NULL,
    content_id   TEXT,
    inline       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX attachments_entry ON attachments(entry_id);

CREATE TABLE message_ids (
    message_id TEXT PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
    entry_id   INTEGER REFERENCES entries(id),
    direction  TEXT NOT NULL
);
CREATE INDEX message_ids_ticket ON message_ids(ticket_id);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL, -- unique through message_ids' primary key
    ticket_id       INTEGER REFERENCES tickets(id),
    recipient       TEXT NOT NULL,
    template        TEXT NOT NULL,
    context         TEXT NOT NULL DEFAULT '{}',
    rendered        BLOB,
    status          TEXT NOT NULL DEFAULT 'queued',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
-- The governor counts recent automatic mail per recipient.
CREATE INDEX outbox_recipient ON outbox(recipient, created_at);
