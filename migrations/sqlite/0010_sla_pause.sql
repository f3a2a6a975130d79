-- A ticket put on hold (pending) under a plan that pauses keeps the time it had left, counted as
-- the plan counts (business hours), and resumes with it when it opens again.
ALTER TABLE tickets ADD COLUMN due_left_ms BIGINT;
