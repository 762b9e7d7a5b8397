//! Keyword targeting: match types, and matching a line item's keywords against a shopper's
//! search (the query text and the page's keyword list). Words are compared normalized: lower
//! case, split on anything that is not a letter or digit, plurals folded to the singular.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;

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

/// A targeted keyword: a plain string (broad match) or `{"text": "...", "match": "exact"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"text": "organic milk", "match": "phrase"}))]
pub struct Keyword {
    /// The words, stored lower-case with single spaces.
    pub text: String,
    /// How they match.
    #[serde(rename = "match")]
    pub match_type: MatchType,
}

impl Keyword {
    /// A broad-match keyword.
    pub fn broad(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            match_type: MatchType::Broad,
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
                "a keyword is a string or {\"text\": ..., \"match\": exact|phrase|broad|negative}",
            )
            })? {
                Raw::Text(text) => Keyword::broad(text),
                Raw::Full(f) => Keyword {
                    text: f.text,
                    match_type: f.match_type,
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

    fn broad(&self, kw: &[String]) -> bool {
        self.words.iter().any(|w| kw.iter().all(|k| w.contains(k)))
    }

    fn phrase(&self, kw: &[String]) -> bool {
        self.texts
            .iter()
            .any(|t| t.len() >= kw.len() && t.windows(kw.len()).any(|w| w == kw))
    }
}

/// A line item's keywords, compiled for matching.
#[derive(Debug, Default)]
pub struct KeywordSet {
    exact: HashSet<String>,
    phrase: Vec<Vec<String>>,
    broad: Vec<Vec<String>>,
    negative: Vec<Vec<String>>,
}

impl KeywordSet {
    /// Compiles a line item's keywords.
    pub fn of(keywords: &[Keyword]) -> Self {
        let mut s = Self::default();
        for k in keywords {
            let words = match_words(&k.text);
            if words.is_empty() {
                continue;
            }
            match k.match_type {
                MatchType::Exact => {
                    s.exact.insert(words.join(" "));
                }
                MatchType::Phrase => s.phrase.push(words),
                MatchType::Broad => s.broad.push(words),
                MatchType::Negative => s.negative.push(words),
            }
        }
        s
    }

    /// Whether the line item targets keywords at all (negatives alone only exclude).
    pub fn targets(&self) -> bool {
        !(self.exact.is_empty() && self.phrase.is_empty() && self.broad.is_empty())
    }

    /// Whether the line item may serve this search: no negative keyword matches it, and, if
    /// it targets keywords, one of them does.
    pub fn admits(&self, search: &Search) -> bool {
        if self.negative.iter().any(|n| search.broad(n)) {
            return false;
        }
        if !self.targets() {
            return true;
        }
        search.whole.iter().any(|w| self.exact.contains(w))
            || self.phrase.iter().any(|p| search.phrase(p))
            || self.broad.iter().any(|b| search.broad(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(text: &str, m: MatchType) -> Keyword {
        Keyword {
            text: text.into(),
            match_type: m,
        }
    }

    fn admits(k: &[Keyword], query: &str) -> bool {
        KeywordSet::of(k).admits(&Search::new(query, &[]))
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
        assert!(KeywordSet::of(&[kw("whole milk", MatchType::Exact)]).admits(&s));
        assert!(!KeywordSet::of(&[Keyword::broad("eggs")]).admits(&s));
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
}
