//! Paged lists: `?limit=&cursor=` in, `{ items, next_cursor }` out.

use serde::{Deserialize, Serialize};
use streambox_db::feeds::Cursor;
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult};

const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    limit: Option<i64>,
}

impl PageQuery {
    pub fn limit(&self) -> ApiResult<i64> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            Some(_) => Err(ApiError::invalid_field("limit", &format!("must be between 1 and {MAX_LIMIT}"))),
        }
    }

    pub fn cursor(&self) -> ApiResult<Option<Cursor>> {
        self.cursor
            .as_deref()
            .map(|raw| {
                Cursor::decode(raw).ok_or_else(|| {
                    ApiError::bad_request(codes::INVALID_CURSOR, "the cursor is not one this server gave out")
                })
            })
            .transpose()
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page of `items` fetched with `limit`: a full page may have a next one.
    pub fn of<R>(rows: Vec<R>, limit: i64, cursor_of: impl Fn(&R) -> Cursor, view: impl Fn(R) -> T) -> Self {
        let next_cursor =
            (rows.len() as i64 == limit).then(|| rows.last().map(&cursor_of)).flatten().map(Cursor::encode);
        Self { items: rows.into_iter().map(view).collect(), next_cursor }
    }
}
