-- Login throttling by account (issue 13): the client addresses that signed each account in, so
-- the slower per-account limit (auth.max_failed_logins_per_account) never locks its owner out
-- from an address they have used. `account` is `agent:<id>` or `user:<id>`.
CREATE TABLE login_clients (
    account      TEXT NOT NULL,
    client       TEXT NOT NULL,
    last_success BIGINT NOT NULL,
    PRIMARY KEY (account, client)
);
CREATE INDEX login_clients_age ON login_clients(last_success);
