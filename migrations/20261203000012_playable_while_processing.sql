-- A video becomes playable while it is still being encoded: once every rendition has
-- its first segment and the master is published. Ready videos are playable.
ALTER TABLE videos ADD COLUMN playable boolean NOT NULL DEFAULT false;
UPDATE videos SET playable = true WHERE status = 'ready';

-- Streamers cache who may watch a video: becoming playable is a change they must hear of.
DROP TRIGGER videos_changed ON videos;
CREATE TRIGGER videos_changed
    AFTER UPDATE OF status, visibility, playable OR DELETE ON videos
    FOR EACH ROW EXECUTE FUNCTION notify_video_changed();
