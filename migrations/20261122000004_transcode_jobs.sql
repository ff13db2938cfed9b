-- The operator's record of every transcode job. Redis (apalis) only carries the
-- deliveries; attempts, errors, backoff and the dead-letter state live here.
CREATE TYPE job_state AS ENUM ('queued', 'running', 'retrying', 'dead', 'done', 'discarded');

CREATE TABLE transcode_jobs (
    id           uuid PRIMARY KEY,
    video_id     uuid NOT NULL UNIQUE REFERENCES videos (id) ON DELETE CASCADE,
    state        job_state NOT NULL,
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL CHECK (max_attempts > 0),
    -- One entry per failed attempt: {"attempt", "at", "error", "permanent"}.
    errors       jsonb NOT NULL DEFAULT '[]',
    -- The worker running it, and when that worker last showed it was alive.
    worker       text,
    heartbeat_at timestamptz,
    -- When a retrying job runs next.
    run_after    timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE INDEX transcode_jobs_state_updated ON transcode_jobs (state, updated_at DESC);

-- Videos uploaded before this migration get a job matching their state.
INSERT INTO transcode_jobs (id, video_id, state, attempts, max_attempts, errors, finished_at)
SELECT gen_random_uuid(), id,
       CASE status WHEN 'queued' THEN 'queued' WHEN 'processing' THEN 'running'
                   WHEN 'ready' THEN 'done' ELSE 'dead' END::job_state,
       attempts, GREATEST(attempts, 3),
       CASE WHEN error IS NULL THEN '[]'::jsonb
            ELSE jsonb_build_array(jsonb_build_object('attempt', attempts, 'at', updated_at, 'error', error, 'permanent', true)) END,
       CASE WHEN status IN ('ready', 'failed') THEN updated_at END
FROM videos WHERE status IN ('queued', 'processing', 'ready', 'failed');

-- Attempts are counted on the job now.
ALTER TABLE videos DROP COLUMN attempts;
