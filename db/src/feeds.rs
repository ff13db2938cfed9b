//! What others may discover: feeds and search. Only public, ready videos ever appear
//! here. Feeds page by keyset (the last item's sort key and id), so a page does not
//! shift when new videos arrive between requests.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::videos::{Video, columns};
use streambox_base::ids::UserId;

/// Where the next page starts: after the item with this sort key and id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    /// The last item's sort key: its time in microseconds since the epoch, or its
    /// recent views in the popular feed.
    pub key: i64,
    /// The last item's id, which orders items with equal keys.
    pub id: Uuid,
}

impl Cursor {
    /// The opaque text a client passes back for the next page (URL-safe base64,
    /// unpadded); [`Cursor::decode`] reads it.
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.key, self.id.simple()))
    }

    /// `None` for anything that is not a cursor this server made.
    pub fn decode(raw: &str) -> Option<Self> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
        let (key, id) = text.split_once('.')?;
        Some(Self { key: key.parse().ok()?, id: Uuid::try_parse(id).ok()? })
    }

    /// The cursor after a video in a newest-first list.
    pub fn after_created(video: &Video) -> Self {
        Self { key: video.created_at.timestamp_micros(), id: video.id.0 }
    }

    /// For a list ordered by `(time, id)`: the time and id to continue after, as
    /// query parameters (both NULL for the first page).
    pub fn time_bounds(after: Option<Self>) -> (Option<DateTime<Utc>>, Option<Uuid>) {
        (after.map(|c| DateTime::from_timestamp_micros(c.key).unwrap_or_default()), after.map(|c| c.id))
    }
}

/// The newest public videos.
pub async fn latest(db: &PgPool, after: Option<Cursor>, limit: i64) -> sqlx::Result<Vec<Video>> {
    let (at, id) = Cursor::time_bounds(after);
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM videos WHERE status = 'ready' AND visibility = 'public'
           AND ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2))
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A creator's public videos, newest first.
pub async fn by_creator(db: &PgPool, creator: UserId, after: Option<Cursor>, limit: i64) -> sqlx::Result<Vec<Video>> {
    let (at, id) = Cursor::time_bounds(after);
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM videos WHERE owner_id = $1 AND status = 'ready' AND visibility = 'public'
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(creator)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Public videos of the creators `follower` follows, newest first.
pub async fn following(db: &PgPool, follower: UserId, after: Option<Cursor>, limit: i64) -> sqlx::Result<Vec<Video>> {
    let (at, id) = Cursor::time_bounds(after);
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM videos WHERE status = 'ready' AND visibility = 'public'
           AND owner_id IN (SELECT creator_id FROM follows WHERE follower_id = $1)
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(follower)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Public videos by views over the recent window (see [`refresh_popular`]), most viewed
/// first, with those views.
pub async fn popular(db: &PgPool, after: Option<Cursor>, limit: i64) -> sqlx::Result<Vec<(Video, i64)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        video: Video,
        recent_views: i64,
    }
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        ", recent_views FROM popular_videos JOIN videos ON videos.id = popular_videos.video_id
         WHERE status = 'ready' AND visibility = 'public'
           AND ($1::bigint IS NULL OR (recent_views, video_id) < ($1, $2))
         ORDER BY recent_views DESC, video_id DESC LIMIT $3"
    ))
    .bind(after.map(|c| c.key))
    .bind(after.map(|c| c.id))
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.video, r.recent_views)).collect())
}

/// How far the popular feed reaches.
const POPULAR_DEPTH: i64 = 10_000;

/// Rebuilds the popular ranking: the most viewed videos over the last `days` days.
/// One process at a time; `false` when another was already at it.
pub async fn refresh_popular(db: &PgPool, days: i32) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended('popular_videos', 0))")
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(false);
    }
    sqlx::query("DELETE FROM popular_videos").execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO popular_videos (video_id, recent_views)
         SELECT video_id, sum(views) FROM video_views_daily WHERE day > current_date - $1
         GROUP BY video_id ORDER BY sum(views) DESC, video_id DESC LIMIT $2",
    )
    .bind(days)
    .bind(POPULAR_DEPTH)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The words of a search input: runs of letters and digits (at most 16), so nothing
