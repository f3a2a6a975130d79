//! The words auto-responders write, as data: subject prefixes of out-of-office and auto-reply
//! mail in many languages, challenge-response wording, and the opening sentences of absence
//! notes. Matching is on normalised text (lower case, `-`/`_`/`.` and runs of white space as one
//! space), so each table lists a phrase once. Only the tables and their matching live here; which
//! match decides what is `auto_reply`'s business.

/// Subjects an auto-responder writes, at the start of the subject (optionally in brackets) and
/// followed by `:`, ` - `, a closing bracket or the end: "Automatic reply: Printer",
/// "[Auto-Reply] Printer", "【自動返信】", "Abwesenheitsnotiz". Vendors: Exchange/Outlook (localised
/// "Automatic reply"), Lotus Notes ("AUTO:"), RFC 3834 section 3.1.5 ("Auto:"), Apple/iCloud, Yahoo,
/// Zimbra, GroupWise, Request Tracker ("AutoReply:").
pub(super) const AUTO_REPLY_SUBJECTS: &[&str] = &[
    // en
    "auto",
    "autoreply",
    "auto reply",
    "autoresponse",
    "auto response",
    "autorespons",
    "autoresponder",
    "auto answer",
    "automatic reply",
    "automatic response",
    "automated reply",
    "automated response",
    "out of office",
    "out of the office",
    "out of office reply",
    "out of office autoreply",
    "out of office auto reply",
    "out of office notification",
    "away from the office",
    "away from office",
    "away from my mail",
    "away from my email",
    "vacation reply",
    "vacation response",
    "vacation notice",
    "vacation message",
    "vacation auto reply",
    "holiday notice",
    "absence notice",
    "absence notification",
    // de
    "automatische antwort",
    "automatische rückantwort",
    "automatische abwesenheitsnotiz",
    "abwesenheitsnotiz",
    "abwesenheitsmeldung",
    "abwesenheitsnachricht",
    "abwesenheit",
    "abwesend",
    "nicht im büro",
    "außer haus",
    "ausser haus",
    // fr
    "réponse automatique",
    "reponse automatique",
    "réponse automatique d'absence du bureau",
    "absence du bureau",
    "absent du bureau",
    "absente du bureau",
    "message d'absence",
    "réponse d'absence",
    // es, ca
    "respuesta automática",
    "respuesta automatica",
    "respuesta de fuera de la oficina",
    "fuera de la oficina",
    "fuera de oficina",
    "mensaje de ausencia",
    "ausente",
    "resposta automàtica",
    // it
    "risposta automatica",
    "risposta di fuori sede",
    "fuori sede",
    "fuori ufficio",
    "messaggio di assenza",
    "assente",
    // nl
    "automatisch antwoord",
    "automatisch bericht",
    "afwezig",
    "afwezigheid",
    "niet aanwezig",
    "buiten kantoor",
    // pt
    "resposta automática",
    "resposta automatica",
    "resposta de ausência",
    "ausência",
    "ausencia",
    "fora do escritório",
    "fora do escritorio",
    // pl
    "automatyczna odpowiedź",
    "automatyczna odpowiedz",
    "odpowiedź automatyczna",
    "poza biurem",
    "nieobecność",
    // cs, sk, hu, ro, tr, el
    "automatická odpověď",
    "automatická odpoveď",
    "mimo kancelář",
    "automatikus válasz",
    "házon kívül",
    "răspuns automat",
    "raspuns automat",
    "otomatik yanıt",
    "otomatik cevap",
    "ofis dışında",
    "αυτόματη απάντηση",
    // sv, da, no, fi
    "automatiskt svar",
    "automatisk svar",
    "automatisk svarsmeddelande",
    "autosvar",
    "frånvaromeddelande",
    "frånvarande",
    "fraværende",
    "fravær",
    "ikke på kontoret",
    "automaattinen vastaus",
    "poissa toimistolta",
    // ru, uk
    "автоматический ответ",
    "автоответ",
    "вне офиса",
    "нет на месте",
    "в отпуске",
    "автоматична відповідь",
    // ja, zh, ko
    "自動返信",
    "自動応答",
    "自動送信",
    "不在通知",
    "不在のお知らせ",
    "不在",
    "自动回复",
    "自动答复",
    "自動回覆",
    "自動答覆",
    "自動回復",
    "休假",
    "자동 회신",
    "자동회신",
    "자동 응답",
    "자동응답",
    "부재중",
    // he, ar
    "תשובה אוטומטית",
    "رد تلقائي",
];

