//! The plain-text part of an email, derived from its rendered HTML.
//!
//! A small, forgiving converter written for email markup: it drops `<head>`, `<style>`,
//! `<script>`, comments and elements hidden with `display:none` (preheader tricks), turns block
//! elements and `<br>` into line breaks, list items into `- ` lines, links into
//! `label (url)`, decodes character references, collapses whitespace and keeps `<pre>` as is.
//! Broken markup never fails: whatever cannot be parsed as a tag is kept as text.

/// Elements whose whole content is dropped.
const SKIPPED: &[&str] = &[
    "head", "style", "script", "template", "noscript", "title", "svg", "object", "iframe",
];

/// Elements that break a line before and after.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "center",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "header",
    "li",
    "main",
    "nav",
    "section",
    "tr",
    "caption",
    "tbody",
    "thead",
    "tfoot",
];

/// Elements that leave a blank line before and after.
const PARAGRAPHS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "table",
    "blockquote",
    "pre",
];

/// Void elements: never closed, so never skipped as a subtree.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

struct Tag<'a> {
    name: String,
    closing: bool,
    self_closing: bool,
    attrs: Vec<(String, std::borrow::Cow<'a, str>)>,
}

impl Tag<'_> {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }

    fn hidden(&self) -> bool {
        self.attrs.iter().any(|(k, _)| k == "hidden")
            || self.attr("style").is_some_and(|s| {
                let s: String = s
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>()
                    .to_ascii_lowercase();
                s.contains("display:none")
            })
    }
}

/// Parses a tag starting at `s[0] == '<'`; returns it and the bytes consumed.
fn parse_tag(s: &str) -> Option<(Tag<'_>, usize)> {
    let bytes = s.as_bytes();
    let mut i = 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-') {
        i += 1;
    }
    if i == name_start || !bytes[name_start].is_ascii_alphabetic() {
        return None;
    }
    let name = s[name_start..i].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut self_closing = false;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i) {
            None => return None,
            Some(b'>') => return Some((tag(name, closing, self_closing, attrs), i + 1)),
            Some(b'/') => {
                self_closing = true;
                i += 1;
                continue;
            }
            _ => {}
        }
        let key_start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        if i == key_start {
            // A stray character such as a quote: skip it.
            i += 1;
            continue;
        }
        let key = s[key_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = std::borrow::Cow::Borrowed("");
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            match bytes.get(i) {
                Some(q @ (b'"' | b'\'')) => {
                    let end = s[i + 1..].find(*q as char)? + i + 1;
                    value = decode_entities(&s[i + 1..end]);
                    i = end + 1;
                }
                Some(_) => {
                    let start = i;
                    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                        i += 1;
                    }
                    value = decode_entities(&s[start..i]);
                }
                None => return None,
            }
        }
        attrs.push((key, value));
    }
}

fn tag<'a>(
    name: String,
    closing: bool,
    self_closing: bool,
    attrs: Vec<(String, std::borrow::Cow<'a, str>)>,
) -> Tag<'a> {
    Tag {
        name,
        closing,
        self_closing,
        attrs,
    }
}

/// The text being built, with whitespace decided lazily.
#[derive(Default)]
struct Writer {
    out: String,
    pending_space: bool,
    pending_breaks: usize,
}

impl Writer {
    fn text(&mut self, s: &str, pre: bool) {
        for c in s.chars() {
            if !pre && (c.is_whitespace() || c == '\u{a0}') {
                self.pending_space = true;
                continue;
            }
            if pre && c == '\n' {
                if self.pending_breaks > 0 {
                    // A newline right after `<pre>` is not content.
                    continue;
                }
                self.out.push('\n');
                self.pending_space = false;
                self.pending_breaks = 0;
                continue;
            }
            if c == '\u{a0}' {
                self.push_char(' ');
                continue;
            }
            if is_invisible(c) {
                continue;
            }
            self.push_char(c);
        }
    }

