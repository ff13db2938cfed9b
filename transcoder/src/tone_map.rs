//! HDR sources (HLG from phones, PQ/HDR10 from cameras and mastered films) become SDR
//! BT.709, which every player shows as meant. Converted like SDR, their 10-bit BT.2020
//! picture would become 8-bit with the HDR tags kept: washed out or dark in players
//! that ignore the tags, banded in those that honour them, and wrong in the poster and
//! storyboard everywhere.
//!
//! The transform: to linear light, to BT.709 primaries, highlights rolled off by a
//! Möbius curve (linear up to 30% of SDR white, so skin and midtones keep their
//! contrast), back to BT.709's curve. ffmpeg's float filters for it cost about 85 ms a
//! 1080p frame on a 2-core machine, nearly doubling the ladder; so before the ladder
//! runs, ffmpeg applies them once to every colour of a 64³ lattice (an identity Hald
//! image), and the ladder looks each pixel up in that table (`lut3d`, tetrahedral
//! interpolation, about 40 ms). The picture is scaled to the top rung first: a 4K
//! phone clip is tone-mapped at 1080p.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use streambox_db::videos::DynamicRange;

use crate::ffmpeg::{self, Limits};

/// Linear light counts in units of this many nits (SDR white), as `tonemap` expects.
const NOMINAL_NITS: f64 = 100.0;
/// HLG's reference display peaks at 1000 nits, and HDR10 is mostly mastered for one:
/// the peak of a PQ source that states none.
const DEFAULT_PEAK_NITS: f64 = 1000.0;
/// The brightest light PQ can carry.
const PQ_MAX_NITS: f64 = 10_000.0;
/// `haldclutsrc` level: a lattice of level² points along each axis (64).
const HALD_LEVEL: u32 = 8;
/// Computing the table is a single 512x512 frame.
const LUT_TIME: Duration = Duration::from_secs(60);

/// What ffprobe says of a video stream's colour (its own names).
#[derive(Debug, Default)]
pub struct ColourTags<'a> {
    pub transfer: Option<&'a str>,
    pub primaries: Option<&'a str>,
    pub matrix: Option<&'a str>,
    pub range: Option<&'a str>,
    /// Content light level metadata: the brightest pixel of the whole video (MaxCLL).
    pub max_content_nits: Option<f64>,
    /// Mastering display metadata: the peak of the display it was graded on.
    pub mastering_peak_nits: Option<f64>,
}

/// An HDR source's colour, as the tone mapping needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hdr {
    pub dynamic_range: DynamicRange,
    primaries: &'static str,
    matrix: &'static str,
    full_range: bool,
    /// The brightest light in the picture, in nits.
    pub peak_nits: f64,
}

impl Hdr {
    /// `None` for SDR sources. Untagged primaries and matrix are taken as BT.2020, which
    /// HDR video uses nearly always.
    pub fn detect(tags: &ColourTags) -> Option<Self> {
        let dynamic_range = match tags.transfer? {
            "smpte2084" => DynamicRange::Pq,
            "arib-std-b67" => DynamicRange::Hlg,
            _ => return None,
        };
        let primaries = match tags.primaries {
            Some("bt709") => "bt709",
            Some("smpte432") => "smpte432",
            Some("smpte431") => "smpte431",
            _ => "bt2020",
        };
        let matrix = match tags.matrix {
            Some("bt709") => "bt709",
            Some("bt2020c") => "bt2020c",
            _ => "bt2020nc",
        };
        let stated = tags.max_content_nits.filter(|n| *n > 0.0).or(tags.mastering_peak_nits.filter(|n| *n > 0.0));
        let peak_nits = match dynamic_range {
            DynamicRange::Pq => stated.unwrap_or(DEFAULT_PEAK_NITS).clamp(NOMINAL_NITS, PQ_MAX_NITS),
            _ => DEFAULT_PEAK_NITS,
        };
        Some(Self { dynamic_range, primaries, matrix, full_range: tags.range == Some("pc"), peak_nits })
    }

