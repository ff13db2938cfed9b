-- A long source is encoded in parts that any worker may take: its picture in chunks
-- of a fixed number of frames, its audio once for the whole source, and a finishing
-- step that stitches them once every other part is done. The job stays `running`
-- while its parts run; each part has its own attempts, worker, heartbeat and errors.
CREATE TYPE chunk_kind AS ENUM ('video', 'audio', 'finish');
CREATE TYPE chunk_state AS ENUM ('queued', 'running', 'retrying', 'done', 'dead');

CREATE TABLE transcode_chunks (
    job_id           uuid NOT NULL REFERENCES transcode_jobs (id) ON DELETE CASCADE,
    -- Scheduling order within the job: video chunks in time order, then the audio,
    -- then the finishing step.
    seq              integer NOT NULL CHECK (seq >= 0),
    kind             chunk_kind NOT NULL,
    -- The picture frames [first_frame, end_frame) at the ladder's constant rate; the
    -- last chunk's end_frame is NULL (to the end of the source).
    first_frame      bigint NOT NULL DEFAULT 0 CHECK (first_frame >= 0),
    end_frame        bigint CHECK (end_frame > first_frame),
    -- Where the chunk starts in the source, and how long it is, in seconds.
    start_s          double precision NOT NULL DEFAULT 0,
    duration_s       double precision NOT NULL,
    -- The number of its first HLS segment (segments are numbered across the video).
    first_segment    integer NOT NULL DEFAULT 0,
    state            chunk_state NOT NULL DEFAULT 'queued',
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    errors           jsonb NOT NULL DEFAULT '[]',
    worker           text,
    heartbeat_at     timestamptz,
    run_after        timestamptz,
    progress_percent real,
    -- What a done part produced: per rendition, its segments (name, seconds, bytes),
    -- its playlist's target duration and its codec string.
    output           jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    PRIMARY KEY (job_id, seq)
);
-- Workers claim the most urgent claimable part of any video.
CREATE INDEX transcode_chunks_claimable ON transcode_chunks (state) WHERE state IN ('queued', 'retrying', 'running');
