//! Bulk uploads, line by line.
//!
//! The retailer's POS exports, identity maps, catalogs and segment member lists arrive as
//! NDJSON (one JSON object per line) or CSV. Each line is parsed and validated on its own:
//! a bad line becomes a [`LineError`] with its line number and the field at fault, and the
//! good lines around it are kept. Raw loyalty ids are hashed with the retailer's salt on
//! arrival, so they are never stored.
#![warn(missing_docs)]

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use endcap_core::{Channel, HashedKey, Micros, Receipt, ReceiptLine, Sku, ValidationError};
use endcap_events::{Event, IdentityLink, ReceiptHeaderEvent, ReceiptLineEvent};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Why one line of an upload was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    /// 1-based line number in the upload.
    pub line: u64,
    /// Field at fault, if one is.
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl LineError {
    fn from_validation(line: u64, e: ValidationError) -> Self {
        Self {
            line,
            field: (!e.field.is_empty()).then_some(e.field),
            reason: e.message,
        }
    }

    fn json(line: u64, e: &serde_json::Error) -> Self {
        let msg = e.to_string();
        let field = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|p| msg.split_once(p))
            .and_then(|(_, r)| r.split_once('`'))
            .map(|(f, _)| f.to_string());
        Self {
            line,
            field,
            reason: format!("not a valid record: {msg}"),
        }
    }
}

/// Splits a byte stream into numbered lines as chunks arrive (for streamed request bodies).
#[derive(Debug, Default)]
pub struct Lines {
    partial: Vec<u8>,
    next_line: u64,
}

impl Lines {
    /// Feeds a chunk; returns the complete lines it finishes, with their numbers.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for &b in chunk {
            if b == b'\n' {
                let line = std::mem::take(&mut self.partial);
                out.push(self.number(line));
            } else {
                self.partial.push(b);
            }
        }
        out
    }

    /// Ends the stream; returns the last line if it had no newline.
    pub fn finish(&mut self) -> Option<(u64, String)> {
        if self.partial.is_empty() {
            return None;
        }
        let line = std::mem::take(&mut self.partial);
        Some(self.number(line))
    }

    fn number(&mut self, mut bytes: Vec<u8>) -> (u64, String) {
        self.next_line += 1;
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        (self.next_line, String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// True for lines that carry no record (blank lines).
pub fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// A customer key given hashed, or as a raw loyalty id to hash with the salt.
fn customer_key(
    hashed: Option<&str>,
    raw: Option<&str>,
    salt: Option<&str>,
    field: &str,
) -> Result<HashedKey, ValidationError> {
    match (hashed, raw, salt) {
        (Some(h), None, _) => HashedKey::parse(h, field),
        (None, Some(r), Some(salt)) if !r.trim().is_empty() => Ok(HashedKey::hash_raw(salt, r)),
        (None, Some(_), None) => Err(ValidationError::new(
            "loyalty_id",
            "raw loyalty ids need a salt configured on the server (ENDCAP_CUSTOMER_KEY_SALT); send a SHA-256 hex customer_key instead",
        )),
        (Some(_), Some(_), _) => Err(ValidationError::new("loyalty_id", "send customer_key or loyalty_id, not both")),
        _ => Err(ValidationError::new(field, "is required (or loyalty_id)")),
    }
}

/// One segment member: a bare SHA-256 hex key (CSV; a `user_key` header is skipped) or
/// `{"user_key": "..."}`. `Ok(None)` for a header line.
pub fn parse_member(line_no: u64, line: &str) -> Result<Option<HashedKey>, LineError> {
    let t = line.trim();
    if t.starts_with('{') {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Member {
            user_key: String,
        }
        let m: Member = serde_json::from_str(t).map_err(|e| LineError::json(line_no, &e))?;
        return HashedKey::parse(&m.user_key, "user_key")
            .map(Some)
            .map_err(|e| LineError::from_validation(line_no, e));
    }
    let value = t.split(',').next().unwrap_or("").trim().trim_matches('"');
    if line_no == 1 && value.eq_ignore_ascii_case("user_key") {
        return Ok(None);
    }
    HashedKey::parse(value, "user_key")
        .map(Some)
        .map_err(|e| LineError::from_validation(line_no, e))
}

/// A receipt line as uploaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptLineInput {
    /// Product.
    pub sku: String,
    /// Units (negative for returns).
    pub quantity: i32,
    /// Amount in micros (negative for returns).
    pub amount_micros: i64,
    /// Brand, if the export has it.
    #[serde(default)]
    pub brand: Option<String>,
    /// Category, if the export has it.
    #[serde(default)]
    pub category: Option<String>,
}

/// A receipt as uploaded (one NDJSON line).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptInput {
    /// The retailer's receipt id.
    pub receipt_id: String,
    /// Correction counter, default 1; a higher version replaces a lower one.
    #[serde(default)]
    pub version: Option<i64>,
    /// Hashed customer key (SHA-256 hex).
    #[serde(default)]
    pub customer_key: Option<String>,
    /// Raw loyalty id, hashed with the server's salt on arrival.
    #[serde(default)]
    pub loyalty_id: Option<String>,
    /// Store.
    pub store_id: String,
    /// `in_store` (default), `online` or `pickup`.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// When: RFC 3339, or a date alone (`YYYY-MM-DD`, a date-only POS export), which means
    /// the end of that day (23:59:59.999) in the store's time zone.
    pub ts: String,
    /// Lines (an empty list at version 2 or more voids the receipt).
    pub lines: Vec<ReceiptLineInput>,
}

