-- What a customer reads for a system entry ("Closed", "Alice is looking into this"), decided when
-- the change is made; NULL = agents only (priority changes, internal status moves, alerts).
ALTER TABLE entries ADD COLUMN customer_text TEXT;
