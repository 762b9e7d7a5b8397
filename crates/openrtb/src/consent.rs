//! Privacy signals in bid requests: the IAB TCF v2 consent string (its core segment) and the
//! IAB Global Privacy Platform string (its header, and the sections a bidder acts on).
//!
//! Both arrive from anyone on the internet, so every read is bounds-checked and a malformed
//! string is an error naming what is wrong; the bidder takes an error as "no consent".

/// Why a consent, GPP or US Privacy string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    /// The string (or one of its segments) is empty.
    #[error("the string is empty")]
    Empty,
    /// A character outside the base64url alphabet.
    #[error("{0:?} is not a base64url character")]
    NotBase64Url(char),
    /// The bits ran out inside the named field.
    #[error("the string ends inside {0}")]
    Truncated(&'static str),
    /// The TC string is not TCF v2.
    #[error("TC string version {0} is not 2")]
    TcfVersion(u64),
    /// A two-letter code holds a value that is not a letter.
    #[error("{0} is not two letters")]
    NotLetters(&'static str),
    /// A vendor range starts at 0, ends before it starts or passes the section's MaxVendorId.
    #[error("{field}: the vendor range {start}-{end} is not within 1..={max}")]
    VendorRange {
        /// The section holding the range.
        field: &'static str,
        /// First vendor id of the range.
        start: u16,
        /// Last vendor id of the range.
        end: u16,
        /// The highest id the section allows.
        max: u16,
    },
    /// The GPP header's type is not 3.
    #[error("GPP header type {0} is not 3")]
    GppType(u64),
    /// The GPP header's version is not 1.
    #[error("GPP version {0} is not 1")]
    GppVersion(u64),
    /// A Fibonacci-coded section id is unterminated or past the largest section id.
    #[error("a GPP section id is not a terminated Fibonacci code of at most 65535")]
    Fibonacci,
    /// The header does not list one section id per section in the string.
    #[error("the GPP header lists {listed} sections but the string carries {found}")]
    SectionCount {
        /// Section ids the header lists (at least).
        listed: usize,
        /// Sections after the header.
        found: usize,
    },
    /// A section in force is not in the GPP string.
    #[error("GPP section {0} is not in the string")]
    MissingSection(u16),
    /// A US national or state section has version 0.
    #[error("GPP section {0} has version 0")]
    SectionVersion(u16),
    /// The US Privacy string is not `1` followed by three of `Y`, `N`, `-`.
    #[error("the US Privacy string is not 1 followed by three of Y, N or -")]
    UsPrivacy,
}

/// Bits read most significant first out of a base64url string, every read bounds-checked.
struct Bits {
    bytes: Vec<u8>,
    len: usize,
    pos: usize,
}

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

impl Bits {
    /// Decodes base64url without padding (trailing `=` is tolerated). Decoded by hand rather
    /// than with the base64 crate: these strings end on any 6-bit boundary, not a byte one.
    fn base64url(s: &str) -> Result<Bits, ConsentError> {
        let s = s.trim_end_matches('=');
        if s.is_empty() {
            return Err(ConsentError::Empty);
        }
        if let Some(c) = s
            .chars()
            .find(|c| !c.is_ascii() || sextet(*c as u8).is_none())
        {
            return Err(ConsentError::NotBase64Url(c));
        }
        let len = s.len() * 6;
        let mut bytes = vec![0u8; len.div_ceil(8)];
        for (i, v) in s.bytes().filter_map(sextet).enumerate() {
            for b in 0..6 {
                if v & (0x20 >> b) != 0 {
                    let bit = i * 6 + b;
                    if let Some(byte) = bytes.get_mut(bit / 8) {
                        *byte |= 0x80 >> (bit % 8);
                    }
                }
            }
        }
        Ok(Bits { bytes, len, pos: 0 })
    }

    fn bit(&mut self, field: &'static str) -> Result<bool, ConsentError> {
        if self.pos >= self.len {
            return Err(ConsentError::Truncated(field));
        }
        let byte = self
            .bytes
            .get(self.pos / 8)
            .ok_or(ConsentError::Truncated(field))?;
        let set = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Ok(set)
    }

    /// An unsigned integer of `n` bits (at most 64).
    fn int(&mut self, n: u32, field: &'static str) -> Result<u64, ConsentError> {
        let mut v = 0u64;
        for _ in 0..n.min(64) {
            v = (v << 1) | u64::from(self.bit(field)?);
        }
        Ok(v)
    }

    fn u16(&mut self, n: u32, field: &'static str) -> Result<u16, ConsentError> {
        // n is at most 16 at every call site, so the value fits.
        Ok(u16::try_from(self.int(n.min(16), field)?).unwrap_or(u16::MAX))
    }

    fn u8(&mut self, n: u32, field: &'static str) -> Result<u8, ConsentError> {
        Ok(u8::try_from(self.int(n.min(8), field)?).unwrap_or(u8::MAX))
    }

    /// Two 6-bit letters, `A` = 0.
    fn letters(&mut self, field: &'static str) -> Result<[u8; 2], ConsentError> {
        let mut out = [0u8; 2];
        for c in &mut out {
            let v = self.u8(6, field)?;
            if v > 25 {
                return Err(ConsentError::NotLetters(field));
            }
            *c = b'A' + v;
        }
        Ok(out)
    }

    /// The 2-bit field at `pos` (US sections are read at fixed offsets).
    fn int2_at(&mut self, pos: usize, field: &'static str) -> Result<u8, ConsentError> {
        self.pos = pos;
        self.u8(2, field)
    }
}

/// Vendor ids as inclusive ranges, as one TC string section lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorSet {
    /// The section's MaxVendorId.
    pub max_vendor_id: u16,
    /// The ids set, as inclusive `(first, last)` ranges.
    pub ranges: Vec<(u16, u16)>,
}