/// Subjects of challenge-response systems (sender verification): never decisive alone, because a
/// customer may well write "Please verify your email address" about a sign-up problem.
pub(super) const CHALLENGE_SUBJECTS: &[&str] = &[
    "please verify your email",
    "please verify your e mail",
    "please verify your message",
    "please confirm your message",
    "please confirm your email",
    "verify your email address",
    "sender verification",
    "verification required",
    "verification request",
    "confirmation request",
    "message awaiting verification",
    "awaiting your verification",
    "approval required",
    "request to join my guest list",
    "guest list",
    "spam arrest",
    "spamarrest",
    "boxbe",
    "tmda",
    "bitte bestätigen sie ihre e mail",
    "bestätigung erforderlich",
    "veuillez confirmer votre message",
    "por favor verifique su correo",
];

/// Sentences of a challenge (the text asks the sender to prove they are a person). Only wording
/// a customer asking about their own verification would not use: no "verification process".
pub(super) const CHALLENGE_TEXTS: &[&str] = &[
    "sender not pre approved",
    "please verify that you are a real person",
    "verify that you are a person",
    "verify that you are human",
    "prove that you are a person",
    "i use a challenge response",
    "challenge response",
    "spam arrest",
    "spamarrest",
    "boxbe",
    "guest list",
    "approved senders list",
    "added to my whitelist",
    "add you to my whitelist",
    "my list of approved senders",
    "before your message can be delivered",
    "your message is being held until you",
];

/// Opening sentences of absence notes, read only near the top of the text: "I am out of the office
/// until ...", "Ich bin bis ... nicht im Büro". Alone they are a person's words, too.
pub(super) const ABSENCE_TEXTS: &[&str] = &[
    "i am out of the office",
    "i'm out of the office",
    "i am out of office",
    "i'm out of office",
    "i am currently out of the office",
    "i am currently out of office",
    "i am away from the office",
    "i am currently away",
    "i am on vacation",
    "i am on holiday",
    "i am on leave",
    "i will be out of the office",
    "i will be out of office",
    "i will be away",
    "with limited access to email",
    "with limited access to e mail",
    "ich bin bis",
    "ich bin vom",
    "ich bin derzeit nicht",
    "ich bin zurzeit nicht",
    "nicht im büro",
    "außer haus",
    "je suis absent",
    "je suis absente",
    "je serai absent",
    "je serai absente",
    "estoy fuera de la oficina",
    "estaré fuera de la oficina",
    "me encuentro fuera de la oficina",
    "sono fuori ufficio",
    "sarò fuori ufficio",
    "sono assente",
    "ik ben afwezig",
    "ik ben niet aanwezig",
    "ik ben met vakantie",
    "estou ausente",
    "estou fora do escritório",
    "jestem poza biurem",
    "jestem nieobecny",
    "jestem nieobecna",
    "jag är ledig",
    "jag är borta",
    "jag är inte på kontoret",
    "jeg er på ferie",
    "jeg er ikke på kontoret",
    "я в отпуске",
    "меня нет в офисе",
    "不在にしております",
    "休暇中",
    "我正在休假",
];

/// Sentences in which a message says it was written by a machine, read only at the very top of a
/// message that is not a forward ("This is an automated response to your message").
pub(super) const SELF_DECLARED_AUTOMATIC: &[&str] = &[
    "this is an automatic reply",
    "this is an automated reply",
    "this is an automatic response",
    "this is an automated response",
    "this is an auto reply",
    "this is an autoreply",
    "this is an auto response",
    "this is an automatically generated reply",
    "this is an automatically generated response",
    "this message was automatically generated in response",
    "this is an automatic message",
    "dies ist eine automatische antwort",
    "dies ist eine automatisch generierte",
    "dies ist eine automatische nachricht",
    "ceci est une réponse automatique",
    "ceci est un message automatique",
    "esta es una respuesta automática",
    "este es un mensaje automático",
    "questa è una risposta automatica",
    "questo è un messaggio automatico",
    "dit is een automatisch antwoord",
    "dit is een automatisch bericht",
    "esta é uma resposta automática",
    "esta é uma mensagem automática",
    "to jest automatyczna odpowiedź",
    "detta är ett automatiskt svar",
    "это автоматический ответ",
    "это автоматическое сообщение",
    "このメールは自動返信",
    "このメールは自動送信",
    "这是一封自动回复",
    "这是自动回复",
];

