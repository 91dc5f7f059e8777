//! The hot path's reader of an OpenAI-compatible answer: `choices[0].<message|delta>.content` and `usage`'s two
//! token counts, read in one pass over the bytes while the rest of the body is checked as JSON and skipped.
//!
//! serde_json's typed deserializer took ~8,200 instructions for the bench's 366-byte completion (a key matched field
//! by field, each skipped value through a visitor), a `Value` tree ~30,000: at saturation that was a fifth of a
//! request's user-space work (bench/RESULTS.md, "Session of 2026-12-07 (sixth)"). This reader answers only for
//! bodies it reads exactly as serde_json's `Value` would, and declines (None) everything else: anything that is
//! not RFC 8259 JSON, nesting deeper than [`MAX_DEPTH`], a duplicate of a key it reads, a field it reads of an odd
//! type (content that is not a string or null, a token count that is not a whole number within u64), a lone
//! surrogate. The caller then parses the body with serde_json as before, so a declined body gets the answer, or
//! the error, it always got.

use std::borrow::Cow;

/// Deeper nesting than this is declined (serde_json refuses past 128).
const MAX_DEPTH: u32 = 100;

/// What a chat completion (or one chunk of a stream) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scanned<'a> {
    /// `choices[0].<inner>.content`: None when missing or null.
    pub(crate) text: Option<Cow<'a, str>>,
    /// `usage.prompt_tokens` and `usage.completion_tokens`: None unless both are there.
    pub(crate) usage: Option<(u64, u64)>,
    /// A top-level `error` that is not null.
    pub(crate) error: bool,
}

/// Read `body` (a JSON object) for `choices[0].<inner>.content` and `usage`, `inner` being `message` for a
/// completion and `delta` for a stream's chunk. None: the body is not one this reader answers for (see the module).
pub(crate) fn scan<'a>(body: &'a [u8], inner: &[u8]) -> Option<Scanned<'a>> {
    let mut s = Scanner { b: body, i: 0 };
    let mut text = None;
    let mut usage = None;
    let mut error = false;
    s.ws();
    s.object(|s, key| {
        match key {
            b"choices" if text.is_none() => text = Some(s.choices(inner)?),
            b"usage" if usage.is_none() => {
                usage = Some(match s.literal(b"null") {
                    Some(()) => None,
                    None => s.usage()?,
                })
            }
            // A duplicate of a key read above: serde_json's map keeps the last; decline.
            b"choices" | b"usage" => return None,
            b"error" => error |= !s.null_or_skip()?,
            _ => s.skip(0)?,
        }
        Some(())
    })?;
    s.ws();
    if s.i != body.len() {
        return None;
    }
    Some(Scanned {
        text: text.flatten(),
        usage: usage.flatten(),
        error,
    })
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i.checked_add(word.len())?;
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// An object at the cursor, `field` called with the cursor on each value (after the colon and whitespace); it
    /// must leave the cursor after the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &[u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.string()?;
            // A key with an escape is compared after unescaping by serde_json; such a body is declined.
            if key.escaped {
                return None;
            }
            self.ws();
            self.eat(b':')?;
            self.ws();
            let b = self.b;
            field(self, &b[key.start..key.end])?;
            if self.more_or_end(b'}')? {
                return Some(());
            }
        }
    }

    /// After a member or an element: `,` and whitespace (false: more follow) or `close` (true: the end).
    fn more_or_end(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = self.peek()?;
        self.i += 1;
        if c == close {
            return Some(true);
        }
        (c == b',').then(|| self.ws()).map(|()| false)
    }

    /// An array at the cursor, `item` called with the cursor on each element and its index.
    fn array(&mut self, mut item: impl FnMut(&mut Self, usize) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.ws();
        if self.eat(b']').is_some() {
            return Some(());
        }
        let mut n = 0;
        loop {
            item(self, n)?;
            n += 1;
            if self.more_or_end(b']')? {
                return Some(());
            }
        }
    }

    /// `choices`: the first element's `<inner>.content` (None: no element, or no such field).
    fn choices(&mut self, inner: &[u8]) -> Option<Option<Cow<'a, str>>> {
        let mut text = None;
        self.array(|s, n| {
            if n > 0 {
                return s.skip(1);
            }
            let mut seen = false;
            s.object(|s, key| {
                if key != inner {
                    return s.skip(2);
                }
                if std::mem::replace(&mut seen, true) {
                    return None;
                }
                if s.literal(b"null").is_some() {
                    return Some(());
                }
                let mut content_seen = false;
                s.object(|s, key| {
                    if key != b"content" {
                        return s.skip(3);
                    }
                    if std::mem::replace(&mut content_seen, true) {
                        return None;
                    }
                    text = s.text()?;
                    Some(())
                })
            })
        })?;
        Some(text)
    }

    /// `usage`: both token counts, or None when one is missing.
    fn usage(&mut self) -> Option<Option<(u64, u64)>> {
        let (mut input, mut output) = (None, None);
        self.object(|s, key| {
            let slot = match key {
                b"prompt_tokens" => &mut input,
                b"completion_tokens" => &mut output,
                _ => return s.skip(1),
            };
            if slot.is_some() {
                return None;
            }
            *slot = Some(s.count()?);
            Some(())
        })?;
        Some(input.zip(output))
    }

    /// A token count: a whole number within u64, written without fraction or exponent (anything else is declined).
    fn count(&mut self) -> Option<u64> {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        // A fraction or an exponent after the digits is declined by the object around: it wants `,` or `}` next.
        (digits == 1 || (digits > 1 && self.b[start] != b'0')).then_some(n)
    }

    /// The answer's text: a string, or null (None).
    fn text(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.literal(b"null").is_some() {
            return Some(None);
        }
        // The UTF-8 check is the conversion's: `string` would make it a second time.
        let s = self.unchecked_string()?;
        let raw = std::str::from_utf8(&self.b[s.start..s.end]).ok()?;
        if !s.escaped {
            return Some(Some(Cow::Borrowed(raw)));
        }
        Some(Some(Cow::Owned(unescape(raw)?)))
    }

    /// `null` (true), or any other value skipped (false).
    fn null_or_skip(&mut self) -> Option<bool> {
        if self.literal(b"null").is_some() {
            return Some(true);
        }
        self.skip(1)?;
        Some(false)
    }

    /// A string at the cursor, checked (escapes, no control characters, UTF-8) and stepped over.
    fn string(&mut self) -> Option<Str> {
        let s = self.unchecked_string()?;
        if !s.ascii {
            std::str::from_utf8(&self.b[s.start..s.end]).ok()?;
        }
        Some(s)
    }

    /// [`Scanner::string`] but for the UTF-8 check, which is left to the caller.
    fn unchecked_string(&mut self) -> Option<Str> {
        self.eat(b'"')?;
        let start = self.i;
        let mut escaped = false;
        let mut ascii = true;
        loop {
            self.i += special_at(&self.b[self.i..], ascii)?;
            let c = self.b[self.i];
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            self.i += 1;
                            self.unicode_escape()?;
                        }
                        _ => return None,
                    }
                }
                0x80.. => ascii = false,
                _ => return None, // a control character
            }
        }
        Some(Str {
            start,
            end: self.i - 1,
            escaped,
            ascii,
        })
    }

    /// The rest of a `\u` escape (after the `u`): four hex digits, and a surrogate pair's second half; a lone
    /// surrogate is declined.
    fn unicode_escape(&mut self) -> Option<()> {
        let hi = self.hex4()?;
        match hi {
            0xD800..=0xDBFF => {
                self.literal(b"\\u")?;
                (0xDC00..=0xDFFF).contains(&self.hex4()?).then_some(())
            }
            0xDC00..=0xDFFF => None,
            _ => Some(()),
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let end = self.i.checked_add(4)?;
        let digits = std::str::from_utf8(self.b.get(self.i..end)?).ok()?;
        if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.i = end;
        u32::from_str_radix(digits, 16).ok()
    }

    /// Any JSON value at the cursor, checked and stepped over.
    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(|s, _| s.skip(depth + 1)),
            b'[' => self.array(|s, _| s.skip(depth + 1)),
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// A number per RFC 8259: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, and one serde_json can
    /// hold: it refuses a number whose value is beyond f64 (`1e400`, a 400-digit integer), and so does this.
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let mut float = self.i - start > 18;
        if self.eat(b'.').is_some() {
            self.some_digits()?;
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.some_digits()?;
            float = true;
        }
        if float {
            // The bytes are ASCII digits and signs, checked above.
            let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
            text.parse::<f64>().ok().filter(|f| f.is_finite())?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }
}

