//! The `meta` of a list envelope, from the page the application layer read. Cursors
//! themselves are made and checked in `app::page`.

use super::edge::RequestId;
use super::responses::ListMeta;
pub use crate::app::page::{decode, encode, page, DEFAULT_LIMIT, MAX_LIMIT};
use crate::app::page::{Keyed, Listed, Page, SortKey};

/// The `meta` of a page that `listed` describes.
pub fn list_meta<R>(listed: &Listed<R>, request_id: &RequestId) -> ListMeta {
    ListMeta {
        request_id: request_id.0.clone(),
        next_cursor: listed.next_cursor.clone(),
        has_more: listed.has_more,
        limit: listed.limit,
    }
}

pub fn meta<K: SortKey>(
    page: &Page<K>,
    rows: &[K::Row],
    has_more: bool,
    request_id: &RequestId,
) -> ListMeta {
    let next_cursor = match rows.last() {
        Some(last) if has_more => Some(encode(
            page.key,
            page.descending,
            &page.key.value_of(last),
            last.id(),
        )),
        _ => None,
    };
    ListMeta {
        request_id: request_id.0.clone(),
        next_cursor,
        has_more,
        limit: page.limit,
    }
}
