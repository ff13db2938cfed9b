-- One writer per upload: a lease (the writer's token and when it lapses) on the row,
-- taken and released by single UPDATEs, instead of an advisory lock held by an open
-- transaction: no database connection waits while a client sends its body.
ALTER TABLE uploads ADD COLUMN writer uuid, ADD COLUMN writer_until timestamptz;

-- Playback tokens name the generation they were issued in. A visibility change moves
-- the video to a new one, so tokens handed out before it stop working at once.
ALTER TABLE videos ADD COLUMN playback_generation integer NOT NULL DEFAULT 0;