impl ReceiptInput {
    /// Validates into a receipt (brand/category left as given); `tz` is the stores' time
    /// zone, which places a date-only time at the end of that local day.
    pub fn validate(&self, salt: Option<&str>, tz: Tz) -> Result<Receipt, ValidationError> {
        let version = self.version.unwrap_or(1);
        if version < 1 {
            return Err(ValidationError::new("version", "must be at least 1"));
        }
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, l) in self.lines.iter().enumerate() {
            let f = |name: &str| format!("lines[{i}].{name}");
            lines.push(ReceiptLine {
                sku: Sku::parse(&l.sku, &f("sku"))?,
                brand: l
                    .brand
                    .as_deref()
                    .map(|b| endcap_core::validate_label(b, &f("brand")))
                    .transpose()?,
                category: l
                    .category
                    .as_deref()
                    .map(|c| endcap_core::validate_label(c, &f("category")))
                    .transpose()?,
                quantity: l.quantity,
                amount_micros: Micros::signed(l.amount_micros, &f("amount_micros"))?,
            });
        }
        let r = Receipt {
            receipt_id: self.receipt_id.trim().to_string(),
            customer_key: customer_key(
                self.customer_key.as_deref(),
                self.loyalty_id.as_deref(),
                salt,
                "customer_key",
            )?,
            store_id: self.store_id.trim().to_string(),
            channel: self.channel.unwrap_or_default(),
            ts: receipt_time(&self.ts, tz).ok_or_else(|| {
                ValidationError::new("ts", "must be an RFC 3339 time or a YYYY-MM-DD date")
            })?,
            version,
            lines,
        };
        r.validate()?;
        if r.total().is_none() {
            return Err(ValidationError::new("lines", "amounts overflow"));
        }
        Ok(r)
    }
}

