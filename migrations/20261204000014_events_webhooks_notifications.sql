-- Events out: a transactional outbox. Every state change that matters is recorded by a
-- trigger in the transaction that makes it, so no code path can change a video, a
-- comment, a follow, a job or an upload without its event, and no event exists for a
-- change that rolled back. The same step creates one delivery per subscribed webhook
-- endpoint and the in-app notifications; senders on any process deliver them at least
-- once (streambox-events).

CREATE TABLE events (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Allocated while the change holds its row lock, so the events of one video are
    -- numbered in the order they happened.
    seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    type        text NOT NULL,
    -- The record the event is about (video, comment, upload, job, webhook endpoint).
    resource_id uuid NOT NULL,
    -- The video it concerns, if any: deliveries of one video's events keep their order.
    video_id    uuid,
    -- Whose it is: that user's endpoints receive it (unless admin_only).
    owner_id    uuid,
    -- Operator events (a dead job, a failing endpoint) go to administrators' endpoints only.
    admin_only  boolean NOT NULL DEFAULT false,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_created ON events (created_at);

CREATE TABLE webhook_endpoints (
    id                    uuid PRIMARY KEY,
    owner_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url                   text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events                text[] NOT NULL CHECK (cardinality(events) > 0),
    -- An administrator's endpoint for every user's events (and operator events).
    all_users             boolean NOT NULL DEFAULT false,
    enabled               boolean NOT NULL DEFAULT true,
    secret                text NOT NULL,
    -- After a rotation, deliveries are signed with both secrets until this time.
    previous_secret       text,
    previous_secret_until timestamptz,
    -- Set when a delivery gave up after its whole retry window; cleared by a success.
    failing_since         timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner_id, created_at);

CREATE TYPE delivery_state AS ENUM ('pending', 'delivered', 'failed');

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    -- The event's seq and ordering key (its video, else the event itself): a delivery
    -- is sent only once every earlier pending one of the same endpoint and key is done.
    seq             bigint NOT NULL,
    order_key       uuid NOT NULL,
    state           delivery_state NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A sender holds the delivery until then; a sender that dies loses it.
    lease_until     timestamptz,
    -- When it was last put on the Redis queue; one pushed long ago and never taken
    -- (Redis lost it) is pushed again.
    pushed_at       timestamptz,
    last_status     integer,
    last_latency_ms integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX webhook_deliveries_chain ON webhook_deliveries (endpoint_id, order_key, seq) WHERE state = 'pending';
-- The relay reads each endpoint's pending deliveries oldest first, and counts the few
-- that are queued or being sent.
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (endpoint_id, seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_outstanding ON webhook_deliveries (endpoint_id)
    WHERE state = 'pending' AND (lease_until IS NOT NULL OR pushed_at IS NOT NULL);
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (endpoint_id, created_at DESC);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE notifications (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    video_id   uuid REFERENCES videos (id) ON DELETE CASCADE,
    actor_id   uuid REFERENCES users (id) ON DELETE CASCADE,
    comment_id uuid REFERENCES comments (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at    timestamptz
);
CREATE INDEX notifications_inbox ON notifications (user_id, (read_at IS NULL) DESC, created_at DESC);
CREATE INDEX notifications_created ON notifications (created_at);
-- Followers hear of a video once, however often it goes private and public again.
CREATE UNIQUE INDEX notifications_published_once ON notifications (user_id, video_id) WHERE kind = 'video.published';

-- Records an event and its deliveries: one per enabled endpoint subscribed to its type
-- that is its owner's or an administrator's for all users.
CREATE FUNCTION record_event(kind text, resource uuid, video uuid, owner uuid, operator_only boolean, payload jsonb)
RETURNS void AS $$
DECLARE
    event events;
BEGIN
    INSERT INTO events (type, resource_id, video_id, owner_id, admin_only, data)
    VALUES (kind, resource, video, owner, operator_only, payload)
    RETURNING * INTO event;
    INSERT INTO webhook_deliveries (endpoint_id, event_id, seq, order_key)
    SELECT e.id, event.id, event.seq, COALESCE(video, event.id)
    FROM webhook_endpoints e JOIN users u ON u.id = e.owner_id
    WHERE e.enabled AND kind = ANY (e.events)
      AND ((e.all_users AND u.role = 'admin') OR (NOT operator_only AND e.owner_id = owner));
    IF FOUND THEN
        PERFORM pg_notify('streambox_webhooks', '');
    END IF;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION video_event_body(v videos) RETURNS jsonb AS $$
    SELECT jsonb_build_object(
        'id', v.id, 'owner_id', v.owner_id, 'title', v.title, 'description', v.description,
        'visibility', v.visibility, 'status', v.status, 'playable', v.playable, 'error', v.error,
        'duration_s', v.duration_s, 'width', v.width, 'height', v.height,
        'created_at', v.created_at, 'updated_at', v.updated_at)
$$ LANGUAGE sql STABLE;

CREATE FUNCTION video_events() RETURNS trigger AS $$
DECLARE
    body    jsonb := jsonb_build_object('video', video_event_body(NEW));
    changes text[] := '{}';
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM record_event('video.created', NEW.id, NEW.id, NEW.owner_id, false, body);
        RETURN NULL;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NEW.status = 'processing' THEN
        PERFORM record_event('video.processing', NEW.id, NEW.id, NEW.owner_id, false, body);
    END IF;
    IF NEW.playable AND NOT OLD.playable AND NEW.status IN ('processing', 'ready') THEN
        PERFORM record_event('video.playable', NEW.id, NEW.id, NEW.owner_id, false, body);
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        CASE NEW.status
            WHEN 'ready' THEN
                PERFORM record_event('video.ready', NEW.id, NEW.id, NEW.owner_id, false, body);
                INSERT INTO notifications (user_id, kind, video_id) VALUES (NEW.owner_id, 'video.ready', NEW.id);
            WHEN 'failed' THEN
                PERFORM record_event('video.failed', NEW.id, NEW.id, NEW.owner_id, false, body);
                INSERT INTO notifications (user_id, kind, video_id) VALUES (NEW.owner_id, 'video.failed', NEW.id);
            WHEN 'deleted' THEN
                PERFORM record_event('video.deleted', NEW.id, NEW.id, NEW.owner_id, false, body);
            ELSE
        END CASE;
    END IF;
    IF NEW.status <> 'deleted' THEN
        IF NEW.title IS DISTINCT FROM OLD.title THEN changes := changes || 'title'::text; END IF;
        IF NEW.description IS DISTINCT FROM OLD.description THEN changes := changes || 'description'::text; END IF;
        IF NEW.visibility IS DISTINCT FROM OLD.visibility THEN changes := changes || 'visibility'::text; END IF;
        IF cardinality(changes) > 0 THEN
            PERFORM record_event('video.updated', NEW.id, NEW.id, NEW.owner_id, false,
                                 body || jsonb_build_object('changes', to_jsonb(changes)));
        END IF;
    END IF;
    -- A public video becomes ready, or a ready one public: its creator's followers hear of it.
    IF NEW.status = 'ready' AND NEW.visibility = 'public'
       AND (OLD.status IS DISTINCT FROM 'ready' OR OLD.visibility IS DISTINCT FROM 'public') THEN
        INSERT INTO notifications (user_id, kind, video_id, actor_id)
        SELECT f.follower_id, 'video.published', NEW.id, NEW.owner_id FROM follows f WHERE f.creator_id = NEW.owner_id
        ON CONFLICT (user_id, video_id) WHERE kind = 'video.published' DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER videos_events_insert AFTER INSERT ON videos
    FOR EACH ROW EXECUTE FUNCTION video_events();
-- Only the columns events tell of: view-count flushes and the like pay nothing.
CREATE TRIGGER videos_events_update AFTER UPDATE ON videos
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.playable IS DISTINCT FROM NEW.playable
                       OR OLD.title IS DISTINCT FROM NEW.title OR OLD.description IS DISTINCT FROM NEW.description
                       OR OLD.visibility IS DISTINCT FROM NEW.visibility)
    EXECUTE FUNCTION video_events();

CREATE FUNCTION comment_events() RETURNS trigger AS $$
DECLARE
    video_owner   uuid;
    parent_author uuid;
BEGIN
    SELECT owner_id INTO video_owner FROM videos WHERE id = NEW.video_id;
    PERFORM record_event('comment.created', NEW.id, NEW.video_id, video_owner, false, jsonb_build_object(
        'comment', jsonb_build_object('id', NEW.id, 'video_id', NEW.video_id, 'author_id', NEW.author_id,
                                      'parent_id', NEW.parent_id, 'body', NEW.body, 'created_at', NEW.created_at)));
    IF NEW.parent_id IS NOT NULL THEN
        SELECT author_id INTO parent_author FROM comments WHERE id = NEW.parent_id;
    END IF;
    IF parent_author IS NOT NULL AND parent_author <> NEW.author_id THEN
        INSERT INTO notifications (user_id, kind, video_id, actor_id, comment_id)
        VALUES (parent_author, 'comment.reply', NEW.video_id, NEW.author_id, NEW.id);
    END IF;
    IF video_owner <> NEW.author_id AND video_owner IS DISTINCT FROM parent_author THEN
        INSERT INTO notifications (user_id, kind, video_id, actor_id, comment_id)
        VALUES (video_owner, 'comment.created', NEW.video_id, NEW.author_id, NEW.id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER comments_events AFTER INSERT ON comments
    FOR EACH ROW EXECUTE FUNCTION comment_events();

CREATE FUNCTION follow_events() RETURNS trigger AS $$
BEGIN
    PERFORM record_event('follow.created', NEW.creator_id, NULL, NEW.creator_id, false, jsonb_build_object(
        'follow', jsonb_build_object('follower_id', NEW.follower_id, 'creator_id', NEW.creator_id,
                                     'created_at', NEW.created_at)));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER follows_events AFTER INSERT ON follows
    FOR EACH ROW EXECUTE FUNCTION follow_events();

-- An unfinished upload removed after its expiry (a user's own cancellation is no event).
CREATE FUNCTION upload_expired_event() RETURNS trigger AS $$
BEGIN
    PERFORM record_event('upload.expired', OLD.id, NULL, OLD.owner_id, false, jsonb_build_object(
        'upload', jsonb_build_object('id', OLD.id, 'owner_id', OLD.owner_id, 'kind', OLD.kind, 'title', OLD.title,
                                     'length', OLD.length, 'stored', OLD.stored, 'created_at', OLD.created_at,
                                     'expires_at', OLD.expires_at)));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER uploads_expired AFTER DELETE ON uploads
    FOR EACH ROW WHEN (NOT OLD.assembled AND OLD.expires_at <= now())
    EXECUTE FUNCTION upload_expired_event();

CREATE FUNCTION job_dead_event() RETURNS trigger AS $$
DECLARE
    video_owner uuid;
BEGIN
    SELECT owner_id INTO video_owner FROM videos WHERE id = NEW.video_id;
    PERFORM record_event('job.dead', NEW.id, NEW.video_id, video_owner, true, jsonb_build_object(
        'job', jsonb_build_object('id', NEW.id, 'video_id', NEW.video_id, 'attempts', NEW.attempts,
                                  'error', NEW.errors -> -1 ->> 'error')));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER transcode_jobs_dead AFTER UPDATE ON transcode_jobs
    FOR EACH ROW WHEN (NEW.state = 'dead' AND OLD.state IS DISTINCT FROM 'dead')
    EXECUTE FUNCTION job_dead_event();
