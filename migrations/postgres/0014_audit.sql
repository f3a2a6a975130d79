-- Who did what to the directory (lock, unlock, ...): one row per action, naming the actor
-- ("agent alice", "an admin") and the user it concerned (docs/directory.md).
CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    user_id BIGINT REFERENCES users(id),
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_user ON audit_log(user_id, at);