impl VendorSet {
    /// Whether vendor `id` is in the set.
    pub fn contains(&self, id: u16) -> bool {
        self.ranges.iter().any(|&(a, b)| (a..=b).contains(&id))
    }
}

/// One range entry `{IsARange(1), StartOrOnlyVendorId(16), [EndVendorId(16)]}`.
fn range_entry(bits: &mut Bits, field: &'static str, max: u16) -> Result<(u16, u16), ConsentError> {
    let is_range = bits.bit(field)?;
    let start = bits.u16(16, field)?;
    let end = if is_range {
        bits.u16(16, field)?
    } else {
        start
    };
    if start == 0 || end < start || end > max {
        return Err(ConsentError::VendorRange {
            field,
            start,
            end,
            max,
        });
    }
    Ok((start, end))
}

/// A vendor section: MaxVendorId(16), IsRangeEncoding(1), then a bitfield of MaxVendorId bits
/// or NumEntries(12) range entries.
fn vendor_section(bits: &mut Bits, field: &'static str) -> Result<VendorSet, ConsentError> {
    let max_vendor_id = bits.u16(16, field)?;
    let mut ranges = Vec::new();
    if bits.bit(field)? {
        let n = bits.int(12, field)?;
        for _ in 0..n {
            ranges.push(range_entry(bits, field, max_vendor_id)?);
        }
    } else {
        // Runs of set bits become ranges: at most one entry per two bits read.
        let mut run: Option<u16> = None;
        for id in 1..=max_vendor_id {
            match (bits.bit(field)?, run) {
                (true, None) => run = Some(id),
                (false, Some(start)) => {
                    ranges.push((start, id - 1));
                    run = None;
                }
                _ => {}
            }
        }
        if let Some(start) = run {
            ranges.push((start, max_vendor_id));
        }
    }
    Ok(VendorSet {
        max_vendor_id,
        ranges,
    })
}

/// A publisher restriction: for one purpose, how the listed vendors may process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherRestriction {
    /// The purpose restricted.
    pub purpose_id: u8,
    /// 0 not allowed, 1 consent required, 2 legitimate interest required (3 is undefined).
    pub restriction_type: u8,
    /// The vendors restricted, as inclusive ranges.
    pub vendors: Vec<(u16, u16)>,
}

/// The core segment of a TCF v2 TC string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcString {
    /// When the string was first created, deciseconds since the Unix epoch.
    pub created_ds: u64,
    /// When it was last updated, deciseconds since the Unix epoch.
    pub last_updated_ds: u64,
    /// The consent management platform's id.
    pub cmp_id: u16,
    /// The CMP's version.
    pub cmp_version: u16,
    /// The CMP screen consent was given on.
    pub consent_screen: u8,
    /// The language of the consent screen, two upper-case ASCII letters.
    pub consent_language: [u8; 2],
    /// The global vendor list version used.
    pub vendor_list_version: u16,
    /// The TCF policy version.
    pub tcf_policy_version: u8,
    /// Consent is for this service only.
    pub is_service_specific: bool,
    /// The CMP used non-standard texts.
    pub use_non_standard_texts: bool,
    /// Special features opted in, bit 11 = feature 1 (12 bits).
    pub special_feature_opt_ins: u16,
    /// Purposes consented, bit 23 = purpose 1 (24 bits, in string order).
    pub purposes_consent: u32,
    /// Purposes whose legitimate interest was disclosed, bit 23 = purpose 1.
    pub purposes_li_transparency: u32,
    /// Purpose 1 was not disclosed (the publisher's country treats it differently).
    pub purpose_one_treatment: bool,
    /// The publisher's country, two upper-case ASCII letters.
    pub publisher_cc: [u8; 2],
    /// Vendors with the user's consent.
    pub vendor_consents: VendorSet,
    /// Vendors whose legitimate interest was disclosed and not objected to.
    pub vendor_legitimate_interests: VendorSet,
    /// The publisher's restrictions.
    pub publisher_restrictions: Vec<PublisherRestriction>,
}

impl TcString {
    /// Decodes the core segment of a TC string; later `.` segments are ignored.
    pub fn parse(s: &str) -> Result<TcString, ConsentError> {
        let core = s.split('.').next().unwrap_or_default();
        let mut b = Bits::base64url(core)?;
        let version = b.int(6, "Version")?;
        if version != 2 {
            return Err(ConsentError::TcfVersion(version));
        }
        let created_ds = b.int(36, "Created")?;
        let last_updated_ds = b.int(36, "LastUpdated")?;
        let cmp_id = b.u16(12, "CmpId")?;
        let cmp_version = b.u16(12, "CmpVersion")?;
        let consent_screen = b.u8(6, "ConsentScreen")?;
        let consent_language = b.letters("ConsentLanguage")?;
        let vendor_list_version = b.u16(12, "VendorListVersion")?;
        let tcf_policy_version = b.u8(6, "TcfPolicyVersion")?;
        let is_service_specific = b.bit("IsServiceSpecific")?;
        let use_non_standard_texts = b.bit("UseNonStandardTexts")?;
        let special_feature_opt_ins = b.u16(12, "SpecialFeatureOptIns")?;
        let purposes_consent = u32::try_from(b.int(24, "PurposesConsent")?).unwrap_or(0);
        let purposes_li_transparency =
            u32::try_from(b.int(24, "PurposesLITransparency")?).unwrap_or(0);
        let purpose_one_treatment = b.bit("PurposeOneTreatment")?;
        let publisher_cc = b.letters("PublisherCC")?;
        let vendor_consents = vendor_section(&mut b, "the vendor consent section")?;
        let vendor_legitimate_interests =
            vendor_section(&mut b, "the vendor legitimate interest section")?;
        let n = b.int(12, "NumPubRestrictions")?;
        let mut publisher_restrictions = Vec::new();
        for _ in 0..n {
            let purpose_id = b.u8(6, "PurposeId")?;
            let restriction_type = b.u8(2, "RestrictionType")?;
            let entries = b.int(12, "the publisher restriction entries")?;
            let mut vendors = Vec::new();
            for _ in 0..entries {
                vendors.push(range_entry(
                    &mut b,
                    "the publisher restriction entries",
                    u16::MAX,
                )?);
            }
            publisher_restrictions.push(PublisherRestriction {
                purpose_id,
                restriction_type,
                vendors,
            });
        }
        Ok(TcString {
            created_ds,
            last_updated_ds,
            cmp_id,
            cmp_version,
            consent_screen,
            consent_language,
            vendor_list_version,
            tcf_policy_version,
            is_service_specific,
            use_non_standard_texts,
            special_feature_opt_ins,
            purposes_consent,
            purposes_li_transparency,
            purpose_one_treatment,
            publisher_cc,
            vendor_consents,
            vendor_legitimate_interests,
            publisher_restrictions,
        })
    }

