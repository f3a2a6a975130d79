-- Sign-in through a directory (issue 16, [[ldap]]): where an account's password is checked.
-- NULL: mailgate's own password; 'ldap:NAME': only the [[ldap]] directory NAME (docs/accounts.md,
-- "Providers"). The phone number a directory maps goes to `users.phone` (migration 0017).
ALTER TABLE users ADD COLUMN auth_source TEXT;
ALTER TABLE agents ADD COLUMN auth_source TEXT;
