//! The built-in list of free-mail and consumer ISP domains. Their users are individuals, so an
//! organization can never claim one of these domains and they never match by suffix.

/// Consumer mail domains (lower-case). Sorted, so lookup is a binary search.
const FREE_MAIL_DOMAINS: &[&str] = &[
    "aim.com",
    "aol.com",
    "bigpond.com",
    "btinternet.com",
    "comcast.net",
    "cox.net",
    "fastmail.com",
    "fastmail.fm",
    "free.fr",
    "freenet.de",
    "gmail.com",
    "gmx.at",
    "gmx.ch",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hey.com",
    "hotmail.co.uk",
    "hotmail.com",
    "hotmail.de",
    "hotmail.fr",
    "hushmail.com",
    "icloud.com",
    "laposte.net",
    "libero.it",
    "live.co.uk",
    "live.com",
    "live.de",
    "live.fr",
    "mac.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "naver.com",
    "orange.fr",
    "outlook.com",
    "outlook.de",
    "outlook.fr",
    "pm.me",
    "posteo.de",
    "proton.me",
    "protonmail.ch",
    "protonmail.com",
    "qq.com",
    "rambler.ru",
    "rocketmail.com",
    "sbcglobal.net",
    "t-online.de",
    "tuta.io",
    "tutanota.com",
    "verizon.net",
    "wanadoo.fr",
    "web.de",
    "yahoo.co.jp",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.de",
    "yahoo.fr",
    "yandex.com",
    "yandex.ru",
    "ymail.com",
    "zoho.com",
];

/// True when `domain` (any case) is a free-mail domain or a subdomain of one.
pub fn is_free_mail(domain: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    domain_suffixes(&domain).any(|suffix| FREE_MAIL_DOMAINS.binary_search(&suffix).is_ok())
}

/// `a.b.example.com` -> `a.b.example.com`, `b.example.com`, `example.com`, `com`: longest first.
pub fn domain_suffixes(domain: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(domain), |d| d.split_once('.').map(|(_, rest)| rest)).filter(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_and_unique() {
        assert!(FREE_MAIL_DOMAINS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn free_mail_and_its_subdomains_match() {
        assert!(is_free_mail("gmail.com"));
        assert!(is_free_mail("GMail.COM."));
        assert!(is_free_mail("eu.yahoo.com"));
        assert!(!is_free_mail("acme.com"));
        assert!(!is_free_mail("notgmail.com"));
    }

    #[test]
    fn suffixes_go_longest_first() {
        let all: Vec<_> = domain_suffixes("a.b.example.com").collect();
        assert_eq!(all, ["a.b.example.com", "b.example.com", "example.com", "com"]);
    }
}
