-- An encrypted video's AES-128 segment key, sealed with the server's key-encryption key
-- (a nonce, the AES-256-GCM ciphertext and its tag); NULL for a video served in the clear.
ALTER TABLE videos ADD COLUMN segment_key bytea;
