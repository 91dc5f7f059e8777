//! Tests written against the mutants of [`super::attempt`] (docs/mutants.md): the CSV names of the failure kinds, which
//! kinds count against availability and which are retried, and the bounded answer an attempt keeps.

use std::time::{Duration, Instant};

use super::attempt::{Attempt, ErrorKind, DEFAULT_ANSWER_BYTES};

/// Every kind with the name `requests.csv` gives it (PROTOCOLS.md).
fn named_kinds() -> Vec<(ErrorKind, &'static str)> {
    vec![
        (ErrorKind::Http(503), "http_503"),
        (ErrorKind::Redirect(0), "redirect"),
        (ErrorKind::RateLimited, "rate_limited"),
        (ErrorKind::Envelope(-7), "envelope_-7"),
        (ErrorKind::ChatFailed, "chat_failed"),
        (ErrorKind::StreamError, "stream_error"),
        (ErrorKind::StreamCut, "stream_cut"),
        (ErrorKind::MalformedJson, "malformed_json"),
        (ErrorKind::WrongContentType, "wrong_content_type"),
        (ErrorKind::OversizeBody, "oversize_body"),
        (ErrorKind::Timeout, "timeout"),
        (ErrorKind::Connect, "connect"),
        (ErrorKind::NoResponse, "no_response"),
        (ErrorKind::BodyInterrupted, "body_interrupted"),
        (ErrorKind::Cancelled, "cancelled"),
    ]
}

#[test]
fn every_kind_reads_back_from_its_csv_name() {
    for (kind, name) in named_kinds() {
        assert_eq!(kind.as_str(), name);
        assert_eq!(ErrorKind::from_csv(name), Some(kind), "{name}");
    }
    // A redirect's status is not in its name.
    assert_eq!(
        ErrorKind::from_csv(&ErrorKind::Redirect(308).as_str()),
        Some(ErrorKind::Redirect(0))
    );
    assert_eq!(ErrorKind::from_csv("timeouts"), None);
}

#[test]
fn unavailability_is_server_and_transport_failures_and_exhausted_429s() {
    let unavailable = [500, 503, 599, 408, 429];
    let client_side = [400, 401, 404, 409, 499];
    for s in unavailable {
        assert!(ErrorKind::Http(s).is_unavailability(), "{s}");
    }
    for s in client_side {
        assert!(!ErrorKind::Http(s).is_unavailability(), "{s}");
    }
    // A Coze envelope error is the caller's mistake; a cancellation is ours.
    assert!(!ErrorKind::Envelope(4016).is_unavailability());
    assert!(!ErrorKind::Cancelled.is_unavailability());
    for (kind, _) in named_kinds() {
        let expected = !matches!(kind, ErrorKind::Envelope(_) | ErrorKind::Cancelled);
        assert_eq!(kind.is_unavailability(), expected, "{kind:?}");
    }
}

#[test]
fn retries_follow_the_openai_sdk() {
    // 408, 409, 5xx, timeouts and connection failures only when server errors are retried; 429 always.
    for s in [408, 409, 500, 502, 599] {
        assert!(ErrorKind::Http(s).retryable(true), "{s}");
        assert!(!ErrorKind::Http(s).retryable(false), "{s}");
    }
    for s in [400, 401, 404, 410, 499] {
        assert!(!ErrorKind::Http(s).retryable(true), "{s}");
    }
    for k in [
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::NoResponse,
    ] {
        assert!(k.retryable(true), "{k:?}");
        assert!(!k.retryable(false), "{k:?}");
    }
    assert!(ErrorKind::RateLimited.retryable(false));
    for k in [
        ErrorKind::StreamCut,
        ErrorKind::MalformedJson,
        ErrorKind::Envelope(4016),
        ErrorKind::BodyInterrupted,
        ErrorKind::Cancelled,
    ] {
        assert!(!k.retryable(true), "{k:?}");
    }
}

#[test]
fn an_attempt_keeps_64_kib_of_answer_by_default() {
    assert_eq!(DEFAULT_ANSWER_BYTES, 65_536);
    let mut a = Attempt::new(Instant::now());
    a.push_answer(&"ab".repeat(35_000));
    assert_eq!((a.answer.len(), a.answer_bytes), (65_536, 70_000));
}

#[test]
fn with_no_answer_kept_the_estimate_is_zero() {
    let mut a = Attempt::new(Instant::now()).with_answer_cap(0);
    a.push_answer("five bytes");
    assert_eq!((a.answer.as_str(), a.answer_bytes), ("", 10));
    assert_eq!(a.estimated_output_tokens(), 0);
}

#[test]
fn a_restarted_attempt_times_from_its_new_send() {
    let t0 = Instant::now();
    let mut a = Attempt::new(t0);
    a.restart(t0 + Duration::from_secs(1));
    a.content(t0 + Duration::from_millis(1100), "hi");
    assert_eq!(a.sent, t0 + Duration::from_secs(1));
    assert_eq!(a.timer.ttft(), Some(Duration::from_millis(100)));
}

#[test]
fn only_an_attempt_without_error_is_ok() {
    let t0 = Instant::now();
    let a = Attempt::new(t0);
    assert!(a.ok());
    let f = a.fail(ErrorKind::Timeout, "slow");
    assert!(!f.ok());
    assert_eq!(
        (f.error, f.detail.as_deref()),
        (Some(ErrorKind::Timeout), Some("slow"))
    );
    assert!(f.done >= t0);
}