/// Where in `s` a string's scan must stop and look: the first `"`, `\`, control character or (while `ascii`, none
/// seen yet) non-ASCII byte; None when there is none. Eight bytes at a time.
fn special_at(s: &[u8], ascii: bool) -> Option<usize> {
    use super::swar::{bytes_below, splat, zero_bytes, HIGHS};
    let non_ascii = if ascii { HIGHS } else { 0 };
    super::swar::position(
        s,
        |w| {
            zero_bytes(w ^ splat(b'"'))
                | zero_bytes(w ^ splat(b'\\'))
                | bytes_below(w, 0x20)
                | (w & non_ascii)
        },
        |c| c == b'"' || c == b'\\' || c < 0x20 || (ascii && c >= 0x80),
    )
}

/// A string's bytes between its quotes, whether they hold an escape, and whether they are all ASCII.
struct Str {
    start: usize,
    end: usize,
    escaped: bool,
    ascii: bool,
}

/// A checked string's text with its escapes resolved (the scanner has already checked every escape).
fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(k) = rest.find('\\') {
        out.push_str(&rest[..k]);
        let b = rest.as_bytes();
        let c = match *b.get(k + 1)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = u32::from_str_radix(rest.get(k + 2..k + 6)?, 16).ok()?;
                if (0xD800..=0xDBFF).contains(&hi) {
                    let lo = u32::from_str_radix(rest.get(k + 8..k + 12)?, 16).ok()?;
                    out.push(char::from_u32(
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00),
                    )?);
                    rest = &rest[k + 12..];
                } else {
                    out.push(char::from_u32(hi)?);
                    rest = &rest[k + 6..];
                }
                continue;
            }
            _ => return None,
        };
        out.push(c);
        rest = &rest[k + 2..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests;
