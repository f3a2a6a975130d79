-- The "all" queue is the waiting queue and the done queue read together (src/store/queues.rs: two
-- index ranges merged in order, as "my teams" is), so it needs no indexes of its own. Every status
-- is in exactly one of the two (open, pending / resolved, closed). Each ticket had an entry in
-- these four, and every message on a ticket moved two of them: fewer index writes per message.
DROP INDEX queue_all_updated;
DROP INDEX queue_all_priority;
DROP INDEX queue_all_created;
DROP INDEX queue_all_due;
