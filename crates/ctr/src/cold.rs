//! The cold start: an empirical-Bayes CTR per line item x placement, for line items the
//! model has not seen (and before any model exists), and a bounded exploration draw that
//! gives new line items traffic.
//!
//! The prior is a Beta fitted by the method of moments to the CTRs of the placement's line
//! items (weighted by impressions, with the binomial noise of each estimate taken out), so a
//! line item with few impressions sits near its placement's rate and one with many near its
//! own. Thompson sampling draws from each posterior; the caller explores on at most a set
//! share of slots.

/// Impressions and clicks of one line item on one placement.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Counts {
    /// Impressions.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
}

/// A Beta(alpha, beta) prior or posterior over a CTR.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beta {
    /// Prior clicks plus one.
    pub alpha: f64,
    /// Prior non-clicks plus one.
    pub beta: f64,
}

/// The weakest prior: the fit falls back to it (a mean of `fallback`, worth 100 impressions)
/// when the placement has too little data to fit.
const FALLBACK_STRENGTH: f64 = 100.0;

impl Beta {
    /// Fits a placement's prior to its line items' counts; `fallback` is the mean used when
    /// there is too little to fit (no clicks, one line item, or no spread beyond noise).
    pub fn fit(items: &[Counts], fallback: f64) -> Self {
        let fallback = fallback.clamp(1e-6, 0.5);
        let weak = Beta {
            alpha: fallback * FALLBACK_STRENGTH,
            beta: (1.0 - fallback) * FALLBACK_STRENGTH,
        };
        // A line item's clicks never count past its impressions (clicks arrive without their
        // impression when a pixel is lost): a rate above 1 would make no Beta at all.
        let seen: Vec<Counts> = items
            .iter()
            .filter(|c| c.impressions > 0)
            .map(|c| Counts {
                impressions: c.impressions,
                clicks: c.clicks.min(c.impressions),
            })
            .collect();
        let n: f64 = seen.iter().map(|c| c.impressions as f64).sum();
        let clicks: f64 = seen.iter().map(|c| c.clicks as f64).sum();
        if seen.len() < 2 || clicks == 0.0 || n == 0.0 || clicks >= n {
            return weak;
        }
        let mean = clicks / n;
        // Impression-weighted variance of the rates, less the binomial noise each rate
        // carries: what is left is the spread between line items the prior must describe.
        let var: f64 = seen
            .iter()
            .map(|c| {
                let r = c.clicks as f64 / c.impressions as f64;
                c.impressions as f64 * (r - mean).powi(2)
            })
            .sum::<f64>()
            / n;
        let noise: f64 = seen.iter().map(|_| mean * (1.0 - mean)).sum::<f64>() / n;
        let spread = var - noise;
        if spread <= 0.0 || mean <= 0.0 || mean >= 1.0 {
            return Beta {
                alpha: mean * FALLBACK_STRENGTH,
                beta: (1.0 - mean) * FALLBACK_STRENGTH,
            };
        }
        let strength = (mean * (1.0 - mean) / spread - 1.0).max(1.0);
        Beta {
            alpha: mean * strength,
            beta: (1.0 - mean) * strength,
        }
    }

    /// The posterior after a line item's own counts.
    pub fn update(self, c: Counts) -> Self {
        let clicks = c.clicks.min(c.impressions) as f64;
        Beta {
            alpha: self.alpha + clicks,
            beta: self.beta + (c.impressions as f64 - clicks),
        }
    }

    /// The mean CTR (in [0, 1] for any parameters: a Beta that is not one, with a parameter
    /// not finite and positive, has the mean 0.5 of the flat prior).
    pub fn mean(self) -> f64 {
        if !self.is_proper() {
            return 0.5;
        }
        self.alpha / (self.alpha + self.beta)
    }

    /// Both parameters finite and positive.
    fn is_proper(self) -> bool {
        self.alpha.is_finite() && self.beta.is_finite() && self.alpha > 0.0 && self.beta > 0.0
    }

    /// A draw from the distribution (Thompson sampling), given uniforms in (0, 1) from the
    /// caller's generator: Beta as X / (X + Y) of two Gamma draws (Marsaglia and Tsang).
    pub fn sample(self, uniform: &mut impl FnMut() -> f64) -> f64 {
        if !self.is_proper() {
            return self.mean();
        }
        let x = gamma(self.alpha, uniform);
        let y = gamma(self.beta, uniform);
        if x + y == 0.0 {
            self.mean()
        } else {
            x / (x + y)
        }
    }
}

