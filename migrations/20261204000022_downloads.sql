-- The downloadable MP4: whether one was published for the video (set when it is
-- finished), and whether its owner lets others download it (owners and admins always may).
ALTER TABLE videos
    ADD COLUMN has_download boolean NOT NULL DEFAULT false,
    ADD COLUMN downloadable boolean NOT NULL DEFAULT false;
