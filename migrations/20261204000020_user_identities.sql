-- Accounts as an OpenID provider knows them: (issuer, subject) names one person at one
-- provider for good (an email address can change hands; a subject cannot), so a person
-- signed in once through single sign-on comes back to the same account.
CREATE TABLE user_identities (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issuer     text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2048),
    subject    text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);

CREATE INDEX user_identities_user ON user_identities (user_id);