/// A receipt time: RFC 3339, or a date alone meaning the last millisecond of that day in
/// `tz` (a date-only export says "that day"; the end of it keeps every exposure of the day
/// before the purchase). `None` when it is neither.
pub fn receipt_time(raw: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    let day = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    let end = day.and_hms_milli_opt(23, 59, 59, 999)?;
    // `latest()`: on a day whose end falls in a DST fold, the later instant is still that day.
    end.and_local_timezone(tz)
        .latest()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses and validates one NDJSON receipt line (`tz`: the stores' time zone).
pub fn parse_receipt(
    line_no: u64,
    line: &str,
    salt: Option<&str>,
    tz: Tz,
) -> Result<Receipt, LineError> {
    let input: ReceiptInput =
        serde_json::from_str(line.trim()).map_err(|e| LineError::json(line_no, &e))?;
    input
        .validate(salt, tz)
        .map_err(|e| LineError::from_validation(line_no, e))
}

/// A stable hash of a receipt's content (what makes a re-send a duplicate).
pub fn receipt_hash(r: &Receipt) -> String {
    // Serializing plain data cannot fail.
    hex::encode(Sha256::digest(serde_json::to_vec(r).unwrap_or_default()))
}

/// The events a receipt becomes: its lines, brand and category filled from the catalog
/// when missing, then its header (which makes this version current, or voids the receipt
/// when it has no lines). The header goes last: should the sink cut a batch between them,
/// the new version's lines are in before anything names it current.
pub fn receipt_events(r: &Receipt, catalog: &HashMap<String, (String, String)>) -> Vec<Event> {
    let channel = match r.channel {
        Channel::InStore => "in_store",
        Channel::Online => "online",
        Channel::Pickup => "pickup",
    };
    let header = Event::ReceiptHeader(ReceiptHeaderEvent {
        receipt_id: r.receipt_id.clone(),
        version: r.version,
        line_count: r.lines.len() as u32,
        customer_key: r.customer_key.as_str().to_string(),
        store_id: r.store_id.clone(),
        channel: channel.to_string(),
        ts_ms: r.ts.timestamp_millis(),
    });
    r.lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let known = catalog.get(l.sku.as_str());
            Event::ReceiptLine(ReceiptLineEvent {
                receipt_id: r.receipt_id.clone(),
                version: r.version,
                line_no: i as u32,
                customer_key: r.customer_key.as_str().to_string(),
                store_id: r.store_id.clone(),
                channel: channel.to_string(),
                ts_ms: r.ts.timestamp_millis(),
                sku: l.sku.as_str().to_string(),
                brand: l
                    .brand
                    .clone()
                    .or_else(|| known.map(|k| k.0.clone()))
                    .unwrap_or_default(),
                category: l
                    .category
                    .clone()
                    .or_else(|| known.map(|k| k.1.clone()))
                    .unwrap_or_default(),
                quantity: l.quantity,
                amount_micros: l.amount_micros.get(),
            })
        })
        .chain(std::iter::once(header))
        .collect()
}

/// Longest external id (`external_id`) taken; UID2 tokens and RampIDs are far shorter.
pub const MAX_EXTERNAL_ID_BYTES: usize = 512;

/// Whether `source` may name an external id's source: a domain as OpenRTB `user.eids[].source`
/// carries it (`uidapi.com`), 1-100 letters, digits, `.` and `-`.
pub fn valid_eid_source(source: &str) -> bool {
    (1..=100).contains(&source.len())
        && source
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && source.contains('.')
}

/// One identity link: `{"user_key", "customer_key" | "loyalty_id"}`, or an external id
/// `{"source", "external_id", "customer_key" | "loyalty_id"}` (an OpenRTB eid source such as
/// `uidapi.com` and the id as bid requests carry it: keyed on arrival with `user_salt`, the
/// ad server's ENDCAP_USER_KEY_SALT, see [`HashedKey::external_id`], never stored raw).
/// CSV: `user_key,customer_key`, or `user_key,customer_key,source,external_id` with an
/// empty `user_key` for external ids.
pub fn parse_identity(
    line_no: u64,
    line: &str,
    salt: Option<&str>,
    user_salt: &str,
) -> Result<Option<IdentityLink>, LineError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Link {
        #[serde(default)]
        user_key: Option<String>,
        #[serde(default)]
        customer_key: Option<String>,
        #[serde(default)]
        loyalty_id: Option<String>,
        #[serde(default)]
        source: Option<String>,
        #[serde(default)]
        external_id: Option<String>,
    }
    let t = line.trim();
    let link = if t.starts_with('{') {
        serde_json::from_str::<Link>(t).map_err(|e| LineError::json(line_no, &e))?
    } else {
        let cols: Vec<&str> = t.split(',').map(|c| c.trim().trim_matches('"')).collect();
        let col = |i: usize| cols.get(i).copied().unwrap_or("");
        if line_no == 1 && col(0).eq_ignore_ascii_case("user_key") {
            return Ok(None);
        }
        let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
        Link {
            user_key: opt(col(0)),
            customer_key: Some(col(1).to_string()),
            loyalty_id: None,
            source: opt(col(2)),
            external_id: opt(col(3)),
        }
    };
    let bad = |field: &str, reason: &str| {
        LineError::from_validation(line_no, ValidationError::new(field, reason))
    };
    let user = match (&link.user_key, &link.source, &link.external_id) {
        (Some(u), None, None) => {
            HashedKey::parse(u, "user_key").map_err(|e| LineError::from_validation(line_no, e))?
        }
        (None, Some(source), Some(id)) => {
            let source = source.trim().to_ascii_lowercase();
            if !valid_eid_source(&source) {
                return Err(bad(
                    "source",
                    "must be the eid source domain (uidapi.com, liveramp.com, ...)",
                ));
            }
            if id.trim().is_empty() || id.len() > MAX_EXTERNAL_ID_BYTES {
                return Err(bad("external_id", "must be 1 to 512 bytes"));
            }
            HashedKey::external_id(user_salt, &source, id)
        }
        (Some(_), _, _) => {
            return Err(bad(
                "source",
                "send user_key, or source with external_id, not both",
            ))
        }
        (None, Some(_), None) => return Err(bad("external_id", "is required with source")),
        (None, None, Some(_)) => return Err(bad("source", "is required with external_id")),
        (None, None, None) => {
            return Err(bad("user_key", "is required (or source with external_id)"))
        }
    };
    let customer = customer_key(
        link.customer_key.as_deref(),
        link.loyalty_id.as_deref(),
        salt,
        "customer_key",
    )
    .map_err(|e| LineError::from_validation(line_no, e))?;
    Ok(Some(IdentityLink {
        user_key: user.as_str().to_string(),
        customer_key: customer.as_str().to_string(),
        ts_ms: Utc::now().timestamp_millis(),
    }))
}

