-- An upload carries the visibility its uploader chose until it becomes a video, which
-- is created with it: a video meant to be private is never public, not even at first.
ALTER TABLE uploads ADD COLUMN visibility video_visibility NOT NULL DEFAULT 'public';
