-- Search walks the newest public videos first (feeds::search). With the search document
-- in the index, that walk reads only the index: no table page per video looked at.
CREATE INDEX videos_public_recent_search ON videos (created_at DESC, id DESC) INCLUDE (search)
    WHERE status = 'ready' AND visibility = 'public';

-- The walk skips the table only on pages the visibility map marks all-visible, and view
-- counts are flushed into videos rows: vacuum this table after 2% of it changed (the
-- default waits for 20%), so recently viewed pages are marked again soon.
ALTER TABLE videos SET (autovacuum_vacuum_scale_factor = 0.02);

-- Every word that occurs in a search document, so that a prefix the user typed becomes
-- the few whole words it stands for. The full-text index matches whole words by walking
-- their lists together; a prefix makes it collect every match of every word with that
-- prefix first (five times the work for two common prefixes with no match in common).
-- Words of changed or deleted videos stay: a word nothing matches costs nothing.
CREATE TABLE search_terms (term text COLLATE "C" PRIMARY KEY);

CREATE FUNCTION search_terms_add() RETURNS trigger AS $$
BEGIN
    INSERT INTO search_terms (term) SELECT unnest(tsvector_to_array(NEW.search)) ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER videos_search_terms_insert AFTER INSERT ON videos
    FOR EACH ROW EXECUTE FUNCTION search_terms_add();
CREATE TRIGGER videos_search_terms_update AFTER UPDATE ON videos
    FOR EACH ROW WHEN (OLD.search IS DISTINCT FROM NEW.search) EXECUTE FUNCTION search_terms_add();

INSERT INTO search_terms (term) SELECT DISTINCT unnest(tsvector_to_array(search)) FROM videos;
