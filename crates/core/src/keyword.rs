//! Keyword targeting: match types, and matching a line item's keywords against a shopper's
//! search (the query text and the page's keyword list). Words are compared normalized: lower
//! case, split on anything that is not a letter or digit, plurals folded to the singular.

use crate::Micros;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// How a targeted keyword matches a search.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MatchType {
    /// The search is exactly the keyword.
    Exact,
    /// The keyword's words appear in the search, together and in order.
    Phrase,
    /// Every word of the keyword appears in the search, in any order (the default).
    #[default]
    Broad,
    /// A search the keyword matches broadly is not served, whatever else matches.
    Negative,
}

impl MatchType {
    /// Its name in the decision log and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Exact => "exact",
            MatchType::Phrase => "phrase",
            MatchType::Broad => "broad",
            MatchType::Negative => "negative",
        }
    }
}

/// A targeted keyword: a plain string (broad match) or `{"text": "...", "match": "exact"}`,
/// optionally with a bid of its own (`"bid_micros"`; not on negative keywords).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"text": "organic milk", "match": "phrase", "bid_micros": 1500000}))]
pub struct Keyword {
    /// The words, stored lower-case with single spaces.
    pub text: String,
    /// How they match.
    #[serde(rename = "match")]
    pub match_type: MatchType,
    /// The keyword's own bid, micros (same unit and bounds as the line item's bid); absent:
    /// the line item's bid applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub bid_micros: Option<Micros>,
}

impl Keyword {
    /// A broad-match keyword.
    pub fn broad(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            match_type: MatchType::Broad,
            bid_micros: None,
        }
    }
}

impl<'de> Deserialize<'de> for Keyword {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            text: String,
            #[serde(rename = "match", default)]
            match_type: MatchType,
            #[serde(default)]
            bid_micros: Option<Micros>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Full(Full),
        }
        Ok(
            match Raw::deserialize(d).map_err(|_| {
                serde::de::Error::custom(
                "a keyword is a string or {\"text\": ..., \"match\": exact|phrase|broad|negative, \"bid_micros\": ...}",
            )
            })? {
                Raw::Text(text) => Keyword::broad(text),
                Raw::Full(f) => Keyword {
                    text: f.text,
                    match_type: f.match_type,
                    bid_micros: f.bid_micros,
                },
            },
        )
    }
}

/// A word's singular, as far as a plain rule can tell (`eggs` -> `egg`, `berries` ->
/// `berry`, `boxes` -> `box`; `glass`, `bus` and short words stay).
fn fold(word: &str) -> String {
    let n = word.len();
    if n > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..n - 3]);
    }
    for es in ["ches", "shes", "xes", "zes", "sses"] {
        if n > es.len() + 1 && word.ends_with(es) {
            return word[..n - 2].to_string();
        }
    }
    if n > 3 && word.ends_with('s') && !["ss", "us", "is"].iter().any(|e| word.ends_with(e)) {
        return word[..n - 1].to_string();
    }
    word.to_string()
}

/// The words of a text as matching compares them.
pub fn match_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| fold(&w.to_lowercase()))
        .collect()
}

/// A search as keywords are matched against it: the query text and each keyword of the
/// page, as words. Built once per request.
#[derive(Debug, Default)]
pub struct Search {
    texts: Vec<Vec<String>>,
    words: Vec<HashSet<String>>,
    whole: HashSet<String>,
}

impl Search {
    /// The search text (`context.query`) and the page's keywords (`context.keywords`).
    pub fn new(query: &str, keywords: &[String]) -> Self {
        let texts: Vec<Vec<String>> = std::iter::once(query)
            .chain(keywords.iter().map(String::as_str))
            .map(match_words)
            .filter(|w| !w.is_empty())
            .collect();
        Self {
            words: texts.iter().map(|t| t.iter().cloned().collect()).collect(),
            whole: texts.iter().map(|t| t.join(" ")).collect(),
            texts,
        }
    }

    /// Every word of the search, each once (the keyword index's look-up keys).
    pub fn words(&self) -> impl Iterator<Item = &str> {
        let mut seen: Vec<&str> = self.words.iter().flatten().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        seen.into_iter()
    }

    fn broad(&self, kw: &[String]) -> bool {
        self.words.iter().any(|w| kw.iter().all(|k| w.contains(k)))
    }

    fn phrase(&self, kw: &[String]) -> bool {
        self.texts
            .iter()
            .any(|t| t.len() >= kw.len() && t.windows(kw.len()).any(|w| w == kw))
    }
}

