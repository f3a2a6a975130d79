-- Accounts signed in through OpenID Connect: which account an (issuer, subject) pair is, per
-- realm. Remembered at the first sign-in, so that a later change of address at the provider
-- cannot move the sign-in to another account (docs/accounts.md "Providers").
CREATE TABLE identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    realm      TEXT NOT NULL CHECK (realm IN ('user', 'agent')),
    user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    agent_id   INTEGER REFERENCES agents(id) ON DELETE CASCADE,
    -- The verified address the provider gave when the link was made.
    email      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject, realm),
    CHECK ((realm = 'user' AND user_id IS NOT NULL AND agent_id IS NULL)
        OR (realm = 'agent' AND agent_id IS NOT NULL AND user_id IS NULL))
);
CREATE INDEX identities_user ON identities(user_id);
CREATE INDEX identities_agent ON identities(agent_id);

-- The `state` of each finished OpenID Connect sign-in (SHA-256), until the flow would have
-- expired anyway: a callback replayed with the same state is refused here, not only by the
-- provider's single-use code.
CREATE TABLE oidc_spent_states (
    state_hash TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oidc_spent_states_expiry ON oidc_spent_states(expires_at);
