-- Videos and their lifecycle: uploading -> queued -> processing -> ready | failed.
CREATE TYPE video_status AS ENUM ('uploading', 'queued', 'processing', 'ready', 'failed');
CREATE TYPE video_visibility AS ENUM ('public', 'unlisted', 'private');

CREATE TABLE videos (
    id           uuid PRIMARY KEY,
    owner_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    visibility   video_visibility NOT NULL DEFAULT 'public',
    status       video_status NOT NULL,
    -- Why the video failed, in words a person can act on; NULL unless failed.
    error        text,
    source_bytes bigint NOT NULL CHECK (source_bytes >= 0),
    duration_s   double precision,
    width        integer,
    height       integer,
    -- [{"name":"720p","width":1280,"height":720,"bandwidth":...}], written when ready.
    renditions   jsonb NOT NULL DEFAULT '[]',
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'failed') = (error IS NOT NULL))
);

CREATE INDEX videos_owner_created ON videos (owner_id, created_at DESC);
CREATE INDEX videos_public_ready_created ON videos (created_at DESC)
    WHERE status = 'ready' AND visibility = 'public';
