//! The master playlist, written by us from what ffmpeg actually produced:
//! BANDWIDTH is the measured peak segment bitrate, AVERAGE-BANDWIDTH the mean.

use std::path::Path;

use anyhow::Context;
use m3u8_rs::{MasterPlaylist, Resolution, VariantStream};
use streambox_common::videos::Rendition;

use crate::encode::codecs;
use crate::ladder::Rung;

pub const MASTER_NAME: &str = "master.m3u8";

/// Measures every rung under `out`, writes `out/master.m3u8`, returns the renditions.
pub fn write(out: &Path, rungs: &[Rung], frame_rate: f64, has_audio: bool) -> anyhow::Result<Vec<Rendition>> {
    let mut renditions = Vec::with_capacity(rungs.len());
    for rung in rungs {
        let (bandwidth, average_bandwidth) = measure(&out.join(&rung.name))?;
        renditions.push(Rendition {
            name: rung.name.clone(),
            width: rung.width,
            height: rung.height,
            bandwidth,
            average_bandwidth,
            codecs: codecs(rung, has_audio),
        });
    }
    let playlist = MasterPlaylist {
        version: Some(3),
        independent_segments: true,
        variants: renditions
            .iter()
            .map(|r| VariantStream {
                uri: format!("{}/index.m3u8", r.name),
                bandwidth: r.bandwidth,
                average_bandwidth: Some(r.average_bandwidth),
                codecs: Some(r.codecs.clone()),
                resolution: Some(Resolution { width: u64::from(r.width), height: u64::from(r.height) }),
                frame_rate: Some((frame_rate * 1000.0).round() / 1000.0),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut bytes = Vec::new();
    playlist.write_to(&mut bytes)?;
    std::fs::write(out.join(MASTER_NAME), bytes).context("writing the master playlist")?;
    Ok(renditions)
}

/// `(peak, average)` bits per second over the rung's segments.
fn measure(rung_dir: &Path) -> anyhow::Result<(u64, u64)> {
    let raw = std::fs::read(rung_dir.join("index.m3u8"))
        .with_context(|| format!("reading {}/index.m3u8", rung_dir.display()))?;
    let playlist = m3u8_rs::parse_media_playlist_res(&raw)
        .map_err(|e| anyhow::anyhow!("ffmpeg wrote an unreadable playlist: {e}"))?;
    anyhow::ensure!(
        !playlist.segments.is_empty(),
        "ffmpeg wrote a playlist without segments in {}",
        rung_dir.display()
    );
    let (mut peak, mut total_bits, mut total_seconds) = (0.0_f64, 0.0_f64, 0.0_f64);
    for segment in &playlist.segments {
        let bits = std::fs::metadata(rung_dir.join(&segment.uri))
            .with_context(|| format!("segment {}", segment.uri))?
            .len() as f64
            * 8.0;
        let seconds = f64::from(segment.duration).max(0.001);
        peak = peak.max(bits / seconds);
        total_bits += bits;
        total_seconds += seconds;
    }
    Ok((peak.ceil() as u64, (total_bits / total_seconds).ceil() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ladder::Level;

    #[test]
    fn bandwidth_is_measured_from_segments() {
        let dir = tempfile::tempdir().unwrap();
        let rung_dir = dir.path().join("480p");
        std::fs::create_dir(&rung_dir).unwrap();
        std::fs::write(
            rung_dir.join("index.m3u8"),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXTINF:6.0,\nseg_000.ts\n#EXTINF:2.0,\nseg_001.ts\n#EXT-X-ENDLIST\n",
        )
        .unwrap();
        std::fs::write(rung_dir.join("seg_000.ts"), vec![0u8; 6000]).unwrap(); // 8000 bit/s
        std::fs::write(rung_dir.join("seg_001.ts"), vec![0u8; 3000]).unwrap(); // 12000 bit/s
        let rung = Rung { name: "480p".into(), width: 854, height: 480, video_kbps: 1400, level: Level { idc: 30 } };
        let renditions = write(dir.path(), &[rung], 30.0, true).unwrap();
        assert_eq!((renditions[0].bandwidth, renditions[0].average_bandwidth), (12000, 9000));

        let master = std::fs::read(dir.path().join(MASTER_NAME)).unwrap();
        let parsed = m3u8_rs::parse_master_playlist_res(&master).unwrap();
        assert!(parsed.independent_segments);
        let variant = &parsed.variants[0];
        assert_eq!(variant.uri, "480p/index.m3u8");
        assert_eq!(variant.average_bandwidth, Some(9000));
        assert_eq!(variant.codecs.as_deref(), Some("avc1.64001e,mp4a.40.2"));
    }
}
