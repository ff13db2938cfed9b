-- Caption tracks: at most one per video and language, uploaded by the owner or taken
-- from the source's own subtitles during the transcode. The text is the normalised
-- WebVTT; the published playlist and segments are made from it. Every upload takes a
-- new revision from the sequence, never reused, so segment names differ across uploads.
CREATE SEQUENCE caption_revisions;

CREATE TABLE captions (
    video_id   uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    lang       text NOT NULL CHECK (length(lang) BETWEEN 2 AND 35),
    label      text NOT NULL CHECK (length(label) BETWEEN 1 AND 64),
    source     text NOT NULL CHECK (source IN ('uploaded', 'embedded')),
    vtt        text NOT NULL,
    revision   bigint NOT NULL DEFAULT nextval('caption_revisions'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (video_id, lang)
);