/// One catalog entry: `{"sku","brand","category"}` or CSV `sku,brand,category`.
pub fn parse_catalog(
    line_no: u64,
    line: &str,
) -> Result<Option<(String, String, String)>, LineError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        sku: String,
        brand: String,
        category: String,
    }
    let t = line.trim();
    let item = if t.starts_with('{') {
        serde_json::from_str::<Item>(t).map_err(|e| LineError::json(line_no, &e))?
    } else {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(t.as_bytes());
        let rec = r
            .records()
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| LineError {
                line: line_no,
                field: None,
                reason: "not a CSV row".into(),
            })?;
        if rec.len() != 3 {
            return Err(LineError {
                line: line_no,
                field: None,
                reason: format!("expected 3 columns sku,brand,category, found {}", rec.len()),
            });
        }
        if line_no == 1 && rec[0].eq_ignore_ascii_case("sku") {
            return Ok(None);
        }
        Item {
            sku: rec[0].to_string(),
            brand: rec[1].to_string(),
            category: rec[2].to_string(),
        }
    };
    let v =
        |r: Result<String, ValidationError>| r.map_err(|e| LineError::from_validation(line_no, e));
    Ok(Some((
        v(Sku::parse(&item.sku, "sku").map(|s| s.as_str().to_string()))?,
        v(endcap_core::validate_label(&item.brand, "brand"))?,
        v(endcap_core::validate_label(&item.category, "category"))?,
    )))
}

/// One availability line of an inventory upload: `{"sku","store_id","in_stock"}` or CSV
/// `sku,store_id,in_stock` (`in_stock` is `true`/`false`, `1`/`0` or `yes`/`no`; a first
/// line `sku,store_id,in_stock` is a header). Returns `(sku, store_id, in_stock)`.
pub fn parse_availability(
    line_no: u64,
    line: &str,
) -> Result<Option<(String, String, bool)>, LineError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        sku: String,
        store_id: String,
        in_stock: bool,
    }
    let t = line.trim();
    let bad = |field: &str, reason: String| LineError {
        line: line_no,
        field: Some(field.to_string()),
        reason,
    };
    let item = if t.starts_with('{') {
        serde_json::from_str::<Item>(t).map_err(|e| LineError::json(line_no, &e))?
    } else {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(t.as_bytes());
        let rec = r
            .records()
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| LineError {
                line: line_no,
                field: None,
                reason: "not a CSV row".into(),
            })?;
        if rec.len() != 3 {
            return Err(LineError {
                line: line_no,
                field: None,
                reason: format!(
                    "expected 3 columns sku,store_id,in_stock, found {}",
                    rec.len()
                ),
            });
        }
        if line_no == 1 && rec[0].eq_ignore_ascii_case("sku") {
            return Ok(None);
        }
        let in_stock = match rec[2].trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            other => {
                return Err(bad(
                    "in_stock",
                    format!("must be true or false (or 1/0, yes/no), not {other:?}"),
                ))
            }
        };
        Item {
            sku: rec[0].to_string(),
            store_id: rec[1].to_string(),
            in_stock,
        }
    };
    let sku = Sku::parse(&item.sku, "sku").map_err(|e| LineError::from_validation(line_no, e))?;
    let store = item.store_id.trim();
    if store.is_empty() || store.len() > 200 {
        return Err(bad(
            "store_id",
            "must be 1 to 200 bytes (the decision request's context.store_id)".into(),
        ));
    }
    Ok(Some((
        sku.as_str().to_string(),
        store.to_string(),
        item.in_stock,
    )))
}

