-- Self-service (issue 16): a password set by an agent or admin is temporary until its owner
-- chooses their own at the next sign-in (the phone number a user gives on their profile is
-- `users.phone`, migration 0017).
ALTER TABLE users ADD COLUMN password_temporary INTEGER NOT NULL DEFAULT 0;