    fn transfer(&self) -> &'static str {
        match self.dynamic_range {
            DynamicRange::Pq => "smpte2084",
            _ => "arib-std-b67",
        }
    }

    /// The transform, as float filters on the source's full-range R'G'B'.
    fn transform(&self) -> String {
        format!(
            "setparams=color_trc={}:color_primaries={}:colorspace=gbr:range=pc,\
             zscale=t=linear:npl={NOMINAL_NITS},zscale=p=bt709,\
             tonemap=tonemap=mobius:desat=0:peak={:.2},zscale=t=bt709:p=bt709",
            self.transfer(),
            self.primaries,
            self.peak_nits / NOMINAL_NITS,
        )
    }

    /// Computes the transform's table into `dir`, for [`ToneMap::filter`].
    pub async fn prepare(&self, dir: &Path) -> anyhow::Result<ToneMap> {
        let raw = dir.join("tone-map.rgb48");
        let args = [
            "-y",
            "-f",
            "lavfi",
            "-i",
            &format!("haldclutsrc=level={HALD_LEVEL}"),
            "-vf",
            &format!("format=gbrpf32le,{},format=rgb48le", self.transform()),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            &raw.display().to_string(),
        ]
        .map(String::from);
        ffmpeg::run(Vec::from(args), Limits { stall: LUT_TIME, wall_clock: LUT_TIME }, |_| {}).await?;
        let samples = tokio::fs::read(&raw).await.context("reading the tone-map table")?;
        let cube = dir.join("tone-map.cube");
        tokio::fs::write(&cube, cube_file(&samples)).await.context("writing the tone-map table")?;
        Ok(ToneMap { hdr: self.clone(), cube })
    }
}

/// An HDR source's tone mapping, its table computed.
#[derive(Debug)]
pub struct ToneMap {
    hdr: Hdr,
    cube: PathBuf,
}

impl ToneMap {
    /// Filters taking the decoded picture to 8-bit 4:2:0 SDR BT.709 at `width`x`height`.
    pub fn filter(&self, width: u32, height: u32) -> String {
        let range = if self.hdr.full_range { "full" } else { "limited" };
        format!(
            "scale={width}:{height}:flags=bicubic,zscale=min={}:rin={range}:r=full,format=gbrp16le,\
             lut3d=file={}:interp=tetrahedral,\
             setparams=color_trc=bt709:color_primaries=bt709:colorspace=gbr:range=pc,\
             zscale=m=bt709:r=limited,format=yuv420p",
            self.hdr.matrix,
            ffmpeg::filter_value(&self.cube.display().to_string()),
        )
    }
}

