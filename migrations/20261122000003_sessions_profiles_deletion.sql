-- Creator profiles carry a bio; the display name already lives on users.
ALTER TABLE users ADD COLUMN bio text NOT NULL DEFAULT '' CHECK (length(bio) <= 2000);

-- Refresh tokens, stored only as SHA-256 hashes. Each login starts a family; every
-- refresh uses one token and issues its successor. A used token presented again means
-- it was stolen: the whole family is revoked.
CREATE TABLE refresh_tokens (
    id         uuid PRIMARY KEY,
    family_id  uuid NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- A deleted video stays as a row only while its objects are being removed.
ALTER TYPE video_status ADD VALUE 'deleted';