    fn push_char(&mut self, c: char) {
        if !self.out.is_empty() {
            if self.pending_breaks > 0 {
                let have = self.out.chars().rev().take_while(|c| *c == '\n').count();
                for _ in have..self.pending_breaks {
                    self.out.push('\n');
                }
            } else if self.pending_space && !self.out.ends_with([' ', '\n']) {
                self.out.push(' ');
            }
        }
        self.pending_space = false;
        self.pending_breaks = 0;
        self.out.push(c);
    }

    /// Asks for `n` line breaks (1 = new line, 2 = blank line) before the next text.
    fn breaks(&mut self, n: usize) {
        self.pending_breaks = self.pending_breaks.max(n);
        self.pending_space = false;
    }

    /// A forced line break (`<br>`): repeated ones add up.
    fn line_break(&mut self) {
        if self.pending_breaks == 0 && !self.out.is_empty() {
            self.out.push('\n');
        } else if !self.out.is_empty() {
            self.pending_breaks += 1;
        }
        self.pending_space = false;
    }

    fn finish(self) -> String {
        let lines: Vec<&str> = self.out.lines().map(str::trim_end).collect();
        lines.join("\n").trim().to_string()
    }
}

/// Zero-width characters used as spacing hacks in email markup.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{034f}' | '\u{feff}' | '\u{ad}'
    )
}

struct Link {
    href: String,
    start: usize,
}

/// Converts rendered email HTML to readable plain text.
pub fn html_to_text(html: &str) -> String {
    let mut w = Writer::default();
    let mut links: Vec<Link> = Vec::new();
    let mut list_depth = 0usize;
    let mut pre = 0usize;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            w.text(&decode_entities(rest), pre > 0);
            break;
        };
        if lt > 0 {
            w.text(&decode_entities(&rest[..lt]), pre > 0);
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |e| &after[e + 3..]);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            rest = rest.find('>').map_or("", |e| &rest[e + 1..]);
            continue;
        }
        let Some((tag, used)) = parse_tag(rest) else {
            w.text("<", pre > 0);
            rest = &rest[1..];
            continue;
        };
        rest = &rest[used..];
        let name = tag.name.as_str();
        if !tag.closing
            && !tag.self_closing
            && !VOID.contains(&name)
            && (SKIPPED.contains(&name) || tag.hidden())
        {
            rest = skip_element(rest, name);
            continue;
        }
        if tag.closing {
            match name {
                "a" => {
                    if let Some(link) = links.pop() {
                        close_link(&mut w, link);
                    }
                }
                "ul" | "ol" => {
                    list_depth = list_depth.saturating_sub(1);
                    w.breaks(if list_depth == 0 { 2 } else { 1 });
                }
                "pre" => {
                    pre = pre.saturating_sub(1);
                    w.breaks(2);
                }
                "td" | "th" => w.pending_space = true,
                n if PARAGRAPHS.contains(&n) => w.breaks(2),
                n if BLOCKS.contains(&n) => w.breaks(1),
                _ => {}
            }
            continue;
        }
        match name {
            "br" => w.line_break(),
            "hr" => {
                w.breaks(1);
                w.text("----", false);
                w.breaks(1);
            }
            "a" => {
                let href = tag.attr("href").unwrap_or("").trim().to_string();
                links.push(Link {
                    href,
                    start: w.out.len(),
                });
            }
            "img" => {
                if !links.is_empty()
                    && let Some(alt) = tag.attr("alt").filter(|a| !a.trim().is_empty())
                {
                    w.text(alt, false);
                }
            }
            "li" => {
                w.breaks(1);
                w.text("-", false);
                w.pending_space = true;
            }
            "ul" | "ol" => {
                w.breaks(if list_depth == 0 { 2 } else { 1 });
                list_depth += 1;
            }
            "pre" => {
                w.breaks(2);
                pre += 1;
            }
            "td" | "th" => w.pending_space = true,
            n if PARAGRAPHS.contains(&n) => w.breaks(2),
            n if BLOCKS.contains(&n) => w.breaks(1),
            _ => {}
        }
    }
    while let Some(link) = links.pop() {
        close_link(&mut w, link);
    }
    w.finish()
}