/// The keyword of a line item that matched a search: which one, how, and the bid it
/// carries. Plain data (copied into the candidate, never allocated per candidate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeywordMatch {
    /// Its position in the line item's `targeting.keywords`.
    pub index: u16,
    /// How it matched.
    pub match_type: MatchType,
    /// The bid that applies, micros: the keyword's own, else the line item's.
    pub bid_micros: i64,
    /// Whether that bid is the keyword's own.
    pub own_bid: bool,
}

impl KeywordMatch {
    /// Rank among several matches: the most specific match type (exact, then phrase, then
    /// broad), then the highest bid, then the keyword listed first.
    fn beats(&self, other: &KeywordMatch) -> bool {
        let specific = |m: MatchType| match m {
            MatchType::Exact => 0,
            MatchType::Phrase => 1,
            _ => 2,
        };
        (
            specific(self.match_type),
            std::cmp::Reverse(self.bid_micros),
            self.index,
        ) < (
            specific(other.match_type),
            std::cmp::Reverse(other.bid_micros),
            other.index,
        )
    }
}

/// How a line item's keywords meet a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeywordFit {
    /// A negative keyword matches: not served.
    Excluded,
    /// It targets keywords and none matches: not served.
    Missed,
    /// It targets no keywords (negatives alone only exclude): served on its line item bid.
    Untargeted,
    /// This keyword matched (the best one, see [`KeywordSet::fit`]).
    Matched(KeywordMatch),
}

impl KeywordFit {
    /// Whether the line item may serve.
    pub fn admits(&self) -> bool {
        matches!(self, KeywordFit::Untargeted | KeywordFit::Matched(_))
    }

    /// The keyword that matched, if any.
    pub fn matched(&self) -> Option<KeywordMatch> {
        match self {
            KeywordFit::Matched(m) => Some(*m),
            _ => None,
        }
    }
}

/// A line item's keywords, compiled for matching.
#[derive(Debug, Default)]
pub struct KeywordSet {
    exact: HashMap<String, KeywordMatch>,
    phrase: Vec<(Vec<String>, KeywordMatch)>,
    broad: Vec<(Vec<String>, KeywordMatch)>,
    negative: Vec<Vec<String>>,
}

impl KeywordSet {
    /// Compiles a line item's keywords; `line_item_bid` is the bid of keywords without one.
    pub fn of(keywords: &[Keyword], line_item_bid: Micros) -> Self {
        let mut s = Self::default();
        for (i, k) in keywords.iter().enumerate() {
            let words = match_words(&k.text);
            if words.is_empty() {
                continue;
            }
            let m = KeywordMatch {
                index: u16::try_from(i).unwrap_or(u16::MAX),
                match_type: k.match_type,
                bid_micros: k.bid_micros.unwrap_or(line_item_bid).get(),
                own_bid: k.bid_micros.is_some(),
            };
            match k.match_type {
                MatchType::Exact => {
                    // Two keywords can fold to the same words (`egg`, `eggs`): the better one
                    // stands for both.
                    let e = s.exact.entry(words.join(" ")).or_insert(m);
                    if m.beats(e) {
                        *e = m;
                    }
                }
                MatchType::Phrase => s.phrase.push((words, m)),
                MatchType::Broad => s.broad.push((words, m)),
                MatchType::Negative => s.negative.push(words),
            }
        }
        s
    }

    /// One word of each positive keyword (its first): every match, exact, phrase or broad,
    /// needs all of a keyword's words in one search text, so a line item none of whose
    /// index words is in the search cannot match it. Empty when it targets no keywords.
    pub fn index_words(&self) -> Vec<&str> {
        let firsts = self.exact.keys().filter_map(|k| k.split(' ').next()).chain(
            self.phrase
                .iter()
                .chain(&self.broad)
                .filter_map(|(w, _)| w.first().map(String::as_str)),
        );
        let mut words: Vec<&str> = firsts.collect();
        words.sort_unstable();
        words.dedup();
        words
    }

    /// Whether the line item targets keywords at all (negatives alone only exclude).
    pub fn targets(&self) -> bool {
        !(self.exact.is_empty() && self.phrase.is_empty() && self.broad.is_empty())
    }

