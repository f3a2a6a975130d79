-- The console's queues at scale (issue 18; src/store/queues.rs). Two parts:
--
-- 1. `ticket_counts`: how many tickets each (status, assigned agent, assigned team, topic, overdue)
--    group holds, kept in step by triggers in the transaction that writes the ticket, so the queue
--    tabs' counts read a few hundred rows instead of counting the tickets (docs/performance.md).
--    0 stands for "no agent" / "no team", '' for "no topic". `slot` spreads the hottest group over
--    several rows on PostgreSQL (concurrent writers); SQLite has one writer and always uses 0.
-- 2. One index per queue and sort order, so a page is a keyset seek that reads its 50 rows. The
--    sort keys are the exact expressions `store::queues` orders by: all descending but due (nulls
--    last through COALESCE), priority as urgency 3 (urgent) to 0 (low).
CREATE TABLE ticket_counts (
    status   TEXT NOT NULL,
    agent_id BIGINT NOT NULL,
    team_id  BIGINT NOT NULL,
    topic    TEXT NOT NULL,
    overdue  SMALLINT NOT NULL,
    slot     SMALLINT NOT NULL,
    tickets  BIGINT NOT NULL,
    PRIMARY KEY (status, agent_id, team_id, topic, overdue, slot)
);

INSERT INTO ticket_counts (status, agent_id, team_id, topic, overdue, slot, tickets)
SELECT status, COALESCE(assignee_agent_id, 0), COALESCE(assignee_team_id, 0), COALESCE(topic, ''),
       CASE WHEN overdue_at IS NULL THEN 0 ELSE 1 END, 0, COUNT(*)
  FROM tickets GROUP BY 1, 2, 3, 4, 5;

-- Adds `delta` to the group of one ticket row; the slot is the ticket id modulo 8, so concurrent
-- writers of new tickets (the same group) wait on one row in eight, not all on the same one.
CREATE FUNCTION ticket_counts_add(t tickets, delta BIGINT) RETURNS void LANGUAGE sql AS $$
    INSERT INTO ticket_counts (status, agent_id, team_id, topic, overdue, slot, tickets)
    VALUES (t.status, COALESCE(t.assignee_agent_id, 0), COALESCE(t.assignee_team_id, 0),
            COALESCE(t.topic, ''), CASE WHEN t.overdue_at IS NULL THEN 0 ELSE 1 END, t.id % 8, delta)
    ON CONFLICT (status, agent_id, team_id, topic, overdue, slot)
    DO UPDATE SET tickets = ticket_counts.tickets + EXCLUDED.tickets
$$;

