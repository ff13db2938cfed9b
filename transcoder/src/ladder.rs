//! Which renditions a source gets: the configured ladder (by default 1080p, 720p,
//! 480p, 360p and a 240p rung that fits under 192 kbit/s with its audio), never
//! upscaled, keeping the aspect ratio, with each rung's H.264 level.

use streambox_storage::layout;

use crate::probe::SourceInfo;

#[derive(Debug, Clone, PartialEq)]
pub struct Rung {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub video_kbps: u32,
    pub level: Level,
}

impl Rung {
    /// Peak rate the encoder may reach (7% over target) and its VBV buffer (1.5x target).
    pub fn max_kbps(&self) -> u32 {
        peak_kbps(self.video_kbps)
    }

    pub fn buffer_kbits(&self) -> u32 {
        self.video_kbps * 3 / 2
    }
}

/// An H.264 level: `idc` is the number carried in the stream (40 for 4.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub idc: u8,
}

impl Level {
    pub fn name(self) -> String {
        format!("{}.{}", self.idc / 10, self.idc % 10)
    }

    /// The smallest level whose frame size, macroblock rate and (High profile) bitrate fit.
    pub fn for_stream(width: u32, height: u32, fps: f64, max_kbps: u32) -> Self {
        // (level_idc, max macroblocks/s, max frame size in macroblocks, max kbit/s for Main)
        const LEVELS: [(u8, f64, u32, u32); 12] = [
            (21, 19_800.0, 792, 4_000),
            (22, 20_250.0, 1_620, 4_000),
            (30, 40_500.0, 1_620, 10_000),
            (31, 108_000.0, 3_600, 14_000),
            (32, 216_000.0, 5_120, 20_000),
            (40, 245_760.0, 8_192, 20_000),
            (41, 245_760.0, 8_192, 50_000),
            (42, 522_240.0, 8_704, 50_000),
            (50, 589_824.0, 22_080, 135_000),
            (51, 983_040.0, 36_864, 240_000),
            (52, 2_073_600.0, 36_864, 240_000),
            (60, 4_177_920.0, 139_264, 240_000),
        ];
        let frame_mbs = width.div_ceil(16) * height.div_ceil(16);
        let mbs_per_second = f64::from(frame_mbs) * fps;
        let idc = LEVELS
            .iter()
            .find(|(_, max_mbps, max_fs, max_br)| {
                mbs_per_second <= *max_mbps && frame_mbs <= *max_fs && f64::from(max_kbps) <= f64::from(*max_br) * 1.25
            })
            .map_or(60, |(idc, ..)| *idc);
        Self { idc }
    }
}

/// The rungs of `ladder` (`(short side, kbit/s)`, largest first) for `source`. Rungs
/// above the source's short side are skipped; a source smaller than every rung gets one
/// rung at its own size.
pub fn plan(source: &SourceInfo, ladder: &[(u32, u32)]) -> Vec<Rung> {
    let (w, h) = (source.display_width, source.display_height);
    let short_side = w.min(h);
    let mut rungs: Vec<Rung> = ladder
        .iter()
        .filter(|(short, _)| *short <= short_side)
        .map(|&(short, kbps)| rung(w, h, short, kbps, source.frame_rate_value))
        .collect();
    if rungs.is_empty() {
        let (base_short, base_kbps) = ladder[ladder.len() - 1];
        // Scale the smallest rung's rate by area (16:9 at its size), with a floor for tiny
        // sources — never above the smallest rung's own rate (a ladder may end below it).
        let base_area = f64::from(base_short) * f64::from(base_short) * 16.0 / 9.0;
        let area_ratio = f64::from(w) * f64::from(h) / base_area;
        let kbps = ((f64::from(base_kbps) * area_ratio) as u32).max(300).min(base_kbps);
        let (width, height) = (even_down(w), even_down(h));
        rungs.push(sized_rung(width, height, kbps, source.frame_rate_value));
    }
    rungs
}

/// A rung whose short side is `short`, the long side scaled to keep the aspect ratio.
fn rung(source_w: u32, source_h: u32, short: u32, video_kbps: u32, fps: f64) -> Rung {
    let scaled_long =
        |long: u32, short_src: u32| even_nearest(f64::from(long) * f64::from(short) / f64::from(short_src));
    let (width, height) = if source_w >= source_h {
        (scaled_long(source_w, source_h), short)
    } else {
        (short, scaled_long(source_h, source_w))
    };
    sized_rung(width, height, video_kbps, fps)
}

fn sized_rung(width: u32, height: u32, video_kbps: u32, fps: f64) -> Rung {
    Rung {
        name: layout::rung_name(width.min(height)),
        width,
        height,
        video_kbps,
        level: Level::for_stream(width, height, fps, peak_kbps(video_kbps)),
    }
}

fn peak_kbps(video_kbps: u32) -> u32 {
    video_kbps * 107 / 100
}

