//! The JSON document kept per results row: the contract's `OutputResults`, with every
//! number that may be non-finite (NaN for an undefined statistic) as an optional value, since
//! JSON has no NaN. Reading maps a missing number back to NaN.

use serde::{Deserialize, Serialize};
use ultra_proto::v1;

#[derive(Serialize, Deserialize)]
pub struct StoredOutput {
    name: String,
    count: u64,
    errors: u64,
    mean: Option<f64>,
    std: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    skewness: Option<f64>,
    kurtosis: Option<f64>,
    std_error: Option<f64>,
    percentiles: Vec<(Option<f64>, Option<f64>)>,
    histogram_edges: Vec<Option<f64>>,
    histogram_counts: Vec<u64>,
    sensitivity: Vec<StoredSensitivity>,
}

#[derive(Serialize, Deserialize)]
struct StoredSensitivity {
    input: String,
    name: String,
    spearman: Option<f64>,
    regression: Option<f64>,
    contribution_to_variance: Option<f64>,
    mean_at_low: Option<f64>,
    mean_at_high: Option<f64>,
}

fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

fn number(value: Option<f64>) -> f64 {
    value.unwrap_or(f64::NAN)
}

impl From<&v1::OutputResults> for StoredOutput {
    fn from(output: &v1::OutputResults) -> StoredOutput {
        let histogram = output.histogram.clone().unwrap_or_default();
        StoredOutput {
            name: output.name.clone(),
            count: output.count,
            errors: output.errors,
            mean: finite(output.mean),
            std: finite(output.std),
            min: finite(output.min),
            max: finite(output.max),
            skewness: finite(output.skewness),
            kurtosis: finite(output.kurtosis),
            std_error: finite(output.std_error),
            percentiles: output
                .percentiles
                .iter()
                .map(|percentile| (finite(percentile.p), finite(percentile.value)))
                .collect(),
            histogram_edges: histogram.edges.into_iter().map(finite).collect(),
            histogram_counts: histogram.counts,
            sensitivity: output
                .sensitivity
                .iter()
                .map(|input| StoredSensitivity {
                    input: input.input.clone(),
                    name: input.name.clone(),
                    spearman: finite(input.spearman),
                    regression: finite(input.regression),
                    contribution_to_variance: finite(input.contribution_to_variance),
                    mean_at_low: finite(input.mean_at_low),
                    mean_at_high: finite(input.mean_at_high),
                })
                .collect(),
        }
    }
}

impl From<StoredOutput> for v1::OutputResults {
    fn from(output: StoredOutput) -> v1::OutputResults {
        v1::OutputResults {
            name: output.name,
            count: output.count,
            errors: output.errors,
            mean: number(output.mean),
            std: number(output.std),
            min: number(output.min),
            max: number(output.max),
            skewness: number(output.skewness),
            kurtosis: number(output.kurtosis),
            std_error: number(output.std_error),
            percentiles: output
                .percentiles
                .into_iter()
                .map(|(p, value)| v1::Percentile {
                    p: number(p),
                    value: number(value),
                })
                .collect(),
            histogram: Some(v1::Histogram {
                edges: output.histogram_edges.into_iter().map(number).collect(),
                counts: output.histogram_counts,
            }),
            sensitivity: output
                .sensitivity
                .into_iter()
                .map(|input| v1::Sensitivity {
                    input: input.input,
                    name: input.name,
                    spearman: number(input.spearman),
                    regression: number(input.regression),
                    contribution_to_variance: number(input.contribution_to_variance),
                    mean_at_low: number(input.mean_at_low),
                    mean_at_high: number(input.mean_at_high),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_survives_the_round_trip_through_json() {
        let output = v1::OutputResults {
            name: "NPV".to_owned(),
            count: 1,
            mean: 2.5,
            std: f64::NAN,
            percentiles: vec![v1::Percentile {
                p: 50.0,
                value: 2.5,
            }],
            ..Default::default()
        };
        let text = serde_json::to_string(&StoredOutput::from(&output)).expect("serialises");
        let stored: StoredOutput = serde_json::from_str(&text).expect("parses");
        let back = v1::OutputResults::from(stored);
        assert_eq!(back.mean, 2.5);
        assert!(back.std.is_nan());
        assert_eq!(back.percentiles[0].value, 2.5);
    }
}