    /// Whether the user consented to `purpose` (1-24).
    pub fn purpose_consent(&self, purpose: u8) -> bool {
        (1..=24).contains(&purpose) && self.purposes_consent & (1 << (24 - purpose)) != 0
    }
}

/// The TCF purposes Endcap processes under consent: 1 store and/or access information on a
/// device, 3 create a personalised ads profile, 4 select personalised ads.
pub const REQUIRED_PURPOSES: [u8; 3] = [1, 3, 4];

/// GPP section ids the bidder decodes.
const TCF_EU_V2: u16 = 2;
const US_PRIVACY: u16 = 6;

/// What the bidder needs from the privacy signals: which IAB vendor it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsentPolicy {
    /// Endcap's IAB global vendor list id; without one no TC string can grant consent, so
    /// requests under GDPR (or with a TCF GPP section in force) are served contextually.
    pub vendor_id: Option<u16>,
}

impl ConsentPolicy {
    /// Whether a decoded TC string lets us personalise: consent to every purpose in
    /// [`REQUIRED_PURPOSES`] (Purpose 1 is required even under PurposeOneTreatment), consent
    /// for our vendor id, and no publisher restriction on those purposes for our vendor other
    /// than "consent required" (a "not allowed" or "legitimate interest only" one rules out the
    /// consent basis we rely on).
    pub fn allows(&self, tc: &TcString) -> bool {
        let Some(vendor) = self.vendor_id else {
            return false;
        };
        REQUIRED_PURPOSES.iter().all(|&p| tc.purpose_consent(p))
            && tc.vendor_consents.contains(vendor)
            && !tc.publisher_restrictions.iter().any(|r| {
                REQUIRED_PURPOSES.contains(&r.purpose_id)
                    && r.restriction_type != 1
                    && r.vendors.iter().any(|&(a, b)| (a..=b).contains(&vendor))
            })
    }

    /// Decodes a TC string and applies [`ConsentPolicy::allows`].
    pub fn tcf_allows(&self, tc_string: &str) -> Result<bool, ConsentError> {
        Ok(self.allows(&TcString::parse(tc_string)?))
    }

