-- Accounts. Emails are stored normalised (trimmed, lower-cased) so uniqueness is exact.
CREATE TYPE user_role AS ENUM ('viewer', 'creator', 'admin');

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (email = lower(btrim(email)) AND length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    role          user_role NOT NULL DEFAULT 'creator',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
