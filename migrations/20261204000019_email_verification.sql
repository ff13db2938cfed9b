-- Email verification and password reset. A user's address is verified once they
-- follow a link mailed to it. Accounts made before verification existed were never
-- asked; they count as verified, so turning the requirement on does not stop their
-- uploads.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
UPDATE users SET email_verified_at = created_at;

-- The links mailed for verifying an address and for resetting a password. Only a
-- SHA-256 hash of each link's token is kept, so a copy of this table opens nothing.
-- A link works once (used_at) and until it expires; `email` is the address it was
-- mailed to, which a verification must still match.
CREATE TABLE email_links (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    email      text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_links_user ON email_links (user_id, purpose);