CREATE FUNCTION ticket_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM ticket_counts_add(NEW, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM ticket_counts_add(OLD, -1);
    ELSIF ROW(NEW.status, COALESCE(NEW.assignee_agent_id, 0), COALESCE(NEW.assignee_team_id, 0),
              COALESCE(NEW.topic, ''), NEW.overdue_at IS NULL)
          IS DISTINCT FROM
          ROW(OLD.status, COALESCE(OLD.assignee_agent_id, 0), COALESCE(OLD.assignee_team_id, 0),
              COALESCE(OLD.topic, ''), OLD.overdue_at IS NULL) THEN
        -- Both rows in one order whoever moves which way, so two moves cannot deadlock.
        IF ROW(NEW.status, COALESCE(NEW.assignee_agent_id, 0), COALESCE(NEW.assignee_team_id, 0),
               COALESCE(NEW.topic, ''), NEW.overdue_at IS NULL)
           < ROW(OLD.status, COALESCE(OLD.assignee_agent_id, 0), COALESCE(OLD.assignee_team_id, 0),
                 COALESCE(OLD.topic, ''), OLD.overdue_at IS NULL) THEN
            PERFORM ticket_counts_add(NEW, 1);
            PERFORM ticket_counts_add(OLD, -1);
        ELSE
            PERFORM ticket_counts_add(OLD, -1);
            PERFORM ticket_counts_add(NEW, 1);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- Only a change of group touches the counts: the activity time, written on every message, does not.
CREATE TRIGGER ticket_counts_insert_delete AFTER INSERT OR DELETE ON tickets
FOR EACH ROW EXECUTE FUNCTION ticket_counts_keep();
CREATE TRIGGER ticket_counts_update AFTER UPDATE OF status, assignee_agent_id, assignee_team_id, topic, overdue_at ON tickets
FOR EACH ROW EXECUTE FUNCTION ticket_counts_keep();

-- Replaced by the indexes below (0004, 0005): they led with `status`, which cannot serve an order
-- over two statuses.
DROP INDEX tickets_agent_queue;
DROP INDEX tickets_team_queue;
DROP INDEX tickets_status_rank;
DROP INDEX tickets_status_created;
DROP INDEX tickets_unassigned;

CREATE INDEX queue_open_updated ON tickets(updated_at, id) WHERE status IN ('open', 'pending');
CREATE INDEX queue_open_priority ON tickets((CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END), updated_at, id) WHERE status IN ('open', 'pending');
CREATE INDEX queue_open_created ON tickets(created_at, id) WHERE status IN ('open', 'pending');
CREATE INDEX queue_open_due ON tickets((COALESCE(due_at, 9223372036854775807)), id) WHERE status IN ('open', 'pending');
CREATE INDEX queue_agent_updated ON tickets(assignee_agent_id, updated_at, id) WHERE status IN ('open', 'pending') AND assignee_agent_id IS NOT NULL;
CREATE INDEX queue_agent_priority ON tickets(assignee_agent_id, (CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END), updated_at, id) WHERE status IN ('open', 'pending') AND assignee_agent_id IS NOT NULL;
CREATE INDEX queue_agent_created ON tickets(assignee_agent_id, created_at, id) WHERE status IN ('open', 'pending') AND assignee_agent_id IS NOT NULL;
CREATE INDEX queue_agent_due ON tickets(assignee_agent_id, (COALESCE(due_at, 9223372036854775807)), id) WHERE status IN ('open', 'pending') AND assignee_agent_id IS NOT NULL;
CREATE INDEX queue_team_updated ON tickets(assignee_team_id, updated_at, id) WHERE status IN ('open', 'pending') AND assignee_team_id IS NOT NULL;
CREATE INDEX queue_team_priority ON tickets(assignee_team_id, (CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END), updated_at, id) WHERE status IN ('open', 'pending') AND assignee_team_id IS NOT NULL;
CREATE INDEX queue_team_created ON tickets(assignee_team_id, created_at, id) WHERE status IN ('open', 'pending') AND assignee_team_id IS NOT NULL;
CREATE INDEX queue_team_due ON tickets(assignee_team_id, (COALESCE(due_at, 9223372036854775807)), id) WHERE status IN ('open', 'pending') AND assignee_team_id IS NOT NULL;
CREATE INDEX queue_topic_updated ON tickets(topic, updated_at, id) WHERE status IN ('open', 'pending') AND topic IS NOT NULL;
CREATE INDEX queue_topic_priority ON tickets(topic, (CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END), updated_at, id) WHERE status IN ('open', 'pending') AND topic IS NOT NULL;
CREATE INDEX queue_topic_created ON tickets(topic, created_at, id) WHERE status IN ('open', 'pending') AND topic IS NOT NULL;
CREATE INDEX queue_topic_due ON tickets(topic, (COALESCE(due_at, 9223372036854775807)), id) WHERE status IN ('open', 'pending') AND topic IS NOT NULL;
CREATE INDEX queue_unassigned_updated ON tickets(updated_at, id) WHERE status IN ('open', 'pending') AND COALESCE(assignee_agent_id, assignee_team_id) IS NULL;
CREATE INDEX queue_unassigned_priority ON tickets((CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END), updated_at, id) WHERE status IN ('open', 'pending') AND COALESCE(assignee_agent_id, assignee_team_id) IS NULL;
CREATE INDEX queue_unassigned_created ON tickets(created_at, id) WHERE status IN ('open', 'pending') AND COALESCE(assignee_agent_id, assignee_team_id) IS NULL;
CREATE INDEX queue_unassigned_due ON tickets((COALESCE(due_at, 9223372036854775807)), id) WHERE status IN ('open', 'pending') AND COALESCE(assignee_agent_id, assignee_team_id) IS NULL;
CREATE INDEX queue_overdue_updated ON tickets(updated_at, id) WHERE status IN ('open', 'pending') AND overdue_at IS NOT NULL;
CREATE INDEX queue_overdue_priority ON tickets((CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END), updated_at, id) WHERE status IN ('open', 'pending') AND overdue_at IS NOT NULL;
CREATE INDEX queue_overdue_created ON tickets(created_at, id) WHERE status IN ('open', 'pending') AND overdue_at IS NOT NULL;
CREATE INDEX queue_overdue_due ON tickets((COALESCE(due_at, 9223372036854775807)), id) WHERE status IN ('open', 'pending') AND overdue_at IS NOT NULL;
CREATE INDEX queue_done_updated ON tickets(updated_at, id) WHERE status IN ('resolved', 'closed');
CREATE INDEX queue_done_priority ON tickets((CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END), updated_at, id) WHERE status IN ('resolved', 'closed');
CREATE INDEX queue_done_created ON tickets(created_at, id) WHERE status IN ('resolved', 'closed');
CREATE INDEX queue_done_due ON tickets((COALESCE(due_at, 9223372036854775807)), id) WHERE status IN ('resolved', 'closed');
CREATE INDEX queue_all_updated ON tickets(updated_at, id);
CREATE INDEX queue_all_priority ON tickets((CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END), updated_at, id);
CREATE INDEX queue_all_created ON tickets(created_at, id);
CREATE INDEX queue_all_due ON tickets((COALESCE(due_at, 9223372036854775807)), id);
