-- Per-user quotas and a fair transcode queue.
--
-- An admin's override of one user's limits; a NULL column takes the configured
-- default, -1 is unlimited.
CREATE TABLE user_quotas (
    user_id              uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    upload_bytes_per_day bigint CHECK (upload_bytes_per_day >= -1),
    stored_bytes         bigint CHECK (stored_bytes >= -1),
    queued_videos        integer CHECK (queued_videos >= -1),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Every upload's bytes, charged when it is admitted (its declared or largest possible
-- size) and settled to what it stored. The last 24 hours of rows are the user's daily
-- upload; a pending row is a multipart upload still streaming, whose bytes count as
-- stored until it becomes a video. Deleting a video does not give its day back.
CREATE TABLE upload_charges (
    id         bigserial PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    upload_id  uuid NOT NULL,
    bytes      bigint NOT NULL CHECK (bytes >= 0),
    pending    boolean NOT NULL DEFAULT false,
    charged_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX upload_charges_user_day ON upload_charges (user_id, charged_at);
CREATE INDEX upload_charges_upload ON upload_charges (upload_id);

-- When each uploader last had a transcode (or a part of one) start: workers serve the
-- uploader whose turn is oldest first, so one user's backlog cannot hold up another's.
CREATE TABLE transcode_turns (
    owner_id        uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_started_at timestamptz NOT NULL
);

-- Whole-video jobs a worker may take, found without reading the finished ones.
CREATE INDEX transcode_jobs_waiting ON transcode_jobs (created_at) WHERE state IN ('queued', 'retrying', 'running');

-- What each uploader has running now: whole-video attempts, and the running parts of
-- chunked ones (a chunked job counts by its parts, not as one).
CREATE VIEW transcode_load AS
SELECT v.owner_id, count(*) AS running
FROM transcode_jobs j
JOIN videos v ON v.id = j.video_id
LEFT JOIN transcode_chunks c ON c.job_id = j.id AND c.state = 'running'
WHERE j.state = 'running'
  AND (c.job_id IS NOT NULL OR NOT EXISTS (SELECT 1 FROM transcode_chunks x WHERE x.job_id = j.id))
GROUP BY v.owner_id;