    /// Whether a GPP string lets us personalise, reading the sections in force: `applicable`
    /// (OpenRTB `gpp_sid`), or every section in the string when the request names none.
    /// Section 2 (TCF EU v2) takes the TCF rule of [`ConsentPolicy::allows`]; 6 (US Privacy)
    /// refuses on a sale opt-out; 7-12 (US national and the first states) refuse on the
    /// opt-outs [`us_opt_outs`] reads. Any other section in force refuses: it is a framework
    /// the bidder does not decode (Canada's TCF, later US states), so it counts as an opt-out.
    pub fn gpp_allows(&self, gpp: &str, applicable: Option<&[u16]>) -> Result<bool, ConsentError> {
        let g = GppString::parse(gpp)?;
        let ids: Vec<u16> = match applicable {
            Some(ids) => ids.to_vec(),
            None => g.section_ids().collect(),
        };
        for id in ids {
            let section = g.section(id).ok_or(ConsentError::MissingSection(id))?;
            let allowed = match id {
                TCF_EU_V2 => self.tcf_allows(section)?,
                US_PRIVACY => !us_privacy_opted_out(section)?,
                _ => us_opt_outs(id, section)?.is_some_and(|o| !o.any()),
            };
            if !allowed {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The privacy signals of one call, however they arrived (a bid request's `regs` and
/// `user.consent`, or a user-sync URL's `gdpr`, `gdpr_consent`, `us_privacy`, `gpp` and
/// `gpp_sid` as Prebid passes them): the one rule deciding whether we may treat the user as
/// a person is [`PrivacySignals::allow`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrivacySignals<'a> {
    /// 1 when GDPR applies.
    pub gdpr: Option<u64>,
    /// The TCF v2 consent string.
    pub consent: Option<&'a str>,
    /// The US Privacy string.
    pub us_privacy: Option<&'a str>,
    /// The GPP string.
    pub gpp: Option<&'a str>,
    /// GPP sections in force, as sent (`-1` or `0`: none).
    pub gpp_sid: &'a [i64],
}

impl PrivacySignals<'_> {
    /// Whether every signal present lets us personalise (and identify) the user:
    /// - GDPR (`gdpr` = 1): the consent string must be a TCF v2 string granting `policy`'s
    ///   vendor the purposes it needs ([`ConsentPolicy::allows`]); no string, an undecodable
    ///   one or no configured vendor id means no consent.
    /// - US Privacy: a sale opt-out (`1?Y?`) or a malformed string refuses.
    /// - GPP: the sections in force (`gpp_sid`, or every section of `gpp` when it names
    ///   none) must allow it ([`ConsentPolicy::gpp_allows`]); a malformed string, or sections
    ///   in force without a string, refuses.
    pub fn allow(&self, policy: &ConsentPolicy) -> bool {
        if self.gdpr == Some(1)
            && !self
                .consent
                .is_some_and(|c| policy.tcf_allows(c).unwrap_or(false))
        {
            return false;
        }
        let usp = self.us_privacy.filter(|u| !u.is_empty());
        if usp.is_some_and(|u| us_privacy_opted_out(u).unwrap_or(true)) {
            return false;
        }
        // An empty gpp_sid names no sections, so every section of the string is read; ids
        // outside 1..=65535 (the `-1` of "none apply") name none.
        let applicable: Option<Vec<u16>> = (!self.gpp_sid.is_empty()).then(|| {
            self.gpp_sid
                .iter()
                .filter_map(|&s| u16::try_from(s).ok())
                .filter(|&s| s > 0)
                .collect()
        });
        match (self.gpp.filter(|g| !g.is_empty()), applicable) {
            (None, None) => true,
            (None, Some(ids)) => ids.is_empty(),
            (Some(gpp), ids) => policy.gpp_allows(gpp, ids.as_deref()).unwrap_or(false),
        }
    }
}

/// Whether a US Privacy string (`1YYN`: version, notice given, opted out of sale, LSPA)
/// says the user opted out of sale.
pub fn us_privacy_opted_out(s: &str) -> Result<bool, ConsentError> {
    let b = s.as_bytes();
    let valid = |c: &u8| matches!(c.to_ascii_uppercase(), b'Y' | b'N' | b'-');
    match b {
        [b'1', notice, opt_out, lspa] if [notice, opt_out, lspa].into_iter().all(valid) => {
            Ok(opt_out.eq_ignore_ascii_case(&b'y'))
        }
        _ => Err(ConsentError::UsPrivacy),
    }
}

/// A GPP string split into its sections, by section id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GppString<'a> {
    sections: Vec<(u16, &'a str)>,
}

/// Longest Fibonacci code read, terminator included: F(25) = 121,393 is past any section id.
const MAX_FIBONACCI_BITS: usize = 25;

/// A Fibonacci-coded integer: bits for 1, 2, 3, 5, 8, ... ended by a second consecutive 1.
fn fibonacci(bits: &mut Bits) -> Result<u32, ConsentError> {
    let (mut a, mut b) = (1u32, 2u32);
    let mut value = 0u32;
    let mut prev = false;
    for _ in 0..MAX_FIBONACCI_BITS {
        let bit = bits.bit("a GPP section id")?;
        if bit && prev {
            return Ok(value);
        }
        if bit {
            value = value.saturating_add(a);
        }
        prev = bit;
        (a, b) = (b, a.saturating_add(b));
    }
    Err(ConsentError::Fibonacci)
}

impl<'a> GppString<'a> {
    /// Reads the header (Type(6) = 3, Version(6) = 1, section ids as a Fibonacci range) and
    /// pairs each id with its `~`-separated section. The sections themselves are not decoded.
    pub fn parse(s: &'a str) -> Result<GppString<'a>, ConsentError> {
        let mut parts = s.split('~');
        let mut b = Bits::base64url(parts.next().unwrap_or_default())?;
        let sections: Vec<&str> = parts.collect();
        let kind = b.int(6, "the GPP header type")?;
        if kind != 3 {
            return Err(ConsentError::GppType(kind));
        }
        let version = b.int(6, "the GPP version")?;
        if version != 1 {
            return Err(ConsentError::GppVersion(version));
        }
        let n = b.int(12, "the GPP section count")?;
        let mut ids: Vec<u16> = Vec::new();
        let mut last = 0u32;
        for _ in 0..n {
            let group = b.bit("a GPP section id")?;
            let start = last.saturating_add(fibonacci(&mut b)?);
            let end = if group {
                start.saturating_add(fibonacci(&mut b)?)
            } else {
                start
            };
            let end = u16::try_from(end).map_err(|_| ConsentError::Fibonacci)?;
            let start = u16::try_from(start).map_err(|_| ConsentError::Fibonacci)?;
            // Checked before the group is expanded: a group cannot list more ids than there
            // are sections, so a hostile header cannot make this allocate.
            let listed = ids.len() + usize::from(end - start) + 1;
            if listed > sections.len() {
                return Err(ConsentError::SectionCount {
                    listed,
                    found: sections.len(),
                });
            }
            ids.extend(start..=end);
            last = u32::from(end);
        }
        if ids.len() != sections.len() {
            return Err(ConsentError::SectionCount {
                listed: ids.len(),
                found: sections.len(),
            });
        }
        Ok(GppString {
            sections: ids.into_iter().zip(sections).collect(),
        })
    }

    /// The section ids in the string, in order.
    pub fn section_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.sections.iter().map(|&(id, _)| id)
    }

    /// The encoded section with `id`, if the string carries it.
    pub fn section(&self, id: u16) -> Option<&'a str> {
        self.sections
            .iter()
            .find(|&&(i, _)| i == id)
            .map(|&(_, s)| s)
    }
}

/// The opt-outs a US national or state GPP section records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsOptOuts {
    /// SaleOptOut is 1 (opted out).
    pub sale: bool,
    /// SharingOptOut is 1 (national and California: cross-context behavioural advertising).
    pub sharing: bool,
    /// TargetedAdvertisingOptOut is 1.
    pub targeted_advertising: bool,
    /// The GPC sub-section says the browser sent Global Privacy Control.
    pub gpc: bool,
}

impl UsOptOuts {
    /// Whether any of them rules out personalised ads.
    pub fn any(&self) -> bool {
        self.sale || self.sharing || self.targeted_advertising || self.gpc
    }
}

/// Reads the opt-outs of a US section: 7 (national), 8 (California), 9 (Virginia),
/// 10 (Colorado), 11 (Utah), 12 (Connecticut); `None` for any other id. Each field is read
/// at its offset in that section's core segment (Int(2): 1 opted out, 2 did not, 0 not
/// applicable); a `.`-separated GPC sub-section (SubsectionType(2) = 1, Gpc(1)) is read too.
pub fn us_opt_outs(id: u16, section: &str) -> Result<Option<UsOptOuts>, ConsentError> {
    // (SaleOptOut, SharingOptOut, TargetedAdvertisingOptOut) bit offsets, per the IAB
    // section specifications; later fields differ between versions, these do not.
    let (sale, sharing, targeted) = match id {
        7 => (18, Some(20), Some(22)),
        8 => (12, Some(14), None),
        9 | 10 | 12 => (12, None, Some(14)),
        11 => (14, None, Some(16)),
        _ => return Ok(None),
    };
    let mut segments = section.split('.');
    let mut b = Bits::base64url(segments.next().unwrap_or_default())?;
    if b.int(6, "the US section version")? == 0 {
        return Err(ConsentError::SectionVersion(id));
    }
    let mut out = UsOptOuts {
        sale: b.int2_at(sale, "SaleOptOut")? == 1,
        ..UsOptOuts::default()
    };
    if let Some(at) = sharing {
        out.sharing = b.int2_at(at, "SharingOptOut")? == 1;
    }
    if let Some(at) = targeted {
        out.targeted_advertising = b.int2_at(at, "TargetedAdvertisingOptOut")? == 1;
    }
    for segment in segments {
        let mut s = Bits::base64url(segment)?;
        if s.int(2, "SubsectionType")? == 1 {
            out.gpc |= s.bit("Gpc")?;
        }
    }
    Ok(Some(out))
}

/// Encoders for tests: TC strings, GPP strings and US sections with chosen contents.
#[cfg(test)]
pub(crate) mod encode {
    /// Bits written most significant first.
    #[derive(Default)]
    pub(crate) struct BitWriter {
        bits: Vec<bool>,
    }

