//! Every piece of text that enters the page goes through here: element text, attribute values,
//! link targets and inline SVG. Nothing else in `html/` writes user data into markup.

/// Text inside an element.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A double-quoted attribute value.
pub fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An `href` to a file of the sweep, relative to the page: each path segment is
/// percent-encoded, so a name cannot turn into a scheme (`javascript:`), a query or a
/// fragment, and the result is ready for an attribute.
pub fn href(segments: &[&str]) -> String {
    let mut out = String::new();
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        for b in seg.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    out
}

/// A token safe in an `id` or `class` (job ids are hex, table names free text).
pub fn ident(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert(0, 'x');
    }
    out
}

/// An SVG document from plotters, made fit to sit inside the page: plotters escapes its text
/// itself, and the namespace declaration (which HTML does not need) goes, so that the page
/// holds no URL of any kind.
pub fn inline_svg(svg: &str) -> String {
    let svg = svg.replacen(r#" xmlns="http://www.w3.org/2000/svg""#, "", 1);
    let svg = svg.trim_start_matches(|c: char| c != '<');
    // Drop an XML prolog if a backend ever writes one.
    match svg.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map_or("", |(_, r)| r)
            .trim()
            .to_string(),
        None => svg.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_cannot_open_markup() {
        assert_eq!(text("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(attr(r#"x" onclick='y'"#), "x&quot; onclick=&#39;y&#39;");
    }

    #[test]
    fn links_stay_relative_paths() {
        assert_eq!(
            href(&["jobs", "ab12", "config.yaml"]),
            "jobs/ab12/config.yaml"
        );
        assert_eq!(href(&["a b", "c#d?e"]), "a%20b/c%23d%3Fe");
        assert_eq!(href(&["javascript:alert(1)"]), "javascript%3Aalert%281%29");
        assert_eq!(href(&[".."]), "..");
    }

    #[test]
    fn svg_loses_its_namespace_url() {
        let s =
            "<svg width=\"1\" xmlns=\"http://www.w3.org/2000/svg\">\n<text>a &lt; b</text></svg>";
        assert_eq!(
            inline_svg(s),
            "<svg width=\"1\">\n<text>a &lt; b</text></svg>"
        );
    }

    #[test]
    fn idents_are_tokens() {
        assert_eq!(ident("UGS ablation/1"), "UGS-ablation-1");
        assert_eq!(ident("0a1b"), "x0a1b");
    }
}
