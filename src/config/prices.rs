//! Prices, token counts and cost.
//!
//! Money is integer **nano-dollars** (1e-9 USD) from the price table to the totals: a per-million-token price with up to
//! three decimals (`$0.28 / Mtok`) is an exact whole number of nano-dollars per token (280), so every request's cost is
//! exact and every total is the exact sum of its rows. (DESIGN.md says micro-dollars; a cheap model's single request
//! costs fractions of a micro-dollar, so rounding each row to micro-dollars would skew totals by up to 50%: nano keeps
//! the same integer discipline, finer.) USD as `f64` only at the edges (CSV, report).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    #[error("{file}: cannot read price table: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(String),
    #[error("{file}: models.{model}.{field}: {message}")]
    Invalid {
        file: String,
        model: String,
        field: String,
        message: String,
    },
    #[error("unknown model `{name}`; known models: {}", known.join(", "))]
    UnknownModel { name: String, known: Vec<String> },
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceFile {
    #[serde(default = "usd")]
    pub(crate) currency: String,
    /// Where the prices come from and when they were read (shown in the report).
    #[serde(default)]
    pub(crate) source: Option<String>,
    pub(crate) models: BTreeMap<String, ModelPrice>,
}

fn usd() -> String {
    "USD".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelPrice {
    /// USD per million input (prompt) tokens.
    pub(crate) input_per_mtok: f64,
    /// USD per million output (completion) tokens.
    pub(crate) output_per_mtok: f64,
    /// Other names a gateway accepts for this model (dated snapshots, vendor prefixes).
    #[serde(default)]
    pub(crate) aliases: Vec<String>,
}

/// Integer prices, nano-dollars per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct NanoPrice {
    pub(crate) input: u64,
    pub(crate) output: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PriceTable {
    pub(crate) source: Option<String>,
    prices: BTreeMap<String, NanoPrice>,
    aliases: BTreeMap<String, String>,
}

/// USD per million tokens -> nano-dollars per token (exact for prices with up to three decimals).
fn nano_per_token(usd_per_mtok: f64) -> Option<u64> {
    if !(usd_per_mtok.is_finite() && usd_per_mtok >= 0.0) {
        return None;
    }
    let v = (usd_per_mtok * 1000.0).round();
    if ((v / 1000.0) - usd_per_mtok).abs() > 1e-9 {
        return None; // more precision than a nano-dollar per token
    }
    Some(v as u64)
}

impl PriceTable {
    pub(crate) fn load(path: &Path) -> Result<PriceTable, PriceError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PriceError::Io {
            file: file.clone(),
            source,
        })?;
        let pf: PriceFile = serde_yaml::from_str(&text).map_err(|e| {
            PriceError::Parse(crate::config::yaml::yaml_error(&file, &e).to_string())
        })?;
        Self::from_file(pf, &file)
    }

    pub(crate) fn from_file(pf: PriceFile, file: &str) -> Result<PriceTable, PriceError> {
        if pf.currency != "USD" {
            return Err(PriceError::Parse(format!(
                "{file}: currency: only USD is supported, got {}",
                pf.currency
            )));
        }
        let mut prices = BTreeMap::new();
        let mut aliases = BTreeMap::new();
        for (model, p) in &pf.models {
            let invalid = |field: &str| PriceError::Invalid {
                file: file.to_string(),
                model: model.clone(),
                field: field.to_string(),
                message: "must be >= 0 USD per million tokens with at most 3 decimals".into(),
            };
            let np = NanoPrice {
                input: nano_per_token(p.input_per_mtok).ok_or_else(|| invalid("input_per_mtok"))?,
                output: nano_per_token(p.output_per_mtok)
                    .ok_or_else(|| invalid("output_per_mtok"))?,
            };
            prices.insert(model.clone(), np);
            for a in &p.aliases {
                if pf.models.contains_key(a) || aliases.insert(a.clone(), model.clone()).is_some() {
                    return Err(PriceError::Invalid {
                        file: file.to_string(),
                        model: model.clone(),
                        field: "aliases".into(),
                        message: format!("alias `{a}` is already a model or another model's alias"),
                    });
                }
            }
        }
        Ok(PriceTable {
            source: pf.source,
            prices,
            aliases,
        })
    }

    /// Canonical catalogue name for a model or alias. Matching is exact first, then case-insensitive, then with a
    /// vendor prefix (`openai/gpt-4.1`) removed, as gateways accept.
    pub(crate) fn resolve<'a>(&'a self, name: &str) -> Result<&'a str, PriceError> {
        let lookup = |n: &str| -> Option<&'a str> {
            if let Some((k, _)) = self.prices.get_key_value(n) {
                return Some(k.as_str());
            }
            self.aliases.get(n).map(String::as_str)
        };
        // The name as written first, before any allocation: the per-request path (two look-ups a request).
        if let Some(c) = lookup(name) {
            return Ok(c);
        }
        let lower = name.to_ascii_lowercase();
        let stripped = lower.rsplit('/').next().unwrap_or(&lower).to_string();
        for n in [lower.as_str(), stripped.as_str()] {
            if let Some(c) = lookup(n) {
                return Ok(c);
            }
        }
        Err(PriceError::UnknownModel {
            name: name.to_string(),
            known: self.prices.keys().cloned().collect(),
        })
    }

    pub(crate) fn price(&self, model: &str) -> Result<NanoPrice, PriceError> {
        let c = self.resolve(model)?;
        Ok(self.prices[c])
    }

    pub(crate) fn models(&self) -> impl Iterator<Item = (&str, NanoPrice)> {
        self.prices.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

/// Cost of one request in nano-dollars: tokens at the model's prices, `markup_pct` added, plus a flat fee.
pub(crate) fn request_cost_nano(
    price: NanoPrice,
    input_tokens: u64,
    output_tokens: u64,
    markup_pct: f64,
    fee_usd: f64,
) -> u64 {
    // Saturating: a server may report absurd usage (2^63 tokens); a cost pinned at u64::MAX never wraps to a small
    // number (float-to-int casts saturate too).
    let base = input_tokens
        .saturating_mul(price.input)
        .saturating_add(output_tokens.saturating_mul(price.output));
    let markup = if markup_pct == 0.0 {
        0
    } else {
        (base as f64 * markup_pct / 100.0).round() as u64
    };
    base.saturating_add(markup)
        .saturating_add(usd_to_nano(fee_usd))
}

pub(crate) fn usd_to_nano(usd: f64) -> u64 {
    (usd * 1e9).round().max(0.0) as u64
}

pub(crate) fn nano_to_usd(nano: u64) -> f64 {
    nano as f64 / 1e9
}

/// Token estimate when a server sends no `usage`: ~4 characters per token (OpenAI's rule of thumb), at least one
/// token per whitespace-separated word. Always flagged as estimated in outputs.
pub(crate) fn estimate_tokens(text: &str) -> u64 {
    let chars = text.chars().count() as u64;
    let words = text.split_whitespace().count() as u64;
    chars.div_ceil(4).max(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_usage_saturates_the_cost_instead_of_wrapping() {
        let p = NanoPrice {
            input: 1000,
            output: 10_000,
        };
        let big = 1u64 << 63;
        assert_eq!(request_cost_nano(p, big, big, 0.0, 0.0), u64::MAX);
        assert_eq!(request_cost_nano(p, big, 0, 20.0, 1.0), u64::MAX);
        // Ordinary figures are exact: 100 x 1000 + 10 x 10000 = 200,000 nano-USD, +20% = 240,000, + $0.001 fee.
        assert_eq!(request_cost_nano(p, 100, 10, 20.0, 0.001), 1_240_000);
    }

    fn table() -> PriceTable {
        let pf: PriceFile = serde_yaml::from_str(
            "models:\n  gpt-4.1: {input_per_mtok: 2.0, output_per_mtok: 8.0, aliases: [gpt-4.1-2025-04-14]}\n  deepseek-v3.2: {input_per_mtok: 0.28, output_per_mtok: 0.42}\n",
        )
        .unwrap();
        PriceTable::from_file(pf, "p.yaml").unwrap()
    }

    #[test]
    fn prices_are_exact_nano_dollars() {
        let t = table();
        assert_eq!(
            t.price("deepseek-v3.2").unwrap(),
            NanoPrice {
                input: 280,
                output: 420
            }
        );
        // 1,000 input + 500 output tokens of gpt-4.1: 1000*2e-6 + 500*8e-6 = 0.006 USD
        assert_eq!(
            request_cost_nano(t.price("gpt-4.1").unwrap(), 1000, 500, 0.0, 0.0),
            6_000_000
        );
        // 10% markup and a 0.001 USD fee
        assert_eq!(
            request_cost_nano(t.price("gpt-4.1").unwrap(), 1000, 500, 10.0, 0.001),
            7_600_000
        );
    }

    #[test]
    fn aliases_and_prefixes_resolve() {
        let t = table();
        assert_eq!(t.resolve("gpt-4.1-2025-04-14").unwrap(), "gpt-4.1");
        assert_eq!(t.resolve("GPT-4.1").unwrap(), "gpt-4.1");
        assert_eq!(t.resolve("openai/gpt-4.1").unwrap(), "gpt-4.1");
        let e = t.resolve("gpt-5").unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown model `gpt-5`; known models: deepseek-v3.2, gpt-4.1"
        );
    }

    #[test]
    fn too_precise_or_negative_prices_are_rejected() {
        let pf: PriceFile =
            serde_yaml::from_str("models:\n  m: {input_per_mtok: 0.0001, output_per_mtok: 1}\n")
                .unwrap();
        let e = PriceTable::from_file(pf, "p.yaml").unwrap_err().to_string();
        assert!(e.starts_with("p.yaml: models.m.input_per_mtok"), "{e}");
        let pf: PriceFile =
            serde_yaml::from_str("models:\n  m: {input_per_mtok: 1, output_per_mtok: -1}\n")
                .unwrap();
        assert!(PriceTable::from_file(pf, "p.yaml").is_err());
    }

    #[test]
    fn estimate() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd efgh"), 3); // 9 chars -> 3
        assert_eq!(estimate_tokens("a b c d e"), 5); // words dominate
    }
}
