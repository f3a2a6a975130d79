-- Accounts (issue 7): passwords, sign-up/invitation/reset tokens, web sessions, agents' TOTP and
-- recovery codes, and login throttling. Secrets are never stored in the clear: tokens and session
-- ids as SHA-256, passwords as argon2id PHC strings, TOTP secrets sealed with auth.totp_key_file.

ALTER TABLE agents ADD COLUMN password_hash TEXT;
ALTER TABLE agents ADD COLUMN last_login_at BIGINT;
ALTER TABLE users ADD COLUMN last_login_at BIGINT;

-- Single-use links mailed for sign-up confirmation, invitation and password reset.
CREATE TABLE account_tokens (
    token_hash    TEXT PRIMARY KEY,
    purpose       TEXT NOT NULL,          -- register | invite | reset
    email         TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    -- register: the password chosen at sign-up, applied when the address is confirmed.
    password_hash TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT
);
CREATE INDEX account_tokens_email ON account_tokens(email);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    BIGINT REFERENCES users(id),
    agent_id   BIGINT REFERENCES agents(id),
    stage      TEXT NOT NULL,              -- full | second_factor | enroll
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_agent ON sessions(agent_id);

CREATE TABLE totp (
    agent_id   BIGINT PRIMARY KEY REFERENCES agents(id),
    secret     BYTEA NOT NULL,
    enabled    BIGINT NOT NULL DEFAULT 0,
    last_step  BIGINT NOT NULL DEFAULT -1,
    created_at BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    agent_id  BIGINT NOT NULL REFERENCES agents(id),
    code_hash TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (agent_id, code_hash)
);

-- Failed logins per key (`account:<login>`, `client:<address>`) in a sliding window.
CREATE TABLE rate_limits (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL DEFAULT 0
);

-- The agent console's queues.
CREATE INDEX tickets_agent_queue ON tickets(assignee_agent_id, status, updated_at);
CREATE INDEX tickets_team_queue ON tickets(assignee_team_id, status, updated_at);