/// The `.cube` text of ffmpeg's output for an identity Hald image: 16-bit RGB samples,
/// red varying fastest, as a cube lists them.
fn cube_file(samples: &[u8]) -> String {
    let size = HALD_LEVEL * HALD_LEVEL;
    let mut text = format!("LUT_3D_SIZE {size}\n");
    for rgb in samples.chunks_exact(6) {
        let channel = |i: usize| f64::from(u16::from_le_bytes([rgb[i], rgb[i + 1]])) / 65535.0;
        let _ = writeln!(text, "{:.6} {:.6} {:.6}", channel(0), channel(2), channel(4));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags<'a>(transfer: &'a str) -> ColourTags<'a> {
        ColourTags { transfer: Some(transfer), ..ColourTags::default() }
    }

    #[test]
    fn only_pq_and_hlg_are_hdr() {
        for sdr in ["bt709", "smpte170m", "bt2020-10", "unknown"] {
            assert_eq!(Hdr::detect(&tags(sdr)), None, "{sdr}");
        }
        assert_eq!(Hdr::detect(&ColourTags::default()), None);
        assert_eq!(Hdr::detect(&tags("smpte2084")).unwrap().dynamic_range, DynamicRange::Pq);
        assert_eq!(Hdr::detect(&tags("arib-std-b67")).unwrap().dynamic_range, DynamicRange::Hlg);
    }

    #[test]
    fn the_peak_is_the_one_stated_else_a_thousand_nits() {
        let peak = |tags: ColourTags| Hdr::detect(&tags).unwrap().peak_nits;
        assert_eq!(peak(tags("smpte2084")), 1000.0);
        let cll = |max_content_nits, mastering_peak_nits| ColourTags {
            max_content_nits,
            mastering_peak_nits,
            ..tags("smpte2084")
        };
        assert_eq!(peak(cll(Some(600.0), Some(4000.0))), 600.0, "the content's own peak first");
        assert_eq!(peak(cll(Some(0.0), Some(4000.0))), 4000.0, "MaxCLL 0 means unknown");
        assert_eq!(peak(cll(None, Some(50_000.0))), 10_000.0);
        // HLG is relative to its display: the content's nits do not apply.
        assert_eq!(peak(ColourTags { max_content_nits: Some(400.0), ..tags("arib-std-b67") }), 1000.0);
    }

    #[test]
    fn the_transform_starts_from_the_stated_colour() {
        let hlg = Hdr::detect(&ColourTags { primaries: Some("bt2020"), ..tags("arib-std-b67") }).unwrap();
        assert_eq!(
            hlg.transform(),
            "setparams=color_trc=arib-std-b67:color_primaries=bt2020:colorspace=gbr:range=pc,\
             zscale=t=linear:npl=100,zscale=p=bt709,\
             tonemap=tonemap=mobius:desat=0:peak=10.00,zscale=t=bt709:p=bt709"
        );
        let pq = Hdr::detect(&ColourTags { max_content_nits: Some(4000.0), ..tags("smpte2084") }).unwrap();
        assert!(pq.transform().contains("color_trc=smpte2084:"), "{}", pq.transform());
        assert!(pq.transform().contains("peak=40.00"), "{}", pq.transform());
    }

    /// The table is ffmpeg's own transform of every lattice colour: black stays black,
    /// HLG's reference white (75%) comes out just under SDR white, and a saturated
    /// BT.2020 green (outside BT.709) is brought inside it, still the greenest colour.
    /// It is read from a directory whose name has every character the filter graph
    /// treats specially.
    #[tokio::test]
    async fn the_table_holds_the_transform_and_ffmpeg_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let awkward = dir.path().join(r"it's a:b, [c];d\e");
        std::fs::create_dir(&awkward).unwrap();
        let hlg = Hdr::detect(&tags("arib-std-b67")).unwrap();
        let tone_map = hlg.prepare(&awkward).await.unwrap();

        let table = std::fs::read_to_string(&tone_map.cube).unwrap();
        let rows: Vec<[f64; 3]> = table
            .lines()
            .skip(1)
            .map(|l| {
                let v: Vec<f64> = l.split(' ').map(|x| x.parse().unwrap()).collect();
                [v[0], v[1], v[2]]
            })
            .collect();
        assert_eq!(table.lines().next(), Some("LUT_3D_SIZE 64"));
        assert_eq!(rows.len(), 64 * 64 * 64);
        let at = |r: usize, g: usize, b: usize| rows[r + 64 * g + 64 * 64 * b];
        assert!(at(0, 0, 0).iter().all(|c| *c < 0.01), "black: {:?}", at(0, 0, 0));
        let white = at(47, 47, 47); // 47/63 = 75%: HLG reference white
        assert!(white.iter().all(|c| (0.85..0.99).contains(c)), "reference white: {white:?}");
        let green = at(0, 63, 0);
        assert!(green[1] > 0.9 && green[0] < green[1] && green[2] < green[1], "green: {green:?}");

        let scaled = tone_map.filter(64, 36);
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180,format=yuv420p10le"])
            .args(["-vf", &scaled, "-frames:v", "1", "-f", "null", "-"])
            .status()
            .unwrap();
        assert!(status.success(), "ffmpeg could not use {scaled}");
    }
}
