-- Creator analytics: what the players' heartbeats add up to, per video per UTC day.
-- Beats are credited in Redis and added here in batches (like views), each batch once.
CREATE TABLE playback_daily (
    video_id        uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    day             date NOT NULL,
    -- Playbacks started: at most one per viewer per video per 30 minutes.
    views           bigint NOT NULL DEFAULT 0 CHECK (views >= 0),
    -- Viewers seen that day (anonymous viewers are told apart within a day only).
    unique_viewers  bigint NOT NULL DEFAULT 0 CHECK (unique_viewers >= 0),
    -- Playing time credited, never more per viewer than the time that passed.
    watch_ms        bigint NOT NULL DEFAULT 0 CHECK (watch_ms >= 0),
    -- Views whose playback reached 90% of the video.
    completed_views bigint NOT NULL DEFAULT 0 CHECK (completed_views >= 0),
    -- Time from the play request to the first frame, summed over the playbacks that said.
    startup_ms      bigint NOT NULL DEFAULT 0 CHECK (startup_ms >= 0),
    startups        bigint NOT NULL DEFAULT 0 CHECK (startups >= 0),
    -- Time spent stalled (rebuffering), credited like watch time.
    stall_ms        bigint NOT NULL DEFAULT 0 CHECK (stall_ms >= 0),
    PRIMARY KEY (video_id, day)
);

-- Watch time per rendition played (its height), per video per day.
CREATE TABLE playback_rendition_daily (
    video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    day      date NOT NULL,
    height   integer NOT NULL CHECK (height > 0),
    watch_ms bigint NOT NULL CHECK (watch_ms >= 0),
    PRIMARY KEY (video_id, day, height)
);

CREATE TABLE playback_batches (
    id uuid PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX playback_batches_applied_at ON playback_batches (applied_at);