    impl BitWriter {
        pub(crate) fn int(&mut self, v: u64, n: u32) -> &mut Self {
            for i in (0..n).rev() {
                self.bits.push(v >> i & 1 == 1);
            }
            self
        }

        pub(crate) fn bit(&mut self, b: bool) -> &mut Self {
            self.bits.push(b);
            self
        }

        /// Fibonacci code of `v` (>= 1): Zeckendorf bits for 1, 2, 3, 5, ... then a 1.
        pub(crate) fn fib(&mut self, v: u32) -> &mut Self {
            let mut fibs = vec![1u32, 2];
            while fibs[fibs.len() - 1] <= v {
                let n = fibs.len();
                fibs.push(fibs[n - 1] + fibs[n - 2]);
            }
            let mut code = vec![false; fibs.len()];
            let mut rest = v;
            for i in (0..fibs.len()).rev() {
                if fibs[i] <= rest {
                    code[i] = true;
                    rest -= fibs[i];
                }
            }
            while code.last() == Some(&false) {
                code.pop();
            }
            self.bits.extend(code);
            self.bit(true)
        }

        pub(crate) fn base64url(&self) -> String {
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            self.bits
                .chunks(6)
                .map(|c| {
                    let v = (0..6).fold(0, |v, i| v << 1 | usize::from(c.get(i) == Some(&true)));
                    ALPHABET[v] as char
                })
                .collect()
        }
    }

    /// Sorted ids as inclusive runs.
    fn runs(ids: &[u16]) -> Vec<(u16, u16)> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut out: Vec<(u16, u16)> = Vec::new();
        for id in ids {
            match out.last_mut() {
                Some((_, end)) if *end + 1 == id => *end = id,
                _ => out.push((id, id)),
            }
        }
        out
    }

    fn entries(w: &mut BitWriter, ranges: &[(u16, u16)]) {
        w.int(ranges.len() as u64, 12);
        for &(a, b) in ranges {
            w.bit(a != b).int(a.into(), 16);
            if a != b {
                w.int(b.into(), 16);
            }
        }
    }

    /// A TC string to encode.
    pub(crate) struct Tc {
        pub(crate) version: u64,
        pub(crate) purposes: Vec<u8>,
        pub(crate) vendors: Vec<u16>,
        pub(crate) range_encoding: bool,
        pub(crate) li_vendors: Vec<u16>,
        pub(crate) restrictions: Vec<super::PublisherRestriction>,
        pub(crate) purpose_one_treatment: bool,
    }

    impl Default for Tc {
        fn default() -> Self {
            Tc {
                version: 2,
                purposes: vec![1, 2, 3, 4, 7],
                vendors: Vec::new(),
                range_encoding: false,
                li_vendors: Vec::new(),
                restrictions: Vec::new(),
                purpose_one_treatment: false,
            }
        }
    }

    impl Tc {
        pub(crate) fn writer(&self) -> BitWriter {
            let mut w = BitWriter::default();
            let letters = |w: &mut BitWriter, s: &[u8; 2]| {
                w.int((s[0] - b'A').into(), 6).int((s[1] - b'A').into(), 6);
            };
            w.int(self.version, 6)
                .int(16_500_000_000, 36)
                .int(16_500_000_100, 36)
                .int(300, 12)
                .int(7, 12)
                .int(1, 6);
            letters(&mut w, b"EN");
            w.int(150, 12).int(4, 6).bit(true).bit(false).int(0b1, 12);
            let purposes = self
                .purposes
                .iter()
                .fold(0u64, |m, &p| m | 1 << (24 - u32::from(p)));
            w.int(purposes, 24)
                .int(0, 24)
                .bit(self.purpose_one_treatment);
            letters(&mut w, b"DE");
            for (vendors, range) in [
                (&self.vendors, self.range_encoding),
                (&self.li_vendors, false),
            ] {
                let max = vendors.iter().copied().max().unwrap_or(0);
                w.int(max.into(), 16).bit(range);
                if range {
                    entries(&mut w, &runs(vendors));
                } else {
                    for id in 1..=max {
                        w.bit(vendors.contains(&id));
                    }
                }
            }
            w.int(self.restrictions.len() as u64, 12);
            for r in &self.restrictions {
                w.int(r.purpose_id.into(), 6)
                    .int(r.restriction_type.into(), 2);
                entries(&mut w, &r.vendors);
            }
            w
        }