fn close_link(w: &mut Writer, link: Link) {
    let label = w.out.get(link.start..).unwrap_or("").trim().to_string();
    let href = link.href;
    let shown = href
        .strip_prefix("mailto:")
        .or_else(|| href.strip_prefix("tel:"))
        .unwrap_or(&href);
    let useless = href.is_empty() || href.starts_with('#') || href.starts_with("javascript:");
    if useless || label == href || label == shown {
        return;
    }
    if label.is_empty() {
        w.text(&href, false);
    } else {
        w.pending_space = true;
        w.text(&format!("({href})"), false);
    }
}

/// Skips past the end of the element `name` whose start tag was just read, counting nested
/// elements of the same name. An unclosed element swallows the rest of the document only for
/// raw-text elements (`script`, `style`…); for others the rest is kept.
fn skip_element<'a>(rest: &'a str, name: &str) -> &'a str {
    let raw_text = matches!(name, "script" | "style" | "title" | "template" | "noscript");
    let mut depth = 1usize;
    let mut i = 0;
    let lower_name = name.as_bytes();
    while let Some(pos) = rest[i..].find('<') {
        let at = i + pos;
        let s = &rest[at..];
        let (closing, off) = if s.starts_with("</") {
            (true, 2)
        } else {
            (false, 1)
        };
        let candidate = s.as_bytes().get(off..off + lower_name.len());
        let boundary = s
            .as_bytes()
            .get(off + lower_name.len())
            .is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'-');
        if candidate.is_some_and(|c| c.eq_ignore_ascii_case(lower_name)) && boundary {
            let end = s.find('>').map_or(rest.len(), |e| at + e + 1);
            if closing {
                depth -= 1;
                if depth == 0 {
                    return &rest[end.min(rest.len())..];
                }
            } else if !raw_text && !s[..end - at].ends_with("/>") {
                depth += 1;
            }
            i = end.min(rest.len());
        } else {
            i = at + 1;
        }
    }
    if raw_text { "" } else { rest }
}