/// A standard normal from two uniforms (Box-Muller).
fn normal(uniform: &mut impl FnMut() -> f64) -> f64 {
    let u1 = uniform().clamp(f64::MIN_POSITIVE, 1.0);
    let u2 = uniform();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A Gamma(shape, 1) draw for a finite shape > 0 (Marsaglia and Tsang; a shape below 1 is
/// drawn at shape + 1 and boosted by U^(1/shape), once: no recursion).
fn gamma(shape: f64, uniform: &mut impl FnMut() -> f64) -> f64 {
    let (shape, boost) = if shape < 1.0 {
        let u = uniform().clamp(f64::MIN_POSITIVE, 1.0);
        (shape + 1.0, u.powf(1.0 / shape))
    } else {
        (shape, 1.0)
    };
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(uniform);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = uniform().clamp(f64::MIN_POSITIVE, 1.0);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v * boost;
        }
    }
}

/// Whether this slot explores: true for at most `share` of slots (a uniform draw below the
/// share, which is capped at 5%).
pub fn explore(share: f64, uniform: f64) -> bool {
    uniform < share.clamp(0.0, 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_clicks_than_impressions_never_make_an_improper_prior_or_a_rate_above_one() {
        // Clicks whose impressions were never counted (a lost pixel, a billing notice).
        let odd = [
            Counts {
                impressions: 3,
                clicks: 10,
            },
            Counts {
                impressions: 2,
                clicks: 4,
            },
        ];
        let b = Beta::fit(&odd, 0.01);
        assert!(b.alpha > 0.0 && b.beta > 0.0, "{b:?}");
        assert!((0.0..=1.0).contains(&b.mean()));
        let skewed = [
            Counts {
                impressions: 1,
                clicks: 1_000,
            },
            Counts {
                impressions: 1,
                clicks: 0,
            },
        ];
        let mut u = rng(3);
        for prior in [
            Beta::fit(&skewed, 0.01),
            Beta {
                alpha: 280.0,
                beta: -180.0,
            },
            Beta {
                alpha: f64::NAN,
                beta: 1.0,
            },
        ] {
            for _ in 0..100 {
                let p = prior.sample(&mut u);
                assert!((0.0..=1.0).contains(&p), "{prior:?} drew {p}");
            }
        }
    }

    /// A small deterministic generator for the tests (xorshift).
    fn rng(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed.max(1);
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn a_new_line_item_starts_at_its_placements_rate_and_moves_with_its_own_data() {
        // Ten line items around 2%, with real spread.
        let items: Vec<Counts> = [0.01, 0.015, 0.02, 0.02, 0.025, 0.03, 0.01, 0.02, 0.03, 0.02]
            .iter()
            .map(|r| Counts {
                impressions: 20_000,
                clicks: (r * 20_000.0) as u64,
            })
            .collect();
        let prior = Beta::fit(&items, 0.01);
        assert!((prior.mean() - 0.02).abs() < 1e-3, "{prior:?}");
        let new = prior.update(Counts::default());
        assert_eq!(new.mean(), prior.mean());
        // 10 impressions, 5 clicks: pulled toward 50%, not all the way.
        let lucky = prior.update(Counts {
            impressions: 10,
            clicks: 5,
        });
        assert!(
            lucky.mean() > prior.mean() && lucky.mean() < 0.2,
            "{lucky:?}"
        );
        // A million impressions at 5%: its own rate.
        let proven = prior.update(Counts {
            impressions: 1_000_000,
            clicks: 50_000,
        });
        assert!((proven.mean() - 0.05).abs() < 1e-3, "{proven:?}");
    }

    #[test]
    fn too_little_data_falls_back_to_a_weak_prior() {
        let one = [Counts {
            impressions: 100,
            clicks: 3,
        }];
        assert!((Beta::fit(&one, 0.01).mean() - 0.01).abs() < 1e-12);
        assert!((Beta::fit(&[], 0.02).mean() - 0.02).abs() < 1e-12);
    }

    #[test]
    fn thompson_draws_average_to_the_mean() {
        let b = Beta {
            alpha: 3.0,
            beta: 97.0,
        };
        let mut u = rng(9);
        let n = 20_000;
        let mean = (0..n).map(|_| b.sample(&mut u)).sum::<f64>() / n as f64;
        assert!((mean - 0.03).abs() < 0.002, "{mean}");
        let tiny = Beta {
            alpha: 0.5,
            beta: 0.5,
        };
        assert!((0..1_000).all(|_| (0.0..=1.0).contains(&tiny.sample(&mut u))));
    }

    #[test]
    fn exploration_never_passes_its_bound() {
        let mut u = rng(3);
        let n = 100_000;
        let explored = (0..n).filter(|_| explore(0.5, u())).count() as f64 / n as f64;
        assert!(explored <= 0.052, "capped at 5%: {explored}");
        let explored = (0..n).filter(|_| explore(0.01, u())).count() as f64 / n as f64;
        assert!((explored - 0.01).abs() < 0.002, "{explored}");
        assert!(!explore(0.0, 0.0));
    }
}