/// H.264 in 4:2:0 needs even dimensions.
fn even_nearest(x: f64) -> u32 {
    ((x / 2.0).round() as u32 * 2).max(2)
}

/// Rounds down, so a source's own size is never exceeded.
fn even_down(n: u32) -> u32 {
    (n & !1).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LADDER: [(u32, u32); 5] = [(1080, 5000), (720, 2800), (480, 1400), (360, 700), (240, 80)];

    fn source(w: u32, h: u32) -> SourceInfo {
        SourceInfo {
            duration_s: 10.0,
            display_width: w,
            display_height: h,
            frame_rate: "30".into(),
            frame_rate_value: 30.0,
            native_frame_rate: 30.0,
            audio_tracks: Vec::new(),
            subtitle_tracks: Vec::new(),
            video_codec: "h264".into(),
            audio_codec: Some("aac".into()),
            bitrate: None,
            hdr: None,
        }
    }

    fn plan(source: &SourceInfo) -> Vec<Rung> {
        super::plan(source, &LADDER)
    }

    fn sizes(rungs: &[Rung]) -> Vec<(String, u32, u32)> {
        rungs.iter().map(|r| (r.name.clone(), r.width, r.height)).collect()
    }

    /// A ready video must play: every rung the ladder can name, for any source from
    /// 2x2 to the largest allowed, under any ladder, is a name the streamer serves.
    #[test]
    fn every_rung_of_every_source_is_named_as_the_streamer_serves() {
        let ladders: [&[(u32, u32)]; 3] = [&LADDER, &[(2160, 16000), (144, 200)], &[(360, 800)]];
        let sides = [2, 3, 16, 89, 90, 143, 144, 479, 480, 719, 1079, 1080, 2160, 4321, 7680];
        for ladder in ladders {
            for (&w, &h) in sides.iter().flat_map(|w| sides.iter().map(move |h| (w, h))) {
                for rung in super::plan(&source(w, h), ladder) {
                    assert!(layout::is_rendition_name(&rung.name), "{w}x{h}: {}", rung.name);
                }
            }
        }
    }

    #[test]
    fn landscape_hd_gets_the_full_ladder() {
        let rungs = plan(&source(1920, 1080));
        assert_eq!(
            sizes(&rungs),
            [
                ("1080p".into(), 1920, 1080),
                ("720p".into(), 1280, 720),
                ("480p".into(), 854, 480),
                ("360p".into(), 640, 360),
                ("240p".into(), 426, 240)
            ]
        );
        assert_eq!(rungs[0].level.name(), "4.0");
        assert_eq!(rungs[1].level.name(), "3.1");
        // 854x480 at 30 fps is 48,600 macroblocks/s: over level 3.0's 40,500.
        assert_eq!(rungs[2].level.name(), "3.1");
        assert_eq!(Level::for_stream(640, 480, 30.0, 1498).name(), "3.0");
        assert_eq!(rungs[0].level.idc, 40);
        assert_eq!(rungs[4].level.name(), "2.1");
    }

    #[test]
    fn never_upscales_and_keeps_aspect() {
        let names = |rungs: Vec<Rung>| rungs.into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(names(plan(&source(1280, 720))), ["720p", "480p", "360p", "240p"]);
        assert_eq!(
            sizes(&plan(&source(640, 480))),
            [("480p".into(), 640, 480), ("360p".into(), 480, 360), ("240p".into(), 320, 240)]
        );
        assert_eq!(
            sizes(&plan(&source(1080, 1920)))[..3],
            [("1080p".into(), 1080, 1920), ("720p".into(), 720, 1280), ("480p".into(), 480, 854)]
        );
    }

    #[test]
    fn small_and_odd_sources_get_one_even_rung() {
        let short_ladder = [(1080, 5000), (720, 2800), (480, 1400)];
        assert_eq!(sizes(&super::plan(&source(320, 240), &short_ladder)), [("240p".into(), 320, 240)]);
        assert_eq!(sizes(&super::plan(&source(853, 479), &short_ladder)), [("478p".into(), 852, 478)]);
        assert_eq!(sizes(&plan(&source(200, 150))), [("150p".into(), 200, 150)]);
    }

    #[test]
    fn a_configured_ladder_is_used() {
        let rungs = super::plan(&source(1920, 1080), &[(720, 3000), (360, 800)]);
        assert_eq!(sizes(&rungs), [("720p".into(), 1280, 720), ("360p".into(), 640, 360)]);
        assert_eq!(rungs[1].video_kbps, 800);
    }

    #[test]
    fn sixty_fps_hd_needs_a_higher_level() {
        assert_eq!(Level::for_stream(1920, 1080, 60.0, 5350).name(), "4.2");
        assert_eq!(Level::for_stream(1280, 720, 60.0, 2996).name(), "3.2");
    }
}
