-- Uploads in progress: resumable (tus) and direct-to-storage (presigned). A row here
-- is not a video yet; it becomes one, with its job, in the step that removes it.
CREATE TABLE uploads (
    -- Also the id of the video it becomes, so object keys never change.
    id           uuid PRIMARY KEY,
    owner_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('tus', 'presigned')),
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    length       bigint NOT NULL CHECK (length > 0),
    -- Bytes stored durably: the recorded parts plus the tail object (raw/{id}/upload-tail).
    stored       bigint NOT NULL DEFAULT 0 CHECK (stored BETWEEN 0 AND length),
    tail_bytes   bigint NOT NULL DEFAULT 0 CHECK (tail_bytes >= 0),
    -- The S3 multipart upload of raw/{id}/source, once one is started.
    multipart_id text,
    -- The source object is complete; only the video row and job remain to be made.
    assembled    boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE INDEX uploads_expires ON uploads (expires_at);

CREATE TABLE upload_parts (
    upload_id   uuid NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    part_number integer NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    e_tag       text NOT NULL,
    size        bigint NOT NULL CHECK (size > 0),
    PRIMARY KEY (upload_id, part_number)
);
