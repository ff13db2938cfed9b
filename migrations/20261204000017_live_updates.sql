-- no-transaction
-- The live-updates hub reads every video still on its way (uploading, queued,
-- processing) once a second while anyone listens: a small partial index keeps that
-- read proportional to the videos in flight, not to the catalogue. Built concurrently
-- (outside a transaction), so uploads and encodes go on while it is built.
CREATE INDEX CONCURRENTLY IF NOT EXISTS videos_in_flight ON videos (owner_id)
    WHERE status IN ('uploading', 'queued', 'processing');
