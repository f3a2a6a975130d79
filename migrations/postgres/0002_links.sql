-- Signed links: an agent's epoch revokes every token issued to that agent (a user's lives on
-- participants, per ticket).
ALTER TABLE agents ADD COLUMN link_epoch BIGINT NOT NULL DEFAULT 0;