/// the user typed can act as query syntax; `None` when there are none.
pub fn query_words(input: &str) -> Option<Vec<String>> {
    let words: Vec<String> =
        input.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(16).map(str::to_owned).collect();
    (!words.is_empty()).then_some(words)
}

/// Whole words a typed prefix may stand for. A prefix that begins more (`1`, `s`) is
/// matched as a whole word only: as a prefix it would make the index collect nearly
/// every video (1.3 s for `1 2` on a million videos).
const EXPANSION_LIMIT: usize = 32;

/// The full-text query for `words`, all required, each as a prefix: the whole words it
/// begins (from `search_terms`), or itself alone when it begins too many of them.
/// `None` when a word begins no word at all, so nothing can match.
async fn expanded_query(db: &PgPool, words: &[String]) -> sqlx::Result<Option<String>> {
    let expansions: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT w.i, lower(w.word), t.term
         FROM unnest($1::text[]) WITH ORDINALITY AS w (word, i)
         LEFT JOIN LATERAL (
             SELECT term FROM search_terms
             WHERE term >= lower(w.word) COLLATE \"C\" AND term < (lower(w.word) || chr(1114111)) COLLATE \"C\"
             ORDER BY term LIMIT $2
         ) t ON true
         ORDER BY w.i, t.term",
    )
    .bind(words)
    .bind(EXPANSION_LIMIT as i64 + 1)
    .fetch_all(db)
    .await?;
    Ok(tsquery(&expansions))
}

/// Assembles [`expanded_query`]'s rows (word number, the word, one whole word it begins
/// or none) into tsquery text, every lexeme quoted.
fn tsquery(expansions: &[(i64, String, Option<String>)]) -> Option<String> {
    let mut clauses = Vec::new();
    for word in expansions.chunk_by(|a, b| a.0 == b.0) {
        let terms: Vec<String> = word.iter().filter_map(|(_, _, term)| term.as_deref().map(quoted)).collect();
        clauses.push(match terms.len() {
            0 => return None,
            n if n > EXPANSION_LIMIT => quoted(&word[0].1),
            _ => format!("({})", terms.join(" | ")),
        });
    }
    (!clauses.is_empty()).then(|| clauses.join(" & "))
}

/// A lexeme as tsquery text takes it literally.
fn quoted(lexeme: &str) -> String {
    format!("'{}'", lexeme.replace('\\', "\\\\").replace('\'', "''"))
}

/// How many of the newest matches are ranked: ranking every match of a common word
/// would cost in proportion to the catalogue; results reach no deeper than this.
pub const SEARCH_DEPTH: i64 = 200;
/// Newest public videos looked through first; a common word has its matches there.
pub const SEARCH_RECENT: i64 = 5000;

/// The videos in the `hits` CTE a statement starts with (id, created_at, search),
/// best first.
macro_rules! ranked_hits {
    ($hits:literal) => {
        concat!(
            "WITH ",
            $hits,
            " SELECT id FROM hits ORDER BY ts_rank(search, $1::tsquery, 1) DESC, created_at DESC, id DESC"
        )
    };
}

