-- Queue lanes (docs/performance.md, sixth pass; src/store/queues.rs). Every process on SQLite parses
-- the whole schema on its first statement and every ticket insert is compiled against every index of
-- `tickets`: the 16 partial indexes of the open, unassigned, overdue and done queues cost a `pipe`
-- more than a tenth of its instructions. A ticket's lane says which of those queues hold it:
--
--   0 closed   1 resolved   2 waiting (open, pending)   3 waiting, overdue
--   4 waiting, unassigned (no agent, no team)   5 waiting, unassigned, overdue
--
-- so one index per sort order, led by the lane, serves them all: a queue is one or more lanes read
-- as index ranges merged in order (as "all" and "my teams" already were, migration 0019). The
-- resolved lane serves the janitor's auto-close and lanes 2 and 4 its due round, so the indexes
-- `tickets_status_updated` and `tickets_due` go too. The sort keys are columns, so the indexes and
-- the queries name them instead of repeating their expressions. Stored: PostgreSQL computes
-- virtual generated columns only from version 18 on (SQLite's are virtual).
ALTER TABLE tickets
    ADD COLUMN lane SMALLINT GENERATED ALWAYS AS (
        CASE status WHEN 'closed' THEN 0 WHEN 'resolved' THEN 1
        ELSE 2 + (CASE WHEN overdue_at IS NULL THEN 0 ELSE 1 END)
               + (CASE WHEN assignee_agent_id IS NULL AND assignee_team_id IS NULL THEN 2 ELSE 0 END) END
    ) STORED,
    ADD COLUMN urgency SMALLINT GENERATED ALWAYS AS (
        CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END
    ) STORED,
    ADD COLUMN due_key BIGINT GENERATED ALWAYS AS (COALESCE(due_at, 9223372036854775807)) STORED;

DROP INDEX tickets_status_updated;
DROP INDEX tickets_due;
DROP INDEX queue_open_updated;
DROP INDEX queue_open_priority;
DROP INDEX queue_open_created;
DROP INDEX queue_open_due;
DROP INDEX queue_unassigned_updated;
DROP INDEX queue_unassigned_priority;
DROP INDEX queue_unassigned_created;
DROP INDEX queue_unassigned_due;
DROP INDEX queue_overdue_updated;
DROP INDEX queue_overdue_priority;
DROP INDEX queue_overdue_created;
DROP INDEX queue_overdue_due;
DROP INDEX queue_done_updated;
DROP INDEX queue_done_priority;
DROP INDEX queue_done_created;
DROP INDEX queue_done_due;
DROP INDEX queue_agent_updated;
DROP INDEX queue_agent_priority;
DROP INDEX queue_agent_created;
DROP INDEX queue_agent_due;
DROP INDEX queue_team_updated;
DROP INDEX queue_team_priority;
DROP INDEX queue_team_created;
DROP INDEX queue_team_due;
DROP INDEX queue_topic_updated;
DROP INDEX queue_topic_priority;
DROP INDEX queue_topic_created;
DROP INDEX queue_topic_due;

CREATE INDEX queue_lane_updated ON tickets(lane, updated_at, id);
CREATE INDEX queue_lane_priority ON tickets(lane, urgency, updated_at, id);
CREATE INDEX queue_lane_created ON tickets(lane, created_at, id);
CREATE INDEX queue_lane_due ON tickets(lane, due_key, id);
-- An agent's, a team's and a topic's queues hold waiting tickets only: partial indexes of those.
CREATE INDEX queue_agent_updated ON tickets(assignee_agent_id, updated_at, id) WHERE lane >= 2 AND assignee_agent_id IS NOT NULL;
CREATE INDEX queue_agent_priority ON tickets(assignee_agent_id, urgency, updated_at, id) WHERE lane >= 2 AND assignee_agent_id IS NOT NULL;
CREATE INDEX queue_agent_created ON tickets(assignee_agent_id, created_at, id) WHERE lane >= 2 AND assignee_agent_id IS NOT NULL;
CREATE INDEX queue_agent_due ON tickets(assignee_agent_id, due_key, id) WHERE lane >= 2 AND assignee_agent_id IS NOT NULL;
CREATE INDEX queue_team_updated ON tickets(assignee_team_id, updated_at, id) WHERE lane >= 2 AND assignee_team_id IS NOT NULL;
CREATE INDEX queue_team_priority ON tickets(assignee_team_id, urgency, updated_at, id) WHERE lane >= 2 AND assignee_team_id IS NOT NULL;
CREATE INDEX queue_team_created ON tickets(assignee_team_id, created_at, id) WHERE lane >= 2 AND assignee_team_id IS NOT NULL;
CREATE INDEX queue_team_due ON tickets(assignee_team_id, due_key, id) WHERE lane >= 2 AND assignee_team_id IS NOT NULL;
CREATE INDEX queue_topic_updated ON tickets(topic, updated_at, id) WHERE lane >= 2 AND topic IS NOT NULL;
CREATE INDEX queue_topic_priority ON tickets(topic, urgency, updated_at, id) WHERE lane >= 2 AND topic IS NOT NULL;
CREATE INDEX queue_topic_created ON tickets(topic, created_at, id) WHERE lane >= 2 AND topic IS NOT NULL;
CREATE INDEX queue_topic_due ON tickets(topic, due_key, id) WHERE lane >= 2 AND topic IS NOT NULL;