/// Column order of receipt CSV files (one row per receipt line; rows of one receipt are
/// consecutive). `customer_key` or `loyalty_id` may be empty; `brand`/`category` optional.
pub const RECEIPT_CSV_HEADER: &str =
    "receipt_id,version,customer_key,loyalty_id,store_id,channel,ts,sku,quantity,amount_micros,brand,category";

/// Converts a receipt CSV (with the [`RECEIPT_CSV_HEADER`] header) into NDJSON receipt
/// records, each with the file line of its first row. Rows that cannot be read are errors
/// with their line numbers; the rest are kept.
pub fn csv_receipts(data: &[u8]) -> (Vec<(u64, String)>, Vec<LineError>) {
    let mut out: Vec<(u64, ReceiptInput)> = Vec::new();
    let mut errors = Vec::new();
    let mut failed: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(data);
    let header_ok = reader
        .headers()
        .map(|h| h.iter().map(str::trim).collect::<Vec<_>>().join(",") == RECEIPT_CSV_HEADER)
        .unwrap_or(false);
    if !header_ok {
        errors.push(LineError {
            line: 1,
            field: None,
            reason: format!("the header must be: {RECEIPT_CSV_HEADER}"),
        });
        return (Vec::new(), errors);
    }
    for rec in reader.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(LineError {
                    line,
                    field: None,
                    reason: format!("unreadable CSV row: {e}"),
                });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() < 10 {
            errors.push(LineError {
                line,
                field: None,
                reason: format!("expected at least 10 columns, found {}", rec.len()),
            });
            continue;
        }
        let col = |i: usize| rec.get(i).map(str::trim).filter(|s| !s.is_empty());
        let num = |i: usize, name: &str| -> Result<i64, LineError> {
            col(i).unwrap_or("").parse::<i64>().map_err(|_| LineError {
                line,
                field: Some(name.into()),
                reason: "must be a whole number".into(),
            })
        };
        let parsed = (|| -> Result<(ReceiptInput, ReceiptLineInput), LineError> {
            // The format is checked here so the error names this row; the time zone of a
            // date-only value is applied when the record is validated.
            let ts = col(6)
                .filter(|t| receipt_time(t, Tz::UTC).is_some())
                .ok_or_else(|| LineError {
                    line,
                    field: Some("ts".into()),
                    reason: "must be an RFC 3339 time or a YYYY-MM-DD date".into(),
                })?
                .to_string();
            let channel = match col(5) {
                None | Some("in_store") => None,
                Some("online") => Some(Channel::Online),
                Some("pickup") => Some(Channel::Pickup),
                Some(_) => {
                    return Err(LineError {
                        line,
                        field: Some("channel".into()),
                        reason: "must be in_store, online or pickup".into(),
                    })
                }
            };
            let quantity = i32::try_from(num(8, "quantity")?).map_err(|_| LineError {
                line,
                field: Some("quantity".into()),
                reason: "out of range".into(),
            })?;
            Ok((
                ReceiptInput {
                    receipt_id: col(0).unwrap_or("").to_string(),
                    version: col(1).map(|_| num(1, "version")).transpose()?,
                    customer_key: col(2).map(str::to_string),
                    loyalty_id: col(3).map(str::to_string),
                    store_id: col(4).unwrap_or("").to_string(),
                    channel,
                    ts,
                    lines: Vec::new(),
                },
                ReceiptLineInput {
                    sku: col(7).unwrap_or("").to_string(),
                    quantity,
                    amount_micros: num(9, "amount_micros")?,
                    brand: col(10).map(str::to_string),
                    category: col(11).map(str::to_string),
                },
            ))
        })();
        match parsed {
            Ok((head, line_input)) => match out.last_mut() {
                Some((_, last))
                    if last.receipt_id == head.receipt_id && last.version == head.version =>
                {
                    last.lines.push(line_input)
                }
                _ => out.push((
                    line,
                    ReceiptInput {
                        lines: vec![line_input],
                        ..head
                    },
                )),
            },
            Err(e) => {
                failed.insert(col(0).unwrap_or("").to_string());
                errors.push(e);
            }
        }
    }
    // A receipt with a bad row is refused whole: sent without that line it would be stored
    // as complete, and the corrected file refused as "other content" at the same version.
    out.retain(|(line, r)| {
        if !failed.contains(&r.receipt_id) {
            return true;
        }
        errors.push(LineError {
            line: *line,
            field: None,
            reason: format!(
                "receipt {:?} not sent: another of its rows is bad (fix it and send the whole receipt)",
                r.receipt_id
            ),
        });
        false
    });
    errors.sort_by_key(|e| e.line);
    let records = out
        .into_iter()
        .map(|(line, r)| (line, serde_json::to_string(&r).unwrap_or_default()))
        .collect();
    (records, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[test]
    fn lines_are_numbered_across_chunk_boundaries() {
        let mut l = Lines::default();
        let mut got = l.feed(b"one\ntw");
        got.extend(l.feed(b"o\r\nthree"));
        got.extend(l.finish());
        assert_eq!(
            got,
            vec![(1, "one".into()), (2, "two".into()), (3, "three".into())]
        );
    }

    #[test]
    fn members_come_as_csv_or_ndjson() {
        assert_eq!(parse_member(1, "user_key").unwrap(), None);
        assert!(parse_member(2, &key('a')).unwrap().is_some());
        assert!(
            parse_member(3, &format!("{{\"user_key\":\"{}\"}}", key('b')))
                .unwrap()
                .is_some()
        );
        let e = parse_member(4, "alice@example.com").unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (4, Some("user_key")));
    }

    #[test]
    fn a_receipt_line_is_validated_and_loyalty_ids_are_hashed() {
        let line = r#"{"receipt_id":"r1","loyalty_id":"L-77","store_id":"s1","ts":"2026-11-20T10:00:00Z","lines":[{"sku":"sku-1","quantity":2,"amount_micros":5000000}]}"#.to_string();
        let r = parse_receipt(1, &line, Some("salt"), Tz::UTC).unwrap();
        assert_eq!(r.customer_key, HashedKey::hash_raw("salt", "L-77"));
        assert_eq!(r.version, 1);
        let e = parse_receipt(1, &line, None, Tz::UTC).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("loyalty_id"));
        let bad = line.replace("5000000", "-5");
        assert_eq!(
            parse_receipt(7, &bad, Some("s"), Tz::UTC)
                .unwrap_err()
                .field
                .as_deref(),
            Some("lines[0].amount_micros")
        );
        // Past the money bound (a billion units) it is refused, not summed into an overflow.
        let huge = line.replace("5000000", "9000000000000000000");
        assert_eq!(
            parse_receipt(9, &huge, Some("s"), Tz::UTC)
                .unwrap_err()
                .field
                .as_deref(),
            Some("lines[0].amount_micros")
        );
        let unknown = line.replace("\"store_id\"", "\"shop\":1,\"store_id\"");
        assert_eq!(
            parse_receipt(8, &unknown, Some("s"), Tz::UTC)
                .unwrap_err()
                .field
                .as_deref(),
            Some("shop")
        );
    }

    #[test]
    fn a_receipt_with_a_bad_row_is_refused_whole() {
        let k = key('f');
        let csv = format!(
            "{RECEIPT_CSV_HEADER}\n\
             r1,1,{k},,s1,,2026-11-20T10:00:00Z,sku-1,1,1000000,,\n\
             r1,1,{k},,s1,,2026-11-20T10:00:00Z,sku-2,1,oops,,\n\
             r1,1,{k},,s1,,2026-11-20T10:00:00Z,sku-3,1,2000000,,\n\
             r2,1,{k},,s1,,2026-11-20T10:00:00Z,sku-1,1,1000000,,\n"
        );
        let (records, errors) = csv_receipts(csv.as_bytes());
        assert_eq!(records.len(), 1, "only r2 goes: {records:?}");
        assert!(records[0].1.contains("\"r2\""));
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(
            lines,
            vec![2, 3],
            "the receipt (first row) and the bad row: {errors:?}"
        );
    }

    #[test]
    fn a_correction_with_no_lines_voids_and_a_first_version_needs_lines() {
        let line = |v: i64| {
            format!(
                r#"{{"receipt_id":"r9","customer_key":"{}","store_id":"s1","ts":"2026-11-20T10:00:00Z","version":{v},"lines":[]}}"#,
                key('e')
            )
        };
        let e = parse_receipt(3, &line(1), None, Tz::UTC).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("lines"));
        let void = parse_receipt(3, &line(2), None, Tz::UTC).unwrap();
        let ev = receipt_events(&void, &HashMap::new());
        assert_eq!(ev.len(), 1, "a void is a header alone");
        let Event::ReceiptHeader(h) = &ev[0] else {
            panic!()
        };
        assert_eq!((h.version, h.line_count), (2, 0));
    }

    #[test]
    fn a_date_only_time_is_the_end_of_that_day_in_the_stores_time_zone() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // 23:59:59.999 in New York on 20 Nov (EST, UTC-5) is 04:59:59.999 UTC on the 21st.
        assert_eq!(
            receipt_time("2026-11-20", ny).unwrap().to_rfc3339(),
            "2026-11-21T04:59:59.999+00:00"
        );
        assert_eq!(
            receipt_time("2026-11-20", Tz::UTC).unwrap().to_rfc3339(),
            "2026-11-20T23:59:59.999+00:00"
        );
        assert_eq!(
            receipt_time(" 2026-11-20T10:00:00+01:00 ", ny)
                .unwrap()
                .to_rfc3339(),
            "2026-11-20T09:00:00+00:00"
        );
        assert!(receipt_time("20/11/2026", Tz::UTC).is_none());
    }

    #[test]
    fn availability_lines_read_as_json_or_csv_and_name_the_bad_field() {
        assert_eq!(
            parse_availability(1, "sku,store_id,in_stock").unwrap(),
            None
        );
        assert_eq!(
            parse_availability(2, "sku-1, s-7 ,false").unwrap(),
            Some(("sku-1".into(), "s-7".into(), false))
        );
        assert_eq!(
            parse_availability(3, r#"{"sku":"sku-2","store_id":"s-7","in_stock":true}"#).unwrap(),
            Some(("sku-2".into(), "s-7".into(), true))
        );
        let e = parse_availability(4, "sku-1,s-7,maybe").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("in_stock"));
        let e = parse_availability(5, "sku-1,,0").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("store_id"));
        let e = parse_availability(6, r#"{"sku":"a","store_id":"s","in_stock":"no","x":1}"#)
            .unwrap_err();
        assert_eq!(e.line, 6);
        assert!(parse_availability(7, "a,b").is_err());
    }

    #[test]
    fn catalog_fills_missing_brand_and_category() {
        let line = format!(
            r#"{{"receipt_id":"r1","customer_key":"{}","store_id":"s1","ts":"2026-11-20T10:00:00Z","lines":[{{"sku":"sku-1","quantity":1,"amount_micros":1}},{{"sku":"sku-2","quantity":1,"amount_micros":1,"brand":"Own"}}]}}"#,
            key('c')
        );
        let r = parse_receipt(1, &line, None, Tz::UTC).unwrap();
        let catalog: HashMap<_, _> = [
            (
                "sku-1".to_string(),
                ("Acme".to_string(), "dairy".to_string()),
            ),
            ("sku-2".to_string(), ("X".to_string(), "snacks".to_string())),
        ]
        .into();
        let ev = receipt_events(&r, &catalog);
        let Event::ReceiptHeader(h) = &ev[2] else {
            panic!("the header comes last")
        };
        assert_eq!((h.version, h.line_count), (1, 2));
        let Event::ReceiptLine(a) = &ev[0] else {
            panic!()
        };
        let Event::ReceiptLine(b) = &ev[1] else {
            panic!()
        };
        assert_eq!((a.brand.as_str(), a.category.as_str()), ("Acme", "dairy"));
        assert_eq!(
            (b.brand.as_str(), b.category.as_str(), b.line_no),
            ("Own", "snacks", 1)
        );
    }

    #[test]
    fn csv_rows_group_into_receipts_and_bad_rows_keep_their_line_numbers() {
        let k = key('d');
        let csv = format!(
            "{RECEIPT_CSV_HEADER}\n\
             r1,1,{k},,s1,,2026-11-20T10:00:00Z,sku-1,1,1000000,,\n\
             r1,1,{k},,s1,,2026-11-20T10:00:00Z,sku-2,2,3000000,Acme,dairy\n\
             r2,1,{k},,s1,online,not-a-time,sku-1,1,1000000,,\n\
             r3,,{k},,s2,pickup,2026-11-21T10:00:00Z,sku-9,1,x,,\n\
             r4,,{k},,s2,,2026-11-21T10:00:00Z,sku-9,1,990000,,\n"
        );
        let (records, errors) = csv_receipts(csv.as_bytes());
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].0, 2, "a receipt is numbered by its first row");
        let r1 = parse_receipt(records[0].0, &records[0].1, None, Tz::UTC).unwrap();
        assert_eq!(r1.lines.len(), 2);
        let lines: Vec<(u64, Option<&str>)> = errors
            .iter()
            .map(|e| (e.line, e.field.as_deref()))
            .collect();
        assert_eq!(lines, vec![(4, Some("ts")), (5, Some("amount_micros"))]);
    }

    #[test]
    fn a_wrong_csv_header_is_refused_whole() {
        let (records, errors) = csv_receipts(b"id,amount\n1,2\n");
        assert!(records.is_empty());
        assert_eq!(errors[0].line, 1);
    }

    #[test]
    fn identity_lines_take_a_user_key_or_an_external_id_hashed_on_arrival() {
        let c = key('c');
        let link = parse_identity(
            1,
            &format!(r#"{{"user_key":"{}","customer_key":"{c}"}}"#, key('a')),
            None,
            "",
        )
        .unwrap()
        .unwrap();
        assert_eq!(link.user_key, key('a'));
        let eid = parse_identity(
            2,
            &format!(
                r#"{{"source":"UIDapi.com","external_id":"uid2-token-1","customer_key":"{c}"}}"#
            ),
            None,
            "user-salt-0123456789",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            eid.user_key,
            HashedKey::external_id("user-salt-0123456789", "uidapi.com", "uid2-token-1").as_str()
        );
        assert!(!eid.user_key.contains("uid2"), "never stored raw");
        assert_eq!(eid.customer_key, c);
        let csv = parse_identity(
            3,
            &format!(",{c},uidapi.com,uid2-token-1"),
            None,
            "user-salt-0123456789",
        )
        .unwrap()
        .unwrap();
        assert_eq!(csv.user_key, eid.user_key, "CSV and JSON agree");
        assert_eq!(
            parse_identity(1, "user_key,customer_key,source,external_id", None, "").unwrap(),
            None
        );
        for (line, field) in [
            (
                format!(r#"{{"source":"uidapi.com","customer_key":"{c}"}}"#),
                "external_id",
            ),
            (
                format!(r#"{{"external_id":"x","customer_key":"{c}"}}"#),
                "source",
            ),
            (
                format!(r#"{{"source":"not a domain","external_id":"x","customer_key":"{c}"}}"#),
                "source",
            ),
            (
                format!(
                    r#"{{"user_key":"{}","source":"uidapi.com","external_id":"x","customer_key":"{c}"}}"#,
                    key('a')
                ),
                "source",
            ),
            (
                format!(
                    r#"{{"source":"uidapi.com","external_id":"{}","customer_key":"{c}"}}"#,
                    "x".repeat(513)
                ),
                "external_id",
            ),
            (format!(r#"{{"customer_key":"{c}"}}"#), "user_key"),
        ] {
            let e = parse_identity(4, &line, None, "").unwrap_err();
            assert_eq!((e.line, e.field.as_deref()), (4, Some(field)), "{line}");
        }
    }
}
