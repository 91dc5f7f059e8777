//! Cursor paging of a conversation's message list, as the Coze API and its SDK pager use it: the listing order is
//! `desc` (newest first, the default) or `asc`; `after_id` continues after a message in that order (the SDK passes the
//! previous page's `last_id`), `before_id` goes back to the messages before one; `has_more` says whether messages are
//! left beyond the page in the direction of travel. Message ids grow with time, so a cursor that names a message
//! already forgotten still places the page correctly.

/// A page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageReq {
    pub(crate) asc: bool,
    pub(crate) before: Option<u64>,
    pub(crate) after: Option<u64>,
    /// 1..=50.
    pub(crate) limit: usize,
}

/// The page of `items` (in ascending id order) and whether more are left beyond it.
pub(crate) fn page<T>(items: &[T], id: impl Fn(&T) -> u64, req: PageReq) -> (Vec<&T>, bool) {
    let ordered: Vec<&T> = if req.asc {
        items.iter().collect()
    } else {
        items.iter().rev().collect()
    };
    // `a` comes after `b` in the listing order.
    let later = |a: u64, b: u64| if req.asc { a > b } else { a < b };
    let limit = req.limit.max(1);
    if let Some(after) = req.after {
        let rest: Vec<&T> = ordered
            .into_iter()
            .filter(|t| later(id(t), after))
            .collect();
        let more = rest.len() > limit;
        (rest.into_iter().take(limit).collect(), more)
    } else if let Some(before) = req.before {
        let head: Vec<&T> = ordered
            .into_iter()
            .filter(|t| later(before, id(t)))
            .collect();
        let skip = head.len().saturating_sub(limit);
        (head.into_iter().skip(skip).collect(), skip > 0)
    } else {
        let more = ordered.len() > limit;
        (ordered.into_iter().take(limit).collect(), more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(req: PageReq) -> (Vec<u64>, bool) {
        let items: Vec<u64> = (1..=7).collect();
        let (p, more) = page(&items, |x| *x, req);
        (p.into_iter().copied().collect(), more)
    }

    fn req(asc: bool, before: Option<u64>, after: Option<u64>, limit: usize) -> PageReq {
        PageReq {
            asc,
            before,
            after,
            limit,
        }
    }

    #[test]
    fn desc_pages_follow_last_id_to_the_end() {
        assert_eq!(ids(req(false, None, None, 3)), (vec![7, 6, 5], true));
        assert_eq!(ids(req(false, None, Some(5), 3)), (vec![4, 3, 2], true));
        assert_eq!(ids(req(false, None, Some(2), 3)), (vec![1], false));
        assert_eq!(ids(req(false, None, Some(1), 3)), (vec![], false));
    }

    #[test]
    fn asc_pages_and_before_id() {
        assert_eq!(ids(req(true, None, None, 3)), (vec![1, 2, 3], true));
        assert_eq!(ids(req(true, None, Some(3), 3)), (vec![4, 5, 6], true));
        assert_eq!(ids(req(true, None, Some(6), 3)), (vec![7], false));
        // Before 6 in ascending order: the three just before it, and more further back.
        assert_eq!(ids(req(true, Some(6), None, 3)), (vec![3, 4, 5], true));
        // Before 3 in descending order: the newer ones, nearest to 3 last.
        assert_eq!(ids(req(false, Some(3), None, 3)), (vec![6, 5, 4], true));
        assert_eq!(ids(req(false, Some(5), None, 3)), (vec![7, 6], false));
    }
}
