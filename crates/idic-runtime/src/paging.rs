//! Paging of list RPCs: page-size limits and opaque page tokens.
//!
//! A token wraps a service-defined cursor (for example the sort key of the last item
//! returned), so that the next page continues after it even while items are added.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idic_proto::v1::{PageRequest, PageResponse};

use crate::error::FieldViolation;

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// A validated page request: how many items, and the cursor to continue after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub size: u32,
    pub after: Option<String>,
}

impl Page {
    /// Parses the request's `page` field (named `field` in errors).
    pub fn parse(request: Option<&PageRequest>, field: &str) -> Result<Page, FieldViolation> {
        let Some(request) = request else {
            return Ok(Page {
                size: DEFAULT_PAGE_SIZE,
                after: None,
            });
        };
        let size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            size if size > MAX_PAGE_SIZE => {
                return Err(FieldViolation::new(
                    format!("{field}.page_size"),
                    format!("must be at most {MAX_PAGE_SIZE}"),
                ));
            }
            size => size,
        };
        let after = if request.page_token.is_empty() {
            None
        } else {
            Some(decode_token(&request.page_token).ok_or_else(|| {
                FieldViolation::new(
                    format!("{field}.page_token"),
                    "is not a token this server issued",
                )
            })?)
        };
        Ok(Page { size, after })
    }

    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.size) + 1
    }
}

/// Trims `items` to the page and builds the response paging, whose token holds the
/// cursor of the last item kept.
pub fn finish_page<T>(
    page: &Page,
    mut items: Vec<T>,
    cursor_of: impl Fn(&T) -> String,
) -> (Vec<T>, PageResponse) {
    let more = items.len() > page.size as usize;
    items.truncate(page.size as usize);
    let next_page_token = match (more, items.last()) {
        (true, Some(last)) => encode_token(&cursor_of(last)),
        _ => String::new(),
    };
    (items, PageResponse { next_page_token })
}

const TOKEN_VERSION: &str = "v1:";

fn encode_token(cursor: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TOKEN_VERSION}{cursor}"))
}

fn decode_token(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(TOKEN_VERSION).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_forgeries() {
        let request = PageRequest {
            page_size: 2,
            page_token: encode_token("42|abc"),
        };
        let page = Page::parse(Some(&request), "page").unwrap();
        assert_eq!(page.after.as_deref(), Some("42|abc"));
        let forged = PageRequest {
            page_size: 2,
            page_token: "not-a-token!".into(),
        };
        let violation = Page::parse(Some(&forged), "page").unwrap_err();
        assert_eq!(violation.field, "page.page_token");
    }

    #[test]
    fn sizes_are_bounded() {
        let too_big = PageRequest {
            page_size: MAX_PAGE_SIZE + 1,
            page_token: String::new(),
        };
        assert_eq!(
            Page::parse(Some(&too_big), "page").unwrap_err().field,
            "page.page_size"
        );
        assert_eq!(Page::parse(None, "page").unwrap().size, DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn finishing_a_page_says_whether_more_follow() {
        let page = Page {
            size: 2,
            after: None,
        };
        let (items, response) = finish_page(&page, vec![1, 2, 3], |n| n.to_string());
        assert_eq!(items, [1, 2]);
        assert_eq!(
            decode_token(&response.next_page_token).as_deref(),
            Some("2")
        );
        let (items, response) = finish_page(&page, vec![1, 2], |n| n.to_string());
        assert_eq!(items, [1, 2]);
        assert!(response.next_page_token.is_empty());
    }
}
