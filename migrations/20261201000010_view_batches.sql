-- A batch of views moved out of Redis is added to the counts once: its id is recorded in
-- the same transaction, so a flush repeated after a failure, or by another process, adds nothing.
CREATE TABLE view_batches (
    id uuid PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX view_batches_applied_at ON view_batches (applied_at);
