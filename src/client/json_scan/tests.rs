//! The scanner against serde_json's `Value`: wherever it answers, it answers what the `Value` path reads from the
//! same bytes; it declines the rest. Checked on a corpus of ordinary, odd and hostile bodies and on seeded random
//! mutations of them.

use super::*;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// What the `Value` path reads: None when the bytes are not a JSON object.
fn by_value<'a>(body: &[u8], inner: &str) -> Option<Scanned<'a>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if !v.is_object() {
        return None;
    }
    let text = v
        .pointer(&format!("/choices/0/{inner}/content"))
        .and_then(Value::as_str)
        .map(|t| Cow::Owned(t.to_string()));
    Some(Scanned {
        text,
        usage: crate::client::sse::usage_counts(&v, "prompt_tokens", "completion_tokens"),
        error: v.get("error").is_some_and(|e| !e.is_null()),
    })
}

fn owned(s: Scanned<'_>) -> Scanned<'static> {
    Scanned {
        text: s.text.map(|t| Cow::Owned(t.into_owned())),
        ..s
    }
}

/// Asserts the scanner agrees or declines; true when it answered.
fn agrees(body: &[u8]) -> bool {
    let mut answered = false;
    for inner in ["message", "delta"] {
        if let Some(s) = scan(body, inner.as_bytes()) {
            answered = true;
            assert_eq!(
                Some(owned(s)),
                by_value(body, inner),
                "{inner}: {}",
                String::from_utf8_lossy(body)
            );
        }
    }
    answered
}

const CHOICES: [&str; 15] = [
    r#""choices": [{"index": 0, "message": {"role": "assistant", "content": "Your order ships today."}}]"#,
    r#""choices": [{"message": {"content": "esc \"q\" \u00e9 \n\ud83d\ude00 \/ \\ \b\f\r\t"}}, {"message": {"content": "second"}}]"#,
    r#""choices": []"#,
    r#""choices": [{"message": null}]"#,
    r#""choices": [{"message": {"content": null, "refusal": null, "tool_calls": [{"id": "c1"}]}}]"#,
    r#""choices": [{"delta": {"content": "tok"}, "finish_reason": null}]"#,
    r#""choices": [{"delta": {}}]"#,
    r#""choices": [{"message": {"content": "日本語の回答です。"}}]"#,
    r#""nested": [[[[{"deep": [1, -2.5e-3, {"x": null}, true, false]}]]]], "choices": [{"message": {"content": "after"}}]"#,
    r#""choices": null"#,
    r#""choices": [{"message": {"content": 5}}]"#,
    r#""choices": [{"message": {"content": [{"type": "text", "text": "parts"}]}}]"#,
    r#""choices": [7]"#,
    r#""choices": [{"message": {"content": "a", "content": "b"}}]"#,
    r#""choices": {"0": {"message": {"content": "map"}}}"#,
];

const USAGES: [&str; 12] = [
    "",
    r#", "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}"#,
    r#", "usage": {"prompt_tokens": 0, "completion_tokens": 18446744073709551615, "details": {"cached": 0}}"#,
    r#", "usage": {"prompt_tokens": 12}"#,
    r#", "usage": null"#,
    r#", "usage": {}"#,
    r#", "usage": {"prompt_tokens": 1.9, "completion_tokens": 1e3}"#,
    r#", "usage": {"prompt_tokens": -1, "completion_tokens": 3}"#,
    r#", "usage": {"prompt_tokens": "12", "completion_tokens": 3}"#,
    r#", "usage": {"prompt_tokens": 18446744073709551616, "completion_tokens": 1}"#,
    r#", "usage": [1, 2]"#,
    r#", "usage": {"prompt_tokens": null, "completion_tokens": 1}"#,
];

/// Every combination of the corpus: the well-typed ones (the first 9 choices x the first 6 usages) are answered,
/// and every answer is the `Value` path's.
#[test]
fn the_scanner_agrees_with_the_value_path_or_declines() {
    for (i, c) in CHOICES.iter().enumerate() {
        for (j, u) in USAGES.iter().enumerate() {
            let body = format!("{{\"id\": \"x\", {c}{u}, \"object\": \"chat.completion\"}}");
            let answered = agrees(body.as_bytes());
            if i < 9 && j < 6 {
                assert!(answered, "declined an ordinary body: {body}");
            }
        }
    }
}

#[test]
fn what_it_reads_from_an_ordinary_completion_and_chunk() {
    let body = include_bytes!("../../../bench/body.json");
    assert_eq!(
        scan(body, b"message"),
        Some(Scanned {
            text: Some(Cow::Borrowed(
                "Your order left our warehouse yesterday and should arrive tomorrow before noon."
            )),
            usage: Some((14, 13)),
            error: false,
        })
    );
    let chunk =
        br#"{"id":"c","choices":[{"index":0,"delta":{"content":"Hi \"you\"\n"}}],"usage":null}"#;
    let s = scan(chunk, b"delta").unwrap();
    assert_eq!(s.text.as_deref(), Some("Hi \"you\"\n"));
    assert!(matches!(s.text, Some(Cow::Owned(_))));
    assert_eq!(s.usage, None);
    let err = br#"{"error": {"message": "overloaded"}}"#;
    assert!(scan(err, b"delta").unwrap().error);
    assert!(!scan(br#"{"error": null}"#, b"delta").unwrap().error);
}

/// Not JSON, not an object, or JSON that serde_json refuses: declined.
#[test]
fn it_declines_what_serde_json_refuses_or_reads_otherwise() {
    let deep_ok = format!("{{\"a\": {}1{}}}", "[".repeat(90), "]".repeat(90));
    assert!(agrees(deep_ok.as_bytes()));
    let deep = format!("{{\"a\": {}1{}}}", "[".repeat(200), "]".repeat(200));
    for body in [
        "",
        "[]",
        "7",
        "\"s\"",
        "null",
        "{",
        "{} x",
        "{,}",
        "{\"a\":}",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "{\"a\":[1,]}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":1e}",
        "{\"a\":-}",
        "{\"a\":+1}",
        "{\"a\":1e400}",
        "{\"a\":-1e400}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"\x01\"}",
        "{\"choi\\u0063es\":[]}",
        "\u{feff}{}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":1}{}",
        "{\"a\":'s'}",
        deep.as_str(),
    ] {
        for inner in [b"message".as_slice(), b"delta"] {
            assert!(scan(body.as_bytes(), inner).is_none(), "{body:?}");
        }
    }
    let huge_integer = format!("{{\"a\": {}}}", "9".repeat(400));
    assert!(scan(huge_integer.as_bytes(), b"message").is_none());
    for bad_utf8 in [
        &b"{\"a\":\"\xff\"}"[..],
        b"{\"\xc3\":1}",
        b"{\"choices\":[{\"message\":{\"content\":\"\xe6\x97\"}}]}",
    ] {
        assert!(scan(bad_utf8, b"message").is_none());
    }
    // A duplicate of a key it reads: serde_json keeps the last one; declined rather than guessed.
    for dup in [
        r#"{"choices": [{"message": {"content": "a"}}], "choices": [{"message": {"content": "b"}}]}"#,
        r#"{"usage": {"prompt_tokens": 1, "completion_tokens": 2}, "usage": null}"#,
        r#"{"choices": [{"message": {"content": "a"}, "message": {"content": "b"}}]}"#,
        r#"{"usage": {"prompt_tokens": 1, "prompt_tokens": 2, "completion_tokens": 2}}"#,
    ] {
        assert!(scan(dup.as_bytes(), b"message").is_none(), "{dup}");
    }
}

/// Seeded random edits of the corpus's bodies (characters that matter to JSON inserted, replaced, deleted, spans
/// repeated): the scanner never answers otherwise than the `Value` path.
#[test]
fn mutated_bodies_never_get_another_answer() {
    const ALPHABET: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b"\\",
        b",",
        b":",
        b" ",
        b"0",
        b"1",
        b"9",
        b"-",
        b"+",
        b".",
        b"e",
        b"E",
        b"n",
        b"u",
        b"l",
        b"t",
        b"\\u",
        b"d8",
        b"\\n",
        b"null",
        b"\xc3\xa9",
        b"\xff",
        b"\x1f",
        b"\"content\"",
        b"\"usage\"",
        b"\"choices\"",
        b"\"message\"",
        b"\"delta\"",
        b"\"error\"",
    ];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    let mut seeds: Vec<Vec<u8>> = CHOICES
        .iter()
        .zip(USAGES.iter().cycle())
        .map(|(c, u)| format!("{{\"id\": \"x\", {c}{u}}}").into_bytes())
        .collect();
    seeds.push(include_bytes!("../../../bench/body.json").to_vec());
    let (mut answered, mut tried) = (0, 0);
    for _ in 0..20_000 {
        let mut b = seeds[rng.gen_range(0..seeds.len())].clone();
        for _ in 0..rng.gen_range(1..=3) {
            let at = rng.gen_range(0..=b.len());
            match rng.gen_range(0..4) {
                0 => {
                    let piece = ALPHABET[rng.gen_range(0..ALPHABET.len())];
                    b.splice(at..at, piece.iter().copied());
                }
                1 if at < b.len() => {
                    let piece = ALPHABET[rng.gen_range(0..ALPHABET.len())];
                    b.splice(at..at + 1, piece.iter().copied());
                }
                2 if at < b.len() => {
                    b.remove(at);
                }
                _ => {
                    let end = (at + rng.gen_range(1..40)).min(b.len());
                    let span = b[at..end].to_vec();
                    b.splice(at..at, span);
                }
            }
        }
        tried += 1;
        if agrees(&b) {
            answered += 1;
        }
    }
    // Enough of the mutants stay valid JSON (an edit inside a string, a digit in a number) for the comparison to
    // mean something.
    assert!(answered > tried / 20, "{answered} of {tried}");
}

/// The eight-bytes-at-a-time search finds the byte a byte-by-byte search finds, wherever it sits in the word.
#[test]
fn the_word_search_finds_the_first_special_byte() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let is = |c: u8, ascii: bool| c == b'"' || c == b'\\' || c < 0x20 || (ascii && c >= 0x80);
    for _ in 0..50_000 {
        let len = rng.gen_range(0..40);
        let s: Vec<u8> = (0..len)
            .map(|_| match rng.gen_range(0..4) {
                0 => rng.gen(),
                _ => rng.gen_range(b' '..=b'~'),
            })
            .collect();
        for ascii in [true, false] {
            let want = s.iter().position(|&c| is(c, ascii));
            assert_eq!(special_at(&s, ascii), want, "{s:?} ascii={ascii}");
        }
    }
}
