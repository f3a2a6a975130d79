//! A message's HTML part, made safe to show (ammonia): no script, no event handlers, no styles, no
//! forms or frames; links open without a referrer; `cid:` images point at the ticket's own files;
//! remote images are dropped unless the reader asked for them.

use std::borrow::Cow;
use std::collections::HashMap;

/// `html` sanitized. `files` is the URL prefix of the ticket's files (`/t/<token>/files/`), `cids`
/// maps a part's Content-ID (without angle brackets) to its attachment id.
pub fn sanitize(html: &str, files: &str, cids: &[(String, i64)], remote_images: bool) -> String {
    let files = files.to_string();
    let cids: HashMap<String, i64> =
        cids.iter().map(|(cid, id)| (cid.trim_matches(['<', '>']).to_ascii_lowercase(), *id)).collect();
    ammonia::Builder::default()
        .add_url_schemes(&["cid"])
        .link_rel(Some("noopener noreferrer nofollow"))
        .attribute_filter(move |element, attribute, value| {
            if !(element == "img" && attribute == "src") {
                return Some(Cow::Borrowed(value));
            }
            if let Some(cid) = value.strip_prefix("cid:") {
                let id = cids.get(&cid.trim_matches(['<', '>']).to_ascii_lowercase())?;
                return Some(Cow::Owned(format!("{files}{id}")));
            }
            let remote = value.starts_with("https://") || value.starts_with("http://");
            (remote && remote_images).then_some(Cow::Borrowed(value))
        })
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#"<p onclick="x()">Hi<script>alert(1)</script></p>
        <img src="x" onerror="alert(2)"><a href="javascript:alert(3)">j</a><svg onload="alert(4)"></svg>
        <div style="background:url(javascript:alert(5))">css</div><form action="https://evil.example/"><input></form>
        <iframe src="https://evil.example/"></iframe><meta http-equiv="refresh" content="0;url=https://evil.example/">
        <img src="https://tracker.example/pixel.png"><img src="cid:Logo@Mail"><a href="https://acme.com/">site</a>"#;

    #[test]
    fn nothing_active_survives() {
        let clean = sanitize(HOSTILE, "/t/tok/files/", &[("<logo@mail>".to_string(), 7)], false);
        for banned in [
            "<script",
            "onclick",
            "onerror",
            "onload",
            "javascript:",
            "style=",
            "<form",
            "<input",
            "<iframe",
            "<meta",
            "<svg",
        ] {
            assert!(!clean.contains(banned), "{banned} in {clean}");
        }
        assert!(
            clean.contains("Hi")
                && clean
                    .contains(r#"<a href="https://acme.com/" rel="noopener noreferrer nofollow">site</a>"#),
            "{clean}"
        );
        assert!(!clean.contains("tracker.example"), "remote images are dropped by default: {clean}");
        assert!(clean.contains(r#"<img src="/t/tok/files/7">"#), "cid: points at the ticket's file: {clean}");
    }

    #[test]
    fn remote_images_load_only_when_asked() {
        let clean = sanitize(HOSTILE, "/t/tok/files/", &[], true);
        assert!(clean.contains(r#"src="https://tracker.example/pixel.png""#), "{clean}");
        assert!(!clean.contains("cid:"), "an unknown cid: is dropped: {clean}");
    }
}
