-- The agent console's queues (src/store/console.rs): its priority and creation-time sort orders,
-- and the unassigned queue. The priority expression must stay exactly the one the queries order
-- by (`store::console::RANK`), or no index matches it.
CREATE INDEX tickets_status_rank ON tickets(status, (CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END), updated_at DESC, id DESC);
CREATE INDEX tickets_status_created ON tickets(status, created_at, id);
CREATE INDEX tickets_unassigned ON tickets(status, updated_at, id) WHERE COALESCE(assignee_agent_id, assignee_team_id) IS NULL;