/// Lower case; `_`, `.`, a `-` inside a word and runs of white space become one space; trimmed.
/// A free-standing dash stays: it separates a prefix from the rest ("Out of Office - back Monday").
pub(super) fn normalise(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut space = true;
    for (index, &c) in chars.iter().enumerate() {
        let next_is_word = chars.get(index + 1).is_some_and(|n| !n.is_whitespace());
        let joins_words = c == '-' && !space && next_is_word;
        if c.is_whitespace() || matches!(c, '_' | '.') || joins_words {
            if !space {
                out.push(' ');
                space = true;
            }
        } else {
            out.extend(c.to_lowercase());
            space = false;
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// The entry of `table` that `subject` starts with (after an optional opening bracket), followed by
/// a boundary: the end, `:`, ` - `, or a closing bracket. The longest match wins, so the reason
/// names "out of office autoreply" rather than "out of office".
/// Leading tags in brackets that a gateway or ticket system put first ("[EXTERNAL] Automatic
/// reply: ...", "[rt.example #42] AutoReply: ...") are looked past.
pub(super) fn subject_prefix(subject: &str, table: &[&'static str]) -> Option<&'static str> {
    let normal = normalise(subject);
    let mut rest = normal.as_str();
    loop {
        if let Some(found) = prefix_at(rest, table) {
            return Some(found);
        }
        let after_tag =
            rest.strip_prefix('[').and_then(|r| r.split_once(']')).map(|(_, r)| r.trim_start())?;
        rest = after_tag;
    }
}

fn prefix_at(text: &str, table: &[&'static str]) -> Option<&'static str> {
    let rest = text.trim_start_matches(['[', '(', '【', '（', '<', '*', ' ']);
    table
        .iter()
        .filter(|phrase| {
            rest.strip_prefix(**phrase).is_some_and(|after| {
                let after = after.trim_start();
                after.is_empty()
                    || after.starts_with([':', '：', ']', ')', '】', '）', '>', '*', '!', '|', ',', '-', '–'])
            })
        })
        .max_by_key(|phrase| phrase.len())
        .copied()
}

/// The entry of `table` that ends `subject` in brackets: "Printer [Out of Office]".
pub(super) fn subject_suffix(subject: &str, table: &[&'static str]) -> Option<&'static str> {
    let normal = normalise(subject);
    let inner = normal
        .strip_suffix([']', ')', '】', '）'])
        .and_then(|head| head.rsplit_once(['[', '(', '【', '（']))
        .map(|(_, inner)| inner.trim())?;
    table.iter().find(|phrase| **phrase == inner).copied()
}

/// The first entry of `table` found anywhere in `text` (already normalised).
pub(super) fn find_in(normal_text: &str, table: &[&'static str]) -> Option<&'static str> {
    table.iter().find(|phrase| normal_text.contains(**phrase)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_folds_case_separators_and_space() {
        assert_eq!(normalise("  Out-of_Office:\tAUTO.Reply  "), "out of office: auto reply");
        assert_eq!(normalise("Out of Office - back"), "out of office - back");
        assert_eq!(normalise("Réponse automatique :"), "réponse automatique :");
    }

    #[test]
    fn every_table_entry_is_already_normalised() {
        for table in
            [AUTO_REPLY_SUBJECTS, CHALLENGE_SUBJECTS, CHALLENGE_TEXTS, ABSENCE_TEXTS, SELF_DECLARED_AUTOMATIC]
        {
            for phrase in table {
                assert_eq!(normalise(phrase), *phrase, "{phrase:?} would never match");
            }
        }
    }

    #[test]
    fn prefixes_need_a_boundary_and_the_longest_wins() {
        let table = AUTO_REPLY_SUBJECTS;
        assert_eq!(subject_prefix("Out of Office AutoReply: help", table), Some("out of office autoreply"));
        assert_eq!(subject_prefix("[Auto-Reply] Printer", table), Some("auto reply"));
        assert_eq!(subject_prefix("【自動返信】お問い合わせ", table), Some("自動返信"));
        assert_eq!(subject_prefix("Abwesenheitsnotiz", table), Some("abwesenheitsnotiz"));
        assert_eq!(subject_prefix("Out of Office - back Monday", table), Some("out of office"));
        assert_eq!(subject_prefix("Automatic replies are not working", table), None);
        assert_eq!(subject_prefix("Autoresponder setup question", table), None);
        assert_eq!(subject_prefix("Re: Out of office", table), None);
        assert_eq!(subject_prefix("Auto insurance quote", table), None);
        assert_eq!(subject_prefix("[EXTERNAL] Automatic reply: Printer", table), Some("automatic reply"));
        assert_eq!(subject_prefix("[rt.example #42] AutoReply: Printer", table), Some("autoreply"));
        assert_eq!(subject_prefix("[#123456] Printer on fire", table), None);
    }

    #[test]
    fn bracketed_suffixes_match_whole_entries() {
        let table = AUTO_REPLY_SUBJECTS;
        assert_eq!(subject_suffix("Printer on fire [Out of Office]", table), Some("out of office"));
        assert_eq!(subject_suffix("Printer (away from the office)", table), Some("away from the office"));
        assert_eq!(subject_suffix("Printer (second floor)", table), None);
        assert_eq!(subject_suffix("Printer", table), None);
    }
}
