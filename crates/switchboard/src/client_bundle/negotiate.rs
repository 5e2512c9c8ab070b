//! Header parsing for content negotiation (`Accept-Encoding`) and revalidation
//! (`If-None-Match`), as RFC 9110 §12.5.3 and §13.1.2 describe them.

use http::{HeaderMap, header};

/// A content coding the bundle is stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl Encoding {
    /// The `Content-Encoding` value, `None` for identity (the header is then omitted).
    pub(crate) fn header_value(self) -> Option<&'static str> {
        match self {
            Self::Brotli => Some("br"),
            Self::Gzip => Some("gzip"),
            Self::Identity => None,
        }
    }
}

/// A quality value in thousandths (`q=0.5` is 500).
type Quality = u16;

/// Picks the representation to send among those available.
///
/// The client's highest q-value wins; on a tie brotli beats gzip beats identity (smaller
/// first). `q=0` refuses a coding. Identity is acceptable unless refused (`identity;q=0`, or
/// `*;q=0` without an `identity` entry) and, when not named, ranks below any named coding. With no `Accept-Encoding` at all the answer is identity,
/// the conservative reading of "anything goes". If the client refuses every coding,
/// including identity, identity is sent anyway rather than a `406`, as most servers do.
pub(crate) fn choose_encoding(headers: &HeaderMap, has_br: bool, has_gzip: bool) -> Encoding {
    let mut values = headers.get_all(header::ACCEPT_ENCODING).iter().peekable();
    if values.peek().is_none() {
        return Encoding::Identity;
    }
    let (mut br, mut gzip, mut identity, mut any) = (None, None, None, None);
    for element in values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = element.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        let Some(quality) = parse_weight(parts) else {
            continue; // a malformed weight makes the element meaningless; skip it
        };
        let slot = if coding.eq_ignore_ascii_case("br") {
            &mut br
        } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if coding.eq_ignore_ascii_case("identity") {
            &mut identity
        } else if coding == "*" {
            &mut any
        } else {
            continue;
        };
        // The first mention of a coding counts.
        slot.get_or_insert(quality);
    }
    let candidates = [
        (Encoding::Brotli, has_br, br.or(any).unwrap_or(0)),
        (Encoding::Gzip, has_gzip, gzip.or(any).unwrap_or(0)),
        // Unnamed identity is acceptable but least preferred: `br;q=0.5` still means "br".
        (Encoding::Identity, true, identity.or(any).unwrap_or(1)),
    ];
    let mut best = (Encoding::Identity, 0);
    for (encoding, available, quality) in candidates {
        if available && quality > best.1 {
            best = (encoding, quality);
        }
    }
    best.0
}

