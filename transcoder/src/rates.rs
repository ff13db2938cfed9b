//! Bit rates measured over a rendition's segments, as HLS states them: RFC 8216's peak
//! segment bit rate (BANDWIDTH) and the mean (AVERAGE-BANDWIDTH).

/// A rendition's segments as `(bytes, seconds)`, and its playlist's target duration.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentSizes {
    pub segments: Vec<(u64, f64)>,
    pub target_duration: u64,
}

/// Peak and mean bits per second. The peak is RFC 8216's peak segment bit rate: the
/// highest rate of any run of consecutive segments lasting 0.5 to 1.5 target durations
/// (a short last segment, a few packets in a fraction of a second, is measured with the
/// one before it); a rendition shorter than half a target duration has its mean as peak.
pub fn peak_and_average(sizes: &SegmentSizes) -> anyhow::Result<(u64, u64)> {
    let segments = &sizes.segments;
    anyhow::ensure!(!segments.is_empty(), "a rendition without segments");
    let target = sizes.target_duration.max(1) as f64;
    let mut peak = 0.0_f64;
    for first in 0..segments.len() {
        let (mut bits, mut seconds) = (0.0, 0.0);
        for &(bytes, duration) in &segments[first..] {
            bits += bytes as f64 * 8.0;
            seconds += duration;
            if seconds > 1.5 * target {
                break;
            }
            if seconds >= 0.5 * target {
                peak = peak.max(bits / seconds);
            }
        }
    }
    let total_bits: f64 = segments.iter().map(|&(bytes, _)| bytes as f64 * 8.0).sum();
    let total_seconds: f64 = segments.iter().map(|&(_, seconds)| seconds).sum::<f64>().max(0.001);
    let average = total_bits / total_seconds;
    if peak == 0.0 {
        peak = average;
    }
    Ok((peak.ceil() as u64, average.ceil() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A last segment of a few packets in a fraction of a second (the AAC encoder's
    /// priming spills over the end) is not a peak of its own.
    #[test]
    fn the_peak_is_over_runs_of_half_to_one_and_a_half_target_durations() {
        let sizes = |segments: Vec<(u64, f64)>| SegmentSizes { segments, target_duration: 6 };
        let tail = sizes(vec![(6000, 6.0), (6000, 6.0), (752, 0.021)]);
        assert_eq!(peak_and_average(&tail).unwrap(), (8972, 8487), "not 752 bytes in 0.021 s: 286,476 bit/s");
        // 3 s at 16 kbit/s is a run on its own (half a target duration).
        let short_peak = sizes(vec![(6000, 6.0), (6000, 3.0)]);
        assert_eq!(peak_and_average(&short_peak).unwrap().0, 16000);
        // A video shorter than half a target duration: its mean.
        assert_eq!(peak_and_average(&sizes(vec![(1000, 2.0)])).unwrap(), (4000, 4000));
    }
}
