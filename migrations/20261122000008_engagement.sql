-- Engagement and discovery: likes, comments, watch history, follows, view counts,
-- and full-text search over videos.

CREATE TABLE likes (
    video_id   uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- One like per user per video; counting a video's likes reads this index only.
    PRIMARY KEY (video_id, user_id)
);

CREATE TABLE comments (
    id         uuid PRIMARY KEY,
    video_id   uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    author_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Replies are one level deep: a reply's parent is a top-level comment.
    parent_id  uuid REFERENCES comments (id) ON DELETE CASCADE,
    body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    created_at timestamptz NOT NULL DEFAULT now(),
    edited_at  timestamptz
);

CREATE INDEX comments_top_level ON comments (video_id, created_at DESC, id DESC) WHERE parent_id IS NULL;
CREATE INDEX comments_replies ON comments (parent_id, created_at, id) WHERE parent_id IS NOT NULL;

CREATE TABLE watch_history (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    video_id   uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    position_s double precision NOT NULL CHECK (position_s >= 0),
    watched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, video_id)
);

CREATE INDEX watch_history_recent ON watch_history (user_id, watched_at DESC, video_id DESC);

CREATE TABLE follows (
    follower_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    creator_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, creator_id),
    CHECK (follower_id <> creator_id)
);

CREATE INDEX follows_followers ON follows (creator_id, created_at DESC, follower_id DESC);
CREATE INDEX follows_following ON follows (follower_id, created_at DESC, creator_id DESC);

-- Views arrive in Redis and are added here in batches.
ALTER TABLE videos ADD COLUMN view_count bigint NOT NULL DEFAULT 0;

CREATE TABLE video_views_daily (
    video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    day      date NOT NULL,
    views    bigint NOT NULL CHECK (views >= 0),
    PRIMARY KEY (day, video_id)
);

-- The popular feed's ranking, rebuilt periodically from the daily counts (summing
-- millions of rows per request would not do).
CREATE TABLE popular_videos (
    video_id     uuid PRIMARY KEY REFERENCES videos (id) ON DELETE CASCADE,
    recent_views bigint NOT NULL
);

CREATE INDEX popular_videos_rank ON popular_videos (recent_views DESC, video_id DESC);

-- Search: title (weight A), creator name (B), description (C); kept current by triggers
-- on both tables. The 'simple' configuration: no language guesses, prefix matching works
-- on the words as written.
ALTER TABLE videos ADD COLUMN search tsvector NOT NULL DEFAULT ''::tsvector;

CREATE FUNCTION video_search_document(title text, description text, owner uuid) RETURNS tsvector AS $$
    SELECT setweight(to_tsvector('simple', title), 'A')
        || setweight(to_tsvector('simple', coalesce((SELECT display_name FROM users WHERE id = owner), '')), 'B')
        || setweight(to_tsvector('simple', description), 'C');
$$ LANGUAGE sql STABLE;

CREATE FUNCTION videos_search_refresh() RETURNS trigger AS $$
BEGIN
    NEW.search := video_search_document(NEW.title, NEW.description, NEW.owner_id);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER videos_search
    BEFORE INSERT OR UPDATE OF title, description, owner_id ON videos
    FOR EACH ROW EXECUTE FUNCTION videos_search_refresh();

CREATE FUNCTION users_rename_refreshes_search() RETURNS trigger AS $$
BEGIN
    UPDATE videos SET search = video_search_document(title, description, owner_id) WHERE owner_id = NEW.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_rename_search
    AFTER UPDATE OF display_name ON users
    FOR EACH ROW WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name)
    EXECUTE FUNCTION users_rename_refreshes_search();

UPDATE videos SET search = video_search_document(title, description, owner_id);

CREATE INDEX videos_search ON videos USING gin (search) WHERE status = 'ready' AND visibility = 'public';
-- Feeds: keyset pagination over public ready videos.
CREATE INDEX videos_public_owner_created ON videos (owner_id, created_at DESC, id DESC)
    WHERE status = 'ready' AND visibility = 'public';
DROP INDEX videos_public_ready_created;
CREATE INDEX videos_public_ready_created ON videos (created_at DESC, id DESC)
    WHERE status = 'ready' AND visibility = 'public';
