-- Sign-in through a directory (issue 16, [[ldap]]): where an account's password is checked.
-- NULL: mailgate's own password; 'ldap:NAME': only the [[ldap]] directory NAME (docs/accounts.md,
-- "Providers"). The phone number comes from the directory's attributes (also written by the
-- profile page: the same column as self-service's, added once).
ALTER TABLE users ADD COLUMN auth_source TEXT;
ALTER TABLE users ADD COLUMN phone TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN auth_source TEXT;