/// Public videos matching every one of `words` (from [`query_words`]) as a prefix, in
/// title, creator name or description, best first: title matches outrank creator, creator outranks description,
/// then newer first. The newest [`SEARCH_DEPTH`] matches are the ones ranked.
///
/// Finding them: a walk down the newest videos (cheap when the words are common, and
/// the cost does not grow with the catalogue; it reads only an index holding each
/// video's search document), or, when that walk finds too few, the full-text index
/// (cheap exactly when matches are rare). Full rows are read for the page only.
pub async fn search(db: &PgPool, words: &[String], offset: i64, limit: i64) -> sqlx::Result<Vec<Video>> {
    let Some(query) = expanded_query(db, words).await? else { return Ok(Vec::new()) };
    let mut ranked: Vec<Uuid> = sqlx::query_scalar(ranked_hits!(
        "hits AS (
             SELECT id, created_at, search FROM (
                 SELECT id, created_at, search FROM videos WHERE status = 'ready' AND visibility = 'public'
                 ORDER BY created_at DESC, id DESC LIMIT $2
             ) recent
             WHERE search @@ $1::tsquery LIMIT $3
         )"
    ))
    .bind(&query)
    .bind(SEARCH_RECENT)
    .bind(SEARCH_DEPTH)
    .fetch_all(db)
    .await?;
    if (ranked.len() as i64) < SEARCH_DEPTH {
        // Materialised: every match through the index, then the newest. Left to itself, the
        // planner may walk the date index instead, through every video, when it guesses a
        // rare conjunction of prefixes is common.
        ranked = sqlx::query_scalar(ranked_hits!(
            "matches AS MATERIALIZED (
                 SELECT id, created_at, search FROM videos
                 WHERE status = 'ready' AND visibility = 'public' AND search @@ $1::tsquery
             ),
             hits AS (SELECT * FROM matches ORDER BY created_at DESC, id DESC LIMIT $2)"
        ))
        .bind(&query)
        .bind(SEARCH_DEPTH)
        .fetch_all(db)
        .await?;
    }
    let page: Vec<Uuid> = ranked.into_iter().skip(offset as usize).take(limit as usize).collect();
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM videos JOIN unnest($1::uuid[]) WITH ORDINALITY AS page (id, position) USING (id)
         WHERE status = 'ready' AND visibility = 'public'
         ORDER BY position"
    ))
    .bind(&page)
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        let cursor = Cursor { key: 1_795_000_000_123_456, id: Uuid::new_v4() };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for junk in ["", "x", "bm90LWEtY3Vyc29y", "MTIz", "%%%"] {
            assert_eq!(Cursor::decode(junk), None, "{junk}");
        }
    }

    #[test]
    fn search_input_becomes_words_only() {
        let words = |input: &str| query_words(input).map(|w| w.join(" "));
        assert_eq!(words("Train  rides"), Some("Train rides".into()));
        assert_eq!(words("a' | !b:* & (c)"), Some("a b c".into()));
        assert_eq!(words("Zürich 2026"), Some("Zürich 2026".into()));
        assert_eq!(words(" '&|!():* "), None);
    }

    #[test]
    fn prefixes_become_the_words_they_begin_quoted_or_only_themselves_when_too_common() {
        let row = |i: i64, word: &str, term: Option<&str>| (i, word.to_owned(), term.map(str::to_owned));
        let rows = [row(1, "tra", Some("train")), row(1, "tra", Some("tram")), row(2, "o", Some("o'neil"))];
        assert_eq!(tsquery(&rows).as_deref(), Some("('train' | 'tram') & ('o''neil')"));
        assert_eq!(tsquery(&[row(1, "x", Some("a\\b"))]).as_deref(), Some("('a\\\\b')"));
        // A word that begins no word: nothing can match.
        assert_eq!(tsquery(&[row(1, "tra", Some("train")), row(2, "zzq", None)]), None);
        let begun = |n: usize| -> Vec<_> { (0..n).map(|n| row(1, "s", Some(&format!("s{n:02}")))).collect() };
        assert_eq!(tsquery(&begun(EXPANSION_LIMIT + 1)).as_deref(), Some("'s'"), "only the word itself");
        let every: Vec<String> = (0..EXPANSION_LIMIT).map(|n| format!("'s{n:02}'")).collect();
        assert_eq!(tsquery(&begun(EXPANSION_LIMIT)), Some(format!("({})", every.join(" | "))), "up to the limit, all");
    }
}
