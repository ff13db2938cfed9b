-- Every change to a video (status, visibility, deletion) is announced, so streamers
-- drop what they cached about it at once, in every process.
CREATE FUNCTION notify_video_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('streambox_video_changed', COALESCE(NEW.id, OLD.id)::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER videos_changed
    AFTER UPDATE OF status, visibility OR DELETE ON videos
    FOR EACH ROW EXECUTE FUNCTION notify_video_changed();