        pub(crate) fn encode(&self) -> String {
            self.writer().base64url()
        }
    }

    /// A GPP string of `sections` (ascending ids), the header listing each id singly.
    pub(crate) fn gpp(sections: &[(u16, &str)]) -> String {
        let mut w = BitWriter::default();
        w.int(3, 6).int(1, 6).int(sections.len() as u64, 12);
        let mut last = 0;
        for &(id, _) in sections {
            w.bit(false).fib(u32::from(id - last));
            last = id;
        }
        let mut out = w.base64url();
        for (_, s) in sections {
            out.push('~');
            out.push_str(s);
        }
        out
    }

    /// A US section core: version 1, then 2-bit fields, 1 at the opt-outs in `opted_out`
    /// (bit offsets), 2 ("did not opt out") elsewhere.
    pub(crate) fn us_section(fields: usize, opted_out: &[usize]) -> String {
        let mut w = BitWriter::default();
        w.int(1, 6);
        for i in 0..fields {
            w.int(
                if opted_out.contains(&(6 + 2 * i)) {
                    1
                } else {
                    2
                },
                2,
            );
        }
        w.base64url()
    }
}

#[cfg(test)]
mod tests {
    use super::encode::{gpp, us_section, BitWriter, Tc};
    use super::*;

    const OURS: ConsentPolicy = ConsentPolicy {
        vendor_id: Some(755),
    };

    fn restriction(
        purpose_id: u8,
        restriction_type: u8,
        vendors: (u16, u16),
    ) -> PublisherRestriction {
        PublisherRestriction {
            purpose_id,
            restriction_type,
            vendors: vec![vendors],
        }
    }

    #[test]
    fn published_example_strings_decode() {
        // The TC string of the IAB GPP specification's examples.
        let tc = TcString::parse("CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA").unwrap();
        assert_eq!(&tc.consent_language, b"EN");
        assert_eq!(&tc.publisher_cc, b"DE");
        assert_eq!((tc.cmp_id, tc.vendor_list_version), (31, 126));
        assert_eq!(tc.tcf_policy_version, 2);
        // April 2022, in deciseconds; the example consents to nothing.
        assert_eq!(tc.created_ds, 16_504_920_000);
        assert!(!(1..=24).any(|p| tc.purpose_consent(p)), "{tc:?}");
        assert_eq!(tc.vendor_consents.max_vendor_id, 0);
        assert!(!OURS.allows(&tc));
        // An IAB TCF v2.0 string with a second (disclosed vendors) segment, ignored.
        let tc = TcString::parse(
            "COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA.IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAA",
        )
        .unwrap();
        assert_eq!(&tc.consent_language, b"EN");
        assert!(tc.vendor_consents.max_vendor_id > 0);
        // Created in 2020, in deciseconds.
        assert!(
            (15_778_368_000..16_094_592_000).contains(&tc.created_ds),
            "{tc:?}"
        );
    }

    #[test]
    fn strings_from_another_encoder_decode() {
        // Written by a separate bit writer (the ad server's black-box tests send them):
        // purposes 1-4 and 7, vendor consent for 755, or for 754 only.
        let ours = "CP1R2oAP1R2oAEsAHBENCWEgAPIAAAAAAAYgF5gAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgAAAA";
        let other = "CP1R2oAP1R2oAEsAHBENCWEgAPIAAAAAAAYgF5AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABAAAAA";
        let tc = TcString::parse(ours).unwrap();
        assert_eq!(tc.vendor_consents.ranges, [(755, 755)]);
        assert_eq!(
            (1..=24)
                .filter(|&p| tc.purpose_consent(p))
                .collect::<Vec<_>>(),
            [1, 2, 3, 4, 7]
        );
        assert_eq!((&tc.consent_language, &tc.publisher_cc), (b"EN", b"DE"));
        assert_eq!(tc.created_ds, 17_000_000_000);
        assert_eq!(OURS.tcf_allows(ours), Ok(true));
        assert_eq!(OURS.tcf_allows(other), Ok(false));
        // The test encoder writes the same bits.
        let mine = Tc {
            vendors: vec![755],
            ..Tc::default()
        }
        .encode();
        assert_eq!(
            TcString::parse(&mine).map(|t| t.vendor_consents),
            Ok(tc.vendor_consents)
        );
    }

    #[test]
    fn purposes_and_vendors_round_trip_in_both_encodings() {
        for range_encoding in [false, true] {
            let s = Tc {
                vendors: vec![2, 3, 4, 755, 1000],
                li_vendors: vec![9],
                range_encoding,
                restrictions: vec![restriction(2, 0, (10, 20))],
                ..Tc::default()
            }
            .encode();
            let tc = TcString::parse(&s).unwrap();
            assert_eq!(
                tc.vendor_consents.ranges,
                [(2, 4), (755, 755), (1000, 1000)]
            );
            assert_eq!(tc.vendor_consents.max_vendor_id, 1000);
            assert!(tc.vendor_consents.contains(755) && !tc.vendor_consents.contains(5));
            assert_eq!(tc.vendor_legitimate_interests.ranges, [(9, 9)]);
            assert_eq!(tc.publisher_restrictions, [restriction(2, 0, (10, 20))]);
            assert_eq!(
                (1..=10)
                    .filter(|&p| tc.purpose_consent(p))
                    .collect::<Vec<_>>(),
                [1, 2, 3, 4, 7]
            );
            assert_eq!((tc.cmp_id, tc.vendor_list_version), (300, 150));
            assert_eq!(&tc.publisher_cc, b"DE");
            assert!(tc.is_service_specific && !tc.use_non_standard_texts);
        }
    }