    /// How the keywords meet this search. When several match, the most specific match type
    /// wins (exact, then phrase, then broad), then the highest bid, then the keyword listed
    /// first. Costs what a miss costs: a lookup per search text for exact, a scan of the
    /// phrase list, then of the broad list only when nothing more specific matched.
    pub fn fit(&self, search: &Search) -> KeywordFit {
        if self.negative.iter().any(|n| search.broad(n)) {
            return KeywordFit::Excluded;
        }
        if !self.targets() {
            return KeywordFit::Untargeted;
        }
        let pick = |best: Option<KeywordMatch>, m: KeywordMatch| match best {
            Some(b) if !m.beats(&b) => Some(b),
            _ => Some(m),
        };
        let mut best = search
            .whole
            .iter()
            .filter_map(|w| self.exact.get(w))
            .fold(None, |b, m| pick(b, *m));
        if best.is_none() {
            best = self
                .phrase
                .iter()
                .filter(|(p, _)| search.phrase(p))
                .fold(None, |b, (_, m)| pick(b, *m));
        }
        if best.is_none() {
            best = self
                .broad
                .iter()
                .filter(|(w, _)| search.broad(w))
                .fold(None, |b, (_, m)| pick(b, *m));
        }
        best.map_or(KeywordFit::Missed, KeywordFit::Matched)
    }