/// The `q` parameter of one element (1 when absent); `None` when it is malformed.
fn parse_weight<'a>(params: impl Iterator<Item = &'a str>) -> Option<Quality> {
    let mut quality = 1000;
    for param in params {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            quality = parse_qvalue(value.trim())?;
        }
    }
    Some(quality)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`
fn parse_qvalue(value: &str) -> Option<Quality> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: Quality = 0;
    for (index, digit) in frac.bytes().enumerate() {
        thousandths += Quality::from(digit - b'0') * [100, 10, 1][index];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether `If-None-Match` matches `etag` (a strong tag, quotes included) by the weak
/// comparison the RFC prescribes for it: `W/"x"` matches `"x"`; `*` matches anything.
/// A malformed list stops matching at the first error (it never matches by accident).
pub(crate) fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    let opaque = etag.strip_prefix("W/").unwrap_or(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|list| list_matches(list, opaque))
}

fn list_matches(mut list: &str, opaque: &str) -> bool {
    loop {
        list = list.trim_start_matches([' ', '\t', ',']);
        if list.is_empty() {
            return false;
        }
        if list.starts_with('*') {
            // `*` should stand alone; being lenient here can only produce a 304 for a
            // resource that exists, which is what `*` asks about anyway.
            return true;
        }
        let tag_start = list.strip_prefix("W/").unwrap_or(list);
        let Some(after_quote) = tag_start.strip_prefix('"') else {
            return false;
        };
        let Some(end) = after_quote.find('"') else {
            return false;
        };
        let tag = &tag_start[..end + 2];
        if tag == opaque {
            return true;
        }
        list = &after_quote[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: header::HeaderName, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(
                name.clone(),
                HeaderValue::from_str(value).expect("test header"),
            );
        }
        map
    }

    fn choose(values: &[&str]) -> Encoding {
        choose_encoding(&headers(header::ACCEPT_ENCODING, values), true, true)
    }

    #[test]
    fn encoding_preference_and_weights() {
        use Encoding::*;
        assert_eq!(choose(&[]), Identity);
        assert_eq!(choose(&[""]), Identity);
        assert_eq!(choose(&["gzip, deflate, br, zstd"]), Brotli);
        assert_eq!(choose(&["gzip"]), Gzip);
        assert_eq!(choose(&["x-gzip"]), Gzip);
        assert_eq!(choose(&["GZIP, BR"]), Brotli);
        assert_eq!(choose(&["br;q=0.5, gzip;q=0.8"]), Gzip);
        assert_eq!(choose(&["br;q=0, gzip"]), Gzip);
        assert_eq!(choose(&["br;q=0, gzip;q=0"]), Identity);
        assert_eq!(choose(&["br ; q = 0.001"]), Brotli);
        assert_eq!(choose(&["*"]), Brotli);
        assert_eq!(choose(&["*;q=0.5, br;q=0"]), Gzip);
        assert_eq!(choose(&["identity"]), Identity);
        assert_eq!(choose(&["deflate"]), Identity);
        assert_eq!(choose(&["identity;q=1, gzip;q=0.9"]), Identity);
        assert_eq!(choose(&["gzip;q=0.1, identity;q=0.5"]), Identity);
        assert_eq!(choose(&["gzip;q=0.001"]), Gzip);
        assert_eq!(choose(&["gzip;q=0.9", "br;q=1.0"]), Brotli); // several header lines
        // Everything refused, identity included: identity anyway.
        assert_eq!(choose(&["*;q=0"]), Identity);
        // First mention wins; malformed weights are ignored.
        assert_eq!(choose(&["br;q=0, br"]), Identity);
        assert_eq!(choose(&["br;q=2, gzip"]), Gzip);
        assert_eq!(choose(&["br;q=0.5x, gzip;q=0.1"]), Gzip);
        assert_eq!(choose(&["br;q, gzip;q=0.1"]), Gzip);
    }

    #[test]
    fn only_available_codings_are_chosen() {
        let map = headers(header::ACCEPT_ENCODING, &["br, gzip"]);
        assert_eq!(choose_encoding(&map, false, true), Encoding::Gzip);
        assert_eq!(choose_encoding(&map, false, false), Encoding::Identity);
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.123"), Some(123));
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        for bad in ["1.5", "2", "0.1234", "-1", "", ".5", "0.a"] {
            assert_eq!(parse_qvalue(bad), None, "{bad}");
        }
    }

    #[test]
    fn if_none_match() {
        let etag = "\"4.8.4-abc\"";
        let matches = |values: &[&str]| none_match(&headers(header::IF_NONE_MATCH, values), etag);
        assert!(matches(&["\"4.8.4-abc\""]));
        assert!(matches(&["W/\"4.8.4-abc\""]));
        assert!(matches(&["\"x\", W/\"4.8.4-abc\""]));
        assert!(matches(&["\"x\",\"4.8.4-abc\""]));
        assert!(matches(&["\"x\"", "\"4.8.4-abc\""]));
        assert!(matches(&["*"]));
        assert!(matches(&["\"a,b\", \"4.8.4-abc\""])); // commas inside a tag
        assert!(!matches(&[]));
        assert!(!matches(&["\"4.8.4-abcd\""]));
        assert!(!matches(&["4.8.4-abc"])); // unquoted
        assert!(!matches(&["w/\"4.8.4-abc\""])); // `W/` is case-sensitive
        assert!(!matches(&["\"x\" junk \"4.8.4-abc\""]));
        assert!(!matches(&["\"4.8.4-abc"]));
    }
}