    #[test]
    fn consent_needs_purposes_1_3_4_and_our_vendor() {
        let with = |tc: Tc| OURS.tcf_allows(&tc.encode()).unwrap();
        let ours = || Tc {
            vendors: vec![1, 755],
            ..Tc::default()
        };
        assert!(with(ours()));
        assert!(with(Tc {
            range_encoding: true,
            ..ours()
        }));
        for missing in REQUIRED_PURPOSES {
            let mut tc = ours();
            tc.purposes.retain(|&p| p != missing);
            assert!(!with(tc), "purpose {missing} missing");
        }
        assert!(!with(Tc {
            vendors: vec![754, 756],
            ..Tc::default()
        }));
        // Purpose 1 is needed even when the publisher did not disclose it.
        assert!(!with(Tc {
            purposes: vec![3, 4],
            purpose_one_treatment: true,
            ..ours()
        }));
        // No vendor id configured: nothing grants consent.
        assert!(!ConsentPolicy::default()
            .tcf_allows(&ours().encode())
            .unwrap());
        // Publisher restrictions on our purposes for our vendor.
        for (kind, allowed) in [(0, false), (1, true), (2, false), (3, false)] {
            let tc = Tc {
                restrictions: vec![restriction(3, kind, (700, 800))],
                ..ours()
            };
            assert_eq!(with(tc), allowed, "restriction type {kind}");
        }
        // A restriction on another purpose or other vendors leaves us alone.
        assert!(with(Tc {
            restrictions: vec![restriction(2, 0, (700, 800)), restriction(3, 0, (1, 10))],
            ..ours()
        }));
    }

    #[test]
    fn malformed_tc_strings_are_named_errors() {
        let s = Tc {
            vendors: vec![755],
            ..Tc::default()
        }
        .encode();
        // Every character carries a real bit, so every strict prefix is cut short.
        for end in 1..s.len() {
            assert!(
                matches!(TcString::parse(&s[..end]), Err(ConsentError::Truncated(_))),
                "{end}"
            );
        }
        assert_eq!(TcString::parse(""), Err(ConsentError::Empty));
        assert_eq!(TcString::parse(".abc"), Err(ConsentError::Empty));
        assert_eq!(
            TcString::parse("not a consent string"),
            Err(ConsentError::NotBase64Url(' '))
        );
        assert_eq!(TcString::parse("CPé"), Err(ConsentError::NotBase64Url('é')));
        assert_eq!(
            TcString::parse("C+/A"),
            Err(ConsentError::NotBase64Url('+'))
        );
        // A TCF v1 string.
        assert_eq!(
            TcString::parse("BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA"),
            Err(ConsentError::TcfVersion(1))
        );
        assert_eq!(
            TcString::parse(
                &Tc {
                    version: 3,
                    ..Tc::default()
                }
                .encode()
            ),
            Err(ConsentError::TcfVersion(3))
        );
        // Padding is tolerated.
        assert!(TcString::parse(&format!("{s}==")).is_ok());
    }

    #[test]
    fn bad_vendor_ranges_are_refused() {
        // The core through PublisherCC, then a range section with the given entry.
        // A core with no purposes, then a range-encoded consent section of one entry.
        let with_entry = |max: u64, start: u64, end: u64| {
            let mut w = BitWriter::default();
            w.int(2, 6)
                .int(0, 36)
                .int(0, 36)
                .int(1, 12)
                .int(1, 12)
                .int(1, 6);
            w.int(4, 6)
                .int(13, 6)
                .int(1, 12)
                .int(4, 6)
                .bit(false)
                .bit(false);
            w.int(0, 12)
                .int(0, 24)
                .int(0, 24)
                .bit(false)
                .int(3, 6)
                .int(4, 6);
            w.int(max, 16).bit(true).int(1, 12);
            w.bit(true).int(start, 16).int(end, 16);
            w.int(0, 16).bit(false).int(0, 12);
            TcString::parse(&w.base64url())
        };
        assert!(with_entry(20, 5, 20).is_ok());
        for (max, start, end) in [(20, 0, 3), (20, 9, 8), (20, 5, 21)] {
            assert!(
                matches!(
                    with_entry(max, start, end),
                    Err(ConsentError::VendorRange { .. })
                ),
                "{start}-{end} of {max}"
            );
        }
    }

    #[test]
    fn gpp_headers_of_the_specification_decode() {
        let ids = |s: &str| GppString::parse(s).map(|g| g.section_ids().collect::<Vec<_>>());
        let tc = "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA";
        assert_eq!(ids(&format!("DBABMA~{tc}")), Ok(vec![2]));
        assert_eq!(ids(&format!("DBACNYA~{tc}~1YNN")), Ok(vec![2, 6]));
        assert_eq!(ids(&format!("DBACNY~{tc}~1YNN")), Ok(vec![2, 6]));
        // A group: Canada's TCF (5) to US Privacy (6).
        let text = format!("DBABjw~{tc}~1YNN");
        let g = GppString::parse(&text).unwrap();
        assert_eq!(g.section_ids().collect::<Vec<_>>(), [5, 6]);
        assert_eq!(g.section(6), Some("1YNN"));
        assert_eq!(g.section(2), None);
        // The test encoder agrees with the specification.
        assert!(gpp(&[(2, tc), (6, "1YNN")]).starts_with("DBACNY"));
    }