    /// Whether the line item may serve this search: no negative keyword matches it, and, if
    /// it targets keywords, one of them does.
    pub fn admits(&self, search: &Search) -> bool {
        self.fit(search).admits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(text: &str, m: MatchType) -> Keyword {
        Keyword {
            text: text.into(),
            match_type: m,
            bid_micros: None,
        }
    }

    const LINE_ITEM_BID: Micros = Micros::new(1_000_000);

    #[test]
    fn a_line_item_matches_only_searches_holding_one_of_its_index_words() {
        let set = KeywordSet::of(
            &[
                kw("whole milk", MatchType::Exact),
                kw("oat drinks", MatchType::Phrase),
                kw("cheddar cheese", MatchType::Broad),
                kw("goat", MatchType::Negative),
            ],
            LINE_ITEM_BID,
        );
        assert_eq!(set.index_words(), vec!["cheddar", "oat", "whole"]);
        for query in [
            "whole milk",
            "oat drink",
            "cheese cheddars",
            "sliced cheddar cheese",
            "milk",
            "drinks",
            "goat cheddar cheese",
            "",
        ] {
            let search = Search::new(query, &[]);
            let words: Vec<&str> = search.words().collect();
            let indexed = set.index_words().iter().any(|w| words.contains(w));
            if set.fit(&search).admits() {
                assert!(indexed, "{query:?} matches but the index would skip it");
            }
        }
        assert!(
            KeywordSet::of(&[kw("goat", MatchType::Negative)], LINE_ITEM_BID)
                .index_words()
                .is_empty()
        );
    }

    fn admits(k: &[Keyword], query: &str) -> bool {
        KeywordSet::of(k, LINE_ITEM_BID).admits(&Search::new(query, &[]))
    }

    #[test]
    fn broad_matches_every_word_in_any_order_with_plurals_folded() {
        let k = [Keyword::broad("milk")];
        assert!(admits(&k, "organic whole milk"), "the issue's example");
        assert!(admits(&k, "Milks"));
        assert!(!admits(&k, "milkshake"));
        let k = [Keyword::broad("organic eggs")];
        assert!(admits(&k, "egg, organic, free range"));
        assert!(!admits(&k, "organic milk"));
        assert!(admits(&[Keyword::broad("berries")], "fresh berry mix"));
    }

    #[test]
    fn phrase_needs_the_words_together_in_order_and_exact_the_whole_search() {
        let p = [kw("whole milk", MatchType::Phrase)];
        assert!(admits(&p, "organic whole milk 2l"));
        assert!(!admits(&p, "milk whole"));
        assert!(!admits(&p, "whole organic milk"));
        let e = [kw("whole milk", MatchType::Exact)];
        assert!(admits(&e, "Whole  Milk"));
        assert!(!admits(&e, "organic whole milk"));
    }

    #[test]
    fn a_negative_keyword_excludes_whatever_else_matches() {
        let k = [Keyword::broad("milk"), kw("chocolate", MatchType::Negative)];
        assert!(admits(&k, "milk"));
        assert!(!admits(&k, "chocolate milk"));
        // Negatives alone only exclude.
        let only = [kw("chocolate", MatchType::Negative)];
        assert!(admits(&only, "milk"));
        assert!(!admits(&only, "chocolates"));
    }

    #[test]
    fn the_page_keywords_count_as_searches_too() {
        let s = Search::new("", &["dairy".into(), "whole milk".into()]);
        assert!(KeywordSet::of(&[kw("whole milk", MatchType::Exact)], LINE_ITEM_BID).admits(&s));
        assert!(!KeywordSet::of(&[Keyword::broad("eggs")], LINE_ITEM_BID).admits(&s));
    }

    #[test]
    fn a_keyword_is_a_string_or_an_object() {
        let k: Vec<Keyword> = serde_json::from_str(
            r#"["milk", {"text": "whole milk", "match": "exact"}, {"text": "soy"}]"#,
        )
        .unwrap();
        assert_eq!(
            k,
            vec![
                Keyword::broad("milk"),
                kw("whole milk", MatchType::Exact),
                Keyword::broad("soy")
            ]
        );
        assert!(serde_json::from_str::<Keyword>(r#"{"text": "x", "match": "fuzzy"}"#).is_err());
        assert!(serde_json::from_str::<Keyword>("3").is_err());
    }

    fn bid(text: &str, m: MatchType, b: Option<i64>) -> Keyword {
        Keyword {
            bid_micros: b.map(Micros::new),
            ..kw(text, m)
        }
    }

    fn fit(k: &[Keyword], query: &str) -> KeywordFit {
        KeywordSet::of(k, LINE_ITEM_BID).fit(&Search::new(query, &[]))
    }

    #[test]
    fn the_most_specific_match_wins_whatever_the_bids() {
        let k = [
            bid("milk", MatchType::Broad, Some(9_000_000)),
            bid("whole milk", MatchType::Phrase, Some(5_000_000)),
            bid("organic whole milk", MatchType::Exact, Some(2_000_000)),
        ];
        let m = fit(&k, "organic whole milk").matched().unwrap();
        assert_eq!(
            (m.index, m.match_type, m.bid_micros),
            (2, MatchType::Exact, 2_000_000)
        );
        let m = fit(&k, "whole milk 2l").matched().unwrap();
        assert_eq!(
            (m.index, m.match_type, m.bid_micros),
            (1, MatchType::Phrase, 5_000_000)
        );
        let m = fit(&k, "milk chocolate").matched().unwrap();
        assert_eq!((m.index, m.match_type), (0, MatchType::Broad));
    }

    #[test]
    fn among_matches_of_one_type_the_highest_bid_wins_and_a_keyword_without_one_bids_the_line_items(
    ) {
        let k = [
            bid("milk", MatchType::Broad, Some(500_000)),
            bid("whole", MatchType::Broad, None),
            bid("organic", MatchType::Broad, Some(3_000_000)),
        ];
        let m = fit(&k, "organic whole milk").matched().unwrap();
        assert_eq!((m.index, m.bid_micros, m.own_bid), (2, 3_000_000, true));
        // Without the organic keyword, the line item's bid (1.0) beats the milk keyword's.
        let m = fit(&k[..2], "organic whole milk").matched().unwrap();
        assert_eq!((m.index, m.bid_micros, m.own_bid), (1, 1_000_000, false));
        // Equal bids: the keyword listed first.
        let same = [
            bid("whole", MatchType::Broad, None),
            bid("milk", MatchType::Broad, None),
        ];
        assert_eq!(fit(&same, "whole milk").matched().unwrap().index, 0);
    }

    #[test]
    fn keywords_folding_to_the_same_exact_words_keep_the_higher_bid() {
        let k = [
            bid("egg", MatchType::Exact, Some(1_500_000)),
            bid("eggs", MatchType::Exact, Some(2_500_000)),
        ];
        let m = fit(&k, "Eggs").matched().unwrap();
        assert_eq!((m.index, m.bid_micros), (1, 2_500_000));
    }

    #[test]
    fn a_fit_says_why_a_line_item_is_out() {
        let k = [Keyword::broad("milk"), kw("chocolate", MatchType::Negative)];
        assert_eq!(fit(&k, "chocolate milk"), KeywordFit::Excluded);
        assert_eq!(fit(&k, "eggs"), KeywordFit::Missed);
        assert_eq!(fit(&k[1..], "eggs"), KeywordFit::Untargeted);
        assert!(KeywordFit::Untargeted.admits() && !KeywordFit::Missed.admits());
    }

    #[test]
    fn a_keyword_may_carry_its_own_bid() {
        let k: Keyword =
            serde_json::from_str(r#"{"text": "milk", "match": "exact", "bid_micros": 1500000}"#)
                .unwrap();
        assert_eq!(k.bid_micros, Some(Micros::new(1_500_000)));
        assert_eq!(
            serde_json::to_value(&k).unwrap(),
            serde_json::json!({"text": "milk", "match": "exact", "bid_micros": 1500000})
        );
        // No bid: none written back.
        assert_eq!(
            serde_json::to_value(Keyword::broad("milk")).unwrap(),
            serde_json::json!({"text": "milk", "match": "broad"})
        );
    }
}
