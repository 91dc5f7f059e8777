//! `report.html`: the Markdown report rendered with pulldown-cmark (tables on) into one self-contained page: the
//! charts are inlined as SVG (no file, no network needed to read it), the decision banner is styled by outcome
//! (with its text, never colour alone) and PASS / FAIL / NO DATA cells are coloured.

use crate::measure::decision::DecisionKind;

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}\
code{background:#f5f5f5;padding:0 .2em;white-space:nowrap}td:first-child,td:nth-child(2){white-space:nowrap}\
blockquote{border-left:6px solid #888;margin:0;padding:.5em 1em;background:#f6f6f6}\
blockquote.decision.safe{border-color:#1a7f37;background:#e9f7ee}\
blockquote.decision.not-safe{border-color:#c62828;background:#fdecea}\
blockquote.decision.undecided{border-color:#b26a00;background:#fff4e0}\
td.pass{background:#e9f7ee;color:#1a5e2a;font-weight:600}td.fail{background:#fdecea;color:#9b1c1c;font-weight:600}\
td.nodata{background:#fff4e0;color:#7a4a00;font-weight:600}\
figure{margin:1em 0}figure svg{max-width:100%;height:auto;display:block}";

/// The page for `md`, with `charts` ((file name, SVG document)) inlined where report.md links the files.
pub(crate) fn page(
    md: &str,
    title: &str,
    kind: DecisionKind,
    charts: &[(String, String)],
) -> String {
    let mut body = from_markdown_body(md);
    let class = match kind {
        DecisionKind::Safe => "safe",
        DecisionKind::NotSafe => "not-safe",
        DecisionKind::Undecided => "undecided",
    };
    body = body.replacen(
        "<blockquote>",
        &format!("<blockquote class=\"decision {class}\" role=\"status\">"),
        1,
    );
    for (file, svg) in charts {
        let img = format!("<img src=\"{file}\" alt=\"{file}\" />");
        let svg = svg.find("<svg").map_or("", |i| &svg[i..]);
        let fig = format!(
            "<figure>{svg}<figcaption>{}</figcaption></figure>",
            crate::format::escape_xml(file)
        );
        body = body.replace(&img, &fig);
    }
    let body = mark_cells(&body);
    let title = crate::format::escape_xml(title);
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>cutover: {title}</title>\n\
<style>{STYLE}</style></head><body>\n{body}</body></html>\n"
    )
}

/// The page without charts or decision styling, for the tests of the Markdown conversion.
#[cfg(test)]
fn from_markdown(md: &str, title: &str) -> String {
    page(md, title, DecisionKind::Undecided, &[]).replacen(
        " class=\"decision undecided\" role=\"status\"",
        "",
        1,
    )
}

fn from_markdown_body(md: &str) -> String {
    let mut opts = pulldown_cmark::Options::empty();
    opts.insert(pulldown_cmark::Options::ENABLE_TABLES);
    let parser = pulldown_cmark::Parser::new_ext(md, opts);
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, parser);
    body
}

/// Give table cells a class: `pass` / `fail` / `nodata` for check outcomes, `num` for figures (right-aligned);
/// everything else (names, threshold expressions) stays left-aligned.
fn mark_cells(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + body.len() / 8);
    let mut rest = body;
    while let Some(i) = rest.find("<td") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let Some(close) = after.find("</td>") else {
            break;
        };
        let content = &after[open_end + 1..close];
        let class = match content.trim() {
            "PASS" | "<strong>PASS</strong>" => Some("pass"),
            "FAIL" | "<strong>FAIL</strong>" => Some("fail"),
            "NO DATA" | "<strong>NO DATA</strong>" => Some("nodata"),
            c if is_figure(c) => Some("num"),
            _ => None,
        };
        // Keep pulldown-cmark's own attributes (column alignment) and add the class.
        out.push_str(&after[..open_end]);
        if let Some(c) = class {
            out.push_str(&format!(" class=\"{c}\""));
        }
        out.push('>');
        out.push_str(content);
        out.push_str("</td>");
        rest = &after[close + "</td>".len()..];
    }
    out.push_str(rest);
    out
}

/// A figure: digits with at most separators, signs, a currency or percent sign and a unit-free dash.
fn is_figure(c: &str) -> bool {
    let c = c.trim();
    c == "-"
        || (c.chars().any(|ch| ch.is_ascii_digit())
            && c.chars()
                .all(|ch| ch.is_ascii_digit() || ",.$%+-−× ".contains(ch)))
}

#[cfg(test)]
mod tests {
    use crate::measure::decision::DecisionKind;

    #[test]
    fn renders_tables_and_escapes_title() {
        let h = super::from_markdown("# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", "x<y");
        assert!(
            h.contains("<table>") && h.contains("<td class=\"num\">1</td>"),
            "{h}"
        );
        assert!(h.contains("cutover: x&lt;y"));
    }

    #[test]
    fn banner_cells_and_inline_chart() {
        let md = "> **Decision: NOT SAFE**\n\n| check | value | result |\n|---|---:|---|\n| `p99 <= 5` | 1,234 | FAIL |\n| `x` | 2 | PASS |\n\n![a.png](a.png)\n";
        let svg =
            "<?xml version=\"1.0\"?>\n<svg width=\"10\" height=\"10\"><rect/></svg>".to_string();
        let h = super::page(md, "t", DecisionKind::NotSafe, &[("a.png".into(), svg)]);
        assert!(h.contains("<blockquote class=\"decision not-safe\""), "{h}");
        assert!(
            h.contains("<td class=\"fail\">FAIL</td>")
                && h.contains("<td class=\"pass\">PASS</td>"),
            "{h}"
        );
        assert!(h.contains("<td><code>p99 &lt;= 5</code></td>"), "{h}");
        assert!(h.contains(">1,234</td>"), "{h}");
        assert!(h.contains("<figure><svg width=\"10\""), "{h}");
        assert!(!h.contains("<img") && !h.contains("<?xml"), "{h}");
    }
}
