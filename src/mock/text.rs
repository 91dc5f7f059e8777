//! Answer text and token counting.

use rand::Rng;

/// Words an answer is made of (plain ASCII: no JSON escaping, one token each).
const VOCAB: [&str; 64] = [
    "thanks",
    "for",
    "reaching",
    "out",
    "your",
    "order",
    "is",
    "on",
    "its",
    "way",
    "and",
    "should",
    "arrive",
    "within",
    "two",
    "business",
    "days",
    "we",
    "have",
    "issued",
    "a",
    "refund",
    "to",
    "the",
    "original",
    "payment",
    "method",
    "please",
    "check",
    "email",
    "inbox",
    "confirmation",
    "you",
    "can",
    "reset",
    "password",
    "from",
    "account",
    "settings",
    "page",
    "our",
    "support",
    "team",
    "will",
    "contact",
    "shortly",
    "tracking",
    "number",
    "shows",
    "package",
    "left",
    "warehouse",
    "today",
    "if",
    "anything",
    "else",
    "let",
    "me",
    "know",
    "happy",
    "help",
    "invoice",
    "updated",
    "now",
];

const FOLLOW_UPS: [&str; 6] = [
    "Can I track my order?",
    "How long does a refund take?",
    "Can I talk to a human agent?",
    "Where can I download my invoice?",
    "How do I change my delivery address?",
    "What is your return policy?",
];

pub(crate) fn word<R: Rng + ?Sized>(rng: &mut R) -> &'static str {
    VOCAB[rng.gen_range(0..VOCAB.len())]
}

/// `n` words separated by single spaces.
pub(crate) fn answer<R: Rng + ?Sized>(rng: &mut R, n: u32) -> String {
    let mut s = String::with_capacity(n as usize * 8);
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(word(rng));
    }
    s
}

pub(crate) fn follow_up<R: Rng + ?Sized>(rng: &mut R) -> &'static str {
    FOLLOW_UPS[rng.gen_range(0..FOLLOW_UPS.len())]
}

/// The documented prompt-token count of one message: whitespace words + 4.
pub(crate) fn message_tokens(content: &str) -> u32 {
    content.split_whitespace().count() as u32 + 4
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A JSON string literal (with quotes).
pub(crate) fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}
