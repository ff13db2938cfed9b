-- A resumable or direct upload's choice of encryption, made when it is created: the
-- sealed segment key of the video it becomes (as videos.segment_key), NULL for a video
-- served in the clear.
ALTER TABLE uploads ADD COLUMN segment_key bytea;