/// Decodes character references (`&amp;`, `&#8217;`, `&#x20AC;` and the common named ones).
/// Unknown references are kept as written.
pub fn decode_entities(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('&') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest
            .char_indices()
            .take(34)
            .find(|(_, c)| *c == ';')
            .map(|(i, _)| i);
        let decoded = end.and_then(|e| decode_reference(&rest[1..e]).map(|c| (c, e)));
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

fn decode_reference(r: &str) -> Option<char> {
    if let Some(num) = r.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    Some(match r {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        "lsaquo" => '‹',
        "rsaquo" => '›',
        "bull" => '•',
        "middot" => '·',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "sect" => '§',
        "para" => '¶',
        "deg" => '°',
        "times" => '×',
        "divide" => '÷',
        "plusmn" => '±',
        "frac12" => '½',
        "frac14" => '¼',
        "frac34" => '¾',
        "iexcl" => '¡',
        "iquest" => '¿',
        "dagger" => '†',
        "rarr" => '→',
        "larr" => '←',
        "uarr" => '↑',
        "darr" => '↓',
        "hearts" => '♥',
        "check" => '✓',
        "shy" => '\u{ad}',
        "zwnj" => '\u{200c}',
        "zwj" => '\u{200d}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "agrave" => 'à',
        "aacute" => 'á',
        "acirc" => 'â',
        "atilde" => 'ã',
        "auml" => 'ä',
        "aring" => 'å',
        "aelig" => 'æ',
        "ccedil" => 'ç',
        "egrave" => 'è',
        "eacute" => 'é',
        "ecirc" => 'ê',
        "euml" => 'ë',
        "igrave" => 'ì',
        "iacute" => 'í',
        "icirc" => 'î',
        "iuml" => 'ï',
        "ntilde" => 'ñ',
        "ograve" => 'ò',
        "oacute" => 'ó',
        "ocirc" => 'ô',
        "otilde" => 'õ',
        "ouml" => 'ö',
        "oslash" => 'ø',
        "ugrave" => 'ù',
        "uacute" => 'ú',
        "ucirc" => 'û',
        "uuml" => 'ü',
        "yacute" => 'ý',
        "yuml" => 'ÿ',
        "szlig" => 'ß',
        "Agrave" => 'À',
        "Aacute" => 'Á',
        "Acirc" => 'Â',
        "Atilde" => 'Ã',
        "Auml" => 'Ä',
        "Aring" => 'Å',
        "AElig" => 'Æ',
        "Ccedil" => 'Ç',
        "Egrave" => 'È',
        "Eacute" => 'É',
        "Ecirc" => 'Ê',
        "Euml" => 'Ë',
        "Igrave" => 'Ì',
        "Iacute" => 'Í',
        "Icirc" => 'Î',
        "Iuml" => 'Ï',
        "Ntilde" => 'Ñ',
        "Ograve" => 'Ò',
        "Oacute" => 'Ó',
        "Ocirc" => 'Ô',
        "Otilde" => 'Õ',
        "Ouml" => 'Ö',
        "Oslash" => 'Ø',
        "Ugrave" => 'Ù',
        "Uacute" => 'Ú',
        "Ucirc" => 'Û',
        "Uuml" => 'Ü',
        "Yacute" => 'Ý',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_become_blank_line_separated_text() {
        assert_eq!(
            html_to_text("<p>Hello  <b>Ada</b>,</p>\n<p>Your code is\n 1234.</p>"),
            "Hello Ada,\n\nYour code is 1234."
        );
    }

    #[test]
    fn links_keep_their_url_after_the_label() {
        assert_eq!(
            html_to_text(r#"<p>Read <a href="https://x.example/a?b=1&amp;c=2">the guide</a>.</p>"#),
            "Read the guide (https://x.example/a?b=1&c=2)."
        );
        assert_eq!(
            html_to_text(r#"<a href="https://x.example">https://x.example</a>"#),
            "https://x.example"
        );
        assert_eq!(
            html_to_text(r#"<a href="mailto:help@x.example">help@x.example</a>"#),
            "help@x.example"
        );
        assert_eq!(
            html_to_text(
                r#"<a href="https://x.example/shop"><img src="b.png" alt="Shop now"></a>"#
            ),
            "Shop now (https://x.example/shop)"
        );
        assert_eq!(
            html_to_text(r#"<a href="https://x.example/u"><img src="b.png"></a>"#),
            "https://x.example/u"
        );
    }

    #[test]
    fn head_style_script_comments_and_hidden_preheaders_are_dropped() {
        let html = r#"<!DOCTYPE html><html><head><title>T</title><style>p{color:red}</style></head>
            <body><div style="display: none; max-height:0">preheader &zwnj;&nbsp;</div>
            <!-- a comment --><script>alert(1)</script><p>Visible</p></body></html>"#;
        assert_eq!(html_to_text(html), "Visible");
    }

    #[test]
    fn lists_line_breaks_and_tables_are_readable() {
        assert_eq!(
            html_to_text("<ul><li>One</li><li>Two</li></ul><p>a<br>b<br><br>c</p>"),
            "- One\n- Two\n\na\nb\n\nc"
        );
        assert_eq!(
            html_to_text(
                "<table><tr><td>Item</td><td>Price</td></tr><tr><td>Tea</td><td>€3</td></tr></table>"
            ),
            "Item Price\nTea €3"
        );
    }

    #[test]
    fn character_references_are_decoded() {
        assert_eq!(
            html_to_text("&lt;script&gt; &amp; &#8364; &#x20AC; &eacute; &unknown; a&b"),
            "<script> & € € é &unknown; a&b"
        );
    }

    #[test]
    fn pre_keeps_its_layout() {
        assert_eq!(
            html_to_text("<p>Code:</p><pre>a  b\n  c</pre><p>end</p>"),
            "Code:\n\na  b\n  c\n\nend"
        );
    }

    #[test]
    fn broken_markup_never_fails() {
        assert_eq!(
            html_to_text("a < b and <p unclosed"),
            "a < b and <p unclosed"
        );
        assert_eq!(html_to_text("<div><p>x"), "x");
        assert_eq!(html_to_text(""), "");
    }
}
