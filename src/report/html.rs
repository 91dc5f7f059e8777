//! `report.html`: the Markdown report rendered with pulldown-cmark (tables on), in a small self-contained page.

pub fn from_markdown(md: &str, title: &str) -> String {
    let mut opts = pulldown_cmark::Options::empty();
    opts.insert(pulldown_cmark::Options::ENABLE_TABLES);
    let parser = pulldown_cmark::Parser::new_ext(md, opts);
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, parser);
    let title = crate::format::escape_xml(title);
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>cutover: {title}</title>\n<style>\
body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}\
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.3em .6em}}\
td{{text-align:right}}td:first-child,td:nth-child(2){{text-align:left}}th{{background:#f3f3f3}}\
blockquote{{border-left:4px solid #c00;margin:0;padding:.5em 1em;background:#fff3f3}}img{{max-width:100%}}\
code{{background:#f5f5f5;padding:0 .2em}}</style></head><body>\n{body}</body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_tables_and_escapes_title() {
        let h = super::from_markdown("# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", "x<y");
        assert!(h.contains("<table>") && h.contains("<td>1</td>"), "{h}");
        assert!(h.contains("cutover: x&lt;y"));
    }
}
