-- What the transcoder learned about the upload: {duration_s, width, height, frame_rate,
-- video_codec, audio_codec, bitrate, size_bytes, has_audio}.
ALTER TABLE videos ADD COLUMN source jsonb;
-- Whether scrub previews (storyboard.jpg + storyboard.vtt) were published.
ALTER TABLE videos ADD COLUMN has_storyboard boolean NOT NULL DEFAULT false;

-- Progress of the running attempt, written with the heartbeat (so at most every few seconds).
ALTER TABLE transcode_jobs ADD COLUMN progress_percent real CHECK (progress_percent BETWEEN 0 AND 100);
ALTER TABLE transcode_jobs ADD COLUMN eta_s real CHECK (eta_s >= 0);