    #[test]
    fn malformed_gpp_strings_are_named_errors() {
        let tc = "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA";
        assert_eq!(GppString::parse(""), Err(ConsentError::Empty));
        assert_eq!(GppString::parse(tc), Err(ConsentError::GppType(2)));
        assert_eq!(GppString::parse("DA"), Err(ConsentError::GppVersion(0)));
        assert!(matches!(
            GppString::parse("DB"),
            Err(ConsentError::Truncated(_))
        ));
        assert_eq!(
            GppString::parse("DCABMA~x"),
            Err(ConsentError::GppVersion(2))
        );
        assert_eq!(
            GppString::parse("DBABMA"),
            Err(ConsentError::SectionCount {
                listed: 1,
                found: 0
            })
        );
        assert_eq!(
            GppString::parse(&format!("DBABMA~{tc}~1YNN")),
            Err(ConsentError::SectionCount {
                listed: 1,
                found: 2
            })
        );
        // An unterminated Fibonacci code.
        let mut w = BitWriter::default();
        w.int(3, 6).int(1, 6).int(1, 12).bit(false).int(0, 30);
        assert!(matches!(
            GppString::parse(&format!("{}~x", w.base64url())),
            Err(ConsentError::Fibonacci | ConsentError::Truncated(_))
        ));
        // A group as long as the string allows is refused before it is expanded.
        let mut w = BitWriter::default();
        w.int(3, 6)
            .int(1, 6)
            .int(1, 12)
            .bit(true)
            .fib(1)
            .fib(60_000);
        assert_eq!(
            GppString::parse(&format!("{}~x", w.base64url())),
            Err(ConsentError::SectionCount {
                listed: 60_001,
                found: 1
            })
        );
    }

    #[test]
    fn gpp_sections_in_force_decide() {
        let consenting = Tc {
            vendors: vec![755],
            ..Tc::default()
        }
        .encode();
        let refusing = Tc::default().encode();
        let allows = |s: &str, ids: Option<&[u16]>| OURS.gpp_allows(s, ids);
        assert_eq!(allows(&gpp(&[(2, &consenting)]), Some(&[2])), Ok(true));
        assert_eq!(allows(&gpp(&[(2, &consenting)]), None), Ok(true));
        assert_eq!(allows(&gpp(&[(2, &refusing)]), Some(&[2])), Ok(false));
        // Without a vendor id, a TCF section never consents.
        assert_eq!(
            ConsentPolicy::default().gpp_allows(&gpp(&[(2, &consenting)]), Some(&[2])),
            Ok(false)
        );
        assert_eq!(allows(&gpp(&[(6, "1YNN")]), Some(&[6])), Ok(true));
        assert_eq!(allows(&gpp(&[(6, "1YYN")]), Some(&[6])), Ok(false));
        assert_eq!(
            allows(&gpp(&[(6, "1Y")]), Some(&[6])),
            Err(ConsentError::UsPrivacy)
        );
        // Only the sections in force are read.
        let both = gpp(&[(2, &refusing), (6, "1YNN")]);
        assert_eq!(allows(&both, Some(&[6])), Ok(true));
        assert_eq!(allows(&both, None), Ok(false));
        assert_eq!(allows(&both, Some(&[])), Ok(true));
        assert_eq!(
            allows(&both, Some(&[7])),
            Err(ConsentError::MissingSection(7))
        );
        // Sections the bidder does not decode count as opt-outs.
        let canada = gpp(&[(5, &consenting)]);
        assert_eq!(allows(&canada, Some(&[5])), Ok(false));
        assert_eq!(allows(&gpp(&[(13, "BVVVVVVVVVVV")]), None), Ok(false));
        // A malformed TCF section is an error, not consent.
        assert!(allows(&gpp(&[(2, "C")]), Some(&[2])).is_err());
    }

    #[test]
    fn us_sections_opt_out_on_sale_sharing_targeting_or_gpc() {
        // (section, fields in the core, offsets of sale, sharing, targeted advertising)
        let layouts: [(u16, usize, &[usize]); 6] = [
            (7, 20, &[18, 20, 22]),
            (8, 20, &[12, 14]),
            (9, 12, &[12, 14]),
            (10, 12, &[12, 14]),
            (11, 12, &[14, 16]),
            (12, 14, &[12, 14]),
        ];
        for (id, fields, opt_outs) in layouts {
            let none = us_section(fields, &[]);
            assert_eq!(
                us_opt_outs(id, &none),
                Ok(Some(UsOptOuts::default())),
                "{id}"
            );
            assert_eq!(OURS.gpp_allows(&gpp(&[(id, &none)]), None), Ok(true));
            for &at in opt_outs {
                let s = us_section(fields, &[at]);
                assert!(us_opt_outs(id, &s).unwrap().unwrap().any(), "{id} at {at}");
                assert_eq!(OURS.gpp_allows(&gpp(&[(id, &s)]), None), Ok(false));
            }
            // Opting out of something else (a notice field, sensitive data) is not ours.
            let other = us_section(fields, &[8, 30]);
            assert!(!us_opt_outs(id, &other).unwrap().unwrap().any(), "{id}");
            // Cut short before the fields read.
            assert!(us_opt_outs(id, &none[..2]).is_err());
        }
        let sale = us_opt_outs(7, &us_section(20, &[18])).unwrap().unwrap();
        assert!(sale.sale && !sale.sharing && !sale.targeted_advertising);
        // A GPC sub-section: SubsectionType 1, Gpc.
        let none = us_section(20, &[]);
        let gpc = |on: bool| {
            let mut w = BitWriter::default();
            w.int(1, 2).bit(on);
            format!("{none}.{}", w.base64url())
        };
        assert!(us_opt_outs(7, &gpc(true)).unwrap().unwrap().gpc);
        assert!(!us_opt_outs(7, &gpc(false)).unwrap().unwrap().any());
        assert_eq!(
            us_opt_outs(7, &format!("A{}", &none[1..])),
            Err(ConsentError::SectionVersion(7))
        );
        assert_eq!(us_opt_outs(13, &none), Ok(None));
    }

    #[test]
    fn us_privacy_strings() {
        assert_eq!(us_privacy_opted_out("1YYN"), Ok(true));
        assert_eq!(us_privacy_opted_out("1nyn"), Ok(true));
        assert_eq!(us_privacy_opted_out("1YNN"), Ok(false));
        assert_eq!(us_privacy_opted_out("1---"), Ok(false));
        for bad in ["", "1YY", "2YYN", "1YYNN", "1YXN", "1ÝYN"] {
            assert_eq!(
                us_privacy_opted_out(bad),
                Err(ConsentError::UsPrivacy),
                "{bad}"
            );
        }
    }
}
