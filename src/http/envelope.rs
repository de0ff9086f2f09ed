//! The contract's paged envelope: every success answers with it, a single entity too.

use serde::Serialize;
use utoipa::ToSchema;

use super::context;
use super::params::Paging;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    /// Milliseconds spent.
    #[schema(example = 3)]
    pub execution_time: u64,
    pub results: Vec<T>,
    #[schema(example = 0)]
    pub current_offset: i64,
    #[schema(example = 0)]
    pub current_page: i64,
    #[schema(example = 10)]
    pub records_requested: i64,
    #[schema(example = 1)]
    pub records_returned: i64,
    /// Present only when more records exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "/v1/users?offset=10&records=10")]
    pub next_page: Option<String>,
}

impl<T> Paged<T> {
    /// One entity, or a short list that is never paged.
    pub fn all(results: Vec<T>) -> Self {
        let n = results.len() as i64;
        Self {
            execution_time: context::elapsed_ms(),
            records_requested: n.max(1),
            records_returned: n,
            results,
            current_offset: 0,
            current_page: 0,
            next_page: None,
        }
    }

    pub fn one(result: T) -> Self {
        Self::all(vec![result])
    }

    /// A page of `paging.records` records; `more` when records exist past it.
    pub fn page(results: Vec<T>, paging: &Paging, more: bool) -> Self {
        let next_page = more.then(|| next_page_link(paging)).flatten();
        Self {
            execution_time: context::elapsed_ms(),
            records_returned: results.len() as i64,
            results,
            current_offset: paging.offset,
            current_page: paging.offset / paging.records,
            records_requested: paging.records,
            next_page,
        }
    }
}

/// The request's own path and query with `offset` moved one page on.
fn next_page_link(paging: &Paging) -> Option<String> {
    let ctx = context::current()?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    let kept = ctx.uri.query().unwrap_or("");
    for (k, v) in form_urlencoded::parse(kept.as_bytes()) {
        if k != "offset" && k != "records" {
            query.append_pair(&k, &v);
        }
    }
    query.append_pair("offset", &(paging.offset + paging.records).to_string());
    query.append_pair("records", &paging.records.to_string());
    Some(format!("{}?{}", ctx.uri.path(), query.finish()))
}
