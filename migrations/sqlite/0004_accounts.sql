-- Accounts (issue 7): passwords, sign-up/invitation/reset tokens, web sessions, agents' TOTP and
-- recovery codes, and login throttling. Secrets are never stored in the clear: tokens and session
-- ids as SHA-256, passwords as argon2id PHC strings, TOTP secrets sealed with auth.totp_key_file.

ALTER TABLE agents ADD COLUMN password_hash TEXT;
ALTER TABLE agents ADD COLUMN last_login_at INTEGER;
ALTER TABLE users ADD COLUMN last_login_at INTEGER;

-- Single-use links mailed for sign-up confirmation, invitation and password reset.
CREATE TABLE account_tokens (
    token_hash    TEXT PRIMARY KEY,
    purpose       TEXT NOT NULL,          -- register | invite | reset
    email         TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    -- register: the password chosen at sign-up, applied when the address is confirmed.
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);
CREATE INDEX account_tokens_email ON account_tokens(email);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    INTEGER REFERENCES users(id),
    agent_id   INTEGER REFERENCES agents(id),
    stage      TEXT NOT NULL,              -- full | second_factor | enroll
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_agent ON sessions(agent_id);

CREATE TABLE totp (
    agent_id   INTEGER PRIMARY KEY REFERENCES agents(id),
    secret     BLOB NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 0,
    last_step  INTEGER NOT NULL DEFAULT -1,
    created_at INTEGER NOT NULL
);

CREATE TABLE recovery_codes (
    agent_id  INTEGER NOT NULL REFERENCES agents(id),
    code_hash TEXT NOT NULL,
    used_at   INTEGER,
    PRIMARY KEY (agent_id, code_hash)
);

-- Failed logins per key (`account:<login>`, `client:<address>`) in a sliding window.
CREATE TABLE rate_limits (
    key           TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  INTEGER NOT NULL,
    blocked_until INTEGER NOT NULL DEFAULT 0
);

-- The agent console's queues.
CREATE INDEX tickets_agent_queue ON tickets(assignee_agent_id, status, updated_at);
CREATE INDEX tickets_team_queue ON tickets(assignee_team_id, status, updated_at);
